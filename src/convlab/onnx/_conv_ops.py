"""Conv and ConvTranspose with ONNX's attributes, on convlab.functional's convolutions.

ONNX pads are ``[x1_begin, x2_begin, ..., x1_end, x2_end, ...]`` and may be
asymmetric; ``auto_pad`` SAME_UPPER puts the odd pixel at the end,
SAME_LOWER at the beginning. A transposed convolution is computed unpadded
(the "full" output) and then cropped by its pads, or extended with zeros
when the pads are negative, which covers ``output_shape``, ``output_padding``
and every ``auto_pad`` without restrictions of PyTorch's own arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .. import functional as F
from .._args import ConvlabError
from ..shapes import Window, conv_output_size
from ._registry import MAX_OPSET, Meta, OpSpec, dtype_of, index_map, register, shape_of

__all__ = ["AUTO_PAD", "auto_pads", "onnx_pairs", "to_torch_pad", "window_reads"]

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONVT = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
AUTO_PAD = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def onnx_pairs(pads: object, n: int) -> tuple[tuple[int, int], ...]:
    """``((lo, hi), ...)`` from ONNX's ``[begins..., ends...]`` (zeros when absent)."""
    if pads is None:
        return ((0, 0),) * n
    pads = tuple(pads)  # type: ignore[arg-type]
    if len(pads) != 2 * n:
        raise ConvlabError(f"pads must have 2*{n} values (begins then ends), got pads={pads}")
    return tuple((pads[i], pads[n + i]) for i in range(n))


def to_torch_pad(pairs: tuple[tuple[int, int], ...]) -> list[int]:
    """convlab.functional.pad's order: pairs starting from the last dimension."""
    return [p for pair in reversed(pairs) for p in pair]


def auto_pads(node, spatial, kernel, strides, dilations) -> tuple[tuple[int, int], ...]:
    """The pads of Conv and the pools, after ``auto_pad`` (ONNX Conv spec)."""
    mode = node.attr("auto_pad", "NOTSET")
    n = len(spatial)
    if mode == "VALID":
        return ((0, 0),) * n
    if mode == "NOTSET":
        return onnx_pairs(node.attr("pads"), n)
    pairs = []
    for size, k, s, d in zip(spatial, kernel, strides, dilations):
        total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
        small, large = total // 2, total - total // 2
        pairs.append((small, large) if mode == "SAME_UPPER" else (large, small))
    return tuple(pairs)


@dataclass(frozen=True)
class _Geometry:
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pairs: tuple[tuple[int, int], ...]
    group: int


def _geometry(node, x_shape, w_shape, transposed: bool) -> _Geometry:
    n = len(x_shape) - 2
    if n not in _CONV or len(w_shape) != n + 2:
        raise ConvlabError(
            f"input and weight must have equal ranks, 1 to 3 spatial dimensions, got X{x_shape}, W{w_shape}"
        )
    kernel = tuple(w_shape[2:])
    declared = node.attr("kernel_shape")
    if declared is not None and tuple(declared) != kernel:
        raise ConvlabError(f"kernel_shape={declared} disagrees with the weight of shape {w_shape}")
    strides = tuple(node.attr("strides", (1,) * n))
    dilations = tuple(node.attr("dilations", (1,) * n))
    group = int(node.attr("group", 1))
    if len(strides) != n or len(dilations) != n or min(strides + dilations) < 1 or group < 1:
        raise ConvlabError(f"strides, dilations and group must be positive, one per spatial dimension ({n})")
    pairs = _transpose_pads(node, x_shape[2:], kernel, strides, dilations) if transposed else None
    pairs = pairs or auto_pads(node, x_shape[2:], kernel, strides, dilations)
    return _Geometry(kernel, strides, dilations, pairs, group)


def _transpose_pads(node, spatial, kernel, strides, dilations):
    """ONNX ConvTranspose: pads from output_shape, or from auto_pad SAME_* (output = input * stride)."""
    n = len(spatial)
    out_pad = tuple(node.attr("output_padding", (0,) * n))
    output_shape = node.attr("output_shape")
    mode = node.attr("auto_pad", "NOTSET")
    if output_shape is None and mode not in ("SAME_UPPER", "SAME_LOWER"):
        return onnx_pairs(None, n) if mode == "VALID" else onnx_pairs(node.attr("pads"), n)
    target = (
        tuple(output_shape)[-n:]
        if output_shape is not None
        else tuple(i * s for i, s in zip(spatial, strides))
    )
    pairs = []
    for i, o, s, k, d, op in zip(spatial, target, strides, kernel, dilations, out_pad):
        total = s * (i - 1) + op + (k - 1) * d + 1 - o
        small, large = total // 2, total - total // 2
        if total < 0 and mode not in ("SAME_UPPER", "SAME_LOWER"):
            # output_shape beyond the full output without auto_pad: onnxruntime
            # and onnx.reference both append the zeros at the end, as PyTorch's
            # output_size does (the spec's formula would give negative pads; with
            # SAME_* onnx.reference follows that formula, and so does convlab).
            pairs.append((0, total))
            continue
        pairs.append((small, large) if mode == "SAME_UPPER" else (large, small))
    return tuple(pairs)


