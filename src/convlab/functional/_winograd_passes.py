"""Winograd's input and output transforms as explicit add/subtract passes on strided views, N-d.

Why not one BLAS call per axis: the transform matrices are tiny (6x6 for
F(4, 3)) and mostly 0 and +-1, so a GEMM with an inner dimension of 6 is
bound by memory, and feeding it needs a gathered copy of the overlapping
tiles (2.25x the input for F(4, 3)). Instead every output row of a
transform is a short sum ``sum_i c_i * tap_i`` of strided views of the
slab, computed in place with one ufunc per term (a +-1 coefficient costs one
``add``/``subtract``, any other a multiply into a scratch buffer first).

Along every axis but the last the taps step by ``m`` rows: views whose inner
axes are contiguous. Along the last axis that step would make every ufunc
read with a stride of ``m`` elements, so the slab is first *deinterleaved*
into ``(..., m, blocks)``: phase ``q`` of block ``b`` is element
``b * m + q``, and tap ``i`` of tile ``t`` (element ``t * m + i``) is the
contiguous row ``[i % m, t + i // m]``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# alloc(shape, dtype) -> an uninitialised array (a slab's arena, or np.empty)
Alloc = Callable[[tuple[int, ...], np.dtype], np.ndarray]

__all__ = ["Alloc", "combine", "deinterleave", "input_transform", "output_transform"]


def deinterleave(slab: np.ndarray, m: int, alloc: Alloc = np.empty) -> np.ndarray:
    """``(C, ..., blocks * m) -> (C, ..., m, blocks)``: the last axis split into its ``m`` phases.

    >>> deinterleave(np.arange(6).reshape(1, 6), 2)
    array([[[0, 2, 4],
            [1, 3, 5]]])
    """
    *lead, size = slab.shape
    out = alloc((*lead, m, size // m), slab.dtype)
    np.copyto(out, slab.reshape(*lead, size // m, m).swapaxes(-1, -2))
    return out


def input_transform(
    slab: np.ndarray, bt: tuple[np.ndarray, ...], m: int, counts: list[int], alloc: Alloc = np.empty
) -> np.ndarray:
    """``B^T d B`` of every tile: deinterleaved slab ``(C, *S, m, blocks)`` -> ``(*alpha, C, *counts)``.

    ``bt[i]`` is axis ``i``'s ``(alpha_i, alpha_i)`` matrix, ``counts[i]``
    its number of tiles; the slab holds ``counts[i] * m + alpha_i - m``
    inputs along axis ``i`` (the last axis as ``m`` phases of ``blocks``).
    """
    z, ndim = slab, len(counts)
    for axis in range(ndim - 1):
        at = 2 * axis + 1  # axis's position in z: ``axis`` point axes, C, ``axis`` tile axes before it
        t = counts[axis]
        taps = [z[(slice(None),) * at + (slice(i, i + m * (t - 1) + 1, m),)] for i in range(bt[axis].shape[1])]
        z = _combine_all(bt[axis], taps, axis, alloc)
    t, alpha = counts[-1], bt[-1].shape[1]
    taps = [z[..., i % m, i // m : i // m + t] for i in range(alpha)]
    return _combine_all(bt[-1], taps, ndim - 1, alloc)


def _combine_all(mat: np.ndarray, taps: list[np.ndarray], axis: int, alloc: Alloc) -> np.ndarray:
    """A new point axis at ``axis``: entry ``j`` is ``sum_i mat[j, i] * taps[i]``."""
    shape = taps[0].shape
    out = alloc((*shape[:axis], mat.shape[0], *shape[axis:]), taps[0].dtype)
    scratch = alloc(shape, out.dtype)
    for j, row in enumerate(mat):
        combine(row, taps, out[(slice(None),) * axis + (j,)], scratch)
    return out


def combine(row: np.ndarray, taps: list[np.ndarray], dst: np.ndarray, scratch: np.ndarray) -> None:
    """``dst = sum_i row[i] * taps[i]``, one ufunc per term (two for a coefficient other than +-1).

    >>> dst, scratch = np.empty(2), np.empty(2)
    >>> combine(np.array([2.0, 0.0, -1.0]), [np.ones(2), np.ones(2), np.arange(2.0)], dst, scratch)
    >>> dst
    array([2., 1.])
    """
    first = True
    for c, tap in zip(row.tolist(), taps):
        if c == 0:
            continue
        if first:
            np.multiply(tap, c, out=dst) if c != 1 else np.copyto(dst, tap)
            first = False
        elif c in (1, -1):
            (np.add if c == 1 else np.subtract)(dst, tap, out=dst)
        else:
            np.multiply(tap, c, out=scratch)
            np.add(dst, scratch, out=dst)
    if first:
        dst[...] = 0


def output_transform(
    products: np.ndarray, at: tuple[np.ndarray, ...], out: np.ndarray, m: int, alloc: Alloc = np.empty
) -> None:
    """``A^T M A`` of every tile into ``out`` ``(C, *size)``: ``products`` is ``(*alpha, C, *counts)``.

    Tile ``t`` covers outputs ``t * m .. t * m + m - 1`` along each axis;
    the last tiles may stick out of ``out``, their extra rows are dropped.
    """
    ndim = len(at)
    z = products
    for axis in range(ndim - 1):
        taps = [z[(slice(None),) * axis + (i,)] for i in range(at[axis].shape[1])]
        z = _combine_all(at[axis], taps, axis, alloc)
    taps = [z[(slice(None),) * (ndim - 1) + (i,)] for i in range(at[-1].shape[1])]
    scratch = alloc(taps[0].shape[ndim - 1 :], z.dtype)
    result = alloc(scratch.shape, z.dtype)
    for phases in np.ndindex(*(a.shape[0] for a in at)):
        view = out[(slice(None), *(slice(q, None, m) for q in phases))]
        if 0 in view.shape:
            continue
        lead = phases[:-1]
        combine(at[-1][phases[-1]], [tap[lead] for tap in taps], result, scratch)
        view[...] = result[(slice(None), *(slice(0, s) for s in view.shape[1:]))]
