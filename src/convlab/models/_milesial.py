"""``MilesialUNet``: the layout of milesial/Pytorch-UNet, state_dict keys as that project names them.

Read from ``unet/unet_model.py`` and ``unet/unet_parts.py`` of
https://github.com/milesial/Pytorch-UNet (master, 2022-12 "Winter cleanup"):

- ``DoubleConv(in, out, mid=out)``: ``double_conv`` = Sequential(conv3x3 pad 1,
  BatchNorm, ReLU, conv3x3 pad 1, BatchNorm, ReLU); the convolutions lost their
  bias in 2021-12 ("delete convolution bias before BN"), ``conv_bias=True``
  loads older checkpoints.
- ``Down``: ``maxpool_conv`` = Sequential(MaxPool2d(2), DoubleConv).
- ``Up``: ``up`` is ConvTranspose2d(in, in // 2, 2, stride 2), or with
  ``bilinear`` Upsample(x2, bilinear, align_corners=True) and the DoubleConv
  gets ``mid = in // 2``; the up-sampled x1 is zero-padded to the skip x2's
  size (``diff // 2`` before, the rest after), then ``cat([x2, x1])``.
- ``bilinear`` halves the bottom's channels (``factor = 2``); ``outc.conv`` is
  a 1x1 conv with bias.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .._args import as_int
from ..nn import BatchNorm2d, Conv2d, ConvTranspose2d, MaxPool2d, Module, ReLU, Sequential, Upsample
from ..nn._conv import make_rng
from ..nn._module import float_dtype
from ._encoder_decoder import Merge, Plan, UNetBase
from ._layout import Layout, need_key

__all__ = ["LAYOUT", "MilesialUNet"]

_MERGE = Merge("pad", skip_first=True)


class _DoubleConv(Module):
    def __init__(self, c_in: int, c_out: int, mid: int | None, bias: bool, rng, dtype):
        super().__init__()
        mid = mid or c_out
        self.double_conv = Sequential(
            Conv2d(c_in, mid, 3, padding=1, bias=bias, rng=rng, dtype=dtype),
            BatchNorm2d(mid, dtype=dtype),
            ReLU(inplace=True),
            Conv2d(mid, c_out, 3, padding=1, bias=bias, rng=rng, dtype=dtype),
            BatchNorm2d(c_out, dtype=dtype),
            ReLU(inplace=True),
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.double_conv(x)


class _Down(Module):
    def __init__(self, c_in: int, c_out: int, bias: bool, rng, dtype):
        super().__init__()
        self.maxpool_conv = Sequential(MaxPool2d(2), _DoubleConv(c_in, c_out, None, bias, rng, dtype))

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.maxpool_conv(x)


class _Up(Module):
    def __init__(self, c_in: int, c_out: int, bilinear: bool, bias: bool, rng, dtype):
        super().__init__()
        if bilinear:
            self.up = Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv = _DoubleConv(c_in, c_out, c_in // 2, bias, rng, dtype)
        else:
            self.up = ConvTranspose2d(c_in, c_in // 2, 2, stride=2, rng=rng, dtype=dtype)
            self.conv = _DoubleConv(c_in, c_out, None, bias, rng, dtype)

    def forward(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        return self.conv(_MERGE.join(x2, [("up", self.up)], x1))


class _OutConv(Module):
    def __init__(self, c_in: int, c_out: int, rng, dtype):
        super().__init__()
        self.conv = Conv2d(c_in, c_out, 1, rng=rng, dtype=dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.conv(x)


class MilesialUNet(UNetBase):
    """``UNet(n_channels, n_classes, bilinear=False)`` of milesial/Pytorch-UNet, its keys unchanged.

    Keys: ``inc.double_conv.{0,1,3,4}.*``, ``down{1..4}.maxpool_conv.1.double_conv.*``,
    ``up{1..4}.up.{weight,bias}`` (transposed conv; absent with ``bilinear``),
    ``up{1..4}.conv.double_conv.*``, ``outc.conv.{weight,bias}``. Padded 3x3
    convolutions: any input size of at least 16 works; odd sizes are floored
    by the pools and restored by padding the up-sampled features.

    Parameters
    ----------
    n_channels, n_classes : int
    bilinear : bool, default False
        Up-sample by bilinear interpolation instead of transposed convolutions.
    width : int, default 64
        Channels of the first level (64 in the project; smaller for tests).
    conv_bias : bool, default False
        The 3x3 convolutions' bias, present in checkpoints before 2021-12.
    seed, dtype
        As :class:`convlab.models.UNet`.

    Examples
    --------
    >>> net = MilesialUNet(3, 2, width=4)
    >>> list(net.state_dict())[:2]
    ['inc.double_conv.0.weight', 'inc.double_conv.1.weight']
    >>> net(np.zeros((1, 3, 37, 37))).shape
    (1, 2, 37, 37)
    """

    def __init__(
        self,
        n_channels: int,
        n_classes: int,
        bilinear: bool = False,
        *,
        width: int = 64,
        conv_bias: bool = False,
        seed: Any = 0,
        dtype: DTypeLike = np.float32,
    ):
        super().__init__()
        self.n_channels = self.in_channels = as_int(n_channels, "n_channels", minimum=1)
        self.n_classes = as_int(n_classes, "n_classes", minimum=1)
        self.bilinear, self.ndim = bool(bilinear), 2
        rng, dtype, b = make_rng(seed), float_dtype(dtype), conv_bias
        c = [as_int(width, "width", minimum=1) << i for i in range(5)]
        factor = 2 if bilinear else 1
        self.inc = _DoubleConv(self.n_channels, c[0], None, b, rng, dtype)
        self.down1 = _Down(c[0], c[1], b, rng, dtype)
        self.down2 = _Down(c[1], c[2], b, rng, dtype)
        self.down3 = _Down(c[2], c[3], b, rng, dtype)
        self.down4 = _Down(c[3], c[4] // factor, b, rng, dtype)
        self.up1 = _Up(c[4], c[3] // factor, self.bilinear, b, rng, dtype)
        self.up2 = _Up(c[3], c[2] // factor, self.bilinear, b, rng, dtype)
        self.up3 = _Up(c[2], c[1] // factor, self.bilinear, b, rng, dtype)
        self.up4 = _Up(c[1], c[0], self.bilinear, b, rng, dtype)
        self.outc = _OutConv(c[0], self.n_classes, rng, dtype)

    def _plan(self) -> Plan:
        encoder = [[(name, getattr(self, name))] for name in ("inc", "down1", "down2", "down3", "down4")]
        decoder = []
        for k in range(1, 5):
            up = getattr(self, f"up{k}")
            decoder.append(([(f"up{k}.up", up.up)], f"up{k}.merge", [(f"up{k}.conv", up.conv)]))
        return Plan(encoder, decoder, [("outc", self.outc)], _MERGE)

    def extra_repr(self) -> str:
        return f"n_channels={self.n_channels}, n_classes={self.n_classes}, bilinear={self.bilinear}"


def _from_state(state, options: dict) -> MilesialUNet:
    first = need_key(state, "inc.double_conv.0.weight", "milesial")
    inferred = {
        "n_channels": first.shape[1],
        "n_classes": need_key(state, "outc.conv.weight", "milesial").shape[0],
        "bilinear": "up1.up.weight" not in state,
        "width": first.shape[0],
        "conv_bias": "inc.double_conv.0.bias" in state,
    }
    return MilesialUNet(**{**inferred, **options})


# Every hyper-parameter of Pytorch-UNet shows in its keys: nothing is left to choose.
LAYOUT = Layout("milesial", marker="inc.double_conv.", build=_from_state)
