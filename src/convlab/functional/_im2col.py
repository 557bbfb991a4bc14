"""Convolution strategy ``im2col``: bounded chunks of im2col columns, one (batched) GEMM each.

Applies to every convolution and is the table's fallback: its only workspace
is the columns of one chunk, at least one output position's
``C_in * prod(kernel)`` values, which the chunker grants even below the limit.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from . import _blas
from ._conv_args import ConvArgs
from ._epilogue import Epilogue
from ._threads import parallel, thread_count
from ._window import gather, taps
from ._workspace import Chunk, chunk_positions, chunks, get_workspace_limit

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

# columns(batch, box, sizes, slot[, channels]) -> (nb, C_in, taps, *sizes) operand of one chunk's GEMM, in
# slot's buffer, with the input channels `channels` (default all) gathered into it.
Columns = Callable[..., np.ndarray]


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
    buffers: dict[object, np.ndarray] = {}  # one per slot: chunks in flight at once

    def columns(batch, box, sizes, slot, channels=slice(None)) -> np.ndarray:
        size = (batch.stop - batch.start) * x.shape[1] * taps(image) * math.prod(sizes)
        buffer = buffers.get(slot)
        if buffer is None or buffer.size < size:
            buffer = buffers[slot] = np.empty(size, dtype=x.dtype)
        cols = buffer[:size].reshape(batch.stop - batch.start, x.shape[1], taps(image), *sizes)
        gather(x[batch, channels], image, box, cols[:, channels])
        return cols

    return convolve_chunks(args, columns, epilogue)


def convolve_chunks(args: ConvArgs, columns: Columns, epilogue: Epilogue | None = None) -> np.ndarray:
    """The chunk loop shared with the ``direct`` strategy: ``out[box] = W_mat @ columns(box)``.

    The GEMM of a chunk is ``(g, C_out/g, C_in/g * taps) @ (g, C_in/g * taps, positions)``,
    written straight into the output: a chunk is a contiguous run of output
    positions, so its slice of the output is a strided matrix BLAS accepts.
    Float chunks run on the pool, one per thread on a single-threaded BLAS
    (as :mod:`._wide`'s): the gathers run in parallel too, and the result is
    the same as one thread's. ``columns(batch, box, sizes, slot)`` fills the
    buffer of ``slot``; chunks in flight at once have distinct slots.

    A weight matrix larger than :data:`._blas.BLOCK_WEIGHT` (without groups) is
    multiplied block of rows by block of rows (:func:`._blas.row_blocks`), each
    block's GEMM streaming only its part of the matrix: then the chunks go in
    waves of one per thread, each wave's gathers on the pool, then all its
    (chunk, block) GEMMs, so that even a layer of one chunk (1024 channels at
    30^2) has work for every thread.
    """
    x, w, groups, out_shape = args.x, args.w, args.groups, args.out_shape
    (n, c_in), c_out, k = x.shape[:2], w.shape[0], taps(args.image)
    out = np.empty((n, c_out, *out_shape), dtype=args.policy.accumulate)
    wmat = w.reshape(groups, c_out // groups, c_in // groups * k)
    real = out.dtype.kind == "f"
    threads = pool_threads(workspace(args)) if real else 1
    split = real and groups == 1
    blocks = _blas.row_blocks(c_out, wmat.shape[2] * w.itemsize) if split else [slice(0, c_out)]
    epilogues = {b.start: (epilogue or Epilogue()).rows(b) for b in blocks}

    def multiply(box_item: Chunk, source: np.ndarray, block: slice) -> None:
        batch, box = box_item
        nb = batch.stop - batch.start
        rows = (block.stop - block.start) // groups
        target = reshape_view(out[(batch, block, *box)], (nb, groups, rows, -1))
        source = reshape_view(source, (nb, groups, c_in // groups * k, -1))
        if not real:
            np.matmul(wmat, source, out=target)  # exact integer products: NumPy's own loops
            return
        _blas.matmul_into(wmat[:, block], source, target)
        for sample in out[(batch, block, *box)] if not epilogues[block.start].empty else ():
            epilogues[block.start].apply(sample)

    def gather_into(box_item: Chunk, slot: object, channels: slice = slice(None)) -> np.ndarray:
        return columns(*box_item, tuple(b.stop - b.start for b in box_item[1]), slot, channels)

    boxes = chunks(n, out_shape, workspace(args))  # a generator: a tiny limit makes millions of chunks
    if len(blocks) == 1:
        work = lambda item: multiply(item, gather_into(item, threading.get_ident()), blocks[0])  # noqa: E731
        run_chunks(work, boxes, threads)
    else:
        _in_waves(boxes, blocks, threads, gather_into, multiply, c_in)
    return out


def _in_waves(
    boxes: Iterator[Chunk], blocks: list[slice], threads: int, gather_into, multiply, c_in: int
) -> None:
    """Chunks ``threads`` at a time: their gathers on the pool (by blocks of channels, so that a wave of
    one chunk has them on every thread too), then their (chunk, block) GEMMs."""
    step = -(-c_in // (2 * threads))
    while wave := list(itertools.islice(boxes, threads)):
        # The buffers first, one thread: the gathers then only write into them.
        sources = [gather_into(box_item, i, slice(0, 0)) for i, box_item in enumerate(wave)]

        def fill(item: tuple[int, int], wave=wave) -> None:
            gather_into(wave[item[0]], item[0], slice(item[1], item[1] + step))

        def product(item: tuple[int, slice], wave=wave, sources=sources) -> None:
            multiply(wave[item[0]], sources[item[0]], item[1])

        run_chunks(fill, [(i, c) for i in range(len(wave)) for c in range(0, c_in, step)], threads)
        run_chunks(product, [(i, block) for i in range(len(wave)) for block in blocks], threads)


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
        parallel(chunk, items, threads, run=1)


def reshape_view(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``array.reshape(shape)`` that must not copy: writing into it must write into ``array``."""
    view = array.reshape(shape)
    if view.size and not np.may_share_memory(view, array):
        raise RuntimeError(f"internal: a chunk of shape {array.shape} is not a reshapeable view")
    return view
