"""Small HTML tables for Jupyter's ``_repr_html_`` of results; imports nothing of the package.

shapes sits at the bottom of the layers, so results format themselves here
rather than through :mod:`convlab.viz`, like :mod:`convlab._args`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

_STYLE = "border-collapse:collapse;font-family:ui-monospace,monospace;font-size:13px"
_CELL = "border:1px solid #d1d5db;padding:2px 8px;text-align:left"
MAX_ROWS = 50


def text(value: object) -> str:
    """A size as people write it: ``5x7`` for tuples, ``23..24`` for ranges, ``0:1`` for pairs."""
    if isinstance(value, range):
        return f"{value.start}..{value.stop - 1}" if len(value) > 1 else str(value.start)
    if isinstance(value, tuple) and value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return " x ".join(f"{lo}:{hi}" for lo, hi in value)
    if isinstance(value, tuple):
        return "x".join(text(v) for v in value)
    return "" if value is None else str(value)


def table(caption: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """An HTML table; rows past :data:`MAX_ROWS` are counted, not drawn.

    Examples
    --------
    >>> ">5x7</td>" in table("sizes", ["size"], [[(5, 7)]])
    True
    """
    rows = list(rows)
    head = "".join(f'<th style="{_CELL}">{escape(h)}</th>' for h in header)
    body = [
        "<tr>" + "".join(f'<td style="{_CELL}">{escape(text(v))}</td>' for v in row) + "</tr>"
        for row in rows[:MAX_ROWS]
    ]
    if len(rows) > MAX_ROWS:
        body.append(
            f'<tr><td colspan="{len(header)}" style="{_CELL}">... {len(rows) - MAX_ROWS} more</td></tr>'
        )
    title = f'<caption style="text-align:left;font-weight:600">{escape(caption)}</caption>'
    return f'<table style="{_STYLE}">{title}<tr>{head}</tr>{"".join(body)}</table>'


def record(caption: str, fields: Sequence[tuple[str, object]]) -> str:
    """A two-column table of named values, for one result."""
    return table(caption, ["", "value"], fields)
