"""Winograd's transforms as BLAS calls on strided views of the slab, N-d.

The slab holds the channels *inside* the spatial rows, ``(*rows, m, C *
blocks)`` (:func:`._winograd_conv._planes_slab`). Then every 1-d transform
is a product by the small ``(alpha, alpha)`` matrix of operands that BLAS
reads in place, one pass of fused multiply-adds each:

- along every axis but the last, tile ``t``'s taps are the ``alpha`` whole
  rows ``t * m ..``: a matrix with the rows' stride, overlapping the next
  tile's (a strided view, no gather);
- along the last axis, a tile's taps would overlap *within* a row (a 6-tap
  tile every 4 inputs for F(4, 3)), which no BLAS operand can express, so
  that axis is *deinterleaved* into ``m`` phase planes: tap ``i`` of tile
  ``t`` (element ``t * m + i``) is block ``t + i // m`` of plane ``i % m``,
  and for every tile of every channel at once it is the plane shifted by
  ``i // m`` elements: the taps of one shift are ``m`` planes, rows of a
  matrix.

Measured on the 64-channel U-Net layer at 570^2 (thread time of the input
transform): 120 ms as 21 NumPy add/subtract passes a row over the channels-
outside slab (one short run per channel), 92 ms as the same passes over the
channels-inside slab, 51 ms as these BLAS calls. The output transform reads
the channel GEMMs' products, which do not overlap: one BLAS call per axis
(:func:`output_transform`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

# alloc(shape, dtype) -> an uninitialised array (a slab's arena, or np.empty)
Alloc = Callable[[tuple[int, ...], np.dtype], np.ndarray]

__all__ = ["Alloc", "input_transform", "output_transform"]


def input_transform(
    slab: np.ndarray,
    bt: tuple[np.ndarray, ...],
    m: int,
    counts: list[int],
    alloc: Alloc = np.empty,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``B^T d B`` of every tile: ``(*S, m, width + slack) -> (*alpha[:-1], *counts[:-1], alpha[-1], width)``.

    ``bt[i]`` is axis ``i``'s ``(alpha_i, alpha_i)`` matrix, ``counts[i]``
    its number of tiles. Along every axis but the last the slab holds
    ``counts[i] * m + alpha_i - m`` rows; the last axis is ``m`` phase
    planes of channels times blocks, flattened (``slack = (alpha - 1) // m``
    elements past the ``width`` that the result covers): the input of tile
    ``t``'s tap ``i`` along it is element ``t + i // m`` of plane ``i % m``,
    so the tap of every tile is the plane shifted by ``i // m``. ``out``, if
    given, receives the result (a view of a larger array: a range of planes).
    The last axis goes first: it reads the fewest rows.
    """
    ndim = len(counts)
    if ndim == 1:
        return _last_axis(slab, bt[-1], m, alloc, out)
    z = _last_axis(slab, bt[-1], m, alloc)
    for axis in range(ndim - 1):
        last = axis == ndim - 2
        target = out if last and out is not None and out.flags.c_contiguous else None
        z = _along_rows(z, bt[axis], m, counts[axis], axis, alloc, target)
    if out is not None and z is not out:
        np.copyto(out, z)
    return z if out is None else out


