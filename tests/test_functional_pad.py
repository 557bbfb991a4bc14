"""``convlab.functional.pad`` against a naive loop reference and PyTorch; exact equality."""

from __future__ import annotations

import contextlib
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab import ConvlabError
from convlab.functional._pad import pad

MODES = ("constant", "reflect", "replicate", "circular")


# ---------------------------------------------------------------- naive reference


def _fold(k: int, n: int, mode: str) -> int | None:
    """Input index of position k (in un-padded coordinates); None means the fill value."""
    if 0 <= k < n:
        return k
    if mode == "constant":
        return None
    if mode == "replicate":
        return 0 if k < 0 else n - 1
    if mode == "circular":
        return k % n
    while not 0 <= k < n:
        k = -k if k < 0 else 2 * (n - 1) - k
    return k


def naive_pad(x: np.ndarray, pads: tuple[int, ...], mode: str, value: float = 0) -> np.ndarray:
    pairs = [(pads[i], pads[i + 1]) for i in range(len(pads) - 2, -1, -2)]
    first = x.ndim - len(pairs)
    if mode == "circular":
        # Circular crops first, then wraps the cropped array.
        crop = tuple(slice(max(-lo, 0), x.shape[first + i] - max(-hi, 0)) for i, (lo, hi) in enumerate(pairs))
        x = x[(Ellipsis, *crop)]
        pairs = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
    lead = x.shape[:first]
    out_sp = [x.shape[first + i] + lo + hi for i, (lo, hi) in enumerate(pairs)]
    out = np.empty(lead + tuple(out_sp), dtype=x.dtype)
    for idx in itertools.product(*(range(n) for n in out_sp)):
        src = []
        for i, j in enumerate(idx):
            src.append(_fold(j - pairs[i][0], x.shape[first + i], mode))
        if any(s is None for s in src):
            out[(Ellipsis, *idx)] = value
        else:
            out[(Ellipsis, *idx)] = x[(Ellipsis, *src)]
    return out


@st.composite
def pad_cases(draw, modes=MODES, max_dims=3):
    mode = draw(st.sampled_from(modes))
    padded = draw(st.integers(0 if mode == "constant" else 1, max_dims))
    lead = draw(st.lists(st.integers(1, 2), min_size=0, max_size=2))
    sizes = draw(st.lists(st.integers(1, 5), min_size=padded, max_size=padded))
    pads: list[int] = []
    for n in reversed(sizes):
        if mode == "reflect":
            lo, hi = draw(st.integers(-n + 1, n - 1)), draw(st.integers(-n + 1, n - 1))
            if n + lo + hi < 1:
                lo, hi = max(lo, 0), max(hi, 0)
        elif mode == "replicate":
            lo, hi = draw(st.integers(-n, 6)), draw(st.integers(-n, 6))
            if n + lo + hi < 1:
                lo, hi = max(lo, 0), max(hi, 0)
        elif mode == "circular":
            crop_lo = draw(st.integers(0, n - 1))
            crop_hi = draw(st.integers(0, n - 1 - crop_lo))
            m = n - crop_lo - crop_hi
            lo = -crop_lo or draw(st.integers(0, m))
            hi = -crop_hi or draw(st.integers(0, m))
        else:
            crop_lo = draw(st.integers(0, n))
            lo = -crop_lo or draw(st.integers(0, 4))
            hi = draw(st.integers(-(n - crop_lo), 4))
        pads += [lo, hi]
    x = np.arange(np.prod(lead + sizes), dtype=np.float64).reshape(lead + sizes) - 7.5
    x = np.asarray(x)
    return x, tuple(pads), mode


@given(pad_cases(), st.sampled_from([0.0, -2.5]))
@settings(max_examples=150)
def test_pad_equals_naive_reference(case, value):
    x, pads, mode = case
    expected = naive_pad(x, pads, mode, value if mode == "constant" else 0)
    got = pad(x, pads, mode=mode, value=value if mode == "constant" else None)
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.slow
@given(pad_cases(), st.sampled_from([0.0, -2.5]))
@settings(max_examples=10_000)
def test_pad_equals_naive_reference_long(case, value):
    test_pad_equals_naive_reference.hypothesis.inner_test(case, value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8, np.bool_])
@pytest.mark.parametrize("mode", MODES)
def test_pad_keeps_dtype(dtype, mode):
    x = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    got = pad(x, (1, 2, 2, 1), mode=mode)
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, naive_pad(x, (1, 2, 2, 1), mode))


