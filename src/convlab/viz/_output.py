"""Animations to files: a GIF of one frame per step, or one contact sheet as PNG or SVG."""

from __future__ import annotations

import math
import os

from .._args import ConvlabError
from ._compose import Section, gif_scenes, sheet_scene
from ._files import write_atomic
from ._raster import MAX_GIF_PIXELS, MAX_SHEET_PIXELS, gif_bytes, png_bytes
from ._scene import CELL, GAP, PictureTooLarge
from ._svg import svg_text

FPS_RANGE = (0.25, 50.0)
HOLD = 3  # the last frame and a title card stay this many frames long


def frame_duration(fps) -> int:
    """Milliseconds per GIF frame, in the GIF's own unit of 10 ms.

    Examples
    --------
    >>> frame_duration(1.5), frame_duration(50), frame_duration(0.25)
    (670, 20, 4000)
    """
    if isinstance(fps, bool) or not isinstance(fps, (int, float)):
        raise TypeError(f"fps must be a number, got fps={fps!r}")
    low, high = FPS_RANGE
    if not (math.isfinite(fps) and low <= fps <= high):
        # Browsers show GIF frames shorter than 20 ms at 100 ms: 50 fps is the honest top.
        raise ConvlabError(f"fps must be from {low:g} to {high:g} frames per second, got fps={fps!r}")
    return max(20, round(100 / fps) * 10)


def check_budget(views: list[tuple[int, tuple[int, int], tuple[int, int]]], suffix: str) -> None:
    """Refuse a picture whose grids alone pass the pixel limit, before any frame is built.

    ``views`` holds ``(frames, left grid, right grid)`` per view, grids as
    (rows, columns). Captions, titles and legends only add to the grids'
    pixels, so this lower bound never refuses a picture that would fit; it
    stops a 40x40 GIF (minutes and gigabytes of frames) in microseconds.
    """
    pixels = sum(n * ((a[1] + b[1]) * CELL + GAP) * max(a[0], b[0]) * CELL for n, a, b in views)
    limit, what = (MAX_GIF_PIXELS, "GIF") if suffix == ".gif" else (MAX_SHEET_PIXELS, "sheet")
    if pixels > limit:
        frames = sum(n for n, _, _ in views)
        raise PictureTooLarge(
            f"the {what} would hold {frames} frames, at least {pixels / 1e6:.0f} million pixels, "
            "too large to be readable; try smaller sizes (e.g. input 5x5)"
            + ("" if suffix == ".gif" else " or write a .gif, which shows one frame at a time")
        )


def write_picture(head: list[str], parts: list[Section], output: str | os.PathLike, suffix: str, fps) -> None:
    """Encode the sections for ``suffix`` and write them atomically; refuse sheets too large to read."""
    if suffix == ".gif":
        duration = frame_duration(fps)
        scenes = gif_scenes(head, parts)
        held = [i for i, s in enumerate(_pages(parts)) if s]
        durations = [
            duration * (HOLD if i in held or i == len(scenes) - 1 else 1) for i in range(len(scenes))
        ]
        data = gif_bytes(scenes, durations)
    else:
        sheet = sheet_scene(head, parts)
        if sheet.width * sheet.height > MAX_SHEET_PIXELS:
            frames = sum(len(s.frames) for s in parts)
            raise PictureTooLarge(
                f"{frames} frames make a {sheet.width}x{sheet.height} sheet, too large to read; "
                "try smaller sizes (e.g. 5x5) or write a .gif, which shows one frame at a time"
            )
        data = png_bytes([sheet]) if suffix == ".png" else svg_text([sheet]).encode("utf-8")
    write_atomic(output, data)


def _pages(parts: list[Section]) -> list[bool]:
    """Per GIF page: is it a title card."""
    return [flag for s in parts for flag in ([True] if s.card else []) + [False] * len(s.frames)]
