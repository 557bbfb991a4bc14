"""The convolution family against naive loop references, adjoint properties and known values.

No PyTorch here: these always run. The references in ``reference_conv.py``
cover what PyTorch lacks (N-d unfold/fold, 'same' at stride > 1, asymmetric
padding) and give a second opinion on everything else.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import convlab.functional as cf
import reference_conv as ref
from conv_cases import assert_close, conv_case, conv_transpose_case

CONV = {1: cf.conv1d, 2: cf.conv2d, 3: cf.conv3d}
CONV_T = {1: cf.conv_transpose1d, 2: cf.conv_transpose2d, 3: cf.conv_transpose3d}
NP_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _abs(a):
    return None if a is None else np.abs(a)


def reference_conv(case, x, w, b):
    xb = x[None] if case.unbatched else x
    pads = case.pads
    if case.padding_mode != "zeros":
        xb = np.pad(xb, ((0, 0), (0, 0), *pads), mode=NP_MODE[case.padding_mode])
        pads = ((0, 0),) * case.ndim
    return ref.conv(xb, w, b, case.stride, pads, case.dilation, case.groups)


@settings(max_examples=150)
@given(conv_case(max_extra=3))
def test_conv_equals_loop_reference(case):
    ours = CONV[case.ndim](
        case.x, case.w, case.b, case.stride, case.padding, case.dilation, case.groups, case.padding_mode
    )
    exact = reference_conv(case, case.x, case.w, case.b)
    scale = reference_conv(case, np.abs(case.x), np.abs(case.w), _abs(case.b))
    assert_close(ours[None] if case.unbatched else ours, exact, scale, case.reduction())


@settings(max_examples=150)
@given(conv_transpose_case(max_extra=3))
def test_conv_transpose_equals_loop_reference(case):
    op = (0,) * case.ndim if case.output_size is not None else case.output_padding
    ours = CONV_T[case.ndim](
        case.x, case.w, case.b, case.stride, case.padding, op, case.groups, case.dilation, case.output_size
    )
    args = (case.stride, case.pads, case.output_padding, case.dilation, case.groups)
    exact = ref.conv_transpose(case.xb, case.w, case.b, *args)
    scale = ref.conv_transpose(np.abs(case.xb), np.abs(case.w), _abs(case.b), *args)
    assert_close(ours[None] if case.unbatched else ours, exact, scale, case.reduction(transposed=True))


@st.composite
def window_case(draw):
    ndim = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(ndim))
    size = tuple(
        max(1, d * (k - 1) + 1 - lo - hi) + draw(st.integers(0, 4 if ndim < 3 else 2))
        for k, d, (lo, hi) in zip(kernel, dilation, pads)
    )
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *size)
    x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal(shape)
    return x, {"kernel_size": kernel, "dilation": dilation, "padding": pads, "stride": stride}


def _canonical(args):
    return args["kernel_size"], args["dilation"], args["padding"], args["stride"]


@settings(max_examples=80)
@given(window_case())
def test_unfold_and_fold_equal_loop_reference_in_every_rank(case):
    x, args = case
    cols = cf.unfold(x, **args)
    np.testing.assert_array_equal(cols, ref.unfold(x, *_canonical(args)))
    size = x.shape[2:]
    np.testing.assert_allclose(
        cf.fold(cols, size, **args), ref.fold(cols, size, *_canonical(args)), rtol=1e-13
    )


@settings(max_examples=80)
@given(window_case())
def test_fold_of_unfold_is_input_times_overlap_count(case):
    x, args = case
    size = x.shape[2:]
    count = cf.fold(cf.unfold(np.ones_like(x), **args), size, **args)
    np.testing.assert_allclose(cf.fold(cf.unfold(x, **args), size, **args), x * count, rtol=1e-13)


@settings(max_examples=80)
@given(window_case(), st.integers(0, 2**32 - 1))
def test_fold_is_the_adjoint_of_unfold(case, seed):
    x, args = case
    cols = cf.unfold(x, **args)
    y = np.random.default_rng(seed).standard_normal(cols.shape)
    lhs, rhs = np.vdot(cols, y), np.vdot(x, cf.fold(y, x.shape[2:], **args))
    assert abs(lhs - rhs) <= 1e-12 * (np.vdot(np.abs(cols), np.abs(y)) + 1)


@settings(max_examples=100)
@given(conv_transpose_case(), st.integers(0, 2**32 - 1))
def test_conv_transpose_is_the_adjoint_of_conv(case, seed):
    """<conv(x, w), y> = <x, conv_transpose(y, w)> when output_padding restores x's size.

    It does for output_padding < stride; PyTorch also accepts stride <= output_padding
    < dilation, whose extra pixels no conv window of y's size reaches.
    """
    assume(all(op < s for op, s in zip(case.output_padding, case.stride)))
    y = case.xb.astype(np.float64)
    w = case.w.astype(np.float64)
    up = CONV_T[case.ndim](
        y, w, None, case.stride, case.pads, case.output_padding, case.groups, case.dilation
    )
    x = np.random.default_rng(seed).standard_normal(up.shape)
    down = CONV[case.ndim](x, w, None, case.stride, case.pads, case.dilation, case.groups)
    assert down.shape == y.shape
    lhs, rhs = np.vdot(down, y), np.vdot(x, up)
    assert abs(lhs - rhs) <= 1e-12 * (np.vdot(np.abs(down), np.abs(y)) + np.vdot(np.abs(x), np.abs(up)))


def test_known_values():
    x = np.arange(1.0, 6.0).reshape(1, 1, 5)
    np.testing.assert_array_equal(cf.conv1d(x, np.array([[[1.0, 0.0, -1.0]]])), [[[-2.0, -2.0, -2.0]]])
    # 'same' at stride 2 on 5 pixels, kernel 3: 3 outputs, padding (1, 1).
    np.testing.assert_array_equal(cf.conv1d(x, np.ones((1, 1, 3)), stride=2, padding="same"), [[[3, 9, 9]]])
    # 'same' at stride 2 on 6 pixels, kernel 2: padding (0, 0), SAME_UPPER.
    x6 = np.arange(6.0).reshape(1, 1, 6)
    np.testing.assert_array_equal(cf.conv1d(x6, np.ones((1, 1, 2)), stride=2, padding="same"), [[[1, 5, 9]]])
    # 'same' at stride 2 on 6 pixels, kernel 3: total padding 1, put at the end.
    np.testing.assert_array_equal(cf.conv1d(x6, np.ones((1, 1, 3)), stride=2, padding="same"), [[[3, 9, 9]]])
    up = cf.conv_transpose1d(np.array([[[1.0, 2.0]]]), np.array([[[1.0, 2.0, 3.0]]]), stride=2, padding=1)
    np.testing.assert_array_equal(up, [[[2.0, 5.0, 4.0]]])
    np.testing.assert_array_equal(
        cf.unfold(np.arange(4.0).reshape(1, 1, 2, 2), 2, padding=((0, 1), (0, 0))),
        [[[0, 2], [1, 3], [2, 0], [3, 0]]],
    )


def test_depthwise_and_grouped_channels_stay_in_their_group():
    x = np.zeros((1, 4, 5, 5))
    x[0, 2] = 1.0
    w = np.ones((8, 2, 3, 3))
    out = cf.conv2d(x, w, groups=2)
    assert out[0, :4].max() == 0 and np.all(out[0, 4:] == 9)
    depthwise = cf.conv2d(x, np.ones((4, 1, 3, 3)), groups=4)
    assert depthwise[0, 2].min() == 9 and depthwise[0, [0, 1, 3]].max() == 0


def test_dtypes():
    x32, w32 = np.ones((1, 2, 4, 4), np.float32), np.ones((3, 2, 3, 3), np.float32)
    assert cf.conv2d(x32, w32).dtype == np.float32
    assert cf.conv2d(x32, w32.astype(np.float64)).dtype == np.float64
    assert cf.conv2d(x32, w32, np.zeros(3)).dtype == np.float64
    assert cf.conv2d(np.ones((1, 2, 4, 4), np.int64), w32).dtype == np.float64
    assert cf.conv_transpose2d(x32, np.ones((2, 3, 2, 2), np.float32), stride=2).dtype == np.float32
    assert cf.unfold(x32, 2).dtype == np.float32 and cf.fold(cf.unfold(x32, 2), 4, 2).dtype == np.float32


def test_workspace_limit_is_restored_and_validated():
    before = cf.get_workspace_limit()
    with cf.workspace_limit(1000):
        assert cf.get_workspace_limit() == 1000
        np.testing.assert_array_equal(cf.conv2d(np.ones((2, 3, 6, 6)), np.ones((1, 3, 3, 3))), 27)
    assert cf.get_workspace_limit() == before
    with pytest.raises(ValueError, match="nbytes"):
        cf.set_workspace_limit(0)
    with pytest.raises(TypeError, match="nbytes"):
        cf.set_workspace_limit(1.5)
