"""Element-wise operators, activations, batch normalisation, Gemm, MatMul and Softmax.

Broadcasting is NumPy's, which is ONNX's multidirectional broadcasting.
Integer division truncates toward zero, as onnxruntime's C++ does (NumPy's
``//`` floors). Activations keep the input's dtype.
"""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .._args import ConvlabError
from ._registry import MAX_OPSET, Meta, OpSpec, dtype_of, register, shape_of, value_of


def same_shape(node, inputs):
    return (Meta(shape_of(inputs[0]), dtype_of(inputs[0])),) * max(1, len([o for o in node.outputs if o]))


def _broadcast_shape(node, inputs):
    try:
        shape = np.broadcast_shapes(*(shape_of(v) for v in inputs))
    except ValueError:
        raise ConvlabError(f"inputs of shapes {[shape_of(v) for v in inputs]} do not broadcast") from None
    return (Meta(tuple(shape), dtype_of(inputs[0])),)


def _divide(a, b):
    if a.dtype.kind in "iu":
        q = a // b
        return q + ((q < 0) & (q * b != a))
    return a / b


_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": _divide}


def _binary_run(node, inputs):
    a, b = inputs
    if a.dtype != b.dtype:
        raise ConvlabError(f"inputs must have one dtype, got {a.dtype} and {b.dtype}")
    return (np.asarray(_BINARY[node.op_type](a, b)).astype(a.dtype, copy=False),)


def _unary(fn):
    return lambda node, inputs: (np.asarray(fn(node, inputs[0])).astype(inputs[0].dtype, copy=False),)


def _sigmoid(node, x):
    # exp(-|x|) never overflows; the two branches are the same function.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


_ACTIVATIONS = {
    "Relu": lambda node, x: F.relu(x) if x.dtype.kind == "f" else np.maximum(x, 0),
    "LeakyRelu": lambda node, x: np.where(x >= 0, x, x * x.dtype.type(node.attr("alpha", 0.01))),
    "Sigmoid": _sigmoid,
    "Tanh": lambda node, x: np.tanh(x),
    "Identity": lambda node, x: x,
}


def _prelu_run(node, inputs):
    x, slope = inputs
    return (np.where(x >= 0, x, x * slope).astype(x.dtype, copy=False),)


def _clip_run(node, inputs):
    x = inputs[0]
    if node.opset < 11:
        lo, hi = node.attr("min"), node.attr("max")
    else:
        lo, hi = ([*list(inputs[1:]), None, None])[:2]
    if x.dtype.kind == "f":
        # An omitted bound is the spec's default, not "no bound": numeric_limits'
        # lowest()/max() (-3.402823e38/3.402823e38 for the attributes before opset 11),
        # so Clip maps -inf and +inf to finite values, as onnxruntime does.
        limit = float(np.finfo(np.float32).max) if node.opset < 11 else float(np.finfo(x.dtype).max)
        lo, hi = (-limit if lo is None else lo), (limit if hi is None else hi)
    y = x
    if lo is not None:
        y = np.maximum(y, np.asarray(lo, x.dtype))
    if hi is not None:
        y = np.minimum(y, np.asarray(hi, x.dtype))
    return (y,)


def _softmax_run(node, inputs):
    x = inputs[0]
    if node.opset < 13:
        axis = int(node.attr("axis", 1)) % x.ndim
        flat = x.reshape(math.prod(x.shape[:axis]), -1)
        return (_softmax(flat, 1).reshape(x.shape),)
    return (_softmax(x, int(node.attr("axis", -1)) % x.ndim),)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype, copy=False)


def _bn_run(node, inputs):
    x, scale, bias, mean, var = inputs
    eps = float(node.attr("epsilon", 1e-5))
    return (F.batch_norm(x, mean, var, scale, bias, eps=eps).astype(x.dtype, copy=False),)


def _bn_check(node):
    if node.attr("training_mode", 0):
        return [f"{node.label()}: training_mode=1 is not supported (inference only)"]
    if node.attr("spatial", 1) != 1:
        return [f"{node.label()}: spatial=0 is not supported"]
    return []


def _gemm_operands(node, a_shape, b_shape):
    a = a_shape[::-1] if node.attr("transA", 0) else a_shape
    b = b_shape[::-1] if node.attr("transB", 0) else b_shape
    if len(a) != 2 or len(b) != 2 or a[1] != b[0]:
        raise ConvlabError(f"A {a_shape} and B {b_shape} (transA/transB applied) do not multiply")
    return a, b


