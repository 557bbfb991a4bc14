"""``interpolate``: nearest and (bi/tri)linear resampling, equal to ``torch.nn.functional``.

The index and weight arithmetic copies ATen's ``UpSample.h`` operation by
operation, in the same precision: that is what makes the results bit-equal.

- The coordinate scale is ``1 / scale_factor`` when a scale factor reaches the
  kernel (``recompute_scale_factor`` not True), else ``in / out``. Indices and
  weights are computed in the input's precision (float64 nearest without a
  scale factor is the exact integer floor).
- ATen's CPU kernels are compiled with FMA contraction, so the source index
  ``scale * (j + 0.5) - 0.5`` and every blend ``a * w0 + b * w1`` are one
  fused multiply-add each (``a * w0`` fused with the rounded ``b * w1``).
- Linear modes are separable and ATen nests the last dimension innermost, so
  blending the last axis first, then the one before, repeats its arithmetic.

Known gaps, measured against torch 2.13 on x86-64 (AVX2):

- Small 2-d and 3-d outputs (``sum(out) <= 128`` resp. ``<= 48``) go to ATen's
  channels-last kernel, which vectorises over channels. Its nearest rule
  (float32 scale, ``floorf``, two shortcuts in 2-d) is reproduced, except in
  about one 3-d case in 8000; its linear blends associate differently (a few
  float32 ulp, depending on the channel count).
- float32 ``'nearest-exact'`` with ``size`` picks the neighbouring pixel in
  under 1% of configurations, for indices landing exactly on a boundary.
- A float32 linear axis of input size 1, and float64 linear blends in
  general, may be an ulp off: the compiler contracts ATen's loops differently
  in vector bodies and scalar tails.

Everywhere else the results are bit-equal; the tests state each tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._args import ConvlabError, as_int, describe, is_sequence
from .._limits import check_memory
from ._arrays import as_float_array
from ._exact_fma import fma

__all__ = ["interpolate"]

_LINEAR_DIMS = {"linear": 1, "bilinear": 2, "trilinear": 3}
_MODES = ("nearest", "nearest-exact", *_LINEAR_DIMS)


@np.errstate(invalid="ignore", over="ignore", divide="ignore")  # NaN/inf propagate silently, as in torch
def interpolate(
    input: np.ndarray,
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> np.ndarray:
    """Resample the spatial dimensions, as ``torch.nn.functional.interpolate``.

    Parameters
    ----------
    input : array_like, shape ``(N, C, *spatial)`` with 1 to 3 spatial dims
        float32 stays float32, float64 stays float64.
    size : int or sequence of int, optional
        Output spatial size. Exactly one of ``size`` and ``scale_factor``.
    scale_factor : float or sequence of float, optional
        Output size ``floor(in * scale_factor)``.
    mode : {'nearest', 'nearest-exact', 'linear', 'bilinear', 'trilinear'}
        ``linear``, ``bilinear`` and ``trilinear`` need 1, 2 and 3 spatial dims.
    align_corners : bool, optional
        Linear modes only (default False): map the corner pixel centres of
        input and output onto each other.
    recompute_scale_factor : bool, optional
        With ``scale_factor``: if True, map coordinates by ``in / out`` of the
        floored output size instead of by ``1 / scale_factor``.
    antialias : bool
        Accepted as False only: torch's anti-aliased down-sampling (bilinear
        and bicubic) is not implemented, and True is refused rather than
        silently computed without it.

    Returns
    -------
    numpy.ndarray, shape ``(N, C, *size)``

    Notes
    -----
    Output ``j`` reads input ``floor(j * scale)`` (``'nearest'``, PyTorch's
    legacy rule) or ``floor((j + 0.5) * scale)`` (``'nearest-exact'``);
    linear modes blend the two inputs around ``scale * (j + 0.5) - 0.5``
    (clamped at 0), or ``j * (in - 1) / (out - 1)`` with ``align_corners``.

    Examples
    --------
    >>> x = np.array([[[1.0, 2.0, 4.0]]])
    >>> interpolate(x, scale_factor=2)
    array([[[1., 1., 2., 2., 4., 4.]]])
    >>> interpolate(x, size=5, mode="linear", align_corners=True)
    array([[[1. , 1.5, 2. , 3. , 4. ]]])
    """
    x = as_float_array(input, "input")
    if not isinstance(mode, str) or mode not in _MODES:
        raise ConvlabError(f"mode must be one of {', '.join(map(repr, _MODES))}, got mode={mode!r}")
    ndim = x.ndim - 2
    if not 1 <= ndim <= 3 or _LINEAR_DIMS.get(mode, ndim) != ndim:
        need = f"{_LINEAR_DIMS[mode] + 2}-d" if mode in _LINEAR_DIMS else "3-d to 5-d"
        raise ConvlabError(f"mode={mode!r} needs {need} input (N, C, *spatial), got input of shape {x.shape}")
    if 0 in x.shape[2:]:
        raise ConvlabError(f"input must have non-empty spatial dimensions, got input of shape {x.shape}")
    align = _align_corners(mode, align_corners)
    if not isinstance(antialias, bool):
        raise TypeError(f"antialias must be a bool, got {type(antialias).__name__} {describe(antialias)}")
    if antialias:
        raise ConvlabError(
            "antialias=True (torch's anti-aliased bilinear/bicubic down-sampling) is not supported; "
            "pass antialias=False"
        )
    out, scales = _output_size(x.shape[2:], size, scale_factor, recompute_scale_factor)
    # The result, one blended intermediate and the int64 index maps, before any of them exists.
    check_memory(
        2 * math.prod((*x.shape[:2], *out)) * x.dtype.itemsize + 16 * sum(out),
        f"interpolate's output of size {out} (size={describe(size)}, scale_factor={describe(scale_factor)})",
    )
    if mode in _LINEAR_DIMS:
        for dim in reversed(range(ndim)):
            x = _blend(x, 2 + dim, out[dim], scales[dim], align)
        return x
    exact = mode == "nearest-exact"
    maps = [_nearest(n, o, s, exact, ndim, out, x.dtype) for n, o, s in zip(x.shape[2:], out, scales)]
    return x[(Ellipsis, *np.ix_(*maps))]


def _align_corners(mode: str, align_corners: object) -> bool:
    if align_corners is None:
        return False
    if not isinstance(align_corners, bool):
        raise TypeError(f"align_corners must be a bool or None, got {type(align_corners).__name__}")
    if mode not in _LINEAR_DIMS:
        raise ConvlabError(
            f"align_corners can only be set with the linear modes, got align_corners={align_corners} "
            f"with mode={mode!r}"
        )
    return align_corners


def _output_size(spatial, size, scale_factor, recompute) -> tuple[tuple[int, ...], tuple[float | None, ...]]:
    """Output sizes and the scale factors the kernel sees (None: use in / out)."""
    ndim = len(spatial)
    if (size is None) == (scale_factor is None):
        raise ConvlabError(
            f"exactly one of size and scale_factor must be given, got size={describe(size)} and "
            f"scale_factor={describe(scale_factor)}"
        )
    if recompute is not None and not isinstance(recompute, bool):
        raise TypeError(f"recompute_scale_factor must be a bool or None, got {type(recompute).__name__}")
    if size is not None:
        if recompute:
            raise ConvlabError("recompute_scale_factor is meaningless with size; pass scale_factor")
        out = tuple(as_int(v, "size", minimum=1) for v in _per_dim(size, "size", ndim))
        return out, (None,) * ndim
    scales = tuple(_positive_float(v) for v in _per_dim(scale_factor, "scale_factor", ndim))
    out = tuple(math.floor(float(n) * s) for n, s in zip(spatial, scales))
    if min(out) < 1:
        raise ConvlabError(
            f"scale_factor gives an empty output: floor({spatial} * {scales}) = {out}, "
            f"got scale_factor={describe(scale_factor)}"
        )
    return out, (None,) * ndim if recompute else scales


def _per_dim(value: object, name: str, ndim: int) -> tuple:
    if not is_sequence(value):
        return (value,) * ndim
    items = tuple(value)  # type: ignore[arg-type]
    if len(items) != ndim:
        raise ConvlabError(
            f"{name} must have one value per spatial dimension ({ndim}), got {name}={describe(value)}"
        )
    return items


def _positive_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"scale_factor must be a float or floats, got {type(value).__name__} {value!r}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not (math.isfinite(number) and number > 0):
        raise ConvlabError(f"scale_factor must be positive and finite, got scale_factor={describe(value)}")
    return number


def _nearest(n, out, scale, exact, ndim, sizes, dtype) -> np.ndarray:
    """Source index of every output position along one axis (ATen's nearest rules)."""
    j = np.arange(out, dtype=np.int64)
    if _vectorised_kernel(ndim, sizes):
        return _nearest_float32(n, out, scale, exact, shortcuts=ndim == 2)
    half = 0.5 if exact else 0.0
    if dtype == np.float32:
        # The generic kernel maps in the input's precision: a float32 scale
        # times a float32 index.
        ratio = np.float32(1.0 / scale) if scale is not None else np.float32(n) / np.float32(out)
        src = np.floor((j.astype(np.float32) + np.float32(half)) * ratio).astype(np.int64)
    elif scale is None:
        # float64 without a scale factor: the exact floor((j + half) * n / out).
        src = ((2 * j + (1 if exact else 0)) * n) // (2 * out)
    else:
        src = np.floor((j + half) * (1.0 / scale)).astype(np.int64)
    return np.minimum(src, n - 1)


def _nearest_float32(n: int, out: int, scale: float | None, exact: bool, shortcuts: bool) -> np.ndarray:
    """ATen's nearest_idx / nearest_exact_idx: a float32 scale and floorf (2-d: two shortcuts)."""
    j = np.arange(out, dtype=np.int64)
    if shortcuts and not exact and out == n:
        return j
    if shortcuts and not exact and out == 2 * n:
        return j >> 1
    ratio = np.float32(1.0 / scale) if scale is not None else np.float32(n) / np.float32(out)
    if exact:
        # (j + 0.5) * scale is a double product, narrowed to float by floorf.
        src = np.floor(((j + 0.5) * np.float64(ratio)).astype(np.float32))
    else:
        src = np.floor(j.astype(np.float32) * ratio)
    return np.minimum(src.astype(np.int64), n - 1)


def _vectorised_kernel(ndim: int, out: tuple[int, ...]) -> bool:
    """Whether ATen takes its channels-last kernel (_use_vectorized_kernel_cond) for NCHW input.

    It does for small outputs, out_H + out_W <= 128 (2-d) or out_D + out_H +
    out_W <= 48 (3-d), and computes indices and blends differently there.
    """
    return (ndim == 2 and sum(out) <= 128) or (ndim == 3 and sum(out) <= 48)


def _blend(x: np.ndarray, axis: int, out: int, scale: float | None, align: bool) -> np.ndarray:
    """Linear interpolation along one axis with ATen's indices, weights and fused blend."""
    n, t = x.shape[axis], x.dtype.type
    j = np.arange(out)
    if n == out:
        lo, hi, w_lo, w_hi = j, j, np.ones(out, x.dtype), np.zeros(out, x.dtype)
    else:
        if align:
            ratio = t(n - 1) / t(out - 1) if out > 1 else t(0)
            src = ratio * j.astype(x.dtype)
        else:
            ratio = t(1.0 / scale) if scale is not None else t(n) / t(out)
            src = fma(np.full(out, ratio), j.astype(x.dtype) + t(0.5), np.full(out, t(-0.5)))
            src = np.maximum(src, t(0))
        lo = np.minimum(np.floor(src).astype(np.int64), n - 1)
        w_hi = np.clip(src - lo.astype(x.dtype), t(0), t(1))
        w_lo = t(1) - w_hi
        hi = lo + (lo < n - 1)
    shape = [1] * x.ndim
    shape[axis] = out
    a, b = np.take(x, lo, axis=axis), np.take(x, hi, axis=axis)
    return fma(a, w_lo.reshape(shape), b * w_hi.reshape(shape))
