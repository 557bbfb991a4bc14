"""The exact fast path's fusions and threads: bias+ReLU in the conv's output blocks, the per-tap GEMM
chunks on the pool, BatchNorm+ReLU in place; each against the unfused result bit for bit, against
torch and against the naive loop reference.
"""

from __future__ import annotations

import threading
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings

import convlab.functional as cf
from conv_cases import conv_case
from convlab.functional import _blas, _im2col, _wide
from convlab.functional._conv import conv_nd
from convlab.functional._conv_transpose import conv_transpose_nd
from convlab.functional._epilogue import Epilogue
from convlab.functional._norm import batch_norm_into
from reference_conv import conv as loop_conv
from test_functional_conv import check_conv

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _blas_as_many_threads_as_the_pool(monkeypatch):
    """The pool stands in for BLAS's threads only when their counts match (a 2-core box's default)."""
    monkeypatch.setattr(_blas, "blas_threads", lambda: 2)
    monkeypatch.setattr(_wide, "thread_count", lambda: 2)
    monkeypatch.setattr(_im2col, "thread_count", lambda: 2)


def _threaded_small_chunks():
    """Every stride-1 case on the wide lowering, in chunks of one row: many chunks on the pool."""
    return mock.patch.multiple(_wide, _MAX_JUNK=1.0, _MIN_TAP_DEPTH=1, _THREAD_CHUNK=1)


def _serial():
    return mock.patch.object(_wide, "thread_count", lambda: 1)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit: values, NaNs and the sign of zeros."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _with_specials(x: np.ndarray) -> np.ndarray:
    flat = x.reshape(-1)
    flat[::7] = -0.0
    flat[3::11] = np.nan
    return x


CASES = [  # shape, weight shape, stride, padding, groups: one per strategy (and wide's gather)
    ((2, 5, 9, 11), (4, 5, 1, 1), 1, 0, 1),  # direct
    ((2, 5, 40, 41), (6, 5, 3, 3), 1, 1, 1),  # wide, per-tap GEMMs
    ((1, 4, 33, 34), (6, 2, 3, 2), 1, ((2, 0), (1, 3)), 2),  # wide, gather (groups)
    ((2, 3, 17, 16), (4, 3, 3, 3), 2, 1, 1),  # im2col
    ((1, 3, 6, 9, 30), (2, 3, 2, 3, 3), 1, 1, 1),  # 3-D wide
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "wshape", "stride", "padding", "groups"), CASES)
def test_fused_bias_relu_equals_unfused_bit_for_bit(shape, wshape, stride, padding, groups, dtype):
    rng = np.random.default_rng(1)
    x = _with_specials(rng.standard_normal(shape).astype(dtype))
    w, b = rng.standard_normal(wshape).astype(dtype), rng.standard_normal(wshape[0]).astype(dtype)
    ndim = len(shape) - 2
    args = (b, stride, padding, 1, groups, "zeros", ndim)
    with mock.patch.multiple(_wide, _MAX_JUNK=1.0, _MIN_TAP_DEPTH=1):
        fused = conv_nd(x, w, *args, relu=True)
        plain = conv_nd(x, w, *args)
    assert _same(fused, cf.relu(plain))
    pads = [(padding, padding)] * ndim if isinstance(padding, int) else list(padding)
    ref = loop_conv(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), (stride,) * ndim,
                    pads, (1,) * ndim, groups)  # fmt: skip
    finite = ~np.isnan(ref)
    np.testing.assert_array_equal(np.isnan(fused), ~finite)
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(fused[finite], np.maximum(ref, 0)[finite], rtol=tol, atol=tol)


@settings(max_examples=150)
@given(conv_case())
def test_threaded_wide_chunks_equal_torch(case):
    with _threaded_small_chunks():
        check_conv(case)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threaded_wide_equals_serial_bit_for_bit(dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 7, 45, 52)).astype(dtype)
    w, b = rng.standard_normal((9, 7, 3, 3)).astype(dtype), rng.standard_normal(9).astype(dtype)
    threads = []
    real = _im2col.parallel

    def spy(work, items, count=None, **options):
        threads.append(len(items))
        real(work, items, count, **options)

    with _threaded_small_chunks(), mock.patch.object(_im2col, "parallel", spy):
        pooled = cf.conv2d(x, w, b, padding=1)
    # one hand-off of both samples' 45 one-row chunks
    assert threads == [90], f"the chunks did not go to the pool: {threads}"
    with _threaded_small_chunks(), _serial():
        serial = cf.conv2d(x, w, b, padding=1)
    assert _same(pooled, serial)
    exact = torch.nn.functional.conv2d(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), padding=1
    )
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(pooled, exact.numpy(), rtol=tol, atol=tol * float(exact.abs().max()))


