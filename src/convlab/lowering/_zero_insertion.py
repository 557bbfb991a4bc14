"""Transposed convolution as zero insertion followed by an ordinary convolution with the flipped kernel.

The transposed convolution scatters ``out[Window.index(i, t)] += x[i] * w[t]``
(:class:`convlab.shapes.Window`).
Stuff ``s - 1`` zeros between input pixels, ``z[i*s] = x[i]``; then an output
pixel gathers ``out[o] = sum_t z[o + lo - t*d] * w[t]``. With
``t' = k - 1 - t`` that is ``sum_t' z[o - (d*(k-1) - lo) + t'*d] * w[k-1-t']``:
a stride-1 convolution, dilation ``d``, of ``z`` padded by ``d*(k-1) - lo``
in front, with the kernel flipped. The padding behind follows from the
output size: ``d*(k-1) - hi + output_padding``. Each (input, output) channel
pair keeps its weights, so per group the channel axes swap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .._args import Pairs
from ..functional._conv import IntArg
from ._setup import CONV, ConvArgs, swap_groups, transpose_setup, window

__all__ = ["ZeroInsertionParts", "conv_transpose_by_zero_insertion", "zero_insertion_parts"]


@dataclass(frozen=True, eq=False)
class ZeroInsertionParts:
    """The ordinary convolution that a transposed convolution equals.

    ``conv(input, weight, bias, stride=1, padding=0, dilation=dilation,
    groups=groups)`` is the transposed convolution's result.

    Attributes
    ----------
    input : numpy.ndarray, shape ``(N, C_in, *padded)`` (no ``N`` if unbatched)
        ``stride - 1`` zeros between input pixels, then ``padding`` applied.
    weight : numpy.ndarray, shape ``(C_out, C_in/groups, *k)``
        The transposed convolution's kernel flipped in every spatial
        dimension, channel axes swapped per group: the convolution layout.
    bias : numpy.ndarray, shape ``(C_out,)``, or None
    padding : tuple of (lo, hi) per dimension
        ``(d*(k-1) - lo, d*(k-1) - hi + output_padding)`` around the zero-stuffed
        input, of size ``(size - 1)*stride + 1``; a negative value crops.
    dilation : tuple of int
    groups : int
    """

    input: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None
    padding: Pairs
    dilation: tuple[int, ...]
    groups: int


def _parts(setup: ConvArgs) -> ZeroInsertionParts:
    x, s, d = setup.x, setup.stride, setup.dilation
    stuffed = np.zeros((*x.shape[:2], *((n - 1) * si + 1 for n, si in zip(x.shape[2:], s))), x.dtype)
    stuffed[(Ellipsis, *(slice(None, None, si) for si in s))] = x
    pads = tuple(win.stuffed_padding for win in setup.windows)
    size = tuple(n + lo + hi for n, (lo, hi) in zip(stuffed.shape[2:], pads))
    padded = window(stuffed, tuple(lo for lo, _ in pads), size)
    flipped = swap_groups(setup.w, setup.groups)[(Ellipsis, *(slice(None, None, -1),) * setup.ndim)]
    return ZeroInsertionParts(
        padded[0] if setup.unbatched else padded,
        np.ascontiguousarray(flipped),
        setup.b,
        pads,
        d,
        setup.groups,
    )


def zero_insertion_parts(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: IntArg = 0,
    output_padding: IntArg = 0,
    groups: int = 1,
    dilation: IntArg = 1,
) -> ZeroInsertionParts:
    """The zero-stuffed, padded input and the flipped kernel of a transposed convolution.

    Parameters
    ----------
    input, weight, bias, stride, padding, output_padding, groups, dilation
        As :func:`convlab.functional.conv_transpose2d`, 1 to 3 spatial
        dimensions (read off the weight), ``(lo, hi)`` padding pairs accepted.

    Returns
    -------
    ZeroInsertionParts
        What :func:`conv_transpose_by_zero_insertion` convolves.

    Notes
    -----
    The stuffed input has ``prod((size - 1)*stride + 1)`` pixels of which
    ``prod(size)`` are not inserted zeros: the convolution spends about
    ``1 - 1/prod(stride)`` of its multiplications on zeros.

    Examples
    --------
    >>> parts = zero_insertion_parts(np.array([[[1.0, 2.0]]]), np.array([[[1.0, 10.0]]]), stride=2)
    >>> parts.input, parts.weight, parts.padding
    (array([[[0., 1., 0., 2., 0.]]]), array([[[10.,  1.]]]), ((1, 1),))
    """
    setup = transpose_setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    return _parts(setup)


def conv_transpose_by_zero_insertion(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: IntArg = 0,
    output_padding: IntArg = 0,
    groups: int = 1,
    dilation: IntArg = 1,
) -> np.ndarray:
    """Transposed convolution as zero insertion, padding and a stride-1 convolution with the flipped kernel.

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

    Examples
    --------
    >>> x = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
    >>> conv_transpose_by_zero_insertion(x, x)
    array([[[[ 0.,  0.,  1.],
             [ 0.,  4.,  6.],
             [ 4., 12.,  9.]]]])
    """
    setup = transpose_setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    parts = _parts(setup)
    conv = CONV[setup.ndim]
    return conv(parts.input, parts.weight, parts.bias, 1, 0, parts.dilation, parts.groups)
