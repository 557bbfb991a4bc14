"""Validation of array arguments, shared by every operator in ``functional``.

Integer arguments go through :mod:`convlab._args`; this module adds the
checks that need NumPy: numeric dtype, rank, the optional batch dimension.
"""

from __future__ import annotations

import threading

import numpy as np

from .._args import ConvlabError
from ._policy import float_policy, real_array

__all__ = ["as_float_array", "batched", "result_dtype", "thread_arena"]

_local = threading.local()


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


def thread_arena(nbytes: int) -> np.ndarray:
    """This thread's work bytes, at least ``nbytes``, kept for its next call (8-byte aligned).

    One arena per thread serves every memory-bound kernel's block buffers
    (max pooling's flat passes, the exact FMA's float64 evaluation), so a
    process keeps the largest block's bytes once per thread instead of once
    per kernel; and a block reuses warm pages instead of fresh ones. Not
    reentrant: a kernel must not call another arena user while it holds views.

    >>> a = thread_arena(100); a.dtype, a.nbytes >= 100, thread_arena(10) is a
    (dtype('uint8'), True, True)
    """
    held = getattr(_local, "arena", None)
    if held is None or held.nbytes < nbytes:
        # Allocated as float64: NumPy's allocator aligns it for every dtype carved from it.
        held = _local.arena = np.empty(-(-nbytes // 8), np.float64).view(np.uint8)
    return held
