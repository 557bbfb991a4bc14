"""``relu`` and inference-mode ``batch_norm``, equal to ``torch.nn.functional``.

PyTorch's CPU kernels are compiled with FMA contraction: batch norm computes
``beta = fma(-mean, alpha, bias)`` and ``out = fma(x, alpha, beta)``. NumPy has
no fused multiply-add. Where NumPy's OpenBLAS has a fused ``?axpy`` (probed
once, :mod:`._fused_axpy`) each channel's rows are ``out = beta`` then one
``axpy``: about one pass over memory. Elsewhere
:func:`convlab.functional._exact_fma.fma` emulates it exactly, for float32 at
about five times the cost.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._args import ConvlabError, describe
from ._arrays import as_float_array, result_dtype
from ._epilogue import relu_into
from ._exact_fma import fma
from ._fused_axpy import channel_fma, fused_axpy
from ._threads import blocks, parallel

__all__ = ["batch_norm", "batch_norm_into", "relu"]

_SERIAL_BELOW = 1 << 20  # elements: below this a hand-off to the pool costs more than the pass
# Elements per channel plane from which the fused axpy pays: it costs a
# Python-level fill and call per plane, which on 32x32 planes (1024 channels)
# made a BatchNorm 2.3x slower than the emulation's blocks (3.5 against 1.5 ms).
_AXPY_FROM = 1 << 14


def relu(input: np.ndarray, inplace: bool = False) -> np.ndarray:
    """``max(input, 0)`` elementwise, as ``torch.nn.functional.relu``; NaN stays NaN.

    Parameters
    ----------
    input : array_like, any shape
        Any real dtype, kept (integers stay integers, as in PyTorch).
    inplace : bool
        Write into ``input`` (which must then be a writeable ndarray).

    Returns
    -------
    numpy.ndarray, the shape and dtype of ``input``

    Examples
    --------
    >>> relu(np.array([-1.5, -0.0, 2.0, np.nan]))
    array([ 0., -0.,  2., nan])
    """
    array = np.asarray(input)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"input must be a real numeric array, got dtype {array.dtype}")
    if not isinstance(inplace, bool):
        raise TypeError(f"inplace must be a bool, got {type(inplace).__name__} {inplace!r}")
    if inplace and (array is not input or not array.flags.writeable):
        raise ConvlabError("inplace=True needs input to be a writeable numpy.ndarray")
    # relu_into: np.maximum with zero first keeps -0.0 as torch's clamp_min
    # does, and NaN propagates (np.fmax would not).
    out = array if inplace else np.empty_like(array)
    if array.size < _SERIAL_BELOW or not (array.flags.c_contiguous and out.flags.c_contiguous):
        relu_into(out, array)
        return out
    flat_in, flat_out = array.reshape(-1), out.reshape(-1)
    # One ufunc runs on one core; cache-sized blocks on the pool use them all.
    parallel(lambda i: relu_into(flat_out[i], flat_in[i]), blocks(flat_in.shape, 1 << 16))
    return out


def batch_norm(
    input: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> np.ndarray:
    """Batch normalisation with running statistics (inference), as ``torch.nn.functional.batch_norm``.

    Parameters
    ----------
    input : array_like, shape ``(N, C, *)``
        Channels on axis 1, any number of trailing dimensions (also none).
    running_mean, running_var, weight, bias : array_like, shape ``(C,)``
        ``weight`` defaults to ones, ``bias`` to zeros.
    training : bool
        Must be False: convlab runs trained networks and never updates
        statistics; batch statistics are refused rather than half-supported.
    momentum : float
        Accepted for signature compatibility; unused at inference.
    eps : float
        Added to the variance.

    Returns
    -------
    numpy.ndarray, shape ``(N, C, *)``, float32 unless an argument is float64

    Notes
    -----
    ``out = x * alpha + beta`` with ``alpha = weight / sqrt(var + eps)`` and
    ``beta = bias - mean * alpha``, per channel, fused as PyTorch's kernel fuses it.

    Examples
    --------
    >>> x = np.array([[1.0, 2.0], [3.0, 6.0]])
    >>> batch_norm(x, np.array([2.0, 4.0]), np.array([1.0, 4.0]), eps=0.0)
    array([[-1., -1.],
           [ 1.,  1.]])
    """
    return batch_norm_into(input, running_mean, running_var, weight, bias, training, eps)


@np.errstate(invalid="ignore", over="ignore", divide="ignore")  # NaN/inf propagate silently, as in torch
def batch_norm_into(
    input: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    training: bool = False,
    eps: float = 1e-5,
    *,
    relu: bool = False,
    inplace: bool = False,
) -> np.ndarray:
    """:func:`batch_norm`, then ``relu`` on each block in cache; ``inplace`` writes into ``input``.

    ``inplace`` is honoured when ``input`` is a writeable C-contiguous array
    of the result's dtype, float32 (float64 too where the fused ``axpy`` of
    :mod:`._fused_axpy` runs); ``nn`` passes it for a convolution's fresh
    output. Otherwise a new array is returned. The values are bit for bit
    those of ``relu(batch_norm(...))``.
    """
    if not isinstance(training, bool) or training:
        raise ConvlabError(f"batch_norm supports inference only (training=False), got training={training!r}")
    x = as_float_array(input, "input")
    if x.ndim < 2:
        raise ConvlabError(f"input must have shape (N, C, *), got input of shape {x.shape}")
    alpha, beta = _affine(x, running_mean, running_var, weight, bias, eps)
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    x = x.astype(alpha.dtype, copy=False)
    into = inplace and x is input and x.flags.writeable and x.flags.c_contiguous
    axpy = fused_axpy(x.dtype) if math.prod(x.shape[2:]) >= _AXPY_FROM else None
    if axpy is not None:
        out = x if into else np.empty(x.shape, x.dtype)
        channel_fma(axpy, np.ascontiguousarray(x), alpha, beta, out, relu=relu)
        return out
    # float32 only: its block kernel reads all of a block before writing it;
    # float64's reads its operands again after the store (the range check).
    out = x if into and x.dtype == np.float32 else None
    return fma(x, alpha.reshape(shape), beta.reshape(shape), out=out, relu=relu)


def _affine(x, running_mean, running_var, weight, bias, eps) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``alpha = weight / sqrt(var + eps)`` and ``beta = fma(-mean, alpha, bias)``."""
    channels = x.shape[1]
    if running_mean is None or running_var is None:
        raise ConvlabError(
            "batch_norm runs in inference mode and needs running_mean and running_var arrays, got "
            f"running_mean={describe(running_mean)}, running_var={describe(running_var)}"
        )
    eps = _eps(eps)
    named = {"running_mean": running_mean, "running_var": running_var, "weight": weight, "bias": bias}
    params = {k: _channel_vector(v, k, channels) for k, v in named.items() if v is not None}
    dtype = result_dtype(x, *params.values())
    p = {k: v.astype(dtype, copy=False) for k, v in params.items()}
    invstd = dtype.type(1) / np.sqrt(p["running_var"] + dtype.type(eps))
    alpha = invstd * p["weight"] if "weight" in p else invstd
    beta = fma(-p["running_mean"], alpha, p.get("bias", np.zeros(channels, dtype)))
    return alpha, beta


def _eps(eps: object) -> float:
    if not isinstance(eps, numbers.Real) or isinstance(eps, bool):
        raise TypeError(f"eps must be a float, got {type(eps).__name__} {describe(eps)}")
    try:
        value = float(eps)
    except OverflowError:
        value = math.inf
    if not (math.isfinite(value) and value >= 0):
        raise ConvlabError(f"eps must be a finite non-negative float, got eps={describe(eps)}")
    return value


def _channel_vector(value: object, name: str, channels: int) -> np.ndarray:
    vector = as_float_array(value, name)
    if vector.shape != (channels,):
        raise ConvlabError(
            f"{name} must have shape ({channels},) for C={channels}, got {name} of shape {vector.shape}"
        )
    return vector
