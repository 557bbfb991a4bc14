"""Fixed-point convolution and transposed convolution: HLS's ``acc = bias; acc += x * w; out = acc``.

Codes in, codes out: ``x`` holds codes of ``x_format``, ``weight`` codes of
``w_format``; a product of codes has ``x.frac_bits + w.frac_bits`` fractional
bits. The accumulator is either full precision (the exact integer sum, no
format) or an ``ap_fixed`` that receives the bias and every product and
wraps or saturates after each addition, in the order documented in
:mod:`._fixed_sequential`. The output format then rounds and overflows once.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
from numpy.typing import ArrayLike

from .. import functional as F
from .._args import ConvlabError
from ..lowering import zero_insertion_parts
from ._fixed import FixedPoint
from ._fixed_accumulate import exact_sum
from ._fixed_round import fit_code, wrap_code
from ._fixed_sequential import sequential_conv

__all__ = ["fixed_conv", "fixed_conv_transpose"]

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
# Full-precision sums and sequential accumulators stay below this, so int64 never overflows.
_ACC_LIMIT = 2**62


def check_codes(codes: ArrayLike, fmt: object, name: str, format_name: str) -> np.ndarray:
    """``codes`` as int64 after checking they are integer codes of ``fmt`` (a FixedPoint)."""
    if not isinstance(fmt, FixedPoint):
        raise TypeError(f"{format_name} must be a FixedPoint, got {type(fmt).__name__}")
    q = np.asarray(codes)
    if q.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer codes (FixedPoint.quantize), got dtype {q.dtype}")
    if not fmt.represents(q):
        raise ConvlabError(
            f"{name} must be codes of {format_name}={fmt} in [{fmt.code_min}, {fmt.code_max}], "
            f"got codes in [{q.min()}, {q.max()}]"
        )
    return q.astype(np.int64)


def fixed_conv(
    x: ArrayLike,
    x_format: FixedPoint,
    weight: ArrayLike,
    w_format: FixedPoint,
    bias: ArrayLike | None = None,
    bias_format: FixedPoint | None = None,
    *,
    out_format: FixedPoint,
    acc_format: FixedPoint | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
    return_route: bool = False,
):
    """Fixed-point convolution of codes, bit-exact to an HLS loop, for 1-3 spatial dimensions.

    Parameters
    ----------
    x : array_like of int, shape ``(N, C_in, *spatial)``
        Codes of ``x_format``.
    weight : array_like of int, shape ``(C_out, C_in/groups, *k)``
        Codes of ``w_format``; the rank sets the number of spatial dimensions.
    bias : array_like of int, shape ``(C_out,)``, optional
        Codes of ``bias_format`` (required with a bias).
    out_format : FixedPoint
        The result's format: it rounds and overflows the accumulator once.
    acc_format : FixedPoint, optional
        None: full precision, the exact sum. Otherwise every product and the
        bias are converted into it and it wraps or saturates after each
        addition (bias first, then ``C_in`` then taps in C order).
    stride, padding, dilation, groups
        As :func:`convlab.functional.conv2d` (zero padding: code 0).
    return_route : bool
        Also return ``'float64'``, ``'int64'`` (see :func:`accumulation_route`)
        or ``'sequential'`` (one product at a time, when the accumulator's
        rounding or overflow can act).

    Returns
    -------
    numpy.ndarray of int64, shape ``(N, C_out, *out)``
        Codes of ``out_format`` (and the route if asked).

    Examples
    --------
    >>> q = FixedPoint(8, 4, rounding="rnd_conv", overflow="sat")
    >>> x, w = q.quantize([[[1.0, 2.0, 3.0]]]), q.quantize([[[0.5, 0.25]]])
    >>> q.to_float(fixed_conv(x, q, w, q, out_format=q))
    array([[[1.  , 1.75]]])
    """
    x, w, b, ndim = _arrays(x, x_format, weight, w_format, bias, bias_format)
    geometry = {"stride": stride, "padding": padding, "dilation": dilation}
    gemm = partial(_CONV[ndim], groups=groups, algorithm="gemm", **geometry)
    out_shape = _validate(gemm, x, w)

    def sequential(acc_fmt, bias_acc, shift):
        window = {"kernel": w.shape[2:], "dilation": dilation, "padding": padding, "stride": stride}
        flat = sequential_conv(x, w, bias_acc, shift, acc_fmt, window, groups)
        return flat.reshape(x.shape[0], w.shape[0], *out_shape)

    args = (x, w, b, x_format, w_format, bias_format, acc_format, out_format)
    return _accumulate(gemm, sequential, w[0].size, *args, return_route)


def fixed_conv_transpose(
    x: ArrayLike,
    x_format: FixedPoint,
    weight: ArrayLike,
    w_format: FixedPoint,
    bias: ArrayLike | None = None,
    bias_format: FixedPoint | None = None,
    *,
    out_format: FixedPoint,
    acc_format: FixedPoint | None = None,
    stride=1,
    padding=0,
    output_padding=0,
    groups: int = 1,
    dilation=1,
    return_route: bool = False,
):
    """Fixed-point transposed convolution of codes (a U-Net's up-convolution), 1-3 spatial dimensions.

    As :func:`fixed_conv`, with ``weight`` ``(C_in, C_out/groups, *k)`` and the
    arguments of :func:`convlab.functional.conv_transpose2d`. A saturating or
    rounding accumulator sums in the order of the equivalent direct
    convolution (zero insertion, flipped kernel: :func:`convlab.lowering.zero_insertion_parts`);
    inserted zeros add nothing, so only the real products count.

    Examples
    --------
    >>> q = FixedPoint(8, 4)
    >>> x, w = q.quantize([[[1.0, 2.0]]]), q.quantize([[[0.5, 0.25]]])
    >>> q.to_float(fixed_conv_transpose(x, q, w, q, out_format=q, stride=2))
    array([[[0.5 , 0.25, 1.  , 0.5 ]]])
    """
    x, w, b, ndim = _arrays(x, x_format, weight, w_format, bias, bias_format)
    geometry = {"stride": stride, "padding": padding, "output_padding": output_padding, "dilation": dilation}
    gemm = partial(_CONV_T[ndim], groups=groups, **geometry)
    out_shape = _validate(gemm, x, w)

    def sequential(acc_fmt, bias_acc, shift):
        # Zero insertion of indices (not values) keeps any code width exact.
        index = np.arange(1, math.prod(x.shape[1:]) + 1, dtype=np.float64).reshape(x.shape[1:])
        windex = np.arange(1, w.size + 1, dtype=np.float64).reshape(w.shape)
        parts = zero_insertion_parts(index[None], windex, None, groups=groups, **geometry)
        rows = x.reshape(x.shape[0], math.prod(x.shape[1:]))
        stuffed = np.concatenate([np.zeros((x.shape[0], 1), np.int64), rows], axis=1)
        xs = stuffed[:, parts.input.astype(np.int64)[0]]
        ws = w.ravel()[parts.weight.astype(np.int64) - 1]
        window = {"kernel": ws.shape[2:], "dilation": dilation, "padding": 0, "stride": 1}
        flat = sequential_conv(xs, ws, bias_acc, shift, acc_fmt, window, groups)
        return flat.reshape(x.shape[0], ws.shape[0], *out_shape)

    terms = w.shape[0] // groups * math.prod(w.shape[2:])
    args = (x, w, b, x_format, w_format, bias_format, acc_format, out_format)
    return _accumulate(gemm, sequential, terms, *args, return_route)


def _validate(gemm, x: np.ndarray, w: np.ndarray) -> tuple[int, ...]:
    """The output's spatial shape; channels, groups and sizes checked by functional on an empty batch."""
    return gemm(np.zeros((0, *x.shape[1:])), np.zeros(w.shape)).shape[2:]


def _arrays(x, x_format, weight, w_format, bias, bias_format):
    x = check_codes(x, x_format, "x", "x_format")
    w = check_codes(weight, w_format, "weight", "w_format")
    if not 3 <= w.ndim <= 5:
        raise ConvlabError(
            f"weight must have shape (C_out, C_in/groups, *k) with 1-3 kernel dims, got {w.shape}"
        )
    if x.ndim != w.ndim:
        raise ConvlabError(
            f"x must have shape (N, C, *spatial) with {w.ndim - 2} spatial dims, got {x.shape}"
        )
    if (bias is None) != (bias_format is None):
        raise ConvlabError("bias and bias_format go together: give both or neither")
    b = None if bias is None else check_codes(bias, bias_format, "bias", "bias_format")
    if x.size and w.size and int(np.abs(x).max()) * int(np.abs(w).max()) > _ACC_LIMIT:
        raise ConvlabError("a product of x and weight codes exceeds 2**62; use narrower formats")
    return x, w, b, w.ndim - 2


def _accumulate(gemm, sequential, terms, x, w, b, fx, fw, fb, fa, fo, return_route):
    """The accumulator codes (full precision or ``fa``) converted to ``fo``; see :func:`fixed_conv`."""
    frac = fx.frac_bits + fw.frac_bits
    if fa is None:
        acc, frac, route = _full_precision(gemm, terms, x, w, b, frac, fb)
    else:
        acc, route = _in_format(gemm, sequential, terms, x, w, b, frac, fb, fa)
        frac = fa.frac_bits
    out = fit_code(acc, fo.frac_bits - frac, fo)
    return (out, route) if return_route else out


def _bias_view(b: np.ndarray, ndim: int) -> np.ndarray:
    return b.reshape(-1, *(1,) * ndim)


def _full_precision(gemm, terms, x, w, b, frac, fb):
    """The exact sum with ``max(product, bias)`` fractional bits; refused when int64 cannot hold it."""
    acc_frac = frac if b is None else max(frac, fb.frac_bits)
    x_max, w_max = int(np.abs(x).max(initial=0)), int(np.abs(w).max(initial=0))
    bound = terms * x_max * w_max * 2 ** (acc_frac - frac)
    if b is not None:
        bound += int(np.abs(b).max(initial=0)) * 2 ** (acc_frac - fb.frac_bits)
    if bound > _ACC_LIMIT:
        raise ConvlabError(
            f"the full-precision accumulator needs {bound.bit_length() + 1} bits, more than int64 codes "
            "hold; give acc_format (an ap_fixed of at most 63 bits that wraps or saturates)"
        )
    acc, route = exact_sum(gemm, x, w, terms)
    acc = acc << np.int64(acc_frac - frac)
    if b is not None:
        acc += _bias_view(b << np.int64(acc_frac - fb.frac_bits), acc.ndim - 2)
    return acc, acc_frac, route


def _in_format(gemm, sequential, terms, x, w, b, frac, fb, fa):
    """Accumulate in ``fa``: one exact GEMM where no rounding or saturation acts, else product by product."""
    shift = fa.frac_bits - frac
    bias_acc = None if b is None else fa.convert(b, fb)
    x_max, w_max = int(np.abs(x).max(initial=0)), int(np.abs(w).max(initial=0))
    product_max = x_max * w_max * 2 ** max(shift, 0)
    exact_products = shift >= 0 and fa.signed and product_max <= fa.code_max
    modular = fa.overflow == "wrap" and fa.saturation_bits == 0
    bias_max = 0 if b is None else int(np.abs(bias_acc).max(initial=0))
    never_overflows = bias_max + terms * product_max <= fa.code_max
    if exact_products and (modular or never_overflows):
        # Wrapping is arithmetic modulo 2**W: the order of the additions cannot matter.
        acc, route = exact_sum(gemm, x, w, terms)
        acc = wrap_code(acc, shift) if shift < 64 else np.zeros_like(acc)
        if bias_acc is not None:
            acc = acc + _bias_view(bias_acc, acc.ndim - 2)
        return wrap_code(acc, 0, fa), route
    if fa.word_bits > 62:
        raise ConvlabError(f"acc_format must have at most 62 bits when it rounds or saturates, got {fa}")
    return sequential(fa, bias_acc, shift), "sequential"
