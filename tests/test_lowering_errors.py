"""Every refusal of convlab.lowering names the parameter and the value received.

The routes validate through the functional operators' checks, so one test per
branch of lowering's own (weight rank, input_shape) and one per kind of
delegated check, on every route; then a fuzz asserting that only ValueError
(ConvlabError) or TypeError ever escapes.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab import ConvlabError
from convlab import lowering as lw

CONV_ROUTES = [lw.conv_by_matrix, lw.conv_by_unfold]
TRANSPOSE_ROUTES = [
    lw.conv_transpose_by_matrix,
    lw.conv_transpose_by_zero_insertion,
    lw.zero_insertion_parts,
    lw.conv_transpose_by_scatter,
    lw.conv_transpose_by_phases,
]
X = np.ones((1, 4, 6, 6))
W = np.ones((6, 2, 3, 3))  # conv, groups=2: 4 -> 6 channels
WT = np.ones((4, 3, 3, 3))  # transposed, groups=2: 4 -> 6 channels


@pytest.mark.parametrize("route", CONV_ROUTES)
@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (
            {"weight": np.ones((6, 2))},
            r"weight must have shape \(C_out, C_in/groups, \*kernel_size\).*\(6, 2\)",
        ),
        ({"weight": np.ones((1,) * 6)}, r"1 to 3 spatial dimensions"),
        ({"groups": 3}, "groups must divide the input channels, got groups=3"),
        ({"input": np.ones((1, 6, 6, 6))}, r"input has 6 channels"),
        ({"bias": np.ones(5)}, r"bias must have shape \(6,\)"),
        ({"stride": (1, 0)}, r"stride must be positive integers, got stride=\(1, 0\)"),
        ({"padding": "full"}, "padding must be an int, a tuple, 'valid' or 'same', got padding='full'"),
        ({"dilation": 4}, "kernel_size is larger than the padded input"),
        ({"input": np.ones((4, 6))}, r"input must have shape"),
    ],
)
def test_conv_route_errors(route, kwargs, words):
    args = {"input": X, "weight": W, "bias": None, "groups": 2, **kwargs}
    with pytest.raises(ConvlabError, match=words):
        route(args.pop("input"), args.pop("weight"), **args)


@pytest.mark.parametrize("route", TRANSPOSE_ROUTES)
@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"weight": np.ones((4,))}, r"weight must have shape \(C_in, C_out/groups, \*kernel_size\)"),
        ({"input": np.ones((1, 6, 3, 3))}, r"input has 6 channels but weight expects weight.shape\[0\]"),
        ({"padding": "same"}, "padding='same' is defined for convolutions only"),
        ({"output_padding": 2}, r"output_padding must be smaller than max\(stride, dilation\) = 2"),
        ({"padding": 9}, "padding is too large"),
        ({"dilation": 0}, "dilation must be positive integers, got dilation=0"),
        ({"bias": np.ones(4)}, r"bias must have shape \(6,\)"),
    ],
)
def test_conv_transpose_route_errors(route, kwargs, words):
    args = {"input": np.ones((1, 4, 3, 3)), "weight": WT, "stride": 2, "groups": 2, **kwargs}
    with pytest.raises(ConvlabError, match=words):
        route(args.pop("input"), args.pop("weight"), **args)


@pytest.mark.parametrize(
    ("input_shape", "error", "words"),
    [
        (5, ConvlabError, r"input_shape must be \(C_in, \*size\) or \(N, C_in, \*size\) with 2 spatial"),
        ((4, 6), ConvlabError, r"got input_shape=\(4, 6\)"),
        ((1, 1, 4, 6, 6), ConvlabError, "input_shape must be"),
        ((4, 6, 0), ConvlabError, r"input_shape must be positive integers, got input_shape=0"),
        ((4, 6.0, 6), TypeError, "input_shape must be an integer, got float 6.0"),
        ((5, 6, 6), ConvlabError, "groups must divide the input channels"),
        ((4, 2, 6), ConvlabError, "kernel_size is larger than the padded input in dimension 0"),
    ],
)
def test_conv_matrix_input_shape_errors(input_shape, error, words):
    with pytest.raises(error, match=words):
        lw.conv_matrix(input_shape, W, groups=2)


def test_weight_must_be_real_numbers():
    with pytest.raises(TypeError, match="weight must be a real numeric array"):
        lw.conv_matrix((1, 4), np.array([["a"]]))
    with pytest.raises(TypeError, match="weight must be a real numeric array"):
        lw.conv_transpose_by_phases(np.ones((1, 2)), np.ones((1, 1, 1)) * 1j)


ROUTES = [*CONV_ROUTES, *TRANSPOSE_ROUTES]
_value = st.one_of(
    st.integers(-2, 4),
    st.tuples(st.integers(-1, 3), st.integers(-1, 3)),
    st.sampled_from(["same", "valid", None, 1.5, (1, 2, 3)]),
)


@settings(max_examples=150)
@given(
    st.sampled_from(ROUTES),
    st.lists(st.integers(0, 4), min_size=2, max_size=6),
    st.lists(st.integers(0, 3), min_size=2, max_size=6),
    st.fixed_dictionaries(
        {}, optional={"stride": _value, "padding": _value, "dilation": _value, "groups": _value}
    ),
)
def test_fuzz_only_value_or_type_errors(route, x_shape, w_shape, kwargs):
    with contextlib.suppress(ValueError, TypeError):
        route(np.ones(x_shape), np.ones(w_shape), **kwargs)


def test_return_phases_must_be_a_bool():
    import numpy as np
    import pytest

    from convlab.lowering import conv_transpose_by_phases

    with pytest.raises(TypeError, match=r"return_phases must be a bool, got ndarray"):
        conv_transpose_by_phases(np.ones((1, 1, 3)), np.ones((1, 1, 2)), stride=2, return_phases=np.array([]))
