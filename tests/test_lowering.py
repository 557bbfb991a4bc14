"""convlab.lowering: every route equals convlab.functional; the seed notes' worked numbers.

The functional operators are held against PyTorch and the naive loops
elsewhere; here they are the oracle (computed in float64 from the same
values), so this module runs without PyTorch. tests/test_lowering_torch.py
holds the routes against PyTorch directly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convlab.functional as cf
from conv_cases import assert_close, conv_case, conv_transpose_case
from convlab import lowering as lw

CONV = {1: cf.conv1d, 2: cf.conv2d, 3: cf.conv3d}
CONV_T = {1: cf.conv_transpose1d, 2: cf.conv_transpose2d, 3: cf.conv_transpose3d}
CONV_ROUTES = [lw.conv_by_matrix, lw.conv_by_unfold]
TRANSPOSE_ROUTES = [
    lw.conv_transpose_by_matrix,
    lw.conv_transpose_by_zero_insertion,
    lw.conv_transpose_by_scatter,
    lw.conv_transpose_by_phases,
]


def _abs(a):
    return None if a is None else np.abs(np.asarray(a, np.float64))


def _batched(case, out):
    return out[None] if case.unbatched else out


def functional_conv(case, x, w, b):
    f64 = None if b is None else np.asarray(b, np.float64)
    out = CONV[case.ndim](
        np.asarray(x, np.float64),
        np.asarray(w, np.float64),
        f64,
        case.stride,
        case.padding,
        case.dilation,
        case.groups,
    )
    return _batched(case, out)


def functional_conv_transpose(case, x, w, b):
    f64 = None if b is None else np.asarray(b, np.float64)
    out = CONV_T[case.ndim](
        np.asarray(x, np.float64),
        np.asarray(w, np.float64),
        f64,
        case.stride,
        case.pads,
        case.output_padding,
        case.groups,
        case.dilation,
    )
    return _batched(case, out)


def transpose_args(case):
    return (case.x, case.w, case.b, case.stride, case.pads, case.output_padding, case.groups, case.dilation)


# ---------------------------------------------------------------- every route equals functional


@settings(max_examples=200)
@given(conv_case(modes=False))
def test_conv_routes_equal_functional(case):
    exact = functional_conv(case, case.x, case.w, case.b)
    scale = functional_conv(case, np.abs(case.x), np.abs(case.w), _abs(case.b))
    for route in CONV_ROUTES:
        ours = route(case.x, case.w, case.b, case.stride, case.padding, case.dilation, case.groups)
        assert ours.dtype == case.x.dtype, route.__name__
        assert_close(_batched(case, ours), exact, scale, case.reduction())


@settings(max_examples=200)
@given(conv_transpose_case())
def test_conv_transpose_routes_equal_functional(case):
    exact = functional_conv_transpose(case, case.x, case.w, case.b)
    scale = functional_conv_transpose(case, np.abs(case.x), np.abs(case.w), _abs(case.b))
    for route in TRANSPOSE_ROUTES:
        ours = route(*transpose_args(case))
        assert ours.dtype == case.x.dtype, route.__name__
        assert_close(_batched(case, ours), exact, scale, case.reduction(transposed=True))


# ---------------------------------------------------------------- the matrix


@settings(max_examples=100)
@given(conv_case(modes=False))
def test_conv_matrix_times_each_sample_is_the_convolution(case):
    x = case.xb.astype(np.float64)
    m = lw.conv_matrix(x.shape, case.w, case.stride, case.padding, case.dilation, case.groups)
    same = lw.conv_matrix(x.shape[1:], case.w, case.stride, case.padding, case.dilation, case.groups)
    assert m.dtype == case.w.dtype
    assert (m != same).nnz == 0
    exact = functional_conv(case, case.x, case.w, None)
    scale = functional_conv(case, np.abs(case.x), np.abs(case.w), None)
    ours = np.stack([m @ sample.ravel() for sample in x]).reshape(exact.shape)
    assert_close(ours.astype(np.float64), exact, scale, case.reduction())


@settings(max_examples=100)
@given(conv_transpose_case(), st.integers(0, 2**32 - 1))
def test_adjoint_of_the_matrix_is_the_transposed_convolution(case, seed):
    """<M y, x> = <y, M^T x>, with M the convolution from the transposed output shape back.

    When output_padding >= stride (dilation > stride) that convolution has
    windows past the transposed input's end; x is zero there.
    """
    x = case.xb.astype(np.float64)
    w = case.w.astype(np.float64)
    transposed = lw.conv_transpose_by_matrix(
        x, w, None, case.stride, case.pads, case.output_padding, case.groups, case.dilation
    )
    y = np.random.default_rng(seed).standard_normal(transposed.shape)
    forward = lw.conv_by_matrix(y, w, None, case.stride, case.pads, case.dilation, case.groups)
    extended = np.zeros_like(forward)
    extended[tuple(slice(0, n) for n in x.shape)] = x
    left, right = np.vdot(forward, extended), np.vdot(y, transposed)
    assert abs(left - right) <= 1e-10 * (np.vdot(np.abs(forward), np.abs(extended)) + 1e-300)
    m = lw.conv_matrix(y.shape, w, case.stride, case.pads, case.dilation, case.groups)
    sample = np.random.default_rng(seed + 1).standard_normal(m.shape[0])
    assert np.isclose(np.vdot(m @ y[0].ravel(), sample), np.vdot(y[0].ravel(), m.T @ sample), rtol=1e-10)
    exact = functional_conv_transpose(case, case.x, w, None)
    np.testing.assert_allclose(transposed, exact, rtol=1e-10, atol=1e-12)


def test_conv_matrix_stores_one_entry_per_connection():
    w = np.arange(1.0, 2 * 3 * 3 * 2 + 1).reshape(2, 3, 3, 2)
    m = lw.conv_matrix((3, 5, 4), w, stride=(2, 1), padding=((1, 0), (0, 1)))
    # Per output row (1 + 5 - 3)//2 + 1 = 2, cols 4 windows; count the taps inside 5 x 4 by hand.
    rows_inside = [2, 3]  # output row 0 starts in the padding row -1, row 1 at input row 1
    cols_inside = [2, 2, 2, 1]  # the last window's second tap is the padding column 4
    per_channel = sum(r * c for r in rows_inside for c in cols_inside)
    assert m.shape == (2 * 2 * 4, 3 * 5 * 4)
    assert m.nnz == 2 * 3 * per_channel
    assert m.has_canonical_format


def test_conv_matrix_keeps_float32_and_same_padding():
    w = np.ones((1, 1, 3), dtype=np.float32)
    m = lw.conv_matrix((1, 5), w, stride=2, padding="same")
    assert m.dtype == np.float32
    # SAME_UPPER at stride 2 on 5 pixels: 3 outputs, padding (1, 1).
    np.testing.assert_array_equal(m.toarray(), [[1, 1, 0, 0, 0], [0, 1, 1, 1, 0], [0, 0, 0, 1, 1]])


# ---------------------------------------------------------------- seed 001: scatter-add by hand

X = np.array([[0.0, 1.0], [2.0, 3.0]])
K = np.array([[0.0, 1.0], [2.0, 3.0]])


def _seed001(route, **kwargs):
    return route(X[None, None], K[None, None], **kwargs)[0, 0]


@pytest.mark.parametrize("route", TRANSPOSE_ROUTES)
def test_seed001_each_input_pixel_adds_a_scaled_kernel(route):
    # x00 = 0 adds nothing; x01 = 1, x10 = 2, x11 = 3 add K, 2K, 3K at their offsets.
    x01_k = np.array([[0, 0, 1], [0, 2, 3], [0, 0, 0]])
    x10_2k = np.array([[0, 0, 0], [0, 2, 0], [4, 6, 0]])
    x11_3k = np.array([[0, 0, 0], [0, 0, 3], [0, 6, 9]])
    expected = x01_k + x10_2k + x11_3k
    np.testing.assert_array_equal(expected, [[0, 0, 1], [0, 4, 6], [4, 12, 9]])
    np.testing.assert_array_equal(_seed001(route), expected)


@pytest.mark.parametrize("route", TRANSPOSE_ROUTES)
def test_seed001_padding_1_removes_a_pixel_on_each_side(route):
    # The 3x3 result above without its first and last row and column.
    np.testing.assert_array_equal(_seed001(route, padding=1), [[4]])


@pytest.mark.parametrize("route", TRANSPOSE_ROUTES)
def test_seed001_stride_2_places_the_copies_two_apart(route):
    # At stride 2 the copies do not overlap: xij * K fills the 2x2 block (2i, 2j).
    expected = np.block([[0 * K, 1 * K], [2 * K, 3 * K]])
    np.testing.assert_array_equal(expected, [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]])
    np.testing.assert_array_equal(_seed001(route, stride=2), expected)


# ---------------------------------------------------------------- seed 003: conv as a matrix

W3 = np.arange(1.0, 10.0).reshape(3, 3)  # w00..w22 = 1..9: every entry tells its tap


def test_seed003_conv_matrix_of_4x4_input_and_3x3_kernel():
    m = lw.conv_matrix((1, 4, 4), W3[None, None]).toarray()
    # One row per window (y00, y01, y10, y11): the kernel laid out on the 4x4
    # grid at flat offsets 0, 1, 4, 5, zeros elsewhere.
    expected = np.array(
        [
            [1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0, 0],
            [0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0],
            [0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0],
            [0, 0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9],
        ]
    )
    assert m.shape == (4, 16)
    np.testing.assert_array_equal(m, expected)
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(m @ x.ravel(), cf.conv2d(x, W3[None, None]).ravel())


def test_seed003_transpose_is_flipped_kernel_over_two_zero_rings():
    xt = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    m = lw.conv_matrix((1, 4, 4), W3[None, None]).toarray()
    up = lw.conv_transpose_by_matrix(xt, W3[None, None])
    np.testing.assert_array_equal(up.ravel(), m.T @ xt.ravel())
    parts = lw.zero_insertion_parts(xt, W3[None, None])
    assert parts.padding == ((2, 2), (2, 2))
    np.testing.assert_array_equal(parts.weight[0, 0], [[9, 8, 7], [6, 5, 4], [3, 2, 1]])
    ring = np.zeros((6, 6))
    ring[2:4, 2:4] = xt[0, 0]
    np.testing.assert_array_equal(parts.input[0, 0], ring)


# ---------------------------------------------------------------- zero insertion


def test_zero_insertion_parts_stuff_pad_and_crop():
    x = np.arange(1.0, 7.0).reshape(1, 2, 3)  # unbatched: 1 channel, 2 x 3
    w = np.ones((1, 1, 3, 2))
    parts = lw.zero_insertion_parts(x, w, stride=(2, 3), padding=((3, 0), (1, 2)), output_padding=(1, 2))
    # Stuffed: rows 0, 2 and columns 0, 3, 6 hold x; 3 x 7 in all. Padding:
    # rows (2 - 3, 2 - 0 + 1) = (-1, 3), columns (1 - 1, 1 - 2 + 2) = (0, 1).
    assert parts.padding == ((-1, 3), (0, 1))
    expected = np.zeros((1, 5, 8))
    expected[0, 1, [0, 3, 6]] = [4.0, 5.0, 6.0]  # row 0 (x's first row) cropped away
    np.testing.assert_array_equal(parts.input, expected)
    out = cf.conv2d(parts.input, parts.weight, None, 1, 0, parts.dilation, parts.groups)
    np.testing.assert_array_equal(
        out, lw.conv_transpose_by_zero_insertion(x, w, None, (2, 3), ((3, 0), (1, 2)), (1, 2))
    )


def test_zero_insertion_swaps_channels_per_group():
    w = np.arange(4 * 3 * 2, dtype=float).reshape(4, 3, 2)  # C_in 4, groups 2: C_out 6
    parts = lw.zero_insertion_parts(np.ones((4, 3)), w, groups=2)
    assert parts.weight.shape == (6, 2, 2)
    for o in range(6):
        for c in range(2):
            np.testing.assert_array_equal(parts.weight[o, c], w[(o // 3) * 2 + c, o % 3, ::-1])


# ---------------------------------------------------------------- stride phases


def _window(x, pairs):
    """x zero-padded by (lo, hi) per trailing axis, negative values cropping: out[j] = x[j - lo]."""
    for axis, (lo, hi) in zip(range(x.ndim - len(pairs), x.ndim), pairs):
        n = x.shape[axis]
        source = np.arange(-lo, n + hi)
        inside = (source >= 0) & (source < n)
        shape = [1] * x.ndim
        shape[axis] = len(source)
        x = np.take(x, np.clip(source, 0, n - 1), axis=axis) * inside.reshape(shape)
    return x


@settings(max_examples=200)
@given(conv_transpose_case())
def test_phases_tile_the_output_and_skip_inserted_zeros(case):
    x = case.xb.astype(np.float64)
    w = case.w.astype(np.float64)
    out, phases = lw.conv_transpose_by_phases(
        x,
        w,
        None,
        case.stride,
        case.pads,
        case.output_padding,
        case.groups,
        case.dilation,
        return_phases=True,
    )
    assert len(phases) == math.prod(case.stride)
    hits = np.zeros(out.shape[2:], dtype=int)
    for phase in phases:
        where = tuple(slice(o, None, s) for o, s in zip(phase.offset, case.stride))
        assert hits[where].shape == phase.size
        hits[where] += 1
        for dim, (r, taps) in enumerate(zip(phase.residue, phase.taps)):
            s, d, (lo, _) = case.stride[dim], case.dilation[dim], case.pads[dim]
            assert set(taps) == {t for t in range(case.kernel[dim]) if (d * t) % s == r}
            assert list(taps) == sorted(taps, reverse=True)
            # Every (output, tap) pair of the phase reads a real input position:
            # o + lo - d*t is a multiple of the stride, never an inserted zero.
            outputs = phase.offset[dim] + s * np.arange(phase.size[dim])
            assert all((o + lo - d * t) % s == 0 for o in outputs for t in taps)
        if not phase.empty:
            sub = CONV[case.ndim](
                _window(x, phase.padding), phase.weight, None, 1, 0, phase.dilation, phase.groups
            )
            np.testing.assert_allclose(out[(Ellipsis, *where)], sub, rtol=1e-12, atol=1e-12)
        else:
            assert not out[(Ellipsis, *where)].any()
    assert (hits == 1).all()
    # Phases are in C order of their offsets, and their residues cover every
    # class mod the stride, so each dimension's taps are split among them.
    assert [p.offset for p in phases] == list(np.ndindex(*case.stride))
    for dim, s in enumerate(case.stride):
        assert {p.residue[dim] for p in phases} == set(range(s))


def test_phases_of_the_unet_up_convolution_are_four_1x1_convolutions():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((3, 2, 2, 2))
    out, phases = lw.conv_transpose_by_phases(x, w, stride=2, return_phases=True)
    assert [p.offset for p in phases] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for p in phases:
        assert p.weight.shape == (2, 3, 1, 1) and p.padding == ((0, 0), (0, 0))
        np.testing.assert_array_equal(p.weight[:, :, 0, 0], w[:, :, p.taps[0][0], p.taps[1][0]].T)
    np.testing.assert_allclose(out, cf.conv_transpose2d(x, w, stride=2), rtol=1e-13)


def test_phases_of_k3_s2_p1_split_the_kernel_2_and_1():
    w = np.arange(9.0).reshape(1, 1, 3, 3)
    _, phases = lw.conv_transpose_by_phases(
        np.ones((1, 1, 3, 3)), w, stride=2, padding=1, output_padding=1, return_phases=True
    )
    # Output o receives tap t when o + 1 - t is even: odd o get taps 2 and 0, even o tap 1.
    assert [(p.offset, p.taps) for p in phases] == [
        ((0, 0), ((1,), (1,))),
        ((0, 1), ((1,), (2, 0))),
        ((1, 0), ((2, 0), (1,))),
        ((1, 1), ((2, 0), (2, 0))),
    ]
    np.testing.assert_array_equal(phases[3].weight[0, 0], [[8, 6], [2, 0]])
    assert phases[3].padding == ((0, 1), (0, 1))


def test_phases_without_taps_give_the_bias_alone():
    # Dilation 2 at stride 2: every tap lands on an even (o + lo), odd outputs get nothing.
    x, w, b = np.ones((1, 1, 3)), np.ones((1, 2, 2)), np.array([5.0, 7.0])
    out, phases = lw.conv_transpose_by_phases(
        x, w, b, stride=2, dilation=2, output_padding=1, return_phases=True
    )
    assert phases[1].taps == ((),) and phases[1].empty
    np.testing.assert_array_equal(out[0, :, 1::2], [[5, 5, 5, 5], [7, 7, 7, 7]])
    np.testing.assert_array_equal(out, cf.conv_transpose1d(x, w, b, stride=2, dilation=2, output_padding=1))
