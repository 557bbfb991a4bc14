"""Winograd's minimal filtering F(m, r), N-d: the transforms in exact rationals and the fast path.

**Transforms** (Lavin and Gray, "Fast Algorithms for Convolutional Neural
Networks", 2016, from Cook-Toom's evaluation and interpolation). The linear
convolution ``s = g * h`` of a kernel ``g`` (``r`` taps) and a signal ``h``
(``m`` taps) has ``alpha = m + r - 1`` coefficients, so it is fixed by its
values at ``alpha`` points (the last one ``infinity``: the leading
coefficient): ``s = C [(V_g g) . (V_h h)]`` with ``V_*`` the evaluation
(Vandermonde) matrices and ``C`` the inverse of ``s``'s own. The correlation
``y_i = sum_k g_k d_(i+k)`` that a convolution layer computes is the
transpose of that bilinear map in ``h`` (``sum_k d_k s_k = sum_i h_i y_i``),
hence::

    y = A^T [(G g) . (B^T d)],  A^T = V_h^T,  G = V_g,  B^T = C^T

Each point's row of ``B^T`` is scaled to coprime integers and the same row
of ``G`` divided by that factor, which leaves every product unchanged
(Lavin's normalisation). N-d is the tensor product: the 1-d transforms
along every spatial axis.

**Fast path.** Tiles of ``alpha`` inputs with step ``m`` give ``prod(m)``
outputs each; after the input and kernel transforms, the channel sum is one
GEMM per transform point: ``prod(alpha)`` products ``(C_out/g x C_in/g) @
(C_in/g x tiles)``. A 3x3 kernel needs ``(m + 2)**2 / (9 m**2)`` of direct
convolution's multiplications: 0.44 for m = 2, 0.25 for m = 4, 0.20 for m = 6.
The price is rounding error, which grows with ``m`` (points further from
zero, larger transform entries); see :func:`winograd_conv`. The transforms
cost in proportion to the channels, the GEMMs to their product, so the
strategy row applies only where that pays (:func:`pays`). How it runs:
:mod:`._winograd_conv` (slabs of tiles through the three steps),
:mod:`._winograd_slabs` (slab sizes, threads, the arena),
:mod:`._winograd_passes` (the transforms), :mod:`._winograd_kernels`
(``G w G^T`` and its cache).
"""

from __future__ import annotations

import math

import numpy as np

from ._epilogue import Epilogue
from ._winograd_conv import winograd_checked, winograd_conv
from ._winograd_matrices import MAX_ALPHA, POINTS, winograd_matrices
from ._winograd_slabs import slab_rows, workspace_bytes
from ._workspace import get_workspace_limit

__all__ = [
    "DEFAULT_TILE",
    "LARGE_TILE",
    "MAX_ALPHA",
    "POINTS",
    "applies",
    "pays",
    "run",
    "tile",
    "winograd_conv",
    "winograd_matrices",
    "workspace",
]

# F(4, 3): float32 error about 1.5e-5 of the largest output on the U-Net
# layers (F(2, 3) 6e-7, F(6, 3) 2e-5; benchmarks/winograd_error.py), a
# quarter of direct convolution's multiplications, 6x6 transforms.
DEFAULT_TILE = 4

# The strategy-table interface (functional/_strategies.py): three functions of
# the canonical convolution record (x, w, groups, windows, transposed).


