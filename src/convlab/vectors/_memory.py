"""``write_memory`` / ``read_memory``: one tensor as one memory image, in the format a hardware flow loads."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .._args import ConvlabError, as_int
from .._limits import check_memory
from ..io import atomic_path
from ._coe_mif import parse_coe, parse_mif, write_coe, write_mif
from ._readmem import parse_readmem, write_readmem
from ._words import WordSpec, pack, unpack

__all__ = ["FORMATS", "MAX_VALUES", "format_of", "read_memory", "read_words", "write_memory"]

FORMATS = ("readmemh", "readmemb", "coe", "mif", "bin", "npy")
_SUFFIXES = {".hex": "readmemh", ".mem": "readmemh", ".bmem": "readmemb", ".coe": "coe", ".mif": "mif"}
_SUFFIXES |= {".bin": "bin", ".npy": "npy"}
# 2**32 values is a 4 GB tensor at one byte each, several times that as text:
# beyond it a count is a mistake (a shape typed wrong), not a memory.
MAX_VALUES = 1 << 32
_FLOATS = {"float16": np.float16, "float32": np.float32, "float64": np.float64}


def format_of(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The format named by ``fmt``, else by the suffix of ``path``.

    >>> format_of("layer0_input.hex"), format_of("w.txt", "coe")
    ('readmemh', 'coe')
    """
    if fmt is not None:
        if fmt not in FORMATS:
            raise ConvlabError(f"fmt must be one of {', '.join(FORMATS)}, got fmt={fmt!r}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        known = ", ".join(f"{s} ({f})" for s, f in _SUFFIXES.items())
        raise ConvlabError(
            f"cannot tell the memory format of {str(path)!r} from its suffix: use {known}, or fmt="
        )
    return _SUFFIXES[suffix]


def _byte_width(word_bits: int) -> int:
    return next(b for b in (1, 2, 4, 8) if 8 * b >= word_bits)


def _check_byteorder(byteorder: str) -> str:
    if byteorder not in ("little", "big"):
        raise ConvlabError(f"byteorder must be 'little' or 'big', got byteorder={byteorder!r}")
    return "<" if byteorder == "little" else ">"


def write_memory(
    path: str | os.PathLike,
    values: ArrayLike,
    word_bits: int,
    *,
    signed: bool = True,
    lanes: int = 1,
    fmt: str | None = None,
    high_first: bool = False,
    byteorder: str = "little",
    radix: int = 16,
    address: int | None = None,
    header: str = "",
) -> int:
    """Write ``values`` (flattened in C order) as a memory image; returns the number of words.

    Parameters
    ----------
    path : path
        Written atomically (a temporary file renamed into place).
    values : array_like of int, or of float16/32/64
        Integers are written in two's complement (``signed``) or as unsigned
        numbers; floats as their IEEE bit patterns (``signed=False`` and a
        value width equal to the float's width).
    word_bits : int, 1 to 64
        Width of one memory word.
    signed : bool, default True
    lanes : int, default 1
        Values per word, each ``word_bits // lanes`` bits wide; the first value
        in the low bits, or the high bits with ``high_first``. A last, partial
        word has zero lanes.
    fmt : {'readmemh', 'readmemb', 'coe', 'mif', 'bin', 'npy'}, optional
        Default from the suffix: ``.hex``/``.mem``, ``.bmem``, ``.coe``,
        ``.mif``, ``.bin``, ``.npy``.
    byteorder : {'little', 'big'}
        For ``bin``: each word takes 1, 2, 4 or 8 bytes in this order.
    radix : {2, 8, 10, 16}
        Data radix of ``.coe`` and ``.mif`` files.
    address : int, optional
        For ``$readmem`` text, an ``@address`` line (hex) before the words.
    header : str
        Comment lines at the top of text files.

    Raises
    ------
    ValueError
        A value that does not fit (its index and value named), a bad option.

    Notes
    -----
    ``.npy`` holds the values themselves when ``lanes == 1`` (1-D, in memory
    order), the words as unsigned integers otherwise.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.hex"
    >>> write_memory(path, [-1, 2, 127], 8)
    3
    >>> path.read_text().split()
    ['ff', '02', '7f']
    """
    spec = WordSpec(word_bits, signed, lanes, high_first)
    kind = format_of(path, fmt)
    array = np.asarray(values)
    if array.size > MAX_VALUES:
        raise ConvlabError(f"values has {array.size} elements, more than the limit of {MAX_VALUES}")
    check_memory(24 * array.size, f"packing {array.size} values into words")  # ~3 uint64 copies
    words = pack(array, spec)
    data = _encode(kind, array, words, spec, byteorder=byteorder, radix=radix, address=address, header=header)
    with atomic_path(path) as tmp:
        if kind == "npy":
            np.save(tmp, data, allow_pickle=False)
        else:
            tmp.write_bytes(data)
    return int(words.size)


def _encode(kind: str, array: np.ndarray, words: np.ndarray, spec: WordSpec, **options) -> object:
    bits = spec.word_bits
    if kind in ("readmemh", "readmemb"):
        address = None if options["address"] is None else as_int(options["address"], "address", minimum=0)
        return write_readmem(words, bits, kind, address, options["header"])
    if kind == "coe":
        return write_coe(words, bits, options["radix"], options["header"])
    if kind == "mif":
        return write_mif(words, bits, options["radix"], options["header"])
    if kind == "bin":
        order = _check_byteorder(options["byteorder"])
        return words.astype(f"{order}u{_byte_width(bits)}").tobytes()
    if spec.lanes == 1:
        flat = array.reshape(-1)
        return flat if flat.dtype.kind == "f" else unpack(words, spec).astype(_int_dtype(spec))
    return words.astype(f"<u{_byte_width(bits)}")


def _int_dtype(spec: WordSpec) -> np.dtype:
    return np.dtype(f"{'i' if spec.signed else 'u'}{_byte_width(spec.value_bits)}")


def read_words(
    path: str | os.PathLike, word_bits: int, *, fmt: str | None = None, byteorder: str = "little"
) -> tuple[np.ndarray, np.ndarray]:
    """``(words, undefined)`` of a memory image: uint64 words and a mask of ``x``/``z`` words.

    Only ``$readmem`` text can hold undefined words; ``.npy`` files are read
    as words of their integer dtype.
    """
    kind = format_of(path, fmt)
    bits = WordSpec(word_bits, signed=False).word_bits
    path = Path(path)
    if not path.is_file():
        raise ConvlabError(f"no memory file {str(path)!r}")
    if kind == "bin":
        width = _byte_width(bits)
        size = path.stat().st_size
        if size % width:
            raise ConvlabError(f"{str(path)!r} has {size} bytes, not a multiple of the {width}-byte word")
        check_memory(8 * (size // width), f"reading {str(path)!r} ({size // width} words)")
        words = np.fromfile(path, f"{_check_byteorder(byteorder)}u{width}").astype(np.uint64)
        return _checked_width(words, bits, path), np.zeros(words.size, bool)
    if kind == "npy":
        array = np.load(path, allow_pickle=False).reshape(-1)
        if array.dtype.kind not in "iu":
            raise ConvlabError(f"{str(path)!r} holds {array.dtype} values, not memory words")
        wide = array.astype(np.uint64) if array.dtype.kind == "u" else array.astype(np.int64).view(np.uint64)
        words = wide & np.uint64((1 << bits) - 1)
        return words, np.zeros(words.size, bool)
    text = path.read_text(encoding="ascii", errors="replace")
    if kind in ("readmemh", "readmemb"):
        words, undefined, _ = parse_readmem(text, kind, bits)
        return words, undefined
    words = parse_coe(text, bits) if kind == "coe" else parse_mif(text, bits)
    return words, np.zeros(words.size, bool)


def _checked_width(words: np.ndarray, bits: int, path: Path) -> np.ndarray:
    if bits < 64 and words.size and (words >> np.uint64(bits)).any():
        index = int(np.flatnonzero(words >> np.uint64(bits))[0])
        raise ConvlabError(f"{str(path)!r}: word {index} = {int(words[index]):#x} is wider than {bits} bits")
    return words


def read_memory(
    path: str | os.PathLike,
    word_bits: int,
    *,
    signed: bool = True,
    lanes: int = 1,
    count: int | None = None,
    fmt: str | None = None,
    high_first: bool = False,
    byteorder: str = "little",
    dtype: DTypeLike | None = None,
) -> np.ndarray:
    """The values of a memory image written by :func:`write_memory` (or by a simulator), 1-D.

    Parameters are those of :func:`write_memory`; ``count`` keeps the first
    ``count`` values (dropping the zero lanes of a last, partial word), and
    ``dtype='float32'`` (or float16/float64) reinterprets unsigned values as
    IEEE bit patterns. Returns int64 values (uint64 for unsigned 64-bit).

    Raises
    ------
    ValueError
        Undefined (``x``) words, a malformed file, fewer values than ``count``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.coe"
    >>> write_memory(path, [-3, 5, 7], 16, lanes=2)
    2
    >>> read_memory(path, 16, lanes=2, count=3).tolist()
    [-3, 5, 7]
    """
    spec = WordSpec(word_bits, signed, lanes, high_first)
    if count is not None and not 0 <= as_int(count, "count") <= MAX_VALUES:
        raise ConvlabError(f"count must be 0 to {MAX_VALUES}, got count={count}")
    if format_of(path, fmt) == "npy" and lanes == 1:
        values = _npy_values(Path(path), spec)
        return _finish(values[:count] if count is not None else values, spec, dtype, count, values.size)
    words, undefined = read_words(path, word_bits, fmt=fmt, byteorder=byteorder)
    if undefined.any():
        index = int(np.flatnonzero(undefined)[0])
        raise ConvlabError(f"{str(path)!r}: word {index} is undefined (x or z digits)")
    values = unpack(words, spec, count)
    return _finish(values, spec, dtype, count, values.size)


def _npy_values(path: Path, spec: WordSpec) -> np.ndarray:
    if not path.is_file():
        raise ConvlabError(f"no memory file {str(path)!r}")
    array = np.load(path, allow_pickle=False).reshape(-1)
    if array.dtype.kind == "f":
        return array
    return unpack(pack(array, spec, str(path)), spec)


def _finish(values: np.ndarray, spec: WordSpec, dtype, count: int | None, found: int) -> np.ndarray:
    if count is not None and found < count:
        raise ConvlabError(f"count={count} values asked, but the memory holds only {found}")
    if dtype is None or values.dtype.kind == "f":
        return values
    name = np.dtype(dtype).name
    if name not in _FLOATS or spec.signed or np.dtype(dtype).itemsize * 8 != spec.value_bits:
        raise ConvlabError(
            f"dtype={name!r} needs unsigned values of its width; got {spec.value_bits}-bit "
            f"{'signed' if spec.signed else 'unsigned'} values"
        )
    return values.astype(f"u{np.dtype(dtype).itemsize}").view(dtype)
