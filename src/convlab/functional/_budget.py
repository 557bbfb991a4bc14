"""The bytes an operator is about to allocate, checked against :mod:`convlab._limits` first.

Shapes here are Python ints, so a product of user-supplied sizes never
overflows; NumPy would refuse ``2**70`` elements with an error that names no
parameter, or try to allocate terabytes and fail late.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .._limits import check_memory

__all__ = ["check_arrays"]


def check_arrays(what: str, dtype: object, *shapes: Iterable[int]) -> None:
    """Refuse ``what`` if arrays of ``shapes`` in ``dtype`` exceed the memory limit.

    >>> check_arrays("conv2d's output", np.float64, (1, 1, 4, 4))
    """
    itemsize = np.dtype(dtype).itemsize  # type: ignore[arg-type]
    check_memory(itemsize * sum(math.prod(int(n) for n in shape) for shape in shapes), what)
