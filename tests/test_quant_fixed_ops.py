"""Fixed-point element-wise steps: ReLU, max pool (vs torch and a loop), add, concat, crop; errors."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _fixed_reference import reference_code
from convlab._args import ConvlabError
from convlab.quant import FixedPoint, fixed_add, fixed_center_crop, fixed_concat, fixed_max_pool, fixed_relu
from convlab.transforms import center_crop


def _loop_max_pool(x, k, s, p):
    n, c, *size = x.shape
    out = [(size[i] + 2 * p[i] - k[i]) // s[i] + 1 for i in range(len(k))]
    y = np.empty((n, c, *out), dtype=np.int64)
    for idx in itertools.product(range(n), range(c), *map(range, out)):
        best = None
        for tap in itertools.product(*map(range, k)):
            src = [idx[2 + i] * s[i] + tap[i] - p[i] for i in range(len(k))]
            if all(0 <= v < size[i] for i, v in enumerate(src)):
                v = int(x[(idx[0], idx[1], *src)])
                best = v if best is None else max(best, v)
        y[idx] = best
    return y


@given(st.integers(1, 3), st.data())
def test_max_pool_matches_loop_and_torch(nd, data):
    fmt = FixedPoint(data.draw(st.integers(2, 40)), 3)
    k = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    s = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    p = tuple(data.draw(st.integers(0, ki // 2)) for ki in k)
    size = tuple(data.draw(st.integers(ki, ki + 4)) for ki in k)
    x = np.random.default_rng(data.draw(st.integers(0, 99))).integers(
        fmt.code_min, fmt.code_max + 1, (2, 2, *size)
    )
    got = fixed_max_pool(x, fmt, k, s, p)
    np.testing.assert_array_equal(got, _loop_max_pool(x, k, s, p))


def test_max_pool_equals_torch(torch):
    fmt = FixedPoint(16, 6)
    x = np.random.default_rng(1).integers(fmt.code_min, fmt.code_max + 1, (2, 3, 9, 8))
    want = torch.nn.functional.max_pool2d(torch.from_numpy(x.astype(np.float64)), 3, 2, 1).numpy()
    np.testing.assert_array_equal(fixed_max_pool(x, fmt, 3, 2, 1), want.astype(np.int64))


def test_relu_and_its_conversion():
    f = FixedPoint(8, 4)
    assert fixed_relu(np.array([-128, -1, 0, 1, 127]), f).tolist() == [0, 0, 0, 1, 127]
    out = FixedPoint(6, 2, rounding="rnd_conv", overflow="sat")
    want = [reference_code(Fraction(max(v, 0), 16), out) for v in (-128, 6, 10, 127)]
    assert fixed_relu(np.array([-128, 6, 10, 127]), f, out).tolist() == want == [0, 2, 2, 31]


@given(st.data())
def test_add_matches_fraction(data):
    fa, fb, fo = (FixedPoint(data.draw(st.integers(2, 30)), data.draw(st.integers(-4, 30))) for _ in range(3))
    fo = FixedPoint(
        fo.word_bits, fo.frac_bits, rounding=data.draw(st.sampled_from(["trn", "rnd_conv", "rnd_inf"]))
    )
    a = data.draw(st.lists(st.integers(fa.code_min, fa.code_max), min_size=1, max_size=8))
    b = data.draw(st.lists(st.integers(fb.code_min, fb.code_max), min_size=len(a), max_size=len(a)))
    got = fixed_add(np.array(a), fa, np.array(b), fb, fo)
    want = [
        reference_code(Fraction(x) / 2**fa.frac_bits + Fraction(y) / 2**fb.frac_bits, fo)
        for x, y in zip(a, b)
    ]
    assert got.tolist() == want


def test_concat_and_crop():
    f8, f6 = FixedPoint(8, 4), FixedPoint(8, 2)
    skip, up = np.full((1, 2, 5, 5), 20), np.full((1, 1, 3, 3), 20)
    out = fixed_concat([fixed_center_crop(skip, (3, 3)), up], [f8, f6], f6)
    assert out.shape == (1, 3, 3, 3)
    assert out[0, :, 0, 0].tolist() == [5, 5, 20]  # 20/16 = 1.25 -> 5/4 in ap_fixed<8,6>
    x = np.arange(2 * 7 * 6).reshape(1, 2, 7, 6)
    np.testing.assert_array_equal(fixed_center_crop(x, (4, 3)), center_crop(x.astype(float), (4, 3)))


def test_errors():
    f = FixedPoint(8, 4)
    with pytest.raises(ConvlabError, match="padding must be at most half of kernel_size"):
        fixed_max_pool(np.zeros((1, 1, 4, 4), int), f, 2, padding=2)
    with pytest.raises(ConvlabError, match="x must have shape"):
        fixed_max_pool(np.zeros((4, 4), int), f, 2)
    with pytest.raises(ConvlabError, match="a must be codes of a_format"):
        fixed_add(np.array([300]), f, np.array([1]), f, f)
    with pytest.raises(ConvlabError, match="a \\+ b needs"):
        big = FixedPoint(63, 0)
        fixed_add(np.array([2**62 - 1]), big, np.array([2**61]), FixedPoint(63, -1), big)
    with pytest.raises(ConvlabError, match="arrays and formats must pair up"):
        fixed_concat([np.zeros(1, int)], [f, f], f)
    with pytest.raises(TypeError, match="out_format must be a FixedPoint"):
        fixed_relu(np.array([1]), f, "ap_fixed<8,4>")
    with pytest.raises(ConvlabError, match="size must fit inside"):
        fixed_center_crop(np.zeros((1, 1, 3, 3), int), (4, 4))
