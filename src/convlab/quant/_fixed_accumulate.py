"""Exact integer sums of products for fixed-point convolutions: the float64 GEMM route and the int64 route.

A sum of ``K`` products of integer codes is exact in float64 whenever every
partial sum is an integer below ``2**53``, whatever order BLAS adds in; the
bound ``K * max|x| * max|w| < 2**53`` proves that. Above it the codes are cut
into limbs of a few bits (``x = sum_i x_i * 2**(i*b)``) so that each limb
product is again exact in a float64 GEMM, and the limb results are combined
in int64: wrapping int64 arithmetic is exact modulo ``2**64``, which is exact
outright when the true sum fits (checked by the caller) and is what a
narrower wrapping accumulator needs anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["EXACT_F64", "accumulation_route", "exact_sum"]

EXACT_F64 = 2**53

Gemm = Callable[[np.ndarray, np.ndarray], np.ndarray]


def accumulation_route(terms: int, x_max: int, w_max: int) -> str:
    """``'float64'`` when ``terms * x_max * w_max < 2**53`` proves a float64 GEMM exact, else ``'int64'``.

    Parameters
    ----------
    terms : int
        Products summed per output (``C_in/groups * prod(kernel_size)`` for a conv).
    x_max, w_max : int
        The largest ``|code|`` of the input and of the weight.

    Examples
    --------
    >>> accumulation_route(9, 2**20, 2**29), accumulation_route(9, 2**20, 2**30)
    ('float64', 'int64')
    """
    return "float64" if terms * x_max * w_max < EXACT_F64 else "int64"


def _limbs(codes: np.ndarray, bits: int) -> list[np.ndarray]:
    """``codes = sum_i limb_i * 2**(i*bits)``: low limbs in ``[0, 2**bits)``, the top one signed."""
    width = max(int(np.abs(codes).max(initial=0)).bit_length() + 1, 1)
    count = max(math.ceil(width / bits), 1)
    mask = np.int64(2**bits - 1)
    parts = [(codes >> (i * bits)) & mask for i in range(count - 1)]
    parts.append(codes >> ((count - 1) * bits))
    return parts


def exact_sum(gemm: Gemm, x: np.ndarray, w: np.ndarray, terms: int) -> tuple[np.ndarray, str]:
    """``gemm(x, w)`` on int64 codes, exactly (modulo ``2**64``), and the route taken.

    ``gemm`` is a convolution on float64 arrays, linear in each argument,
    summing at most ``terms`` products per output.
    """
    x_max = int(np.abs(x).max(initial=0))
    w_max = int(np.abs(w).max(initial=0))
    route = accumulation_route(terms, x_max, w_max)
    if route == "float64":
        return gemm(x.astype(np.float64), w.astype(np.float64)).astype(np.int64), route
    # Split the bit budget of 2**53 between the two operands' limbs (a limb has at most `b` bits).
    budget = 52 - max(terms.bit_length(), 1)
    bx = max(min(x_max.bit_length(), budget // 2), 1)
    bw = max(budget - bx, 1)
    total = None
    for i, xi in enumerate(_limbs(x, bx)):
        for j, wj in enumerate(_limbs(w, bw)):
            shift = i * bx + j * bw
            if shift >= 64:  # a multiple of 2**64: nothing modulo 2**64
                continue
            part = gemm(xi.astype(np.float64), wj.astype(np.float64)).astype(np.int64) << np.int64(shift)
            total = part if total is None else total + part
    return total, route
