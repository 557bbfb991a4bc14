"""Convolution strategy ``im2col``: bounded chunks of im2col columns, one (batched) GEMM each.

Applies to every convolution and is the table's fallback: its only workspace
is the columns of one chunk, at least one output position's
``C_in * prod(kernel)`` values, which the chunker grants even below the limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._conv_args import ConvArgs
from ._epilogue import Epilogue
from ._window import gather, taps
from ._workspace import chunks

__all__ = ["applies", "convolve_chunks", "reshape_view", "run", "run_fused", "workspace"]

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
    buffer = np.empty(0, dtype=x.dtype)

    def columns(batch: slice, box: tuple[slice, ...], sizes: tuple[int, ...]) -> np.ndarray:
        nonlocal buffer
        size = (batch.stop - batch.start) * x.shape[1] * taps(image) * math.prod(sizes)
        if buffer.size < size:
            buffer = np.empty(size, dtype=x.dtype)
        cols = buffer[:size].reshape(batch.stop - batch.start, x.shape[1], taps(image), *sizes)
        gather(x[batch], image, box, cols)
        return cols

    return convolve_chunks(args, columns, epilogue)


def convolve_chunks(args: ConvArgs, columns: Columns, epilogue: Epilogue | None = None) -> np.ndarray:
    """The chunk loop shared with the ``direct`` strategy: ``out[box] = W_mat @ columns(box)``.

    The GEMM of a chunk is ``(g, C_out/g, C_in/g * taps) @ (g, C_in/g * taps, positions)``,
    written straight into the output: a chunk is a contiguous run of output
    positions, so its slice of the output is a strided matrix BLAS accepts.
    """
    x, w, groups, out_shape = args.x, args.w, args.groups, args.out_shape
    (n, c_in), c_out, k = x.shape[:2], w.shape[0], taps(args.image)
    out = np.empty((n, c_out, *out_shape), dtype=args.policy.accumulate)
    wmat = w.reshape(groups, c_out // groups, c_in // groups * k)
    for batch, box in chunks(n, out_shape, workspace(args)):
        nb, sizes = batch.stop - batch.start, tuple(b.stop - b.start for b in box)
        source = reshape_view(columns(batch, box, sizes), (nb, groups, c_in // groups * k, -1))
        target = reshape_view(out[(batch, slice(None), *box)], (nb, groups, c_out // groups, -1))
        np.matmul(wmat, source, out=target)
        if epilogue is not None and not epilogue.empty:
            block = out[(batch, slice(None), *box)]
            for sample in range(nb):
                epilogue.apply(block[sample])
    return out


def reshape_view(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``array.reshape(shape)`` that must not copy: writing into it must write into ``array``."""
    view = array.reshape(shape)
    if view.size and not np.may_share_memory(view, array):
        raise RuntimeError(f"internal: a chunk of shape {array.shape} is not a reshapeable view")
    return view
