"""One test per error branch of the shape arithmetic: the message names the parameter."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convlab import ConvlabError, shapes


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: shapes.conv_output_size(True, 3), TypeError, ["size", "bool"]),
        (lambda: shapes.conv_output_size(10, 3.0), TypeError, ["kernel_size", "float"]),
        (lambda: shapes.conv_output_size("10", 3), TypeError, ["size"]),
        (lambda: shapes.conv_output_size(10, 0), ConvlabError, ["kernel_size", "positive", "0"]),
        (lambda: shapes.conv_output_size(10, 3, stride=(2, 0)), ConvlabError, ["stride", "(2, 0)"]),
        (lambda: shapes.conv_output_size(10, 3, dilation=-1), ConvlabError, ["dilation", "-1"]),
        (lambda: shapes.conv_output_size(0, 3), ConvlabError, ["size", "positive"]),
        (lambda: shapes.conv_output_size(10, 3, padding=-1), ConvlabError, ["padding", "non-negative", "-1"]),
        (lambda: shapes.conv_output_size(10, 3, padding=((1, -2),)), ConvlabError, ["padding", "-2"]),
        (lambda: shapes.conv_output_size(10, 3, padding=1.5), TypeError, ["padding", "1.5"]),
        (lambda: shapes.conv_output_size(10, 3, padding="full"), ConvlabError, ["padding", "'full'"]),
        (lambda: shapes.conv_output_size(10, 3, padding=((1, 2, 3),)), ConvlabError, ["padding", "(lo, hi)"]),
        (
            lambda: shapes.conv_output_size((10, 10), (3, 3, 3)),
            ConvlabError,
            ["kernel_size", "size", "3", "2"],
        ),
        (lambda: shapes.conv_output_size((10, 10), 3, padding=(1, 1, 1)), ConvlabError, ["padding", "3"]),
        (lambda: shapes.conv_output_size((1, 3, 10, 10), 3), ConvlabError, ["size", "(N, C, ...)"]),
        (lambda: shapes.conv_output_size((), 3), ConvlabError, ["size", "1 to 3"]),
        (
            lambda: shapes.conv_output_size(4, 3, dilation=2),
            ConvlabError,
            ["kernel_size", "padded input", "5"],
        ),
        (
            lambda: shapes.conv_transpose_output_size(5, 3, stride=2, output_padding=2),
            ConvlabError,
            ["output_padding", "max(stride, dilation)", "2"],
        ),
        (
            lambda: shapes.conv_transpose_output_size(5, 3, output_padding=-1),
            ConvlabError,
            ["output_padding", "non-negative"],
        ),
        (lambda: shapes.conv_transpose_output_size(1, 1, padding=1), ConvlabError, ["padding", "size -1"]),
        (lambda: shapes.conv_transpose_output_size(5, 3, padding="same"), ConvlabError, ["padding='same'"]),
        (lambda: shapes.pool_output_size(5, 2, padding=2), ConvlabError, ["padding", "half of kernel_size"]),
        (
            lambda: shapes.pool_output_size(1, 3, dilation=2, padding=1),
            ConvlabError,
            ["kernel_size", "padded input"],
        ),
        (lambda: shapes.pool_output_size(5, 2, ceil_mode=1), TypeError, ["ceil_mode", "bool"]),
        (
            lambda: shapes.output_padding_for(30, 12, 3, stride=2, padding=1),
            ConvlabError,
            ["target", "23..24", "30"],
        ),
        (lambda: shapes.transpose_output_sizes(1, 1, padding=3), ConvlabError, ["padding"]),
        (lambda: shapes.center_crop_box(10, 0), ConvlabError, ["output_size", "positive"]),
        (lambda: shapes.center_crop_box((10, 10), (5, 5, 5)), ConvlabError, ["output_size", "size"]),
        (lambda: shapes.solve(10, 5, max_stride=0), ConvlabError, ["max_stride"]),
        (lambda: shapes.solve(10, 5, kernel_size=0), ConvlabError, ["kernel_size"]),
        (lambda: shapes.solve(10, 5, transposed="yes"), TypeError, ["transposed"]),
        (lambda: shapes.solve(10, 0), ConvlabError, ["out_size"]),
        (lambda: shapes.size_working("deconv", 10, 3), ConvlabError, ["op", "'deconv'"]),
        (lambda: shapes.receptive_field([]), ConvlabError, ["layers", "none"]),
        (lambda: shapes.receptive_field(["x3"]), ConvlabError, ["layer spec", "'x3'"]),
        (lambda: shapes.receptive_field([3]), TypeError, ["layers[0]"]),
        (lambda: shapes.receptive_field([{"kind": "conv", "kernel": 3}]), TypeError, ["layers[0]", "kernel"]),
        (lambda: shapes.receptive_field([shapes.Layer("fc", 3)]), ConvlabError, ["layers[0].kind", "'fc'"]),
        (lambda: shapes.receptive_field(["c3", "c0"]), ConvlabError, ["layers[1].kernel_size"]),
        (
            lambda: shapes.receptive_field(
                ["c3s2", {"kind": "conv", "kernel_size": 3, "padding": "same", "stride": 2}]
            ),
            ConvlabError,
            ["layers[1].padding", "input_size"],
        ),
        (
            lambda: shapes.receptive_field([{"kind": "pool", "kernel_size": 2, "padding": "same"}]),
            ConvlabError,
            ["layers[0].padding"],
        ),
        (lambda: shapes.receptive_field(["c5"], input_size=3), ConvlabError, ["layers[0]", "size 3"]),
        (lambda: shapes.receptive_field(["pool2p2"], input_size=8), ConvlabError, ["layers[0]", "padding"]),
        (
            lambda: shapes.receptive_field(
                [{"kind": "convtranspose", "kernel_size": 3, "stride": 2, "output_padding": 2}], input_size=8
            ),
            ConvlabError,
            ["layers[0]", "output_padding"],
        ),
        (lambda: shapes.unet_sizes(573), shapes.UNetSizeError, ["573", "down0.pool", "569", "572", "588"]),
        (lambda: shapes.unet_sizes(20), shapes.UNetSizeError, ["20", "down2.conv1", "188"]),
        (lambda: shapes.unet_sizes((572, 573)), shapes.UNetSizeError, ["dimension 1"]),
        (lambda: shapes.unet_sizes(572, padding="full"), ConvlabError, ["padding", "'full'"]),
        (lambda: shapes.unet_sizes(572, depth=-1), ConvlabError, ["depth"]),
        (lambda: shapes.unet_sizes(572, convs_per_level=0), ConvlabError, ["convs_per_level"]),
        (lambda: shapes.unet_sizes(8, depth=4, padding="same"), shapes.UNetSizeError, ["down3.pool", "16"]),
        (lambda: shapes.unet_valid_sizes(0, 10), ConvlabError, ["start"]),
    ],
)
def test_error_names_the_parameter(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value)


def test_unet_size_error_carries_the_layer_and_neighbours():
    with pytest.raises(shapes.UNetSizeError) as info:
        shapes.unet_sizes(573)
    err = info.value
    assert (err.layer, err.size, err.below, err.above) == ("down0.pool", 569, 572, 588)
    assert isinstance(err, ValueError)


def test_numpy_integers_are_accepted_as_sizes():
    np = pytest.importorskip("numpy")
    assert shapes.conv_output_size(np.int64(24), np.int32(3), stride=np.int64(2), padding=1) == 12


junk = st.one_of(
    st.integers(-3, 40),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.tuples(st.integers(-2, 9)),
    st.tuples(st.integers(-2, 9), st.integers(-2, 9)),
    st.lists(st.integers(-2, 9), max_size=5).map(tuple),
    st.tuples(st.tuples(st.integers(-2, 5), st.integers(-2, 5))),
)


@given(junk, junk, junk, junk, junk, junk)
def test_invalid_arguments_raise_only_value_or_type_errors(size, kernel, stride, padding, dilation, extra):
    for call in (
        lambda: shapes.conv_output_size(size, kernel, stride, padding, dilation),
        lambda: shapes.conv_transpose_output_size(size, kernel, stride, padding, extra, dilation),
        lambda: shapes.pool_output_size(size, kernel, stride, padding, dilation),
        lambda: shapes.same_padding(size, kernel, stride, dilation),
        lambda: shapes.output_padding_for(extra, size, kernel, stride, padding, dilation),
        lambda: shapes.transpose_output_sizes(size, kernel, stride, padding, dilation),
        lambda: shapes.conv_input_sizes(size, kernel, stride, padding, dilation),
        lambda: shapes.center_crop_box(size, kernel),
        lambda: shapes.roundtrip(size, kernel, stride, padding, dilation),
    ):
        with contextlib.suppress(ValueError, TypeError):
            call()
