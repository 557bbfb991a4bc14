"""Validation of array arguments, shared by every operator in ``functional``.

Integer arguments go through :mod:`convlab._args`; this module adds the
checks that need NumPy: numeric dtype, rank, the optional batch dimension.
"""

from __future__ import annotations

import numpy as np

from .._args import ConvlabError

__all__ = ["as_float_array", "batched", "result_dtype"]


def as_float_array(value: object, name: str) -> np.ndarray:
    """``value`` as a floating NumPy array; float32 and float64 keep their dtype.

    Integer and bool arrays become float64, as ``np.asarray(x, float)`` would;
    float16 becomes float32 (NumPy has no fast float16 GEMM). Complex, object
    and string arrays are refused with ``TypeError``.
    """
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as err:  # ragged nested lists
        raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}: {err}") from None
    kind = array.dtype.kind
    if kind == "f":
        return array.astype(np.float32, copy=False) if array.dtype.itemsize < 4 else array
    if kind in "iub":
        return array.astype(np.float64)
    raise TypeError(f"{name} must be a real numeric array, got dtype {array.dtype} ({type(value).__name__})")


def result_dtype(*arrays: np.ndarray) -> np.dtype:
    """The dtype an operator computes and returns in: float64 if any input is."""
    return np.result_type(*arrays, np.float32)


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