def test_pad_known_values():
    x = np.arange(5.0)
    np.testing.assert_array_equal(pad(x, (-1, 2), mode="reflect"), [1, 2, 3, 4, 3, 2])
    np.testing.assert_array_equal(pad(x, (2, -1), mode="replicate"), [0, 0, 0, 1, 2, 3])
    np.testing.assert_array_equal(pad(x, (-1, 2), mode="circular"), [1, 2, 3, 4, 1, 2])
    np.testing.assert_array_equal(pad(x, (0, -5)), np.empty(0))
    np.testing.assert_array_equal(pad(np.arange(3), (1, 1), value=2.7), [2, 0, 1, 2, 2])


def test_pad_of_nothing_is_a_copy():
    x = np.ones((2, 3))
    for mode in MODES:
        got = pad(x, (), mode=mode)
        np.testing.assert_array_equal(got, x)
        assert not np.shares_memory(got, x)


def test_pad_crop_roundtrip():
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 6))
    for mode in MODES:
        padded = pad(x, (1, 2, 2, 1), mode=mode)
        np.testing.assert_array_equal(pad(padded, (-1, -2, -2, -1)), x)


# ---------------------------------------------------------------- PyTorch


@given(pad_cases(max_dims=3), st.sampled_from([0.0, 1.5]), st.sampled_from([np.float32, np.float64]))
@settings(max_examples=200)
def test_pad_equals_torch(torch, case, value, dtype):
    x, pads, mode = case
    x = x.astype(dtype)
    n_padded = len(pads) // 2
    if mode != "constant":
        # PyTorch's non-constant modes want (N, C, *spatial) or (C, *spatial).
        x = x.reshape((1, -1, *x.shape[x.ndim - n_padded :]))
        if mode == "circular" and any(p < 0 for p in pads) and any(p > 0 for p in pads):
            # PyTorch's circular with mixed signs may fail with an aliasing error.
            return
    kwargs = {"value": value} if mode == "constant" else {}
    expected = torch.nn.functional.pad(torch.from_numpy(x), pads, mode=mode, **kwargs).numpy()
    got = pad(x, pads, mode=mode, **kwargs)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_pad_circular_mixed_signs_torch(torch):
    x = np.arange(10.0).reshape(1, 2, 5)
    for pads in [(-1, 2), (2, -1), (-2, 3), (3, -2), (-1, 4)]:
        expected = torch.nn.functional.pad(torch.from_numpy(x), pads, mode="circular").numpy()
        np.testing.assert_array_equal(pad(x, pads, mode="circular"), expected)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "exc", "names"),
    [
        ({"pad": 1}, TypeError, "pad"),
        ({"pad": (1.5, 1)}, TypeError, "pad"),
        ({"pad": (1,)}, ConvlabError, "pad"),
        ({"pad": (1, 1) * 4}, ConvlabError, "pad"),
        ({"pad": (1, 1), "mode": "wrap"}, ConvlabError, "mode"),
        ({"pad": (1, 1), "mode": "reflect", "value": 2}, ConvlabError, "value"),
        ({"pad": (1, 1), "value": "x"}, TypeError, "value"),
        ({"pad": (-3, -3)}, ConvlabError, "pad"),
        ({"pad": (5, 0), "mode": "reflect"}, ConvlabError, "pad"),
        ({"pad": (-3, -2), "mode": "reflect"}, ConvlabError, "pad"),
        ({"pad": (-3, -2), "mode": "replicate"}, ConvlabError, "pad"),
        ({"pad": (6, 0), "mode": "circular"}, ConvlabError, "pad"),
        ({"pad": (-6, 1), "mode": "circular"}, ConvlabError, "pad"),
    ],
)
def test_pad_errors_name_the_parameter(kwargs, exc, names):
    with pytest.raises(exc, match=names):
        pad(np.zeros((1, 2, 5)), **kwargs)


def test_pad_refuses_non_numeric_input():
    with pytest.raises(TypeError, match="input"):
        pad(np.array(["a", "b"]), (1, 1))


@given(
    st.one_of(
        st.integers(-8, 8), st.lists(st.one_of(st.integers(-8, 8), st.floats(), st.none()), max_size=8)
    ),
    st.sampled_from([*MODES, "bogus", None]),
    st.one_of(st.none(), st.floats(allow_nan=False), st.text(max_size=2)),
)
@settings(max_examples=200)
def test_pad_fuzz_only_value_or_type_errors(pads, mode, value):
    with contextlib.suppress(ValueError, TypeError):
        pad(np.zeros((2, 3, 4)), pads, mode=mode, value=value)
