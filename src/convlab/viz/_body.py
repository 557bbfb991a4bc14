"""One frame's body: its caption, its two panels, and the lines joining the window to its output.

The highlight (the window on one panel, the pixel it makes or the input pixel
being scattered on the other) shares one colour, and two projection lines
join the corners of the two highlighted boxes, as in conv_arithmetic.
Channels are planes stacked behind a grid, coloured by group; the planes a
frame reads or writes get the highlight's edge.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._layout import DATA, OUT, OUTPAD, Frame, Panel
from ._scene import (
    CELL,
    COUNT_FILL,
    DONE_FILL,
    GAP,
    GROUPS,
    HIGHLIGHT,
    HOT,
    LINE,
    PICKED,
    PLANE,
    STYLE,
    WINDOW_FILL,
    Line,
    Rect,
    Text,
    cell,
    check_grid,
    text_width,
)

MIN_TITLE = 240
NOTE = "output_padding"
ARROW = 14  # the arrow drawn before a note (the bundled font has no arrow glyphs)


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` pixels, breaking at spaces (a longer word keeps its line).

    Examples
    --------
    >>> wrap("a b c", 10_000), wrap("", 50)
    (['a b c'], [''])
    """
    lines: list[str] = []
    for word in text.split(" "):
        if lines and text_width(f"{lines[-1]} {word}") <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines or [""]


@dataclass(frozen=True)
class Measured:
    """A panel's extent: its title lines, the grid, the planes behind it, the output_padding notes."""

    panel: Panel
    title: tuple[str, ...]
    depth: int
    op_rows: tuple[int, ...]
    op_cols: tuple[int, ...]

    @property
    def grid_w(self) -> int:
        return self.panel.shape[1] * CELL

    @property
    def width(self) -> int:
        right = ARROW + 10 + text_width(NOTE) if self.op_rows else 0
        below = self.op_cols[0] * CELL + CELL // 2 + text_width(NOTE) if self.op_cols else 0
        return max(self.grid_w + self.depth + right, below, *(text_width(t) for t in self.title))


def measure(panel: Panel) -> Measured:
    check_grid(*panel.shape, panel.title.split(" ")[0])
    depth = (len(panel.planes) - 1) * PLANE
    kinds = panel.kinds
    # Rows (columns) output_padding added: some OUTPAD cell and no ordinary output pixel.
    op_rows = tuple(r for r, row in enumerate(kinds) if OUTPAD in row and OUT not in row)
    cols = [[row[c] for row in kinds] for c in range(panel.shape[1])]
    op_cols = tuple(c for c, col in enumerate(cols) if OUTPAD in col and OUT not in col)
    title = tuple(wrap(panel.title, max(panel.shape[1] * CELL + depth, MIN_TITLE)))
    return Measured(panel, title, depth, op_rows, op_cols)


def _fill(panel: Panel, rc, kind: str) -> tuple[str | None, str | None]:
    """(fill, edge) of one cell: picked, highlighted, under the window, done, or plain.

    When the front plane is not one the frame reads or writes (another
    group's channel), its cells stay plain: the box drawn on the active
    planes behind it, and its outline here, show where the window is.
    """
    front = 0 in panel.active
    if rc in panel.picked:
        return PICKED, HIGHLIGHT
    if rc in panel.current and front:
        return HOT, HIGHLIGHT
    if rc in panel.window and front:
        return WINDOW_FILL[kind], HIGHLIGHT
    count = panel.done.get(rc, 0)
    if count and kind in DONE_FILL:
        return (DONE_FILL[kind] if count == 1 or kind == DATA else COUNT_FILL[min(count, 4)]), None
    return None, None


def _planes(m: Measured, x0: int, top: int) -> list:
    """The channels behind the front grid, farthest first, coloured by group."""
    items, h = [], m.panel.shape[0] * CELL
    planes = m.panel.planes
    for k in range(len(planes) - 1, 0, -1):
        fill, edge = GROUPS[planes[k] % len(GROUPS)]
        active = k in m.panel.active
        items.append(
            Rect(x0 + k * PLANE, top - k * PLANE, m.grid_w, h, fill, HIGHLIGHT if active else edge, 2)
        )
    return items


