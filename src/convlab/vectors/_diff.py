"""``diff``: a simulation's dumps against golden vectors, the first wrong value and where the rest lie."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._args import ConvlabError
from ._manifest import Entry, load_manifest
from ._memory import read_words
from ._order import from_layout, to_layout
from ._where import describe_mismatches, mismatch_map
from ._words import WordSpec, unpack

__all__ = ["DiffReport", "TensorDiff", "diff"]

_SUFFIXES = (".hex", ".mem", ".bmem", ".coe", ".mif", ".bin", ".npy")


@dataclass
class TensorDiff:
    """One tensor compared: mismatch count, largest difference in LSBs, the first wrong value."""

    entry: Entry
    dump: str
    mismatches: int
    max_lsb: int
    first: tuple[int, ...] | None = None
    first_word: int | None = None
    golden: str = ""
    found: str = ""
    where: list[str] = field(default_factory=list)
    map: list[str] = field(default_factory=list)


@dataclass
class DiffReport:
    """Every compared tensor in manifest order, and the golden files no dump was found for."""

    compared: list[TensorDiff]
    missing: list[Entry]

    @property
    def equal(self) -> bool:
        return all(t.mismatches == 0 for t in self.compared)

    @property
    def first(self) -> TensorDiff | None:
        return next((t for t in self.compared if t.mismatches), None)


def _dump_path(entry: Entry, dump_dir: Path, dumped: dict[tuple[str, str], Entry]) -> Path | None:
    if dumped:
        other = dumped.get((entry.layer, entry.tensor))
        return dump_dir / other.file if other else None
    stem = Path(entry.file).stem
    for path in [dump_dir / entry.file, *(dump_dir / f"{stem}{s}" for s in _SUFFIXES)]:
        if path.is_file():
            return path
    return None


def diff(golden_dir: str | os.PathLike, dump_dir: str | os.PathLike, tolerance: int = 0) -> DiffReport:
    """Compare the dumps in ``dump_dir`` with the golden vectors of ``golden_dir``.

    A dump is found by the manifest in ``dump_dir`` (same layers and tensors),
    or else by the golden file's name with any memory suffix (a simulation's
    ``$writememh`` output, say); its format comes from its suffix. Values
    differ when their codes are more than ``tolerance`` LSBs apart (for
    floats, units in the last place). ``x``/``z`` words always differ.

    Raises
    ------
    ValueError
        No manifest, no dump at all, a dump whose size or manifest disagrees.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from convlab.nn import Conv2d
    >>> from convlab.vectors import write_memory, write_vectors
    >>> golden, dump = pathlib.Path(tempfile.mkdtemp()), pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_vectors(Conv2d(1, 1, 3), np.ones((1, 1, 4, 4), np.float32), golden)
    >>> _ = write_memory(dump / "003_model_output.bin", np.full(4, 7.0, np.float32), 32, signed=False)
    >>> report = diff(golden, dump)
    >>> report.equal, report.first.mismatches, report.first.first
    (False, 4, (0, 0, 0, 0))
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, np.integer)) or tolerance < 0:
        raise ConvlabError(f"tolerance must be a non-negative integer number of LSBs, got {tolerance!r}")
    _, entries = load_manifest(golden_dir)
    dump_dir = Path(dump_dir)
    if not dump_dir.is_dir():
        raise ConvlabError(f"dump directory {str(dump_dir)!r} does not exist")
    dumped = {}
    if (dump_dir / "manifest.json").is_file():
        dumped = {(e.layer, e.tensor): _agree(e, entries) for e in load_manifest(dump_dir)[1]}
    compared, missing = [], []
    for entry in entries:
        path = _dump_path(entry, dump_dir, dumped)
        if path is None:
            missing.append(entry)
        else:
            dump_entry = dumped.get((entry.layer, entry.tensor), entry)
            compared.append(_compare(entry, Path(golden_dir) / entry.file, dump_entry, path, tolerance))
    if not compared:
        raise ConvlabError(f"{str(dump_dir)!r} holds no dump of any of the {len(entries)} golden files")
    return DiffReport(compared, missing)


