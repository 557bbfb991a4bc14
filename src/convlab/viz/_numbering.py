"""The one numbering rule of pictures and worked examples: count from 1, row-major.

A grid of values ``0, 1, 2, ...`` makes ``x00 = 0``, so the first products
of a worked example vanish and a learner sees nothing happen; counting from
1 gives every cell a value of its own and names that match (``x1 = 1``).
"""

from __future__ import annotations

import math

import numpy as np


def counting(shape: tuple[int, ...]) -> np.ndarray:
    """``1, 2, 3, ...`` in row-major order, as float64 (exact in every product a picture shows).

    Examples
    --------
    >>> counting((2, 3)).tolist()
    [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    """
    return np.arange(1, math.prod(shape) + 1, dtype=np.float64).reshape(shape)


def label(letter: str, flat_index: int) -> str:
    """The name of the ``flat_index``-th cell (row-major, from 0) of a grid: ``x1``, ``x2``, ...

    Examples
    --------
    >>> label("w", 0), label("y", 11)
    ('w1', 'y12')
    """
    return f"{letter}{flat_index + 1}"


def scrambled(shape: tuple[int, ...]) -> np.ndarray:
    """``1..N`` in a fixed shuffled order, so that a pooling window's maximum is not always its last cell.

    The order is ``1 + (i*m + 3) mod N`` with ``m`` the first of 7, 11, 13,
    ... sharing no factor with ``N``: a permutation, the same on every machine
    (no random generator whose stream could change between NumPy versions).

    Examples
    --------
    >>> scrambled((2, 3)).tolist()
    [[4.0, 5.0, 6.0], [1.0, 2.0, 3.0]]
    >>> sorted(scrambled((5, 5)).ravel().tolist()) == list(range(1, 26))
    True
    """
    n = math.prod(shape)
    m = next(p for p in (7, 11, 13, 17, 19, 23, 29, 31, 37) if math.gcd(p, n) == 1)
    return (1 + (np.arange(n) * m + 3) % n).astype(np.float64).reshape(shape)
