"""Operators that move, cut or create tensors: Concat, Split, Slice, Reshape, Shape, Gather...

Exporters emit chains of Shape, Gather, Cast, Concat and ConstantOfShape
around Resize and Reshape; the trace evaluates such chains on their small
integer values, so every rule here also runs on :class:`Meta` records.
"""

from __future__ import annotations

import math

import numpy as np

from .._args import ConvlabError
from .._limits import check_memory
from ._registry import MAX_OPSET, Meta, OpSpec, dtype_of, index_map, ints_of, register, shape_of
from ._tensors import check_elements


def _axis(node, rank, default=0, key="axis"):
    axis = int(node.attr(key, default))
    if not -rank <= axis < rank:
        raise ConvlabError(f"{key}={axis} is out of range for rank {rank}")
    return axis % rank


def _concat_shape(node, inputs):
    shapes = [shape_of(v) for v in inputs if v is not None]
    axis = _axis(node, len(shapes[0]))
    rest = {s[:axis] + s[axis + 1 :] for s in shapes}
    if len(rest) != 1 or len({len(s) for s in shapes}) != 1:
        raise ConvlabError(f"inputs of shapes {shapes} differ outside axis {axis}")
    size = sum(s[axis] for s in shapes)
    return (Meta((*shapes[0][:axis], size, *shapes[0][axis + 1 :]), dtype_of(inputs[0])),)


def _concat_window(node, inputs, outputs):
    shapes = [shape_of(v) for v in inputs]
    axis = _axis(node, len(shapes[0]))
    if axis < 2:
        return "pointwise"
    maps, offset = {}, 0
    for k, s in enumerate(shapes):
        per_dim = [lambda o: [o]] * (len(s) - 2)
        per_dim[axis - 2] = lambda o, lo=offset, n=s[axis]: [o - lo] if lo <= o < lo + n else []
        maps[k], offset = per_dim, offset + s[axis]
    return maps


