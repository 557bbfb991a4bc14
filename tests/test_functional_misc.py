"""``relu``, ``batch_norm`` and ``interpolate`` against PyTorch and closed forms."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab import ConvlabError
from convlab.functional._norm import _fma, batch_norm, relu

# ---------------------------------------------------------------- relu


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_relu_values_and_dtype(dtype):
    x = np.array([-3, -1, 0, 2, 5], dtype=dtype)
    got = relu(x)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, [0, 0, 0, 2, 5])


def test_relu_nan_and_inf():
    np.testing.assert_array_equal(relu(np.array([np.nan, -np.inf, np.inf])), [np.nan, 0, np.inf])


def test_relu_inplace():
    x = np.array([-1.0, 2.0])
    out = relu(x, inplace=True)
    assert out is x
    np.testing.assert_array_equal(x, [0.0, 2.0])
    y = np.array([-1.0, 2.0])
    relu(y)
    np.testing.assert_array_equal(y, [-1.0, 2.0])


@given(st.lists(st.floats(allow_nan=True, width=32), min_size=1, max_size=50))
@settings(max_examples=100)
def test_relu_equals_torch(torch, values):
    x = np.array(values, dtype=np.float32)
    np.testing.assert_array_equal(relu(x), torch.relu(torch.from_numpy(x)).numpy())


@pytest.mark.parametrize(
    ("call", "exc", "name"),
    [
        (lambda: relu(np.array(["a"])), TypeError, "input"),
        (lambda: relu(np.zeros(2), inplace=1), TypeError, "inplace"),
        (lambda: relu([1.0, -1.0], inplace=True), ConvlabError, "inplace"),
    ],
)
def test_relu_errors_name_the_parameter(call, exc, name):
    with pytest.raises(exc, match=name):
        call()


# ---------------------------------------------------------------- batch_norm


def test_fma_is_single_rounding_float32():
    # 1 + 2**-24 is a float32 tie: a separate multiply and add would round the
    # product first; the fused result must see the tiny extra term.
    a = np.array([1 + 2.0**-12], dtype=np.float32)
    c = np.array([-1.0], dtype=np.float32)
    assert _fma(a, a, c)[0] == np.float32(2.0**-11 + 2.0**-24)
    rng = np.random.default_rng(0)
    x, y, z = (rng.normal(size=2000).astype(np.float32) for _ in range(3))
    # Products whose exact sum sits on a float32 rounding tie, where evaluating
    # in float64 and rounding again would go wrong without round-to-odd.
    x[:3], y[:3], z[:3] = 1 + 2.0**-12, 1 + 2.0**-12, [-1.0, 2.0**-30, -(2.0**-30)]
    got = _fma(x, y, z)
    for p, q, r, g in zip(x, y, z, got):
        assert g == _round_to_float32(Fraction(float(p)) * Fraction(float(q)) + Fraction(float(r)))


def _round_to_float32(exact: Fraction) -> np.float32:
    """Correct round-to-nearest-even of an exact rational to float32."""
    guess = np.float32(float(exact))
    candidates = [np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf))]
    best = min(candidates, key=lambda f: (abs(Fraction(float(f)) - exact), int(f.view(np.int32)) % 2))
    return best


@st.composite
def bn_cases(draw):
    channels = draw(st.integers(1, 6))
    shape = [draw(st.integers(1, 3)), channels, *draw(st.lists(st.integers(1, 7), max_size=3))]
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = (rng.normal(size=shape) * 10).astype(dtype)
    mean, bias, weight = (rng.normal(size=channels).astype(dtype) for _ in range(3))
    var = (rng.random(channels) * 3).astype(dtype)
    use_w, use_b = draw(st.booleans()), draw(st.booleans())
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
    return x, mean, var, weight if use_w else None, bias if use_b else None, eps


@given(bn_cases())
@settings(max_examples=200)
def test_batch_norm_equals_torch(torch, case):
    x, mean, var, weight, bias, eps = case
    t = [None if a is None else torch.from_numpy(a) for a in (x, mean, var, weight, bias)]
    expected = torch.nn.functional.batch_norm(*t, training=False, eps=eps).numpy()
    got = batch_norm(x, mean, var, weight, bias, eps=eps)
    assert got.dtype == x.dtype
    # Exact for both dtypes: the FMA emulation reproduces ATen's fused kernel.
    np.testing.assert_array_equal(got, expected)


def test_batch_norm_closed_form():
    x = np.arange(24.0).reshape(2, 3, 4)
    mean, var = np.array([1.0, 2.0, 3.0]), np.array([4.0, 1.0, 0.25])
    w, b = np.array([2.0, 1.0, -1.0]), np.array([0.0, 1.0, 2.0])
    got = batch_norm(x, mean, var, w, b, eps=0.0)
    expected = (x - mean[:, None]) / np.sqrt(var[:, None]) * w[:, None] + b[:, None]
    np.testing.assert_allclose(got, expected, rtol=1e-15)


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        ({"training": True}, ConvlabError, "training"),
        ({"running_mean": np.zeros(2)}, ConvlabError, "running_mean"),
        ({"running_var": np.zeros((3, 1))}, ConvlabError, "running_var"),
        ({"weight": np.zeros(4)}, ConvlabError, "weight"),
        ({"bias": np.array(["a", "b", "c"])}, TypeError, "bias"),
        ({"eps": "small"}, TypeError, "eps"),
        ({"input": np.zeros(3)}, ConvlabError, "input"),
    ],
)
def test_batch_norm_errors_name_the_parameter(kwargs, exc, name):
    args = {"input": np.zeros((2, 3, 4)), "running_mean": np.zeros(3), "running_var": np.ones(3)}
    args.update(kwargs)
    with pytest.raises(exc, match=name):
        batch_norm(**args)
