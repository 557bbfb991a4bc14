"""Plain-text tables and value formatting for the command line."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from fractions import Fraction

__all__ = ["WIDTH", "columns", "dumps", "fit", "fmt", "same", "table", "wide"]

# Terminal columns every answer fits in unless --wide; None: no limit.
WIDTH = 100
_WIDTH: ContextVar[int | None] = ContextVar("convlab_cli_width", default=WIDTH)


def fmt(value: object) -> str:
    """Sizes as ``572`` or ``572x572``, pairs as ``(lo, hi)``, ranges as ``a..b``."""
    if isinstance(value, range):
        # Not len(range): it overflows past 2**63, and a fuzzed stride of 10**30 gets there.
        return f"{value.start}..{value.stop - 1}" if value.stop - value.start > 1 else str(value.start)
    if isinstance(value, Fraction):
        return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    if isinstance(value, tuple):
        if value and all(isinstance(v, tuple) for v in value):
            return " x ".join(f"({a}, {b})" for a, b in value)
        return "x".join(fmt(v) for v in value)
    return "-" if value is None else str(value)


def same(value: object) -> object:
    """A per-dimension tuple whose entries are all equal, as the one entry (``(24, 24)`` -> 24).

    For answers about square inputs, where the headline already says ``24x24``.

    >>> same((24, 24)), same((23, 24)), same((range(23, 25), range(23, 25))), same(7)
    (24, (23, 24), range(23, 25), 7)
    """
    if isinstance(value, tuple) and len(value) > 1 and len(set(value)) == 1:
        return value[0]
    return value


def wide(args: object) -> bool:
    """Whether ``--wide`` asked for full tables (answers built without the flag fit 100 columns)."""
    return bool(getattr(args, "wide", False))


@contextmanager
def columns(width: int | None) -> Iterator[None]:
    """Within the block, tables and text fit ``width`` columns (None: any width, ``--wide``)."""
    token = _WIDTH.set(width)
    try:
        yield
    finally:
        _WIDTH.reset(token)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "") -> str:
    """A plain-text table; wider than the terminal, it is cut into column groups, each led by column 0.

    >>> print(table(["a", "b"], [[1, "x"], [22, "y"]]))
    a   b
    --  -
    1   x
    22  y
    """
    cells = [[fmt(c) if not isinstance(c, str) else c for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    limit = _WIDTH.get()
    groups = _groups(widths, len(indent), limit) if limit is not None else [list(range(len(headers)))]
    return "\n\n".join(_render(headers, cells, widths, group, indent) for group in groups)


def _groups(widths: list[int], indent: int, limit: int) -> list[list[int]]:
    """Column indices per printed table: column 0, then as many more as fit in ``limit``."""
    groups, current = [], [0]
    used = indent + widths[0]
    for i in range(1, len(widths)):
        if used + 2 + widths[i] > limit and len(current) > 1:
            groups.append(current)
            current, used = [0], indent + widths[0]
        current.append(i)
        used += 2 + widths[i]
    return [*groups, current]


def _render(headers, cells, widths, group: list[int], indent: str) -> str:
    def line(values: Sequence[str]) -> str:
        return indent + "  ".join(values[i].ljust(widths[i]) for i in group).rstrip()

    rule = indent + "  ".join("-" * widths[i] for i in group)
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


def fit(text: str) -> str:
    """Lines longer than the width wrapped at spaces, continued 4 columns further in.

    >>> with columns(30):
    ...     print(fit("  one two three four five six seven eight"))
      one two three four five six
          seven eight
    """
    limit = _WIDTH.get()
    if limit is None:
        return text
    out = []
    for line in text.split("\n"):
        if len(line) <= limit or " " not in line.strip():
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        out += textwrap.wrap(line, limit, subsequent_indent=indent, break_long_words=False)
    return "\n".join(out)


def _plain(value: object) -> object:
    if isinstance(value, range):
        return list(value)
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else float(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def dumps(data: dict) -> str:
    """JSON for scripts: tuples become lists, ranges lists of their values."""
    return json.dumps(_plain(data), indent=2)
