"""``unfold`` (im2col) and its adjoint ``fold`` (col2im), for 1 to 3 spatial dimensions.

Both are one call of the window primitive of :mod:`._window` on the whole
array; PyTorch has the 2-D case only, whose layout is kept for every rank:
rows ``c * prod(kernel_size) + tap`` (channel-major, then kernel offsets in C
order), one column per window in C order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .._args import ConvlabError, describe, infer_ndim, per_dim
from ..shapes import Window, conv_output_size
from ._arrays import batched
from ._budget import check_arrays
from ._conv import IntArg, PaddingArg
from ._conv_args import conv_padding
from ._policy import NumericPolicy, float_policy, real_array
from ._window import gather, scatter_add, taps

__all__ = ["UnfoldArgs", "fold", "unfold"]


@dataclass(frozen=True, eq=False)
class UnfoldArgs:
    """One ``unfold`` or ``fold``, canonical: the array, the windows on the image grid, the policy.

    ``array`` is batched: ``(N, C, *image)`` for unfold, ``(N, C * taps, L)``
    for fold, cast by ``policy``; ``counts`` is the number of windows per
    dimension.
    """

    array: np.ndarray
    unbatched: bool
    windows: tuple[Window, ...]
    counts: tuple[int, ...]
    policy: NumericPolicy


def unfold(
    input: ArrayLike, kernel_size: IntArg, dilation: IntArg = 1, padding: PaddingArg = 0, stride: IntArg = 1
) -> np.ndarray:
    """Extract sliding windows (im2col), as ``torch.nn.functional.unfold``, for 1-3 spatial dims.

    Parameters
    ----------
    input : array_like, shape ``(N, C, *spatial)`` or ``(C, *spatial)``
        The number of spatial dimensions comes from the tuple arguments; when
        all are ints it follows PyTorch: a 4-D input is ``(N, C, H, W)``, a 3-D
        one ``(C, H, W)``, a 5-D one ``(N, C, D, H, W)``, a 2-D one ``(C, L)``.
        Pass ``kernel_size=(k,)`` for a batched 1-D ``(N, C, L)``.
    kernel_size, dilation, stride : int or tuple of int
    padding : int, tuple, ``'valid'`` or ``'same'``
        Zero padding, as in :func:`conv2d` (``(lo, hi)`` pairs allowed).

    Returns
    -------
    numpy.ndarray, shape ``(N, C * prod(kernel_size), L)`` (no ``N`` if unbatched)
        ``L`` is the number of windows, ``prod(conv_output_size(...))``.

    Notes
    -----
    The result holds every input pixel up to ``prod(kernel_size / stride)``
    times: for a 3x3 kernel at stride 1, nine copies of the input.

    Examples
    --------
    >>> unfold(np.arange(4.0).reshape(1, 1, 4), kernel_size=(2,))
    array([[[0., 1., 2.],
            [1., 2., 3.]]])
    >>> unfold(np.ones((2, 3, 5, 5)), 3, padding=1).shape
    (2, 27, 25)
    """
    args = _unfold_args(input, kernel_size, dilation, padding, stride)
    x, image = args.array, args.windows
    cols = np.empty((x.shape[0], x.shape[1], taps(image), *args.counts), dtype=args.policy.accumulate)
    gather(x, image, _full(args.counts), cols)
    result = cols.reshape(x.shape[0], x.shape[1] * taps(image), math.prod(args.counts))
    return result[0] if args.unbatched else result


@np.errstate(invalid="ignore", over="ignore", divide="ignore")  # NaN/inf propagate silently, as in torch
def fold(
    input: ArrayLike,
    output_size: IntArg,
    kernel_size: IntArg,
    dilation: IntArg = 1,
    padding: PaddingArg = 0,
    stride: IntArg = 1,
) -> np.ndarray:
    """Sum sliding windows back into an array (col2im), as ``torch.nn.functional.fold``, 1-3 dims.

    The adjoint of :func:`unfold`: every column is added into the window it
    came from, so overlapping windows accumulate.

    Parameters
    ----------
    input : array_like, shape ``(N, C * prod(kernel_size), L)`` or ``(C * prod(kernel_size), L)``
    output_size : int or tuple of int
        Spatial size of the result; its length sets the number of spatial
        dimensions (an int means 2-D, as in PyTorch, unless another argument
        is a tuple).
    kernel_size, dilation, stride : int or tuple of int
    padding : int, tuple, ``'valid'`` or ``'same'``

    Returns
    -------
    numpy.ndarray, shape ``(N, C, *output_size)`` (no ``N`` if unbatched)

    Examples
    --------
    >>> fold(np.ones((1, 2, 3)), output_size=(4,), kernel_size=(2,))
    array([[[1., 2., 2., 1.]]])
    >>> x = np.ones((1, 1, 4, 4))
    >>> fold(unfold(x, 2, stride=2), (4, 4), 2, stride=2)[0, 0, 0]
    array([1., 1., 1., 1.])
    """
    args = _fold_args(input, output_size, kernel_size, dilation, padding, stride)
    cols, image, k = args.array, args.windows, taps(args.windows)
    n, rows = cols.shape[:2]
    out = np.zeros((n, rows // k, *(w.size for w in image)), dtype=args.policy.accumulate)
    scatter_add(cols.reshape(n, rows // k, k, *args.counts), image, _full(args.counts), out)
    return out[0] if args.unbatched else out


def _unfold_args(input, kernel_size, dilation, padding, stride) -> UnfoldArgs:
    array = real_array(input, "input")
    policy = float_policy(array)
    ndim = infer_ndim(kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride)
    if ndim is None:
        ndim = {2: 1, 3: 2, 4: 2, 5: 3}.get(array.ndim, 2)
    x, unbatched = batched(policy.cast(array), ndim)
    windows, counts = _windows(x.shape[2:], kernel_size, dilation, padding, stride)
    check_arrays(
        f"unfold's result (kernel_size={describe(kernel_size)}, padding={describe(padding)})",
        policy.accumulate,
        (*x.shape[:2], taps(windows), *counts),
    )
    return UnfoldArgs(x, unbatched, windows, counts, policy)


def _fold_args(input, output_size, kernel_size, dilation, padding, stride) -> UnfoldArgs:
    array = real_array(input, "input")
    policy = float_policy(array)
    ndim = infer_ndim(
        output_size=output_size, kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride
    )
    if array.ndim not in (2, 3):
        raise ConvlabError(
            "input must have shape (N, C * prod(kernel_size), L) or (C * prod(kernel_size), L), "
            f"got input of shape {array.shape}"
        )
    cols = policy.cast(array if array.ndim == 3 else array[None])
    size = per_dim(output_size, "output_size", ndim or 2, minimum=1, single=False)
    check_arrays(
        f"fold's result (output_size={describe(output_size)})", policy.accumulate, (*cols.shape[:2], *size)
    )
    windows, counts = _windows(size, kernel_size, dilation, padding, stride)
    rows, length = cols.shape[1:]
    if rows % taps(windows):
        raise ConvlabError(
            f"input.shape[{-2}] must be divisible by prod(kernel_size) = {taps(windows)} "
            f"(C * prod(kernel_size) rows), got input of shape {array.shape}"
        )
    if length != math.prod(counts):
        raise ConvlabError(
            f"input.shape[-1] must be the number of windows {' * '.join(map(str, counts))} = "
            f"{math.prod(counts)} for output_size={size}, got input of shape {array.shape}"
        )
    return UnfoldArgs(cols, array.ndim == 2, windows, counts, policy)


def _full(shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(0, n) for n in shape)


def _windows(spatial, kernel_size, dilation, padding, stride) -> tuple[tuple[Window, ...], tuple[int, ...]]:
    """The windows on an image of size ``spatial`` and their number per dimension."""
    ndim = len(spatial)
    k = per_dim(kernel_size, "kernel_size", ndim, minimum=1)
    s = per_dim(stride, "stride", ndim, minimum=1)
    d = per_dim(dilation, "dilation", ndim, minimum=1)
    pairs = conv_padding(padding, spatial, k, s, d)
    counts = conv_output_size(tuple(spatial), k, s, pairs, d)
    return Window.per_dim(spatial, k, s, d, pairs), tuple(counts)
