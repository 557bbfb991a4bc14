"""Plain-text tables and value formatting for the command line."""

from __future__ import annotations

import json
from collections.abc import Sequence
from fractions import Fraction

__all__ = ["dumps", "fmt", "table"]


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


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "") -> str:
    cells = [[fmt(c) if not isinstance(c, str) else c for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append(indent + "  ".join("-" * w for w in widths))
    for row in cells:
        lines.append(indent + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


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
