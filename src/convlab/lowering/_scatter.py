"""Transposed convolution as scatter-add: every input pixel adds a scaled copy of the kernel.

Input pixel ``i`` of channel ``c`` adds ``x[c, i] * w[c, o]`` (the whole
dilated kernel) into output channel ``o`` of ``c``'s group, its tap ``t`` at
``i*stride + t*dilation`` (:meth:`convlab.shapes.Window.index` on the
uncropped canvas). That is the definition read as a loop over input pixels;
``padding`` then removes ``lo`` pixels in front and ``hi`` behind, and
``output_padding`` adds pixels behind that no tap reaches.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import ArrayLike

from ..functional._conv import IntArg
from ._setup import finish, transpose_setup

__all__ = ["conv_transpose_by_scatter"]


@np.errstate(invalid="ignore", over="ignore", divide="ignore")  # NaN/inf propagate silently, as in torch
def conv_transpose_by_scatter(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: IntArg = 0,
    output_padding: IntArg = 0,
    groups: int = 1,
    dilation: IntArg = 1,
) -> np.ndarray:
    """Transposed convolution as a loop over input pixels, each adding ``pixel * kernel`` to the output.

    Parameters
    ----------
    input : array_like, shape ``(N, C_in, *size)`` or ``(C_in, *size)``
    weight : array_like, shape ``(C_in, C_out/groups, *k)``
    bias : array_like, shape ``(C_out,)``, optional
    stride, padding, output_padding, groups, dilation
        As :func:`convlab.functional.conv_transpose2d` (``(lo, hi)`` pairs accepted).

    Returns
    -------
    numpy.ndarray, shape ``(N, C_out, *out)`` (no ``N`` if unbatched)

    Notes
    -----
    One Python iteration per input pixel (batch and channels vectorised):
    meant for small images. The scatter target is the uncropped output,
    ``(size - 1)*stride + dilation*(k - 1) + 1`` per dimension, extended
    when ``output_padding`` reaches past it.

    Examples
    --------
    >>> x = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
    >>> conv_transpose_by_scatter(x, x, stride=2)
    array([[[[0., 0., 0., 1.],
             [0., 0., 2., 3.],
             [0., 2., 0., 3.],
             [4., 6., 6., 9.]]]])
    """
    setup = transpose_setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    x, w, g, wins = setup.x, setup.w, setup.groups, setup.windows
    n_batch, c_in, *size = x.shape
    kernel, cout_g = setup.kernel, w.shape[1]
    # Canvas position = output position + lo: the first tap of pixel i lands at index(i, 0) + lo.
    full = tuple(
        max(win.index(n - 1, win.kernel - 1) + win.lo + 1, win.lo + o)
        for n, win, o in zip(size, wins, setup.out_shape)
    )
    canvas = np.zeros((n_batch, g * cout_g, *full), dtype=x.dtype)
    xg = x.reshape(n_batch, g, c_in // g, *size)
    wg = w.reshape(g, c_in // g, cout_g, -1)
    for pixel in itertools.product(*(range(n) for n in size)):
        # (N, g, C_in/g) pixel values times (g, C_in/g, C_out/g, taps) kernels, summed over C_in/g.
        copies = np.einsum("bgc,gcot->bgot", xg[(Ellipsis, *pixel)], wg)
        starts = (win.index(i, 0) + win.lo for i, win in zip(pixel, wins))
        target = tuple(slice(a, a + win.span, win.dilation) for a, win in zip(starts, wins))
        canvas[(slice(None), slice(None), *target)] += copies.reshape(n_batch, g * cout_g, *kernel)
    crop = tuple(slice(lo, lo + o) for lo, o in zip(setup.lo, setup.out_shape))
    return finish(canvas[(slice(None), slice(None), *crop)], setup)
