"""Convolution strategy ``wide``: at stride 1, kernel taps as shifts of the flat image, no N-d gather.

Derivation. Pad one sample to the extent ``S_i = out_i + (k_i - 1) * d_i``
(stride 1: exactly ``lo + n + hi``) and flatten it in C order, so that
position ``z`` sits at ``sum(z_i * st_i)`` with ``st_i = prod(S[i+1:])``.
Output position ``y`` reads ``y + t * d`` for tap ``t``, i.e. the flat index::

    j(y) + off(t),    j(y) = sum(y_i * st_i),    off(t) = sum(t_i * d_i * st_i).

Computing an output for *every* flat ``j`` of a run of rows of the first
dimension (a "wide" grid whose other coordinates range over the padded
extent ``S_i`` instead of ``out_i``) makes one tap's operand the contiguous
run ``flat[:, j0 + off(t) : j0 + off(t) + L]``, a strided matrix BLAS reads
in place. So a chunk of outputs is ``sum_t W[:, :, t] @ flat[:, j0 + off(t):]``,
one GEMM per tap accumulated by BLAS (:mod:`._blas`), or, where that GEMM is
not available, there are groups or fewer than ``_MIN_TAP_DEPTH`` input
channels, ``taps`` memcpy's per channel into an im2col buffer and one GEMM.
The wide positions with some ``y_i >= out_i`` (``i >= 1``) are junk and
cropped at the end. Stopping ``L`` at the last valid position of the run
keeps every read in the image: the last valid position plus the largest
offset is
``sum((out_i - 1 + (k_i - 1) * d_i) * st_i) = sum((S_i - 1) * st_i)``, the
last element.

Each output is still a sum of ``C_in/groups * taps`` products in the dtype's
arithmetic, only in another order than the N-d gather's single GEMM. The
cost is the junk columns, a fraction ``1 - prod(out[1:]) / prod(S[1:])`` of
the GEMMs: 0.4 % for a 3x3 kernel on a 570 image, 6.7 % on a 30 one, where
the N-d gather is as fast or faster (``_MAX_JUNK``).
"""

from __future__ import annotations

import math
import threading

import numpy as np

from . import _blas
from ._conv_args import ConvArgs
from ._epilogue import Epilogue
from ._im2col import run_chunks
from ._threads import thread_count
from ._window import taps
from ._workspace import chunk_positions, cuts, get_workspace_limit

__all__ = ["applies", "run", "run_fused", "workspace"]

# Measured on the U-Net layers (benchmarks/bench_conv.py, 1 and 2 threads, float32):
# per-tap GEMMs beat the N-d gather by 5-15 % (1 thread) and 10-25 % (2 threads)
# from 570 px down to 136 px, tie at 64 px (3 % junk) and lose up to 20 % at
# 30 px (6.7 % junk, and K = C_in GEMMs against the gather's 9 * C_in).
_MAX_JUNK = 0.05
# Input channels below which one GEMM per tap is too thin (K = C_in): a single
# GEMM of K = C_in * taps ran 3x faster at 1-3 channels, 1.3x at 8, and tied at
# 16 (64 output channels at 300^2, pooled chunks, loaded box). Without groups
# such layers gather the taps of the wide grid (contiguous copies), which beat
# im2col's N-d gather on a quiet box, 2 threads: 1 -> 64 @572 18.2 against
# 21.1 ms, 3 -> 64 @512 18.0 / 23.8, 8 -> 64 @256 6.1 / 7.0, 3 -> 32 @108^3
# 78 / 89 (tied at 4 -> 32 @256); with groups they stay im2col's.
_MIN_TAP_DEPTH = 16
# Output bytes of one pool thread's chunk: the accumulator its nine GEMMs
# revisit stays in the core's L2 (1 MiB here). Measured on the U-Net layers
# (loaded box): one thread, 1 MiB beat 4 MiB at 64-128 channels and tied at
# 512; pooled, 1 and 2 MiB tied, 512 KiB ran 25-30 % slower at 128-256
# channels (thinner GEMMs).
_THREAD_CHUNK = 1 << 20
# The same for the gathered taps of a thin layer (one GEMM of K = C_in * taps,
# its output written once): 1 -> 64 @572 ran 25.8, 19.7, 17.4 and 17.1 ms in
# 0.5, 1, 2 and 4 MiB chunks (the fixed cost of a chunk, some 30 us of calls,
# weighs on 3 -> 64 @512 alike: 29.5, 20.6, 19.2, 18.6).
_THIN_CHUNK = 2 << 20


