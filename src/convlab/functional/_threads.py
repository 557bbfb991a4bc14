"""convlab's threads: the one pool that runs its GEMM chunks and its memory-bound passes, and its size.

NumPy's ufuncs run on one thread but release the GIL on large arrays, so
splitting an elementwise pass into cache-sized blocks and handing them to a
few threads makes it both cache-resident and parallel; the convolutions hand
the same pool their GEMM chunks, each on a one-thread BLAS
(:func:`._blas.single_threaded`). Work submitted from inside a pool thread
runs serially, so nesting cannot deadlock.

The size is one process-wide knob, as ``torch.set_num_threads``:
:func:`set_num_threads`, else the environment variable
``CONVLAB_NUM_THREADS``, else ``OMP_NUM_THREADS`` (torch's default too),
else one thread per core this process may run on (``os.sched_getaffinity``),
at most 8 (beyond that memory bandwidth, not cores, bounds these passes).
Process-wide and not a ``ContextVar`` like the workspace limit: the count
sizes one shared pool, whoever submits to it.
"""

from __future__ import annotations

import contextvars
import itertools
import math
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._args import ConvlabError

__all__ = ["blocks", "get_num_threads", "parallel", "set_num_threads", "thread_count"]

_BLOCK = 1 << 15  # elements: a float64 block and its temporaries stay in a core's L2
_local = threading.local()
_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()
_ENV = "CONVLAB_NUM_THREADS"
_MAX_DEFAULT = 8
_chosen: dict[str, int] = {}  # "threads": the count set_num_threads chose


def set_num_threads(n: int) -> None:
    """Run convlab's operators on ``n`` threads: its pool of ``n`` threads, each on a one-thread BLAS.

    Process-wide, as :func:`torch.set_num_threads`. Results do not depend on
    ``n``: the work is cut into the same blocks whatever the count.

    Parameters
    ----------
    n : int
        At least 1. Overrides ``CONVLAB_NUM_THREADS`` and ``OMP_NUM_THREADS``.

    Examples
    --------
    >>> import convlab
    >>> before = convlab.get_num_threads()
    >>> convlab.set_num_threads(1); convlab.get_num_threads()
    1
    >>> convlab.set_num_threads(before)
    """
    _chosen["threads"] = _positive(n, "n")


def get_num_threads() -> int:
    """The threads convlab's operators run on (:func:`set_num_threads`, else the environment, else cores).

    >>> import convlab
    >>> convlab.get_num_threads() >= 1
    True
    """
    return thread_count()


def thread_count() -> int:
    """The pool's size: :func:`set_num_threads`'s, else the environment's, else the cores (at most 8)."""
    if "threads" in _chosen:
        return _chosen["threads"]
    value = os.environ.get(_ENV, "").strip()
    if value:
        if not (value.isdigit() and int(value) > 0):
            raise ConvlabError(f"{_ENV} must be a positive integer, got {_ENV}={value!r}")
        return int(value)
    # OMP_NUM_THREADS may list one count per nesting level ("4,2"): the outer one is ours.
    omp = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if omp.isdigit() and int(omp) > 0:
        return int(omp)
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    return max(1, min(_MAX_DEFAULT, len(affinity)))


def _positive(value: object, name: str) -> int:
    """``value`` as a positive int, else an error naming ``name``, the expectation and the value."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        kind = type(value).__name__
        raise TypeError(f"{name} must be a positive integer, got {name}={value!r} of type {kind}")
    if value < 1:
        raise ConvlabError(f"{name} must be a positive integer, got {name}={value!r}")
    return int(value)


def blocks(shape: tuple[int, ...], block: int = _BLOCK) -> list[tuple[slice | int, ...]]:
    """Index tuples that tile ``shape`` into row-major blocks of at most about ``block`` elements.

    >>> blocks((2, 3), block=3)
    [(slice(0, 1, None),), (slice(1, 2, None),)]
    >>> blocks((2, 5), block=2)[:3]
    [(0, slice(0, 2, None)), (0, slice(2, 4, None)), (0, slice(4, 5, None))]
    """
    inner = 1
    for k in range(len(shape), 0, -1):
        if inner * shape[k - 1] > block:
            step = max(1, block // inner)
            outer = itertools.product(*(range(n) for n in shape[: k - 1]))
            cuts = [slice(i, min(i + step, shape[k - 1])) for i in range(0, shape[k - 1], step)]
            return [(*o, cut) for o in outer for cut in cuts]
        inner *= shape[k - 1]
    return [()]


def parallel(
    work: Callable[[tuple], None],
    items: Iterable[tuple],
    threads: int | None = None,
    *,
    run: int | None = None,
) -> None:
    """Run ``work(item)`` for every item, on at most ``threads`` (default: all) of the pool's threads.

    Exactly ``threads`` tasks go to the pool, each taking the next run of
    ``run`` items (default: a few runs per thread) until none is left: a cap
    on the threads (memory allows only so many chunks at once) holds even on
    a larger pool, and a thread that another process slows takes fewer runs.
    Items that each take milliseconds (GEMM chunks) go one at a time
    (``run=1``): the threads then finish within one item of each other.
    """
    items = list(items)
    threads = thread_count() if threads is None else min(threads, thread_count())
    if len(items) < 2 or threads < 2 or getattr(_local, "worker", False):
        for item in items:
            work(item)
        return
    # A few contiguous runs per thread: fewer hand-offs than one task per
    # block, and still some balance when another process steals a core.
    size = run or math.ceil(len(items) / min(len(items), 4 * threads))
    runs = iter([items[i : i + size] for i in range(0, len(items), size)])
    take = threading.Lock()
    executor = _executor(thread_count())
    # Each task in a copy of the submitter's context: NumPy's errstate (a
    # contextvar) and the workspace limit hold in the workers as in the caller.
    tasks = range(min(threads, len(items)))
    futures = [executor.submit(contextvars.copy_context().run, _run, work, runs, take) for _ in tasks]
    for future in futures:
        future.result()


def _run(work: Callable[[tuple], None], runs: Iterator[list[tuple]], take: threading.Lock) -> None:
    _local.worker = True
    try:
        while True:
            with take:
                run = next(runs, None)
            if run is None:
                return
            for item in run:
                work(item)
    finally:
        _local.worker = False


def _executor(threads: int) -> ThreadPoolExecutor:
    """The pool of ``threads`` workers; a new one when the count changed (the old one's end once idle)."""
    global _pool
    with _lock:
        if _pool is None or _pool._max_workers != threads:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="convlab")
        return _pool