def applies(args) -> bool:
    """3-tap kernels (1-d to 3-d), stride 1, dilation 1, floating point, not transposed, where it pays."""
    policy = getattr(args, "policy", None)
    exact_float = policy is None or (policy.accumulate.kind == "f" and policy.accumulate == args.x.dtype)
    return (
        not args.transposed
        and args.x.dtype.kind == "f"
        and exact_float
        and all(win.kernel == 3 and win.stride == 1 and win.dilation == 1 for win in args.windows)
        and pays(args.w.shape[1], args.w.shape[0] // args.groups, len(args.windows))
    )


# Measured (float32, single-thread CPU time against the exact GEMM rows, F(4, 3)):
# 2-d (572-pixel U-Net layers) 0.90x at 64 -> 64 channels, 0.72x at 128, 0.59x
# at 256, 0.50x at 512, and 2.7x at 1 -> 64, where the transforms of 64 output
# channels cost more than the whole tiny GEMM; 3-d (52^3) 1.04x at 16 -> 16,
# 0.62x at 32 -> 32 (it saves 27 -> 3.4 multiplications an output, 2-d 9 ->
# 2.25); 1-d 0.99x at 64, 0.91x at 128, 0.76x at 256 (3 -> 1.5). The transforms
# cost in proportion to C_in + C_out, the multiplications they save to
# C_in * C_out: Winograd runs from this C_in * C_out / (C_in + C_out) on, per
# group and per number of spatial dimensions. 2-d since session 4's faster
# transforms (wall time with bias, 2 threads, against the GEMM rows): 48 -> 48
# 0.72x at 390^2 and 0.90x at 100^2, 40 -> 40 0.86x at 390^2; 32 -> 32 0.79x
# at 256^2 but 1.31x at 64^2 (1.6 against 1.2 ms), 24 -> 24 1.06x at 570^2:
# from 24 (48 -> 48) on.
MIN_CHANNEL_RATIO = {1: 64, 2: 24, 3: 12}


def pays(c_in: int, c_out: int, ndim: int = 2) -> bool:
    """Whether Winograd beats the GEMM rows for ``c_in -> c_out`` channels per group, ``ndim``-d.

    >>> pays(64, 64), pays(48, 48), pays(3, 64), pays(32, 32), pays(32, 32, ndim=3)
    (True, True, False, False, True)
    """
    return c_in * c_out >= MIN_CHANNEL_RATIO[ndim] * (c_in + c_out)


# F(6, 3) instead of F(4, 3) for 2-d layers with at least as many tiles
# (counted for F(4, 3)) as output channels per group: its 1.78 multiplications
# an output against 2.25 pay where the tiles are many, but its transformed
# kernel is 64/36 as large and every slab reads it. Measured on the U-Net
# layers (wall time F(6, 3) / F(4, 3), bias and ReLU, 2 threads): 0.81 at 64
# -> 128 @284^2, 0.89 at 128 @282^2, 0.83 at 512 -> 256 @104^2, 0.96 at 64
# @570^2; 1.12 at 512 @66^2 (256 tiles), 2.0 at 1024 @30^2. float32 error on
# those layers 1.9-2.4e-5 of the largest output (F(4, 3): 1.1-1.5e-5).
LARGE_TILE = 6


def tile(args) -> int:
    """The tile F(m, 3) runs ``args`` with: ``LARGE_TILE`` by the rule above if its workspace fits, else 4."""
    c_out = args.w.shape[0] // args.groups
    tiles = math.prod(-(-o // DEFAULT_TILE) for o in args.out_shape)
    if len(args.out_shape) == 2 and tiles >= c_out and _workspace(args, LARGE_TILE) <= get_workspace_limit():
        return LARGE_TILE
    return DEFAULT_TILE


def workspace(args) -> int:
    """Bytes beyond input and output: the transformed kernel and the slabs in flight."""
    return _workspace(args, tile(args))


def _workspace(args, m: int) -> int:
    _, c_in, *size = args.x.shape
    c_out, points = args.w.shape[0], (m + 2) ** len(size)
    tiles = [-(-o // m) for o in args.out_shape[-len(size) :]]
    per_row = math.prod(tiles[1:])
    kernel = points * c_out * args.w.shape[1] * args.x.itemsize
    rows = slab_rows(tiles[0], per_row, c_in + c_out, points, args.x.itemsize, kernel)
    slabs = args.x.shape[0] * -(-tiles[0] // rows)
    return kernel + workspace_bytes(points, c_in + c_out, per_row, rows, args.x.itemsize, slabs)


def run(args, epilogue: Epilogue | None = None) -> np.ndarray | None:
    """``(N, C_out, *out)`` by F(:func:`tile`, 3), the ``epilogue`` (bias, ReLU) fused into its stores.

    ``None`` when some tile came out inf or NaN: the transforms subtract
    inputs, so an inf input makes inf - inf = NaN where the GEMM (and
    torch) give inf, and the strategy table recomputes the convolution by
    the exact GEMM. The transformed kernel is cached per weight array.
    """
    pads = tuple((win.lo, win.hi) for win in args.windows)
    with np.errstate(invalid="ignore", over="ignore"):
        return winograd_checked(args.x, args.w, pads, args.groups, tile(args), True, epilogue)
