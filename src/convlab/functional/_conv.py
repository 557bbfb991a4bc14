"""Convolution, N-d: canonical arguments, then the strategy the table picks.

``conv1d``, ``conv2d`` and ``conv3d`` are thin wrappers of :func:`conv_nd`;
how a convolution is lowered (1x1 direct, per-tap GEMMs at stride 1, im2col
chunks, and whatever rows are added) is :mod:`._strategies`' business.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ._algorithm import resolve_algorithm
from ._conv_args import conv_args
from ._epilogue import Epilogue, relu_into
from ._im2col import reshape_view
from ._strategies import choose

__all__ = ["IntArg", "PaddingArg", "conv1d", "conv2d", "conv3d", "conv_nd", "reshape_view"]

IntArg = int | Sequence[int]
PaddingArg = int | str | Sequence[int | Sequence[int]]


def conv_nd(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None,
    stride: object,
    padding: object,
    dilation: object,
    groups: object,
    padding_mode: object,
    ndim: int,
    algorithm: object = None,
    relu: bool = False,
) -> np.ndarray:
    """The convolution of ``ndim`` spatial dimensions behind ``conv1d/2d/3d``.

    ``relu=True`` returns ``relu(conv(...))`` (what ``nn`` runs for a
    convolution followed by a ReLU), applied with the bias to each block of
    the output as the strategy stores it when the strategy can
    (``run_fused``): bit for bit the same values, two passes over the output fewer.
    """
    args = conv_args(input, weight, bias, stride, padding, dilation, groups, padding_mode, ndim)
    row = choose(args, resolve_algorithm(algorithm))
    epilogue = Epilogue(args.b, relu)
    if row.run_fused is not None and args.policy.output == args.policy.accumulate:
        out = row.run_fused(args, epilogue)
    else:
        out = row.run(args)
        if args.b is not None:
            out += args.b.reshape(-1, *(1,) * ndim)
        out = args.policy.finish(out)
        if relu:
            relu_into(out)
    return out[0] if args.unbatched else out


def conv1d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: PaddingArg = 0,
    dilation: IntArg = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    *,
    algorithm: str | None = None,
) -> np.ndarray:
    """1-D convolution (cross-correlation), as ``torch.nn.functional.conv1d``.

    Parameters
    ----------
    input : array_like, shape ``(N, C_in, L)`` or ``(C_in, L)``
        Float32 stays float32, float64 stays float64; integers become float64
        (the call's numeric policy, see :mod:`convlab.functional._policy`).
    weight : array_like, shape ``(C_out, C_in/groups, k)``
    bias : array_like, shape ``(C_out,)``, optional
    stride, dilation : int or tuple of 1 ints
    padding : int, tuple, ``'valid'`` or ``'same'``
        One int for all sides, one int per dimension, one ``(lo, hi)`` pair per
        dimension, or ``'same'``: output size ``ceil(size / stride)`` for any
        stride, the odd padding pixel at the end (SAME_UPPER). PyTorch accepts
        ``'same'`` at stride 1 only, where the two agree.
    groups : int
        ``C_in`` and ``C_out`` split into ``groups`` independent convolutions.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}
        As ``torch.nn.Conv1d``: the input is padded with this mode first.
    algorithm : str, optional
        The lowering: ``'gemm'`` (exact) or ``'winograd'`` (where it applies
        and pays, see :func:`convlab.functional.algorithm`). ``None`` takes
        the one set by :func:`convlab.functional.algorithm` (``'gemm'`` by
        default).

    Returns
    -------
    numpy.ndarray, shape ``(N, C_out, L_out)`` (``(C_out, L_out)`` if unbatched)

    Notes
    -----
    ``out = floor((size + lo + hi - dilation*(k - 1) - 1) / stride) + 1`` per
    dimension (:func:`convlab.shapes.conv_output_size`). Computed by the first
    strategy of the table (:mod:`convlab.functional._strategies`) that applies:
    a 1x1 kernel as one GEMM per chunk on the input itself; at stride 1 (from
    16 input channels per group) one GEMM per kernel tap on shifted views of the
    (zero-padded) image, accumulated in a chunk of outputs; otherwise im2col in
    chunks of output positions, each one GEMM. Chunks run on a small thread pool,
    each on a single-threaded BLAS. Chunks and the padded copy are bounded by
    :func:`convlab.functional.set_workspace_limit`; the padded input and the
    output are checked first against :func:`convlab.memory_limit`.

    Examples
    --------
    >>> conv1d(np.array([[[1.0, 2.0, 3.0, 4.0]]]), np.array([[[1.0, -1.0]]]))
    array([[[-1., -1., -1.]]])
    >>> conv1d(np.ones((1, 1, 5)), np.ones((1, 1, 3)), padding="same", stride=2).shape
    (1, 1, 3)
    """
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, padding_mode, 1, algorithm)


def conv2d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: PaddingArg = 0,
    dilation: IntArg = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    *,
    algorithm: str | None = None,
) -> np.ndarray:
    """2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    input : array_like, shape ``(N, C_in, H, W)`` or ``(C_in, H, W)``
        Float32 stays float32, float64 stays float64; integers become float64
        (the call's numeric policy, see :mod:`convlab.functional._policy`).
    weight : array_like, shape ``(C_out, C_in/groups, kH, kW)``
    bias : array_like, shape ``(C_out,)``, optional
    stride, dilation : int or tuple of 2 ints
    padding : int, tuple, ``'valid'`` or ``'same'``
        One int for all sides, one int per dimension, one ``(lo, hi)`` pair per
        dimension, or ``'same'``: output size ``ceil(size / stride)`` for any
        stride, the odd padding pixel at the end (SAME_UPPER). PyTorch accepts
        ``'same'`` at stride 1 only, where the two agree.
    groups : int
        ``C_in`` and ``C_out`` split into ``groups`` independent convolutions.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}
        As ``torch.nn.Conv2d``: the input is padded with this mode first.
    algorithm : str, optional
        The lowering: ``'gemm'`` (exact) or ``'winograd'`` (where it applies
        and pays, see :func:`convlab.functional.algorithm`). ``None`` takes
        the one set by :func:`convlab.functional.algorithm` (``'gemm'`` by
        default).

    Returns
    -------
    numpy.ndarray, shape ``(N, C_out, H_out, W_out)`` (``(C_out, H_out, W_out)`` if unbatched)

    Notes
    -----
    ``out = floor((size + lo + hi - dilation*(k - 1) - 1) / stride) + 1`` per
    dimension (:func:`convlab.shapes.conv_output_size`). Computed by the first
    strategy of the table (:mod:`convlab.functional._strategies`) that applies:
    a 1x1 kernel as one GEMM per chunk on the input itself; at stride 1 (from
    16 input channels per group) one GEMM per kernel tap on shifted views of the
    (zero-padded) image, accumulated in a chunk of outputs; otherwise im2col in
    chunks of output positions, each one GEMM. Chunks run on a small thread pool,
    each on a single-threaded BLAS. Chunks and the padded copy are bounded by
    :func:`convlab.functional.set_workspace_limit`; the padded input and the
    output are checked first against :func:`convlab.memory_limit`.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv2d(x, np.ones((1, 1, 2, 2)), stride=2)
    array([[[[10., 18.],
             [42., 50.]]]])
    >>> conv2d(np.ones((3, 8, 8)), np.ones((4, 3, 3, 3)), padding=1).shape
    (4, 8, 8)
    """
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, padding_mode, 2, algorithm)


def conv3d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: PaddingArg = 0,
    dilation: IntArg = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    *,
    algorithm: str | None = None,
) -> np.ndarray:
    """3-D convolution (cross-correlation), as ``torch.nn.functional.conv3d``.

    Parameters
    ----------
    input : array_like, shape ``(N, C_in, D, H, W)`` or ``(C_in, D, H, W)``
        Float32 stays float32, float64 stays float64; integers become float64
        (the call's numeric policy, see :mod:`convlab.functional._policy`).
    weight : array_like, shape ``(C_out, C_in/groups, kD, kH, kW)``
    bias : array_like, shape ``(C_out,)``, optional
    stride, dilation : int or tuple of 3 ints
    padding : int, tuple, ``'valid'`` or ``'same'``
        One int for all sides, one int per dimension, one ``(lo, hi)`` pair per
        dimension, or ``'same'``: output size ``ceil(size / stride)`` for any
        stride, the odd padding pixel at the end (SAME_UPPER). PyTorch accepts
        ``'same'`` at stride 1 only, where the two agree.
    groups : int
        ``C_in`` and ``C_out`` split into ``groups`` independent convolutions.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}
        As ``torch.nn.Conv3d``: the input is padded with this mode first.
    algorithm : str, optional
        The lowering: ``'gemm'`` (exact) or ``'winograd'`` (where it applies
        and pays, see :func:`convlab.functional.algorithm`). ``None`` takes
        the one set by :func:`convlab.functional.algorithm` (``'gemm'`` by
        default).

    Returns
    -------
    numpy.ndarray, shape ``(N, C_out, D_out, H_out, W_out)`` (``(C_out, D_out, H_out, W_out)`` if unbatched)

    Notes
    -----
    ``out = floor((size + lo + hi - dilation*(k - 1) - 1) / stride) + 1`` per
    dimension (:func:`convlab.shapes.conv_output_size`). Computed by the first
    strategy of the table (:mod:`convlab.functional._strategies`) that applies:
    a 1x1 kernel as one GEMM per chunk on the input itself; at stride 1 (from
    16 input channels per group) one GEMM per kernel tap on shifted views of the
    (zero-padded) image, accumulated in a chunk of outputs; otherwise im2col in
    chunks of output positions, each one GEMM. Chunks run on a small thread pool,
    each on a single-threaded BLAS. Chunks and the padded copy are bounded by
    :func:`convlab.functional.set_workspace_limit`; the padded input and the
    output are checked first against :func:`convlab.memory_limit`.

    Examples
    --------
    >>> conv3d(np.ones((1, 2, 4, 4, 4)), np.ones((1, 2, 3, 3, 3))).ravel()
    array([54., 54., 54., 54., 54., 54., 54., 54.])
    """
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, padding_mode, 3, algorithm)
