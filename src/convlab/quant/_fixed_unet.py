"""convlab's U-Net in fixed point, layer by layer, from a :class:`FormatTable`; and its calibration.

The walk is the U-Net's own data flow (encoder levels, 2x2 max pools,
up-convolutions, skip crop and concatenation, head) on codes. Each
convolution is :func:`fixed_conv` with its layer's formats, its ReLU acts on
the output codes (quantise, then ReLU, as an hls4ml conv layer followed by its
activation), pooling and cropping keep the format, and a concatenation
converts both inputs to the ``up{i}.merge`` output format.

The model is read through its config and layer attributes only
(``convlab.models.UNet``'s layout), so this layer imports nothing above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import functional as F
from .._args import ConvlabError
from ..shapes import center_crop_box
from ._fixed import FixedPoint
from ._fixed_conv import fixed_conv, fixed_conv_transpose
from ._fixed_elementwise import fixed_concat, fixed_max_pool, fixed_relu
from ._fixed_formats import FormatTable, LayerFormats

__all__ = ["FixedLayer", "calibrate_formats", "fixed_unet", "unet_layer_names"]


@dataclass(frozen=True)
class FixedLayer:
    """One step of a fixed-point run: its name, output codes and format, and the accumulation route."""

    name: str
    codes: np.ndarray
    format: FixedPoint
    route: str | None


def _check_model(model) -> None:
    config = getattr(model, "config", None)
    needed = ("depth", "convs_per_level", "batch_norm", "up_mode", "pooling", "padding")
    if config is None or not all(hasattr(config, k) for k in needed) or not hasattr(model, "head"):
        raise TypeError(f"model must be a convlab.models.UNet, got {type(model).__name__}")
    if config.batch_norm or config.up_mode != "transpose" or config.pooling != "max":
        raise ConvlabError(
            "fixed-point runs support UNet(batch_norm=False, up_mode='transpose', pooling='max'), got "
            f"batch_norm={config.batch_norm}, up_mode={config.up_mode!r}, pooling={config.pooling!r}"
        )


def unet_layer_names(model) -> list[str]:
    """The names a :class:`FormatTable` may use for ``model``, in the order of the run."""
    _check_model(model)
    c = model.config
    convs = [f"conv{j}" for j in range(1, c.convs_per_level + 1)]
    names = [f"down{i}.{n}" for i in range(c.depth) for n in convs] + [f"bottom.{n}" for n in convs]
    for i in reversed(range(c.depth)):
        names += [f"up{i}.upconv", f"up{i}.merge"] + [f"up{i}.{n}" for n in convs]
    return [*names, "head"]


def _walk(model, x, arith):
    """The U-Net's data flow with every step delegated to ``arith`` (float or fixed)."""
    c = model.config

    def level(name, x):
        for j in range(1, c.convs_per_level + 1):
            x = arith.conv(f"{name}.conv{j}", x, getattr(getattr(model, name), f"conv{j}"), relu=True)
        return x

    skips = []
    for i in range(c.depth):
        skips.append(level(f"down{i}", x))
        x = arith.pool(skips[-1], getattr(model, f"down{i}").pool)
    x = level("bottom", x)
    for i in reversed(range(c.depth)):
        up = arith.upconv(f"up{i}.upconv", x, getattr(model, f"up{i}").upconv)
        x = level(f"up{i}", arith.merge(f"up{i}.merge", skips.pop(), up, c.padding))
    return arith.conv("head", x, model.head, relu=False)