def _agree(dump: Entry, golden: list[Entry]) -> Entry:
    match = next((g for g in golden if (g.layer, g.tensor) == (dump.layer, dump.tensor)), None)
    if match is None or match.tensor_shape != dump.tensor_shape:
        want = match.tensor_shape if match else "no such golden tensor"
        raise ConvlabError(
            f"the dump manifest's {dump.layer} {dump.tensor} has shape {dump.tensor_shape}, golden: {want}"
        )
    return dump


def _codes(entry: Entry, path: Path, fmt: str | None, *, dump: bool = False) -> tuple:
    """The stored codes (as ints), an undefined mask (channels first) and the number of words found.

    A dump that ends early (a simulation stopped too soon) is compared as far
    as it goes, its missing words undefined; a short golden file is an error.
    """
    words, undefined = read_words(path, entry.word_bits, fmt=fmt, byteorder=entry.byteorder)
    spec = WordSpec(entry.word_bits, entry.signed, entry.lanes, entry.high_first)
    found = words.size
    if found < entry.depth and not dump:
        raise ConvlabError(f"{str(path)!r} holds {found} words, the manifest's {entry.file} {entry.depth}")
    if found < entry.depth:
        words = np.concatenate([words, np.zeros(entry.depth - found, np.uint64)])
        undefined = np.concatenate([undefined, np.ones(entry.depth - found, bool)])
    codes = unpack(words[: entry.depth], spec, entry.count).astype(np.int64)
    bad = np.repeat(undefined[: entry.depth], entry.lanes)[: entry.count]
    if entry.number.get("kind", "").startswith("float"):
        codes = _ordered_float(codes, entry.value_bits)
    shape, layout = tuple(entry.tensor_shape), entry.layout
    return from_layout(codes, shape, layout), from_layout(bad, shape, layout), found


def _ordered_float(bits: np.ndarray, width: int) -> np.ndarray:
    """IEEE bit patterns mapped to integers whose differences count units in the last place."""
    sign = np.int64(1) << np.int64(width - 1)
    magnitude = bits & (sign - 1)
    return np.where(bits & sign, -magnitude, magnitude)


def _compare(golden: Entry, golden_path: Path, dump: Entry, dump_path: Path, tolerance: int) -> TensorDiff:
    # A dump manifest says its format; a dump found by name says it by its suffix.
    fmt = dump.fmt if dump is not golden else _fmt_for(dump_path, golden)
    want, _, _ = _codes(golden, golden_path, golden.fmt)
    got, undefined, found = _codes(dump, dump_path, fmt, dump=True)
    delta = np.abs(want - got)
    mask = (delta > tolerance) | undefined
    result = TensorDiff(golden, str(dump_path), int(mask.sum()), int(delta[~undefined].max(initial=0)))
    if result.mismatches:
        _locate(result, mask, want, got, undefined)
    if found < golden.depth:
        result.where.insert(0, f"the dump ends after {found} of {golden.depth} words (missing words differ)")
    return result


def _fmt_for(path: Path, entry: Entry) -> str | None:
    return entry.fmt if path.name == entry.file else None


def _locate(result: TensorDiff, mask: np.ndarray, want, got, undefined) -> None:
    entry = result.entry
    shape = tuple(entry.tensor_shape)
    order = to_layout(np.arange(1, mask.size + 1).reshape(shape), entry.layout).reshape(-1)
    ordered_mask = to_layout(mask, entry.layout).reshape(-1)
    position = int(np.flatnonzero(ordered_mask)[0])
    index = np.unravel_index(int(order[position]) - 1, shape)
    result.first = tuple(int(i) for i in index)
    result.first_word = position // entry.lanes + (entry.address or 0)
    result.golden = _show(int(want[index]), entry)
    result.found = "x (undefined)" if undefined[index] else _show(int(got[index]), entry)
    result.where = describe_mismatches(mask)
    result.map = mismatch_map(mask) if mask.ndim >= 3 else []


def _show(code: int, entry: Entry) -> str:
    kind = entry.number.get("kind", "int")
    if kind.startswith("float"):
        bits = code if code >= 0 else (-code) | (1 << (entry.value_bits - 1))
        value = np.array([bits], f"u{entry.value_bits // 8}").view(kind)[0]
        return f"{value} (0x{bits:0{entry.value_bits // 4}x})"
    digits = -(-entry.value_bits // 4)
    return f"{code} (0x{code & ((1 << entry.value_bits) - 1):0{digits}x})"
