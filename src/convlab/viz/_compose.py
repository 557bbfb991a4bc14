"""Frames into pictures: a GIF frame is header + body + legend; a sheet has one header and one legend.

A *section* is a run of frames under one view sentence (the scatter view,
then the zero-insertion view of a transposed convolution). Every GIF frame
shares one canvas, as tight as the largest frame; a contact sheet (PNG,
SVG) writes the layer's header once, each section's sentence once, then its
frames as a grid of captioned bodies, and one legend for all of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._body import body, frame_rows, frame_width, wrap
from ._layout import CROP, DATA, OUT, OUTPAD, PAD, ZERO, Frame
from ._scene import (
    GROUPS,
    HIGHLIGHT,
    HOT,
    INK,
    LEGEND_TEXT,
    LINE,
    MARGIN,
    PICKED,
    STYLE,
    Group,
    Rect,
    Scene,
    Text,
    bbox,
    shift,
    text_width,
)

MIN_WIDTH = 420
SHEET_GAP = 20
LEGEND_ORDER = (DATA, ZERO, PAD, OUT, OUTPAD, CROP)


@dataclass
class Section:
    """Frames under one sentence; ``card`` lines make a GIF title card before them."""

    sentence: str
    frames: list[Frame]
    card: tuple[str, ...] = ()


def _kinds(frames: list[Frame]) -> set[str]:
    return {k for f in frames for p in f.panels for row in p.kinds for k in row}


def legend(frames: list[Frame], width: int) -> list:
    """One swatch per thing drawn, wrapped to ``width``; every swatch is its cells' palette entry."""
    kinds = [k for k in LEGEND_ORDER if k in _kinds(frames)]
    entries = [(Rect(0, 0, 14, 14, *STYLE[k][:2], 1, STYLE[k][2], k == CROP), LEGEND_TEXT[k]) for k in kinds]
    words = " / ".join(dict.fromkeys(f.window_words for f in frames))
    entries.append((Rect(0, 0, 14, 14, HOT, HIGHLIGHT, 2), words))
    if any(p.picked for f in frames for p in f.panels):
        entries.append((Rect(0, 0, 14, 14, PICKED, HIGHLIGHT, 2), "the maximum, kept"))
    groups = sorted({g for f in frames for p in f.panels for g in p.planes})
    if len(groups) > 1:
        for g in groups:
            fill, edge = GROUPS[g % len(GROUPS)]
            entries.append((Rect(0, 0, 14, 14, fill, edge, 2), f"channels of group {g + 1}"))
    items, x, y = [], 0, 0
    for swatch, words in entries:
        w = 20 + text_width(words)
        if x and x + w > width:
            x, y = 0, y + LINE + 4
        items += [*shift([swatch], x, y), Text(x + 20, y + 1, words)]
        x += w + 16
    return items


def _sized(pages: list[list]) -> list[Scene]:
    """Pages moved to a ``MARGIN`` from the top left, on one canvas just large enough for all of them."""
    boxes = [bbox(p) for p in pages]
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    width = max(b[2] for b in boxes) - left + 2 * MARGIN
    height = max(b[3] for b in boxes) - top + 2 * MARGIN
    return [Scene(width, height, shift(p, MARGIN - left, MARGIN - top)) for p in pages]


def _header(lines: list[str], width: int) -> list[str]:
    return [part for line in lines for part in wrap(line, width)]


def gif_scenes(head: list[str], sections: list[Section]) -> list[Scene]:
    """One scene per GIF frame (title cards included), all on one tight canvas."""
    every = [f for s in sections for f in s.frames]
    width = max(MIN_WIDTH, *(frame_width(f) for f in every))
    caption_rows, title_rows, grid_h = _step_rows(every, width)
    keys = [legend(s.frames, width) for s in sections]
    header_rows = max(len(_header([*head, s.sentence], width)) for s in sections)
    body_top = header_rows * LINE + 8
    key_top = body_top + caption_rows * LINE + 8 + title_rows * LINE + grid_h + 14
    pages = []
    for s, key in zip(sections, keys):
        top = [Text(0, i * LINE, t) for i, t in enumerate(_header([*head, s.sentence], width))]
        if s.card:
            pages.append(top + card(s.card, width, body_top, key_top - body_top))
        for f in s.frames:
            pages.append(
                top + shift(body(f, width, caption_rows, title_rows), 0, body_top) + shift(key, 0, key_top)
            )
    return _sized(pages)


def _step_rows(frames: list[Frame], width: int) -> tuple[int, int, int]:
    """(caption lines, title lines, grid height) that every frame of ``frames`` fits in."""
    rows = [frame_rows(f, width) for f in frames]
    return max(r[0] for r in rows), max(r[1] for r in rows), max(r[2] for r in rows)


def card(lines: tuple[str, ...], width: int, top: int, height: int) -> list:
    """A title card: a framed box of centred sentences between two views."""
    text = [part for line in lines for part in wrap(line, width - 24)]
    y0 = top + max(0, (height - len(text) * LINE) // 2)
    items: list = [Rect(0, top, width, max(height, len(text) * LINE + 24), "#fff8f0", HIGHLIGHT, 2)]
    items += [Text(width // 2, y0 + i * LINE + LINE // 2, t, INK, centered=True) for i, t in enumerate(text)]
    return items


def sheet_scene(head: list[str], sections: list[Section]) -> Scene:
    """Every frame on one sheet: the header once, each section's sentence once, one legend."""
    every = [f for s in sections for f in s.frames]
    cell_w = max(MIN_WIDTH // 2, *(frame_width(f) for f in every))
    steps = [_step_rows(s.frames, cell_w) for s in sections]
    tallest = max(rows[0] * LINE + 8 + rows[1] * LINE + rows[2] + 12 for rows in steps)
    # Near-square sheets: as many columns as the frames' aspect ratio asks for.
    cols = max(1, min(len(every), math.ceil(math.sqrt(len(every) * tallest / cell_w))))
    width = cols * cell_w + (cols - 1) * SHEET_GAP
    items: list = [Text(0, i * LINE, t) for i, t in enumerate(_header(head, width))]
    y = len(items) * LINE + 8
    index = 0
    for s, (caption_rows, title_rows, grid_h) in zip(sections, steps):
        lines = _header(list(s.card) or [s.sentence], width)
        items += [Text(0, y + i * LINE, t) for i, t in enumerate(lines)]
        y += len(lines) * LINE + 8
        step_h = caption_rows * LINE + 8 + title_rows * LINE + grid_h + 12
        for i, f in enumerate(s.frames):
            r, c = divmod(i, cols)
            x0, y0 = c * (cell_w + SHEET_GAP), y + r * (step_h + SHEET_GAP)
            inner = body(f, cell_w, caption_rows, title_rows)
            frame = Rect(-8, -8, cell_w + 16, step_h + 8, "", "#d0d0d0", 1)
            items.append(Group(x0, y0, (frame, *inner), f"step-{index}"))
            index += 1
        y += math.ceil(len(s.frames) / cols) * (step_h + SHEET_GAP) + 4
    items += shift(legend(every, width), 0, y)
    return _sized([items])[0]
