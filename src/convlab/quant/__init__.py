"""Integer and fixed-point arithmetic: exact golden models of what accelerators compute.

Quantized operators with ONNX's names and semantics, bit-equal to onnxruntime
and PyTorch's quantized engines; HLS ``ap_fixed`` formats with fixed-point
operators and U-Net runs.
"""

from ._conv import conv_integer, conv_route, qlinear_conv
from ._conv_transpose import conv_transpose_integer, qlinear_conv_transpose
from ._elementwise import qlinear_add, qlinear_concat
from ._fixed import FixedPoint
from ._fixed_accumulate import accumulation_route
from ._fixed_conv import fixed_conv, fixed_conv_transpose
from ._fixed_elementwise import fixed_add, fixed_center_crop, fixed_concat, fixed_max_pool, fixed_relu
from ._fixed_formats import FormatTable, LayerFormats
from ._fixed_sweep import SweepRow, bit_width_sweep
from ._fixed_unet import FixedLayer, calibrate_formats, fixed_unet, unet_layer_names
from ._integer import Route
from ._linear import dequantize_linear, quantize_linear
from ._matmul import matmul_integer, qlinear_matmul
from ._onnx_nodes import ONNX_NODES, run_onnx_node
from ._pool import max_pool, qlinear_average_pool
from ._ptq import QLayer, QuantizedUNet, quantize_unet  # h11: post-training quantisation
from ._ptq_calibrate import RangeObserver, activation_qparams, weight_qparams  # h11
from ._ptq_report import LayerError, layer_errors  # h11
from ._qdq import export_onnx, onnx_model  # h11
from ._requant import quantize_multiplier, requantize, requantize_float
from ._resize import resize_nearest
from ._torch import torch_quantized_conv

__all__ = [
    "ONNX_NODES",
    "FixedLayer",
    "FixedPoint",
    "FormatTable",
    "LayerError",
    "LayerFormats",
    "QLayer",
    "QuantizedUNet",
    "RangeObserver",
    "Route",
    "SweepRow",
    "accumulation_route",
    "activation_qparams",
    "bit_width_sweep",
    "calibrate_formats",
    "conv_integer",
    "conv_route",
    "conv_transpose_integer",
    "dequantize_linear",
    "export_onnx",
    "fixed_add",
    "fixed_center_crop",
    "fixed_concat",
    "fixed_conv",
    "fixed_conv_transpose",
    "fixed_max_pool",
    "fixed_relu",
    "fixed_unet",
    "layer_errors",
    "matmul_integer",
    "max_pool",
    "onnx_model",
    "qlinear_add",
    "qlinear_average_pool",
    "qlinear_concat",
    "qlinear_conv",
    "qlinear_conv_transpose",
    "qlinear_matmul",
    "quantize_linear",
    "quantize_multiplier",
    "quantize_unet",
    "requantize",
    "requantize_float",
    "resize_nearest",
    "run_onnx_node",
    "torch_quantized_conv",
    "unet_layer_names",
    "weight_qparams",
]
