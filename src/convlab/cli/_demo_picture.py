"""The demo's picture: input | prediction | ground truth, labelled, with the overlap-tile plan drawn on.

Every panel shows the same central crop of the image. On the input and the
prediction, solid lines are the borders of the tiles' kept cores (together
they tile the image without overlap); one tile, the one whose core holds the
crop's centre, also shows its whole window, dashed, and the part of it that
the network reads but whose output is cropped away, shaded. A legend under
the panels says which is which, with the plan's sizes.
"""

from __future__ import annotations

import numpy as np

from ._glyphs import HEIGHT, draw_text

__all__ = ["CROP", "demo_picture"]

CROP = 512  # a 4096² image is too large to see cells in
_GAP, _PAD = 8, 6
_LINE = HEIGHT + 5
_INK, _DIM = (20, 20, 20), (90, 90, 90)
_CORE = (44, 160, 44)  # green: kept
_HALO = (255, 127, 14)  # orange: read, cropped away


def _grey(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, [0.5, 99.5])
    scaled = (image - low) / (high - low if high > low else 1.0)
    return np.round(255 * np.clip(scaled, 0, 1)).astype(np.uint8)


def crop_box(shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of the central crop of at most :data:`CROP` pixels a side."""
    h, w = shape
    ch, cw = min(h, CROP), min(w, CROP)
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def demo_picture(image: np.ndarray, prediction: np.ndarray, truth: np.ndarray, plan) -> np.ndarray:
    """``(H, W, 3)`` uint8: the three labelled panels of the central crop and the legend.

    ``plan`` is the :class:`convlab.tiling.TilePlan` the prediction was made with.

    >>> from convlab.models import UNetConfig
    >>> from convlab.tiling import plan_tiles
    >>> zeros = np.zeros((64, 64), np.uint8)
    >>> demo_picture(zeros, zeros, zeros, plan_tiles(UNetConfig(depth=1, width=2), (64, 64), 44)).shape
    (160, 224, 3)
    """
    top, left, ch, cw = crop_box(image.shape)
    box = (slice(top, top + ch), slice(left, left + cw))
    panels = [
        np.repeat(p[..., np.newaxis], 3, axis=2)
        for p in (_grey(image[box]), 255 * prediction[box], 255 * truth[box])
    ]
    panels = [np.ascontiguousarray(p, dtype=np.uint8) for p in panels]
    core, window = _highlight(plan, top + ch // 2, left + cw // 2)
    for panel in panels[:2]:
        _draw_plan(panel, plan, (top, left), core, window)
    width = 3 * cw + 4 * _GAP
    height = _GAP + 2 * _LINE + ch + _GAP + 2 * _LINE + _GAP
    canvas = np.full((height, width, 3), 255, np.uint8)
    n = f"{image.shape[0]}x{image.shape[1]}"
    captions = (
        ("input", f"central {ch}x{cw} of {n}"),
        ("prediction", f"U-Net, {plan.total} tiles"),
        ("ground truth", "the exact mask"),
    )
    for i, (panel, (title, note)) in enumerate(zip(panels, captions)):
        x = _GAP + i * (cw + _GAP)
        draw_text(canvas, x, _GAP, title, _INK)
        draw_text(canvas, x, _GAP + _LINE, note, _DIM)
        canvas[_GAP + 2 * _LINE : _GAP + 2 * _LINE + ch, x : x + cw] = panel
    _legend(canvas, _GAP + 2 * _LINE + ch + _GAP, plan)
    return canvas


def _highlight(plan, y: int, x: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The core and the window ``(y0, x0, y1, x1)`` of the tile whose core holds pixel ``(y, x)``."""
    for tile in plan.tiles():
        (ry, rx) = tile.dest
        if ry.start <= y < ry.stop and rx.start <= x < rx.stop:
            (wy0, wy1), (wx0, wx1) = tile.window
            return (ry.start, rx.start, ry.stop, rx.stop), (wy0, wx0, wy1, wx1)
    raise ValueError(f"no tile's core holds pixel {(y, x)} of the image {plan.image}")


def _draw_plan(panel: np.ndarray, plan, origin: tuple[int, int], core, window) -> None:
    oy, ox = origin
    cy0, cx0, cy1, cx1 = (v - o for v, o in zip(core, (oy, ox, oy, ox)))
    wy0, wx0, wy1, wx1 = (v - o for v, o in zip(window, (oy, ox, oy, ox)))
    # The ring read but cropped away: the window less the core, blended so the cells stay visible.
    ring = np.zeros(panel.shape[:2], bool)
    _set(ring, wy0, wx0, wy1, wx1, True)
    _set(ring, cy0, cx0, cy1, cx1, False)
    panel[ring] = np.round(0.55 * panel[ring] + 0.45 * np.array(_HALO)).astype(np.uint8)
    _dashed_box(panel, wy0, wx0, wy1, wx1, _HALO)
    for tile in plan.tiles():
        (ry, rx) = tile.dest
        _box(panel, ry.start - oy, rx.start - ox, ry.stop - oy, rx.stop - ox, _CORE, 1)
    _box(panel, cy0, cx0, cy1, cx1, _CORE, 2)


def _set(mask: np.ndarray, y0: int, x0: int, y1: int, x1: int, value: bool) -> None:
    h, w = mask.shape
    mask[max(y0, 0) : max(min(y1, h), 0), max(x0, 0) : max(min(x1, w), 0)] = value


def _box(panel: np.ndarray, y0: int, x0: int, y1: int, x1: int, color, thick: int) -> None:
    """The outline of ``[y0, y1) x [x0, x1)``, ``thick`` pixels inside it; clipped to the panel."""
    for t in range(thick):
        for yy, xx in ((y0 + t, slice(x0, x1)), (y1 - 1 - t, slice(x0, x1))):
            if 0 <= yy < panel.shape[0]:
                panel[yy, max(xx.start, 0) : max(xx.stop, 0)] = color
        for xx, yy in ((x0 + t, slice(y0, y1)), (x1 - 1 - t, slice(y0, y1))):
            if 0 <= xx < panel.shape[1]:
                panel[max(yy.start, 0) : max(yy.stop, 0), xx] = color


def _dashed_box(panel: np.ndarray, y0: int, x0: int, y1: int, x1: int, color, dash: int = 6) -> None:
    h, w = panel.shape[:2]
    for a in range(x0, x1, 2 * dash):
        for yy in (y0, y1 - 1):
            if 0 <= yy < h:
                panel[yy, max(a, 0) : max(min(a + dash, x1, w), 0)] = color
    for b in range(y0, y1, 2 * dash):
        for xx in (x0, x1 - 1):
            if 0 <= xx < w:
                panel[max(b, 0) : max(min(b + dash, y1, h), 0), xx] = color


def _legend(canvas: np.ndarray, y: int, plan) -> None:
    window = "x".join(map(str, plan.window))
    kept = "x".join(map(str, plan.stride))
    sides = {lo + h for (lo, _), h in zip(plan.margin, plan.halo)} | {
        hi + h for (_, hi), h in zip(plan.margin, plan.halo)
    }
    cropped = "/".join(map(str, sorted(sides)))
    x = _GAP
    _box(canvas, y + 2, x, y + HEIGHT, x + 22, _CORE, 2)
    x = draw_text(canvas, x + 28, y, f"kept core of each tile ({kept}), the tiles' output", _INK) + 18
    canvas[y + 2 : y + HEIGHT, x : x + 22] = np.round(0.55 * 255 + 0.45 * np.array(_HALO)).astype(np.uint8)
    _dashed_box(canvas, y + 2, x, y + HEIGHT, x + 22, _HALO, dash=4)
    draw_text(canvas, x + 28, y, f"read but cropped away ({cropped} px a side)", _INK)
    draw_text(
        canvas,
        _GAP,
        y + _LINE,
        f"dashed: the {window} window the U-Net reads for the highlighted tile; "
        "beyond the image border it reads the mirrored image",
        _DIM,
    )
