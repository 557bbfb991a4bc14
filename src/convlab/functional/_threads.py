"""A small thread pool for memory-bound NumPy work: blocks of an array, run on all cores.

NumPy's ufuncs run on one thread but release the GIL on large arrays, so
splitting an elementwise pass into cache-sized blocks and handing them to a
few threads makes it both cache-resident and parallel. The pool has one
thread per core this process may run on (``os.sched_getaffinity``); work
submitted from inside a pool thread runs serially, so nesting cannot deadlock.
"""

from __future__ import annotations

import contextvars
import itertools
import math
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["blocks", "parallel", "scratch", "thread_count"]

_BLOCK = 1 << 15  # elements: a float64 block and its temporaries stay in a core's L2
_local = threading.local()
_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def thread_count() -> int:
    """Cores this process may use (at most 8: beyond that memory bandwidth, not cores, bounds)."""
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    return max(1, min(8, len(affinity)))


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


def parallel(work: Callable[[tuple], None], items: Iterable[tuple]) -> None:
    """Run ``work(item)`` for every item, on the pool when there is more than one item."""
    items = list(items)
    threads = thread_count()
    if len(items) < 2 or threads < 2 or getattr(_local, "worker", False):
        for item in items:
            work(item)
        return
    # A few contiguous runs per thread: fewer hand-offs than one task per
    # block, and still some balance when another process steals a core.
    runs = min(len(items), 4 * threads)
    size = math.ceil(len(items) / runs)
    # Each run in a copy of the caller's context: NumPy's errstate (a contextvar) reaches the workers.
    batches = [(contextvars.copy_context(), items[i : i + size]) for i in range(0, len(items), size)]
    futures = [_executor(threads).submit(ctx.run, _run, work, chunk) for ctx, chunk in batches]
    for future in futures:
        future.result()


def _run(work: Callable[[tuple], None], items: list[tuple]) -> None:
    _local.worker = True
    try:
        for item in items:
            work(item)
    finally:
        _local.worker = False


def _executor(threads: int) -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="convlab")
        return _pool


def scratch(shape: tuple[int, ...], *dtypes: type) -> list[np.ndarray]:
    """This thread's reusable buffers of ``shape``, one per dtype (at most one block each).

    Blocks come from :func:`blocks`, so reusing a thread's buffers saves the
    allocation (and, for large ones, the page faults) of every block.
    """
    size = math.prod(shape)
    buffers = getattr(_local, "buffers", None)
    if buffers is None or buffers[0].size < size:
        _local.buffers = buffers = [np.empty(max(size, _BLOCK), dtype=np.float64) for _ in range(4)]
    if len(dtypes) > len(buffers):
        raise ValueError(f"scratch holds {len(buffers)} buffers, got {len(dtypes)} dtypes")
    return [
        buf.view(np.uint8)[: size * np.dtype(d).itemsize].view(d).reshape(shape)
        for buf, d in zip(buffers, dtypes)
    ]
