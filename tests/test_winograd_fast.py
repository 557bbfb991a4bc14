"""Winograd's fast path: slabs, threads, transform passes and the transformed-kernel cache.

Every result is held against a float64 GEMM convolution (the exact route)
within the bound tests/test_winograd.py states, and against the naive loop
reference for small cases; the cache is held to *never* reuse a kernel whose
weight changed.
"""

from __future__ import annotations

import gc
from unittest import mock

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import reference_conv as ref
from convlab import memory_limit
from convlab.functional import _winograd_kernels as kernels
from convlab.functional import _winograd_slabs as slabs
from convlab.functional import algorithm, conv1d, conv2d, conv3d
from convlab.functional._winograd import winograd_conv
from convlab.functional._winograd_passes import input_transform
from test_winograd import bound_scale

CONV = {1: conv1d, 2: conv2d, 3: conv3d}
BOUND = 1e-4  # float32 F(4, 3) against float64, relative to the largest output (tests/test_winograd.py)


def _exact(x, w, pads, groups):
    conv = CONV[x.ndim - 2]
    return conv(x.astype(np.float64), w.astype(np.float64), padding=pads, groups=groups)


def _assert_within_bound(got, exact, bound=BOUND, magnitude=None):
    """``magnitude``: the layer's ``sum |w x|`` (``_exact(|x|, |w|, ...)``), where an output may cancel."""
    assert got.shape == exact.shape
    scale = np.abs(exact).max() if magnitude is None else bound_scale(exact, magnitude)
    assert np.abs(got - exact).max() <= bound * scale


@st.composite
def layers(draw):
    ndim = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in, c_out = groups * draw(st.integers(1, 5)), groups * draw(st.integers(1, 5))
    size = tuple(draw(st.integers(1, 23 if ndim < 3 else 9)) for _ in range(ndim))
    pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(ndim))
    size = tuple(max(n, 3 - lo - hi) for n, (lo, hi) in zip(size, pads))
    return draw(st.integers(1, 3)), groups, c_in, c_out, size, pads


PLANS = [
    (1, 1),
    (1 << 30, 128),
    (1, 1 << 30),
]  # (SLAB_BYTES, MIN_TILES): a tile row a slab, default, one slab


