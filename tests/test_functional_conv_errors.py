"""Every refusal of the convolution family names the parameter and the value received.

One test per error branch, then a fuzz of invalid arguments asserting that
only ValueError (ConvlabError) or TypeError ever escapes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convlab.functional as cf
from convlab import ConvlabError

X = np.ones((1, 4, 8, 8))
W = np.ones((6, 2, 3, 3))  # groups=2: 4 input channels, 6 output channels
WT = np.ones((4, 3, 3, 3))  # transposed, groups=2: 4 input channels, 6 output channels


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (
            lambda: cf.conv2d(np.ones((1, 6, 8, 8)), W, groups=2),
            "input has 6 channels.*weight.shape\\[1\\] \\* groups",
        ),
        (lambda: cf.conv2d(np.ones((1, 5, 8, 8)), W, groups=2), "groups must divide the input channels"),
        (lambda: cf.conv2d(X, np.ones((5, 2, 3, 3)), groups=2), "groups must divide the output channels"),
        (
            lambda: cf.conv_transpose2d(np.ones((1, 6, 4, 4)), WT, groups=2),
            "input has 6 channels.*weight.shape\\[0\\]",
        ),
        (
            lambda: cf.conv_transpose2d(np.ones((1, 3, 4, 4)), np.ones((3, 1, 2, 2)), groups=2),
            "groups must divide",
        ),
        (lambda: cf.conv2d(X, np.ones((6, 4, 3))), "weight must have shape \\(C_out, C_in/groups, kH, kW\\)"),
        (
            lambda: cf.conv_transpose1d(np.ones((1, 4, 8)), WT),
            "weight must have shape \\(C_in, C_out/groups, kW\\)",
        ),
        (lambda: cf.conv2d(X, np.ones((6, 4, 0, 3))), "weight must not have an empty dimension"),
        (lambda: cf.conv2d(X, W, np.ones(5), groups=2), "bias must have shape \\(6,\\)"),
        (lambda: cf.conv2d(np.ones((4, 8)), W, groups=2), "input must have shape"),
        (lambda: cf.conv2d(np.ones((1, 4, 0, 8)), W, groups=2), "input must have non-empty spatial"),
        (lambda: cf.conv2d(X, W, groups=0), "groups must be positive"),
        (lambda: cf.conv2d(X, W, stride=(1, 0), groups=2), "stride must be positive"),
        (lambda: cf.conv2d(X, W, dilation=(1, 2, 3), groups=2), "dilation must be an int or 2 ints"),
        (lambda: cf.conv2d(X, W, padding=-1, groups=2), "padding must be non-negative"),
        (
            lambda: cf.conv2d(X, W, padding="full", groups=2),
            "padding must be an int, a tuple, 'valid' or 'same'",
        ),
        (
            lambda: cf.conv2d(X, np.ones((6, 2, 9, 3)), groups=2),
            "kernel_size is larger than the padded input",
        ),
        (
            lambda: cf.conv2d(X, W, padding=8, groups=2, padding_mode="reflect"),
            "padding must be smaller than",
        ),
        (lambda: cf.conv2d(X, W, padding=9, groups=2, padding_mode="circular"), "padding must be at most"),
        (lambda: cf.conv2d(X, W, padding=1, groups=2, padding_mode="mirror"), "padding_mode must be one of"),
        (
            lambda: cf.conv_transpose2d(X, WT, groups=2, stride=2, output_padding=2),
            "output_padding must be smaller",
        ),
        (lambda: cf.conv_transpose2d(X, WT, groups=2, padding="same"), "padding='same'"),
        (lambda: cf.conv_transpose2d(X, WT, groups=2, padding=9), "padding is too large"),
        (
            lambda: cf.conv_transpose2d(X, WT, groups=2, stride=2, output_size=(20, 17)),
            "output_size=.*not reachable",
        ),
        (lambda: cf.conv_transpose2d(X, WT, groups=2, output_size=(1, 10, 10)), "output_size must have 2"),
        (
            lambda: cf.conv_transpose2d(X, WT, groups=2, stride=2, output_padding=1, output_size=(17, 17)),
            "output_padding=1 contradicts output_size",
        ),
        (
            lambda: cf.unfold(np.ones((2, 2, 2, 4, 4)), (2, 2)),
            r"input must have shape \(N, C, H, W\) or \(C, H, W\) for 2 spatial dimensions",
        ),
        (lambda: cf.unfold(X, 9), "kernel_size is larger than the padded input"),
        (
            lambda: cf.fold(np.ones((1, 10, 9)), (4, 4), 2),
            "input.shape\\[-2\\] must be divisible by prod\\(kernel_size\\)",
        ),
        (
            lambda: cf.fold(np.ones((1, 8, 10)), (4, 4), 2),
            "input.shape\\[-1\\] must be the number of windows",
        ),
        (lambda: cf.fold(np.ones((1, 1, 8, 10)), (4, 4), 2), "input must have shape \\(N, C \\* prod"),
        (lambda: cf.fold(np.ones((1, 8, 9)), (4, 0), 2), "output_size must be positive"),
    ],
)
def test_value_errors_name_the_parameter(call, words):
    with pytest.raises(ConvlabError, match=words):
        call()


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: cf.conv2d(np.array([["a"]]), W), "input must be a real numeric array"),
        (lambda: cf.conv2d(X, np.array([None] * 6, dtype=object)), "weight must be a real numeric array"),
        (lambda: cf.conv2d(X, W, np.ones(6, complex), groups=2), "bias must be a real numeric array"),
        (lambda: cf.conv2d([[1, 2], [3]], W), "input must be a numeric array"),
        (lambda: cf.conv2d(X, W, groups=2.0), "groups must be an integer"),
        (lambda: cf.conv2d(X, W, groups=True), "groups must be an integer"),
        (lambda: cf.conv2d(X, W, stride="2", groups=2), "stride must be an int"),
        (lambda: cf.conv_transpose2d(X, WT, groups=2, output_padding=0.5), "output_padding must be an int"),
        (lambda: cf.unfold(X, 2.5), "kernel_size must be an int"),
    ],
)
def test_type_errors_name_the_parameter(call, words):
    with pytest.raises(TypeError, match=words):
        call()


JUNK = st.one_of(
    st.integers(-3, 12),
    st.floats(allow_nan=True),
    st.text(max_size=4),
    st.none(),
    st.booleans(),
    st.lists(st.integers(-2, 5), max_size=4),
    st.lists(st.lists(st.integers(-2, 3), max_size=3), max_size=3),
    st.sampled_from(["same", "valid", "zeros", "reflect", "circular", "replicate"]),
)
ARRAYS = st.one_of(
    st.lists(st.integers(0, 5), min_size=0, max_size=6).map(lambda s: np.ones(s)),
    st.just(np.array(["x"])),
    st.just(np.array([None], dtype=object)),
    st.just([[1.0], [1.0, 2.0]]),
    st.integers(-2, 2),
)


@settings(max_examples=400)
@given(
    st.sampled_from(["conv", "conv_transpose", "unfold", "fold"]),
    st.integers(1, 3),
    ARRAYS,
    ARRAYS,
    st.lists(JUNK, min_size=6, max_size=6),
)
def test_invalid_arguments_raise_only_value_or_type_errors(op, ndim, x, w, args):
    try:
        if op == "conv":
            ({1: cf.conv1d, 2: cf.conv2d, 3: cf.conv3d}[ndim])(x, w, *args[:6])
        elif op == "conv_transpose":
            ({1: cf.conv_transpose1d, 2: cf.conv_transpose2d, 3: cf.conv_transpose3d}[ndim])(x, w, *args[:6])
        elif op == "unfold":
            cf.unfold(x, *args[:4])
        else:
            cf.fold(x, *args[:5])
    except (ValueError, TypeError):
        pass