def test_single_threaded_blas_restores_the_count_when_nested_and_concurrent():
    if not _blas.can_single_thread():
        pytest.skip("NumPy's BLAS is not the bundled scipy-openblas")
    get, _ = _blas._thread_controls()
    before = get()
    barrier = threading.Barrier(2)
    seen = []

    def worker():
        with _blas.single_threaded():
            barrier.wait()
            with _blas.single_threaded():
                seen.append(get())
            barrier.wait()

    runners = [threading.Thread(target=worker) for _ in range(2)]
    for t in runners:
        t.start()
    for t in runners:
        t.join()
    assert seen == [1, 1]
    assert get() == before


def test_single_threaded_blas_restores_the_count_after_an_error():
    if not _blas.can_single_thread():
        pytest.skip("NumPy's BLAS is not the bundled scipy-openblas")
    get, _ = _blas._thread_controls()
    before = get()
    with pytest.raises(KeyError), _blas.single_threaded():
        raise KeyError("inside")
    assert get() == before


def test_epilogue_store_and_apply_agree():
    rng = np.random.default_rng(0)
    block = _with_specials(rng.standard_normal((3, 4, 5)).astype(np.float32))
    epilogue = Epilogue(rng.standard_normal(3).astype(np.float32), relu=True)
    stored = np.empty_like(block)
    epilogue.store(block, stored)
    applied = block.copy()
    epilogue.apply(applied)
    expected = cf.relu(block + epilogue.bias[:, None, None])
    assert _same(stored, expected) and _same(applied, expected)


def _bn_params(rng, c, dtype):
    mean, bias = (rng.standard_normal(c).astype(dtype) for _ in range(2))
    var, weight = (rng.random(c).astype(dtype) + 0.5 for _ in range(2))
    return mean, var, weight, bias


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_relu_in_place_equals_torch_bit_for_bit(dtype):
    rng = np.random.default_rng(3)
    x = _with_specials(rng.standard_normal((2, 6, 70, 90)).astype(dtype))
    params = _bn_params(rng, 6, dtype)
    expected = torch.relu(
        torch.nn.functional.batch_norm(torch.from_numpy(x), *(torch.from_numpy(p) for p in params))
    ).numpy()
    copy = x.copy()
    fresh = batch_norm_into(copy, *params, relu=True)
    assert _same(fresh, expected)
    # in place: float32 writes into the input, float64 returns a new array and leaves it alone
    inplace = batch_norm_into(copy, *params, relu=True, inplace=True)
    assert _same(inplace, expected)
    assert (inplace is copy) == (dtype == np.float32)
    if dtype == np.float64:
        assert _same(copy, x)