def _split_sizes(node, inputs):
    shape = shape_of(inputs[0])
    axis = _axis(node, len(shape))
    count = len(node.outputs)
    if len(inputs) > 1 and inputs[1] is not None:
        sizes = ints_of(inputs[1], "split")
    elif node.attr("split") is not None:
        sizes = tuple(node.attr("split"))
    else:
        count = int(node.attr("num_outputs", count))
        chunk = -(-shape[axis] // count)
        sizes = tuple(min(chunk, shape[axis] - i * chunk) for i in range(count))
    if sum(sizes) != shape[axis] or len(sizes) != len(node.outputs) or min(sizes) < 0:
        raise ConvlabError(
            f"split sizes {sizes} must be {len(node.outputs)} sizes adding up to {shape[axis]}"
        )
    return axis, sizes


def _split_run(node, inputs):
    axis, sizes = _split_sizes(node, inputs)
    return tuple(np.split(inputs[0], np.cumsum(sizes)[:-1], axis=axis))


def _split_shape(node, inputs):
    axis, sizes = _split_sizes(node, inputs)
    shape = shape_of(inputs[0])
    return tuple(Meta((*shape[:axis], n, *shape[axis + 1 :]), dtype_of(inputs[0])) for n in sizes)


def _split_window(node, inputs, outputs):
    axis, sizes = _split_sizes(node, inputs)
    if axis < 2:
        return "pointwise"
    rank, result = len(shape_of(inputs[0])), []
    for k in range(len(sizes)):
        per_dim = [lambda o: [o]] * (rank - 2)
        offset = sum(sizes[:k])
        per_dim[axis - 2] = lambda o, lo=offset: [o + lo]
        result.append({0: per_dim})
    return result


def _slices(node, inputs):
    """Per axis (start, stop, step) with ONNX's clamping, as indices for np.take."""
    shape = shape_of(inputs[0])
    if node.opset < 10:
        starts, ends, axes, steps = node.attr("starts"), node.attr("ends"), node.attr("axes"), None
    else:
        starts, ends = ints_of(inputs[1], "starts"), ints_of(inputs[2], "ends")
        axes = ints_of(inputs[3], "axes") if len(inputs) > 3 and inputs[3] is not None else None
        steps = ints_of(inputs[4], "steps") if len(inputs) > 4 and inputs[4] is not None else None
    axes = tuple(range(len(starts))) if axes is None else tuple(a % len(shape) for a in axes)
    steps = (1,) * len(starts) if steps is None else steps
    result = {}
    for a, start, end, step in zip(axes, starts, ends, steps):
        if step == 0:
            raise ConvlabError("steps must not be 0")
        n = shape[a]
        start, end = start + n if start < 0 else start, end + n if end < 0 else end
        lo, hi = (0, n) if step > 0 else (-1, n - 1)
        result[a] = (min(max(start, lo if step > 0 else 0), hi), min(max(end, lo), hi), step)
    return result


def _slice_run(node, inputs):
    x = inputs[0]
    index = [slice(None)] * x.ndim
    for a, (start, stop, step) in _slices(node, inputs).items():
        index[a] = np.arange(start, stop, step)
        x = np.take(x, index[a], axis=a)
    return (x,)


def _slice_shape(node, inputs):
    shape = list(shape_of(inputs[0]))
    for a, (start, stop, step) in _slices(node, inputs).items():
        shape[a] = len(range(start, stop, step))
    return (Meta(tuple(shape), dtype_of(inputs[0])),)


def _slice_window(node, inputs, outputs):
    rank = len(shape_of(inputs[0]))
    cuts = _slices(node, inputs)
    # Cutting channels or the batch keeps the spatial layout.
    per_dim = [lambda o: [o]] * (rank - 2)
    for a, (start, _, step) in cuts.items():
        if a >= 2:
            per_dim[a - 2] = index_map(lambda o, start=start, step=step: [start + o * step], step)
    return {0: per_dim}


def _reshape_target(node, inputs):
    shape, target = shape_of(inputs[0]), list(ints_of(inputs[1], "shape"))
    if not node.attr("allowzero", 0):
        target = [shape[i] if t == 0 else t for i, t in enumerate(target)]
    known = math.prod(t for t in target if t != -1)
    total = math.prod(shape)
    if target.count(-1) > 1 or (target.count(-1) == 0 and known != total) or (known and total % known):
        raise ConvlabError(f"cannot reshape {shape} to {ints_of(inputs[1], 'shape')}")
    return tuple(total // known if t == -1 else t for t in target)


def _flatten_target(node, inputs):
    shape = shape_of(inputs[0])
    axis = int(node.attr("axis", 1))
    axis = axis + len(shape) if axis < 0 else axis
    return (math.prod(shape[:axis]), math.prod(shape[axis:]))


def _perm(node, inputs):
    rank = len(shape_of(inputs[0]))
    perm = tuple(node.attr("perm", tuple(range(rank))[::-1]))
    if sorted(perm) != list(range(rank)):
        raise ConvlabError(f"perm={perm} is not a permutation of {rank} axes")
    return perm


def _squeeze_axes(node, inputs):
    shape = shape_of(inputs[0])
    axes = (
        node.attr("axes")
        if node.opset < 13
        else (ints_of(inputs[1], "axes") if len(inputs) > 1 and inputs[1] is not None else None)
    )
    if axes is None:
        return tuple(i for i, n in enumerate(shape) if n == 1)
    axes = tuple(a % len(shape) for a in axes)
    if any(shape[a] != 1 for a in axes):
        raise ConvlabError(f"cannot squeeze axes {axes} of shape {shape}")
    return axes


def _unsqueezed(node, inputs):
    shape = list(shape_of(inputs[0]))
    axes = node.attr("axes") if node.opset < 13 else ints_of(inputs[1], "axes")
    rank = len(shape) + len(axes)
    for a in sorted(a % rank for a in axes):
        shape.insert(a, 1)
    return tuple(shape)


_RESHAPES = {
    "Reshape": lambda node, inputs: _reshape_target(node, inputs),
    "Flatten": _flatten_target,
    "Squeeze": lambda node, inputs: tuple(
        n for i, n in enumerate(shape_of(inputs[0])) if i not in _squeeze_axes(node, inputs)
    ),
    "Unsqueeze": _unsqueezed,
    "Transpose": lambda node, inputs: tuple(shape_of(inputs[0])[p] for p in _perm(node, inputs)),
}


def _reshape_like(op):
    def run(node, inputs):
        if op == "Transpose":
            return (np.transpose(inputs[0], _perm(node, inputs)),)
        return (np.reshape(inputs[0], _RESHAPES[op](node, inputs)),)

    def shape(node, inputs):
        return (Meta(_RESHAPES[op](node, inputs), dtype_of(inputs[0])),)

    return run, shape


def _shape_run(node, inputs):
    shape = shape_of(inputs[0])
    start, end = int(node.attr("start", 0)), node.attr("end")
    return (np.array(shape[slice(start, None if end is None else int(end))], dtype=np.int64),)


def _gather_run(node, inputs):
    data, index = inputs
    axis = _axis(node, data.ndim)
    index = np.where(index < 0, index + data.shape[axis], index)
    if index.size and (index.min() < 0 or index.max() >= data.shape[axis]):
        raise ConvlabError(f"indices out of range for axis {axis} of size {data.shape[axis]}")
    return (np.take(data, index, axis=axis),)


def _gather_shape(node, inputs):
    data, index = shape_of(inputs[0]), shape_of(inputs[1])
    axis = _axis(node, len(data))
    return (Meta(data[:axis] + index + data[axis + 1 :], dtype_of(inputs[0])),)


def _constant_run(node, inputs):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in node.attrs:
            value = node.attrs[key]
            dtype = np.float32 if key.startswith("value_float") else np.int64
            return (np.asarray(value) if key == "value" else np.asarray(value, dtype),)
    raise ConvlabError("has no value attribute")


def _constant_check(node):
    keys = [k for k in ("value", "value_float", "value_floats", "value_int", "value_ints") if k in node.attrs]
    return [] if len(keys) == 1 else [f"{node.label()} needs exactly one supported value attribute"]


def _const_of_shape_run(node, inputs):
    shape = ints_of(inputs[0], "shape")
    check_elements(shape, "ConstantOfShape's output")
    value = node.attr("value")
    value = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)
    check_memory(math.prod(shape) * value.dtype.itemsize, "ConstantOfShape's output")
    return (np.full(shape, value[0], dtype=value.dtype),)


def _const_of_shape_shape(node, inputs):
    shape = ints_of(inputs[0], "shape")
    check_elements(shape, "ConstantOfShape's output")
    value = node.attr("value")
    return (Meta(shape, np.dtype(np.float32) if value is None else np.asarray(value).dtype),)


register(
    "Concat",
    OpSpec(
        lambda node, x: (np.concatenate([v for v in x if v is not None], axis=_axis(node, x[0].ndim)),),
        _concat_shape,
        ("axis",),
        (4, MAX_OPSET),
        window=_concat_window,
    ),
)
register(
    "Split",
    OpSpec(_split_run, _split_shape, ("axis", "split", "num_outputs"), (2, MAX_OPSET), window=_split_window),
)
register(
    "Slice",
    OpSpec(_slice_run, _slice_shape, ("starts", "ends", "axes"), (1, MAX_OPSET), window=_slice_window),
)
for _op in _RESHAPES:
    register(
        _op, OpSpec(*_reshape_like(_op), ("allowzero", "axis", "axes", "perm"), (1, MAX_OPSET), window=None)
    )
register("Shape", OpSpec(_shape_run, _shape_run, ("start", "end"), (1, MAX_OPSET), window=None))
register("Gather", OpSpec(_gather_run, _gather_shape, ("axis",), (1, MAX_OPSET), window=None))
_CONSTANT = (
    "value",
    "value_float",
    "value_floats",
    "value_int",
    "value_ints",
    "sparse_value",
    "value_string",
    "value_strings",
)
register(
    "Constant", OpSpec(_constant_run, _constant_run, _CONSTANT, (1, MAX_OPSET), _constant_check, window=None)
)
register(
    "ConstantOfShape",
    OpSpec(_const_of_shape_run, _const_of_shape_shape, ("value",), (9, MAX_OPSET), window=None),
)
