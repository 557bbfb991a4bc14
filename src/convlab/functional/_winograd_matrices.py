"""Winograd's transform matrices F(m, r) in exact rationals, from Cook-Toom's points.

The derivation is in :mod:`convlab.functional._winograd`'s docstring.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import numpy as np

__all__ = ["MAX_ALPHA", "POINTS", "per_axis", "winograd_matrices"]

# Cook-Toom points, the small ones first (Lavin's choice); None is infinity.
POINTS: tuple[Fraction | None, ...] = tuple(
    Fraction(p) for p in ("0", "1", "-1", "2", "-2", "1/2", "-1/2", "3", "-3", "1/3", "-1/3", "4", "-4")
)
MAX_ALPHA = len(POINTS) + 1


@lru_cache(maxsize=64)
def winograd_matrices(m: int, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(A^T, G, B^T)`` of F(m, r) as object arrays of :class:`fractions.Fraction`.

    Shapes ``(m, alpha)``, ``(alpha, r)`` and ``(alpha, alpha)`` with
    ``alpha = m + r - 1``; ``y = A^T [(G g) * (B^T d)]`` is the correlation
    ``y_i = sum_k g_k d_(i+k)`` of ``alpha`` inputs ``d`` with ``r`` taps ``g``.

    >>> at, g, bt = winograd_matrices(2, 3)
    >>> bt.astype(int)
    array([[ 1,  0, -1,  0],
           [ 0,  1,  1,  0],
           [ 0,  1, -1,  0],
           [ 0,  1,  0, -1]])
    """
    alpha = m + r - 1
    if not (m >= 1 and r >= 1 and alpha <= MAX_ALPHA):
        raise ValueError(f"F(m, r) needs m, r >= 1 and m + r - 1 <= {MAX_ALPHA}, got m={m}, r={r}")
    points = [*POINTS[: alpha - 1], None]
    interpolate = _inverse([_powers(p, alpha) for p in points])
    bt = [[interpolate[k][j] for k in range(alpha)] for j in range(alpha)]  # C^T
    g = [_powers(p, r) for p in points]
    for j, row in enumerate(bt):
        scale = _integer_scale(row)
        bt[j] = [v * scale for v in row]
        g[j] = [v / scale for v in g[j]]
    at = [[_powers(p, m)[i] for p in points] for i in range(m)]  # V_h^T
    return tuple(np.array(a, dtype=object) for a in (at, g, bt))  # type: ignore[return-value]


def _powers(point: Fraction | None, n: int) -> list[Fraction]:
    """A polynomial of ``n`` coefficients evaluated at ``point`` (infinity: its leading coefficient)."""
    if point is None:
        return [Fraction(0)] * (n - 1) + [Fraction(1)]
    return [point**i for i in range(n)]


def _inverse(matrix: list[list[Fraction]]) -> list[list[Fraction]]:
    """Gauss-Jordan in exact rationals (the Vandermonde matrix of distinct points is invertible)."""
    n = len(matrix)
    rows = [list(row) + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next(i for i in range(col, n) if rows[i][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        lead = rows[col][col]
        rows[col] = [v / lead for v in rows[col]]
        for i in range(n):
            if i != col and rows[i][col] != 0:
                factor = rows[i][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[col])]
    return [row[n:] for row in rows]


def _integer_scale(row: list[Fraction]) -> Fraction:
    """The factor that makes ``row`` coprime integers, its first non-zero entry positive."""
    denominators = math.lcm(*(v.denominator for v in row))
    numerators = math.gcd(*(int(v * denominators) for v in row))
    first = next(v for v in row if v != 0)
    return Fraction(denominators, numerators) * (1 if first > 0 else -1)


@lru_cache(maxsize=16)
def per_axis(m: int, kernel: tuple[int, ...], dtype: np.dtype) -> tuple[tuple[np.ndarray, ...], ...]:
    """``(A^T, G, B^T)`` per spatial axis, in ``dtype``."""
    mats = [[np.array(a, dtype=np.float64).astype(dtype) for a in winograd_matrices(m, r)] for r in kernel]
    return tuple(tuple(axis[which] for axis in mats) for which in range(3))