@given(layers(), st.sampled_from(PLANS), st.booleans(), st.sampled_from([4, 6]), st.integers(0, 2**31))
@example((1, 1, 1, 1, (3,), ((2, 2),)), PLANS[0], False, 4, 0)  # 1-d: the slabs cut the last axis
@example((1, 1, 1, 1, (2,), ((1, 0),)), PLANS[0], False, 6, 3)  # one output, a cancellation (see bound_scale)
@example((2, 2, 4, 6, (13, 9), ((2, 0), (1, 2))), PLANS[0], True, 6, 1)
@example((1, 1, 3, 2, (7, 5, 6), ((0, 1), (2, 2), (1, 0))), PLANS[0], True, 4, 2)
@settings(max_examples=160, deadline=None)
def test_every_slab_plan_equals_float64(layer, plan, threads, tile, seed):
    """Slabs of one tile row each (most slabs: the pool), one slab for all, with and without threads;
    both tiles the fast path picks from (F(4, 3), and F(6, 3) for large 2-d layers)."""
    batch, groups, c_in, c_out, size, pads = layer
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, c_in, *size)).astype(np.float32)
    w = (rng.normal(size=(c_out, c_in // groups, *(3,) * len(size))) / 3).astype(np.float32)
    slab_bytes, min_tiles = plan
    with (
        mock.patch.object(slabs, "SLAB_BYTES", slab_bytes),
        mock.patch.object(slabs, "MIN_TILES", min_tiles),
        mock.patch.object(slabs._threads, "thread_count", lambda: 2 if threads else 1),
    ):
        got = winograd_conv(x, w, pads, groups, tile)
    # Layers this small can have a single output that cancels: bounded by its terms' magnitude then.
    magnitude = _exact(np.abs(x), np.abs(w), pads, groups)
    _assert_within_bound(got, _exact(x, w, pads, groups), magnitude=magnitude)


@pytest.mark.parametrize("tile", [1, 2, 3, 4])
def test_passes_equal_the_naive_loop_in_float64(tile):
    rng = np.random.default_rng(tile)
    x, w = rng.normal(size=(2, 4, 11, 9)), rng.normal(size=(6, 2, 3, 3))
    pads = ((2, 1), (0, 2))
    expected = ref.conv(x, w, None, (1, 1), pads, (1, 1), 2)
    got = winograd_conv(x, w, pads, 2, tile)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * np.abs(expected).max())


def test_split_and_pooled_slabs_agree_with_one_slab():
    """The same layer cut three ways: one slab with split transforms, many slabs on the pool, serial."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 64, 30, 27)).astype(np.float32)
    w = (rng.normal(size=(64, 64, 3, 3)) / 24).astype(np.float32)
    exact = _exact(x, w, ((1, 1), (1, 1)), 1)
    results = []
    for slab_bytes, min_tiles in ((1 << 30, 1 << 30), (1, 1)):
        for count in (1, 2):
            with (
                mock.patch.object(slabs, "SLAB_BYTES", slab_bytes),
                mock.patch.object(slabs, "MIN_TILES", min_tiles),
                mock.patch.object(slabs._threads, "thread_count", lambda count=count: count),
            ):
                results.append(winograd_conv(x, w, ((1, 1), (1, 1)), 1, 4))
    for got in results:
        _assert_within_bound(got, exact)
    # Splitting the transforms over channel blocks changes no arithmetic.
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_slab_rows_bounds(threads):
    def u(points, c_out, c_in):  # the transformed kernel's bytes, float32
        return points * c_out * c_in * 4

    with mock.patch.object(slabs._threads, "thread_count", lambda: threads):
        assert slabs.slab_rows(142, 142, 128, 36, 4, u(36, 64, 64)) == 1  # 64 -> 64 at 570: a few MiB a slab
        assert slabs.slab_rows(98, 98, 192, 36, 4, u(36, 64, 128)) == 1  # 128 -> 64 at 392
        # 128 -> 128 at 256^2, F(6, 3): U is 4 MiB, 32 tiles, one row of 43 holds them
        assert slabs.slab_rows(43, 43, 256, 64, 4, u(64, 128, 128)) == 1
        # 256 -> 128: U 8 MiB wants 64 tiles, two rows
        assert slabs.slab_rows(43, 43, 384, 64, 4, u(64, 128, 256)) == 2
        assert slabs.slab_rows(7, 7, 2048, 36, 4, u(36, 1024, 1024)) == 7  # 1024 at 30: everything, one slab
        assert slabs.slab_rows(3, 1, 2, 36, 4) == 3
        assert slabs.slab_rows(40, 5, 8192, 36, 4) == 7  # over SLAB_BYTES a row: MIN_TILES tiles
        # 512 -> 512 at 64: U wants 288 tiles, 18 rows; fewer (not below MIN_TILES) for POOL_SLABS slabs
        assert slabs.slab_rows(16, 16, 1024, 36, 4, u(36, 512, 512)) == 4
        # 512 -> 256 at 128^2, F(6, 3): U 32 MiB wants 256 tiles; POOL_SLABS slabs of 6 rows, 4 of them
        assert slabs.slab_rows(22, 22, 768, 64, 4, u(64, 256, 512)) == 6
        assert slabs.slab_rows(12, 7, 128, 64, 4, u(64, 64, 64)) == 12  # 3 rows a slab: under MIN_TILES


@pytest.mark.parametrize("items, split", [(4, False), (1, True)])
def test_slabs_hold_blas_to_one_thread_and_restore_it(items, split):
    """Slabs on the pool, and a lone slab that splits its steps over the pool, run their GEMMs
    single-threaded: the pool is the parallelism, and BLAS's threads would spin after it."""
    from convlab.functional import _blas

    if not _blas.can_single_thread():
        pytest.skip("NumPy's BLAS exposes no thread count")
    before, seen = _blas.blas_threads(), []
    with mock.patch.object(slabs._threads, "thread_count", lambda: 2):
        slabs.run_slabs(
            lambda item, split: seen.append((split, _blas.blas_threads())), [(i,) for i in range(items)]
        )
    assert seen == [(split, 1)] * items and _blas.blas_threads() == before


@pytest.mark.parametrize(
    "c_in, c_out, size, groups",
    [(64, 64, (72, 40), 1), (96, 64, (45, 31), 1), (128, 128, (20, 22), 2), (32, 32, (12, 9, 10), 1)],
)
def test_results_do_not_depend_on_the_thread_count(c_in, c_out, size, groups):
    """1, 2 and 3 threads run the slabs differently (2 on the pool of one thread, or one at a
    time split over two or three) and give the same bits, within the bound of float64. The
    cut may not follow the thread count: it did (6 tile rows a slab at 72 x 40 on one thread,
    12 on two), and OpenBLAS rounds a GEMM's columns by where they fall in the call."""
    from convlab.functional import _threads, set_num_threads

    rng = np.random.default_rng(c_in + c_out)
    x = rng.normal(size=(2, c_in, *size)).astype(np.float32)
    w = (rng.normal(size=(c_out, c_in // groups, *(3,) * len(size))) / 24).astype(np.float32)
    pads = ((1, 1),) * len(size)
    results = []
    for threads in (1, 2, 3):
        with mock.patch.dict(_threads._chosen), algorithm("winograd"):
            set_num_threads(threads)
            results.append(CONV[len(size)](x, w, padding=1, groups=groups))
    for got in results[1:]:
        np.testing.assert_array_equal(got.view(np.uint32), results[0].view(np.uint32))
    _assert_within_bound(results[0], _exact(x, w, pads, groups))


def test_arena_reuses_its_buffer_after_the_first_slab():
    arena = slabs.Arena()
    sizes = [(3, 5), (7,), (2, 2, 2)]
    first = [arena(s, np.dtype(np.float32)) for s in sizes]
    arena.reset()
    second = [arena(s, np.dtype(np.float32)) for s in sizes]
    arena.reset()
    third = [arena(s, np.dtype(np.float32)) for s in sizes]
    assert [a.shape for a in third] == sizes and all(a.dtype == np.float32 for a in third)
    assert all(np.shares_memory(a, b) for a, b in zip(second, third))
    for a, value in zip(third, (1.0, 2.0, 3.0)):  # consecutive views never overlap
        a[...] = value
    assert [float(a.ravel()[0]) for a in third] == [1.0, 2.0, 3.0]
    assert not any(np.shares_memory(a, b) for a, b in zip(first, third))


def test_input_transform_is_bt_d_b_of_every_tile_and_writes_a_range_of_planes():
    from convlab.functional._winograd_conv import _planes_slab
    from convlab.functional._winograd_matrices import per_axis

    _, _, bt = per_axis(4, (3, 3), np.dtype(np.float64))
    x = np.random.default_rng(1).normal(size=(3, 10, 12))
    d = _planes_slab(x, ((0, 0), (0, 0)), 0, [10, 12], 4, 1, np.empty)  # 2 x 2 tiles, 3 blocks a row
    whole = input_transform(d, bt, 4, [2, 2])
    assert whole.shape == (6, 2, 6, 3 * 3)  # (alpha, row tiles, alpha, C * blocks)
    for c in range(3):
        for t in range(2):
            for j in range(2):  # block 2 of every channel is junk
                tile = x[c, 4 * t : 4 * t + 6, 4 * j : 4 * j + 6]
                expected = bt[0] @ tile @ bt[1].T
                np.testing.assert_allclose(whole[:, t, :, 3 * c + j], expected, rtol=1e-14, atol=1e-12)
    block = np.full(whole.shape, np.nan)
    input_transform(d[..., 3:7], bt, 4, [2, 2], out=block[..., 3:6])  # channel 1, one element of slack
    np.testing.assert_array_equal(block[..., 3:6], whole[..., 3:6])
    assert np.isnan(block[..., :3]).all() and np.isnan(block[..., 6:]).all()


# ---------------------------------------------------------------- the kernel cache


@pytest.fixture
def cache():
    kernels.clear_kernel_cache()
    yield kernels
    kernels.clear_kernel_cache()


def _layer(seed=0, channels=64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(1, channels, 12, 12)).astype(np.float32)
    w = (rng.normal(size=(channels, channels, 3, 3)) / 24).astype(np.float32)
    return x, w


def _counting_transform():
    return mock.patch.object(kernels, "transformed_kernel", wraps=kernels.transformed_kernel)


def test_cache_reuses_the_transformed_kernel_of_the_same_array(cache):
    x, w = _layer()
    with _counting_transform() as transform, algorithm("winograd"):
        first = conv2d(x, w, padding=1)
        second = conv2d(x, w, padding=1)
    assert transform.call_count == 1
    np.testing.assert_array_equal(first, second)
    assert cache.kernel_cache_bytes() == w.nbytes * (1 + 4)  # the copy and G w G^T (36 / 9 points)


def test_cache_sees_a_weight_changed_in_place(cache):
    x, w = _layer()
    pads = ((1, 1), (1, 1))
    with algorithm("winograd"):
        before = conv2d(x, w, padding=1)
        w[3, 5, 1, 2] += 1.0  # an optimizer step, load_state_dict into the same buffer...
        stepped = w.copy()
        after = conv2d(x, w, padding=1)
        w[...] = np.flip(w, axis=0)
        flipped = conv2d(x, w, padding=1)
    assert not np.array_equal(before, after)
    _assert_within_bound(after, _exact(x, stepped, pads, 1))
    np.testing.assert_array_equal(after, winograd_conv(x, stepped, pads, 1, 4))
    _assert_within_bound(flipped, _exact(x, w, pads, 1))
    np.testing.assert_array_equal(flipped, winograd_conv(x, w, pads, 1, 4))


def test_cache_compares_bits_not_values(cache):
    """-0.0 == 0.0 and NaN != NaN as floats; the cache must see both as what they are."""
    x, w = _layer()
    w[0, 0, 0, 0] = 0.0
    with _counting_transform() as transform, algorithm("winograd"):
        conv2d(x, w, padding=1)
        w[0, 0, 0, 0] = -0.0
        conv2d(x, w, padding=1)
        w[0, 0, 0, 0] = np.nan
        conv2d(x, w, padding=1)
        conv2d(x, w, padding=1)  # the same NaN bits: reused
    assert transform.call_count == 3


def test_cache_never_confuses_two_arrays(cache):
    x, w = _layer()
    other = w.copy()
    other[0] *= -1
    with _counting_transform() as transform, algorithm("winograd"):
        a = conv2d(x, w, padding=1)
        b = conv2d(x, other, padding=1)
        c = conv2d(x, w.copy(), padding=1)  # equal values, another array: transformed again
    assert transform.call_count == 3
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(b, winograd_conv(x, other, ((1, 1), (1, 1)), 1, 4))


def test_cache_forgets_dead_weights_and_respects_the_memory_limit(cache):
    x, w = _layer()
    with algorithm("winograd"):
        conv2d(x, w, padding=1)
    assert cache.kernel_cache_bytes() > 0
    del w
    gc.collect()
    assert cache.kernel_cache_bytes() == 0
    x, w = _layer(1)
    with algorithm("winograd"), memory_limit(4 * 5 * w.nbytes - 1):  # a quarter is less than copy + G w G^T
        got = conv2d(x, w, padding=1)
    assert cache.kernel_cache_bytes() == 0
    _assert_within_bound(got, _exact(x, w, ((1, 1), (1, 1)), 1))


def test_a_model_forward_transforms_each_kernel_once(cache):
    from convlab.models import UNet, UNetConfig

    net = UNet(UNetConfig(width=64, depth=1, padding="same"), seed=2).to(np.float32)
    image = np.random.default_rng(0).normal(size=(1, 1, 20, 20)).astype(np.float32)
    with _counting_transform() as transform, algorithm("winograd"):
        first = net(image)
        calls = transform.call_count
        second = net(image)
    assert calls >= 2 and transform.call_count == calls  # the second pass reused every kernel
    np.testing.assert_array_equal(first, second)


@given(st.lists(st.integers(1, 9), min_size=1, max_size=3), st.data())
@settings(max_examples=80, deadline=None)
def test_planes_slab_is_the_padded_slab_with_channels_inside(size, data):
    from convlab.functional._winograd_conv import _planes_slab

    m, slack = data.draw(st.sampled_from([1, 2, 4])), data.draw(st.integers(0, 2))
    pads = tuple((data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))) for _ in size)
    start = data.draw(st.integers(0, size[0] + sum(pads[0]) - 1))
    sizes = [data.draw(st.integers(1, 12)) for _ in size]
    sizes[-1] = m * data.draw(st.integers(1, 6))
    x = np.random.default_rng(0).normal(size=(2, *size))
    padded = np.pad(x, [(0, 0), *pads])[:, start:]  # rows from start, the slab's rows of padded x
    padded = np.pad(padded, [(0, 0), *((0, max(0, n - s)) for n, s in zip(sizes, padded.shape[1:]))])
    padded = padded[(slice(None), *(slice(0, n) for n in sizes))]  # (C, *sizes)
    phases = padded.reshape(*padded.shape[:-1], -1, m)  # (C, *rows, blocks, m)
    planes = np.moveaxis(np.moveaxis(phases, -1, 0), 1, -2)  # (m, *rows, C, blocks)
    planes = np.moveaxis(planes, 0, -3)  # (*rows, m, C, blocks)
    expected = np.concatenate(
        [planes.reshape(*planes.shape[:-2], -1), np.zeros((*planes.shape[:-2], slack))], axis=-1
    )
    np.testing.assert_array_equal(_planes_slab(x, pads, start, sizes, m, slack, np.empty), expected)


def test_cache_sees_a_change_in_any_block_of_a_large_weight(cache):
    """The comparison runs in 1 MiB blocks on the pool: a change in the last block counts too."""
    x, w = _layer(3, channels=256)  # 2.4 MB of weights: three blocks
    with _counting_transform() as transform, algorithm("winograd"):
        conv2d(x, w, padding=1)
        conv2d(x, w, padding=1)
        w.reshape(-1)[-1] += 1.0
        changed = conv2d(x, w, padding=1)
    assert transform.call_count == 2
    np.testing.assert_array_equal(changed, winograd_conv(x, w, ((1, 1), (1, 1)), 1, 4))


def test_non_finite_inputs_get_the_gemm_result():
    """inf - inf in the input transform would make NaN beside an inf; the fast path hands
    such convolutions to the exact GEMM rows, so the result equals the default path's and
    torch's (inf where the window meets the inf, NaN only from NaN)."""
    import torch

    from convlab.functional import algorithm, conv2d

    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 64, 12, 12)).astype(np.float32)
    w = np.abs(rng.standard_normal((64, 64, 3, 3))).astype(np.float32)  # same-sign taps: inf stays inf
    x[0, 3, 5, 5] = np.inf
    x[0, 7, 9, 2] = np.nan
    with algorithm("winograd"):
        got = conv2d(x, w, padding=1)
    expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    assert np.isinf(got).any() and np.isnan(got).any()
    np.testing.assert_array_equal(got, conv2d(x, w, padding=1))


@given(layers(), st.booleans(), st.booleans(), st.sampled_from([4, 6]), st.integers(0, 2**31))
@example((1, 1, 2, 3, (9, 7), ((1, 1), (0, 2))), True, True, 4, 3)
@settings(max_examples=60, deadline=None)
def test_fused_bias_and_relu_equal_the_unfused_epilogue_bit_for_bit(layer, bias, relu, tile, seed):
    """The epilogue runs on each slab's tiles in cache: the same float32 sum and max(0, .) per
    element as adding the bias and applying ReLU to the whole result afterwards."""
    from convlab.functional._conv import conv_nd

    batch, groups, c_in, c_out, size, pads = layer
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, c_in, *size)).astype(np.float32)
    w = (rng.normal(size=(c_out, c_in // groups, *(3,) * len(size))) / 3).astype(np.float32)
    b = rng.normal(size=c_out).astype(np.float32) if bias else None
    with (
        mock.patch("convlab.functional._winograd.pays", lambda *a: True),  # small layers too
        mock.patch("convlab.functional._winograd.tile", lambda args: tile),
    ):
        got = conv_nd(x, w, b, 1, pads, 1, groups, "zeros", len(size), "winograd", relu=relu)
    expected = winograd_conv(x, w, pads, groups, tile)
    if b is not None:
        expected += b.reshape(-1, *(1,) * len(size))
    if relu:
        np.maximum(np.float32(0), expected, out=expected)
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))  # -0.0 kept too


def test_a_fused_relu_does_not_hide_a_non_finite_tile():
    """-inf - -inf is NaN in the transforms; ReLU of the GEMM's -inf is 0, of Winograd's NaN NaN:
    the check runs before the epilogue, so the exact GEMM recomputes the layer."""
    from convlab.functional._conv import conv_nd

    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 64, 10, 10)).astype(np.float32)
    w = np.abs(rng.standard_normal((64, 64, 3, 3))).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    x[0, 2, 4, 4] = -np.inf
    got = conv_nd(x, w, b, 1, 1, 1, 1, "zeros", 2, "winograd", relu=True)
    expected = conv_nd(x, w, b, 1, 1, 1, 1, "zeros", 2, "gemm", relu=True)
    np.testing.assert_array_equal(got, expected)
    assert not np.isnan(got).any() and (got[0, :, 3:6, 3:6] == 0).all()


