"""The safetensors format, read and written with NumPy alone.

Layout (https://huggingface.co/docs/safetensors): an 8-byte little-endian
unsigned header length ``n``; ``n`` bytes of JSON mapping each tensor name to
``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to the
byte buffer after the header) plus an optional ``"__metadata__"`` of strings;
then the buffer of little-endian, C-ordered tensor data, with no holes.

Written here rather than through ``safetensors.numpy``: that API has no
``BF16`` (NumPy has no bfloat16), the most common dtype of published
checkpoints. The tests check that files pass both ways between the two.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .._args import ConvlabError

__all__ = ["BF16", "read_safetensors", "safetensors_bytes"]

# Bytes per element and the little-endian NumPy dtype of each format dtype.
# BF16 is read as its 16 raw bits; the caller widens it to float32.
BF16 = "BF16"
_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    BF16: "<u2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U64": "<u8",
    "U32": "<u4",
    "U16": "<u2",
    "U8": "u1",
    "BOOL": "?",
}
_NAMES = {np.dtype(v).newbyteorder("<"): k for k, v in _DTYPES.items() if k != BF16}
# The reference implementation refuses headers above 100 MB.
_MAX_HEADER = 100_000_000


def read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], set[str]]:
    """Tensors of a safetensors file and the names of those stored as BF16.

    Raises ConvlabError (naming the file's problem, not the path: the caller
    adds it) for a truncated file, a malformed header or an unknown dtype.
    """
    data = path.read_bytes()
    if len(data) < 8:
        raise ConvlabError(f"the file has {len(data)} bytes, fewer than the 8-byte header length")
    (size,) = struct.unpack("<Q", data[:8])
    if size > min(_MAX_HEADER, len(data) - 8):
        raise ConvlabError(f"the header length {size} exceeds the file ({len(data)} bytes): truncated?")
    text = bytes(data[8 : 8 + size])
    _check_depth(text)
    try:
        header = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConvlabError(f"the header is not valid JSON ({err})") from None
    if not isinstance(header, dict):
        raise ConvlabError(f"the header must be a JSON object, got {type(header).__name__}")
    header.pop("__metadata__", None)
    buffer = memoryview(data)[8 + size :]
    tensors, bf16, spans = {}, set(), []
    for name, entry in header.items():
        dtype, shape, (begin, end) = _entry(name, entry, len(buffer))
        tensors[name] = np.frombuffer(buffer[begin:end], dtype=dtype).reshape(shape).copy()
        spans.append((begin, end))
        if entry["dtype"] == BF16:
            bf16.add(name)
    _check_covered(sorted(spans), len(buffer))
    return tensors, bf16


# A valid header nests three deep ({name: {"shape": [...]}}); the JSON parser
# recurses once per level, so a file of 200 000 "[" must be refused before it.
_MAX_DEPTH = 8
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def _check_depth(text: bytes) -> None:
    bare = np.frombuffer(_STRING.sub(b'""', text), dtype=np.uint8)
    steps = np.isin(bare, np.frombuffer(b"[{", np.uint8)).astype(np.int64)
    steps -= np.isin(bare, np.frombuffer(b"]}", np.uint8))
    if bare.size and np.cumsum(steps).max() > _MAX_DEPTH:
        raise ConvlabError(
            f"the header nests deeper than {_MAX_DEPTH} levels; it is not a safetensors header"
        )


def _entry(name: str, entry: object, available: int) -> tuple[np.dtype, tuple[int, ...], tuple[int, int]]:
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise ConvlabError(f"tensor {name!r}: the header entry needs dtype, shape and data_offsets")
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(code, str) or code not in _DTYPES:
        raise ConvlabError(
            f"tensor {name!r} has dtype {code!r}, which convlab cannot read (known: {', '.join(_DTYPES)})"
        )
    if not (isinstance(shape, list) and all(type(s) is int and s >= 0 for s in shape)):
        raise ConvlabError(f"tensor {name!r}: shape must be a list of non-negative integers, got {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
        raise ConvlabError(f"tensor {name!r}: data_offsets must be [begin, end], got {offsets!r}")
    dtype = np.dtype(_DTYPES[code])
    begin, end = offsets
    if not 0 <= begin <= end <= available or end - begin != math.prod(shape) * dtype.itemsize:
        raise ConvlabError(
            f"tensor {name!r}: data_offsets {offsets} do not hold shape {shape} of {code} within the "
            f"{available}-byte data buffer (truncated?)"
        )
    return dtype, tuple(shape), (begin, end)


def _check_covered(spans: list[tuple[int, int]], available: int) -> None:
    # The format forbids holes and overlaps; a violation means a damaged file.
    position = 0
    for begin, end in spans:
        if begin != position:
            raise ConvlabError(f"the data buffer has a hole or an overlap at byte {min(begin, position)}")
        position = end
    if position != available:
        raise ConvlabError(f"the data buffer has {available - position} bytes after the last tensor")


def safetensors_bytes(tensors: Mapping[str, np.ndarray]) -> bytes:
    """A safetensors file's bytes for named arrays (C order, little-endian)."""
    header, chunks, position = {}, [], 0
    for name, array in tensors.items():
        code = _NAMES.get(array.dtype.newbyteorder("<"))
        if code is None:
            raise ConvlabError(
                f"state_dict[{name!r}] has dtype {array.dtype}, which safetensors cannot store "
                f"(storable: {', '.join(sorted(str(d) for d in _NAMES))})"
            )
        chunk = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes(order="C")
        header[name] = {
            "dtype": code,
            "shape": list(array.shape),
            "data_offsets": [position, position + len(chunk)],
        }
        chunks.append(chunk)
        position += len(chunk)
    text = json.dumps(header, separators=(",", ":")).encode()
    # Pad the header with spaces so the data starts 8-byte aligned, as the
    # reference writer does; readers may then map the tensors in place.
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)
