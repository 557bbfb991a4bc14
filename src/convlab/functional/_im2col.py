"""Convolution strategy ``im2col``: bounded chunks of im2col columns, one (batched) GEMM each.

Applies to every convolution and is the table's fallback: its only workspace
is the columns of one chunk, at least one output position's
``C_in * prod(kernel)`` values, which the chunker grants even below the limit.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from . import _blas
from ._conv_args import ConvArgs
from ._epilogue import Epilogue
from ._threads import parallel, thread_count
from ._window import gather, taps
from ._workspace import chunk_positions, chunks, get_workspace_limit

__all__ = [
    "applies",
    "convolve_chunks",
    "pool_threads",
    "reshape_view",
    "run",
    "run_chunks",
    "run_fused",
    "workspace",
]

# columns(batch, box, sizes) -> (nb, C_in, taps, *sizes) operand of one chunk's GEMM
Columns = Callable[[slice, tuple[slice, ...], tuple[int, ...]], np.ndarray]


def applies(args: ConvArgs) -> bool:
    return True


def workspace(args: ConvArgs) -> int:
    """Bytes of one output position's im2col column, the smallest chunk."""
    return args.x.shape[1] * taps(args.image) * args.x.dtype.itemsize


def run(args: ConvArgs) -> np.ndarray:
    """``(N, C_out, *out_shape)``: per chunk of output positions, im2col then one GEMM."""
    return run_fused(args, Epilogue())


def run_fused(args: ConvArgs, epilogue: Epilogue) -> np.ndarray:
    """:func:`run` with ``epilogue`` applied to each chunk right after its GEMM."""
    x, image = args.x, args.image
    buffers: dict[int, np.ndarray] = {}  # one per thread: chunks may run on the pool

    def columns(batch: slice, box: tuple[slice, ...], sizes: tuple[int, ...]) -> np.ndarray:
        size = (batch.stop - batch.start) * x.shape[1] * taps(image) * math.prod(sizes)
        buffer = buffers.get(threading.get_ident())
        if buffer is None or buffer.size < size:
            buffer = buffers[threading.get_ident()] = np.empty(size, dtype=x.dtype)
        cols = buffer[:size].reshape(batch.stop - batch.start, x.shape[1], taps(image), *sizes)
        gather(x[batch], image, box, cols)
        return cols

    return convolve_chunks(args, columns, epilogue)


def convolve_chunks(args: ConvArgs, columns: Columns, epilogue: Epilogue | None = None) -> np.ndarray:
    """The chunk loop shared with the ``direct`` strategy: ``out[box] = W_mat @ columns(box)``.

    The GEMM of a chunk is ``(g, C_out/g, C_in/g * taps) @ (g, C_in/g * taps, positions)``,
    written straight into the output: a chunk is a contiguous run of output
    positions, so its slice of the output is a strided matrix BLAS accepts.
    Float chunks run on the pool, one per thread on a single-threaded BLAS
    (as :mod:`._wide`'s): the gathers run in parallel too, and the result is
    the same as one thread's; ``columns`` must then give each thread its own
    buffer. A weight matrix larger than :data:`._blas.BLOCK_WEIGHT` is
    multiplied block of rows by block of rows (:func:`._blas.row_blocks`),
    each block's GEMM streaming only its part of the matrix.
    """
    x, w, groups, out_shape = args.x, args.w, args.groups, args.out_shape
    (n, c_in), c_out, k = x.shape[:2], w.shape[0], taps(args.image)
    out = np.empty((n, c_out, *out_shape), dtype=args.policy.accumulate)
    wmat = w.reshape(groups, c_out // groups, c_in // groups * k)
    threads = pool_threads(workspace(args)) if out.dtype.kind == "f" else 1
    blocks = _blas.row_blocks(c_out // groups, wmat.shape[2] * w.itemsize)

    def chunk(item: tuple[slice, tuple[slice, ...]]) -> None:
        batch, box = item
        nb, sizes = batch.stop - batch.start, tuple(b.stop - b.start for b in box)
        source = reshape_view(columns(batch, box, sizes), (nb, groups, c_in // groups * k, -1))
        target = reshape_view(out[(batch, slice(None), *box)], (nb, groups, c_out // groups, -1))
        if out.dtype.kind != "f":
            np.matmul(wmat, source, out=target)  # exact integer products: NumPy's own loops
            return
        for block in blocks:
            _blas.matmul_into(wmat[:, block], source, target[:, :, block])
        if epilogue is not None and not epilogue.empty:
            for sample in out[(batch, slice(None), *box)]:
                epilogue.apply(sample)

    run_chunks(chunk, chunks(n, out_shape, workspace(args)), threads)
    return out


def pool_threads(bytes_per_position: int) -> int:
    """Pool threads for the chunks :func:`._workspace.chunks` makes of ``bytes_per_position`` each.

    As many as have a chunk's buffers within the workspace limit at once (at
    least 1). The chunks are the same whatever the count, so the result does
    not depend on it: a chunk's GEMM of another width may round differently
    (BLAS's edge kernels), and tiles of an image must give the whole image's
    values.
    """
    per_chunk = chunk_positions(bytes_per_position) * bytes_per_position
    return max(1, min(thread_count(), get_workspace_limit() // max(1, per_chunk)))


def run_chunks(chunk: Callable[[Any], None], items: Iterable[Any], threads: int) -> None:
    """``chunk(item)`` for every item under a single-threaded BLAS, on ``threads`` of the pool.

    Never BLAS's own threads, even on one thread: they would spin after the
    call and take a core from the next layer's pool threads (measured: the
    layer after a BLAS-threaded one ran 30-40 % slower).
    """
    with _blas.single_threaded():
        if threads < 2:
            for item in items:
                chunk(item)
            return
        parallel(chunk, items, threads)


def reshape_view(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``array.reshape(shape)`` that must not copy: writing into it must write into ``array``."""
    view = array.reshape(shape)
    if view.size and not np.may_share_memory(view, array):
        raise RuntimeError(f"internal: a chunk of shape {array.shape} is not a reshapeable view")
    return view
