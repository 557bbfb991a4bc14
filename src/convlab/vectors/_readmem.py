"""Verilog ``$readmemh`` / ``$readmemb`` text: one word per line, fixed digit count.

The reader follows IEEE 1364-2005 section 17.2.9: words separated by white
space, ``//`` and ``/* */`` comments, ``@hex`` address lines, ``_`` inside
numbers. Words with ``x``/``z`` digits (what ``$writememh`` writes for a
never-assigned memory word) are reported as undefined, not guessed.
"""

from __future__ import annotations

import re

import numpy as np

from .._args import ConvlabError

__all__ = ["format_digits", "parse_readmem", "write_readmem"]

_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_RADIX = {"readmemh": 16, "readmemb": 2}


def format_digits(words: np.ndarray, digits: int, radix: int) -> bytes:
    """``words`` as fixed-width hex or binary digits, one per line, vectorised.

    >>> format_digits(np.array([10, 255], np.uint64), 2, 16)
    b'0a\\nff\\n'
    """
    bits = 4 if radix == 16 else 1
    shifts = np.arange(digits - 1, -1, -1, dtype=np.uint64) * np.uint64(bits)
    nibbles = (words[:, None] >> shifts[None, :]) & np.uint64((1 << bits) - 1)
    table = np.frombuffer(b"0123456789abcdef", np.uint8)
    lines = np.empty((words.size, digits + 1), np.uint8)
    lines[:, :digits] = table[nibbles.astype(np.intp)]
    lines[:, digits] = ord("\n")
    return lines.tobytes()


def write_readmem(words: np.ndarray, word_bits: int, fmt: str, address: int | None, header: str) -> bytes:
    """The bytes of a ``$readmemh``/``$readmemb`` file; ``address`` adds an ``@`` line first."""
    radix = _RADIX[fmt]
    digits = -(-word_bits // 4) if radix == 16 else word_bits
    head = "".join(f"// {line}\n" for line in header.splitlines())
    if address is not None:
        head += f"@{address:x}\n"
    chunks = [head.encode()]
    for start in range(0, words.size, 1 << 20):  # bound the digit matrix to ~17 MB per chunk
        chunks.append(format_digits(words[start : start + (1 << 20)], digits, radix))
    return b"".join(chunks)


def _tokens(text: str) -> list[str]:
    return _COMMENTS.sub(" ", text).split()


def parse_readmem(text: str, fmt: str, word_bits: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``(words, undefined, first address)`` of a ``$readmemh``/``$readmemb`` text.

    ``undefined`` marks words with ``x``/``z`` digits (their word is 0). The
    words run from the lowest address on; a gap between addresses is an error.

    >>> words, undefined, base = parse_readmem("// dump\\n@10\\n0a\\nxx\\n", "readmemh", 8)
    >>> words.tolist(), undefined.tolist(), base
    ([10, 0], [False, True], 16)
    """
    radix = _RADIX[fmt]
    tokens = _tokens(text)
    if not any(ch in text for ch in "@xXzZ_"):
        return _plain(tokens, radix, word_bits)
    cells: dict[int, tuple[int, bool]] = {}
    address = 0
    for token in tokens:
        if token.startswith("@"):
            address = _number(token[1:], 16, f"address {token!r}")
            continue
        clean = token.replace("_", "")
        undefined = any(ch in "xXzZ" for ch in clean)
        value = 0 if undefined else _number(clean, radix, f"word {token!r} at address {address:#x}")
        if value >> word_bits:
            raise ConvlabError(f"word {token!r} at address {address:#x} is wider than word_bits={word_bits}")
        cells[address] = (value, undefined)
        address += 1
    return _assemble(cells)


def _plain(tokens: list[str], radix: int, word_bits: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The common case, words from address 0 with no undefined digit: one conversion per token."""
    joined = "".join(tokens)
    if "-" in joined or "+" in joined:  # int() would take a sign; $readmem words are digits only
        bad = next(t for t in tokens if "-" in t or "+" in t)
        raise ConvlabError(f"word {bad!r} is not a base-{radix} number (digits only, no sign)")
    try:
        words = np.array([int(t, radix) for t in tokens], dtype=object if word_bits == 64 else np.int64)
    except ValueError:
        bad = next(t for t in tokens if not _is_number(t, radix))
        raise ConvlabError(f"word {bad!r} is not a base-{radix} number") from None
    words = words.astype(np.uint64)
    if words.size and word_bits < 64 and (words >> np.uint64(word_bits)).any():
        index = int(np.flatnonzero(words >> np.uint64(word_bits))[0])
        raise ConvlabError(
            f"word {tokens[index]!r} at address {index:#x} is wider than word_bits={word_bits}"
        )
    return words, np.zeros(words.size, bool), 0


def _is_number(text: str, radix: int) -> bool:
    try:
        int(text, radix)
    except ValueError:
        return False
    return True


def _number(text: str, radix: int, what: str) -> int:
    try:
        if not text:
            raise ValueError
        return int(text, radix)
    except ValueError:
        raise ConvlabError(f"{what} is not a base-{radix} number") from None


def _assemble(cells: dict[int, tuple[int, bool]]) -> tuple[np.ndarray, np.ndarray, int]:
    if not cells:
        return np.zeros(0, np.uint64), np.zeros(0, bool), 0
    base, top = min(cells), max(cells)
    if top - base + 1 != len(cells):
        gap = next(a for a in range(base, top + 1) if a not in cells)
        raise ConvlabError(
            f"the memory file has no word at address {gap:#x} (words from {base:#x} to {top:#x})"
        )
    values = [cells[a] for a in range(base, top + 1)]
    words = np.array([v for v, _ in values], np.uint64)
    return words, np.array([u for _, u in values], bool), base
