"""Winograd F(m, r): exact rational transforms; the route against float64 GEMM, the naive loop, torch."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_conv as ref
from convlab import ConvlabError, lowering
from convlab.functional import conv1d, conv2d, conv3d
from convlab.functional._winograd import winograd_conv

CONV = {1: conv1d, 2: conv2d, 3: conv3d}
# The bound the tests hold float32 to, relative to the largest output value:
# tile 2 and 4 (the fast path's default) on every configuration drawn below.
FLOAT32_BOUND = {1: 1e-5, 2: 1e-5, 4: 1e-4, 6: 1e-4}
# ... unless every output is a cancellation: a rounding error scales with the
# products' magnitudes sum |w x|, not with a sum that cancels (a 1-d layer of
# one output 6.5e-4 from O(1) terms measured 4e-4 of itself, 2.6e-7 of its
# terms). So the scale is the largest output, but at least this fraction of
# the largest sum |w x|: on any layer whose largest output is not itself a
# cancellation the bound is the one above, unchanged.
CANCELLATION = 1e-2


def bound_scale(expected, magnitude):
    """The value the bounds are relative to: ``max|expected|``, at least ``CANCELLATION * max(magnitude)``.

    ``magnitude`` is the same convolution of ``|x|`` and ``|w|`` (and ``|b|``).
    """
    return max(np.abs(expected).max(), CANCELLATION * np.max(magnitude), 1e-300)


def _correlate(d: list, g: list, m: int) -> list:
    return [sum(g[k] * d[i + k] for k in range(len(g))) for i in range(m)]


@pytest.mark.parametrize("m", range(1, 9))
@pytest.mark.parametrize("r", range(1, 6))
def test_transforms_compute_the_correlation_exactly_1d(m, r):
    t = lowering.winograd_transform(m, r)
    rng = np.random.default_rng(m * 10 + r)
    for _ in range(5):
        d = [Fraction(int(v)) for v in rng.integers(-9, 10, m + r - 1)]
        g = [Fraction(int(v)) for v in rng.integers(-9, 10, r)]
        transformed = (t.G @ np.array(g, dtype=object)) * (t.B_T @ np.array(d, dtype=object))
        assert list(t.A_T @ transformed) == _correlate(d, g, m)
    assert all(v.denominator == 1 for v in t.B_T.ravel())  # Lavin's normalisation: integer B^T
    assert t.A_T.shape == (m, t.alpha) and t.G.shape == (t.alpha, r) and t.B_T.shape == (t.alpha, t.alpha)


@pytest.mark.parametrize("m", [2, 4, 6])
def test_transforms_compute_the_correlation_exactly_2d(m):
    t = lowering.winograd_transform(m, 3)
    rng = np.random.default_rng(m)
    d = np.array(
        [[Fraction(int(v)) for v in row] for row in rng.integers(-9, 10, (m + 2, m + 2))], dtype=object
    )
    g = np.array([[Fraction(int(v)) for v in row] for row in rng.integers(-9, 10, (3, 3))], dtype=object)
    y = t.A_T @ ((t.G @ g @ t.G.T) * (t.B_T @ d @ t.B_T.T)) @ t.A_T.T
    expected = [
        [sum(g[a, b] * d[i + a, j + b] for a in range(3) for b in range(3)) for j in range(m)]
        for i in range(m)
    ]
    assert y.tolist() == expected


def test_f23_has_lavins_matrices_up_to_row_signs():
    t = lowering.winograd_transform(2, 3)
    lavin_bt = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
    np.testing.assert_array_equal(np.abs(t.B_T.astype(int)), np.abs(lavin_bt))
    assert t.points == (0, 1, -1, None)
    at, g, bt = t.as_float()
    assert at.dtype == g.dtype == bt.dtype == np.float64


@st.composite
def configs(draw):
    ndim = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 2]))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    k = tuple(draw(st.sampled_from([1, 2, 3, 3, 5])) for _ in range(ndim))
    size = tuple(draw(st.integers(kk, kk + (9 if ndim < 3 else 4))) for kk in k)
    stride = tuple(draw(st.sampled_from([1, 1, 2])) for _ in range(ndim))
    padding = draw(
        st.one_of(
            st.just(0), st.just("same"), st.tuples(*(st.tuples(st.integers(0, 2), st.integers(0, 2)),) * ndim)
        )
    )
    if padding == "same":
        stride = (1,) * ndim
    dilation = tuple(draw(st.sampled_from([1, 1, 2])) for _ in range(ndim)) if padding == 0 else (1,) * ndim
    dilation = tuple(1 if (kk - 1) * dd + 1 > n else dd for kk, dd, n in zip(k, dilation, size))
    batch, tile, bias = draw(st.integers(1, 2)), draw(st.sampled_from([1, 2, 3, 4, 6])), draw(st.booleans())
    return ndim, groups, c_in, c_out, k, size, stride, padding, dilation, batch, tile, bias


@given(configs(), st.integers(0, 2**31))
@settings(max_examples=150)
def test_winograd_equals_float64_gemm(cfg, seed):
    ndim, groups, c_in, c_out, k, size, stride, padding, dilation, batch, tile, bias = cfg
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, c_in, *size))
    w = rng.normal(size=(c_out, c_in // groups, *k))
    b = rng.normal(size=c_out) if bias else None
    expected = CONV[ndim](x, w, b, stride, padding, dilation, groups)
    got64 = lowering.conv_by_winograd(x, w, b, stride, padding, dilation, groups, tile=tile)
    b_abs = None if b is None else np.abs(b)
    magnitude = CONV[ndim](np.abs(x), np.abs(w), b_abs, stride, padding, dilation, groups)
    scale = bound_scale(expected, magnitude)
    assert got64.shape == expected.shape and got64.dtype == np.float64
    assert np.abs(got64 - expected).max() <= 1e-11 * scale
    got32 = lowering.conv_by_winograd(
        x.astype(np.float32), w.astype(np.float32), None if b is None else b.astype(np.float32),
        stride, padding, dilation, groups, tile=tile,
    )  # fmt: skip
    assert got32.dtype == np.float32
    if max(k) <= 3:
        assert np.abs(got32 - expected).max() <= FLOAT32_BOUND[tile if tile != 3 else 4] * scale


def test_winograd_equals_the_naive_loop():
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(2, 4, 7, 6)), rng.normal(size=(6, 2, 3, 3)), rng.normal(size=6)
    pads = ((1, 2), (0, 1))
    expected = ref.conv(x, w, b, (1, 1), pads, (1, 1), 2)
    got = lowering.conv_by_winograd(x, w, b, padding=pads, groups=2, tile=4)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize(("c", "size"), [(16, 34), (32, 17)])
def test_winograd_float32_on_unet_like_layers_within_bound(torch, c, size):
    rng = np.random.default_rng(c)
    x = rng.normal(size=(1, c, size, size)).astype(np.float32)
    w = (rng.normal(size=(c, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    exact = torch.nn.functional.conv2d(
        torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=1
    ).numpy()
    for tile in (2, 4, 6):
        got = winograd_conv(x, w, ((1, 1), (1, 1)), 1, tile)
        assert np.abs(got - exact).max() <= FLOAT32_BOUND[tile] * np.abs(exact).max()


def test_return_transforms_one_per_axis():
    x, w = np.ones((1, 1, 6, 5, 4)), np.ones((1, 1, 3, 2, 1))
    out, transforms = lowering.conv_by_winograd(x, w, tile=4, return_transforms=True)
    assert [(t.m, t.r) for t in transforms] == [(4, 3), (4, 2), (4, 1)]
    np.testing.assert_array_equal(out, np.full((1, 1, 4, 4, 4), 6.0))


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        ({"tile": 0}, ConvlabError, "tile"),
        ({"tile": 2.5}, TypeError, "tile"),
        ({"tile": 13}, ConvlabError, "tile"),
        ({"return_transforms": 1}, TypeError, "return_transforms"),
        ({"stride": 0}, ConvlabError, "stride"),
    ],
)
def test_winograd_errors_name_the_parameter(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        lowering.conv_by_winograd(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), **kwargs)


def test_winograd_transform_errors():
    with pytest.raises(ConvlabError, match="m"):
        lowering.winograd_transform(0)
    with pytest.raises(ConvlabError, match="m \\+ r - 1"):
        lowering.winograd_transform(12, 4)


def _strategy_args(kernel=3, stride=1, transposed=False, channels=128, groups=2):
    from types import SimpleNamespace

    windows = [SimpleNamespace(kernel=kernel, stride=stride, dilation=1, lo=1, hi=1)] * 2
    x = np.random.default_rng(0).normal(size=(2, channels, 9, 10)).astype(np.float32)
    w = np.random.default_rng(1).normal(size=(channels, channels // groups, kernel, kernel))
    w = w.astype(np.float32)
    return SimpleNamespace(x=x, w=w, groups=groups, windows=windows, transposed=transposed, out_shape=(9, 10))


def test_strategy_interface_applies_and_runs():
    from convlab.functional import _winograd

    args = _strategy_args
    assert _winograd.applies(args()) and not _winograd.applies(args(kernel=5))
    assert not _winograd.applies(args(stride=2)) and not _winograd.applies(args(transposed=True))
    a = args()
    expected = conv2d(a.x.astype(np.float64), a.w.astype(np.float64), padding=1, groups=2)
    got = _winograd.run(a)
    assert got.dtype == np.float32 and _winograd.workspace(a) > a.w.nbytes * 4  # at least G w G^T
    assert np.abs(got - expected).max() <= FLOAT32_BOUND[_winograd.DEFAULT_TILE] * np.abs(expected).max()


@pytest.mark.parametrize(
    ("channels", "groups", "pays"),
    [(128, 2, True), (64, 1, True), (32, 1, False), (64, 2, False), (128, 128, False)],
)
def test_winograd_applies_where_it_pays(channels, groups, pays):
    from convlab.functional import _winograd

    assert _winograd.applies(_strategy_args(channels=channels, groups=groups)) is pays
    # Per group: C_in * C_out / (C_in + C_out) >= 24, i.e. 48 -> 48 is the smallest square layer.
    assert _winograd.pays(48, 48) and not _winograd.pays(47, 48) and not _winograd.pays(3, 1024)
    assert _winograd.pays(36, 72) and not _winograd.pays(35, 72)
    assert _winograd.pays(128, 128, 1) and not _winograd.pays(127, 128, 1)  # 1-d saves less: 3 -> 1.5
    assert _winograd.pays(24, 24, 3) and not _winograd.pays(23, 24, 3)  # 3-d saves more: 27 -> 3.4


def test_small_layers_under_winograd_run_the_exact_gemm():
    from convlab.functional import algorithm

    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 16, 20, 19)).astype(np.float32)
    w = (rng.normal(size=(16, 16, 3, 3)) / 12).astype(np.float32)
    with algorithm("winograd"):
        got = conv2d(x, w, padding=1)
    np.testing.assert_array_equal(got, conv2d(x, w, padding=1))


def test_algorithm_winograd_runs_conv_and_a_whole_model():
    from convlab.functional import algorithm
    from convlab.models import UNet, UNetConfig

    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 64, 20, 19)).astype(np.float32)
    w = (rng.normal(size=(72, 64, 3, 3)) / 24).astype(np.float32)
    b = rng.normal(size=72).astype(np.float32)
    exact = conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), padding=1)
    by_keyword = conv2d(x, w, b, padding=1, algorithm="winograd")
    with algorithm("winograd"):
        by_context = conv2d(x, w, b, padding=1)
        strided = conv2d(x, w, b, stride=2)  # not Winograd's: falls back to the exact GEMM
    np.testing.assert_array_equal(by_keyword, by_context)
    assert np.abs(by_keyword - exact).max() <= FLOAT32_BOUND[4] * np.abs(exact).max()
    assert not np.array_equal(by_keyword, conv2d(x, w, b, padding=1))  # really a different route
    np.testing.assert_array_equal(strided, conv2d(x, w, b, stride=2))
    net = UNet(UNetConfig(width=32, depth=2, padding="same"), seed=1)
    image = rng.normal(size=(1, 1, 36, 36)).astype(np.float32)
    reference = net.to(np.float64)(image.astype(np.float64))
    net = net.to(np.float32)
    with algorithm("winograd"):
        fast = net(image)
    assert np.abs(fast - reference).max() <= FLOAT32_BOUND[4] * np.abs(reference).max()
    assert not np.array_equal(fast, net(image))  # its 64-channel layers ran Winograd
