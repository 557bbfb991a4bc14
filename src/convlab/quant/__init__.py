"""Exact quantized operators with ONNX's names and semantics, bit-equal to onnxruntime and PyTorch."""

from ._conv import conv_integer, conv_route, qlinear_conv
from ._conv_transpose import conv_transpose_integer, qlinear_conv_transpose
from ._elementwise import qlinear_add, qlinear_concat
from ._integer import Route
from ._linear import dequantize_linear, quantize_linear
from ._matmul import matmul_integer, qlinear_matmul
from ._onnx_nodes import ONNX_NODES, run_onnx_node
from ._pool import max_pool, qlinear_average_pool
from ._requant import quantize_multiplier, requantize, requantize_float
from ._resize import resize_nearest
from ._torch import torch_quantized_conv

__all__ = [
    "ONNX_NODES",
    "Route",
    "conv_integer",
    "conv_route",
    "conv_transpose_integer",
    "dequantize_linear",
    "matmul_integer",
    "max_pool",
    "qlinear_add",
    "qlinear_average_pool",
    "qlinear_concat",
    "qlinear_conv",
    "qlinear_conv_transpose",
    "qlinear_matmul",
    "quantize_linear",
    "quantize_multiplier",
    "requantize",
    "requantize_float",
    "resize_nearest",
    "run_onnx_node",
    "torch_quantized_conv",
]
