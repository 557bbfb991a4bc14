"""Writing pictures: the format from the file name, and never a half-written file."""

from __future__ import annotations

import os
from pathlib import Path

from .._args import ConvlabError
from ..io import write_bytes_atomic
from ._raster import MAX_SHEET_PIXELS, gif_bytes, pil, png_bytes, sheet_size
from ._scene import PictureTooLarge, Scene
from ._svg import svg_text

FORMATS = (".png", ".gif", ".svg")


def picture_format(path: str | os.PathLike) -> str:
    """The format of ``path`` from its suffix, checked before any work is done."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise ConvlabError(f"output must end in .png, .gif or .svg, got output={str(path)!r}")
    if not target.parent.is_dir():
        raise ConvlabError(f"output directory does not exist: {str(target.parent)!r}")
    if suffix in (".png", ".gif"):
        pil()  # Pillow, checked before any frame is drawn
    return suffix


def encode(scenes: list[Scene], suffix: str) -> bytes:
    """The file's bytes; a sheet too large to read is refused, as is the GIF in :func:`gif_bytes`."""
    if suffix == ".gif":
        return gif_bytes(scenes)
    width, height = sheet_size(scenes)
    if width * height > MAX_SHEET_PIXELS:
        raise PictureTooLarge(
            f"{len(scenes)} frames make a {width}x{height} sheet, too large to read; "
            "try smaller sizes (e.g. 5x5) or write a .gif, which shows one frame at a time"
        )
    if suffix == ".png":
        return png_bytes(scenes)
    return svg_text(scenes).encode("utf-8")


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place.

    The rename is atomic on one file system, so a reader (or a crash) sees
    the old file or the complete new one, never a partial picture.
    """
    try:
        write_bytes_atomic(path, data)
    except OSError as err:
        raise ConvlabError(f"cannot write output={str(path)!r}: {err.strerror}") from None


def save(scenes: list[Scene], path: str | os.PathLike) -> int:
    """Encode ``scenes`` for ``path``'s format and write them; returns the number of bytes."""
    data = encode(scenes, picture_format(path))
    write_atomic(path, data)
    return len(data)