def _last_axis(slab: np.ndarray, mat: np.ndarray, m: int, alloc: Alloc, out=None) -> np.ndarray:
    """``(*S, m, width + slack) -> (*S, alpha, width)``: one GEMM per group of taps with the same shift.

    Taps ``s * m .. s * m + m - 1`` are planes ``0 .. m - 1`` shifted by
    ``s``: rows of one matrix with the planes' stride, so ``mat``'s columns
    for them times that matrix is one BLAS call per row of ``S`` (NumPy's
    stacked ``matmul``). F(4, 3): taps 0-3 unshifted, 4-5 shifted by one.
    """
    alpha = mat.shape[0]
    width = slab.shape[-1] - (alpha - 1) // m
    if out is None:
        out = alloc((*slab.shape[:-2], alpha, width), slab.dtype)
    for shift in range(-(-alpha // m)):
        count = min(m, alpha - shift * m)
        coefficients = np.ascontiguousarray(mat[:, shift * m : shift * m + count])
        taps = slab[..., :count, shift : shift + width]
        if shift == 0:
            np.matmul(coefficients, taps, out=out)
        else:  # BLAS's beta = 1 is not in np.matmul: one more pass, in cache
            np.add(out, np.matmul(coefficients, taps, out=alloc(out.shape, out.dtype)), out=out)
    return out


def _along_rows(z: np.ndarray, mat: np.ndarray, m: int, tiles: int, axis: int, alloc: Alloc, out=None):
    """``(*P, *T, S, *rest) -> (*P, alpha, *T, tiles, *rest)``: the taps of a tile are ``alpha`` whole rows.

    ``P`` and ``T`` are the ``axis`` point and tile axes done before; tile
    ``t`` reads rows ``t * m .. t * m + alpha - 1``, a matrix with the rows'
    stride (overlapping the next tile's: a strided view, no copy), so the
    transform is one BLAS call per tile.
    """
    alpha = mat.shape[1]
    pre, rest = z.shape[: 2 * axis], z.shape[2 * axis + 1 :]
    size, row = math.prod(rest), z.strides[2 * axis]
    view = np.lib.stride_tricks.as_strided(
        z, (*pre, tiles, alpha, size), (*z.strides[: 2 * axis], m * row, row, z.itemsize), writeable=False
    )
    if out is None:
        out = alloc((*pre[:axis], mat.shape[0], *pre[axis:], tiles, *rest), z.dtype)
    target = np.moveaxis(out.reshape(*pre[:axis], mat.shape[0], *pre[axis:], tiles, size), axis, 2 * axis + 1)
    np.matmul(mat, view, out=target)
    return out


def output_transform(
    products: np.ndarray,
    at: tuple[np.ndarray, ...],
    out: np.ndarray,
    m: int,
    alloc: Alloc = np.empty,
    finish: Callable[[np.ndarray], None] | None = None,
) -> None:
    """``A^T M A`` of every tile into ``out`` ``(C, *size)``; ``products``: ``(*alpha, C, *counts)``.

    Unlike the input's, the output transform's operand needs no gather:
    along point axis ``i``, ``products`` is a stack of ``prod(alpha[:i])``
    matrices ``(alpha_i, rest)``, so each axis but the last is one BLAS
    call ``A^T @ stack``, one pass of fused multiply-adds (measured 25-35 %
    faster than 13 explicit passes for F(4, 3), and rounded once a term).
    The last axis is the same product transposed, ``stack^T @ A``, whose
    result holds each tile's ``m`` outputs side by side: tiles ``(*m[:-1],
    C, *counts, m)``, where every row of the output is ``C`` runs of
    consecutive elements (a last-axis phase layout instead needed ``m``
    strided copies per row, each touching every cache line of it: 38 ->
    18 thread-ms on the 64-channel layer at 512^2, F(6, 3)). Before the
    copies, ``finish`` sees those contiguous tiles while they are in cache,
    and may change them in place (the bias and ReLU) or check them.
    """
    ndim = len(at)
    shape, z = list(products.shape), products
    for axis, mat in enumerate(at[:-1]):
        prefix, rest = math.prod(shape[:axis]), math.prod(shape[axis + 1 :])
        shape[axis] = mat.shape[0]
        stack = z.reshape(prefix, mat.shape[1], rest)
        z = np.matmul(mat, stack, out=alloc((prefix, mat.shape[0], rest), z.dtype))
    prefix, alpha = math.prod(shape[: ndim - 1]), shape[ndim - 1]
    # (prefix, C * tiles, alpha): BLAS reads it transposed.
    stack = z.reshape(prefix, alpha, -1).transpose(0, 2, 1)
    z = np.matmul(stack, at[-1].T, out=alloc((*stack.shape[:2], m), z.dtype))
    z = z.reshape(*shape[: ndim - 1], *shape[ndim:], m)  # (*m[:-1], C, *counts, m)
    if finish is not None:
        finish(z)
    _into_place(z.reshape(*z.shape[:-2], -1), out, m)


def _into_place(rows: np.ndarray, out: np.ndarray, m: int) -> None:
    """Copy ``rows`` ``(*m[:-1], C, *counts[:-1], counts[-1] * m)`` into ``out`` ``(C, *size)``.

    Output phase ``(q_1, .., q_{D-1})`` of the outer axes is the strided
    slice ``out[:, q_1::m, ..]``; the last axis is in order already (ragged
    tiles cropped).
    """
    for phase in itertools.product(range(m), repeat=rows.ndim - out.ndim):
        inside = tuple(-(-(size - q) // m) for size, q in zip(out.shape[1:-1], phase))
        if min(inside, default=1) > 0:
            tiles = rows[(*phase, slice(None), *(slice(0, n) for n in inside), slice(0, out.shape[-1]))]
            np.copyto(out[(slice(None), *(slice(q, None, m) for q in phase))], tiles)
