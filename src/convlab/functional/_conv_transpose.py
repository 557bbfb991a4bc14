"""Transposed convolution, N-d: the adjoint of :func:`conv_nd`, as GEMM then col2im.

A convolution is ``out = W_mat @ im2col(x)``; its adjoint is therefore
``x_grad = col2im(W_mat^T @ y)``: one GEMM from input channels to every
(output channel, tap) pair, then a scatter-add of each tap's plane into the
output through strided slices. No zeros are inserted between input pixels,
which would multiply the work by ``prod(stride)``.
"""

from __future__ import annotations

import math
import threading

import numpy as np
from numpy.typing import ArrayLike

from .._args import ConvlabError
from . import _blas
from ._conv import IntArg
from ._conv_args import ConvArgs, transpose_args
from ._im2col import pool_threads, reshape_view, run_chunks
from ._window import disjoint, scatter_add, taps
from ._workspace import Chunk, chunks

__all__ = ["conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "conv_transpose_nd"]


@np.errstate(invalid="ignore", over="ignore", divide="ignore")  # NaN/inf propagate silently, as in torch
def conv_transpose_nd(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None,
    stride: object,
    padding: object,
    output_padding: object,
    groups: object,
    dilation: object,
    output_size: object,
    ndim: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The transposed convolution of ``ndim`` spatial dimensions behind ``conv_transpose1d/2d/3d``.

    ``out``, a batched array (or view) of the result's shape and dtype, receives
    the result: ``nn`` writes a U-Net's up-convolution straight into its half
    of the skip concatenation.
    """
    args = transpose_args(
        input, weight, bias, stride, padding, output_padding, groups, dilation, output_size, ndim
    )
    if out is not None:
        expected = (args.x.shape[0], args.w.shape[1] * args.groups, *args.out_shape)
        if (
            out.shape != expected
            or out.dtype != args.policy.output
            or args.policy.output != args.policy.accumulate
        ):
            raise ConvlabError(
                f"out must be an array of shape {expected} and dtype {args.policy.output}, "
                f"got out of shape {out.shape} and dtype {out.dtype}"
            )
        return _transpose(args, out)
    result = args.policy.finish(_transpose(args))
    return result[0] if args.unbatched else result


def _tiles(args: ConvArgs) -> bool:
    """Whether the taps tile the output exactly (kernel = stride, no dilation, padding or output_padding)."""
    return all(
        w.kernel == w.stride and w.dilation == 1 and w.padding == (0, 0) and not w.output_padding
        for w in args.windows
    )


def _transpose(args: ConvArgs, out: np.ndarray | None = None) -> np.ndarray:
    """``(N, C_out, *out_shape)``: per chunk of input positions, one GEMM, then col2im.

    The GEMM of a chunk is ``(g, C_out/g * taps, C_in/g) @ (g, C_in/g, positions)``:
    the transpose of the convolution's weight matrix. The input chunk is a
    contiguous run of positions, so it enters BLAS without a copy.

    Disjoint taps (the U-Net's 2x2 stride-2 up-convolution) give each output
    pixel one term: col2im stores instead of adding, the bias is added to the
    chunk's columns in cache where the taps tile the output (``v + b`` either
    way), which then needs no zeros, and chunks write disjoint pixels, so they run on
    the pool with a single-threaded BLAS each (see :mod:`._wide`).
    """
    x, image = args.x, args.image
    store = disjoint(image)
    tiled = store and _tiles(args)
    if out is None:
        shape = (x.shape[0], args.w.shape[1] * args.groups, *args.out_shape)
        out = (np.empty if tiled else np.zeros)(shape, dtype=args.policy.accumulate)
    elif not tiled:
        out[...] = 0
    bias = None if args.b is None else args.b.reshape(-1, 1, *(1,) * args.ndim)
    # Where the taps leave gaps (stride > kernel) the gaps get the bias too: added at the end.
    in_cols = bias is not None and tiled and out.dtype == x.dtype
    if bias is not None and not store:
        out += bias[:, 0]
    per_position = out.shape[1] * taps(image) * x.dtype.itemsize
    runner = _Runner(args, out, bias if in_cols else None)
    boxes = list(chunks(x.shape[0], x.shape[2:], per_position))
    threads = pool_threads(per_position)
    if store:  # disjoint taps: chunks write disjoint pixels and may run at once
        run_chunks(runner.chunk, [(box, block) for box in boxes for block in runner.blocks], threads)
    else:  # overlapping taps add into shared pixels
        for first in range(0, len(boxes), threads):
            runner.wave(boxes[first : first + threads], threads)
    if bias is not None and store and not in_cols:
        out += bias[:, 0]
    return out


class _Runner:
    """The chunks of one transposed convolution: per chunk of input positions and block of output
    channels, a GEMM into a buffer of columns, then col2im.

    A weight matrix larger than :data:`._blas.BLOCK_WEIGHT` is cut into blocks
    of whole output channels (each channel's ``taps`` rows together), so each
    GEMM streams only its part of it and each block's col2im writes only its
    channels; with groups, one block of all channels.
    """

    def __init__(self, args: ConvArgs, out: np.ndarray, bias: np.ndarray | None):
        x, w, groups = args.x, args.w, args.groups
        self.args, self.out, self.bias, self.k = args, out, bias, taps(args.image)
        c_in, c_out = x.shape[1], out.shape[1]
        self.w_t = w.reshape(groups, c_in // groups, c_out // groups * self.k).transpose(0, 2, 1)
        per_channel = self.k * c_in // groups * w.itemsize
        self.blocks = _blas.row_blocks(c_out, per_channel, self.k) if groups == 1 else [slice(0, c_out)]
        self.buffers: dict[object, np.ndarray] = {}

    def columns(self, box_item: Chunk, channels: int, slot: object) -> np.ndarray:
        """``slot``'s buffer as ``(nb, channels, taps, *sizes)`` columns of the chunk ``box_item``."""
        batch, box = box_item
        shape = (batch.stop - batch.start, channels, self.k, *(s.stop - s.start for s in box))
        buffer = self.buffers.get(slot)
        if buffer is None or buffer.size < math.prod(shape):
            buffer = self.buffers[slot] = np.empty(math.prod(shape), dtype=self.args.x.dtype)
        return buffer[: math.prod(shape)].reshape(shape)

    def multiply(self, box_item: Chunk, block: slice, planes: np.ndarray) -> None:
        """``planes = (W^T @ x[chunk])`` for the output channels ``block`` (plus the bias in cache)."""
        (batch, box), groups, x = box_item, self.args.groups, self.args.x
        nb, rows = batch.stop - batch.start, slice(block.start * self.k, block.stop * self.k)
        source = reshape_view(x[(batch, slice(None), *box)], (nb, groups, x.shape[1] // groups, -1))
        cols = reshape_view(planes, (nb, groups, planes.shape[1] // groups * self.k, -1))
        _blas.matmul_into(self.w_t[:, rows] if groups == 1 else self.w_t, source, cols)
        if self.bias is not None:
            planes += self.bias[block]

    def chunk(self, item: tuple[Chunk, slice]) -> None:
        """Disjoint taps: one (chunk, block) from GEMM to stored pixels, in this thread's buffer."""
        box_item, block = item
        planes = self.columns(box_item, block.stop - block.start, threading.get_ident())
        self.multiply(box_item, block, planes)
        scatter_add(planes, self.args.image, box_item[1], self.out[box_item[0], block], assign=True)

    def wave(self, wave: list[Chunk], threads: int) -> None:
        """Overlapping taps, a few chunks: their (chunk, block) GEMMs on the pool, then col2im by
        blocks of channels, each adding the chunks in order: every pixel sums its terms in chunk
        order whatever the threads."""
        planes = [self.columns(box_item, self.out.shape[1], i) for i, box_item in enumerate(wave)]
        items = [(i, block) for i in range(len(wave)) for block in self.blocks]
        run_chunks(lambda it: self.multiply(wave[it[0]], it[1], planes[it[0]][:, it[1]]), items, threads)
        step = -(-self.out.shape[1] // (2 * threads))

        def add(item: tuple[int]) -> None:
            channels = slice(item[0], item[0] + step)
            for (batch, box), cols in zip(wave, planes):
                scatter_add(cols[:, channels], self.args.image, box, self.out[batch, channels])

        run_chunks(add, [(c,) for c in range(0, self.out.shape[1], step)], threads)


def conv_transpose1d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: IntArg = 0,
    output_padding: IntArg = 0,
    groups: int = 1,
    dilation: IntArg = 1,
    output_size: IntArg | None = None,
) -> np.ndarray:
    """1-D transposed convolution, as ``torch.nn.functional.conv_transpose1d``.

    Parameters
    ----------
    input : array_like, shape ``(N, C_in, L)`` or ``(C_in, L)``
    weight : array_like, shape ``(C_in, C_out/groups, k)``
        PyTorch's layout for transposed convolutions (input channels first).
    bias : array_like, shape ``(C_out,)``, optional
    stride, dilation : int or tuple of 1 ints
    padding : int or tuple
        Removed from the output: one int, one per dimension, or ``(lo, hi)`` pairs.
    output_padding : int or tuple of 1 ints
        Added to the end of the output; smaller than ``max(stride, dilation)``.
    groups : int
    output_size : tuple of int, optional
        The spatial output size (or the whole output shape), as accepted by
        ``nn.ConvTranspose1d.forward``; it picks ``output_padding``
        (:func:`convlab.shapes.output_padding_for`).

    Returns
    -------
    numpy.ndarray, shape ``(N, C_out, L_out)`` (``(C_out, L_out)`` if unbatched)

    Notes
    -----
    ``out = (size - 1)*stride - lo - hi + dilation*(k - 1) + output_padding + 1``
    (:func:`convlab.shapes.conv_transpose_output_size`). Computed as one GEMM
    per chunk of input positions followed by a strided scatter-add per kernel
    tap (col2im): the adjoint of ``conv1d`` with the same arguments.
    The output is checked first against :func:`convlab.memory_limit`.

    Examples
    --------
    >>> conv_transpose1d(np.array([[[1.0, 2.0]]]), np.array([[[1.0, 10.0, 100.0]]]), stride=2)
    array([[[  1.,  10., 102.,  20., 200.]]])
    """
    return conv_transpose_nd(
        input, weight, bias, stride, padding, output_padding, groups, dilation, output_size, 1
    )


def conv_transpose2d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: IntArg = 0,
    output_padding: IntArg = 0,
    groups: int = 1,
    dilation: IntArg = 1,
    output_size: IntArg | None = None,
) -> np.ndarray:
    """2-D transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

    Parameters
    ----------
    input : array_like, shape ``(N, C_in, H, W)`` or ``(C_in, H, W)``
    weight : array_like, shape ``(C_in, C_out/groups, kH, kW)``
        PyTorch's layout for transposed convolutions (input channels first).
    bias : array_like, shape ``(C_out,)``, optional
    stride, dilation : int or tuple of 2 ints
    padding : int or tuple
        Removed from the output: one int, one per dimension, or ``(lo, hi)`` pairs.
    output_padding : int or tuple of 2 ints
        Added to the end of the output; smaller than ``max(stride, dilation)``.
    groups : int
    output_size : tuple of int, optional
        The spatial output size (or the whole output shape), as accepted by
        ``nn.ConvTranspose2d.forward``; it picks ``output_padding``
        (:func:`convlab.shapes.output_padding_for`).

    Returns
    -------
    numpy.ndarray, shape ``(N, C_out, H_out, W_out)`` (``(C_out, H_out, W_out)`` if unbatched)

    Notes
    -----
    ``out = (size - 1)*stride - lo - hi + dilation*(k - 1) + output_padding + 1``
    (:func:`convlab.shapes.conv_transpose_output_size`). Computed as one GEMM
    per chunk of input positions followed by a strided scatter-add per kernel
    tap (col2im): the adjoint of ``conv2d`` with the same arguments.
    The output is checked first against :func:`convlab.memory_limit`.

    Examples
    --------
    >>> up = conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), stride=2)
    >>> up.shape, up.sum()
    ((1, 1, 4, 4), np.float64(16.0))
    >>> conv_transpose2d(np.ones((1, 1, 12, 12)), np.ones((1, 1, 3, 3)), stride=2, padding=1,
    ...                  output_size=(24, 24)).shape
    (1, 1, 24, 24)
    """
    return conv_transpose_nd(
        input, weight, bias, stride, padding, output_padding, groups, dilation, output_size, 2
    )


def conv_transpose3d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: IntArg = 0,
    output_padding: IntArg = 0,
    groups: int = 1,
    dilation: IntArg = 1,
    output_size: IntArg | None = None,
) -> np.ndarray:
    """3-D transposed convolution, as ``torch.nn.functional.conv_transpose3d``.

    Parameters
    ----------
    input : array_like, shape ``(N, C_in, D, H, W)`` or ``(C_in, D, H, W)``
    weight : array_like, shape ``(C_in, C_out/groups, kD, kH, kW)``
        PyTorch's layout for transposed convolutions (input channels first).
    bias : array_like, shape ``(C_out,)``, optional
    stride, dilation : int or tuple of 3 ints
    padding : int or tuple
        Removed from the output: one int, one per dimension, or ``(lo, hi)`` pairs.
    output_padding : int or tuple of 3 ints
        Added to the end of the output; smaller than ``max(stride, dilation)``.
    groups : int
    output_size : tuple of int, optional
        The spatial output size (or the whole output shape), as accepted by
        ``nn.ConvTranspose3d.forward``; it picks ``output_padding``
        (:func:`convlab.shapes.output_padding_for`).

    Returns
    -------
    numpy.ndarray, shape ``(N, C_out, D_out, H_out, W_out)`` (``(C_out, D_out, H_out, W_out)`` if unbatched)

    Notes
    -----
    ``out = (size - 1)*stride - lo - hi + dilation*(k - 1) + output_padding + 1``
    (:func:`convlab.shapes.conv_transpose_output_size`). Computed as one GEMM
    per chunk of input positions followed by a strided scatter-add per kernel
    tap (col2im): the adjoint of ``conv3d`` with the same arguments.
    The output is checked first against :func:`convlab.memory_limit`.

    Examples
    --------
    >>> conv_transpose3d(np.ones((2, 1, 1, 1)), np.ones((2, 3, 2, 2, 2)), stride=2).shape
    (3, 2, 2, 2)
    """
    return conv_transpose_nd(
        input, weight, bias, stride, padding, output_padding, groups, dilation, output_size, 3
    )
