"""``convlab.transforms.center_crop``: torchvision's rule pinned by known values."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab import ConvlabError
from convlab.functional import pad
from convlab.transforms import center_crop


def _rows(size: int, out: int) -> tuple[int, int]:
    """(first, last) row a crop of ``size`` to ``out`` takes, read off an arange image."""
    taken = center_crop(np.arange(size)[:, None] * np.ones((1, 3), dtype=np.int64), (out, 3))[:, 0]
    np.testing.assert_array_equal(taken, np.arange(taken[0], taken[0] + out))
    return int(taken[0]), int(taken[-1])


@pytest.mark.parametrize(
    ("size", "out", "first", "last"),
    [(568, 392, 88, 479), (280, 200, 40, 239), (136, 104, 16, 119), (64, 56, 4, 59)],
)
def test_unet_skip_crops(size, out, first, last):
    assert _rows(size, out) == (first, last)


@pytest.mark.parametrize(("diff", "start"), [(1, 0), (3, 2), (5, 2), (7, 4), (9, 4), (2, 1), (4, 2)])
def test_odd_differences_round_half_even(diff, start):
    # int(round(diff / 2)): 1.5 -> 2, 2.5 -> 2, 3.5 -> 4, 4.5 -> 4, 0.5 -> 0.
    assert _rows(10 + diff, 10)[0] == start


def test_crop_larger_pads_zeros_odd_pixel_at_end():
    got = center_crop(np.full((1, 2, 3), 7, dtype=np.int16), (5, 6))
    assert got.dtype == np.int16 and got.shape == (1, 5, 6)
    expected = np.zeros((5, 6), dtype=np.int16)
    expected[1:3, 1:4] = 7  # height: (3 // 2, 4 // 2) = (1, 2); width: (1, 2)
    np.testing.assert_array_equal(got[0], expected)


def test_mixed_one_dim_larger_one_smaller():
    x = np.arange(4 * 8).reshape(4, 8).astype(np.float32)
    got = center_crop(x, (7, 3))
    expected = np.zeros((7, 3), dtype=np.float32)
    # height 4 -> 7: pad (1, 2); width 8 -> 3: start round(2.5) = 2.
    expected[1:5] = x[:, 2:5]
    np.testing.assert_array_equal(got, expected)


def test_int_size_crops_last_two_dims_of_any_leading_shape():
    x = np.random.default_rng(0).integers(0, 255, size=(2, 3, 9, 8), dtype=np.uint8)
    got = center_crop(x, 4)
    np.testing.assert_array_equal(got, x[..., 2:6, 2:6])
    assert got.dtype == np.uint8


def test_one_and_three_dims():
    np.testing.assert_array_equal(center_crop(np.arange(7), (3,)), [2, 3, 4])
    x = np.arange(5 * 6 * 7).reshape(1, 5, 6, 7)
    np.testing.assert_array_equal(center_crop(x, (3, 3, 3)), x[:, 1:4, 2:5, 2:5])


def test_no_padding_gives_a_view():
    x = np.zeros((6, 6))
    assert np.shares_memory(center_crop(x, 4), x)


@given(
    st.lists(st.integers(1, 9), min_size=1, max_size=3),
    st.data(),
)
@settings(max_examples=150)
def test_crop_of_symmetric_pad_is_identity(sizes, data):
    pads = [data.draw(st.integers(0, 4)) for _ in sizes]
    x = np.random.default_rng(len(sizes)).normal(size=(2, *sizes))
    padded = pad(x, [p for q in reversed(pads) for p in (q, q)])
    np.testing.assert_array_equal(center_crop(padded, tuple(sizes)), x)


@given(st.lists(st.integers(1, 9), min_size=1, max_size=3), st.data())
@settings(max_examples=150)
def test_output_shape_and_content_match_box(sizes, data):
    outs = [data.draw(st.integers(1, 12)) for _ in sizes]
    x = np.random.default_rng(1).normal(size=sizes)
    got = center_crop(x, tuple(outs))
    assert got.shape == tuple(outs)
    # Every pixel of the crop is either zero padding or the image pixel at the
    # torchvision offset: out[j] = x[j + round((n - o) / 2)] when the crop is smaller,
    # x[j - (o - n) // 2] when larger.
    for idx in np.ndindex(*outs):
        src = []
        for j, n, o in zip(idx, sizes, outs):
            src.append(j + round((n - o) / 2) if o <= n else j - (o - n) // 2)
        inside = all(0 <= s < n for s, n in zip(src, sizes))
        assert got[idx] == (x[tuple(src)] if inside else 0)


@pytest.mark.parametrize(
    ("img", "size", "exc", "name"),
    [
        (np.zeros((4, 4)), 0, ConvlabError, "output_size"),
        (np.zeros((4, 4)), 2.5, TypeError, "output_size"),
        (np.zeros((4, 4)), (2, 2, 2, 2), ConvlabError, "output_size"),
        (np.zeros((4, 4)), (), ConvlabError, "output_size"),
        (np.zeros(4), 2, ConvlabError, "img"),
        (np.zeros((0, 4)), 2, ConvlabError, "img"),
    ],
)
def test_center_crop_errors_name_the_parameter(img, size, exc, name):
    with pytest.raises(exc, match=name):
        center_crop(img, size)


@given(
    st.one_of(
        st.integers(-3, 5),
        st.floats(),
        st.none(),
        st.text(max_size=2),
        st.lists(st.integers(-3, 5), max_size=5),
    ),
    st.lists(st.integers(0, 4), max_size=4),
)
@settings(max_examples=200)
def test_center_crop_fuzz_only_value_or_type_errors(size, shape):
    with contextlib.suppress(ValueError, TypeError):
        center_crop(np.zeros(shape), size)
