"""Winograd's input transform as explicit add/subtract passes on strided views, and the output transform, N-d.

Why not one BLAS call per axis for the input: its tiles overlap (a 6x6
tile every 4 inputs for F(4, 3)), and BLAS takes no overlapping rows, so
feeding it needs a gathered copy, 2.25x the input. Instead every output row
of the transform is a short sum ``sum_i c_i * tap_i`` of strided views of
the slab, computed in place with one ufunc per term (a +-1 coefficient costs
one ``add``/``subtract``, any other a multiply into a scratch buffer first).
The output transform reads the channel GEMMs' products, which do not
overlap: it is one BLAS call per axis (:func:`output_transform`).

The slab holds the channels *inside* the spatial rows, ``(*rows, m, C *
blocks)``, so that every pass is a few long contiguous runs: along every axis
but the last the taps step by ``m`` rows, views of whole rows. Along the last
axis, that step would make every ufunc read with a stride of ``m`` elements,
so that axis is *deinterleaved*: phase ``q`` of block ``b`` is element ``b *
m + q``, and tap ``i`` of tile ``t`` (element ``t * m + i``) is block ``t +
i // m`` of plane ``i % m``: for all tiles of all channels at once, the plane
shifted by ``i // m`` (measured: with the channels outside, one short run per
channel and row, the passes ran at a third of this speed).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

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
    slab: np.ndarray,
    bt: tuple[np.ndarray, ...],
    m: int,
    counts: list[int],
    alloc: Alloc = np.empty,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``B^T d B`` of every tile: slab ``(*S, m, width + slack)`` -> ``(*alpha, *counts[:-1], width)``.

    ``bt[i]`` is axis ``i``'s ``(alpha_i, alpha_i)`` matrix, ``counts[i]``
    its number of tiles. Along every axis but the last the slab holds
    ``counts[i] * m + alpha_i - m`` rows; the last axis is ``m`` phase
    planes of channels times blocks, flattened (``slack = (alpha - 1) // m``
    elements past the ``width`` that the result covers): the input of tile
    ``t``'s tap ``i`` along it is element ``t + i // m`` of plane ``i % m``,
    so the tap of every tile is the plane shifted by ``i // m``. ``out``, if
    given, receives the result (a view of a larger array: a range of planes).
    """
    z, ndim = slab, len(counts)
    for axis in range(ndim - 1):
        at = 2 * axis  # ``axis`` point axes, then ``axis`` tile axes before it
        t = counts[axis]
        taps = [
            z[(slice(None),) * at + (slice(i, i + m * (t - 1) + 1, m),)] for i in range(bt[axis].shape[1])
        ]
        z = _combine_all(bt[axis], taps, axis, alloc)
    alpha = bt[-1].shape[1]
    width = z.shape[-1] - (alpha - 1) // m
    taps = [z[..., i % m, i // m : i // m + width] for i in range(alpha)]
    return _combine_all(bt[-1], taps, ndim - 1, alloc, out)


def _combine_all(
    mat: np.ndarray, taps: list[np.ndarray], axis: int, alloc: Alloc, out: np.ndarray | None = None
) -> np.ndarray:
    """A new point axis at ``axis``: entry ``j`` is ``sum_i mat[j, i] * taps[i]``.

    Rows of a point pair ``+-p`` share their terms up to sign (``B^T``'s
    rows: ``4 d1 + 4 d2 - d3 - d4`` and ``4 d1 - 4 d2 - d3 + d4``), so both
    come from the sum ``E`` of the common terms and ``O`` of the opposite
    ones, as ``E + O`` and ``E - O``: 21 passes instead of 28 for F(4, 3).
    The plan (pairs, and each sum's sequence of ufuncs) is worked out once
    per matrix (:func:`_plan`).
    """
    plan = _plan(np.ascontiguousarray(mat, dtype=np.float64).tobytes(), mat.shape)
    shape = taps[0].shape
    if out is None:
        out = alloc((*shape[:axis], plan.rows, *shape[axis:]), taps[0].dtype)
    scratch, odd = alloc(shape, out.dtype), alloc(shape, out.dtype)
    at = (slice(None),) * axis
    for j, program in plan.singles:
        _run(program, taps, out[(*at, j)], scratch)
    for j1, j2, common, opposite in plan.pairs:
        dst, other = out[(*at, j1)], out[(*at, j2)]
        _run(common, taps, dst, scratch)
        _run(opposite, taps, odd, scratch)
        np.subtract(dst, odd, out=other)
        np.add(dst, odd, out=dst)
    return out


@dataclass(frozen=True)
class _Plan:
    """How a transform matrix is applied: row pairs shared, one program (ufunc sequence) a sum."""

    rows: int
    singles: tuple[tuple[int, tuple], ...]  # (row, program)
    pairs: tuple[tuple[int, int, tuple, tuple], ...]  # (row, its mirror, program of E, program of O)


@functools.lru_cache(maxsize=64)
def _plan(key: bytes, shape: tuple[int, int]) -> _Plan:
    mat = np.frombuffer(key).reshape(shape)
    row_pairs = _mirrors(mat)
    in_pairs = {j for pair in row_pairs for j in pair}
    singles = tuple((j, _program(tuple(mat[j].tolist()))) for j in range(shape[0]) if j not in in_pairs)
    pairs = []
    for j1, j2 in row_pairs:
        common = np.where(mat[j2] == mat[j1], mat[j1], 0)
        opposite = mat[j1] - common
        pairs.append((j1, j2, _program(tuple(common.tolist())), _program(tuple(opposite.tolist()))))
    return _Plan(shape[0], singles, tuple(pairs))


def _mirrors(mat: np.ndarray) -> tuple[tuple[int, int], ...]:
    """Rows ``(j1, j2)`` equal up to the signs of their entries, with both signs present."""
    found: list[tuple[int, int]] = []
    used: set[int] = set()
    for j1 in range(mat.shape[0]):
        for j2 in range(j1 + 1, mat.shape[0]):
            a, b = mat[j1], mat[j2]
            same, flipped = (a == b) & (a != 0), (a == -b) & (a != 0)
            if j1 in used or j2 in used or not (same.any() and flipped.any()):
                continue
            if np.array_equal(np.abs(a), np.abs(b)):
                found.append((j1, j2))
                used.update((j1, j2))
    return tuple(found)


def combine(row: np.ndarray, taps: list[np.ndarray], dst: np.ndarray, scratch: np.ndarray) -> None:
    """``dst = sum_i row[i] * taps[i]``, one ufunc per term (two for a coefficient other than +-1).

    A common factor of every coefficient is applied once at the end; the
    sum starts with two terms of +-1 (one ``add``/``subtract``) or else with
    a scaled term (one ``multiply``), so that a pass is never a bare copy.

    >>> dst, scratch = np.empty(2), np.empty(2)
    >>> combine(np.array([2.0, 0.0, -1.0]), [np.ones(2), np.ones(2), np.arange(2.0)], dst, scratch)
    >>> dst
    array([2., 1.])
    """
    _run(_program(tuple(row.tolist())), taps, dst, scratch)


@functools.lru_cache(maxsize=256)
def _program(row: tuple[float, ...]) -> tuple:
    """``(scale, start, rest)``: the sum's first ufunc, then ``(tap, coefficient)`` terms, then the scale."""
    terms = [(i, c) for i, c in enumerate(row) if c != 0]
    if not terms:
        return 1.0, ("zero",), ()
    scale = abs(terms[0][1]) if len({abs(c) for _, c in terms}) == 1 else 1.0
    units = [(i, c / scale) for i, c in terms if abs(c) == scale]
    others = [(i, c / scale) for i, c in terms if abs(c) != scale]
    if len(units) >= 2 and units[0][1] + units[1][1] != -2:
        (i0, _), (i1, c1) = sorted(units[:2], key=lambda term: -term[1])  # +t0 +- t1
        start, units = ("add" if c1 == 1 else "subtract", i0, i1), units[2:]
    elif others:
        (i0, c0), others = others[0], others[1:]
        start = ("multiply", i0, c0)
    else:
        (i0, c0), units = units[0], units[1:]
        start = ("copy", i0) if c0 == 1 else ("negative", i0)
    return scale, start, tuple(others + units)


def _run(program: tuple, taps: list[np.ndarray], dst: np.ndarray, scratch: np.ndarray) -> None:
    scale, start, rest = program
    kind = start[0]
    if kind == "zero":
        dst[...] = 0
    elif kind == "copy":
        np.copyto(dst, taps[start[1]])
    elif kind == "negative":
        np.negative(taps[start[1]], out=dst)
    elif kind == "multiply":
        np.multiply(taps[start[1]], start[2], out=dst)
    else:
        getattr(np, kind)(taps[start[1]], taps[start[2]], out=dst)
    for i, c in rest:
        if c == 1:
            np.add(dst, taps[i], out=dst)
        elif c == -1:
            np.subtract(dst, taps[i], out=dst)
        else:
            np.multiply(taps[i], c, out=scratch)
            np.add(dst, scratch, out=dst)
    if scale != 1:
        np.multiply(dst, scale, out=dst)


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
    matrices ``(alpha_i, rest)``, so each axis is one BLAS call ``A^T @
    stack``, one pass of fused multiply-adds (measured 25-35 % faster than
    13 explicit passes for F(4, 3), and rounded once a term). The result
    holds the tiles phase-major ``(*m, C, *counts)``; each output phase
    ``(q_1, ..., q_D)`` is one strided slice ``out[:, q_1::m, ..., q_D::m]``
    that receives the tiles inside ``out``. Before that, ``finish`` sees the
    whole contiguous result while it is in cache, and may change it in
    place (the bias and ReLU) or check it.
    """
    ndim = len(at)
    shape, z = list(products.shape), products
    for axis, mat in enumerate(at):
        prefix, rest = math.prod(shape[:axis]), math.prod(shape[axis + 1 :])
        shape[axis] = mat.shape[0]
        stack = z.reshape(prefix, mat.shape[1], rest)
        z = np.matmul(mat, stack, out=alloc((prefix, mat.shape[0], rest), z.dtype))
    z = z.reshape(shape)
    if finish is not None:
        finish(z)
    for phase in itertools.product(range(m), repeat=ndim):
        inside = tuple(-(-(size - q) // m) for size, q in zip(out.shape[1:], phase))
        if min(inside, default=1) > 0:
            tiles = z[(*phase, slice(None), *(slice(0, n) for n in inside))]
            np.copyto(out[(slice(None), *(slice(q, None, m) for q in phase))], tiles)
