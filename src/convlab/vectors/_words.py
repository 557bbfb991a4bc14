"""Values to memory words and back: fit checks, two's complement, lanes packed in a word."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._args import ConvlabError, as_int

__all__ = ["WordSpec", "pack", "unpack"]

_FLOAT_BITS = {np.dtype(np.float16): 16, np.dtype(np.float32): 32, np.dtype(np.float64): 64}
_UINT = {16: np.uint16, 32: np.uint32, 64: np.uint64}


@dataclass(frozen=True)
class WordSpec:
    """A memory word: ``word_bits`` wide, holding ``lanes`` values of ``word_bits // lanes`` bits.

    ``high_first`` puts the first value of each word in the high bits (the
    default puts it in the low bits, as a little-endian vector register).

    >>> WordSpec(32, lanes=4).value_bits
    8
    """

    word_bits: int
    signed: bool = True
    lanes: int = 1
    high_first: bool = False

    def __post_init__(self) -> None:
        bits = as_int(self.word_bits, "word_bits")
        lanes = as_int(self.lanes, "lanes")
        if not 1 <= bits <= 64:
            raise ConvlabError(f"word_bits must be 1 to 64, got word_bits={bits}")
        if lanes < 1 or bits % lanes:
            raise ConvlabError(f"lanes must be a positive divisor of word_bits={bits}, got lanes={lanes}")
        if not isinstance(self.signed, (bool, np.bool_)):
            raise TypeError(f"signed must be a bool, got {type(self.signed).__name__}")

    @property
    def value_bits(self) -> int:
        return self.word_bits // self.lanes

    @property
    def value_range(self) -> tuple[int, int]:
        """The smallest and largest value a lane holds."""
        b = self.value_bits
        return (-(1 << (b - 1)), (1 << (b - 1)) - 1) if self.signed else (0, (1 << b) - 1)

    def words(self, count: int) -> int:
        """How many words hold ``count`` values."""
        return -(-count // self.lanes)


def _as_integers(values: np.ndarray, spec: WordSpec, name: str) -> np.ndarray:
    """The values as int64 or uint64; floats become their IEEE bit patterns."""
    if values.dtype in _FLOAT_BITS:
        bits = _FLOAT_BITS[values.dtype]
        if bits != spec.value_bits or spec.signed:
            raise ConvlabError(
                f"{name} is {values.dtype} and is written as its IEEE bits: it needs unsigned "
                f"{bits}-bit values, got {'signed' if spec.signed else 'unsigned'} "
                f"{spec.value_bits}-bit values (word_bits={spec.word_bits}, lanes={spec.lanes})"
            )
        return values.view(_UINT[bits]).astype(np.uint64)
    if values.dtype.kind == "b":
        values = values.astype(np.uint8)
    if values.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers or floats, got dtype {values.dtype}")
    return values.astype(np.uint64 if values.dtype == np.uint64 else np.int64, copy=False)


def _check_fit(values: np.ndarray, spec: WordSpec, name: str) -> None:
    lo, hi = spec.value_range
    if values.dtype == np.uint64:
        bad = values > np.uint64(hi)
    else:
        bad = (values < max(lo, -(1 << 63))) | (values > min(hi, (1 << 63) - 1))
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        kind = "signed" if spec.signed else "unsigned"
        raise ConvlabError(
            f"{name}[{index}] = {int(values[index])} does not fit a {kind} {spec.value_bits}-bit "
            f"value (range {lo}..{hi}); widen word_bits or quantise first"
        )


def pack(values: np.ndarray, spec: WordSpec, name: str = "values") -> np.ndarray:
    """The words (uint64, two's complement, lanes packed) of the flat ``values``.

    A last, partly filled word has zeros in its unused lanes. Raises
    ``ValueError`` naming ``name``, the index and the value that does not fit.

    >>> pack(np.array([-1, 2, 3]), WordSpec(16, lanes=2)).tolist()
    [767, 3]
    """
    flat = _as_integers(np.asarray(values).reshape(-1), spec, name)
    _check_fit(flat, spec, name)
    b, lanes = spec.value_bits, spec.lanes
    mask = np.uint64((1 << b) - 1)
    lanes_data = flat.astype(np.uint64) & mask  # int64 -> uint64 wraps: two's complement
    if lanes == 1:
        return lanes_data
    padded = np.zeros(spec.words(flat.size) * lanes, np.uint64)
    padded[: flat.size] = lanes_data
    grid = padded.reshape(-1, lanes)
    words = np.zeros(grid.shape[0], np.uint64)
    for lane in range(lanes):
        shift = (lanes - 1 - lane if spec.high_first else lane) * b
        words |= grid[:, lane] << np.uint64(shift)
    return words


def unpack(words: np.ndarray, spec: WordSpec, count: int | None = None) -> np.ndarray:
    """The values (int64, or uint64 for unsigned 64-bit) of ``words``; :func:`pack`'s inverse.

    >>> unpack(np.array([767, 3], np.uint64), WordSpec(16, lanes=2), count=3).tolist()
    [-1, 2, 3]
    """
    words = np.asarray(words, np.uint64).reshape(-1)
    if words.size and spec.word_bits < 64 and (words >> np.uint64(spec.word_bits)).any():
        index = int(np.flatnonzero(words >> np.uint64(spec.word_bits))[0])
        raise ConvlabError(f"word {index} = {int(words[index]):#x} is wider than word_bits={spec.word_bits}")
    b, lanes = spec.value_bits, spec.lanes
    mask = np.uint64((1 << b) - 1)
    shifts = [(lanes - 1 - lane if spec.high_first else lane) * b for lane in range(lanes)]
    raw = np.stack([(words >> np.uint64(s)) & mask for s in shifts], axis=1).reshape(-1)
    if count is not None:
        if count > raw.size:
            raise ConvlabError(f"count={count} values asked, but the memory holds only {raw.size}")
        raw = raw[:count]
    if not spec.signed:
        return raw if b == 64 else raw.astype(np.int64)
    if b == 64:
        return raw.view(np.int64)
    sign = np.uint64(1 << (b - 1))
    return (raw ^ sign).astype(np.int64) - np.int64(1 << (b - 1))
