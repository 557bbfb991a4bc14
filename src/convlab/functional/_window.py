"""The one windowing primitive of convolution: gather by kernel tap and its adjoint.

Every operator of the convolution family relates two grids per spatial
dimension, the *image* and the *windows*, through the one coordinate map of
:class:`convlab.shapes.Window` (``Window.index``). For a fixed tap that map
is an affine, strided slice of each axis (``Window.tap_slices``), so one tap
of a whole box of windows is a single NumPy slice assignment: no index
arrays, no ``np.add.at``.

- :func:`gather` (im2col) copies ``image[..., x(y, t)]`` into ``cols[:, :, t, y]``.
- :func:`scatter_add` (col2im) adds ``cols[:, :, t, y]`` into ``image[..., x(y, t)]``.

They are adjoint by construction (the same slices, read versus accumulated),
which makes ``fold`` the adjoint of ``unfold`` and the transposed convolution
the adjoint of the convolution.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..shapes import Window

__all__ = ["Windows", "disjoint", "gather", "scatter_add", "taps"]

# One Window per spatial dimension; ``size`` is the image grid.
Windows = tuple[Window, ...]


def taps(windows: Windows) -> int:
    """Kernel taps in all: ``prod(kernel)``."""
    return math.prod(w.kernel for w in windows)


def disjoint(windows: Windows) -> bool:
    """Whether two taps never touch the same image position (e.g. kernel 2, stride 2)."""
    return all(w.span <= w.stride for w in windows)


# (image slices, window slices relative to the box, whether the tap misses part of the box)
_Tap = tuple[tuple[slice, ...], tuple[slice, ...], bool]


def _plan(windows: Windows, box: tuple[slice, ...]) -> tuple[list[tuple[int, _Tap]], bool]:
    """The non-empty taps of a box (flat tap index, slices) and whether any window sees padding."""
    axes = [w.tap_slices(b.start, b.stop) for w, b in zip(windows, box)]
    widths = [b.stop - b.start for b in box]
    found, padded = [], False
    for flat, per_axis in enumerate(itertools.product(*axes)):
        if any(p is None for p in per_axis):
            padded = True
            continue
        image, windows_ = zip(*per_axis)
        partial = any(w.stop - w.start != width for w, width in zip(windows_, widths))
        padded |= partial
        found.append((flat, (image, windows_, partial)))
    return found, padded


def gather(image: np.ndarray, windows: Windows, box: tuple[slice, ...], cols: np.ndarray) -> None:
    """im2col of one box of windows: ``cols[n, c, t, *y] = image[n, c, *x(y, t)]`` (0 in padding).

    ``image`` has shape ``(nb, C, *sizes)``, ``cols`` shape
    ``(nb, C, taps, *box_shape)`` and is overwritten.
    """
    taps, padded = _plan(windows, box)
    if padded:
        cols.fill(0)
    lead = (slice(None), slice(None))
    for flat, (src, dst, _) in taps:
        cols[(*lead, flat, *dst)] = image[(*lead, *src)]


def scatter_add(
    cols: np.ndarray, windows: Windows, box: tuple[slice, ...], image: np.ndarray, *, assign: bool = False
) -> None:
    """col2im of one box: ``image[n, c, *x(y, t)] += cols[n, c, t, *y]``, padding dropped.

    The adjoint of :func:`gather`: the same slices, accumulated instead of read.
    With ``assign`` the values are stored instead of added, which is the same
    when :func:`disjoint` holds and the image was zero (each image position
    receives one term at most) and saves reading the image back.
    """
    taps, _ = _plan(windows, box)
    lead = (slice(None), slice(None))
    for flat, (dst, src, _) in taps:
        target = image[(*lead, *dst)]
        if assign:
            target[...] = cols[(*lead, flat, *src)]
        else:
            target += cols[(*lead, flat, *src)]
