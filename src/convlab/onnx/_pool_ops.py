"""MaxPool, AveragePool and the global pools with ONNX's attributes, on convlab.functional's pools.

ONNX pads may be asymmetric and larger than PyTorch allows, so the input is
padded explicitly (with -inf for max, zeros for average) to exactly the
extent the last window reads, then pooled without padding. ``ceil_mode``
follows the ONNX spec (onnx >= 1.16, as ATen): a last window that would
start in the end padding is dropped.

Dilated AveragePool (opset 19) divides each window's sum by the number of
its taps inside the input, or with ``count_include_pad`` inside input + pads
(a ceil_mode overhang past the end pads never counts, as for ATen's average
pool). A dilated window can fall wholly in the padding: its sum is 0 and
onnxruntime leaves it 0 undivided; convlab does the same (the spec is silent,
onnx.reference averages an empty list to NaN).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .. import functional as F
from .._args import ConvlabError
from ..shapes import Window, conv_output_size
from ._conv_ops import AUTO_PAD, auto_pads, to_torch_pad, window_reads
from ._registry import MAX_OPSET, Meta, OpSpec, dtype_of, index_map, register, shape_of

_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _geometry(node, x_shape):
    n = len(x_shape) - 2
    kernel = tuple(node.attr("kernel_shape") or ())
    if n not in _MAX or len(kernel) != n:
        raise ConvlabError(
            f"kernel_shape={kernel} must have one entry per spatial dimension of X{x_shape} (1 to 3)"
        )
    strides = tuple(node.attr("strides", (1,) * n))
    dilations = tuple(node.attr("dilations", (1,) * n))
    pairs = auto_pads(node, x_shape[2:], kernel, strides, dilations)
    ceil = bool(node.attr("ceil_mode", 0))
    sizes = []
    for size, k, s, d, (lo, hi) in zip(x_shape[2:], kernel, strides, dilations, pairs):
        out = conv_output_size(size, k, s, ((lo, hi + (s - 1 if ceil else 0)),), d)[0]
        if ceil and (out - 1) * s >= size + lo:
            out -= 1
        sizes.append(out)
    return kernel, strides, dilations, pairs, tuple(sizes)


def _padded(x, node, fill):
    """The input padded to exactly what the windows read, and the geometry."""
    kernel, strides, dilations, pairs, sizes = _geometry(node, x.shape)
    ext = []
    for n, k, s, d, (lo, _), out in zip(x.shape[2:], kernel, strides, dilations, pairs, sizes):
        ext.append((lo, (out - 1) * s + d * (k - 1) + 1 - n - lo))
    return F.pad(x, to_torch_pad(tuple(ext)), value=fill), (kernel, strides, dilations, pairs, sizes)


def _max_run(node, inputs):
    x = inputs[0]
    work = x if x.dtype.kind == "f" else x.astype(np.float64)
    xp, (kernel, strides, dilations, pairs, _) = _padded(work, node, -np.inf)
    y, idx = _MAX[x.ndim - 2](xp, kernel, stride=strides, dilation=dilations, return_indices=True)
    y = y.astype(x.dtype, copy=False)
    if len(node.outputs) < 2 or not node.outputs[1]:
        return (y,)
    coords = np.unravel_index(idx, xp.shape[2:])
    spatial = x.shape[2:]
    order = "F" if node.attr("storage_order", 0) else "C"
    flat = np.ravel_multi_index(tuple(c - lo for c, (lo, _) in zip(coords, pairs)), spatial, order=order)
    planes = np.arange(x.shape[0] * x.shape[1], dtype=np.int64).reshape(x.shape[:2] + (1,) * len(spatial))
    return y, flat.astype(np.int64) + planes * math.prod(spatial)


def _avg_run(node, inputs):
    x = inputs[0]
    kernel, strides, dilations, pairs, sizes = _geometry(node, x.shape)
    include = bool(node.attr("count_include_pad", 0))
    ceil = bool(node.attr("ceil_mode", 0))
    if any(d != 1 for d in dilations):
        return (_dilated_average(x, node, include),)
    if all(lo == hi <= k // 2 for (lo, hi), k in zip(pairs, kernel)):
        pad = tuple(lo for lo, _ in pairs)
        y = _AVG[x.ndim - 2](x, kernel, strides, pad, ceil_mode=ceil, count_include_pad=include)
        if y.shape[2:] == sizes:
            return (y,)
    xp, _ = _padded(x, node, 0.0)
    summed = _AVG[x.ndim - 2](xp, kernel, strides)
    # Asymmetric or wide pads: the window mean with ONNX's divisor, the count
    # of window positions inside the input (or inside input + pads).
    counts = np.ones((1,) * x.ndim)
    for axis, (n, k, s, (lo, hi), out) in enumerate(zip(x.shape[2:], kernel, strides, pairs, sizes)):
        first, last = (-lo, n + hi) if include else (0, n)
        start = Window(None, k, s, 1, (lo, hi)).index(np.arange(out), 0)
        per_dim = np.minimum(start + k, last) - np.maximum(start, first)
        counts = counts * per_dim.reshape((-1,) + (1,) * (x.ndim - 3 - axis))
    return ((summed * (math.prod(kernel) / counts)).astype(x.dtype, copy=False),)


def _tap_sum(x, node, transform=None):
    """Every window's taps summed in row-major order from +0.0 (zero padding adds nothing)."""
    xp, (kernel, strides, dilations, pairs, sizes) = _padded(x, node, 0.0)
    xp = xp if transform is None else transform(xp)
    total = np.zeros(x.shape[:2] + sizes, dtype=xp.dtype)
    for tap in itertools.product(*(range(k) for k in kernel)):
        view = tuple(
            slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, s, o in zip(tap, dilations, strides, sizes)
        )
        total += xp[(Ellipsis, *view)]
    return total, (kernel, strides, dilations, pairs, sizes)


