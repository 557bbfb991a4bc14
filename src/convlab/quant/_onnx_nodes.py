"""ONNX nodes of the integer operators, run by convlab.quant: inputs and attributes as a runner holds them.

A runner (:mod:`convlab.onnx`) calls :func:`run_onnx_node` with the node's
input arrays in ONNX order (``None`` for an absent optional input) and its
attributes as a plain dict; the ONNX attribute spellings (``pads`` as
begins then ends, ``auto_pad``, ``group``, ``dilations``) are translated
here, once, into convlab's arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .._args import ConvlabError
from ._conv import conv_integer, qlinear_conv
from ._elementwise import qlinear_add, qlinear_concat
from ._linear import dequantize_linear, quantize_linear
from ._matmul import matmul_integer, qlinear_matmul
from ._pool import max_pool, qlinear_average_pool

__all__ = ["ONNX_NODES", "run_onnx_node"]

_TENSOR_TYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    21: "uint4",
    22: "int4",
}


def _padding(attrs: dict, ndim: int):
    """convlab padding from ``auto_pad`` and ``pads`` (all begins, then all ends)."""
    auto = attrs.get("auto_pad", "NOTSET")
    if isinstance(auto, bytes):
        auto = auto.decode()
    if auto in ("SAME_UPPER", "SAME_LOWER", "VALID"):
        return auto
    if auto != "NOTSET":
        raise ConvlabError(f"auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, got {auto!r}")
    pads = list(attrs.get("pads", [0] * (2 * ndim)))
    if len(pads) != 2 * ndim:
        raise ConvlabError(f"pads must have 2 * {ndim} values (begins, then ends), got pads={pads}")
    return tuple(zip(pads[:ndim], pads[ndim:]))


def _window_args(attrs: dict, ndim: int) -> dict:
    return {
        "stride": tuple(attrs.get("strides", [1] * ndim)),
        "padding": _padding(attrs, ndim),
        "dilation": tuple(attrs.get("dilations", [1] * ndim)),
    }


def _refuse(attrs: dict, name: str, allowed) -> None:
    if attrs.get(name, allowed) != allowed:
        raise ConvlabError(f"attribute {name}={attrs[name]!r} is not supported (only {allowed!r})")


def _linear_kwargs(inputs: Sequence, attrs: dict) -> dict:
    scale = np.asarray(inputs[1])
    return {
        "axis": None if scale.size == 1 else attrs.get("axis", 1),
        "block_size": attrs.get("block_size") or None,
    }


def _quantize(inputs, attrs):
    _refuse(attrs, "saturate", 1)
    zp = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    dtype = _TENSOR_TYPES.get(attrs["output_dtype"]) if attrs.get("output_dtype") else None
    kind = None if zp is not None else dtype or np.uint8
    return quantize_linear(
        inputs[0], inputs[1], 0 if zp is None else zp, dtype=kind, **_linear_kwargs(inputs, attrs)
    )


def _dequantize(inputs, attrs):
    zp = inputs[2] if len(inputs) > 2 and inputs[2] is not None else 0
    return dequantize_linear(inputs[0], inputs[1], zp, **_linear_kwargs(inputs, attrs))


def _conv_integer(inputs, attrs):
    x, w, zx, zw = (list(inputs) + [None] * 4)[:4]
    ndim = np.ndim(w) - 2
    return conv_integer(x, w, 0 if zx is None else zx, 0 if zw is None else zw,
                        groups=attrs.get("group", 1), **_window_args(attrs, ndim))  # fmt: skip


def _qlinear_conv(inputs, attrs):
    ndim = np.ndim(inputs[3]) - 2
    bias = inputs[8] if len(inputs) > 8 else None
    return qlinear_conv(*inputs[:8], bias, groups=attrs.get("group", 1), **_window_args(attrs, ndim))


def _pool_args(inputs, attrs) -> dict:
    _refuse(attrs, "ceil_mode", 0)
    _refuse(attrs, "channels_last", 0)
    _refuse(attrs, "storage_order", 0)
    ndim = np.ndim(inputs[0]) - 2
    args = _window_args(attrs, ndim)
    return {"kernel_size": tuple(attrs["kernel_shape"]), **args}


def _max_pool(inputs, attrs):
    return max_pool(inputs[0], **_pool_args(inputs, attrs))


def _average_pool(inputs, attrs):
    args = _pool_args(inputs, attrs)
    if set(args.pop("dilation")) != {1}:
        raise ConvlabError("QLinearAveragePool has no dilations")
    include = bool(attrs.get("count_include_pad", 0))
    return qlinear_average_pool(*inputs[:5], **args, count_include_pad=include)


def _concat(inputs, attrs):
    triples = [tuple(inputs[i : i + 3]) for i in range(2, len(inputs), 3)]
    return qlinear_concat(inputs[0], inputs[1], triples, axis=attrs["axis"])


ONNX_NODES: dict[tuple[str, str], Callable[[Sequence, dict], np.ndarray]] = {
    ("", "QuantizeLinear"): _quantize,
    ("", "DequantizeLinear"): _dequantize,
    ("", "ConvInteger"): _conv_integer,
    ("", "QLinearConv"): _qlinear_conv,
    ("", "MatMulInteger"): lambda i, a: matmul_integer(*[0 if v is None else v for v in [*i, 0, 0][:4]]),
    ("", "QLinearMatMul"): lambda i, a: qlinear_matmul(*i[:8]),
    ("", "MaxPool"): _max_pool,
    ("com.microsoft", "QLinearAdd"): lambda i, a: qlinear_add(*i[:8]),
    ("com.microsoft", "QLinearConcat"): _concat,
    ("com.microsoft", "QLinearAveragePool"): _average_pool,
}


def run_onnx_node(
    op_type: str, inputs: Sequence, attributes: dict | None = None, domain: str = ""
) -> np.ndarray:
    """The output of one ONNX integer node: ``inputs`` in ONNX order, ``attributes`` by ONNX name.

    MaxPool runs here only on integer inputs (the float one is functional's).

    Examples
    --------
    >>> x = np.array([[[1, 2, 3, 4]]], np.uint8)
    >>> run_onnx_node("ConvInteger", [x, np.array([[[1, 1]]], np.uint8)], {"pads": [1, 0]})
    array([[[1, 3, 5, 7]]], dtype=int32)
    """
    key = ("" if domain in ("", "ai.onnx") else domain, op_type)
    if key not in ONNX_NODES:
        known = ", ".join(f"{d + '.' if d else ''}{o}" for d, o in ONNX_NODES)
        raise ConvlabError(f"op_type must be one of {known}, got {domain + '.' if domain else ''}{op_type}")
    return ONNX_NODES[key](list(inputs), dict(attributes or {}))