def applies(args: ConvArgs) -> bool:
    """At stride 1 with at most ``_MAX_JUNK`` junk columns, when one row of the first dimension fits.

    One row: the chunk buffers of one row of the first output dimension (with
    the padded input rows it reads, if any padding), within the workspace
    limit and the chunk target.
    """
    return args.policy.accumulate.kind == "f" and _rows(args) is not None


def workspace(args: ConvArgs) -> int:
    """The per-tap weights and one thread's buffers for one row of wide positions."""
    copy, per_position, reach = _bytes(args, _extent(args))
    return copy + math.prod(_extent(args)[1:]) * per_position + reach


def run(args: ConvArgs) -> np.ndarray:
    """``(N, C_out, *out_shape)`` by the wide lowering; requires :func:`applies`."""
    return run_fused(args, Epilogue())


def run_fused(args: ConvArgs, epilogue: Epilogue) -> np.ndarray:
    """:func:`run` with ``epilogue`` (bias, ReLU) applied to each chunk as it is stored.

    Work items are (chunk of rows, blocks of output channels): every GEMM on
    one pool thread with a single-threaded BLAS (:func:`._im2col.run_chunks`),
    so a chunk's nine GEMMs accumulate in that core's cache, a layer has one
    join instead of a barrier per GEMM, and no BLAS thread is left spinning
    for the next layer. An item is one block when the input is read in
    place, all of them when the chunk pads its rows first (one copy serves
    every block). Chunks and blocks are cut the same whatever the thread
    count, so the result does not depend on it.
    """
    x, w, out_shape = args.x, args.w, args.out_shape
    extent = _extent(args)
    rows, threads = _plan(args)
    strides, offsets, tail = _flat_geometry(args, extent)
    out = np.empty((x.shape[0], w.shape[0], *out_shape), dtype=x.dtype)
    lower = (_by_taps(w, offsets) if _per_tap(args) else None) or _by_gather(
        w, offsets, args.groups, rows * strides[0]
    )
    blocks = _blocks(args)
    crop = (slice(None), slice(None), *(slice(0, o) for o in out_shape[1:]))
    epilogues = {b.start: epilogue.rows(b) for b in blocks}
    accumulators: dict[int, np.ndarray] = {}

    def chunk(item: tuple[int, int, int, list[slice]]) -> None:
        sample, a, b, its_blocks = item
        flat, start = source.rows_of(sample, a, b)
        acc = accumulators.get(threading.get_ident())
        if acc is None:
            width = max(s.stop - s.start for s in blocks)
            acc = np.empty((width, rows * strides[0]), x.dtype)
            acc = accumulators.setdefault(threading.get_ident(), acc)
        for block in its_blocks:
            part = acc[: block.stop - block.start]
            lower(flat, start, part[:, : (b - a - 1) * strides[0] + tail], block)
            wide = part[:, : (b - a) * strides[0]].reshape(block.stop - block.start, b - a, *extent[1:])
            # The epilogue in place while the block is in this core's cache, then one copy out:
            # storing through it wrote the output twice (1.3x the time at 64 ch @570). Only on
            # the valid positions: the last row's junk tail was never written.
            valid = wide[crop]
            epilogues[block.start].apply(valid)
            out[sample, block, a:b] = valid

    source = _Source(args, extent, rows)
    per_item = [blocks] if not source.inplace else [[block] for block in blocks]
    items = [
        (n, a, b, part) for n in range(x.shape[0]) for a, b in cuts(out_shape[0], rows) for part in per_item
    ]
    run_chunks(chunk, items, threads)
    return out


def _flat_geometry(args: ConvArgs, extent: tuple[int, ...]) -> tuple[list[int], list[int], int]:
    """(flat strides of the padded extent, flat offset of each tap, one past a row's last valid position)."""
    strides = [math.prod(extent[i + 1 :]) for i in range(len(extent))]
    offsets = [
        sum(t * d * s for t, d, s in zip(tap, args.dilation, strides)) for tap in np.ndindex(*args.kernel)
    ]
    tail = sum((o - 1) * s for o, s in zip(args.out_shape[1:], strides[1:])) + 1
    return strides, offsets, tail


