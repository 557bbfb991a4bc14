"""Scenes to Pillow images: PNG sheets and animated GIFs, byte for byte reproducible.

Pillow is an optional extra (``convlab[viz]``), imported where it is used.
The font is Pillow's own bundled default, never a system font, so the same
Pillow gives the same bytes on every machine; no timestamps or other
metadata are written into the files.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache

from .._args import ConvlabError
from .._extras import require
from ._scene import HATCH, Line, Rect, Scene, Text, flatten

BACKGROUND = "#ffffff"
SHEET_GAP = 12
MAX_SHEET_PIXELS = 24_000_000  # about 100 MB of RGB in memory: beyond that nobody reads a sheet
MAX_GIF_PIXELS = 200_000_000


def pil():
    """The ``PIL`` modules, or a clear error naming the extra to install."""
    what, instead = "writing PNG and GIF pictures", "or write an .svg file"
    return tuple(
        require(f"PIL.{name}", "viz", what, instead=instead) for name in ("Image", "ImageDraw", "ImageFont")
    )


@lru_cache(maxsize=1)
def _font():
    _, _, image_font = pil()
    try:
        return image_font.load_default(size=12)
    except (TypeError, OSError, ImportError):
        # Pillow < 10.1 or no FreeType: the bitmap default font, smaller but legible.
        return image_font.load_default()


def _dashed(draw, x0: int, y0: int, x1: int, y1: int, color: str) -> None:
    dash = 4
    for a in range(x0, x1, 2 * dash):
        draw.line([(a, y0), (min(a + dash, x1), y0)], fill=color)
        draw.line([(a, y1), (min(a + dash, x1), y1)], fill=color)
    for b in range(y0, y1, 2 * dash):
        draw.line([(x0, b), (x0, min(b + dash, y1))], fill=color)
        draw.line([(x1, b), (x1, min(b + dash, y1))], fill=color)


def _rect(draw, r: Rect) -> None:
    x1, y1 = r.x + r.w - 1, r.y + r.h - 1
    if r.fill:
        draw.rectangle([r.x, r.y, x1, y1], fill=r.fill)
    if r.crossed:
        draw.line([(r.x + 3, y1 - 3), (x1 - 3, r.y + 3)], fill=HATCH)
    if r.dashed:
        _dashed(draw, r.x, r.y, x1, y1, r.outline)
    else:
        draw.rectangle([r.x, r.y, x1, y1], outline=r.outline, width=r.width)


def draw_scene(scene: Scene, width: int | None = None, height: int | None = None):
    """One scene as an RGB image, optionally on a larger canvas (frames of a GIF share one size)."""
    image_mod, draw_mod, _ = pil()
    image = image_mod.new("RGB", (width or scene.width, height or scene.height), BACKGROUND)
    draw = draw_mod.Draw(image)
    font = _font()
    for item in flatten(scene.items):
        if isinstance(item, Rect):
            _rect(draw, item)
        elif isinstance(item, Line):
            draw.line([(item.x0, item.y0), (item.x1, item.y1)], fill=item.color, width=item.width)
        elif isinstance(item, Text):
            anchor = "mm" if item.centered else "la"
            draw.text((item.x, item.y), item.text, fill=item.color, font=font, anchor=anchor)
    return image


def sheet_layout(scenes: list[Scene]) -> tuple[int, int, int, int]:
    """(columns, rows, cell width, cell height) of a near-square sheet of equal-sized frames."""
    w = max(s.width for s in scenes)
    h = max(s.height for s in scenes)
    cols = max(1, math.ceil(math.sqrt(len(scenes) * h / w)))
    cols = min(cols, len(scenes))
    rows = math.ceil(len(scenes) / cols)
    return cols, rows, w, h


def sheet_size(scenes: list[Scene]) -> tuple[int, int]:
    cols, rows, w, h = sheet_layout(scenes)
    return cols * w + (cols - 1) * SHEET_GAP, rows * h + (rows - 1) * SHEET_GAP


def _refuse(what: str, pixels: int, limit: int, frames: int) -> None:
    if pixels > limit:
        raise ConvlabError(
            f"the {what} would hold {frames} frames, {pixels / 1e6:.0f} million pixels, too large to be "
            "readable; try smaller sizes (e.g. input 5x5) or fewer output pixels"
        )


def png_bytes(scenes: list[Scene]) -> bytes:
    """All frames on one sheet, row by row, separated by a grey rule."""
    sw, sh = sheet_size(scenes)
    _refuse("PNG sheet", sw * sh, MAX_SHEET_PIXELS, len(scenes))
    image_mod, _, _ = pil()
    cols, _, w, h = sheet_layout(scenes)
    sheet = image_mod.new("RGB", (sw, sh), "#d9d9d9")
    for i, scene in enumerate(scenes):
        r, c = divmod(i, cols)
        sheet.paste(draw_scene(scene, w, h), (c * (w + SHEET_GAP), r * (h + SHEET_GAP)))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _palette_image(image_mod, scenes: list[Scene]):
    colours = {BACKGROUND, "#d9d9d9"}
    for scene in scenes:
        for item in flatten(scene.items):
            colours.update(
                getattr(item, name) for name in ("fill", "outline", "color") if getattr(item, name, "")
            )
    colours.add(HATCH)
    rgb = sorted(tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in colours)
    rgb += [(v, v, v) for v in range(0, 256, 17)]
    rgb = sorted(set(rgb))[:256]
    flat = [v for colour in rgb for v in colour]
    palette = image_mod.new("P", (1, 1))
    palette.putpalette(flat + flat[:3] * (256 - len(rgb)))
    return palette


def gif_bytes(scenes: list[Scene], duration_ms: int | list[int] = 700) -> bytes:
    """An endlessly looping GIF, one scene per frame.

    ``duration_ms`` is one duration for every frame (the last then held three
    times as long) or a list with one per frame.
    """
    w = max(s.width for s in scenes)
    h = max(s.height for s in scenes)
    _refuse("GIF", w * h * len(scenes), MAX_GIF_PIXELS, len(scenes))
    # One fixed palette for every frame: the scenes' own colours plus a grey
    # ramp for anti-aliased text edges. A per-frame adaptive palette would
    # make colours drift between frames.
    image_mod, _, _ = pil()
    palette = _palette_image(image_mod, scenes)
    frames = [draw_scene(s, w, h).quantize(palette=palette, dither=0) for s in scenes]
    if isinstance(duration_ms, int):
        durations = [duration_ms] * (len(frames) - 1) + [duration_ms * 3]
    else:
        durations = list(duration_ms)
    buffer = io.BytesIO()
    frames[0].save(
        buffer, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0, disposal=1
    )
    return buffer.getvalue()
