"""convlab's thread count (``set_num_threads``, the environment) and the exact path on it: every GEMM on
the pool with a one-thread BLAS, large weights in blocks of rows, results bit-equal at any thread count,
against torch and the naive loop reference.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convlab
import convlab.functional as cf
from convlab.functional import _blas, _openblas, _threads, _workspace
from reference_conv import conv as loop_conv
from reference_conv import conv_transpose as loop_conv_transpose

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _restore_the_count(monkeypatch):
    """Each test starts from the environment's count and leaves the process's as it found it."""
    saved = dict(_threads._chosen)
    _threads._chosen.clear()
    monkeypatch.delenv("CONVLAB_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    yield
    _threads._chosen.clear()
    _threads._chosen.update(saved)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_set_num_threads_is_what_get_num_threads_returns_and_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("CONVLAB_NUM_THREADS", "5")
    assert convlab.get_num_threads() == 5
    convlab.set_num_threads(3)
    assert convlab.get_num_threads() == cf.get_num_threads() == 3
    convlab.set_num_threads(np.int64(1))
    assert convlab.get_num_threads() == 1


def test_the_environment_sets_the_default(monkeypatch):
    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda pid: set(range(12)), raising=False)
    assert convlab.get_num_threads() == 8  # cores, at most 8
    monkeypatch.setenv("OMP_NUM_THREADS", "3,1")  # the outer level, as torch reads it
    assert convlab.get_num_threads() == 3
    monkeypatch.setenv("CONVLAB_NUM_THREADS", " 2 ")  # ours first
    assert convlab.get_num_threads() == 2
    monkeypatch.setenv("CONVLAB_NUM_THREADS", "")
    monkeypatch.setenv("OMP_NUM_THREADS", "zero")  # not ours to refuse: ignored
    assert convlab.get_num_threads() == 8


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_bad_environment_count_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("CONVLAB_NUM_THREADS", value)
    with pytest.raises(ValueError, match=rf"CONVLAB_NUM_THREADS must be a positive integer, got .*{value!r}"):
        convlab.get_num_threads()


@pytest.mark.parametrize("n", [0, -1, np.int32(0)])
def test_set_num_threads_refuses_counts_below_one(n):
    with pytest.raises(convlab.ConvlabError, match=r"n must be a positive integer, got n=(np\.int32\()?0|-1"):
        convlab.set_num_threads(n)


@pytest.mark.parametrize("n", [2.0, "2", True, None])
def test_set_num_threads_refuses_other_types(n):
    with pytest.raises(TypeError, match=rf"n must be a positive integer, got n={n!r} of type"):
        convlab.set_num_threads(n)


def _spy_pool():
    """Record the tasks each ``parallel`` hands the pool, the pool's size and the threads that ran items."""
    seen = {"tasks": [], "workers": [], "idents": set()}
    real_executor, real_run = _threads._executor, _threads._run

    def executor(threads):
        pool = real_executor(threads)
        seen["workers"].append(pool._max_workers)
        return pool

    def run(work, runs, take):
        seen["idents"].add(threading.get_ident())
        seen["tasks"].append(1)
        real_run(work, runs, take)

    patches = mock.patch.multiple(_threads, _executor=executor, _run=run)
    return seen, patches


@pytest.mark.parametrize("count", [2, 3])
def test_the_pool_runs_on_exactly_the_count_set(count):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 16, 60, 64)).astype(np.float32)
    w = rng.standard_normal((8, 16, 3, 3)).astype(np.float32)
    convlab.set_num_threads(count)
    seen, patches = _spy_pool()
    with patches, mock.patch("convlab.functional._wide._THREAD_CHUNK", 1):  # one row a chunk: 60 items
        cf.conv2d(x, w, padding=1)
    assert seen["workers"] and set(seen["workers"]) == {count}
    # The conv's one hand-off of its 60 chunks: exactly `count` tasks, each on its own pool thread.
    assert len(seen["tasks"]) >= count and len(seen["idents"]) <= count
    assert threading.get_ident() not in seen["idents"]


