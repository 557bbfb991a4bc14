"""``C = A @ B + beta * C`` through OpenBLAS: the accumulating GEMM ``np.matmul`` lacks.

Why: the stride-1 convolution sums one GEMM per kernel tap into the same
block of outputs (:mod:`._wide`). Through ``np.matmul`` each tap would cost a
temporary and a ``+=`` pass, or stacking the taps an im2col copy of ``taps``
times the input; GEMM's ``beta = 1`` accumulates inside the BLAS kernel,
where the block is in cache, and reads the input where it lies.

Where: NumPy's own bundled scipy-openblas (:func:`._openblas.numpy_library`:
loading that very file shares NumPy's library; which kernels it runs,
:func:`._openblas.describe`). Anywhere else (NumPy on MKL or Accelerate, another
symbol name, a probe product that disagrees with ``np.matmul``) :func:`gemm`
returns ``None`` and callers use ``np.matmul``.

Threads: every call runs on one BLAS thread, the caller's (a pool thread of
:mod:`._threads`), inside :func:`single_threaded`. BLAS's own threads would
end each call at a barrier and then spin, taking a core from the next
layer's pool threads (measured: the layer after a BLAS-threaded one ran 30-40
% slower). Large weight matrices are cut into blocks of rows instead
(:func:`row_blocks`), the same blocks at any thread count, so that results
never depend on it. They may differ in the last bits between BLAS kernels
(SkylakeX, Haswell), as between machines.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import threading
from collections.abc import Callable, Iterator

import numpy as np

from ._openblas import numpy_library

__all__ = [
    "BLOCK_WEIGHT",
    "Gemm",
    "blas_threads",
    "can_single_thread",
    "gemm",
    "matmul_into",
    "row_blocks",
    "single_threaded",
]

# gemm(a, b, c, beta): c = a @ b + beta * c, all 2-D with unit stride along rows.
Gemm = Callable[[np.ndarray, np.ndarray, np.ndarray, float], None]

_SYMBOLS = {np.dtype(np.float32): "scipy_cblas_sgemm", np.dtype(np.float64): "scipy_cblas_dgemm"}
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_THREADS = ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads")
_single = {"depth": 0, "saved": 0}
_single_lock = threading.Lock()


@functools.cache
def gemm(dtype: np.dtype) -> Gemm | None:
    """The accumulating GEMM of NumPy's OpenBLAS for ``dtype`` (float32, float64), or ``None``."""
    dtype = np.dtype(dtype)
    library = numpy_library()
    function = library.function(_SYMBOLS[dtype]) if library is not None and dtype in _SYMBOLS else None
    if function is None:
        return None
    real, index, ptr = np.ctypeslib.as_ctypes_type(dtype), library.index, ctypes.c_void_p
    function.argtypes = [ctypes.c_int] * 3 + [index] * 3 + [real, ptr, index, ptr, index, real, ptr, index]
    function.restype = None
    call = functools.partial(_call, function)
    return call if _probe(call, dtype) else None


def _call(function, a: np.ndarray, b: np.ndarray, c: np.ndarray, beta: float) -> None:
    (m, k), n = a.shape, b.shape[1]
    if b.shape[0] != k or c.shape != (m, n) or not a.dtype == b.dtype == c.dtype:
        raise RuntimeError(f"internal: gemm of {a.shape} @ {b.shape} into {c.shape}")
    # A transposed view (conv_transpose's W^T) goes in as its row-major base, flagged.
    trans_a = _TRANS if a.ndim == 2 and a.shape[0] > 1 and a.strides[0] == a.itemsize else _NO_TRANS
    lda = _leading(a.T) if trans_a == _TRANS else _leading(a)
    ld = [_leading(array) for array in (b, c)]
    function(_ROW_MAJOR, trans_a, _NO_TRANS, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, ld[0],
             beta, c.ctypes.data, ld[1])  # fmt: skip


def _leading(array: np.ndarray) -> int:
    """BLAS's leading dimension of a row-major matrix view; NumPy's stride of a size-1 axis is arbitrary."""
    rows, cols = array.shape
    if cols > 1 and array.strides[1] != array.itemsize:
        raise RuntimeError(f"internal: gemm operand with strides {array.strides} is not row-major")
    if rows == 1:
        return max(cols, 1)
    if array.strides[0] % array.itemsize or array.strides[0] < cols * array.itemsize:
        raise RuntimeError(f"internal: gemm operand with strides {array.strides} is not row-major")
    return array.strides[0] // array.itemsize


def _probe(call: Gemm, dtype: np.dtype) -> bool:
    """One small accumulating product against ``np.matmul``, on strided views as the callers pass."""
    rng = np.random.default_rng(0)
    a = rng.integers(-4, 5, (5, 9)).astype(dtype)[:, 1:8]
    b = rng.integers(-4, 5, (7, 13)).astype(dtype)[:, 2:11]
    c = rng.integers(-4, 5, (5, 12)).astype(dtype)
    expected = a @ b + 2 * c[:, :9]
    call(a, b, c[:, :9], 2.0)
    # Small integers: every rounding is exact, any order gives the same result.
    return bool(np.array_equal(c[:, :9], expected))


@functools.cache
def _thread_controls():
    """(get, set) of the thread count of the library :func:`gemm` calls, or ``None``."""
    library = numpy_library()
    found = [library.function(name) for name in _THREADS] if library is not None else [None]
    if None in found:
        return None
    get, set_ = found
    get.argtypes, get.restype = [], ctypes.c_int
    set_.argtypes, set_.restype = [ctypes.c_int], None
    return get, set_


def can_single_thread() -> bool:
    """Whether :func:`single_threaded` really makes :func:`gemm` run on one thread."""
    return _thread_controls() is not None


