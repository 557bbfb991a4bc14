"""Torch reference U-Nets for the model tests, written for these tests from each layout's description.

- :class:`ConvlabLayout`: convlab's own layout and key names (``convlab.models.UNet``'s docstring).
- :class:`MilesialLayout`: milesial/Pytorch-UNet (``unet/unet_model.py``, ``unet/unet_parts.py``):
  DoubleConv = (conv3x3 pad 1 [bias], BN, ReLU) x 2; Down = max-pool then DoubleConv;
  Up = ConvTranspose2d(in, in/2, 2, 2) or bilinear x2 (align_corners) with mid = in/2,
  pad x1 to x2 (diff // 2 before), cat([x2, x1]); factor 2 on the bottom when bilinear.
- :class:`JvanvugtLayout`: jvanvugt/pytorch-unet (``unet.py``): block = (conv3x3, ReLU, [BN]) x 2,
  F.max_pool2d (avg_pool2d before 2019-03), up = ConvTranspose2d or (Upsample bilinear, conv1x1),
  bridge cropped from (size - target) // 2, cat([up, crop]).

The module names are those projects' (they define the state_dict keys); the
code is independent of theirs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def randomise_norms(model: nn.Module, seed: int = 1) -> nn.Module:
    """Random affine parameters and running statistics, so BatchNorm is not the identity."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.num_batches_tracked.fill_(7)
            if m.affine:
                m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.data.copy_(torch.randn(c, generator=g) * 0.1)
    return model.eval()


def _center_crop(x: torch.Tensor, size) -> torch.Tensor:
    # torchvision's rule: start at int(round((n - t) / 2)), round half to even.
    index = [slice(None), slice(None)]
    for n, t in zip(x.shape[2:], size):
        # int(): under the ONNX tracer the sizes are tensors; a fixed-size export bakes them in.
        start = round((int(n) - int(t)) / 2)
        index.append(slice(start, start + t))
    return x[tuple(index)]


class _Level(nn.Module):
    def __init__(self, cfg, c_in, c_out, up=None):
        super().__init__()
        n = cfg.ndim
        if up is not None:
            for name, module in up.items():
                setattr(self, name, module)
        self.units = []
        for j in range(1, cfg.convs_per_level + 1):
            pad = "same" if cfg.padding == "same" else 0
            conv = _CONV[n](
                c_in if j == 1 else c_out, c_out, cfg.kernel_size, padding=pad, bias=not cfg.batch_norm
            )
            setattr(self, f"conv{j}", conv)
            self.units.append(conv)
            if cfg.batch_norm:
                setattr(self, f"norm{j}", _NORM[n](c_out))
                self.units.append(getattr(self, f"norm{j}"))
            self.units.append(nn.ReLU())

    def forward(self, x):
        for unit in self.units:
            x = unit(x)
        return x