def test_one_thread_never_touches_the_pool():
    convlab.set_num_threads(1)
    seen, patches = _spy_pool()
    x = np.ones((1, 16, 40, 40), np.float32)
    with patches, mock.patch("convlab.functional._wide._THREAD_CHUNK", 1):
        cf.conv2d(x, np.ones((4, 16, 3, 3), np.float32))
    assert seen == {"tasks": [], "workers": [], "idents": set()}


def test_every_gemm_of_the_exact_path_runs_on_a_one_thread_blas():
    if not _blas.can_single_thread():
        pytest.skip("NumPy's BLAS exposes no thread count")
    counts = []
    real = _blas.gemm

    def gemm(dtype):
        call = real(dtype)

        def spy(a, b, c, beta):
            counts.append(_blas.blas_threads())
            call(a, b, c, beta)

        return None if call is None else spy

    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 32, 30, 30)).astype(np.float32)
    with mock.patch.object(_blas, "gemm", gemm):
        for threads in (1, 2):
            convlab.set_num_threads(threads)
            cf.conv2d(x, rng.standard_normal((16, 32, 3, 3)).astype(np.float32), padding=1)  # wide
            cf.conv2d(x, rng.standard_normal((16, 32, 3, 3)).astype(np.float32), stride=2)  # im2col
            cf.conv2d(x, rng.standard_normal((16, 32, 1, 1)).astype(np.float32))  # direct
            cf.conv_transpose2d(x, rng.standard_normal((32, 8, 2, 2)).astype(np.float32), stride=2)
    assert counts and set(counts) == {1}, set(counts)


# A weight block of 4 KiB and 64 rows: 130 output channels of 16 (or 16 x 4 taps) float32 inputs split
# into rows 0:64, 64:128 and 128:130 (the last block a thin edge) without a weight of megabytes.
SMALL_BLOCKS = mock.patch.multiple(_blas, BLOCK_WEIGHT=4096, MIN_BLOCK_ROWS=64)

EDGES = np.array([0, 1, 62, 63, 64, 65, 127, 128, 129])  # output channels at the row blocks' edges
CONV_CASES = [  # input shape, weight shape, stride, padding, groups, dtype
    ((2, 16, 13, 11), (130, 16, 3, 3), 1, 1, 1, np.float32),  # wide, per-tap GEMMs, three row blocks
    ((1, 32, 12, 13), (18, 16, 3, 3), 1, 1, 2, np.float32),  # wide, gather (groups: one block)
    ((2, 3, 17, 13), (130, 3, 3, 3), 1, 1, 1, np.float32),  # wide, gather (3 channels: too thin per tap)
    ((1, 1, 9, 8, 7), (130, 1, 3, 3, 3), 1, 1, 1, np.float64),  # 3-D wide, gather of one channel
    ((2, 16, 11, 10), (130, 16, 3, 3), 2, 1, 1, np.float64),  # im2col, three row blocks
    ((2, 64, 9, 7), (130, 64, 1, 1), 1, 0, 1, np.float32),  # direct, three row blocks
    ((1, 16, 4, 5, 6), (130, 16, 3, 3, 3), 1, 1, 1, np.float32),  # 3-D wide
]


