"""One test per error branch of convlab.quant: the exception type and the parameter it names."""

from __future__ import annotations

import numpy as np
import pytest

from convlab import ConvlabError
from convlab.quant import (
    conv_integer,
    conv_transpose_integer,
    dequantize_linear,
    matmul_integer,
    qlinear_conv,
    qlinear_matmul,
    quantize_linear,
    quantize_multiplier,
    requantize,
    requantize_float,
)

X = np.zeros((1, 2, 4, 4), np.uint8)
W = np.zeros((3, 2, 3, 3), np.int8)
U8 = np.uint8


def _qconv(**over):
    args = {"x": X, "x_scale": 0.1, "x_zero_point": U8(0), "w": W, "w_scale": 0.1, "w_zero_point": 0}
    args.update(y_scale=0.2, y_zero_point=U8(0), bias=None)
    args.update(over)
    return qlinear_conv(*args.values())


@pytest.mark.parametrize(
    ("call", "kind", "match"),
    [
        (lambda: quantize_linear(np.array(["a"]), 1.0), TypeError, "x must be a real numeric array"),
        (lambda: quantize_linear([np.nan], 1.0), ConvlabError, "NaN"),
        (lambda: quantize_linear([1.0], "s"), TypeError, "scale must be a real number"),
        (lambda: quantize_linear([1.0], 0.0), ConvlabError, "scale must be positive and finite"),
        (lambda: quantize_linear([1.0], 1.0, dtype="int7"), ConvlabError, "dtype must be one of"),
        (lambda: quantize_linear([1.0], 1.0, dtype=3.5), TypeError, "dtype must be a NumPy integer dtype"),
        (lambda: quantize_linear([1.0], 1.0, np.int8(0), dtype=np.uint8), ConvlabError, "contradicts"),
        (lambda: quantize_linear([1.0], 1.0, 300), ConvlabError, r"zero_point must hold uint8 values"),
        (lambda: quantize_linear([1.0], 1.0, 0.5), TypeError, "zero_point must be an integer array"),
        (lambda: quantize_linear(np.ones((2, 3)), [1.0, 2.0]), ConvlabError, "axis must say"),
        (lambda: quantize_linear(np.ones((2, 3)), [1.0, 2.0], axis=1), ConvlabError, r"shape \(3,\)"),
        (lambda: quantize_linear(np.ones((2, 3)), [1.0, 2.0], axis=2), ConvlabError, "axis must be in"),
        (lambda: quantize_linear(np.ones(3), 1.0, block_size=2), ConvlabError, "block_size needs an axis"),
        (lambda: quantize_linear(np.ones(3), 1.0, axis=0, block_size=0), ConvlabError, "block_size must be"),
        (
            lambda: quantize_linear(np.ones((2, 5)), np.ones((2, 2)), axis=1, block_size=2),
            ConvlabError,
            r"shape \(2, 3\) for block_size=2",
        ),
        (lambda: dequantize_linear([1.5], 1.0), TypeError, "q must be an integer array"),
        (lambda: dequantize_linear(np.array([20], np.int8), 1.0, dtype="int4"), ConvlabError, "int4 values"),
        (lambda: conv_integer(X, np.zeros((3, 2), np.int8)), ConvlabError, "w must have shape"),
        (lambda: conv_integer(X.astype(float), W), TypeError, "x must be an integer array"),
        (lambda: conv_integer(X.astype(np.int64), W), ConvlabError, "x dtype must be one of"),
        (lambda: conv_integer(np.zeros((1, 2, 3, 4, 4), np.uint8), W), ConvlabError, "x must have shape"),
        (lambda: conv_integer(np.zeros((1, 2, 0, 4), np.uint8), W), ConvlabError, "non-empty spatial"),
        (lambda: conv_integer(X, W, groups=0), ConvlabError, "groups must be positive"),
        (lambda: conv_integer(X, W, groups=2), ConvlabError, "groups must divide"),
        (lambda: conv_integer(X, np.zeros((3, 1, 3, 3), np.int8)), ConvlabError, "x has 2 channels"),
        (
            lambda: conv_integer(X, W, np.array([1, 2], np.uint8)),
            ConvlabError,
            "x_zero_point must be a scalar",
        ),
        (
            lambda: conv_integer(X, W, 0, np.zeros(2, np.int8)),
            ConvlabError,
            r"w_zero_point must be .* \(3,\)",
        ),
        (lambda: conv_integer(X, W, 0, 200), ConvlabError, "w_zero_point must hold int8 values"),
        (lambda: conv_integer(X, W, padding="SAME_MIDDLE"), ConvlabError, "SAME_LOWER"),
        (lambda: conv_integer(X, W, stride=0), ConvlabError, "stride must be positive"),
        (lambda: conv_integer(X, W, padding=0, dilation=3), ConvlabError, "dilat"),
        (lambda: _qconv(x_scale=[0.1, 0.2]), ConvlabError, "x_scale and y_scale must be scalars"),
        (lambda: _qconv(w_scale=[0.1, 0.2]), ConvlabError, r"w_scale must be a scalar or have shape \(3,\)"),
        (lambda: _qconv(bias=np.zeros(2, np.int32)), ConvlabError, r"bias must have shape \(3,\)"),
        (lambda: _qconv(bias=np.array([2**40, 0, 0])), ConvlabError, "bias must hold int32 values"),
        (lambda: _qconv(y_zero_point=300), ConvlabError, "zero_point must hold uint8"),
        (
            lambda: qlinear_conv(X, 0.1, U8(0), W, 0.1, 0, 0.2, np.int8(0), dtype=np.uint8),
            ConvlabError,
            "contradicts",
        ),
        (
            lambda: conv_transpose_integer(X, np.zeros((2, 3, 3, 3), np.int8), padding="same"),
            ConvlabError,
            "defined for convolutions only",
        ),
        (
            lambda: conv_transpose_integer(X, np.zeros((2, 3, 3, 3), np.int8), output_padding=2),
            ConvlabError,
            "output_padding",
        ),
        (lambda: quantize_multiplier("0.1"), TypeError, "scale must be a real number"),
        (lambda: quantize_multiplier(-1.0), ConvlabError, "scale must be positive"),
        (lambda: quantize_multiplier(2.0**31), ConvlabError, "below 2\\*\\*30"),
        (lambda: requantize([1], 2**31, 0), ConvlabError, "multiplier must be in"),
        (lambda: requantize([1], 1, -32), ConvlabError, "shift in"),
        (lambda: requantize([1], -1, 0), ConvlabError, "multiplier must be non-negative"),
        (lambda: requantize([1], 1, 0, rounding="even"), ConvlabError, "rounding must be one of"),
        (lambda: requantize([2**30], 1 << 30, 2), ConvlabError, "must fit int32"),
        (lambda: requantize([2**40], 1 << 30, 0), ConvlabError, "acc must hold int32 values"),
        (lambda: requantize_float([1.5], 0.1), TypeError, "acc must be an integer array"),
        (lambda: matmul_integer(np.int8(3), np.ones(2, np.int8)), ConvlabError, "at least one dimension"),
        (
            lambda: matmul_integer(np.ones((2, 3), np.int8), np.ones((2, 2), np.int8)),
            ConvlabError,
            "last dimension must equal",
        ),
        (
            lambda: matmul_integer(np.ones((2, 2, 3), np.int8), np.ones((3, 3, 2), np.int8)),
            ConvlabError,
            "do not broadcast",
        ),
        (
            lambda: matmul_integer(np.ones((2, 3), np.int8), np.ones((3, 2), np.int8), [1, 2, 3]),
            ConvlabError,
            r"a_zero_point must be .* \(2,\)",
        ),
        (
            lambda: qlinear_matmul(np.ones((2, 3), U8), 0.1, 0, np.ones((3, 2), U8), [0.1] * 3, 0, 0.1, 0),
            ConvlabError,
            "b_scale a scalar or shape",
        ),
    ],
)
def test_error_branches_name_the_parameter(call, kind, match):
    with pytest.raises(kind, match=match):
        call()


def test_errors_are_value_errors():
    assert issubclass(ConvlabError, ValueError)
