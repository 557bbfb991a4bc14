"""batch_norm's fused-axpy path: the probe, exact rounding against rationals, and torch at the extremes."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convlab
from convlab.functional import _fused_axpy, _norm
from convlab.functional._fused_axpy import _fused, channel_fma, fused_axpy
from convlab.functional._norm import batch_norm, batch_norm_into
from test_exact_fma import _F32, _F64, _midpoints32, _oracle, _tie_biased

_DTYPES = [np.float32, np.float64]


def _array_at(address: int, n: int, dtype) -> np.ndarray:
    kind = ctypes.c_float if np.dtype(dtype) == np.float32 else ctypes.c_double
    return np.ctypeslib.as_array((kind * n).from_address(address))


def _fake_axpy(dtype, fused_below: int | None):
    """A Python ``axpy``: unfused (a multiply, then an add) from index ``fused_below`` on, fused before it.

    ``fused_below=None`` is unfused everywhere; a kernel with a fused body and
    an unfused tail is ``fused_below = n & -32`` per row.
    """

    def axpy(n, alpha, x_address, y_address):
        x, y = _array_at(x_address, n, dtype), _array_at(y_address, n, dtype)
        body = 0 if fused_below is None else n & -fused_below
        fmt = _F32 if dtype == np.float32 else _F64
        exact = [_oracle(alpha, float(a), float(b), fmt) for a, b in zip(x, y)]
        y[body:] = dtype(alpha) * x[body:] + y[body:]
        y[:body] = np.array(exact[:body], dtype)

    return axpy


@pytest.mark.parametrize("dtype", _DTYPES)
@pytest.mark.parametrize("fused_below", [None, 32])
def test_probe_refuses_unfused_and_tail_unfused_kernels(dtype, fused_below, monkeypatch):
    monkeypatch.setattr(_fused_axpy, "_PROBE_LENGTHS", (1, 5, 31, 33, 64, 70))
    monkeypatch.setattr(_fused_axpy, "_PROBE_OFFSETS", 2)
    assert not _fused(_fake_axpy(dtype, fused_below), np.dtype(dtype))


@pytest.mark.parametrize("dtype", _DTYPES)
def test_probe_accepts_a_fused_kernel(dtype, monkeypatch):
    monkeypatch.setattr(_fused_axpy, "_PROBE_LENGTHS", (1, 5, 31, 33, 64, 70))
    monkeypatch.setattr(_fused_axpy, "_PROBE_OFFSETS", 2)
    assert _fused(_fake_axpy(dtype, 1), np.dtype(dtype))


def test_probe_rows_tell_fused_from_unfused():
    # Every element of a probe row is a case where one rounding and two differ.
    for dtype in _DTYPES:
        half = (np.finfo(dtype).nmant + 2) // 2
        u = dtype(1 + 2.0**-half)
        s = np.ldexp(1.0, np.arange(-20, 21)) * np.where(np.arange(41) % 2, -1, 1)
        x, y = (s * u).astype(dtype), (-s * (1 + 2.0 ** (1 - half))).astype(dtype)
        fmt = _F32 if dtype == np.float32 else _F64
        exact = np.array([_oracle(float(u), float(a), float(b), fmt) for a, b in zip(x, y)])
        np.testing.assert_array_equal(exact, s * 2.0 ** (-2 * half))
        assert np.all(u * x + y == 0)


def _need_fused(dtype):
    axpy = fused_axpy(np.dtype(dtype))
    if axpy is None:
        pytest.skip("NumPy's BLAS has no fused axpy here: batch_norm uses the emulation (tested elsewhere)")
    return axpy


def _check_rows(x, alpha, beta, dtype, relu=False):
    """channel_fma of (1, C, m) rows against the exact rational rounding, out of place and in place."""
    axpy = _need_fused(dtype)
    fmt = _F32 if dtype == np.float32 else _F64
    out = np.empty_like(x)
    channel_fma(axpy, x, alpha, beta, out, relu=relu)
    inplace = x.copy()
    channel_fma(axpy, inplace, alpha, beta, inplace, relu=relu)
    for c in range(x.shape[1]):
        for v, g, h in zip(x[0, c], out[0, c], inplace[0, c]):
            expected = _oracle(float(v), float(alpha[c]), float(beta[c]), fmt)
            if relu and not np.isnan(expected):
                expected = max(0.0, expected) if expected != 0 else expected
            for got in (g, h):
                if np.isnan(expected):
                    assert np.isnan(got)
                else:
                    assert got == expected and np.signbit(got) == np.signbit(expected), (v, alpha[c], beta[c])


def test_rows_repair_float32_midpoints():
    # One channel per triple: x = a, alpha = b, beta = c, whose float64 evaluation
    # is a float32 midpoint the exact value is not on.
    a, b, c = _midpoints32(np.random.default_rng(7), 300)
    x = np.stack([a, -a, a * np.float32(2)], axis=1)[None]
    _check_rows(x, b, c, np.float32)


@pytest.mark.parametrize("dtype", _DTYPES)
def test_rows_tie_biased_sample(dtype):
    a, b, c = _tie_biased(np.random.default_rng(8), 400, dtype)
    x = np.stack([a, np.roll(a, 1), -a], axis=1)[None]
    _check_rows(x, b, c, dtype)


floats32 = st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True)
floats64 = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)


@given(st.data())
@settings(max_examples=200)
def test_rows_equal_exact_rounding(data):
    dtype = data.draw(st.sampled_from(_DTYPES))
    values = floats32 if dtype == np.float32 else floats64
    channels = data.draw(st.integers(1, 3))
    n = data.draw(st.integers(1, 40))
    x = np.array(data.draw(st.lists(values, min_size=channels * n, max_size=channels * n)), dtype)
    alpha = np.array(data.draw(st.lists(values, min_size=channels, max_size=channels)), dtype)
    beta = np.array(data.draw(st.lists(values, min_size=channels, max_size=channels)), dtype)
    _check_rows(x.reshape(1, channels, n), alpha, beta, dtype, relu=data.draw(st.booleans()))


def test_rows_zero_alpha_and_signed_zeros():
    # alpha == +-0 bypasses axpy (the interface skips it): x * 0 is exact, the sum rounds once.
    x = np.array([[[1.0, -1.0, 0.0, -0.0, np.inf, np.nan, 3e38]] * 4], np.float32)
    alpha = np.array([0.0, -0.0, 1.0, -1.0], np.float32)
    beta = np.array([-0.0, 0.0, -0.0, 0.0], np.float32)
    _check_rows(x, alpha, beta, np.float32)
    _check_rows(x, alpha, beta, np.float32, relu=True)


def _extremes(dtype, shape, rng):
    """Normal data sprinkled with NaN, +-inf, +-0, subnormals, huge values and float32 midpoint makers."""
    x = (rng.normal(size=shape) * 3).astype(dtype)
    flat = x.reshape(-1)
    info = np.finfo(dtype)
    specials = np.array(
        [
            np.nan,
            np.inf,
            -np.inf,
            0.0,
            -0.0,
            info.smallest_subnormal,
            -info.smallest_subnormal,
            info.max,
            -info.max,
            1 + 2.0**-12,
            -(1 + 2.0**-12),
            2.0**-140,
        ],
        dtype,
    )
    picks = rng.integers(0, flat.size, 4000)
    flat[picks] = specials[np.arange(picks.size) % specials.size]
    return x


_PLANE = (128, 130)  # 16640 elements per channel: the axpy path (batch_norm's _AXPY_FROM = 2**14)


@pytest.mark.parametrize("dtype", _DTYPES)
@pytest.mark.parametrize("relu", [False, True])
def test_batch_norm_axpy_path_equals_torch(torch, dtype, relu):
    assert np.prod(_PLANE) >= _norm._AXPY_FROM
    rng = np.random.default_rng(4)
    x = _extremes(dtype, (2, 5, *_PLANE), rng)
    info = np.finfo(dtype)
    mean = np.array([0.0, 1e-3, -2.0, 0.5, 0.0], dtype)
    var = np.array([1.0, 0.5, 3.0, 0.0, 1e-30], dtype)
    weight = np.array([1.0, 0.0, -1.3, 2.0, info.max], dtype)  # channel 1: alpha == 0
    bias = np.array([0.0, -0.0, 2.5, info.smallest_subnormal, 1e-3], dtype)
    t = [torch.from_numpy(v) for v in (x, mean, var, weight, bias)]
    expected = torch.nn.functional.batch_norm(*t, training=False, eps=0.0)
    if relu:
        expected = torch.relu(expected)
    expected = expected.numpy()
    with np.errstate(all="ignore"):
        got = batch_norm(x, mean, var, weight, bias, eps=0.0)
        got = np.maximum(np.zeros_like(got), got) if relu else got
        inplace = x.copy()
        fused = batch_norm_into(inplace, mean, var, weight, bias, eps=0.0, relu=relu, inplace=True)
    assert fused is inplace
    for result in (got, fused):
        np.testing.assert_array_equal(result, expected)
        np.testing.assert_array_equal(np.signbit(result), np.signbit(expected))


def test_batch_norm_axpy_path_same_bits_at_1_2_3_threads_and_as_emulation(monkeypatch):
    rng = np.random.default_rng(5)
    x = _extremes(np.float32, (1, 3, *_PLANE), rng)
    mean, bias = rng.normal(size=(2, 3)).astype(np.float32)
    var, weight = (rng.random((2, 3)) + 0.5).astype(np.float32)
    before = convlab.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            convlab.set_num_threads(n)
            with np.errstate(all="ignore"):
                results.append(batch_norm_into(x, mean, var, weight, bias, relu=True))
    finally:
        convlab.set_num_threads(before)
    monkeypatch.setattr(_norm, "fused_axpy", lambda dtype: None)
    with np.errstate(all="ignore"):
        results.append(batch_norm_into(x, mean, var, weight, bias, relu=True))
    for r in results[1:]:
        np.testing.assert_array_equal(r.view(np.int32), results[0].view(np.int32))


def test_batch_norm_strided_input_on_the_axpy_path(torch):
    rng = np.random.default_rng(6)
    base = rng.normal(size=(1, 2, 130, 260)).astype(np.float32)
    x = base[:, :, :, ::2]  # a view: copied once, then the fused rows
    mean, var = np.float32([0.1, -0.2]), np.float32([1.5, 0.25])
    got = batch_norm(x, mean, var)
    expected = torch.nn.functional.batch_norm(
        torch.from_numpy(x.copy()), torch.from_numpy(mean), torch.from_numpy(var), training=False
    )
    np.testing.assert_array_equal(got, expected.numpy())


@pytest.mark.slow
@pytest.mark.parametrize("dtype", _DTYPES)
def test_rows_tie_biased_sweep(dtype):
    rng = np.random.default_rng(12)
    a, b, c = _tie_biased(rng, 30_000, dtype)
    _check_rows(np.stack([a, -a], axis=1)[None], b, c, dtype)
    if dtype == np.float32:
        a, b, c = _midpoints32(rng, 30_000)
        _check_rows(np.stack([a, -a], axis=1)[None], b, c, dtype)


@pytest.mark.parametrize("block", [999, 1 << 14, 1 << 18])
def test_batch_norm_axpy_blocks_split_and_group_rows(torch, monkeypatch, block):
    # 999: every row cut into segments (the address arithmetic of a row's later
    # blocks); 2**14: one row a block; 2**18: several rows (channels) a block.
    _need_fused(np.float32)
    monkeypatch.setattr(_fused_axpy, "_BLOCK", block)
    rng = np.random.default_rng(block)
    x = _extremes(np.float32, (2, 3, *_PLANE), rng)
    mean, bias = rng.normal(size=(2, 3)).astype(np.float32)
    var, weight = (rng.random((2, 3)) + 0.5).astype(np.float32)
    t = [torch.from_numpy(v) for v in (x, mean, var, weight, bias)]
    expected = torch.relu(torch.nn.functional.batch_norm(*t, training=False)).numpy()
    with np.errstate(all="ignore"):
        got = batch_norm_into(x.copy(), mean, var, weight, bias, relu=True, inplace=True)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))
