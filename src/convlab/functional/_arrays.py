"""Validation of array arguments, shared by every operator in ``functional``.

Integer arguments go through :mod:`convlab._args`; this module adds the
checks that need NumPy: numeric dtype, rank, the optional batch dimension.
"""

from __future__ import annotations

import numpy as np

from .._args import ConvlabError
from ._policy import float_policy, real_array

__all__ = ["as_float_array", "batched", "result_dtype"]


def as_float_array(value: object, name: str) -> np.ndarray:
    """``value`` cast by its own :func:`float_policy`: the boundary of a one-array operator.

    Integer and bool arrays become float64, float16 becomes float32, float32
    and float64 keep their dtype; complex, object and string arrays are
    refused with ``TypeError``. Operators with several operands resolve one
    policy for all of them instead (see :mod:`._policy`).
    """
    array = real_array(value, name)
    return float_policy(array).cast(array)


def result_dtype(*arrays: np.ndarray) -> np.dtype:
    """The dtype an operator of these float operands computes and returns in: :func:`float_policy`."""
    return float_policy(*arrays).output


def batched(array: np.ndarray, ndim: int, name: str = "input") -> tuple[np.ndarray, bool]:
    """``(array with a batch axis, was_unbatched)`` for ``ndim`` spatial dimensions.

    Accepts ``(N, C, *spatial)`` and unbatched ``(C, *spatial)``, as PyTorch does.
    """
    if array.ndim == ndim + 2:
        return array, False
    if array.ndim == ndim + 1:
        return array[None], True
    raise ConvlabError(
        f"{name} must have shape (N, C, {_spatial(ndim)}) or (C, {_spatial(ndim)}) for "
        f"{ndim} spatial dimension{'s' if ndim > 1 else ''}, got {name} of shape {array.shape}"
    )


def _spatial(ndim: int) -> str:
    return ", ".join(("D", "H", "W")[3 - ndim :]) if ndim <= 3 else "*spatial"