class ConvlabLayout(nn.Module):
    """convlab.models.UNet's architecture and keys, in torch."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg, n, ch = cfg, cfg.ndim, cfg.channels
        for i in range(cfg.depth):
            setattr(self, f"down{i}", _Level(cfg, ch[i - 1] if i else cfg.in_channels, ch[i]))
        self.bottom = _Level(cfg, ch[-2] if cfg.depth else cfg.in_channels, ch[-1])
        for i in reversed(range(cfg.depth)):
            if cfg.up_mode == "transpose":
                up = {"upconv": _CONV_T[n](ch[i + 1], ch[i], 2, stride=2)}
            else:
                up = {"reduce": _CONV[n](ch[i + 1], ch[i], 1)}
            setattr(self, f"up{i}", _Level(cfg, 2 * ch[i], ch[i], up))
        self.head = _CONV[n](ch[0], cfg.classes, 1)

    def _up(self, level, x):
        if self.cfg.up_mode == "transpose":
            return level.upconv(x)
        x = F.interpolate(x, scale_factor=2, mode=_LINEAR[self.cfg.ndim], align_corners=True)
        return level.reduce(x)

    def forward(self, x):
        cfg, skips = self.cfg, []
        pool = {"max": F.max_pool2d, "avg": F.avg_pool2d}[cfg.pooling]
        if cfg.ndim != 2:
            pool = {
                ("max", 1): F.max_pool1d,
                ("max", 3): F.max_pool3d,
                ("avg", 1): F.avg_pool1d,
                ("avg", 3): F.avg_pool3d,
            }[cfg.pooling, cfg.ndim]
        for i in range(cfg.depth):
            x = getattr(self, f"down{i}")(x)
            skips.append(x)
            x = pool(x, 2)
        x = self.bottom(x)
        for i in reversed(range(cfg.depth)):
            level, skip = getattr(self, f"up{i}"), skips.pop()
            up = self._up(level, x)
            if cfg.padding == "valid":
                skip = _center_crop(skip, up.shape[2:])
            else:
                pads = []
                for s, u in reversed(list(zip(skip.shape[2:], up.shape[2:]))):
                    pads += [(s - u) // 2, s - u - (s - u) // 2]
                up = F.pad(up, pads)
            x = level(torch.cat([skip, up], dim=1))
        return self.head(x)


class DoubleConv(nn.Module):
    def __init__(self, c_in, c_out, mid=None, bias=False):
        super().__init__()
        mid = mid or c_out
        self.double_conv = nn.Sequential(
            nn.Conv2d(c_in, mid, 3, padding=1, bias=bias),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, c_out, 3, padding=1, bias=bias),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, c_in, c_out, bias):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(c_in, c_out, bias=bias))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    def __init__(self, c_in, c_out, bilinear, bias):
        super().__init__()
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv = DoubleConv(c_in, c_out, c_in // 2, bias=bias)
        else:
            self.up = nn.ConvTranspose2d(c_in, c_in // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(c_in, c_out, bias=bias)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        dy, dx = x2.shape[2] - x1.shape[2], x2.shape[3] - x1.shape[3]
        x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class OutConv(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=1)

    def forward(self, x):
        return self.conv(x)


class MilesialLayout(nn.Module):
    def __init__(self, n_channels, n_classes, bilinear=False, width=64, conv_bias=False):
        super().__init__()
        c = [width * 2**i for i in range(5)]
        f = 2 if bilinear else 1
        self.inc = DoubleConv(n_channels, c[0], bias=conv_bias)
        self.down1 = Down(c[0], c[1], conv_bias)
        self.down2 = Down(c[1], c[2], conv_bias)
        self.down3 = Down(c[2], c[3], conv_bias)
        self.down4 = Down(c[3], c[4] // f, conv_bias)
        self.up1 = Up(c[4], c[3] // f, bilinear, conv_bias)
        self.up2 = Up(c[3], c[2] // f, bilinear, conv_bias)
        self.up3 = Up(c[2], c[1] // f, bilinear, conv_bias)
        self.up4 = Up(c[1], c[0], bilinear, conv_bias)
        self.outc = OutConv(c[0], n_classes)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x = self.up1(self.down4(x4), x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        return self.outc(self.up4(x, x1))


class ConvBlock(nn.Module):
    def __init__(self, c_in, c_out, padding, batch_norm):
        super().__init__()
        layers = []
        for first in (c_in, c_out):
            layers += [nn.Conv2d(first, c_out, 3, padding=int(padding)), nn.ReLU()]
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        return self.block(x)


class UpBlock(nn.Module):
    def __init__(self, c_in, c_out, up_mode, padding, batch_norm):
        super().__init__()
        if up_mode == "upconv":
            self.up = nn.ConvTranspose2d(c_in, c_out, kernel_size=2, stride=2)
        else:
            self.up = nn.Sequential(nn.Upsample(mode="bilinear", scale_factor=2), nn.Conv2d(c_in, c_out, 1))
        self.conv_block = ConvBlock(c_in, c_out, padding, batch_norm)

    def forward(self, x, bridge):
        up = self.up(x)
        th, tw = up.shape[2:]
        dy, dx = (bridge.shape[2] - th) // 2, (bridge.shape[3] - tw) // 2
        return self.conv_block(torch.cat([up, bridge[:, :, dy : dy + th, dx : dx + tw]], 1))


class JvanvugtLayout(nn.Module):
    def __init__(
        self,
        in_channels=1,
        n_classes=2,
        depth=5,
        wf=6,
        padding=False,
        batch_norm=False,
        up_mode="upconv",
        pooling="max",
    ):
        super().__init__()
        self.pool = F.max_pool2d if pooling == "max" else F.avg_pool2d
        ch = [2 ** (wf + i) for i in range(depth)]
        self.down_path = nn.ModuleList(
            ConvBlock(a, b, padding, batch_norm) for a, b in zip([in_channels, *ch], ch)
        )
        self.up_path = nn.ModuleList(
            UpBlock(ch[i + 1], ch[i], up_mode, padding, batch_norm) for i in reversed(range(depth - 1))
        )
        self.last = nn.Conv2d(ch[0], n_classes, kernel_size=1)

    def forward(self, x):
        blocks = []
        for i, down in enumerate(self.down_path):
            x = down(x)
            if i != len(self.down_path) - 1:
                blocks.append(x)
                x = self.pool(x, 2)
        for i, up in enumerate(self.up_path):
            x = up(x, blocks[-i - 1])
        return self.last(x)
