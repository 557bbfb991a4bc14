"""How many kernel taps land on each output pixel of a transposed convolution.

Where that count is not the same everywhere in the interior, a transposed
convolution with uniform weights already paints a periodic pattern: the
checkerboard artefact of kernel 3, stride 2 (Odena et al., 2016).
"""

from __future__ import annotations

import os

import numpy as np

from .._args import ConvlabError, infer_ndim, per_dim
from ..functional import conv_transpose1d, conv_transpose2d
from ._files import save
from ._scene import CELL, LINE, MARGIN, Rect, Scene, Text, cell, check_grid, text_width

HEAT = ["#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"]


def overlap_counts(kernel_size, stride, dilation=1, size=5, padding=0, output_padding=0) -> np.ndarray:
    """The number of (input pixel, kernel tap) pairs that land on each output pixel.

    A transposed convolution adds ``x[i] * w[j]`` onto output ``i*stride +
    j*dilation - padding``. With every ``x`` and every ``w`` equal to 1, each
    landing adds exactly 1, so the output *is* the landing count; computing
    it with convlab's own ``conv_transpose`` keeps it true to the operator.

    Parameters
    ----------
    kernel_size, stride, dilation, size, output_padding : int or tuple of 1-2 ints
        ``size`` is the input size; ints with no tuple anywhere mean 2-D.
    padding : int or tuple

    Returns
    -------
    numpy.ndarray of int, shape ``(H_out, W_out)`` or ``(L_out,)``

    Examples
    --------
    >>> overlap_counts(3, 2, size=(4,)).tolist()
    [1, 1, 2, 1, 2, 1, 2, 1, 1]
    """
    named = dict(kernel_size=kernel_size, stride=stride, dilation=dilation, size=size)
    ndim = infer_ndim(padding=padding, output_padding=output_padding, **named) or 2
    if ndim == 3:
        raise ConvlabError("overlap maps are 1-D or 2-D; got 3 spatial dimensions")
    n = per_dim(size, "size", ndim, minimum=1)
    k = per_dim(kernel_size, "kernel_size", ndim, minimum=1)
    op = conv_transpose1d if ndim == 1 else conv_transpose2d
    counts = op(
        np.ones((1, 1, *n)),
        np.ones((1, 1, *k)),
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
    )
    return np.rint(counts[0, 0]).astype(np.int64)


def verdict(ndim: int, kernel_size, stride, dilation=1) -> str:
    """One sentence: does every interior output pixel get the same number of taps, and why not."""
    k = per_dim(kernel_size, "kernel_size", ndim)
    s = per_dim(stride, "stride", ndim)
    d = per_dim(dilation, "dilation", ndim)
    # Away from the borders, output q receives tap j of some input pixel iff
    # j*d = q (mod s): the count depends only on q's stride phase.
    low = high = 1
    for k_, s_, d_ in zip(k, s, d):
        phases = [sum(1 for j in range(k_) if (j * d_) % s_ == r) for r in range(s_)]
        low, high = low * min(phases), high * max(phases)
    period = "x".join(map(str, s))
    if low == high:
        return f"uniform: every interior pixel gets {low} taps; the kernel taps spread evenly over the stride"
    pattern = "checkerboard" if ndim == 2 else "stripe pattern"
    return (
        f"uneven: interior pixels get {low} to {high} taps, repeating every {period} pixels; uniform "
        f"weights already paint a {pattern} (kernel taps do not divide evenly by the stride)"
    )


def text_grid(counts: np.ndarray) -> str:
    """The counts as right-aligned columns, one line per row."""
    rows = counts.reshape(-1, counts.shape[-1])
    width = len(str(int(counts.max())))
    return "\n".join(" ".join(str(int(v)).rjust(width) for v in row) for row in rows)


def heat_scene(counts: np.ndarray, title: list[str]) -> Scene:
    """The counts as a heat map: darker is more taps, the count written in each cell."""
    grid = counts.reshape(-1, counts.shape[-1])
    check_grid(*grid.shape, "overlap map")
    low, high = int(grid.min()), int(grid.max())
    top = MARGIN + LINE * len(title) + 8
    items: list = [Text(MARGIN, MARGIN + i * LINE, t) for i, t in enumerate(title)]
    for (r, c), value in np.ndenumerate(grid):
        level = 0 if high == low else round((value - low) * (len(HEAT) - 1) / (high - low))
        level = level if high > low else 2
        items += cell(MARGIN + c * CELL, top + r * CELL, "output", HEAT[level], str(int(value)))
    ramp_y = top + grid.shape[0] * CELL + 14
    items.append(Text(MARGIN, ramp_y, f"taps per output pixel: {low} (pale) to {high} (dark)"))
    for i, colour in enumerate(HEAT):
        items.append(Rect(MARGIN + 260 + i * 16, ramp_y, 16, 14, colour, "#555555"))
    width = 2 * MARGIN + max(grid.shape[1] * CELL, 260 + 16 * len(HEAT), *(text_width(t) for t in title))
    return Scene(width, ramp_y + 14 + MARGIN, items)


def save_overlap(counts: np.ndarray, title: list[str], output: str | os.PathLike) -> None:
    """Write the heat map of ``counts`` to ``output`` (.png, .svg or a one-frame .gif)."""
    save([heat_scene(counts, title)], output)
