"""Xilinx ``.coe`` and Intel (Altera) ``.mif`` memory initialisation files.

``.coe`` (Vivado UG896, "COE File Syntax"): ``keyword = value;`` statements,
text after a ``;`` is a comment, radix 2, 10 or 16, the data keyword
``memory_initialization_vector`` last, values separated by commas or space.

``.mif`` (Quartus help, "Memory Initialization File (.mif) Definition"):
``WIDTH``, ``DEPTH``, ``ADDRESS_RADIX``, ``DATA_RADIX`` (BIN, OCT, HEX, DEC
signed, UNS), then ``CONTENT BEGIN address : data; ... END;`` with ``--``
line comments and ``% ... %`` block comments; an entry may give several
data words for consecutive addresses, and ``[a..b] : data;`` fills a range
(repeating the data words), as Quartus writes runs of equal words.
"""

from __future__ import annotations

import re

import numpy as np

from .._args import ConvlabError
from .._limits import check_expansion

__all__ = ["parse_coe", "parse_mif", "write_coe", "write_mif"]

_MIF_RADIX = {"BIN": 2, "OCT": 8, "HEX": 16, "DEC": 10, "UNS": 10}
_NAME = {2: "BIN", 8: "OCT", 16: "HEX", 10: "UNS"}


def _digits(word_bits: int, radix: int) -> int:
    return {2: word_bits, 8: -(-word_bits // 3), 16: -(-word_bits // 4)}.get(radix, 0)


def _word_text(words: np.ndarray, word_bits: int, radix: int) -> list[str]:
    width = _digits(word_bits, radix)
    spec = {2: "b", 8: "o", 16: "x", 10: "d"}[radix]
    return [format(int(w), f"0{width}{spec}") if width else str(int(w)) for w in words.tolist()]


def write_coe(words: np.ndarray, word_bits: int, radix: int, header: str) -> bytes:
    """A ``.coe`` file of ``words`` (radix 2, 10 or 16; decimal words are the unsigned bit patterns)."""
    if radix not in (2, 10, 16):
        raise ConvlabError(f"radix for .coe must be 2, 10 or 16, got radix={radix}")
    lines = [f"; {line}" for line in header.splitlines()]
    lines += [f"memory_initialization_radix={radix};", "memory_initialization_vector="]
    body = ",\n".join(_word_text(words, word_bits, radix))
    return ("\n".join(lines) + "\n" + body + ";\n").encode()


def parse_coe(text: str, word_bits: int) -> np.ndarray:
    """The words of a ``.coe`` file; negative decimal words become two's complement."""
    statements, current = [], []
    for line in text.splitlines():
        code, ends, _ = line.partition(";")
        current.append(code)
        if ends:
            statements.append(" ".join(current))
            current = []
    if " ".join(current).strip():
        statements.append(" ".join(current))
    radix, vector = 10, None
    for statement in statements:
        key, eq, value = statement.partition("=")
        key = key.strip().lower()
        if key in ("memory_initialization_radix", "radix") and eq:
            radix = _int(value.strip(), 10, "memory_initialization_radix")
        elif key in ("memory_initialization_vector", "coefdata") and eq:
            vector = value
            break  # the data keyword is last; anything after it is ignored, as Vivado does
    if radix not in (2, 10, 16):
        raise ConvlabError(f"memory_initialization_radix must be 2, 10 or 16, got {radix}")
    if vector is None:
        raise ConvlabError("the .coe file has no memory_initialization_vector")
    tokens = vector.replace(",", " ").split()
    return _to_words([_int(t, radix, "a .coe word") for t in tokens], word_bits, ".coe")


def write_mif(words: np.ndarray, word_bits: int, radix: int, header: str) -> bytes:
    """A ``.mif`` file of ``words``: one ``address : word;`` line each, hexadecimal addresses."""
    if radix not in _NAME:
        raise ConvlabError(f"radix for .mif must be 2, 8, 10 or 16, got radix={radix}")
    width = max(1, len(f"{max(words.size - 1, 0):x}"))
    lines = [f"-- {line}" for line in header.splitlines()]
    lines += [f"WIDTH={word_bits};", f"DEPTH={words.size};", "ADDRESS_RADIX=HEX;"]
    lines.append(f"DATA_RADIX={_NAME[radix]};")
    lines.append("CONTENT BEGIN")
    lines += [f"\t{a:0{width}x} : {t};" for a, t in enumerate(_word_text(words, word_bits, radix))]
    lines.append("END;")
    return ("\n".join(lines) + "\n").encode()


def parse_mif(text: str, word_bits: int) -> np.ndarray:
    """The ``DEPTH`` words of a ``.mif`` file (addresses it does not list are 0, as in Quartus)."""
    text = re.sub(r"%.*?%", " ", re.sub(r"--[^\n]*", " ", text), flags=re.S)
    parts = re.split(r"\bCONTENT\s+BEGIN\b", text, maxsplit=1, flags=re.I)
    if len(parts) != 2:
        raise ConvlabError("the .mif file has no CONTENT BEGIN")
    head, body = parts
    fields = {k.upper(): v.strip().upper() for k, v in re.findall(r"(\w+)\s*=\s*([^;]*);", head)}
    for key in ("WIDTH", "DEPTH"):
        if key not in fields:
            raise ConvlabError(f"the .mif file has no {key}")
    width, depth = _int(fields["WIDTH"], 10, "WIDTH"), _int(fields["DEPTH"], 10, "DEPTH")
    # DEPTH comes from the file: a 100-byte file must not make us allocate terabytes.
    check_expansion(16 * depth, len(text), f"the .mif file's DEPTH={depth}")
    if width != word_bits:
        raise ConvlabError(f"the .mif file has WIDTH={width}, expected word_bits={word_bits}")
    address_radix = _radix(fields.get("ADDRESS_RADIX", "HEX"), "ADDRESS_RADIX")
    data_radix = _radix(fields.get("DATA_RADIX", "HEX"), "DATA_RADIX")
    body = re.split(r"\bEND\s*;", body, maxsplit=1, flags=re.I)[0]
    values: list[int | None] = [None] * depth
    for entry in filter(str.strip, body.split(";")):
        where, colon, data = entry.partition(":")
        if not colon:
            raise ConvlabError(f"the .mif entry {entry.strip()!r} is not 'address : data'")
        start, stop, fill = _span(where.strip(), address_radix)
        words = [_int(t, data_radix, "a .mif word") for t in data.split()]
        if not words or stop > depth:
            raise ConvlabError(f"the .mif entry {entry.strip()!r} is empty or beyond DEPTH={depth}")
        count = stop - start if fill else len(words)
        if start + count > depth:
            raise ConvlabError(f"the .mif entry {entry.strip()!r} runs beyond DEPTH={depth}")
        for i in range(count):
            values[start + i] = words[i % len(words)]
    return _to_words([0 if v is None else v for v in values], word_bits, ".mif")


def _span(where: str, radix: int) -> tuple[int, int, bool]:
    match = re.fullmatch(r"\[\s*(\w+)\s*\.\.\s*(\w+)\s*\]", where)
    if match:
        lo, hi = _int(match.group(1), radix, "address"), _int(match.group(2), radix, "address")
        return lo, hi + 1, True
    start = _int(where, radix, "address")
    return start, start + 1, False


def _radix(name: str, key: str) -> int:
    if name not in _MIF_RADIX:
        raise ConvlabError(f"{key} must be one of {', '.join(_MIF_RADIX)}, got {name!r}")
    return _MIF_RADIX[name]


def _int(text: str, radix: int, what: str) -> int:
    try:
        return int(text.replace("_", ""), radix)
    except ValueError:
        raise ConvlabError(f"{what} {text!r} is not a base-{radix} number") from None


def _to_words(values: list[int], word_bits: int, kind: str) -> np.ndarray:
    low, high = -(1 << (word_bits - 1)), (1 << word_bits) - 1
    for index, value in enumerate(values):
        if not low <= value <= high:
            raise ConvlabError(f"{kind} word {index} = {value} does not fit word_bits={word_bits}")
    return np.array([v & ((1 << word_bits) - 1) for v in values], np.uint64)