def _dilated_average(x, node, include):
    """Dilated AveragePool as onnxruntime's kernel computes it, bit for bit.

    The taps are summed in row-major order into a sum that starts at +0.0
    (the zero padding adds nothing, not even a sign), then divided once by
    the tap count: the order and rounding of onnxruntime's AveragePoolNDTask.
    """
    total, (kernel, strides, dilations, pairs, sizes) = _tap_sum(x, node)
    counts = np.ones((1,) * x.ndim, dtype=np.int64)
    for axis, (n, k, s, d, (lo, hi), out) in enumerate(
        zip(x.shape[2:], kernel, strides, dilations, pairs, sizes)
    ):
        where = Window(None, k, s, d, (lo, hi)).index(np.arange(out)[:, None], np.arange(k)[None, :])
        inside = (where < n + hi) if include else (where >= 0) & (where < n)
        counts = counts * inside.sum(axis=1).reshape((-1,) + (1,) * (x.ndim - 3 - axis))
    counts = np.broadcast_to(counts, total.shape)
    return np.divide(total, counts.astype(x.dtype), out=total, where=counts > 0)


def _lp_run(node, inputs):
    """LpPool: ``(sum |x|^p)^(1/p)`` over each window's taps inside the input (padding adds 0).

    As onnxruntime: ``|x|^p`` is rounded from double to the input's type, the
    sum runs in that type in row-major tap order, the root is taken in it too.
    """
    x = inputs[0]
    p = int(node.attr("p", 2))
    total, _ = _tap_sum(x, node, lambda xp: (np.abs(xp).astype(np.float64) ** p).astype(x.dtype))
    # The root in double, rounded once: the correctly rounded powf that onnxruntime's
    # std::pow(float, float) calls (NumPy's own float32 power differs by an ulp for p = 3).
    exponent = float(x.dtype.type(1.0) / x.dtype.type(p))
    return ((total.astype(np.float64) ** exponent).astype(x.dtype, copy=False),)


def _pool_shape(node, inputs):
    x = shape_of(inputs[0])
    sizes = _geometry(node, x)[-1]
    out = Meta((*x[:2], *sizes), dtype_of(inputs[0]))
    return (out, Meta(out.shape, np.dtype(np.int64))) if len(node.outputs) > 1 else (out,)


def _pool_window(node, inputs, outputs):
    kernel, strides, dilations, pairs, _ = _geometry(node, shape_of(inputs[0]))
    return {0: [window_reads(s, lo, d, k) for k, s, d, (lo, _) in zip(kernel, strides, dilations, pairs)]}


_SINCE = {"AveragePool": {"dilations": 19}, "LpPool": {"dilations": 18, "ceil_mode": 18}}


def _check_pool(node) -> list[str]:
    problems = []
    if node.attr("auto_pad", "NOTSET") not in AUTO_PAD:
        problems.append(f"{node.label()}: auto_pad={node.attr('auto_pad')!r} is not one of {AUTO_PAD}")
    if node.attr("kernel_shape") is None:
        problems.append(f"{node.label()}: kernel_shape is required")
    dilations = node.attr("dilations")
    if dilations is not None and min(dilations, default=1) < 1:
        problems.append(f"{node.label()}: dilations={list(dilations)} must be positive")
    for attribute, since in _SINCE.get(node.op_type, {}).items():
        if node.attr(attribute) is not None and node.opset < since:
            # As the ONNX checker (and onnxruntime): the attribute does not exist before that opset.
            problems.append(
                f"{node.label()}: {attribute} needs opset {since}, the model imports {node.opset}"
            )
    if node.op_type == "LpPool" and int(node.attr("p", 2)) < 1:
        problems.append(f"{node.label()}: p={node.attr('p')} must be a positive integer")
    return problems


def _global_run(node, inputs):
    x = inputs[0]
    axes = tuple(range(2, x.ndim))
    reduce = np.max if node.op_type == "GlobalMaxPool" else np.mean
    return (reduce(x, axis=axes, keepdims=True).astype(x.dtype, copy=False),)


def _global_shape(node, inputs):
    x = shape_of(inputs[0])
    return (Meta((*x[:2], *(1,) * (len(x) - 2)), dtype_of(inputs[0])),)


def _global_window(node, inputs, outputs):
    return {0: [index_map(lambda o, n=n: range(n), n) for n in shape_of(inputs[0])[2:]]}


_POOL = ("auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "strides")
register(
    "MaxPool",
    OpSpec(_max_run, _pool_shape, (*_POOL, "storage_order"), (1, MAX_OPSET), _check_pool, _pool_window),
)
register(
    "AveragePool",
    OpSpec(_avg_run, _pool_shape, (*_POOL, "count_include_pad"), (1, MAX_OPSET), _check_pool, _pool_window),
)
register("LpPool", OpSpec(_lp_run, _pool_shape, (*_POOL, "p"), (2, MAX_OPSET), _check_pool, _pool_window))
for _name in ("GlobalAveragePool", "GlobalMaxPool"):
    register(_name, OpSpec(_global_run, _global_shape, (), (1, MAX_OPSET), None, _global_window))
