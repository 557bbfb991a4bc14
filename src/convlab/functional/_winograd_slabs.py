"""Winograd's fast path, slab by slab: input transform, channel GEMMs and output transform in the caches.

One image's tiles are cut into *slabs* of whole tile rows along the first
spatial axis. Each slab runs the three steps back to back: the transformed
input ``V`` ``(prod(alpha), groups, C_in/groups, tiles)``, the
``prod(alpha)`` channel GEMMs ``M = U @ V`` and the output transform,
written straight into the output. A slab is sized to a few MiB, so ``V``
and ``M`` stay in the caches between the steps; transforming the whole
image first (one pass over memory per step, ``prod(alpha) / prod(m)`` times
the input and output, 2.25x for F(4, 3)) was the slow part at 64 channels.

Why slabs on threads with one-thread BLAS: the transforms are NumPy
element passes and small GEMMs, which run on one core; handing whole slabs
to the pool (:mod:`._threads`) keeps both cores busy on all three steps,
and each slab's GEMMs then run single-threaded in their own thread
(:func:`._blas.single_threaded` around the whole pool run: OpenBLAS's
``openblas_set_num_threads_local`` turned out to be process-wide in NumPy's
pthreads build, so per-thread save and restore raced), so the threads do not
fight over BLAS's own pool. Where a slab must hold
many tiles for its GEMMs to reuse the transformed kernel (large channel
counts, few tiles) there are too few slabs for the pool, and the slabs run
one after the other, each splitting its transforms over channel blocks and
its GEMMs over transform points on the pool, BLAS still on one thread.
BLAS's own threads did these GEMMs as fast, but then spin for a while
after the call and slow whatever runs next (the exact path dropped them
for the same reason): milesial's forward under Winograd, whose 32^2
layers run one slab, 1461 -> 1425 ms (three alternating in-process runs).
"""

from __future__ import annotations

import math
import threading

import numpy as np

from . import _blas, _threads

__all__ = [
    "SLAB_BYTES",
    "Arena",
    "arena",
    "run_slabs",
    "slab_items",
    "slab_rows",
    "split_range",
    "workspace_bytes",
]

# V and M of one slab: a few MiB keeps them in L2/L3 between the three steps
# (measured on the 64-channel layer at 570^2: slabs of 1 and 2 tile rows, 2.6
# and 5.2 MiB, cost the same per tile, 4 rows about 20 % more) ...
SLAB_BYTES = 4 << 20
# ... but a slab's GEMMs read the whole transformed kernel U, prod(alpha) *
# C_out * C_in values, once per slab, so a slab holds at least one tile per
# KERNEL_BYTES_PER_TILE of U, and never fewer than MIN_TILES. Measured (F(6,
# 3), 2 threads, wall time, tile rows a slab): 128 -> 128 at 256^2 (U 4 MiB,
# 43 tiles a row) 64 ms with 1 row against 72 with 2; 256 -> 128 at 256^2 (8
# MiB) 130 with 2 rows against 152 with 1; 512 -> 256 at 128^2 (32 MiB, 22
# tiles a row) 91 with 6 rows, 99 with 3. The old floor of 64 tiles for every
# layer cost the first of these 12 %.
KERNEL_BYTES_PER_TILE = 128 << 10
# Slabs on the pool beat fewer, larger slabs with split transforms down to
# about MIN_TILES tiles a slab (1024 -> 512 at 56^2: 4 slabs of 56 tiles 69
# ms, 2 of 140 tiles 79 ms; 512 -> 512 at 66^2: 4 slabs 46 ms, 2 slabs 57 ms),
# so an image is cut into at least POOL_SLABS slabs where they keep that
# many tiles: two a thread on 2 cores. A constant, not the thread count:
# the slabs are the GEMMs' column blocks, and OpenBLAS rounds a column
# differently by where it falls in its call (its edge kernels), so a cut
# that followed the thread count gave results that did too.
MIN_TILES = 32
POOL_SLABS = 4
# A thread keeps its arena between calls up to this size (a model's next
# layer reuses the pages instead of faulting fresh ones in); larger ones go.
_KEEP_BYTES = 32 << 20
_local = threading.local()


