"""``JvanvugtUNet``: the layout of jvanvugt/pytorch-unet, state_dict keys as that project names them.

Read from ``unet.py`` of https://github.com/jvanvugt/pytorch-unet (master,
2019-04 "Apply black formatting") and its history:

- ``depth`` counts levels (5: four poolings); level ``i`` has ``2**(wf + i)``
  channels.
- ``UNetConvBlock``: ``block`` = Sequential(conv3x3 (padding ``int(padding)``),
  ReLU, [BatchNorm], conv3x3, ReLU, [BatchNorm]): ReLU *before* BatchNorm, and
  the convolutions keep their bias.
- Down-sampling is ``F.max_pool2d(x, 2)`` since 2019-03 ("Use max-pool instead
  of average pooling"); before, ``F.avg_pool2d``: ``pooling='avg'`` runs
  checkpoints of that time (the pooling leaves no trace in the state_dict).
- ``UNetUpBlock``: ``up`` is ConvTranspose2d(in, out, 2, stride 2)
  (``'upconv'``) or Sequential(Upsample(bilinear, x2, align_corners unset, so
  False), Conv2d(in, out, 1)) (``'upsample'``); the skip ``bridge`` is cropped
  from ``(size - target) // 2`` (floor), then ``cat([up, crop])``, up first.
- ``last`` is a 1x1 conv with bias.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .._args import ConvlabError, as_int
from ..nn import (
    AvgPool2d,
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    MaxPool2d,
    Module,
    ModuleList,
    ReLU,
    Sequential,
    Upsample,
)
from ..nn._conv import make_rng
from ..nn._module import float_dtype
from ._encoder_decoder import Merge, Plan, UNetBase
from ._layout import Layout, LayoutOption, count_keys, need_key

__all__ = ["LAYOUT", "JvanvugtUNet"]

_MERGE = Merge("floor", skip_first=False)
_POOLS = {"max": MaxPool2d, "avg": AvgPool2d}


class _ConvBlock(Module):
    def __init__(self, c_in: int, c_out: int, padding: bool, batch_norm: bool, rng, dtype):
        super().__init__()
        layers: list[Module] = []
        for first in (c_in, c_out):
            layers += [Conv2d(first, c_out, 3, padding=int(padding), rng=rng, dtype=dtype), ReLU()]
            if batch_norm:
                layers.append(BatchNorm2d(c_out, dtype=dtype))
        self.block = Sequential(*layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.block(x)


class _UpBlock(Module):
    def __init__(self, c_in: int, c_out: int, up_mode: str, padding: bool, batch_norm: bool, rng, dtype):
        super().__init__()
        if up_mode == "upconv":
            self.up = ConvTranspose2d(c_in, c_out, 2, stride=2, rng=rng, dtype=dtype)
        else:
            self.up = Sequential(
                Upsample(mode="bilinear", scale_factor=2), Conv2d(c_in, c_out, 1, rng=rng, dtype=dtype)
            )
        self.conv_block = _ConvBlock(c_in, c_out, padding, batch_norm, rng, dtype)

    def forward(self, x: np.ndarray, bridge: np.ndarray) -> np.ndarray:
        return self.conv_block(_MERGE.join(bridge, [("up", self.up)], x))


class JvanvugtUNet(UNetBase):
    """``UNet(in_channels, n_classes, depth, wf, padding, batch_norm, up_mode)`` of jvanvugt/pytorch-unet.

    Keys: ``down_path.{i}.block.{0,2}`` (``{0,3}`` and BatchNorm at ``{2,5}``
    with ``batch_norm``), ``up_path.{j}.up.{weight,bias}`` (``'upconv'``) or
    ``up_path.{j}.up.1.*`` (``'upsample'``), ``up_path.{j}.conv_block.block.*``,
    ``last.{weight,bias}``. The defaults are the paper's network (572 -> 388).

    Parameters
    ----------
    in_channels, n_classes, depth, wf, padding, batch_norm, up_mode
        As the project: ``depth`` levels, ``2**wf`` channels on the first.
    pooling : {'max', 'avg'}, default 'max'
        The project's current max-pooling, or the average pooling of its
        versions before 2019-03.
    seed, dtype
        As :class:`convlab.models.UNet`.

    Examples
    --------
    >>> net = JvanvugtUNet(depth=3, wf=2, padding=True)
    >>> list(net.state_dict())[-2:]
    ['last.weight', 'last.bias']
    >>> net(np.zeros((1, 1, 19, 19))).shape
    (1, 2, 16, 16)
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 2,
        depth: int = 5,
        wf: int = 6,
        padding: bool = False,
        batch_norm: bool = False,
        up_mode: str = "upconv",
        *,
        pooling: str = "max",
        seed: Any = 0,
        dtype: DTypeLike = np.float32,
    ):
        super().__init__()
        if up_mode not in ("upconv", "upsample"):
            raise ConvlabError(f"up_mode must be 'upconv' or 'upsample', got up_mode={up_mode!r}")
        if pooling not in _POOLS:
            raise ConvlabError(f"pooling must be 'max' or 'avg', got pooling={pooling!r}")
        self.in_channels, self.ndim = as_int(in_channels, "in_channels", minimum=1), 2
        self.n_classes = as_int(n_classes, "n_classes", minimum=1)
        self.depth, wf = as_int(depth, "depth", minimum=1), as_int(wf, "wf", minimum=0)
        self.padding, self.batch_norm, self.up_mode, self.pooling = (
            bool(padding),
            bool(batch_norm),
            up_mode,
            pooling,
        )
        rng, dtype = make_rng(seed), float_dtype(dtype)
        channels = [2 ** (wf + i) for i in range(self.depth)]
        self.down_path = ModuleList(
            _ConvBlock(c_in, c, self.padding, self.batch_norm, rng, dtype)
            for c_in, c in zip([self.in_channels, *channels], channels)
        )
        self.up_path = ModuleList(
            _UpBlock(channels[i + 1], channels[i], up_mode, self.padding, self.batch_norm, rng, dtype)
            for i in reversed(range(self.depth - 1))
        )
        self.last = Conv2d(channels[0], self.n_classes, 1, rng=rng, dtype=dtype)
        # F.max_pool2d in the project: a function, not a child, so not in the state_dict or repr.
        object.__setattr__(self, "_pool", _POOLS[pooling](2))

    def _plan(self) -> Plan:
        encoder = [[(f"down_path.{i}", block)] for i, block in enumerate(self.down_path)]
        for i in range(1, self.depth):
            encoder[i].insert(0, (f"down_path.{i - 1}.pool", self._pool))
        decoder = [
            ([(f"up_path.{j}.up", up.up)], f"up_path.{j}.merge", [(f"up_path.{j}.conv_block", up.conv_block)])
            for j, up in enumerate(self.up_path)
        ]
        return Plan(encoder, decoder, [("last", self.last)], _MERGE)

    def extra_repr(self) -> str:
        return (
            f"depth={self.depth}, padding={self.padding}, batch_norm={self.batch_norm}, "
            f"up_mode={self.up_mode!r}, pooling={self.pooling!r}"
        )


def _from_state(state, options: dict) -> JvanvugtUNet:
    first = need_key(state, "down_path.0.block.0.weight", "jvanvugt")
    wf = round(math.log2(first.shape[0]))
    if 2**wf != first.shape[0]:
        raise ConvlabError(
            f"jvanvugt U-Nets have 2**wf channels on the first level, got {first.shape[0]} "
            "(down_path.0.block.0.weight)"
        )
    inferred = {
        "in_channels": first.shape[1],
        "n_classes": need_key(state, "last.weight", "jvanvugt").shape[0],
        "depth": count_keys(state, "down_path.{}.block.0.weight"),
        "wf": wf,
        "batch_norm": "down_path.0.block.2.running_mean" in state,
        "up_mode": "upsample" if "up_path.0.up.1.weight" in state else "upconv",
    }
    return JvanvugtUNet(**{**inferred, **options})


def _padded(value: object) -> object:
    # The project's padding is a bool; the command line's words are convlab's.
    return value == "same" if isinstance(value, str) else value


LAYOUT = Layout(
    "jvanvugt",
    marker="down_path.",
    build=_from_state,
    options=(LayoutOption("padding", ("valid", "same"), _padded), LayoutOption("pooling", ("max", "avg"))),
)
