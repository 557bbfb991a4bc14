"""The integer types of quantized tensors: names, ranges, and checked conversion of arrays to them.

ONNX's quantized types are 8- and 16-bit integers (and, from opset 21, 4-bit
ones); int32 is the type of biases and accumulators. NumPy has no 4-bit
type, so ``'int4'`` and ``'uint4'`` codes are held in int8 and uint8 arrays
whose values stay in ``[-8, 7]`` and ``[0, 15]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._args import ConvlabError, describe

__all__ = ["QType", "as_int_array", "output_type", "qtype", "zero_point_array"]


@dataclass(frozen=True)
class QType:
    """One quantized integer type: its name, its range and the NumPy dtype that holds it."""

    name: str
    lo: int
    hi: int
    storage: np.dtype

    def saturate(self, values: np.ndarray) -> np.ndarray:
        """``values`` (any integer or integral float array) clipped to the range, in ``storage``."""
        return np.clip(values, self.lo, self.hi).astype(self.storage)


_TYPES = {
    "int4": QType("int4", -8, 7, np.dtype(np.int8)),
    "uint4": QType("uint4", 0, 15, np.dtype(np.uint8)),
    "int8": QType("int8", -128, 127, np.dtype(np.int8)),
    "uint8": QType("uint8", 0, 255, np.dtype(np.uint8)),
    "int16": QType("int16", -(2**15), 2**15 - 1, np.dtype(np.int16)),
    "uint16": QType("uint16", 0, 2**16 - 1, np.dtype(np.uint16)),
    "int32": QType("int32", -(2**31), 2**31 - 1, np.dtype(np.int32)),
}


def qtype(dtype: object, name: str = "dtype") -> QType:
    """The :class:`QType` of a NumPy integer dtype or of the names ``'int4'``/``'uint4'``/``'int8'``...

    >>> qtype(np.uint8).hi
    255
    """
    key = dtype if isinstance(dtype, str) else None
    if key is None:
        try:
            key = np.dtype(dtype).name  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(
                f"{name} must be a NumPy integer dtype or a name, got {describe(dtype)}"
            ) from None
    if key not in _TYPES:
        raise ConvlabError(f"{name} must be one of {', '.join(_TYPES)}, got {name}={describe(dtype)}")
    return _TYPES[key]


def as_int_array(value: object, name: str, kind: QType | None = None) -> np.ndarray:
    """``value`` as an integer array, checked against ``kind``'s range when one is given.

    Integer arrays only: a float array where quantized codes belong is refused
    with ``TypeError``, since rounding it silently would hide a missing
    ``quantize_linear``.
    """
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {array.dtype} ({type(value).__name__})")
    if kind is not None and array.size:
        lo, hi = int(array.min()), int(array.max())
        if lo < kind.lo or hi > kind.hi:
            raise ConvlabError(
                f"{name} must hold {kind.name} values in [{kind.lo}, {kind.hi}], got values in [{lo}, {hi}]"
            )
    return array


def zero_point_array(value: object, name: str, kind: QType) -> np.ndarray:
    """A zero point (scalar or array) as int64, each entry inside ``kind``'s range."""
    array = as_int_array(value, name, kind)
    return array.astype(np.int64)


def output_type(zero_point: object, dtype: object, default: object, name: str = "zero_point") -> QType:
    """ONNX's rule: a zero point of a quantized NumPy type sets the output type; else dtype or default.

    A zero point of another integer type (e.g. the int64 of ``np.array([3])``)
    says nothing about the output; ``dtype`` must then agree with nothing.
    """
    zp_dtype = zero_point.dtype if isinstance(zero_point, (np.ndarray, np.integer)) else None
    typed = zp_dtype is not None and np.dtype(zp_dtype).name in _TYPES
    if dtype is None:
        return qtype(zp_dtype if typed else default, f"{name} dtype")
    kind = qtype(dtype)
    if typed and np.dtype(zp_dtype) != kind.storage:
        raise ConvlabError(f"dtype={kind.name} contradicts {name}'s dtype {zp_dtype}; pass one of them")
    return kind
