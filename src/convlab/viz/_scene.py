"""Frames as flat lists of rectangles, lines and texts, for the PNG and SVG renderers.

Everything is placed here, on integer pixel coordinates, so the Pillow and
the SVG renderer draw the same picture and neither knows about convolutions.
Text widths are estimated from a fixed advance per character; the layout
then never depends on the fonts a machine happens to have.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._args import ConvlabError
from ._layout import CROP, DATA, OUT, OUTPAD, PAD, ZERO, Frame, Panel

CELL = 30
MARGIN = 16
LINE = 18
GAP = 56
CHAR = 7.2
MAX_CELLS = 40  # grid cells per side a frame may hold before it stops being readable

INK, WHITE, WINDOW_EDGE = "#222222", "#ffffff", "#08306b"

# kind: (fill, outline, dashed); padding, inserted zeros and cropped cells are
# dashed and pale so they read as "not data" even in greyscale.
STYLE = {
    DATA: ("#a6cee3", "#1f5f8b", False),
    PAD: ("#f4f4f4", "#8c8c8c", True),
    ZERO: ("#fff1b8", "#b8960c", True),
    OUT: ("#ffffff", "#2e7d32", False),
    OUTPAD: ("#ffffff", "#2e7d32", True),
    CROP: ("#e6e6e6", "#b0b0b0", True),
}
# The same kinds under the kernel window: a darker tint of each.
WINDOW_FILL = {
    DATA: "#1f78b4",
    PAD: "#b3b3b3",
    ZERO: "#f2c53d",
    OUT: "#fdae61",
    OUTPAD: "#fdae61",
    CROP: "#c8c8c8",
}
CURRENT_FILL = {DATA: "#1f78b4", OUT: "#1b7837"}
COUNT_FILL = ["#ffffff", "#c7e9c0", "#74c476", "#31a354", "#006d2c"]
LEGEND_TEXT = {
    DATA: "input pixel",
    PAD: "padding (zero)",
    ZERO: "inserted zero",
    OUT: "output pixel",
    OUTPAD: "output_padding (nothing lands)",
    CROP: "cropped by padding",
}


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int
    fill: str
    outline: str
    width: int = 1
    dashed: bool = False
    crossed: bool = False
    kind: str = ""


@dataclass(frozen=True)
class Text:
    x: int
    y: int
    text: str
    color: str = INK
    centered: bool = False


@dataclass(frozen=True)
class Line:
    x0: int
    y0: int
    x1: int
    y1: int
    color: str = INK
    width: int = 2


@dataclass
class Scene:
    """One frame, ready to draw: its size and its shapes in drawing order."""

    width: int
    height: int
    items: list = field(default_factory=list)


class PictureTooLarge(ConvlabError):
    """A picture would be too large to read; the message suggests smaller sizes."""


def text_width(text: str) -> int:
    return int(len(text) * CHAR + 0.5)


def check_grid(rows: int, cols: int, what: str) -> None:
    """Refuse grids a person could not read, before anything is drawn."""
    if max(rows, cols) > MAX_CELLS:
        raise PictureTooLarge(
            f"the {what} grid would be {rows}x{cols} cells, too large to read in a picture "
            f"(at most {MAX_CELLS} per side); try a smaller size, e.g. 5x5 or 8x8"
        )


def _cell_text_color(fill: str) -> str:
    dark = int(fill[1:3], 16) * 0.3 + int(fill[3:5], 16) * 0.59 + int(fill[5:7], 16) * 0.11 < 120
    return WHITE if dark else INK


def cell(
    x: int, y: int, kind: str, fill: str | None = None, label: str = "", edge: str | None = None
) -> list:
    """One grid cell: its style from ``kind``, optionally overridden, and a centred label."""
    base, outline, dashed = STYLE[kind]
    fill = fill or base
    items: list = [
        Rect(
            x, y, CELL, CELL, fill, edge or outline, 3 if edge else 1, dashed and not edge, kind == CROP, kind
        )
    ]
    if not label and kind == ZERO:
        label = "0"
    if label:
        items.append(Text(x + CELL // 2, y + CELL // 2, label, _cell_text_color(fill), centered=True))
    return items


def _panel_items(panel: Panel, x0: int, y0: int) -> list:
    items: list = [Text(x0, y0, panel.title)]
    top = y0 + LINE
    for r, row in enumerate(panel.kinds):
        for c, kind in enumerate(row):
            items += _one_cell(panel, (r, c), kind, x0 + c * CELL, top + r * CELL)
    return items


def _one_cell(panel: Panel, rc: tuple[int, int], kind: str, x: int, y: int) -> list:
    label = panel.labels.get(rc, "")
    if rc in panel.current:
        return cell(x, y, kind, CURRENT_FILL.get(kind, "#1b7837"), label, WINDOW_EDGE)
    if rc in panel.window:
        return cell(x, y, kind, WINDOW_FILL[kind], label, WINDOW_EDGE)
    count = panel.done.get(rc, 0)
    if count and kind in (OUT, OUTPAD, CROP, DATA):
        fill = "#d0e4f0" if kind == DATA else COUNT_FILL[min(count, len(COUNT_FILL) - 1)]
        shown = str(count) if kind != DATA and any(v > 1 for v in panel.done.values()) else label
        return cell(x, y, kind, fill, shown)
    return cell(x, y, kind, None, label)


def _panel_width(panel: Panel) -> int:
    return max(panel.shape[1] * CELL, text_width(panel.title))


def _legend(kinds: set[str], window_words: str, x0: int, y0: int) -> tuple[list, int]:
    items, x = [], x0
    entries = [(k, LEGEND_TEXT[k]) for k in (DATA, ZERO, PAD, OUT, OUTPAD, CROP) if k in kinds]
    entries.append(("window", window_words))
    for kind, words in entries:
        fill, outline, dashed = (WINDOW_FILL[DATA], WINDOW_EDGE, False) if kind == "window" else STYLE[kind]
        items.append(Rect(x, y0, 14, 14, fill, outline, 2 if kind == "window" else 1, dashed, kind == CROP))
        items.append(Text(x + 20, y0 + 1, words))
        x += 20 + text_width(words) + 16
    return items, x - 16 - x0


def frame_scene(frame: Frame, header: list[str]) -> Scene:
    """Place a frame: header lines, caption, the two panels with an arrow, a legend."""
    left, right = frame.panels
    for panel in frame.panels:
        check_grid(*panel.shape, panel.title.split(" ")[0])
    lines = [*header, frame.caption]
    wl, wr = _panel_width(left), _panel_width(right)
    top = MARGIN + LINE * len(lines) + 8
    grid_h = max(left.shape[0], right.shape[0]) * CELL + LINE
    kinds = {k for p in frame.panels for row in p.kinds for k in row}
    legend, legend_w = _legend(kinds, frame.window_words, MARGIN, top + grid_h + 14)
    width = 2 * MARGIN + max(wl + GAP + wr, legend_w, *(text_width(t) for t in lines))
    height = top + grid_h + 14 + 14 + MARGIN
    items: list = [Text(MARGIN, MARGIN + i * LINE, t) for i, t in enumerate(lines)]
    items += _panel_items(left, MARGIN, top)
    xr = MARGIN + wl + GAP
    items += _panel_items(right, xr, top)
    ya = top + LINE + min(left.shape[0], right.shape[0]) * CELL // 2
    items += [Line(MARGIN + wl + 12, ya, xr - 12, ya), Line(xr - 20, ya - 6, xr - 12, ya)]
    items += [Line(xr - 20, ya + 6, xr - 12, ya), *legend]
    return Scene(width, height, items)