UPCONV_CASES = [  # in shape, weight shape, stride, padding: tiled (the U-Net's), gaps, overlaps
    ((2, 6, 13, 17), (6, 5, 2, 2), 2, 0),
    ((1, 4, 9, 8), (4, 3, 2, 2), 3, 0),
    ((2, 3, 7, 9), (3, 4, 3, 3), 2, 1),
    ((1, 4, 5, 6, 7), (4, 2, 2, 2, 2), 2, 0),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(("shape", "wshape", "stride", "padding"), UPCONV_CASES)
def test_conv_transpose_into_a_view_equals_the_plain_call_and_torch(shape, wshape, stride, padding, threads):
    rng = np.random.default_rng(7)
    x = _with_specials(rng.standard_normal(shape).astype(np.float32))
    w, b = rng.standard_normal(wshape).astype(np.float32), rng.standard_normal(wshape[1]).astype(np.float32)
    ndim = len(shape) - 2
    args = (b, stride, padding, 0, 1, 1, None, ndim)
    with mock.patch.object(_im2col, "thread_count", lambda: threads):
        plain = conv_transpose_nd(x, w, *args)
        joined = np.full((shape[0], 3 + wshape[1], *plain.shape[2:]), 7.0, np.float32)
        into = conv_transpose_nd(x, w, *args, out=joined[:, 3:])
    assert into.base is joined or np.shares_memory(into, joined)
    assert _same(np.ascontiguousarray(joined[:, 3:]), plain)
    assert (joined[:, :3] == 7.0).all()
    op = {1: "conv_transpose1d", 2: "conv_transpose2d", 3: "conv_transpose3d"}[ndim]
    t = getattr(torch.nn.functional, op)(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride, padding
    )
    finite = ~np.isnan(t.numpy())
    np.testing.assert_array_equal(np.isnan(plain), ~finite)
    np.testing.assert_allclose(plain[finite], t.numpy()[finite], rtol=1e-5, atol=1e-5)


def test_conv_transpose_chunks_on_the_pool_equal_the_serial_ones():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 64, 200, 200)).astype(np.float32)  # 5 chunks of the default target
    w, b = rng.standard_normal((64, 32, 2, 2)).astype(np.float32), rng.standard_normal(32).astype(np.float32)
    pooled = cf.conv_transpose2d(x, w, b, stride=2)
    with mock.patch.object(_im2col, "thread_count", lambda: 1):  # the same chunks, one after another
        serial = cf.conv_transpose2d(x, w, b, stride=2)
    assert _same(pooled, serial)


@pytest.mark.parametrize(
    ("shape", "dtype"), [((1, 5, 8, 8), np.float32), ((1, 6, 9, 9), np.float32), ((1, 6, 8, 8), np.float64)]
)
def test_conv_transpose_out_of_another_shape_or_dtype_is_refused(shape, dtype):
    x, w = np.ones((1, 3, 4, 4), np.float32), np.ones((3, 6, 2, 2), np.float32)
    with pytest.raises(ValueError, match=r"out must be an array of shape \(1, 6, 8, 8\) and dtype float32"):
        conv_transpose_nd(x, w, None, 2, 0, 0, 1, 1, None, 2, out=np.empty(shape, dtype))


@pytest.mark.parametrize(("wshape", "stride"), [((8, 16, 3, 3), 2), ((4, 16, 1, 1), 1), ((8, 3, 3, 3), 2)])
def test_im2col_and_direct_chunks_on_the_pool_equal_the_serial_ones(wshape, stride):
    rng = np.random.default_rng(9)
    size = 200 if wshape[1] > 3 else 400  # 2-3 chunks of the default target
    x = rng.standard_normal((2, wshape[1], size, size)).astype(np.float32)
    w, b = rng.standard_normal(wshape).astype(np.float32), rng.standard_normal(wshape[0]).astype(np.float32)
    calls = []
    real = _im2col.parallel

    def spy(work, items, count=None, **options):
        items = list(items)
        calls.append(len(items))
        real(work, items, count, **options)

    with mock.patch.object(_im2col, "parallel", spy):
        pooled = conv_nd(x, w, b, stride, 1 if wshape[2] == 3 else 0, 1, 1, "zeros", 2, relu=True)
    with mock.patch.object(_im2col, "thread_count", lambda: 1):  # the same chunks, one after another
        serial = conv_nd(x, w, b, stride, 1 if wshape[2] == 3 else 0, 1, 1, "zeros", 2, relu=True)
    assert len(calls) == 1 and calls[0] > 1, calls
    assert _same(pooled, serial)
    t = torch.nn.functional.conv2d(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride, 1 if wshape[2] == 3 else 0
    )
    np.testing.assert_allclose(pooled, torch.relu(t).numpy(), rtol=1e-5, atol=1e-5)


def test_chunks_go_to_as_many_threads_as_fit_the_workspace_limit():
    per_position = 576  # 16 channels x 9 taps, float32: the default target makes 7281-position chunks
    assert _im2col.pool_threads(per_position) == 2
    with cf.workspace_limit(2 * 7281 * per_position):
        assert _im2col.pool_threads(per_position) == 2
    with cf.workspace_limit(2 * 7281 * per_position - 1):
        assert _im2col.pool_threads(per_position) == 1
