"""``manifest.json``: one entry per memory file, enough to read every file back."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from .._args import ConvlabError
from ..io import atomic_path
from ._memory import FORMATS, read_memory
from ._order import Layout, from_layout

__all__ = ["MANIFEST", "Entry", "load_manifest", "read_entry", "save_manifest"]

MANIFEST = "manifest.json"
SCHEMA = "convlab.vectors/1"


@dataclass(frozen=True)
class Entry:
    """One memory file of a golden-vector directory.

    ``shape`` is in the order of ``layout`` (channels padded to its block);
    ``tensor_shape`` is the channels-first shape of the tensor itself.
    ``number`` is the number format: ``{"kind": "float32"}``,
    ``{"kind": "int", "scale": s, "zero_point": z}`` or
    ``{"kind": "fixed", "frac_bits": f, ...}``. ``count`` values fill
    ``depth`` words; ``address`` is the word address in a memory map, if one
    was given; ``source`` the tensor's own name in the model (an ONNX graph's
    tensor name), if it has one.
    """

    layer: str
    op: str
    tensor: str
    file: str
    fmt: str
    shape: list[int]
    tensor_shape: list[int]
    layout: str
    word_bits: int
    value_bits: int
    lanes: int
    high_first: bool
    signed: bool
    byteorder: str
    number: dict[str, Any]
    count: int
    depth: int
    address: int | None = None
    source: str | None = None


def save_manifest(directory: Path, entries: list[Entry], meta: dict[str, Any]) -> Path:
    """Write ``manifest.json`` (atomically) listing ``entries`` after ``meta``."""
    # ``source`` only where a tensor has a name of its own: U-Net manifests stay as they were.
    rows = [{k: v for k, v in asdict(e).items() if k != "source" or v is not None} for e in entries]
    body = {"schema": SCHEMA, **meta, "entries": rows}
    path = directory / MANIFEST
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(body, indent=1) + "\n")
    return path


def load_manifest(directory: str | os.PathLike) -> tuple[dict[str, Any], list[Entry]]:
    """``(meta, entries)`` of the manifest in ``directory``, each entry's fields checked.

    >>> import tempfile
    >>> from convlab.nn import Conv2d
    >>> from convlab.vectors import write_vectors
    >>> out = tempfile.mkdtemp()
    >>> _ = write_vectors(Conv2d(1, 1, 3), np.ones((1, 1, 4, 4), np.float32), out, meta={"run": 1})
    >>> meta, entries = load_manifest(out)
    >>> meta["run"], [e.tensor for e in entries], read_entry(entries[0], f"{out}/{entries[0].file}").shape
    (1, ['input', 'weight', 'bias', 'output'], (1, 1, 4, 4))
    """
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise ConvlabError(f"no {MANIFEST} in {str(directory)!r}")
    try:
        body = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConvlabError(f"{str(path)!r} is not valid JSON: {err}") from None
    if (
        not isinstance(body, dict)
        or body.get("schema") != SCHEMA
        or not isinstance(body.get("entries"), list)
    ):
        raise ConvlabError(f"{str(path)!r} is not a convlab vectors manifest (schema {SCHEMA!r})")
    entries = [_entry(raw, i, path) for i, raw in enumerate(body.pop("entries"))]
    return body, entries


def _entry(raw: Any, index: int, path: Path) -> Entry:
    names = {f.name for f in fields(Entry)}
    required = {f.name for f in fields(Entry) if f.name not in ("address", "source")}
    if not isinstance(raw, dict) or not required <= set(raw) or not set(raw) <= names:
        got = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ConvlabError(f"{str(path)!r}: entry {index} must have the fields {sorted(required)}, got {got}")
    _check_types(raw, index, path)
    entry = Entry(**raw)
    if entry.fmt not in FORMATS or Path(entry.file).is_absolute() or ".." in Path(entry.file).parts:
        raise ConvlabError(f"{str(path)!r}: entry {index} has fmt={entry.fmt!r}, file={entry.file!r}")
    ordered = entry.tensor_shape
    if len(entry.tensor_shape) > 1 and entry.layout != "C":
        ordered = list(Layout.parse(entry.layout).shape(tuple(entry.tensor_shape)))
    if ordered != list(entry.shape):
        raise ConvlabError(
            f"{str(path)!r}: entry {index} shape {entry.shape} is not {entry.tensor_shape} in {entry.layout}"
        )
    if int(np.prod(entry.shape)) != entry.count:
        raise ConvlabError(
            f"{str(path)!r}: entry {index} count {entry.count} is not the product of {entry.shape}"
        )
    return entry


_INTS = ("word_bits", "value_bits", "lanes", "count", "depth")
_STRS = ("layer", "op", "tensor", "file", "fmt", "layout", "byteorder")


def _check_types(raw: dict, index: int, path: Path) -> None:
    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    bad = [k for k in _INTS if not is_int(raw[k])] + [k for k in _STRS if not isinstance(raw[k], str)]
    bad += [k for k in ("signed", "high_first") if not isinstance(raw[k], bool)]
    bad += [
        k for k in ("shape", "tensor_shape") if not (isinstance(raw[k], list) and all(map(is_int, raw[k])))
    ]
    bad += (
        ["number"]
        if not isinstance(raw["number"], dict) or not isinstance(raw["number"].get("kind"), str)
        else []
    )
    bad += ["address"] if raw.get("address") is not None and not is_int(raw["address"]) else []
    bad += ["source"] if raw.get("source") is not None and not isinstance(raw["source"], str) else []
    if bad:
        shown = ", ".join(f"{k}={raw.get(k)!r}" for k in bad)
        raise ConvlabError(f"{str(path)!r}: entry {index} has fields of the wrong type: {shown}")


def read_entry(entry: Entry, path: str | os.PathLike, fmt: str | None = None) -> np.ndarray:
    """The tensor of ``entry`` (channels first, as computed) read from ``path``, in its kind's dtype."""
    float_kind = entry.number.get("kind") in ("float16", "float32", "float64")
    flat = read_memory(
        path,
        entry.word_bits,
        signed=entry.signed,
        lanes=entry.lanes,
        count=entry.count,
        fmt=fmt or entry.fmt,
        high_first=entry.high_first,
        byteorder=entry.byteorder,
        dtype=entry.number["kind"] if float_kind else None,
    )
    kind = entry.number.get("kind")
    if kind == "bool" or kind in ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"):
        flat = np.asarray(flat).astype(kind)  # the tensor's own integer type (the values fit: they were its)
    return from_layout(flat, tuple(entry.tensor_shape), entry.layout)