@pytest.mark.parametrize(("shape", "wshape", "stride", "padding", "groups", "dtype"), CONV_CASES)
def test_convs_are_bit_equal_at_one_two_and_three_threads(shape, wshape, stride, padding, groups, dtype):
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal(shape).astype(dtype), rng.standard_normal(wshape).astype(dtype)
    b = rng.standard_normal(wshape[0]).astype(dtype)
    ndim = len(shape) - 2
    op = getattr(cf, f"conv{ndim}d")
    results = []
    small = mock.patch.multiple(
        "convlab.functional._wide", _THREAD_CHUNK=4096, _THIN_CHUNK=4096, _MAX_JUNK=1.0
    )
    with (
        SMALL_BLOCKS,
        small,
        mock.patch.multiple("convlab.functional._workspace", _TARGET=8192, _MIN_POSITIONS=16),
    ):  # several chunks
        for threads in (1, 2, 3):
            convlab.set_num_threads(threads)
            results.append(op(x, w, b, stride=stride, padding=padding, groups=groups))
    assert _same(results[0], results[1]) and _same(results[0], results[2])
    t = getattr(torch.nn.functional, f"conv{ndim}d")(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride, padding, 1, groups
    )
    tol = 1e-5 if dtype == np.float32 else 1e-12
    scale = float(t.abs().max())
    np.testing.assert_allclose(results[0], t.numpy(), rtol=tol, atol=tol * scale)
    # The loop reference on the channels at the blocks' edges (one group's worth each).
    sel = EDGES if groups == 1 else np.arange(wshape[0])
    ref = loop_conv(x.astype(np.float64), w[sel].astype(np.float64), b[sel].astype(np.float64),
                    (stride,) * ndim, [(padding, padding)] * ndim, (1,) * ndim, groups)  # fmt: skip
    np.testing.assert_allclose(results[0][:, sel], ref, rtol=tol, atol=tol * scale)


UPCONV_CASES = [  # input shape, weight shape, stride, padding: tiled (the U-Net's), overlapping taps
    ((2, 16, 5, 6), (16, 130, 2, 2), 2, 0),
    ((1, 16, 4, 5), (16, 130, 3, 3), 2, 1),
    ((2, 16, 7, 9), (16, 130, 3, 3), 2, 1),
]


@pytest.mark.parametrize(("shape", "wshape", "stride", "padding"), UPCONV_CASES)
def test_transposed_convolutions_are_bit_equal_at_one_two_and_three_threads(shape, wshape, stride, padding):
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(wshape).astype(np.float32)
    b = rng.standard_normal(wshape[1]).astype(np.float32)
    results = []
    # Chunks of 16 input positions: several waves of overlapping chunks adding into shared pixels.
    small = mock.patch.multiple("convlab.functional._workspace", _TARGET=16 * 130 * 9 * 4, _MIN_POSITIONS=16)
    with SMALL_BLOCKS, small:
        for threads in (1, 2, 3):
            convlab.set_num_threads(threads)
            results.append(cf.conv_transpose2d(x, w, b, stride=stride, padding=padding))
    assert _same(results[0], results[1]) and _same(results[0], results[2])
    t = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride, padding
    )
    np.testing.assert_allclose(results[0], t.numpy(), rtol=1e-5, atol=1e-5 * float(t.abs().max()))
    ref = loop_conv_transpose(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                              (stride,) * 2, [(padding, padding)] * 2, (0, 0), (1, 1), 1)  # fmt: skip
    np.testing.assert_allclose(results[0], ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))


