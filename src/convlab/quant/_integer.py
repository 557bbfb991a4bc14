"""The integer convolution core: exact accumulators, through float GEMM wherever that is provably exact.

This is one *strategy* of functional's lowering table, shaped like its rows:
``(input, weight, geometry, out_shape, groups) -> accumulators``, on operands
that are already zero-point shifted, so zero padding of the shifted input is
ONNX's padding with the zero point.

Why float GEMM is exact. Every product ``(x - zx) * (w - zw)`` and every
partial sum of ``K = C_in/groups * taps`` of them is bounded in magnitude by
``K * max|x - zx| * max|w - zw|``. While that bound is below ``2**53``
every such integer is a float64, so every addition and fused multiply-add,
in any order BLAS or the lowering chooses, is exact: the float64 result *is*
the integer sum. The same holds in float32 below ``2**24``; int8 layers
exceed that at K = 576, so the ``'float32'`` route splits the input
channels into passes whose own bound stays below ``2**24`` (each pass an
exact float32 convolution, twice the speed of float64) and adds the passes
in float64. Above ``2**53`` an im2col with int64 matrices runs instead (no
BLAS, slower, exact below ``2**63``, which is checked before any work).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._args import ConvlabError
from ._windows import QGeometry, chunks, float_conv, gather, scatter_add

__all__ = ["FLOAT32_EXACT", "FLOAT64_EXACT", "Route", "accumulate", "accumulate_transposed", "choose_route"]

FLOAT32_EXACT = 2**24
FLOAT64_EXACT = 2**53
_INT64_EXACT = 2**63


@dataclass(frozen=True)
class Route:
    """How an integer GEMM of depth ``depth`` is accumulated, and the bound that decided it.

    >>> choose_route(4608, 255, 255).name
    'float64'
    >>> r = choose_route(576, 255, 128, taps=9, channels=64)
    >>> r.name, r.channels_per_pass
    ('float32', 32)
    """

    name: str
    depth: int
    max_x: int
    max_w: int
    channels_per_pass: int = 0

    @property
    def bound(self) -> int:
        """``depth * max_x * max_w``: no partial sum is larger in magnitude."""
        return self.depth * self.max_x * self.max_w


def choose_route(depth: int, max_x: int, max_w: int, *, taps: int = 0, channels: int = 0) -> Route:
    """The cheapest exact route for ``depth`` products of magnitudes up to ``max_x * max_w``.

    ``'float32'`` (convolutions without groups: give ``taps`` and
    ``channels``) when one input channel's ``taps * max_x * max_w`` is below
    ``2**24``, in passes of as many channels as keep the bound there;
    ``'float64'`` while ``depth * max_x * max_w < 2**53``; else ``'int64'``.
    """
    bound = depth * max_x * max_w
    if bound >= _INT64_EXACT:
        raise ConvlabError(
            f"integer accumulation would exceed int64: K * max|x - zx| * max|w - zw| = "
            f"{depth} * {max_x} * {max_w} = {bound} >= 2**63"
        )
    per_channel = taps * max_x * max_w
    if taps and channels and bound < FLOAT64_EXACT:  # the passes are added in float64
        fit = channels if per_channel == 0 else (FLOAT32_EXACT - 1) // per_channel
        if fit >= 1:
            # As few passes as the bound allows, of equal width (no thin last pass).
            per = -(-channels // -(-channels // fit))
            return Route("float32", depth, max_x, max_w, per)
    return Route("float64" if bound < FLOAT64_EXACT else "int64", depth, max_x, max_w)


def _magnitude(a: np.ndarray) -> int:
    return int(np.abs(a).max()) if a.size else 0


def accumulate(
    x: np.ndarray, w: np.ndarray, geom: QGeometry, out_shape: tuple[int, ...], groups: int
) -> tuple[np.ndarray, Route]:
    """Exact ``(N, C_out, *out_shape)`` sums of the shifted operands, and the route taken.

    ``x`` is ``(N, C_in, *geom.image)`` and ``w`` ``(C_out, C_in/groups, *k)``,
    integer arrays with their zero points already subtracted. The sums come
    back exact: int32 on the float32 route when the bound is below ``2**31``,
    float64 holding integers on the other float cases (below ``2**53`` by
    the bound), int64 on the int64 route.
    """
    c_in = x.shape[1]
    depth, mx, mw = c_in // groups * geom.taps, _magnitude(x), _magnitude(w)
    route = choose_route(depth, mx, mw, taps=geom.taps if groups == 1 else 0, channels=c_in)
    if route.name == "float32":
        # Passes add in int32 when no sum can leave it (8-bit layers), else in float64: exact either way.
        dtype = np.int32 if route.bound < 2**31 else np.float64
        total = None
        for start in range(0, c_in, route.channels_per_pass):
            part = slice(start, start + route.channels_per_pass)
            passed = float_conv(x[:, part].astype(np.float32), w[:, part].astype(np.float32), geom, 1)
            if total is None:
                total = passed.astype(dtype)
            else:
                total += passed.astype(dtype)
        return total, route
    if route.name == "float64":
        return float_conv(x.astype(np.float64), w.astype(np.float64), geom, groups), route
    return _im2col_gemm(x.astype(np.int64), w.astype(np.int64), geom, out_shape, groups), route


def _im2col_gemm(x, w, geom: QGeometry, out_shape: tuple[int, ...], groups: int) -> np.ndarray:
    """Per chunk of output positions: im2col (``gather``) then one batched GEMM per group."""
    n, c_in = x.shape[:2]
    c_out, taps = w.shape[0], geom.taps
    out = np.empty((n, c_out, *out_shape), dtype=x.dtype)
    wmat = w.reshape(groups, c_out // groups, c_in // groups * taps)
    for batch, box in chunks(n, out_shape, c_in * taps * x.dtype.itemsize):
        nb, sizes = batch.stop - batch.start, tuple(b.stop - b.start for b in box)
        cols = np.empty((nb, c_in, taps, *sizes), dtype=x.dtype)
        gather(x[batch], geom, box, cols)
        source = cols.reshape(nb, groups, c_in // groups * taps, math.prod(sizes))
        product = np.matmul(wmat, source)
        out[(batch, slice(None), *box)] = product.reshape(nb, c_out, *sizes)
    return out


def accumulate_transposed(
    x: np.ndarray, w: np.ndarray, geom: QGeometry, groups: int
) -> tuple[np.ndarray, Route]:
    """Exact int64 transposed-convolution sums ``(N, C_out, *geom.image)`` of shifted operands.

    ``w`` is ``(C_in, C_out/groups, *k)``. Each output is a sum of at most
    ``C_in/groups * taps`` products, as in the convolution, so the same bound
    decides the route; the GEMM's partial sums and col2im's additions are
    partial sums of that one sum.
    """
    n, c_in = x.shape[:2]
    route = choose_route(c_in // groups * geom.taps, _magnitude(x), _magnitude(w))
    dtype = np.float64 if route.name == "float64" else np.int64
    xd, wd = x.astype(dtype), w.astype(dtype)
    c_out, taps = w.shape[1] * groups, geom.taps
    out = np.zeros((n, c_out, *geom.image), dtype=dtype)
    w_t = wd.reshape(groups, c_in // groups, c_out // groups * taps).transpose(0, 2, 1)
    spatial = x.shape[2:]
    for batch, box in chunks(n, spatial, c_out * taps * xd.dtype.itemsize):
        nb, sizes = batch.stop - batch.start, tuple(b.stop - b.start for b in box)
        source = xd[(batch, slice(None), *box)].reshape(nb, groups, c_in // groups, math.prod(sizes))
        cols = np.matmul(w_t, source)
        scatter_add(cols.reshape(nb, c_out, taps, *sizes), geom, box, out[batch])
    return out.astype(np.int64), route
