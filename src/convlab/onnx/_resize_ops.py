"""Resize and Upsample with ONNX's coordinate transformations, nearest modes and linear blending.

The spec maps output coordinate ``x`` of an axis to ``x_original`` in the
input (``coordinate_transformation_mode``), then takes a neighbour
(``nearest_mode``) or blends the two neighbours (linear), clamped to the
input. The scale is exact: the float32 ``scales`` as stored, or the ratio
``sizes / input`` as a fraction. Nearest modes take their neighbour from the
exact coordinate (a rounding on an exact tie or integer picks the spec's
neighbour, where float arithmetic may step across it: 6 -> 4 ``asymmetric``
``floor`` maps output 2 to exactly 3, which ``2 / float32(2/3)`` makes
2.9999998); linear blends use float64 coordinates. Linear resizing is applied
axis by axis (separably); onnxruntime blends the 2^d neighbours at once, so
linear results agree to rounding.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .._args import ConvlabError
from ._registry import MAX_OPSET, Meta, OpSpec, dtype_of, index_map, register, shape_of, value_of

_COORD = (
    "half_pixel",
    "half_pixel_symmetric",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_crop_and_resize",
)
_NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")


def _plan(node, inputs):
    """Per axis: (input size, output size, scale), and the roi, for Resize-10..19 and Upsample."""
    shape = shape_of(inputs[0])
    rank = len(shape)
    axes = node.attr("axes")
    axes = list(range(rank)) if axes is None else [a % rank for a in axes]
    scales = sizes = roi = None
    if node.op_type == "Upsample" or node.opset < 11:
        scales = node.attr("scales") if len(inputs) < 2 or inputs[1] is None else inputs[1]
    else:
        roi, scales, sizes = (list(inputs[1:]) + [None] * 3)[:3]
    scales = None if scales is None or value_of(scales, "scales").size == 0 else value_of(scales, "scales")
    sizes = None if sizes is None or value_of(sizes, "sizes").size == 0 else value_of(sizes, "sizes")
    if (scales is None) == (sizes is None):
        raise ConvlabError("exactly one of scales and sizes must be given")
    count = len(scales if sizes is None else sizes)
    if count != len(axes):
        raise ConvlabError(f"scales/sizes must have {len(axes)} values (one per axis), got {count}")
    plan = [(n, n, Fraction(1)) for n in shape]
    if sizes is not None:
        ratios = [Fraction(int(s), shape[a]) for a, s in zip(axes, sizes)]
        policy = node.attr("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            ratio = min(ratios) if policy == "not_larger" else max(ratios)
            sizes = [math.floor(ratio * shape[a] + Fraction(1, 2)) for a in axes]
            ratios = [ratio] * len(axes)
        for a, s, r in zip(axes, sizes, ratios):
            plan[a] = (shape[a], int(s), r)
    else:
        for a, s in zip(axes, scales):
            s = float(np.float32(s))
            if not s > 0 or not math.isfinite(s):
                raise ConvlabError(f"scales must be positive and finite, got {scales.tolist()}")
            plan[a] = (shape[a], math.floor(shape[a] * Fraction(s)), Fraction(s))
    if any(out < 1 for _, out, _ in plan):
        raise ConvlabError(f"the output would have shape {tuple(out for _, out, _ in plan)}")
    roi = None if roi is None or value_of(roi, "roi").size == 0 else value_of(roi, "roi").astype(np.float64)
    return plan, axes, roi


def _coordinate_mode(node) -> str:
    if node.op_type == "Upsample" or node.opset < 11:
        return "asymmetric"
    return node.attr("coordinate_transformation_mode", "half_pixel")


def _nearest_mode(node) -> str:
    if node.op_type == "Upsample" or node.opset < 11:
        return "simple"
    return node.attr("nearest_mode", "round_prefer_floor")


def original_coordinates(
    mode: str, n: int, out: int, scale: float, roi: tuple[float, float], x: np.ndarray | None = None
) -> np.ndarray:
    """``x_original`` of the output indices ``x`` (default: all) along one axis (ONNX Resize spec)."""
    x = np.arange(out, dtype=np.float64) if x is None else np.asarray(x, dtype=np.float64)
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        adjustment = out / (scale * n)
        return n / 2 * (1 - adjustment) + (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if out > 1 else np.zeros(x.shape)
    if mode == "align_corners":
        return x * (n - 1) / (out - 1) if out > 1 else np.zeros(x.shape)
    if mode == "asymmetric":
        return x / scale
    start, end = roi
    if out > 1:
        return start * (n - 1) + x * (end - start) * (n - 1) / (out - 1)
    return np.full(x.shape, 0.5 * (start + end) * (n - 1))


def exact_coordinates(mode: str, n: int, out: int, scale: Fraction, roi, x=None) -> list:
    """:func:`original_coordinates` of the output indices ``x`` (default: all) as exact fractions.

    >>> [str(c) for c in exact_coordinates("asymmetric", 6, 4, Fraction(4, 6), (0.0, 1.0))]
    ['0', '3/2', '3', '9/2']
    """
    half = Fraction(1, 2)
    x = range(out) if x is None else x
    if mode in ("half_pixel", "pytorch_half_pixel"):
        if mode == "pytorch_half_pixel" and out == 1:
            return [Fraction(0) for _ in x]
        return [(o + half) / scale - half for o in x]
    if mode == "half_pixel_symmetric":
        offset = Fraction(n, 2) * (1 - out / (scale * n))
        return [offset + (o + half) / scale - half for o in x]
    if mode == "align_corners":
        return [Fraction(o * (n - 1), out - 1) if out > 1 else Fraction(0) for o in x]
    if mode == "asymmetric":
        return [o / scale for o in x]
    start, end = (Fraction(float(v)) for v in roi)
    if out > 1:
        return [start * (n - 1) + o * (end - start) * (n - 1) / (out - 1) for o in x]
    return [half * (start + end) * (n - 1) for _ in x]


def exact_nearest(coordinates: list, mode: str, scale: Fraction) -> np.ndarray:
    """The neighbour of each exact coordinate, before clamping (:func:`nearest_index` without rounding)."""
    half = Fraction(1, 2)
    if mode == "round_prefer_floor":
        picks = [math.ceil(c - half) for c in coordinates]
    elif mode == "round_prefer_ceil":
        picks = [math.floor(c + half) for c in coordinates]
    elif mode == "floor" or (mode == "simple" and scale >= 1):
        picks = [math.floor(c) for c in coordinates]
    else:
        picks = [math.ceil(c) for c in coordinates]
    return np.array(picks, dtype=np.int64)


def nearest_index(x: np.ndarray, mode: str, scale: float) -> np.ndarray:
    """The neighbour each coordinate takes, before clamping to the input."""
    if mode == "round_prefer_floor":
        return np.ceil(x - 0.5)
    if mode == "round_prefer_ceil":
        return np.floor(x + 0.5)
    if mode == "floor" or (mode == "simple" and scale >= 1):
        return np.floor(x)
    return np.ceil(x)


def _axis_coordinates(node, plan, axes, roi):
    mode = _coordinate_mode(node)
    for a in axes:
        n, out, scale = plan[a]
        if out == n and scale == 1.0 and mode != "tf_crop_and_resize":
            continue
        box = (0.0, 1.0) if roi is None else (roi[axes.index(a)], roi[len(axes) + axes.index(a)])
        yield a, n, out, scale, box, original_coordinates(mode, n, out, float(scale), box)


def _resize_run(node, inputs):
    x = inputs[0]
    plan, axes, roi = _plan(node, inputs)
    linear = node.attr("mode", "nearest") == "linear"
    dtype = x.dtype
    if linear:
        # Blend every axis in float64 and round once at the end: the value
        # closest to the spec's real-number result (onnxruntime rounds each
        # float32 weight product, so the two differ by an ulp or so).
        x = x.astype(np.float64)
    outside = None
    for a, n, out, scale, box, coords in _axis_coordinates(node, plan, axes, roi):
        if linear:
            c = np.clip(coords, 0, n - 1)
            lo = np.floor(c).astype(np.int64)
            hi = np.minimum(lo + 1, n - 1)
            # Where both taps are the last pixel, onnxruntime weighs them 0.5 and 0.5
            # (an inf stays inf; weights 1 and 0 would make inf * 0 = NaN).
            w = np.where(hi == lo, 0.5, c - lo).reshape((-1,) + (1,) * (x.ndim - 1 - a))
            x = np.take(x, lo, axis=a) * (1 - w) + np.take(x, hi, axis=a) * w
        else:
            exact = exact_coordinates(_coordinate_mode(node), n, out, scale, box)
            index = np.clip(exact_nearest(exact, _nearest_mode(node), scale), 0, n - 1)
            x = np.take(x, index, axis=a)
            coords = np.array([float(c) for c in exact])
        if _coordinate_mode(node) == "tf_crop_and_resize":
            bad = ((coords < 0) | (coords > n - 1)).reshape((-1,) + (1,) * (x.ndim - 1 - a))
            outside = bad if outside is None else (outside | bad)
    if outside is not None:
        x = np.where(outside, np.asarray(node.attr("extrapolation_value", 0.0), x.dtype), x)
    return (x.astype(dtype, copy=False),)


def _resize_shape(node, inputs):
    plan, _, _ = _plan(node, inputs)
    return (Meta(tuple(out for _, out, _ in plan), dtype_of(inputs[0])),)


def _axis_map(mode, nearest, linear, n, out, scale, box):
    """Output index -> input indices along one axis, for any index (the trace's extended plane), unclamped."""

    def coord(o: int) -> float:
        return float(original_coordinates(mode, n, out, float(scale), box, np.array([o]))[0])

    def reads(o: int) -> list[int]:
        if linear:
            x = coord(o)
            return sorted({math.floor(x), math.ceil(x)})
        return [int(exact_nearest(exact_coordinates(mode, n, out, scale, box, [o]), nearest, scale)[0])]

    return index_map(reads, Fraction(n, out))


def _resize_window(node, inputs, outputs):
    plan, axes, roi = _plan(node, inputs)
    linear = node.attr("mode", "nearest") == "linear"
    mode = _coordinate_mode(node)
    maps = {a: (lambda o: [o]) for a in range(2, len(plan))}
    for a in axes:
        n, out, scale = plan[a]
        if a < 2 or (out == n and scale == 1.0 and mode != "tf_crop_and_resize"):
            continue
        box = (0.0, 1.0) if roi is None else (roi[axes.index(a)], roi[len(axes) + axes.index(a)])
        maps[a] = _axis_map(mode, _nearest_mode(node), linear, n, out, scale, box)
    return {0: [maps[a] for a in range(2, len(plan))]}


def shift_invariant(node, inputs) -> bool:
    """Whether the resize commutes with shifts of its input by whole periods (tiles can be exact).

    align_corners and tf_crop_and_resize place samples relative to the size of
    the tensor, and a scale that is neither an integer nor one over an integer
    has no period the tiling grid could follow.
    """
    if _coordinate_mode(node) in ("align_corners", "tf_crop_and_resize"):
        return False
    plan, _, _ = _plan(node, inputs)
    return all(out == n or out % n == 0 or n % out == 0 for n, out, _ in plan)


def _check(node) -> list[str]:
    problems = []
    mode = node.attr("mode", "nearest")
    if mode not in ("nearest", "linear"):
        problems.append(f"{node.label()}: mode={mode!r} is not supported (nearest and linear are)")
    coord = node.attr("coordinate_transformation_mode", "half_pixel")
    if coord not in _COORD:
        problems.append(f"{node.label()}: coordinate_transformation_mode={coord!r} is not one of {_COORD}")
    if node.attr("nearest_mode", "round_prefer_floor") not in _NEAREST[:4]:
        problems.append(
            f"{node.label()}: nearest_mode={node.attr('nearest_mode')!r} is not one of {_NEAREST[:4]}"
        )
    if node.attr("antialias", 0):
        problems.append(f"{node.label()}: antialias=1 is not supported")
    if node.attr("keep_aspect_ratio_policy", "stretch") not in ("stretch", "not_larger", "not_smaller"):
        problems.append(f"{node.label()}: keep_aspect_ratio_policy={node.attr('keep_aspect_ratio_policy')!r}")
    return problems


_ATTRS = (
    "antialias",
    "axes",
    "coordinate_transformation_mode",
    "cubic_coeff_a",
    "exclude_outside",
    "extrapolation_value",
    "keep_aspect_ratio_policy",
    "mode",
    "nearest_mode",
)
register("Resize", OpSpec(_resize_run, _resize_shape, _ATTRS, (10, MAX_OPSET), _check, _resize_window))
register("Upsample", OpSpec(_resize_run, _resize_shape, ("mode", "scales"), (7, 9), _check, _resize_window))