def blas_threads() -> int | None:
    """The thread count :func:`gemm`'s BLAS runs with now (1 inside :func:`single_threaded`), or ``None``."""
    controls = _thread_controls()
    return None if controls is None else controls[0]()


# The largest weight matrix one GEMM of a chunk multiplies by. Each pool
# thread streams its GEMM's whole matrix through its core for every chunk,
# where BLAS's own threads would split it; measured on a quiet 2-core box (2
# threads, float32, U-Net layers, whole matrices): pooled/BLAS-threaded 0.94
# at 64 and 128 channels, 1.0 at 256, 0.94 at 512 (1 MiB a tap), 1.90 at
# 1024 (4 MiB a tap); 2x2 up-convs 0.70 at 128->64, 0.86 at 256->128 (512
# KiB), 1.2 at 512->256 (2 MiB), 1.75 at 1024->512. So larger matrices are
# cut into blocks of rows (output channels) of at most this size, each block
# a work item of its own (:func:`row_blocks`).
BLOCK_WEIGHT = 1 << 20
# Row blocks are multiples of this many rows, so that every block but the last
# fills whole register tiles of every kernel (16 rows for SkylakeX's SGEMM) ...
_ROW_QUANTUM = 64
# ... and hold at least this many GEMM rows: thinner blocks lose more than they
# save (im2col of 1024 channels at 30^2, 1024 x 9216 @ 9216 x 784 on 2 pool
# threads: 207, 200, 184 and 161 GFLOP/s in blocks of 512, 256, 128 and 64
# rows; BLAS's own 2 threads on the whole: 205).
MIN_BLOCK_ROWS = 256


def row_blocks(rows: int, row_bytes: int, rows_per_row: int = 1) -> list[slice]:
    """Blocks of ``rows`` (output channels) whose matrices of ``row_bytes`` a row hold <= ``BLOCK_WEIGHT``.

    Each block but the last is a multiple of ``_ROW_QUANTUM`` rows and spans
    at least ``MIN_BLOCK_ROWS`` GEMM rows (a row here stands for
    ``rows_per_row`` of them: a transposed convolution's channel has one per
    tap), which may leave a block above the weight bound. The blocks depend
    on the matrix alone, never on the thread count: a GEMM of other rows may
    round differently (BLAS's edge kernels), and a result must not depend on
    the threads that computed it.

    >>> row_blocks(1024, 1024 * 4)          # a 1024x1024 float32 tap: 4 MiB
    [slice(0, 256, None), slice(256, 512, None), slice(512, 768, None), slice(768, 1024, None)]
    >>> row_blocks(512, 512 * 4)            # 1 MiB: one block
    [slice(0, 512, None)]
    >>> row_blocks(1024, 9216 * 4)          # im2col of 1024 channels: 36 MiB, but 256 rows at least
    [slice(0, 256, None), slice(256, 512, None), slice(512, 768, None), slice(768, 1024, None)]
    """
    count = min(-(-rows * row_bytes // BLOCK_WEIGHT), rows * rows_per_row // MIN_BLOCK_ROWS)
    if count <= 1:
        return [slice(0, rows)]
    step = -(-rows // count)
    step = -(-step // _ROW_QUANTUM) * _ROW_QUANTUM
    return [slice(i, min(i + step, rows)) for i in range(0, rows, step)]


def matmul_into(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    """``c[...] = a @ b`` for stacks of matrices, through :func:`gemm` where it serves, else ``np.matmul``.

    The same BLAS call as the per-tap GEMMs (one library, one kernel, one
    thread inside :func:`single_threaded`); ``np.matmul`` copies operands that
    BLAS cannot read as they are, so it stays the path for those.
    """
    call = gemm(c.dtype) if a.dtype == b.dtype == c.dtype and c.size else None
    first = [m[(0,) * (m.ndim - 2)] for m in (a, b, c)]
    ready = (_readable(first[0]) or _readable(first[0].T)) and all(map(_readable, first[1:]))
    if call is None or not ready:
        np.matmul(a, b, out=c)
        return
    for index in np.ndindex(*c.shape[:-2]):
        call(a[index[len(index) - (a.ndim - 2) :]], b[index], c[index], 0.0)


def _readable(matrix: np.ndarray) -> bool:
    """Whether ``matrix`` (2-D) is a row-major view BLAS reads in place (a stack shares its strides)."""
    try:
        _leading(matrix)
    except RuntimeError:
        return False
    return matrix.shape[1] > 0


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """NumPy's BLAS on one thread inside the block, so that the caller's own threads run the GEMMs.

    Why: each multithreaded BLAS call ends at a barrier of its threads; the
    per-tap GEMMs of a chunk are nine such calls, and on a machine where
    another process holds a core a barrier waits a whole time slice (a loaded
    2-core box ran 3-10x slower). One chunk per pool thread, each on a
    single-threaded BLAS, has one join per layer. The count is global to the
    library, so nested and concurrent blocks share one saved value: the first
    to enter saves it, the last to leave restores it. Other threads' GEMMs
    in the meantime are as exact, on one thread.

    This is convlab's one way to hold BLAS to one thread: OpenBLAS's
    "thread-local" ``openblas_set_num_threads_local`` sets the global count
    in its pthreads builds (NumPy's wheels: measured, a worker's call made the
    main thread's next SGEMM run on one thread), so a save/restore per thread
    races where this shared count does not.
    """
    controls = _thread_controls()
    if controls is None:
        yield
        return
    get, set_ = controls
    with _single_lock:
        if _single["depth"] == 0:
            _single["saved"] = get()
            set_(1)
        _single["depth"] += 1
    try:
        yield
    finally:
        with _single_lock:
            _single["depth"] -= 1
            if _single["depth"] == 0:
                set_(_single["saved"])
