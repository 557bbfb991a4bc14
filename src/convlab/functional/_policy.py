"""The numeric policy of one operator call, resolved once at the public boundary.

Like JAX's ``preferred_element_type``, the dtypes of an operation are decided
before any arithmetic and travel with its canonical arguments: the *compute*
dtype the operands are cast to, the *accumulator* dtype the sums are formed
in, the *output* dtype of the result, and how the accumulator becomes the
output (*rounding*, *saturation*). No code below the boundary picks a dtype
on its own; strategies read the policy.

Float policy (the only one the public operators resolve today): operands
become float32 unless one of them is float64 or an integer/bool array (then
float64), float16 becomes float32 (NumPy has no fast float16 GEMM), and
compute, accumulator and output are that one dtype, as in PyTorch's CPU
kernels. Rounding is IEEE round-to-nearest-even, nothing saturates.

Adding an integer path (exact integer accumulation) is one new policy and one
new strategy, nothing else:

1. the integer operator (``convlab.quant``) resolves its policy at its own
   boundary, e.g. ``NumericPolicy(compute=int64, accumulate=int64,
   output=int32, rounding="nearest-even", saturate=True)``, and passes it to
   ``conv_args(..., policy=...)`` (:mod:`._conv_args`), which casts the
   operands and carries it in the record. The existing gemm rows already
   compute such a record exactly (NumPy's integer matmul), only slowly;
2. a module ``functional/_integer.py`` with ``applies(args)`` (true when
   ``args.policy.integer``), ``workspace(args)`` and ``run(args)``, and one
   row for it in :data:`convlab.functional._strategies.STRATEGIES`, before
   the gemm rows. ``run`` may accumulate through float64 GEMM while the bound
   ``K * max|x| * max|w| < 2**53`` holds and in int64 otherwise; the caller
   finishes with :meth:`NumericPolicy.finish` (rounding, saturation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

from .._args import ConvlabError, describe

__all__ = ["FLOAT_DTYPES", "NumericPolicy", "float_dtype", "float_policy", "real_array"]

# The dtypes the float strategies compute in.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
ROUNDINGS = ("nearest-even", "half-away", "floor", "truncate")


@dataclass(frozen=True)
class NumericPolicy:
    """Compute, accumulator and output dtypes of one call, and how the accumulator becomes the output.

    Examples
    --------
    >>> p = float_policy(np.zeros(2, np.float32), np.zeros(2, np.int16))
    >>> p.compute, p.accumulate, p.output, p.integer
    (dtype('float64'), dtype('float64'), dtype('float64'), False)
    """

    compute: np.dtype
    accumulate: np.dtype
    output: np.dtype
    rounding: str = "nearest-even"
    saturate: bool = False

    def __post_init__(self) -> None:
        for name in ("compute", "accumulate", "output"):
            object.__setattr__(self, name, np.dtype(getattr(self, name)))
        if self.rounding not in ROUNDINGS:
            raise ConvlabError(f"rounding must be one of {ROUNDINGS}, got rounding={describe(self.rounding)}")

    @property
    def integer(self) -> bool:
        """Whether the sums are exact integers (an integer strategy must run)."""
        return self.accumulate.kind in "iu"

    def cast(self, array: np.ndarray, *, contiguous: bool = False) -> np.ndarray:
        """``array`` in the compute dtype (no copy when it already is, unless it must be made contiguous)."""
        if contiguous:
            return np.ascontiguousarray(array, dtype=self.compute)
        return array.astype(self.compute, copy=False)

    def finish(self, acc: np.ndarray) -> np.ndarray:
        """The accumulator as the output dtype, rounded and saturated as the policy says."""
        if acc.dtype == self.output:
            return acc
        if self.output.kind == "f":
            return acc.astype(self.output)
        values = _round(acc, self.rounding) if acc.dtype.kind == "f" else acc
        if self.saturate:
            info = np.iinfo(self.output)
            values = np.clip(values, info.min, info.max)
        return values.astype(self.output)


def _round(values: np.ndarray, rounding: str) -> np.ndarray:
    if rounding == "nearest-even":
        return np.rint(values)
    if rounding == "half-away":
        return np.sign(values) * np.floor(np.abs(values) + 0.5)
    return np.floor(values) if rounding == "floor" else np.trunc(values)


def real_array(value: object, name: str) -> np.ndarray:
    """``value`` as a NumPy array of a real numeric dtype, as it is: no cast, no copy.

    Complex, object and string arrays and ragged lists raise ``TypeError``.
    """
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as err:  # ragged nested lists
        raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}: {err}") from None
    if array.dtype.kind not in "fiub":
        raise TypeError(
            f"{name} must be a real numeric array, got dtype {array.dtype} ({type(value).__name__})"
        )
    return array


def float_policy(*arrays: np.ndarray) -> NumericPolicy:
    """The float policy of operands of these dtypes: float64 if any is float64 or integer, else float32."""
    dtype = np.result_type(*(_float_kind(a.dtype) for a in arrays), np.float32)
    return NumericPolicy(dtype, dtype, dtype)


def _float_kind(dtype: np.dtype) -> np.dtype:
    # Integers and bools compute in float64 (what np.asarray(x, float) gives); float16 in float32.
    if dtype.kind == "f":
        return np.dtype(np.float32) if dtype.itemsize < 4 else dtype
    return np.dtype(np.float64)


def float_dtype(dtype: DTypeLike) -> np.dtype:
    """``dtype`` checked to be one the float strategies compute in: float32 or float64.

    Examples
    --------
    >>> float_dtype("float32")
    dtype('float32')
    """
    try:
        found = np.dtype(dtype)
    except (TypeError, ValueError):
        found = None
    # ``np.dtype("float64") == None`` is True (None means float64 to NumPy): test identity first.
    if found is None or found not in FLOAT_DTYPES:
        raise ConvlabError(f"dtype must be float32 or float64, got dtype={describe(dtype)}")
    return found