def slab_rows(
    tile_rows: int, tiles_per_row: int, channels: int, points: int, itemsize: int, kernel_bytes: int = 0
) -> int:
    """Tile rows per slab: ``SLAB_BYTES`` of ``V`` and ``M``, enough tiles for ``U``'s read, at most all.

    ``channels`` is ``C_in + C_out``, ``kernel_bytes`` the transformed
    kernel's size. Fewer rows, down to ``MIN_TILES`` tiles, where that makes
    ``POOL_SLABS`` slabs for the pool (:func:`run_slabs`). Never a function
    of the thread count: the cut decides the GEMMs' bits.

    >>> slab_rows(86, 86, 128, 64, 4, 64 * 64 * 64 * 4)    # 64 -> 64 at 512^2, F(6, 3)
    1
    >>> slab_rows(43, 43, 384, 64, 4, 64 * 128 * 256 * 4)  # 256 -> 128 at 256^2
    2
    >>> slab_rows(7, 7, 2048, 36, 4, 36 * 1024 * 1024 * 4)  # 1024 -> 1024 at 30^2: all in one slab
    7
    """
    row_bytes = points * channels * tiles_per_row * itemsize
    wanted = max(MIN_TILES, -(-kernel_bytes // KERNEL_BYTES_PER_TILE))
    rows = max(SLAB_BYTES // max(1, row_bytes), -(-wanted // max(1, tiles_per_row)), 1)
    pooled = -(-tile_rows // POOL_SLABS)
    if pooled * tiles_per_row >= MIN_TILES:
        rows = min(rows, pooled)
    return min(rows, tile_rows)


def run_slabs(work, items: list[tuple]) -> None:
    """``work(item, split)`` for every slab, BLAS on one thread: on the pool when there are enough slabs.

    Otherwise the slabs run one after the other, ``split=True``: each
    splits its transforms and GEMMs over the pool (:func:`split_range`).
    """
    with _blas.single_threaded():
        if len(items) >= 2 * _threads.thread_count():
            _threads.parallel(lambda item: work(item, False), items)
            return
        for item in items:
            work(item, True)


def slab_items(batch: int, tile_rows: int, rows: int) -> list[tuple[int, int, int]]:
    """``(image, first tile row, tile rows)`` of every slab.

    >>> slab_items(2, 5, 2)
    [(0, 0, 2), (0, 2, 2), (0, 4, 1), (1, 0, 2), (1, 2, 2), (1, 4, 1)]
    """
    return [
        (b, first, min(rows, tile_rows - first)) for b in range(batch) for first in range(0, tile_rows, rows)
    ]


def workspace_bytes(
    points: int, channels: int, tiles_per_row: int, rows: int, itemsize: int, slabs: int
) -> int:
    """Bytes of the slabs in flight: padded slab, ``V``, ``M`` and the transforms' temporaries.

    ``channels`` is ``C_in + C_out``. Per slab: the last-axis transform's
    result and the sum of its shifted taps (about ``V`` each), ``V``, its
    compacted copy, ``M`` and the output transform's two stages (at most
    ``M`` together): under four times ``V + M``. One slab is in flight per
    pool thread when ``slabs`` are enough for the pool, else one at a time
    (:func:`run_slabs`).
    """
    per_slab = 4 * points * channels * tiles_per_row * rows * itemsize
    threads = _threads.thread_count()
    return per_slab * (threads if slabs >= 2 * threads else 1)


class Arena:
    """Uninitialised arrays carved from one reusable buffer: a slab's temporaries without page faults.

    Every slab allocates the same temporaries (the padded slab, the
    transforms' passes, the products), several MiB; fresh ``np.empty``
    arrays of that size are new pages from the kernel each time, and
    faulting them in cost more than the transforms themselves. The arena
    hands out consecutive views of one buffer, :meth:`reset` at each slab;
    after a slab that needed more, the next one gets a single buffer that
    large.

    >>> a = Arena()
    >>> def slab():
    ...     a.reset()
    ...     return a((2, 3), np.dtype(np.float32))
    >>> first, second, third = slab(), slab(), slab()
    >>> np.shares_memory(second, third), a.nbytes
    (True, 64)
    """

    def __init__(self) -> None:
        self._chunks = [np.empty(0, dtype=np.uint8)]
        self._offset = self._used = self._peak = 0

    def __call__(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        nbytes = -(-math.prod(shape) * dtype.itemsize // 64) * 64  # 64-byte aligned starts
        if self._offset + nbytes > self._chunks[-1].size:
            self._chunks.append(np.empty(nbytes, dtype=np.uint8))
            self._offset = 0
        view = self._chunks[-1][self._offset : self._offset + nbytes]
        self._offset += nbytes
        self._used += nbytes
        self._peak = max(self._peak, self._used)
        return view[: math.prod(shape) * dtype.itemsize].view(dtype).reshape(shape)

    def reset(self) -> None:
        """Every earlier view may be overwritten from now on."""
        if len(self._chunks) > 1:
            self._chunks = [np.empty(self._peak, dtype=np.uint8)]
        self._offset = self._used = 0

    @property
    def nbytes(self) -> int:
        return sum(chunk.size for chunk in self._chunks)


def arena(name: str = "slab") -> Arena:
    """This thread's arena ``name``, reset (a slab's, and a channel chunk's inside a slab: two names)."""
    arenas = _local.__dict__.setdefault("arenas", {})
    mine = arenas.get(name)
    if mine is None or mine.nbytes > _KEEP_BYTES:
        mine = arenas[name] = Arena()
    mine.reset()
    return mine


def split_range(work, size: int) -> None:
    """``work(slice)`` over one block of ``range(size)`` per pool thread: one slab's step on every core."""
    count = _threads.thread_count()
    step = -(-size // count)
    blocks = [(slice(c, min(c + step, size)),) for c in range(0, size, step)]
    _threads.parallel(lambda block: work(block[0]), blocks)