@given(st.integers(1, 3000), st.integers(1, 1 << 16), st.sampled_from([1, 4, 27]))
@settings(max_examples=300)
def test_row_blocks_cover_the_rows_once_in_whole_quanta_and_thick_enough(rows, row_bytes, per_row):
    blocks = _blas.row_blocks(rows, row_bytes, per_row)
    assert blocks[0].start == 0 and blocks[-1].stop == rows
    assert all(a.stop == b.start for a, b in itertools.pairwise(blocks))
    sizes = [s.stop - s.start for s in blocks]
    if len(blocks) > 1:
        assert all(n % 64 == 0 and n * per_row >= _blas.MIN_BLOCK_ROWS for n in sizes[:-1])
        # Never more blocks than the weight bound asks for: each but the last holds more than
        # BLOCK_WEIGHT less one quantum, or the thickness bound made them thicker still.
        assert len(blocks) <= -(-rows * row_bytes // _blas.BLOCK_WEIGHT)
    else:
        assert rows * row_bytes <= _blas.BLOCK_WEIGHT or rows * per_row < 2 * _blas.MIN_BLOCK_ROWS


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_into_reads_transposed_and_strided_operands_as_np_matmul(dtype):
    rng = np.random.default_rng(8)
    # Small integers: every product and sum is exact, so any BLAS order gives np.matmul's values.
    a = rng.integers(-4, 5, (2, 7, 5)).astype(dtype).transpose(0, 2, 1)  # (2, 5, 7), transposed views
    b = rng.integers(-4, 5, (3, 2, 7, 13)).astype(dtype)[..., 2:11]  # column slices
    c = np.full((3, 2, 5, 12), 99, dtype)
    _blas.matmul_into(a, b, c[..., 1:10])
    np.testing.assert_array_equal(c[..., 1:10], np.matmul(a, b))
    assert (c[..., 0] == 99).all() and (c[..., 10:] == 99).all()
    odd = rng.integers(-4, 5, (3, 2, 7, 9)).astype(dtype)[:, :, :, ::-1]  # negative strides: np.matmul's
    _blas.matmul_into(a, odd, c[..., :9])
    np.testing.assert_array_equal(c[..., :9], np.matmul(a, odd))


def test_pool_threads_run_in_the_callers_context():
    convlab.set_num_threads(2)
    seen = []

    def work(item):
        seen.append((np.geterr()["invalid"], cf.get_workspace_limit()))

    with np.errstate(invalid="ignore"), cf.workspace_limit(12345):
        _threads.parallel(work, [(i,) for i in range(8)])
    assert seen and set(seen) == {("ignore", 12345)}


@pytest.mark.parametrize("core", ["Haswell", "Sandybridge"])
def test_describe_names_the_kernels_numpys_openblas_loaded_with(core):
    """OPENBLAS_CORETYPE, read when the library loads, is the oracle: run in a fresh process."""
    if _openblas.numpy_library() is None:
        pytest.skip("NumPy without its bundled OpenBLAS")
    code = "from convlab.functional import _openblas; print(_openblas.describe())"
    source = os.path.dirname(os.path.dirname(convlab.__file__))  # this convlab, not another install's
    env = {**os.environ, "OPENBLAS_CORETYPE": core, "PYTHONPATH": source}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("NumPy's OpenBLAS 0.") and f"core {core}" in out.stdout, out.stdout


@pytest.mark.parametrize(("run", "others_can_finish"), [(1, True), (5, False)])
def test_parallel_hands_out_one_item_at_a_time_when_asked(run, others_can_finish):
    """While one thread holds item 0, the other takes every other item only if runs are one item long."""
    convlab.set_num_threads(2)
    rest = threading.Event()
    done, waited = [], []

    def work(item):
        if item[0] == 0:
            waited.append(rest.wait(timeout=0.5 if not others_can_finish else 30))
        done.append(item[0])
        if len(done) == 9 and 0 not in done:
            rest.set()

    _threads.parallel(work, [(i,) for i in range(10)], 2, run=run)
    assert sorted(done) == list(range(10))
    assert waited == [others_can_finish]


@given(st.integers(1, 5000), st.integers(1, 600))
@settings(max_examples=500)
def test_cuts_cover_the_length_in_an_even_count_of_runs_within_one_of_each_other(length, most):
    runs = _workspace.cuts(length, most)
    assert runs[0][0] == 0 and runs[-1][1] == length
    assert all(a[1] == b[0] for a, b in itertools.pairwise(runs))
    sizes = [b - a for a, b in runs]
    assert min(sizes) >= 1 and max(sizes) <= most and max(sizes) - min(sizes) <= 1
    fewest = -(-length // most)
    # As few runs as the bound allows, one more to make the count even (unless the runs are single items).
    assert len(runs) in (fewest, fewest + 1) and (len(runs) % 2 == 0 or len(runs) in (1, length))
