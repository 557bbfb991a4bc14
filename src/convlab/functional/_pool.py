"""Max and average pooling, 1 to 3 spatial dimensions, equal to ``torch.nn.functional``.

The public functions and their documentation; the work happens in
:mod:`._pool_kernels`, one machinery for every dimension and both reductions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._pool_kernels import _avg_pool_nd, _max_pool_nd

__all__ = ["avg_pool1d", "avg_pool2d", "avg_pool3d", "max_pool1d", "max_pool2d", "max_pool3d"]

IntOrTuple = int | Sequence[int]


def max_pool1d(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """1-d max pooling over ``W``, as ``torch.nn.functional.max_pool1d``.

    Parameters
    ----------
    input : array_like, shape ``(N, C, W)`` or ``(C, W)``
        float32 stays float32, float64 stays float64, integers become float64.
    kernel_size, stride, dilation : int or tuple of 1 ints
        ``stride`` defaults to ``kernel_size``.
    padding : int, tuple of 1 ints or of 1 ``(lo, hi)`` pairs
        Implicit ``-inf`` on both sides; at most ``kernel_size // 2``.
        PyTorch takes symmetric padding only; ``(lo, hi)`` pairs generalise it.
    ceil_mode : bool
        Round the output size up: a last window may overhang the end.
    return_indices : bool
        Also return, per output, where its maximum is: an int64 index into the
        flattened ``W`` plane of the same ``(n, c)``, as PyTorch.

    Returns
    -------
    numpy.ndarray, shape ``(N, C, W_out)`` (or ``(C, W_out)``), and the int64
    indices of the same shape when ``return_indices``.

    Notes
    -----
    Output size from :func:`convlab.shapes.pool_output_size`:
    ``floor_or_ceil((size + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``.
    NaN propagates: a window holding a NaN yields NaN and the index of its
    last NaN; among equal maxima the first in row-major order wins (ATen's
    ``val > max || isnan(val)``). Cost: without indices, per axis one
    contiguous ``np.maximum`` per extra tap over blocks of channels spread
    over the cores, then one strided gather (a 2x2 pool: two passes and a
    gather), with a block-sized scratch vector per thread for each pooled
    axis after the first; with indices, one pass per kernel tap over a
    padded copy of ``input``.

    Examples
    --------
    >>> max_pool1d(np.array([[[1.0, 3.0, 2.0, 5.0, 4.0]]]), 2, return_indices=True)
    (array([[[3., 5.]]]), array([[[1, 3]]]))
    """
    return _max_pool_nd(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """2-d max pooling over ``H, W``, as ``torch.nn.functional.max_pool2d``.

    Parameters
    ----------
    input : array_like, shape ``(N, C, H, W)`` or ``(C, H, W)``
        float32 stays float32, float64 stays float64, integers become float64.
    kernel_size, stride, dilation : int or tuple of 2 ints
        ``stride`` defaults to ``kernel_size``.
    padding : int, tuple of 2 ints or of 2 ``(lo, hi)`` pairs
        Implicit ``-inf`` on both sides; at most ``kernel_size // 2``.
        PyTorch takes symmetric padding only; ``(lo, hi)`` pairs generalise it.
    ceil_mode : bool
        Round the output size up: a last window may overhang the end.
    return_indices : bool
        Also return, per output, where its maximum is: an int64 index into the
        flattened ``H, W`` plane of the same ``(n, c)``, as PyTorch.

    Returns
    -------
    numpy.ndarray, shape ``(N, C, H_out, W_out)`` (or ``(C, H_out, W_out)``), and the int64
    indices of the same shape when ``return_indices``.

    Notes
    -----
    Output size from :func:`convlab.shapes.pool_output_size`:
    ``floor_or_ceil((size + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``.
    NaN propagates: a window holding a NaN yields NaN and the index of its
    last NaN; among equal maxima the first in row-major order wins (ATen's
    ``val > max || isnan(val)``). Cost: without indices, per axis one
    contiguous ``np.maximum`` per extra tap over blocks of channels spread
    over the cores, then one strided gather (a 2x2 pool: two passes and a
    gather), with a block-sized scratch vector per thread for each pooled
    axis after the first; with indices, one pass per kernel tap over a
    padded copy of ``input``.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> max_pool2d(x, 2)
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    >>> max_pool2d(x, 3, stride=2, ceil_mode=True)[0, 0]
    array([[10., 11.],
           [14., 15.]])
    """
    return _max_pool_nd(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """3-d max pooling over ``D, H, W``, as ``torch.nn.functional.max_pool3d``.

    Parameters
    ----------
    input : array_like, shape ``(N, C, D, H, W)`` or ``(C, D, H, W)``
        float32 stays float32, float64 stays float64, integers become float64.
    kernel_size, stride, dilation : int or tuple of 3 ints
        ``stride`` defaults to ``kernel_size``.
    padding : int, tuple of 3 ints or of 3 ``(lo, hi)`` pairs
        Implicit ``-inf`` on both sides; at most ``kernel_size // 2``.
        PyTorch takes symmetric padding only; ``(lo, hi)`` pairs generalise it.
    ceil_mode : bool
        Round the output size up: a last window may overhang the end.
    return_indices : bool
        Also return, per output, where its maximum is: an int64 index into the
        flattened ``D, H, W`` plane of the same ``(n, c)``, as PyTorch.

    Returns
    -------
    numpy.ndarray, shape ``(N, C, D_out, H_out, W_out)`` (or ``(C, D_out, H_out, W_out)``), and the int64
    indices of the same shape when ``return_indices``.

    Notes
    -----
    Output size from :func:`convlab.shapes.pool_output_size`:
    ``floor_or_ceil((size + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``.
    NaN propagates: a window holding a NaN yields NaN and the index of its
    last NaN; among equal maxima the first in row-major order wins (ATen's
    ``val > max || isnan(val)``). Cost: without indices, per axis one
    contiguous ``np.maximum`` per extra tap over blocks of channels spread
    over the cores, then one strided gather (a 2x2 pool: two passes and a
    gather), with a block-sized scratch vector per thread for each pooled
    axis after the first; with indices, one pass per kernel tap over a
    padded copy of ``input``.

    Examples
    --------
    >>> max_pool3d(np.arange(8.0).reshape(1, 1, 2, 2, 2), 2, return_indices=True)[1]
    array([[[[[7]]]]])
    """
    return _max_pool_nd(3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def avg_pool1d(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> np.ndarray:
    """1-d average pooling over ``W``, as ``torch.nn.functional.avg_pool1d``.

    Parameters
    ----------
    input : array_like, shape ``(N, C, W)`` or ``(C, W)``
        float32 stays float32, float64 stays float64, integers become float64.
    kernel_size, stride : int or tuple of 1 ints
        ``stride`` defaults to ``kernel_size``.
    padding : int, tuple of 1 ints or of 1 ``(lo, hi)`` pairs
        Implicit zeros; at most half the kernel. Pairs generalise PyTorch.
    ceil_mode : bool
        Round the output size up: a last window may overhang the end.
    count_include_pad : bool
        Whether the divisor counts the zero padding.

    Returns
    -------
    numpy.ndarray, shape ``(N, C, W_out)`` (or ``(C, W_out)``)

    Notes
    -----
    Output size from :func:`convlab.shapes.pool_output_size` (dilation 1).
    The divisor follows ATen's kernel: per dimension the window
    ``[start, start + kernel_size)`` is clipped to ``size + padding`` and
    measured (``count_include_pad``), then clipped to the input and measured
    again (otherwise); the divisor is the product. So a ``ceil_mode`` window
    overhanging beyond the padding does not count the overhang. The sum runs
    over the taps in row-major order in the input's precision, as ATen's.

    Examples
    --------
    >>> avg_pool1d(np.array([[[1.0, 2.0, 3.0, 4.0, 5.0]]]), 2, padding=1)
    array([[[0.5, 2.5, 4.5]]])
    """
    return _avg_pool_nd(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """2-d average pooling over ``H, W``, as ``torch.nn.functional.avg_pool2d``.

    Parameters
    ----------
    input : array_like, shape ``(N, C, H, W)`` or ``(C, H, W)``
        float32 stays float32, float64 stays float64, integers become float64.
    kernel_size, stride : int or tuple of 2 ints
        ``stride`` defaults to ``kernel_size``.
    padding : int, tuple of 2 ints or of 2 ``(lo, hi)`` pairs
        Implicit zeros; at most half the kernel. Pairs generalise PyTorch.
    ceil_mode : bool
        Round the output size up: a last window may overhang the end.
    count_include_pad : bool
        Whether the divisor counts the zero padding.
    divisor_override : int, optional
        Divide by this instead of the window count.

    Returns
    -------
    numpy.ndarray, shape ``(N, C, H_out, W_out)`` (or ``(C, H_out, W_out)``)

    Notes
    -----
    Output size from :func:`convlab.shapes.pool_output_size` (dilation 1).
    The divisor follows ATen's kernel: per dimension the window
    ``[start, start + kernel_size)`` is clipped to ``size + padding`` and
    measured (``count_include_pad``), then clipped to the input and measured
    again (otherwise); the divisor is the product. So a ``ceil_mode`` window
    overhanging beyond the padding does not count the overhang. The sum runs
    over the taps in row-major order in the input's precision, as ATen's.

    Examples
    --------
    >>> x = np.ones((1, 1, 3, 3))
    >>> avg_pool2d(x, 2, padding=1)[0, 0]
    array([[0.25, 0.5 ],
           [0.5 , 1.  ]])
    >>> avg_pool2d(x, 2, padding=1, count_include_pad=False)[0, 0]
    array([[1., 1.],
           [1., 1.]])
    """
    return _avg_pool_nd(
        2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    )


def avg_pool3d(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """3-d average pooling over ``D, H, W``, as ``torch.nn.functional.avg_pool3d``.

    Parameters
    ----------
    input : array_like, shape ``(N, C, D, H, W)`` or ``(C, D, H, W)``
        float32 stays float32, float64 stays float64, integers become float64.
    kernel_size, stride : int or tuple of 3 ints
        ``stride`` defaults to ``kernel_size``.
    padding : int, tuple of 3 ints or of 3 ``(lo, hi)`` pairs
        Implicit zeros; at most half the kernel. Pairs generalise PyTorch.
    ceil_mode : bool
        Round the output size up: a last window may overhang the end.
    count_include_pad : bool
        Whether the divisor counts the zero padding.
    divisor_override : int, optional
        Divide by this instead of the window count.

    Returns
    -------
    numpy.ndarray, shape ``(N, C, D_out, H_out, W_out)`` (or ``(C, D_out, H_out, W_out)``)

    Notes
    -----
    Output size from :func:`convlab.shapes.pool_output_size` (dilation 1).
    The divisor follows ATen's kernel: per dimension the window
    ``[start, start + kernel_size)`` is clipped to ``size + padding`` and
    measured (``count_include_pad``), then clipped to the input and measured
    again (otherwise); the divisor is the product. So a ``ceil_mode`` window
    overhanging beyond the padding does not count the overhang. The sum runs
    over the taps in row-major order in the input's precision, as ATen's.

    Examples
    --------
    >>> avg_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 2, divisor_override=2)
    array([[[[14.]]]])
    """
    return _avg_pool_nd(
        3, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    )
