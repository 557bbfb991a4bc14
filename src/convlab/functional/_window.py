"""The one windowing primitive of convolution: gather by kernel tap and its adjoint.

Every operator of the convolution family relates two grids per spatial
dimension: the *image* grid (size ``n``; the input of a convolution or of
``unfold``, the output of a transposed convolution or of ``fold``) and the
*window* grid (one position per window). Window position ``y`` and kernel tap
``t`` touch image position::

    x = y * stride + t * dilation - lo          (lo: padding before the start)

and positions outside ``0..n-1`` are zero padding. For a fixed tap that map is
an affine, strided slice of each axis, so one tap of a whole box of windows is
a single NumPy slice assignment: no index arrays, no ``np.add.at``.

- :func:`gather` (im2col) copies ``image[..., x(y, t)]`` into ``cols[:, :, t, y]``.
- :func:`scatter_add` (col2im) adds ``cols[:, :, t, y]`` into ``image[..., x(y, t)]``.

They are adjoint by construction (the same slices, read versus accumulated),
which makes ``fold`` the adjoint of ``unfold`` and the transposed convolution
the adjoint of the convolution.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

__all__ = ["Geometry", "gather", "scatter_add"]


@dataclass(frozen=True)
class Geometry:
    """Canonical per-dimension arguments of one windowing; every field has one entry per dim.

    ``image`` is the spatial size of the image grid and ``lo`` the padding
    before it. The padding after it only decides how many windows there are,
    which the caller already knows from :mod:`convlab.shapes`.
    """

    image: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    lo: tuple[int, ...]

    @property
    def taps(self) -> int:
        return int(np.prod(self.kernel))

    @property
    def disjoint(self) -> bool:
        """Whether two taps never touch the same image position (e.g. kernel 2, stride 2)."""
        return all((k - 1) * d < s for k, s, d in zip(self.kernel, self.stride, self.dilation))


# (image slices, window slices relative to the box, whether the tap misses part of the box)
_Tap = tuple[tuple[slice, ...], tuple[slice, ...], bool]


def _axis_taps(n: int, k: int, s: int, d: int, lo: int, box: slice) -> list[tuple[slice, slice] | None]:
    """Per tap of one axis: (image slice, window slice in the box), or None when all is padding."""
    a, b = box.start, box.stop
    result: list[tuple[slice, slice] | None] = []
    for t in range(k):
        shift = t * d - lo
        # 0 <= y*s + shift <= n-1  <=>  ceil(-shift/s) <= y <= floor((n-1-shift)/s)
        first = max(a, -(shift // s))
        last = min(b, (n - 1 - shift) // s + 1)
        if first >= last:
            result.append(None)
            continue
        start = first * s + shift
        result.append((slice(start, start + (last - first - 1) * s + 1, s), slice(first - a, last - a)))
    return result


def _plan(geom: Geometry, box: tuple[slice, ...]) -> tuple[list[tuple[int, _Tap]], bool]:
    """The non-empty taps of a box (flat tap index, slices) and whether any window sees padding."""
    axes = [
        _axis_taps(n, k, s, d, lo, b)
        for n, k, s, d, lo, b in zip(geom.image, geom.kernel, geom.stride, geom.dilation, geom.lo, box)
    ]
    widths = [b.stop - b.start for b in box]
    taps, padded = [], False
    for flat, per_axis in enumerate(itertools.product(*axes)):
        if any(p is None for p in per_axis):
            padded = True
            continue
        partial = any(w.stop - w.start != width for (_, w), width in zip(per_axis, widths))
        padded |= partial
        image = tuple(i for i, _ in per_axis)
        window = tuple(w for _, w in per_axis)
        taps.append((flat, (image, window, partial)))
    return taps, padded


def gather(image: np.ndarray, geom: Geometry, box: tuple[slice, ...], cols: np.ndarray) -> None:
    """im2col of one box of windows: ``cols[n, c, t, *y] = image[n, c, *x(y, t)]`` (0 in padding).

    ``image`` has shape ``(nb, C, *geom.image)``, ``cols`` shape
    ``(nb, C, taps, *box_shape)`` and is overwritten.
    """
    taps, padded = _plan(geom, box)
    if padded:
        cols.fill(0)
    lead = (slice(None), slice(None))
    for flat, (src, dst, _) in taps:
        cols[(*lead, flat, *dst)] = image[(*lead, *src)]


def scatter_add(
    cols: np.ndarray, geom: Geometry, box: tuple[slice, ...], image: np.ndarray, *, assign: bool = False
) -> None:
    """col2im of one box: ``image[n, c, *x(y, t)] += cols[n, c, t, *y]``, padding dropped.

    The adjoint of :func:`gather`: the same slices, accumulated instead of read.
    With ``assign`` the values are stored instead of added, which is the same
    when ``geom.disjoint`` holds and the image was zero (each image position
    receives one term at most) and saves reading the image back.
    """
    taps, _ = _plan(geom, box)
    lead = (slice(None), slice(None))
    for flat, (dst, src, _) in taps:
        target = image[(*lead, *dst)]
        if assign:
            target[...] = cols[(*lead, flat, *src)]
        else:
            target += cols[(*lead, flat, *src)]
