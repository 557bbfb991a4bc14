"""``UNet``: convlab's own U-Net layout, configured by :class:`UNetConfig`."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .. import nn
from .._args import ConvlabError
from .._limits import check_memory
from ..nn import Module
from ..nn._conv import make_rng
from ..nn._module import float_dtype
from ..shapes import SizeContract
from ._config import UNetConfig
from ._contract import MAX_TOTAL_STRIDE
from ._encoder_decoder import Merge, Plan, UNetBase
from ._layout import Layout, LayoutOption, count_keys, need_key

__all__ = ["LAYOUT", "UNet"]

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_POOL = {
    "max": {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d},
    "avg": {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d},
}
_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}
# Children of a level that are not its chain of conv units.
_EXTRAS = ("upconv", "upsample", "reduce", "pool")


class Level(Module):
    """One resolution level: ``conv{j}`` [``norm{j}``] ``relu{j}`` for ``j = 1..convs_per_level``.

    ``extras`` (an up-sampling layer, a pool) are registered as children too;
    :meth:`units` leaves them out, the U-Net's plan places them.
    """

    def __init__(self, config: UNetConfig, in_c: int, out_c: int, rng, dtype, **extras: Module):
        super().__init__()
        for name in ("upconv", "upsample", "reduce"):
            if name in extras:
                setattr(self, name, extras[name])
        n, bn = config.ndim, config.batch_norm
        padding = "same" if config.padding == "same" else 0
        for j in range(1, config.convs_per_level + 1):
            conv = _CONV[n](
                in_c if j == 1 else out_c,
                out_c,
                config.kernel_size,
                padding=padding,
                bias=not bn,
                rng=rng,
                dtype=dtype,
            )
            setattr(self, f"conv{j}", conv)
            if bn:
                setattr(self, f"norm{j}", _NORM[n](out_c, dtype=dtype))
            # In place is safe: the ReLU's input is always the fresh output of the conv or norm before it.
            setattr(self, f"relu{j}", nn.ReLU(inplace=True))
        if "pool" in extras:
            self.pool = extras["pool"]

    def units(self, prefix: str) -> list[tuple[str, Module]]:
        return [(f"{prefix}.{name}", m) for name, m in self.named_children() if name not in _EXTRAS]

    def forward(self, x: np.ndarray) -> np.ndarray:
        return nn.run_chain((unit for _, unit in self.units("")), x)


class UNet(UNetBase):
    """convlab's U-Net: :class:`UNetConfig` decides the architecture, ``seed`` the initial weights.

    State_dict layout (``i`` the level, 0 at the top; ``j = 1..convs_per_level``)::

        down{i}.conv{j}.weight, .bias        encoder levels i = 0..depth-1
        down{i}.norm{j}.weight, .bias, .running_mean, .running_var, .num_batches_tracked
        bottom.conv{j}..., bottom.norm{j}...  the level below the last pool
        up{i}.upconv.weight, .bias            up_mode='transpose': (2C, C, 2, 2)
        up{i}.reduce.weight, .bias            up_mode='bilinear': 1x1 conv (C, 2C, 1)
        up{i}.conv{j}..., up{i}.norm{j}...    decoder levels, from up{depth-1} to up0
        head.weight, head.bias                1x1 conv to ``classes``

    With ``batch_norm`` the convolutions have no bias. The names match the
    layers :func:`convlab.shapes.unet_sizes` names in its errors
    (``down0.conv1``, ``down1.pool``, ``bottom.conv2``, ``up0.conv1``), and
    the rows of :meth:`trace`. A decoder level concatenates ``[skip, up]``.

    Parameters
    ----------
    config : UNetConfig, optional
        Defaults to ``UNetConfig()``, the paper's network.
    seed : int or numpy.random.Generator, default 0
        Weights are torch's default initialisation drawn from this generator.
    dtype : float32 (default) or float64
    **overrides
        Fields of :class:`UNetConfig` replacing those of ``config``.

    Examples
    --------
    >>> net = UNet(width=4, depth=2, padding="same", classes=3)
    >>> net(np.zeros((1, 1, 20, 20))).shape
    (1, 3, 20, 20)
    >>> list(net.state_dict())[:3]
    ['down0.conv1.weight', 'down0.conv1.bias', 'down0.conv2.weight']
    >>> [(r.name, r.output_shape) for r in UNet().trace((1, 1, 572, 572))][-1]
    ('head', (1, 2, 388, 388))
    """

    def __init__(
        self,
        config: UNetConfig | None = None,
        seed: Any = 0,
        *,
        dtype: DTypeLike = np.float32,
        **overrides: Any,
    ):
        super().__init__()
        if config is not None and not isinstance(config, UNetConfig):
            raise TypeError(f"config must be a UNetConfig, got {type(config).__name__}")
        config = dataclasses.replace(config or UNetConfig(), **overrides)
        self.config, self.in_channels, self.ndim = config, config.in_channels, config.ndim
        rng, dtype, n, ch = make_rng(seed), float_dtype(dtype), config.ndim, config.channels
        check_memory(
            (config.parameter_count() + config.buffer_count()) * np.dtype(dtype).itemsize,
            f"the U-Net's parameters (width={config.width}, depth={config.depth}, "
            f"classes={config.classes}, convs_per_level={config.convs_per_level})",
        )
        for i in range(config.depth):
            pool = _POOL[config.pooling][n](2)
            setattr(
                self,
                f"down{i}",
                Level(config, ch[i - 1] if i else self.in_channels, ch[i], rng, dtype, pool=pool),
            )
        bottom_in = ch[-2] if config.depth else config.in_channels
        self.bottom = Level(config, bottom_in, ch[-1], rng, dtype)
        for i in reversed(range(config.depth)):
            setattr(
                self,
                f"up{i}",
                Level(config, 2 * ch[i], ch[i], rng, dtype, **self._up(ch[i + 1], ch[i], rng, dtype)),
            )
        self.head = _CONV[n](ch[0], config.classes, 1, rng=rng, dtype=dtype)

    def _up(self, c_in: int, c_out: int, rng, dtype) -> dict[str, Module]:
        n = self.config.ndim
        if self.config.up_mode == "transpose":
            return {"upconv": _CONV_T[n](c_in, c_out, 2, stride=2, rng=rng, dtype=dtype)}
        upsample = nn.Upsample(scale_factor=2, mode=_LINEAR[n], align_corners=True)
        return {"upsample": upsample, "reduce": _CONV[n](c_in, c_out, 1, rng=rng, dtype=dtype)}

    def _plan(self) -> Plan:
        depth = self.config.depth
        names = [f"down{i}" for i in range(depth)] + ["bottom"]
        encoder = [getattr(self, name).units(name) for name in names]
        for i in range(depth):
            encoder[i + 1].insert(0, (f"down{i}.pool", getattr(self, f"down{i}").pool))
        decoder = []
        for i in reversed(range(depth)):
            level = getattr(self, f"up{i}")
            ups = [
                (f"up{i}.{k}", m) for k, m in level.named_children() if k in ("upconv", "upsample", "reduce")
            ]
            decoder.append((ups, f"up{i}.merge", level.units(f"up{i}")))
        merge = Merge("center" if self.config.padding == "valid" else "pad", skip_first=True)
        return Plan(encoder, decoder, [("head", self.head)], merge)

    @staticmethod
    def contract_for(config: UNetConfig) -> SizeContract:
        """The :attr:`size_contract` a UNet of ``config`` has, without drawing its weights.

        >>> UNet.contract_for(UNetConfig(depth=2, padding="same")).halo
        (24, 24)
        """
        if not isinstance(config, UNetConfig):
            raise TypeError(f"config must be a UNetConfig, got {type(config).__name__}")
        return _config_contract(config)

    def _check(self, shape: tuple[int, ...]) -> None:
        super()._check(shape)
        self.config.sizes(tuple(shape[2:]))

    def extra_repr(self) -> str:
        return repr(self.config)


@functools.lru_cache(maxsize=256)
def _config_contract(config: UNetConfig) -> SizeContract:
    if 2**config.depth > MAX_TOTAL_STRIDE:
        # Refused before drawing even the one-channel twin's weights (2**depth channels at the bottom).
        raise ConvlabError(
            f"the encoder's total stride is {2**config.depth} (depth={config.depth}); size contracts "
            f"(tiling) are derived for total strides up to {MAX_TOTAL_STRIDE} (a U-Net of depth <= 10)"
        )
    # Channels change no size: a one-channel network of the same shape has the same contract.
    return UNet(dataclasses.replace(config, in_channels=1, classes=1, width=1)).size_contract


def _from_state(state, options: dict) -> UNet:
    depth = count_keys(state, "down{}.conv1.weight")
    bottom = need_key(state, "bottom.conv1.weight", "convlab")
    first = need_key(state, "down0.conv1.weight", "convlab") if depth else bottom
    inferred = {
        "in_channels": first.shape[1],
        "classes": need_key(state, "head.weight", "convlab").shape[0],
        "depth": depth,
        "width": bottom.shape[0] >> depth,
        "convs_per_level": count_keys(state, "bottom.conv{}.weight", start=1),
        "kernel_size": bottom.shape[2],
        "batch_norm": "bottom.norm1.running_mean" in state,
        "up_mode": "bilinear" if any(k.endswith(".reduce.weight") for k in state) else "transpose",
        "ndim": bottom.ndim - 2,
    }
    dtype = options.pop("dtype")
    return UNet(dataclasses.replace(UNetConfig(**inferred), **options), dtype=dtype)


LAYOUT = Layout(
    "convlab",
    marker="bottom.",
    build=_from_state,
    options=(LayoutOption("padding", ("valid", "same")), LayoutOption("pooling", ("max", "avg"))),
)
