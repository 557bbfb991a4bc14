"""The memory the convolution operators may use beyond their input and output.

Lowering a convolution to one GEMM materialises an im2col matrix of
``C_in * prod(kernel_size)`` rows and one column per output position: for the
first U-Net layer at 572x572 that is about 750 MB per image. The operators
therefore lower in chunks (boxes of output positions) and the chunk size
obeys two numbers:

- the *limit* (default 256 MiB, user-settable), a hard ceiling on the bytes of
  any temporary buffer a chunk allocates;
- the *target* (a few MiB), the size the chunks aim for when the limit allows
  it, measured to keep the gather of one chunk in the caches while BLAS still
  sees products large enough to run at full speed.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import math
from collections.abc import Iterator

from .._args import ConvlabError, as_int

__all__ = [
    "Chunk",
    "chunk_positions",
    "chunks",
    "cuts",
    "get_workspace_limit",
    "set_workspace_limit",
    "workspace_limit",
]

_DEFAULT_LIMIT = 256 * 2**20
# Measured on the U-Net layer shapes (benchmarks/bench_conv.py): chunks of a few
# MiB of im2col columns keep the gather in the caches with the GEMM at full speed;
# chunks of 100 MiB and more ran up to twice slower (the columns spill to memory
# before BLAS reads them) ...
_TARGET = 4 * 2**20
# ... and below about a thousand columns the GEMMs get too thin, whatever the
# channel count (256 columns cost up to 20 % at 64 to 1024 channels).
_MIN_POSITIONS = 2048
_LIMIT: contextvars.ContextVar[int] = contextvars.ContextVar(
    "convlab_workspace_limit", default=_DEFAULT_LIMIT
)

# (batch slice, one slice per spatial dimension of the output box)
Chunk = tuple[slice, tuple[slice, ...]]


def get_workspace_limit() -> int:
    """The current workspace limit in bytes (default 256 MiB).

    Examples
    --------
    >>> get_workspace_limit() > 0
    True
    """
    return _LIMIT.get()


def set_workspace_limit(nbytes: int | None) -> int:
    """Set the bytes of temporary memory one operator call may allocate, in this thread; return the old limit.

    Parameters
    ----------
    nbytes : int or None
        A positive number of bytes, or ``None`` for the default (256 MiB).
        The input, the output and, for non-zero ``padding_mode``, the padded
        copy of the input are not counted. A limit smaller than one chunk
        (one output position's im2col column) is raised to that one column.

    Examples
    --------
    >>> old = set_workspace_limit(64 * 2**20)
    >>> get_workspace_limit()
    67108864
    >>> _ = set_workspace_limit(old)
    """
    old = _LIMIT.get()
    _LIMIT.set(_DEFAULT_LIMIT if nbytes is None else as_int(nbytes, "nbytes", minimum=1))
    return old


@contextlib.contextmanager
def workspace_limit(nbytes: int | None) -> Iterator[int]:
    """Context manager: :func:`set_workspace_limit` for the block, restored after; other threads unaffected.

    Examples
    --------
    >>> with workspace_limit(2**20) as limit:
    ...     limit
    1048576
    """
    token = _LIMIT.set(_DEFAULT_LIMIT if nbytes is None else as_int(nbytes, "nbytes", minimum=1))
    try:
        yield _LIMIT.get()
    finally:
        _LIMIT.reset(token)


def chunk_positions(bytes_per_position: int) -> int:
    """How many output positions one chunk should hold: the target, capped by the limit.

    May be 0 when a single position exceeds the limit.
    """
    if bytes_per_position <= 0:
        raise ConvlabError(f"internal: bytes_per_position must be positive, got {bytes_per_position}")
    positions = max(_TARGET // bytes_per_position, _MIN_POSITIONS)
    return min(positions, _LIMIT.get() // bytes_per_position)


def chunks(batch: int, out_shape: tuple[int, ...], bytes_per_position: int) -> Iterator[Chunk]:
    """Boxes of output positions covering ``(batch, *out_shape)`` in order.

    Each box is a run of consecutive positions in C order whose temporary
    buffers (``bytes_per_position`` each) fit the target, or the limit when a
    smaller box is impossible. A box spans whole samples, or one sample and a
    block of one dimension with every later dimension complete, so that it is
    a contiguous range of the flattened output and reshapes without a copy.
    """
    positions = max(chunk_positions(bytes_per_position), 1)
    total = math.prod(out_shape)
    full = tuple(slice(0, n) for n in out_shape)
    if positions >= total:
        step = max(positions // max(total, 1), 1)
        for n in range(0, batch, step):
            yield slice(n, min(n + step, batch)), full
        return
    # The first axis whose trailing block fits: block `rows` of it, the rest whole.
    axis = next(i for i in range(len(out_shape)) if math.prod(out_shape[i + 1 :]) <= positions)
    rows = positions // math.prod(out_shape[axis + 1 :])
    for n in range(batch):
        for lead in _indices(out_shape[:axis]):
            for r in range(0, out_shape[axis], rows):
                box = (*(slice(i, i + 1) for i in lead), slice(r, min(r + rows, out_shape[axis])))
                yield slice(n, n + 1), box + full[axis + 1 :]


def cuts(length: int, most: int) -> list[tuple[int, int]]:
    """``[start, stop)`` runs covering ``range(length)``, at most ``most`` long, an even count, within 1.

    Chunks of equal work let the pool's threads finish together: one short
    last chunk (64 rows in chunks of 7: 9 of 7 and 1 of 1) left one of two
    threads idle for 10 % of a layer. An even count splits evenly on two
    threads. The runs depend on the arguments alone, never on the thread
    count, so neither does the result.

    >>> cuts(64, 7)
    [(0, 7), (7, 14), (14, 21), (21, 28), (28, 34), (34, 40), (40, 46), (46, 52), (52, 58), (58, 64)]
    >>> cuts(5, 2)
    [(0, 2), (2, 3), (3, 4), (4, 5)]
    >>> cuts(3, 8)
    [(0, 3)]
    """
    if length < 1 or most < 1:
        raise ConvlabError(f"internal: cuts of {length} in runs of at most {most}")
    count = -(-length // most)
    count = min(length, count + count % 2) if count > 1 else 1
    size, extra = divmod(length, count)
    bounds = [i * size + min(i, extra) for i in range(count + 1)]
    return list(itertools.pairwise(bounds))


def _indices(shape: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    if not shape:
        yield ()
        return
    for i in range(shape[0]):
        for rest in _indices(shape[1:]):
            yield (i, *rest)
