"""Where the mismatches of one tensor lie: channels, row and column ranges, edges, and a small map."""

from __future__ import annotations

import numpy as np

__all__ = ["describe_mismatches", "mismatch_map", "ranges"]

_MAP_ROWS, _MAP_COLS = 16, 48


def ranges(indices: np.ndarray, limit: int = 6) -> str:
    """Sorted integers as compact ranges.

    >>> ranges(np.array([0, 1, 2, 7, 9, 10]))
    '0-2, 7, 9-10'
    """
    values = np.unique(indices)
    if values.size == 0:
        return "none"
    breaks = np.flatnonzero(np.diff(values) != 1) + 1
    runs = [(int(r[0]), int(r[-1])) for r in np.split(values, breaks)]
    text = [f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:limit]]
    return ", ".join(text) + (f", ... ({len(runs)} runs)" if len(runs) > limit else "")


def _edges(spatial: np.ndarray) -> str | None:
    """Which borders hold every mismatch of the 2-D (rows, cols) mask, if all lie on a border."""
    rows, cols = np.nonzero(spatial)
    h, w = spatial.shape
    sides = {"top": rows == 0, "bottom": rows == h - 1, "left": cols == 0, "right": cols == w - 1}
    if not np.any(list(sides.values()), axis=0).all() or (h <= 2 and w <= 2):
        return None
    covered, names = np.zeros(rows.size, bool), []
    for name in sorted(sides, key=lambda k: -int(sides[k].sum())):  # fewest sides that cover all
        if not covered.all() and (sides[name] & ~covered).any():
            covered |= sides[name]
            names.append(name)
    return ", ".join(names) + (" edge" if len(names) == 1 else " edges") + " only (padding?)"


def describe_mismatches(mask: np.ndarray) -> list[str]:
    """Plain sentences on the mismatch ``mask`` ``(N, C, *spatial)`` (or 1-D)."""
    if mask.ndim == 1:
        return [f"indices {ranges(np.flatnonzero(mask))} of {mask.size}"]
    channels = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != 1)))
    c_total = mask.shape[1]
    where = [
        f"channel {channels[0]} only of {c_total}"
        if channels.size == 1
        else f"channels {ranges(channels)} ({channels.size} of {c_total})"
    ]
    if mask.ndim < 3:
        return where
    spatial = mask.any(axis=(0, 1))
    plane = spatial.reshape(-1, spatial.shape[-1]) if spatial.ndim > 1 else spatial[None]
    rows, cols = np.nonzero(plane)
    h, w = plane.shape
    where.append(f"rows {ranges(rows)} of {h}; columns {ranges(cols)} of {w}")
    edge = _edges(plane) if spatial.ndim == 2 else None
    box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    if edge:
        where.append(edge)
    elif box * 4 <= h * w:
        where.append(
            f"one block: rows {rows.min()}-{rows.max()}, columns {cols.min()}-{cols.max()} "
            f"({100 * box / (h * w):.0f}% of the image; a tile?)"
        )
    elif plane.mean() > 0.9:
        where.append("nearly everywhere")
    return where


def mismatch_map(mask: np.ndarray) -> list[str]:
    """Lines of a map of the spatial plane: ``#`` where any value in a cell differs, ``.`` elsewhere.

    The plane is shrunk to at most 16 x 48 cells; each cell covers a block of pixels.

    >>> mismatch_map(np.eye(3, dtype=bool)[None, None])
    ['#..', '.#.', '..#']
    """
    spatial = mask.any(axis=(0, 1))
    plane = spatial.reshape(-1, spatial.shape[-1]) if spatial.ndim > 1 else spatial[None]
    h, w = plane.shape
    fy, fx = -(-h // _MAP_ROWS), -(-w // _MAP_COLS)
    padded = np.zeros((-(-h // fy) * fy, -(-w // fx) * fx), bool)
    padded[:h, :w] = plane
    cells = padded.reshape(padded.shape[0] // fy, fy, padded.shape[1] // fx, fx).any(axis=(1, 3))
    return ["".join("#" if c else "." for c in row) for row in cells]
