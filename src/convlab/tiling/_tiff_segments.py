"""A box of a compressed TIFF page, decoding only the strips or tiles it touches (no zarr needed).

tifffile's own segment access: ``filehandle.read_segments`` reads the
encoded bytes of the chosen segments and ``page.decode`` decodes one, with
its origin in pixels. That is what tifffile's zarr store does per chunk;
this is the same without the zarr package, for the common layout: one page
of shape ``(H, W)`` or ``(H, W, S)`` with interleaved samples.
"""

from __future__ import annotations

import numpy as np

from .._extras import require

__all__ = ["read_page_box"]


def _simple_page(tif, series):
    """The one page holding the whole series, or None for layouts this reader does not cover."""
    if len(series.pages) != 1:
        return None
    page = series.pages[0]
    if page is None or tuple(page.shape) != tuple(series.shape) or len(page.shape) not in (2, 3):
        return None
    if len(page.shape) == 3 and page.planarconfig != 1:
        return None
    if len(page.chunks) != len(page.shape) or len(page.chunked) != len(page.shape):
        return None
    return page


def read_page_box(path: str, index: tuple[slice, ...]) -> np.ndarray | None:
    """``series[index]`` of the TIFF at ``path`` (slices with step 1), or None if the layout is not covered.

    Memory: the box and one decoded segment at a time.
    """
    tifffile = require("tifffile", "io", f"reading {path}")

    with tifffile.TiffFile(path) as tif:
        page = _simple_page(tif, tif.series[0])
        if page is None:
            return None
        rows, cols = (range(*s.indices(n)) for s, n in zip(index[:2], page.shape[:2]))
        out = np.empty((len(rows), len(cols), *page.shape[2:]), page.dtype)
        if not len(rows) or not len(cols):
            return out[(slice(None), slice(None), *index[2:])]
        (ch, cw), (_, gx) = page.chunks[:2], page.chunked[:2]
        wanted = [
            iy * gx + ix
            for iy in range(rows.start // ch, (rows.stop - 1) // ch + 1)
            for ix in range(cols.start // cw, (cols.stop - 1) // cw + 1)
        ]
        offsets = [page.dataoffsets[i] for i in wanted]
        counts = [page.databytecounts[i] for i in wanted]
        for segment in tif.filehandle.read_segments(offsets, counts, indices=wanted, sort=True):
            data, origin, _ = page.decode(*segment, jpegtables=page.jpegtables)
            _paste(out, data, origin[2], origin[3], rows, cols)
    return out[(slice(None), slice(None), *index[2:])]


def _paste(out: np.ndarray, data: np.ndarray, y: int, x: int, rows: range, cols: range) -> None:
    """Copy the part of a decoded segment (origin ``(y, x)``) that falls inside the box."""
    block = data[0] if data.ndim == 4 else data  # (depth=1, rows, cols, samples)
    y0, y1 = max(y, rows.start), min(y + block.shape[0], rows.stop)
    x0, x1 = max(x, cols.start), min(x + block.shape[1], cols.stop)
    if y0 >= y1 or x0 >= x1:
        return
    piece = block[y0 - y : y1 - y, x0 - x : x1 - x]
    target = out[y0 - rows.start : y1 - rows.start, x0 - cols.start : x1 - cols.start]
    target[...] = piece.reshape(target.shape)