def _by_taps(w: np.ndarray, offsets: list[int]):
    """Per chunk, one GEMM per tap accumulated by BLAS (``beta = 1``): no copy of the input at all.

    Each output is the sum over taps of per-tap dot products over the channels,
    still a sum of ``C_in * taps`` products in float arithmetic of the dtype.
    """
    gemm = _blas.gemm(w.dtype)
    if gemm is None:
        return None
    c_out, c_in, taps = w.shape[0], w.shape[1], len(offsets)
    per_tap = np.ascontiguousarray(np.moveaxis(w.reshape(c_out, c_in, taps), 2, 0))

    def run(flat: np.ndarray, start: int, acc: np.ndarray, block: slice) -> None:
        length = acc.shape[1]
        for t, off in enumerate(offsets):
            gemm(per_tap[t, block], flat[:, start + off : start + off + length], acc, 1.0 if t else 0.0)

    return run


def _by_gather(w: np.ndarray, offsets: list[int], groups: int, width: int):
    """Per chunk, ``taps`` contiguous copies per channel (im2col of the wide grid), then one GEMM."""
    c_out, c_in, taps = w.shape[0], w.shape[1] * groups, len(offsets)
    wmat = w.reshape(groups, c_out // groups, c_in // groups * taps)
    columns: dict[int, np.ndarray] = {}  # one buffer per pool thread

    def run(flat: np.ndarray, start: int, acc: np.ndarray, block: slice) -> None:
        # One block, all channels: the groups' GEMM cannot split its rows.
        length = acc.shape[1]
        cols = columns.get(threading.get_ident())
        if cols is None:
            cols = columns.setdefault(threading.get_ident(), np.empty((c_in, taps, width), dtype=w.dtype))
        source = cols.reshape(groups, c_in // groups * taps, width)
        for t, off in enumerate(offsets):
            cols[:, t, :length] = flat[:, start + off : start + off + length]
        # Column slices of contiguous buffers: views BLAS takes as they are.
        target = acc.reshape(groups, c_out // groups, length)
        _blas.matmul_into(wmat, source[:, :, :length], target)

    return run


def _extent(args: ConvArgs) -> tuple[int, ...]:
    return tuple(o + (k - 1) * d for o, k, d in zip(args.out_shape, args.kernel, args.dilation))


def _bytes(args: ConvArgs, extent: tuple[int, ...]) -> tuple[int, int, int]:
    """(bytes of the per-tap weights, bytes per wide position, bytes per thread beyond its positions)."""
    x, w = args.x, args.w
    c_in, c_out, item = x.shape[1], w.shape[0], x.dtype.itemsize
    copy = w.nbytes if _per_tap(args) else 0  # the per-tap weights of _by_taps
    # Per wide position: an im2col column (the gather variant) and an output column,
    # and a padded input column when the input is padded chunk by chunk (_Source) ...
    padded = not _Source.needless(x, args.lo, extent)
    per_position = (c_in * taps(args.windows) + c_out + (c_in if padded else 0)) * item
    # ... whose buffer also holds the kernel's reach along the first dimension.
    reach = (args.kernel[0] - 1) * args.dilation[0] * math.prod(extent[1:]) * c_in * item
    return copy, per_position, reach if padded else 0


def _rows(args: ConvArgs) -> int | None:
    """Rows of the first dimension per chunk, or ``None`` when the wide lowering does not apply.

    The per-tap GEMMs aim at ``_THREAD_CHUNK`` bytes of one block's output
    columns (the accumulator its nine GEMMs revisit stays in the core's L2),
    a thin layer's gathered taps at ``_THIN_CHUNK``; the gather variant with
    groups at the workspace target in im2col columns. Never the thread
    count: the chunks, hence the result, are the same on any number.
    """
    extent, out_shape = _extent(args), args.out_shape
    if any(s != 1 for s in args.stride) or (
        args.groups != 1 and args.x.shape[1] // args.groups < _MIN_TAP_DEPTH
    ):
        return None
    if any(lo + n > e for lo, n, e in zip(args.lo, args.x.shape[2:], extent)):
        return None  # the padding after is negative: part of the image is never read
    if 1 - math.prod(out_shape[1:]) / math.prod(extent[1:]) > _MAX_JUNK:
        return None
    copy, per_position, reach = _bytes(args, extent)
    row, item = math.prod(extent[1:]), args.x.dtype.itemsize
    if args.groups == 1 and _blas.gemm(args.x.dtype) is not None:
        block = _blocks(args)[0]
        target = _THREAD_CHUNK if _per_tap(args) else _THIN_CHUNK
        wanted = max(1, target // ((block.stop - block.start) * item * row))
    else:
        wanted = chunk_positions(per_position) // row
    rows = min(wanted, (get_workspace_limit() - copy - reach) // (per_position * row), out_shape[0])
    return rows if rows > 0 else None


def _per_tap(args: ConvArgs) -> bool:
    """Whether one GEMM per tap is deep enough (``_MIN_TAP_DEPTH``); else the taps are gathered."""
    return args.groups == 1 and args.x.shape[1] >= _MIN_TAP_DEPTH


def _blocks(args: ConvArgs) -> list[slice]:
    """The blocks of output channels (:func:`._blas.row_blocks` of one tap's matrix); one when gathered."""
    w = args.w
    if not _per_tap(args):
        return [slice(0, w.shape[0])]
    return _blas.row_blocks(w.shape[0], w.shape[1] * w.itemsize)


def _plan(args: ConvArgs) -> tuple[int, int]:
    """(rows per chunk, threads): as many pool threads as have a chunk's buffers within the limit."""
    rows = _rows(args)
    copy, per_position, reach = _bytes(args, _extent(args))
    fits = (get_workspace_limit() - copy) // (per_position * math.prod(_extent(args)[1:]) * rows + reach)
    return rows, max(1, min(thread_count(), fits))


class _Source:
    """The zero-padded input a chunk reads, flattened to ``(C_in, positions)``, and where its run starts.

    An unpadded contiguous sample is read in place. Otherwise each pool
    thread pads the rows its chunk reads (its output rows plus the kernel's
    reach ``(k_0 - 1) * d_0`` along the first dimension) into a buffer of
    its own, while they are about to be read from its cache: no padded copy
    of the whole sample (67 MB at 64 channels @512^2, a memory-bound pass and
    fresh pages on every call). The buffer's border in the other dimensions
    is zeroed once, when it is made; padding rows of the first dimension are
    zeroed for the chunks that reach them.
    """

    def __init__(self, args: ConvArgs, extent: tuple[int, ...], rows: int):
        self.x, self.lo, self.extent = args.x, args.lo, extent
        self.inplace = self.needless(args.x, args.lo, extent)
        self.reach = (args.kernel[0] - 1) * args.dilation[0]
        self.rows = rows + self.reach
        self.interior = tuple(slice(a, a + n) for a, n in zip(args.lo[1:], args.x.shape[3:]))
        self.buffers: dict[int, np.ndarray] = {}

    @staticmethod
    def needless(x: np.ndarray, lo: tuple[int, ...], extent: tuple[int, ...]) -> bool:
        return not any(lo) and x.shape[2:] == extent and x.flags.c_contiguous

    def rows_of(self, sample: int, a: int, b: int) -> tuple[np.ndarray, int]:
        """(flat padded rows, flat index of output row ``a``'s first position) for output rows ``[a, b)``."""
        x = self.x
        if self.inplace:
            return x[sample].reshape(x.shape[1], -1), a * math.prod(self.extent[1:])
        buffer = self.buffers.get(threading.get_ident())
        if buffer is None:
            buffer = np.zeros((x.shape[1], self.rows, *self.extent[1:]), dtype=x.dtype)
            buffer = self.buffers.setdefault(threading.get_ident(), buffer)
        count, lo = b - a + self.reach, self.lo[0]
        # Padded rows [a, a + count) hold image rows [top, bottom) - lo; the others are zero.
        top, bottom = (min(max(r, a), a + count) for r in (lo, lo + x.shape[2]))
        buffer[:, : top - a] = 0
        buffer[:, bottom - a : count] = 0
        if bottom > top:
            buffer[(slice(None), slice(top - a, bottom - a), *self.interior)] = x[
                sample, :, top - lo : bottom - lo
            ]
        return buffer.reshape(x.shape[1], -1), 0