def panel_items(
    m: Measured, x0: int, y0: int, title_rows: int
) -> tuple[list, tuple[int, int, int, int] | None]:
    """A panel's items, and the box of its highlighted cells (for the projection lines)."""
    items: list = [Text(x0, y0 + i * LINE, t) for i, t in enumerate(m.title)]
    top = y0 + title_rows * LINE + m.depth
    marked = m.panel.window | m.panel.current | m.panel.picked
    hot = sorted((x0 + c * CELL, top + r * CELL) for r, c in marked)
    box = None
    if hot:
        xs, ys = [x for x, _ in hot], [y for _, y in hot]
        box = (min(xs), min(ys), max(xs) + CELL - 1, max(ys) + CELL - 1)
    # Back planes, the box on the active ones (the front grid hides all but what peeks out), the grid.
    items += _planes(m, x0, top) + (_tube(m, box) if box else [])
    for r, row in enumerate(m.panel.kinds):
        for c, kind in enumerate(row):
            fill, edge = _fill(m.panel, (r, c), kind)
            items += cell(x0 + c * CELL, top + r * CELL, kind, fill, m.panel.labels.get((r, c), ""), edge)
    if len(m.panel.planes) > 1:
        _, edge = GROUPS[m.panel.planes[0] % len(GROUPS)]
        front = HIGHLIGHT if 0 in m.panel.active else edge
        items.append(Rect(x0 - 2, top - 2, m.grid_w + 4, m.panel.shape[0] * CELL + 4, "", front, 2))
        if box and 0 not in m.panel.active:
            left, top_, right, bottom = box
            items.append(Rect(left, top_, right - left + 1, bottom - top_ + 1, "", HIGHLIGHT, 2))
    return items + _outpad_notes(m, x0, top), box


def _tube(m: Measured, box: tuple[int, int, int, int]) -> list:
    """The highlighted box again on each active plane behind the front one: the window reaches through."""
    left, top, right, bottom = box
    return [
        Rect(left + k * PLANE, top - k * PLANE, right - left + 1, bottom - top + 1, "", HIGHLIGHT, 1)
        for k in sorted(m.panel.active)
        if k > 0
    ]


def _outpad_notes(m: Measured, x0: int, top: int) -> list:
    """An arrow and the word output_padding at the rows right of the grid and the columns below it."""
    edge = STYLE[OUTPAD][1]
    items: list = []
    if m.op_rows:
        y = top + (m.op_rows[0] + m.op_rows[-1] + 1) * CELL // 2
        x = x0 + m.grid_w + m.depth + 4
        items += [
            Line(x, y, x + ARROW, y, edge, 1),
            Line(x, y, x + 4, y - 3, edge, 1),
            Line(x, y, x + 4, y + 3, edge, 1),
        ]
        items.append(Text(x + ARROW + 6, y - 7, NOTE, edge))
    if m.op_cols:
        x = x0 + (m.op_cols[0] + m.op_cols[-1] + 1) * CELL // 2
        y = top + m.panel.shape[0] * CELL + 3
        items += [
            Line(x, y, x, y + 12, edge, 1),
            Line(x, y, x - 3, y + 4, edge, 1),
            Line(x, y, x + 3, y + 4, edge, 1),
        ]
        items.append(Text(x + 6, y + 1, NOTE, edge))
    return items


def grids_height(m: Measured) -> int:
    below = LINE + 4 if m.op_cols else BRACKET + 2 if m.panel.shape[0] == 1 else 0
    return m.panel.shape[0] * CELL + m.depth + below


BRACKET = 8  # depth of the 1-D link under the row


def link(left, right) -> list:
    """Projection lines from the left highlighted box's right corners to the right box's left corners.

    Boxes on the same rows (1-D pictures) would put those lines on the cells'
    own edges: they are joined by a bracket under the row instead, from the
    bottom centre of one box to the bottom centre of the other.
    """
    if left is None or right is None:
        return []
    (ll, lt, lr, lb), (rl, rt, rr, rb) = left, right
    if (lt, lb) == (rt, rb):
        a, b, y = (ll + lr) // 2, (rl + rr) // 2, lb + BRACKET
        return [
            Line(a, lb, a, y, HIGHLIGHT, 1),
            Line(a, y, b, y, HIGHLIGHT, 1),
            Line(b, y, b, rb, HIGHLIGHT, 1),
        ]
    return [Line(lr, lt, rl, rt, HIGHLIGHT, 1), Line(lr, lb, rl, rb, HIGHLIGHT, 1)]


def body(frame: Frame, width: int, caption_rows: int, title_rows: int) -> list:
    """The frame's items from ``(0, 0)``: caption (wrapped to ``width``), the two panels, the link."""
    items: list = [Text(0, i * LINE, t) for i, t in enumerate(wrap(frame.caption, width))]
    top = caption_rows * LINE + 8
    left, right = (measure(p) for p in frame.panels)
    items_l, box_l = panel_items(left, 0, top, title_rows)
    items_r, box_r = panel_items(right, left.width + GAP, top, title_rows)
    return items + items_l + items_r + link(box_l, box_r)


def frame_width(frame: Frame) -> int:
    left, right = (measure(p) for p in frame.panels)
    return left.width + GAP + right.width


def frame_rows(frame: Frame, width: int) -> tuple[int, int, int]:
    """(caption lines, title lines, grid height) of a frame: the parts every frame of a GIF must share."""
    left, right = (measure(p) for p in frame.panels)
    return (
        len(wrap(frame.caption, width)),
        max(len(left.title), len(right.title)),
        max(grids_height(left), grids_height(right)),
    )