def _conv_shape(node, inputs):
    x, w = shape_of(inputs[0]), shape_of(inputs[1])
    g = _geometry(node, x, w, transposed=False)
    if x[1] != w[1] * g.group or w[0] % g.group:
        raise ConvlabError(
            f"input has {x[1]} channels, the weight {w} with group={g.group} expects {w[1] * g.group}"
        )
    out = conv_output_size(x[2:], g.kernel, g.strides, g.pairs, g.dilations)
    return (Meta((x[0], w[0], *out), dtype_of(inputs[0])),)


def _conv_run(node, inputs):
    x, w, b = ([*list(inputs), None])[:3]
    g = _geometry(node, x.shape, w.shape, transposed=False)
    conv = _CONV[x.ndim - 2]
    return (conv(x, w, b, stride=g.strides, padding=g.pairs, dilation=g.dilations, groups=g.group),)


def _convt_sizes(node, x, w):
    g = _geometry(node, x, w, transposed=True)
    if x[1] != w[0] or w[0] % g.group:
        raise ConvlabError(f"input has {x[1]} channels, the weight {w} expects {w[0]} (group={g.group})")
    out_pad = tuple(node.attr("output_padding", (0,) * len(g.kernel)))
    full = [(i - 1) * s + d * (k - 1) + 1 for i, s, k, d in zip(x[2:], g.strides, g.kernel, g.dilations)]
    sizes = [f + op - lo - hi for f, op, (lo, hi) in zip(full, out_pad, g.pairs)]
    if min(sizes) < 1:
        raise ConvlabError(f"the output would have size {tuple(sizes)} (pads {g.pairs})")
    return g, out_pad, tuple(sizes)


def _convt_shape(node, inputs):
    x, w = shape_of(inputs[0]), shape_of(inputs[1])
    g, _, sizes = _convt_sizes(node, x, w)
    return (Meta((x[0], w[1] * g.group, *sizes), dtype_of(inputs[0])),)


def _convt_run(node, inputs):
    x, w, b = ([*list(inputs), None])[:3]
    g, out_pad, _ = _convt_sizes(node, x.shape, w.shape)
    full = _CONVT[x.ndim - 2](x, w, None, stride=g.strides, groups=g.group, dilation=g.dilations)
    # Extend, then crop: output_padding (and negative pads) add zeros, which
    # receive only the bias; the pads then crop the extended result. Extending
    # first matters: a begin pad may crop into zeros that output_padding added
    # (pads=[2, 0], output_padding=[2] on a 1-wide full result keeps one zero).
    grow = tuple((max(-lo, 0), max(op - hi, 0)) for (lo, hi), op in zip(g.pairs, out_pad))
    y = F.pad(full, to_torch_pad(grow))
    keep = [slice(None), slice(None)]
    for n, (lo, hi), op in zip(y.shape[2:], g.pairs, out_pad):
        keep.append(slice(max(lo, 0), n - max(hi - op, 0)))
    y = np.ascontiguousarray(y[tuple(keep)])
    if b is not None:
        y = y + np.asarray(b, y.dtype).reshape(-1, *(1,) * (x.ndim - 2))
    return (y,)


def _conv_window(node, inputs, outputs):
    g = _geometry(node, shape_of(inputs[0]), shape_of(inputs[1]), transposed=False)
    return {
        0: [window_reads(s, lo, d, k) for s, (lo, _), d, k in zip(g.strides, g.pairs, g.dilations, g.kernel)]
    }


def window_reads(s, lo, d, k):
    """Output ``o`` reads every tap of window ``o``, padding positions included."""
    window = Window(None, k, s, d, (lo, 0))
    return index_map(lambda o: [window.index(o, t) for t in range(k)], s)


def _convt_window(node, inputs, outputs):
    g = _geometry(node, shape_of(inputs[0]), shape_of(inputs[1]), transposed=True)

    def maps(s, lo, d, k):
        # Input i reaches output i*s - lo + d*t: the converse of a convolution's window.
        return index_map(
            lambda o: [(o + lo - d * t) // s for t in range(k) if (o + lo - d * t) % s == 0], Fraction(1, s)
        )

    return {0: [maps(s, lo, d, k) for s, (lo, _), d, k in zip(g.strides, g.pairs, g.dilations, g.kernel)]}


def _conv_flops(node, shapes, outs):
    w, y = shapes[1], outs[0]
    return 2 * math.prod(y) * math.prod(w[1:])


def _convt_flops(node, shapes, outs):
    x, w = shapes[0], shapes[1]
    return 2 * math.prod(x) * math.prod(w[1:])


def _check(node) -> list[str]:
    mode = node.attr("auto_pad", "NOTSET")
    return [] if mode in AUTO_PAD else [f"{node.label()}: auto_pad={mode!r} is not one of {AUTO_PAD}"]


_ATTRS = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")
register("Conv", OpSpec(_conv_run, _conv_shape, _ATTRS, (1, MAX_OPSET), _check, _conv_window, _conv_flops))
register(
    "ConvTranspose",
    OpSpec(
        _convt_run,
        _convt_shape,
        (*_ATTRS, "output_padding", "output_shape"),
        (1, MAX_OPSET),
        _check,
        _convt_window,
        _convt_flops,
    ),
)
