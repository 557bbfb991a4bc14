"""Pad, CenterCropPad and Col2Im on convlab.functional's pad and fold.

ONNX's Pad modes map to convlab's: constant, reflect, edge (replicate); negative
pads crop. ``wrap`` is the torus ONNX defines: crop, then repeat the rest any
number of times (onnxruntime and onnx.reference do; torch's ``circular``,
convlab.functional's rule, wraps at most once). CenterCropPad follows ONNX, which *floors*
the offset of an odd crop (``(n - size) // 2`` pixels dropped at the start),
where torchvision's ``center_crop`` (and :func:`convlab.transforms.center_crop`)
rounds half to even: for ``n - size = 3`` ONNX drops 1 pixel first,
torchvision 2.
"""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .._args import ConvlabError
from .._limits import check_memory
from ..shapes import conv_output_size
from ._conv_ops import to_torch_pad
from ._registry import MAX_OPSET, Meta, OpSpec, dtype_of, ints_of, register, shape_of, value_of

_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


def _pad_pairs(node, inputs):
    """``(lo, hi)`` for every axis of the input (zeros where not padded)."""
    rank = len(shape_of(inputs[0]))
    if node.opset < 11:
        pads, axes = node.attr("pads"), None
    else:
        pads = ints_of(inputs[1], "pads")
        axes = ints_of(inputs[3], "axes") if len(inputs) > 3 and inputs[3] is not None else None
    axes = tuple(range(rank)) if axes is None else tuple(a % rank for a in axes)
    if len(pads) != 2 * len(axes):
        raise ConvlabError(f"pads must have 2 values per padded axis ({2 * len(axes)}), got {len(pads)}")
    pairs = [(0, 0)] * rank
    for i, a in enumerate(axes):
        pairs[a] = (pads[i], pads[len(axes) + i])
    return tuple(pairs)


def _pad_run(node, inputs):
    x = inputs[0]
    pairs = _pad_pairs(node, inputs)
    mode = _MODES[node.attr("mode", "constant")]
    if node.opset < 11:
        value = node.attr("value", 0.0)
    else:
        value = inputs[2] if len(inputs) > 2 and inputs[2] is not None else 0
        value = value_of(value, "constant_value").reshape(-1)[0] if np.size(value) else 0
    if mode == "circular":
        return (_wrap(x, pairs),)
    first = next((i for i, p in enumerate(pairs) if p != (0, 0)), x.ndim)
    kwargs = {"value": float(value)} if mode == "constant" else {}
    return (F.pad(x, to_torch_pad(tuple(pairs[first:])), mode=mode, **kwargs),)


def _wrap(x: np.ndarray, pairs) -> np.ndarray:
    """ONNX's ``wrap``: crop the negative pads, then index what is left as a torus along each axis."""
    kept = [n - max(-lo, 0) - max(-hi, 0) for n, (lo, hi) in zip(x.shape, pairs)]
    for axis, (n, keep, (lo, hi)) in enumerate(zip(x.shape, kept, pairs)):
        if keep < 0 or (keep == 0 and (lo > 0 or hi > 0)):
            raise ConvlabError(
                f"wrap pads ({lo}, {hi}) on axis {axis} of size {n} leave {max(keep, 0)} values to repeat"
            )
    out = [k + max(lo, 0) + max(hi, 0) for k, (lo, hi) in zip(kept, pairs)]
    check_memory(x.dtype.itemsize * math.prod(out), f"Pad's output of shape {tuple(out)}")
    x = x[tuple(slice(max(-lo, 0), max(-lo, 0) + k) for k, (lo, _) in zip(kept, pairs))]
    for axis, (k, (lo, hi)) in enumerate(zip(kept, pairs)):
        if lo > 0 or hi > 0:
            x = np.take(x, np.arange(-max(lo, 0), k + max(hi, 0)) % k, axis=axis)
    return x


def _pad_shape(node, inputs):
    shape = shape_of(inputs[0])
    pairs = _pad_pairs(node, inputs)
    out = tuple(n + lo + hi for n, (lo, hi) in zip(shape, pairs))
    if min(out, default=1) < 0:
        raise ConvlabError(f"pads {pairs} crop more than the shape {shape}")
    return (Meta(out, dtype_of(inputs[0])),)


def _shift_window(pairs_of):
    def window(node, inputs, outputs):
        pairs = pairs_of(node, inputs)
        return {0: [lambda o, lo=lo: [o - lo] for lo, _ in pairs[2:]]}

    return window


def _pad_check(node):
    mode = node.attr("mode", "constant")
    return [] if mode in _MODES else [f"{node.label()}: mode={mode!r} is not one of {tuple(_MODES)}"]


def _crop_pairs(node, inputs):
    shape = shape_of(inputs[0])
    target = ints_of(inputs[1], "shape")
    axes = node.attr("axes")
    axes = tuple(range(len(shape))) if axes is None else tuple(a % len(shape) for a in axes)
    if len(target) != len(axes):
        raise ConvlabError(f"shape must have one size per axis ({len(axes)}), got {target}")
    pairs = [(0, 0)] * len(shape)
    for a, size in zip(axes, target):
        diff = size - shape[a]
        # Crop: drop floor(excess/2) first; pad: add floor(deficit/2) first.
        lo = diff // 2 if diff >= 0 else -((-diff) // 2)
        pairs[a] = (lo, diff - lo)
    return tuple(pairs)


def _crop_run(node, inputs):
    pairs = _crop_pairs(node, inputs)
    return (F.pad(inputs[0], to_torch_pad(pairs)),)


def _crop_shape(node, inputs):
    shape = shape_of(inputs[0])
    pairs = _crop_pairs(node, inputs)
    return (Meta(tuple(n + lo + hi for n, (lo, hi) in zip(shape, pairs)), dtype_of(inputs[0])),)


def _col2im_args(node, inputs):
    image, block = ints_of(inputs[1], "image_shape"), ints_of(inputs[2], "block_shape")
    n = len(image)
    pads = node.attr("pads", (0,) * 2 * n)
    pairs = tuple((pads[i], pads[n + i]) for i in range(n))
    return image, block, tuple(node.attr("dilations", (1,) * n)), pairs, tuple(node.attr("strides", (1,) * n))


def _col2im_run(node, inputs):
    image, block, dilations, pairs, strides = _col2im_args(node, inputs)
    return (F.fold(inputs[0], image, block, dilation=dilations, padding=pairs, stride=strides),)


def _col2im_shape(node, inputs):
    image, block, dilations, pairs, strides = _col2im_args(node, inputs)
    x = shape_of(inputs[0])
    if len(x) != 3 or x[1] % math.prod(block):
        raise ConvlabError(f"input must be (N, C * {math.prod(block)}, L) for blocks {block}, got {x}")
    windows = math.prod(conv_output_size(image, block, strides, pairs, dilations))
    if x[2] != windows:
        raise ConvlabError(f"input has {x[2]} blocks, the image {image} with these blocks has {windows}")
    return (Meta((x[0], x[1] // math.prod(block), *image), dtype_of(inputs[0])),)


register(
    "Pad",
    OpSpec(
        _pad_run, _pad_shape, ("mode", "pads", "value"), (2, MAX_OPSET), _pad_check, _shift_window(_pad_pairs)
    ),
)
register(
    "CenterCropPad",
    OpSpec(_crop_run, _crop_shape, ("axes",), (18, MAX_OPSET), None, _shift_window(_crop_pairs)),
)
register(
    "Col2Im",
    OpSpec(_col2im_run, _col2im_shape, ("dilations", "pads", "strides"), (18, MAX_OPSET), window=None),
)