def _gemm_run(node, inputs):
    a, b, c = ([*list(inputs), None])[:3]
    _gemm_operands(node, a.shape, b.shape)
    a = a.T if node.attr("transA", 0) else a
    b = b.T if node.attr("transB", 0) else b
    y = (a @ b) * a.dtype.type(node.attr("alpha", 1.0))
    if c is not None:
        y = y + np.asarray(c) * a.dtype.type(node.attr("beta", 1.0))
    return (y.astype(a.dtype, copy=False),)


def _gemm_shape(node, inputs):
    a, b = _gemm_operands(node, shape_of(inputs[0]), shape_of(inputs[1]))
    return (Meta((a[0], b[1]), dtype_of(inputs[0])),)


def _gemm_flops(node, shapes, outs):
    a, _ = _gemm_operands(node, shapes[0], shapes[1])
    return 2 * math.prod(outs[0]) * a[1]


def _matmul_shape(node, inputs):
    a, b = shape_of(inputs[0]), shape_of(inputs[1])
    a2, b2 = (1, *a) if len(a) == 1 else a, (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ConvlabError(f"MatMul of shapes {a} and {b}: inner sizes differ")
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        raise ConvlabError(f"MatMul of shapes {a} and {b}: batch dimensions do not broadcast") from None
    out = (*batch, *(a2[-2:-1] if len(a) > 1 else ()), *(b2[-1:] if len(b) > 1 else ()))
    return (Meta(tuple(out), dtype_of(inputs[0])),)


def _matmul_flops(node, shapes, outs):
    return 2 * math.prod(outs[0]) * shapes[0][-1]


def _cast_run(node, inputs):
    from ._tensors import element_dtype

    return (inputs[0].astype(element_dtype(int(node.attr("to")), "Cast's 'to'")),)


def _cast_shape(node, inputs):
    from ._tensors import element_dtype

    return (Meta(shape_of(inputs[0]), element_dtype(int(node.attr("to")), "Cast's 'to'")),)


def _dropout_run(node, inputs):
    x = inputs[0]
    if len(inputs) > 2 and inputs[2] is not None and bool(value_of(inputs[2], "training_mode")):
        raise ConvlabError("training_mode=True is not supported (inference only)")
    outs = [x]
    if len(node.outputs) > 1 and node.outputs[1]:
        outs.append(np.ones(x.shape, dtype=bool))
    return tuple(outs)


def _dropout_shape(node, inputs):
    x = Meta(shape_of(inputs[0]), dtype_of(inputs[0]))
    return (x, Meta(x.shape, np.dtype(bool))) if len(node.outputs) > 1 and node.outputs[1] else (x,)


def _softmax_window(node, inputs, outputs):
    shape = shape_of(inputs[0])
    axis = int(node.attr("axis", 1 if node.opset < 13 else -1)) % len(shape)
    if node.opset < 13 and axis < 2:
        return None
    whole = [lambda o, n=n: range(n) for n in shape[2:]]
    return {
        0: [
            whole[d] if (node.opset < 13 and d + 2 >= axis) or d + 2 == axis else (lambda o: [o])
            for d in range(len(shape) - 2)
        ]
    }


for _op in _BINARY:
    register(_op, OpSpec(_binary_run, _broadcast_shape, (), (7, MAX_OPSET)))
for _op, _fn in _ACTIVATIONS.items():
    register(_op, OpSpec(_unary(_fn), same_shape, ("alpha",) if _op == "LeakyRelu" else (), (6, MAX_OPSET)))
register("PRelu", OpSpec(_prelu_run, same_shape, (), (7, MAX_OPSET)))
register("Clip", OpSpec(_clip_run, same_shape, ("min", "max"), (6, MAX_OPSET)))
register("Softmax", OpSpec(_softmax_run, same_shape, ("axis",), (1, MAX_OPSET), window=_softmax_window))
register(
    "BatchNormalization",
    OpSpec(
        _bn_run,
        same_shape,
        ("epsilon", "momentum", "training_mode", "spatial"),
        (7, MAX_OPSET),
        _bn_check,
        flops=lambda node, shapes, outs: 2 * math.prod(outs[0]),
    ),
)
register(
    "Gemm",
    OpSpec(
        _gemm_run, _gemm_shape, ("alpha", "beta", "transA", "transB"), (7, MAX_OPSET), None, None, _gemm_flops
    ),
)
register(
    "MatMul",
    OpSpec(
        lambda node, x: (np.matmul(x[0], x[1]),), _matmul_shape, (), (1, MAX_OPSET), None, None, _matmul_flops
    ),
)
register("Cast", OpSpec(_cast_run, _cast_shape, ("to", "saturate"), (6, MAX_OPSET)))
register("Dropout", OpSpec(_dropout_run, _dropout_shape, ("ratio", "seed"), (7, MAX_OPSET)))
