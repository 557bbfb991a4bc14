"""Arrays as aligned text: grids of numbers or names, sparse matrices with ``.`` for zeros."""

from __future__ import annotations

import numpy as np

from ._numbering import label

MAX_COLUMNS = 40  # matrix columns printed in full; wider ones get a summary
MAX_ROWS = 64
WIDTH = 100  # characters per line when blocks are set side by side


def num(value: float) -> str:
    """Integers without a decimal point; anything else to four significant digits."""
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def names(letter: str, shape: tuple[int, ...]) -> np.ndarray:
    """``x1``, ``x2``, ... for every position of a grid, counted from 1 in row-major order.

    The same rule as the values a worked example holds (1, 2, 3, ...: ``x5``
    holds 5) and as the pictures' labels: :func:`convlab.viz._numbering.label`.

    >>> names("x", (2, 2)).tolist()
    [['x1', 'x2'], ['x3', 'x4']]
    """
    out = np.empty(shape, dtype=object)
    for flat, index in enumerate(np.ndindex(*shape)):
        out[index] = label(letter, flat)
    return out


def grid(cells, indent: str = "  ") -> list[str]:
    """A 1-D or 2-D array of strings (or numbers) as right-aligned rows."""
    cells = np.asarray(cells, dtype=object)
    cells = cells.reshape(1, -1) if cells.ndim == 1 else cells
    text = [[c if isinstance(c, str) else num(c) for c in row] for row in cells]
    width = max(len(c) for row in text for c in row)
    return [indent + " ".join(c.rjust(width) for c in row) for row in text]


def matrix(
    dense: np.ndarray,
    stored: np.ndarray,
    row_names: list[str],
    col_names: list[str] | None,
    entry_names: dict | None = None,
) -> list[str]:
    """A matrix, one labelled row per line; unstored entries print as ``.``.

    ``stored`` marks the entries the sparse matrix holds: a stored zero is a
    connection whose weight happens to be 0 and prints as ``0``.
    ``entry_names`` maps a value to the name printed instead (``--symbolic``).
    """
    text = [
        [(entry_names.get(v, num(v)) if entry_names else num(v)) if s else "." for v, s in zip(values, held)]
        for values, held in zip(dense, stored)
    ]
    width = max([len(c) for row in text for c in row] + [len(c) for c in col_names or []])
    label = max(len(r) for r in row_names)
    lines = []
    if col_names:
        lines.append(" " * (label + 4) + " ".join(c.rjust(width) for c in col_names))
    for name, row in zip(row_names, text):
        lines.append(f"  {name.rjust(label)} [" + " ".join(c.rjust(width) for c in row) + " ]")
    return lines


def side_by_side(blocks: list[list[str]], gap: int = 4, width: int = WIDTH) -> list[str]:
    """Blocks of lines next to each other, wrapping to a new band when ``width`` is reached."""
    lines: list[str] = []
    band: list[list[str]] = []
    used = 0
    for block in [*blocks, None]:  # type: ignore[list-item]
        bw = 0 if block is None else max(len(line) for line in block)
        if band and (block is None or used + gap + bw > width):
            widths = [max(len(line) for line in b) for b in band]
            for i in range(max(len(b) for b in band)):
                parts = [(b[i] if i < len(b) else "").ljust(w) for b, w in zip(band, widths)]
                lines.append((" " * gap).join(parts).rstrip())
            lines.append("")
            band, used = [], 0
        if block is not None:
            band.append(block)
            used += bw + gap
    return lines[:-1]
