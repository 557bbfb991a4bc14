"""Frames as flat lists of rectangles, lines and texts, for the PNG and SVG renderers.

Everything is placed here, on integer pixel coordinates, so the Pillow and
the SVG renderer draw the same picture and neither knows about convolutions.
Text widths are measured with Pillow's own bundled font (the one the PNG and
GIF renderers draw with), never a system font, so the layout is the same on
every machine with the same Pillow and the canvas ends where the drawing
ends; without Pillow (SVG only) a fixed advance per character estimates them.
Every colour comes from one palette entry, so a legend swatch is the colour
of the cells it explains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache

from .._args import ConvlabError
from ._layout import CROP, DATA, OUT, OUTPAD, PAD, ZERO

CELL = 30
MARGIN = 16
LINE = 18
GAP = 56
CHAR = 7.0
PLANE = 7  # offset of each channel plane stacked behind a grid
MAX_CELLS = 40  # grid cells per side a frame may hold before it stops being readable

INK, WHITE = "#222222", "#ffffff"
HIGHLIGHT = "#d94801"  # the window's edge, the cell it makes, and the lines joining them
HOT = "#fdae6b"  # fill of data under the window and of the output cell it makes: one colour, one link
PICKED = "#a63603"  # the input a max pooling keeps

# kind: (fill, outline, dashed); padding, inserted zeros and cropped cells are
# dashed and pale so they read as "not data" even in greyscale.
STYLE = {
    DATA: ("#c6dbef", "#3a6f9e", False),
    PAD: ("#f4f4f4", "#8c8c8c", True),
    ZERO: ("#fff1b8", "#b8960c", True),
    OUT: ("#ffffff", "#2e7d32", False),
    OUTPAD: ("#f2e6f7", "#7b3294", True),
    CROP: ("#ececec", "#b0b0b0", True),
}
# The same kinds under the window: data and output take the one highlight,
# padding, zeros and cropped cells a paler tint of it, keeping their dashes.
WINDOW_FILL = {DATA: HOT, OUT: HOT, OUTPAD: HOT, PAD: "#fee6ce", ZERO: "#fdd49e", CROP: "#fee6ce"}
DONE_FILL = {DATA: "#eef4fa", OUT: "#c7e9c0", OUTPAD: "#c7e9c0", CROP: "#d9d9d9"}
COUNT_FILL = ["#ffffff", "#c7e9c0", "#74c476", "#31a354", "#006d2c"]
HATCH = "#cccccc"  # lighter than the cropped cell's outline: a label stays readable over it
# Plane fills and edges per group of channels.
GROUPS = [("#dbe9f6", "#2171b5"), ("#d9f0d3", "#238b45"), ("#e7e1ef", "#6a51a3"), ("#fde0c5", "#d94801")]
GROUPS += [("#f0f0f0", "#525252"), ("#fde0ef", "#c51b7d"), ("#e0f3f8", "#0570b0"), ("#ffffcc", "#8c6d31")]
LEGEND_TEXT = {
    DATA: "input pixel",
    PAD: "padding (zero)",
    ZERO: "inserted zero",
    OUT: "output pixel",
    OUTPAD: "added by output_padding",
    CROP: "cropped by padding",
}


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int
    fill: str  # "" draws the outline only
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


@dataclass(frozen=True)
class Group:
    """Items drawn shifted by ``(x, y)``: one step of a contact sheet (an SVG ``<g class="step">``)."""

    x: int
    y: int
    items: tuple
    name: str = ""


@dataclass
class Scene:
    """One frame, ready to draw: its size and its shapes in drawing order."""

    width: int
    height: int
    items: list = field(default_factory=list)


class PictureTooLarge(ConvlabError):
    """A picture would be too large to read; the message suggests smaller sizes."""


@lru_cache(maxsize=1)
def _measuring_font():
    try:
        from PIL import ImageFont

        return ImageFont.load_default(size=12)
    except (ImportError, TypeError, OSError):
        return None  # no Pillow (or no FreeType): estimate


@lru_cache(maxsize=8192)
def text_width(text: str) -> int:
    """Pixels ``text`` takes in the pictures' 12-pixel font."""
    font = _measuring_font()
    if font is None:
        return int(len(text) * CHAR + 0.5)
    return math.ceil(font.getlength(text))


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
    """One grid cell: its style from ``kind``, optionally overridden, and a centred label.

    A cropped cell is hatched in a light grey, and a label on it gets a patch
    of the cell's fill behind it, so the hatch never strikes through a name.
    """
    base, outline, dashed = STYLE[kind]
    fill = fill or base
    crossed = kind == CROP
    items: list = [
        Rect(x, y, CELL, CELL, fill, edge or outline, 3 if edge else 1, dashed and not edge, crossed, kind)
    ]
    if not label and kind == ZERO:
        label = "0"
    if label:
        if crossed:
            w = min(CELL - 4, text_width(label) + 2)
            items.append(Rect(x + (CELL - w) // 2, y + 8, w, CELL - 16, fill, fill))
        items.append(Text(x + CELL // 2, y + CELL // 2, label, _cell_text_color(fill), centered=True))
    return items


def bbox(items) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of what ``items`` draw; text by its estimated width."""
    boxes = []
    for it in items:
        if isinstance(it, Rect):
            boxes.append((it.x, it.y, it.x + it.w, it.y + it.h))
        elif isinstance(it, Line):
            boxes.append((min(it.x0, it.x1), min(it.y0, it.y1), max(it.x0, it.x1) + 1, max(it.y0, it.y1) + 1))
        elif isinstance(it, Text):
            w = text_width(it.text)
            x0 = it.x - w // 2 if it.centered else it.x
            y0 = it.y - LINE // 2 if it.centered else it.y
            boxes.append((x0, y0, x0 + w, y0 + 16))  # 12-pixel glyphs, descenders included
        elif isinstance(it, Group):
            x0, y0, x1, y1 = bbox(it.items)
            boxes.append((x0 + it.x, y0 + it.y, x1 + it.x, y1 + it.y))
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def shift(items, dx: int, dy: int) -> list:
    """``items`` moved by ``(dx, dy)``."""
    out = []
    for it in items:
        if isinstance(it, Line):
            out.append(replace(it, x0=it.x0 + dx, y0=it.y0 + dy, x1=it.x1 + dx, y1=it.y1 + dy))
        else:
            out.append(replace(it, x=it.x + dx, y=it.y + dy))
    return out


def flatten(items) -> list:
    """Groups replaced by their shifted items (the raster renderer draws flat lists)."""
    out = []
    for it in items:
        out += shift(flatten(it.items), it.x, it.y) if isinstance(it, Group) else [it]
    return out