def _merge_window(skip_shape, up_shape, padding: str):
    """``(crop slices of the skip, pads of the up-sampled)``: the U-Net's merge rule."""
    if padding == "valid":
        return center_crop_box(skip_shape, up_shape).slices, None
    return None, [(d // 2, d - d // 2) for d in (s - u for s, u in zip(skip_shape, up_shape))]


class _Fixed:
    """Fixed-point steps on ``(codes, format)`` pairs, keeping a record per layer."""

    def __init__(self, model, table: FormatTable, keep: bool):
        self.model, self.table, self.keep, self.layers = model, table, keep, []
        self.params = {k: np.asarray(v, dtype=np.float64) for k, v in model.state_dict().items()}

    def _record(self, name, codes, fmt, route):
        self.layers.append(FixedLayer(name, codes if self.keep else np.empty(0, np.int64), fmt, route))

    def _weights(self, name, formats: LayerFormats):
        w = formats.weight.quantize(self.params[f"{name}.weight"])
        bias = self.params.get(f"{name}.bias")
        if bias is None:
            return w, None, None
        return w, formats.bias.quantize(bias), formats.bias

    def conv(self, name, x, module, relu):
        f = self.table.for_layer(name)
        w, b, fb = self._weights(name, f)
        geometry = {"stride": module.stride, "padding": module.padding, "dilation": module.dilation}
        kw = {"out_format": f.output, "acc_format": f.accumulator, "groups": module.groups, **geometry}
        y, route = fixed_conv(x[0], x[1], w, f.weight, b, fb, return_route=True, **kw)
        y = fixed_relu(y, f.output) if relu else y
        self._record(name, y, f.output, route)
        return y, f.output

    def upconv(self, name, x, module):
        f = self.table.for_layer(name)
        w, b, fb = self._weights(name, f)
        y, route = fixed_conv_transpose(
            x[0], x[1], w, f.weight, b, fb, out_format=f.output, acc_format=f.accumulator,
            stride=module.stride, padding=module.padding, return_route=True,
        )  # fmt: skip
        self._record(name, y, f.output, route)
        return y, f.output

    def pool(self, x, module):
        return fixed_max_pool(x[0], x[1], module.kernel_size, module.stride, module.padding), x[1]

    def merge(self, name, skip, up, padding):
        crop, pads = _merge_window(skip[0].shape[2:], up[0].shape[2:], padding)
        s = skip[0] if crop is None else skip[0][(Ellipsis, *crop)]
        u = up[0] if pads is None else np.pad(up[0], [(0, 0), (0, 0), *pads])
        out = self.table.for_layer(name).output
        y = fixed_concat([s, u], [skip[1], up[1]], out)
        self._record(name, y, out, None)
        return y, out


def fixed_unet(model, x, table: FormatTable | dict, *, keep: bool = False):
    """Run ``model`` (a ``convlab.models.UNet``) on ``x`` in fixed point, every layer in its table format.

    Parameters
    ----------
    model : convlab.models.UNet
        ``batch_norm=False``, ``up_mode='transpose'``, ``pooling='max'``; any
        depth, width, padding, 1-3 dimensions. Its float weights are
        quantised by each layer's weight and bias formats.
    x : array_like, shape ``(N, C_in, *spatial)``
        The float input, quantised by ``table.input``.
    table : FormatTable or dict
        Per-layer formats (a dict is read by :meth:`FormatTable.from_dict`).
    keep : bool
        Keep every layer's codes in the records (memory: all activations).

    Returns
    -------
    codes : numpy.ndarray of int64, shape ``(N, classes, *out)``
        The head's output codes, in ``table.for_layer('head').output``.
    layers : list of FixedLayer
        One record per convolution, up-convolution and merge, in run order.

    Examples
    --------
    >>> from convlab.models import UNet
    >>> net = UNet(width=2, depth=1, padding="same")
    >>> codes, layers = fixed_unet(net, np.ones((1, 1, 8, 8)), {})
    >>> codes.shape, [r.name for r in layers][:3], layers[0].route
    ((1, 2, 8, 8), ['down0.conv1', 'down0.conv2', 'bottom.conv1'], 'float64')
    """
    table = table if isinstance(table, FormatTable) else FormatTable.from_dict(table)
    table.check_names(unet_layer_names(model))
    model.trace(tuple(np.shape(x)))  # a size that does not fit fails here, naming the layer
    arith = _Fixed(model, table, keep)
    codes, _ = _walk(model, (table.input.quantize(np.asarray(x, dtype=np.float64)), table.input), arith)
    return codes, arith.layers


class _Float:
    """The same walk in float64, recording the largest ``|value|`` each layer produces."""

    def __init__(self, model):
        self.model, self.peaks = model, {}
        self.params = {k: np.asarray(v, dtype=np.float64) for k, v in model.state_dict().items()}

    def _peak(self, name, y):
        self.peaks[name] = max(self.peaks.get(name, 0.0), float(np.abs(y).max(initial=0.0)))
        return y

    def conv(self, name, x, module, relu):
        conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[x.ndim - 2]
        args = (module.stride, module.padding, module.dilation, module.groups)
        y = conv(x, self.params[f"{name}.weight"], self.params.get(f"{name}.bias"), *args)
        return self._peak(name, F.relu(y) if relu else y)

    def upconv(self, name, x, module):
        conv_t = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[x.ndim - 2]
        w, b = self.params[f"{name}.weight"], self.params.get(f"{name}.bias")
        return self._peak(name, conv_t(x, w, b, module.stride, module.padding))

    def pool(self, x, module):
        pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[x.ndim - 2]
        return pool(x, module.kernel_size, module.stride, module.padding)

    def merge(self, name, skip, up, padding):
        crop, pads = _merge_window(skip.shape[2:], up.shape[2:], padding)
        s = skip if crop is None else skip[(Ellipsis, *crop)]
        u = up if pads is None else np.pad(up, [(0, 0), (0, 0), *pads])
        return self._peak(name, np.concatenate([s, u], axis=1))


def _fit(peak: float, word_bits: int, rounding: str, overflow: str) -> FixedPoint:
    """The signed format of ``word_bits`` with the fewest integer bits whose range holds ``±peak``."""
    int_bits = math.floor(math.log2(peak)) + 2 if peak > 0 else 1
    return FixedPoint(word_bits, word_bits - int_bits, True, rounding, overflow)


def calibrate_formats(
    model, images, word_bits: int, *, rounding: str = "rnd_conv", overflow: str = "sat", accumulator=None
) -> FormatTable:
    """A :class:`FormatTable` of ``word_bits``-bit formats whose integer bits fit the float run on ``images``.

    Every tensor (input, each layer's weight, bias and output, each merge) gets
    ``I = floor(log2(max|v|)) + 2`` integer bits (sign included), the least
    that holds its largest magnitude seen: weights and biases over their
    values, activations over ``images`` (``(N, C_in, *spatial)``) in float64.
    The accumulator is full precision unless ``accumulator`` is given.

    >>> from convlab.models import UNet
    >>> table = calibrate_formats(UNet(width=2, depth=1, padding="same"), np.ones((1, 1, 8, 8)), 8)
    >>> str(table.input), table.for_layer("head").output.word_bits
    ('ap_fixed<8,2,AP_RND_CONV,AP_SAT>', 8)
    """
    names = unet_layer_names(model)
    x = np.asarray(images, dtype=np.float64)
    model.trace(x.shape)
    arith = _Float(model)
    _walk(model, x, arith)

    def fit(peak):
        return _fit(peak, word_bits, rounding, overflow)

    layers = {}
    for name in names:
        w, b = arith.params.get(f"{name}.weight"), arith.params.get(f"{name}.bias")
        layers[name] = LayerFormats(
            weight=fit(np.abs(w).max()) if w is not None else fit(0.0),
            bias=fit(np.abs(b).max()) if b is not None else fit(0.0),
            accumulator=accumulator,
            output=fit(arith.peaks[name]),
        )
    default = LayerFormats(fit(1.0), fit(1.0), accumulator, fit(1.0))
    return FormatTable(fit(float(np.abs(x).max())), default, layers)