def test_the_large_tile_runs_large_2d_layers_within_its_bound():
    """F(6, 3) where the tiles outnumber the output channels (2-d only), F(4, 3) elsewhere, and F(4, 3)
    when F(6, 3)'s workspace would not fit; the result is held to the same float64 bound."""
    from types import SimpleNamespace

    from convlab.functional import _winograd, workspace_limit

    def args(c_out, out_shape, groups=1):
        w = np.zeros((c_out, 8, *(3,) * len(out_shape)), np.float32)
        x = np.zeros((1, 8 * groups, *(o + 2 for o in out_shape)), np.float32)
        return SimpleNamespace(x=x, w=w, groups=groups, out_shape=out_shape)

    assert _winograd.tile(args(49, (28, 28))) == 6 and _winograd.tile(args(50, (28, 28))) == 4  # 7 x 7 tiles
    assert _winograd.tile(args(98, (28, 28), groups=2)) == 6  # channels per group: 49
    assert _winograd.tile(args(8, (28,))) == 4 and _winograd.tile(args(8, (12, 12, 12))) == 4
    with workspace_limit(_winograd._workspace(args(8, (28, 28)), 6) - 1):
        assert _winograd.tile(args(8, (28, 28))) == 4
    rng = np.random.default_rng(11)
    x = rng.normal(size=(1, 64, 50, 47)).astype(np.float32)
    w = (rng.normal(size=(64, 64, 3, 3)) / 24).astype(np.float32)
    b = rng.normal(size=64).astype(np.float32)
    with mock.patch.object(kernels, "transformed_kernel", wraps=kernels.transformed_kernel) as transform:
        got = conv2d(x, w, b, padding=1, algorithm="winograd")
    assert transform.call_args.args[1][0].shape == (8, 3)  # G of F(6, 3): 12 x 12 tiles of 4 >= 64
    exact = conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), padding=1)
    _assert_within_bound(got, exact)
