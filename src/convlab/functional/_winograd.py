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
zero, larger transform entries); see :func:`winograd_conv`.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import numpy as np

from ._winograd_kernels import cached_kernel, transformed_kernel
from ._winograd_passes import deinterleave, input_transform, output_transform
from ._winograd_slabs import arena, run_slabs, slab_items, slab_rows

__all__ = ["DEFAULT_TILE", "POINTS", "applies", "run", "winograd_conv", "winograd_matrices", "workspace"]

# Cook-Toom points, the small ones first (Lavin's choice); None is infinity.
POINTS: tuple[Fraction | None, ...] = tuple(
    Fraction(p) for p in ("0", "1", "-1", "2", "-2", "1/2", "-1/2", "3", "-3", "1/3", "-1/3", "4", "-4")
)
MAX_ALPHA = len(POINTS) + 1
# F(4, 3): float32 error about 1.5e-5 of the largest output on the U-Net
# layers (F(2, 3) 6e-7, F(6, 3) 2e-5; benchmarks/winograd_error.py), a
# quarter of direct convolution's multiplications, 6x6 transforms.
DEFAULT_TILE = 4
# Transforms up to 6x6 (F(4, 3), F(2, 3)) run as explicit passes
# (:mod:`._winograd_passes`): coefficients 0, +-1, +-2, +-4, +-5, +-8, few
# terms. Larger ones (F(6, 3): up to 21 and eight terms a row) keep BLAS's
# fused multiply-adds, whose one rounding a term is measurably more accurate
# than a multiply and an add.
_PASSES_ALPHA = 6


@lru_cache(maxsize=64)
def winograd_matrices(m: int, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(A^T, G, B^T)`` of F(m, r) as object arrays of :class:`fractions.Fraction`.

    Shapes ``(m, alpha)``, ``(alpha, r)`` and ``(alpha, alpha)`` with
    ``alpha = m + r - 1``; ``y = A^T [(G g) * (B^T d)]`` is the correlation
    ``y_i = sum_k g_k d_(i+k)`` of ``alpha`` inputs ``d`` with ``r`` taps ``g``.

    >>> at, g, bt = winograd_matrices(2, 3)
    >>> bt.astype(int)
    array([[ 1,  0, -1,  0],
           [ 0,  1,  1,  0],
           [ 0,  1, -1,  0],
           [ 0,  1,  0, -1]])
    """
    alpha = m + r - 1
    if not (m >= 1 and r >= 1 and alpha <= MAX_ALPHA):
        raise ValueError(f"F(m, r) needs m, r >= 1 and m + r - 1 <= {MAX_ALPHA}, got m={m}, r={r}")
    points = [*POINTS[: alpha - 1], None]
    interpolate = _inverse([_powers(p, alpha) for p in points])
    bt = [[interpolate[k][j] for k in range(alpha)] for j in range(alpha)]  # C^T
    g = [_powers(p, r) for p in points]
    for j, row in enumerate(bt):
        scale = _integer_scale(row)
        bt[j] = [v * scale for v in row]
        g[j] = [v / scale for v in g[j]]
    at = [[_powers(p, m)[i] for p in points] for i in range(m)]  # V_h^T
    return tuple(np.array(a, dtype=object) for a in (at, g, bt))  # type: ignore[return-value]


def _powers(point: Fraction | None, n: int) -> list[Fraction]:
    """A polynomial of ``n`` coefficients evaluated at ``point`` (infinity: its leading coefficient)."""
    if point is None:
        return [Fraction(0)] * (n - 1) + [Fraction(1)]
    return [point**i for i in range(n)]


def _inverse(matrix: list[list[Fraction]]) -> list[list[Fraction]]:
    """Gauss-Jordan in exact rationals (the Vandermonde matrix of distinct points is invertible)."""
    n = len(matrix)
    rows = [list(row) + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next(i for i in range(col, n) if rows[i][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        lead = rows[col][col]
        rows[col] = [v / lead for v in rows[col]]
        for i in range(n):
            if i != col and rows[i][col] != 0:
                factor = rows[i][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[col])]
    return [row[n:] for row in rows]


def _integer_scale(row: list[Fraction]) -> Fraction:
    """The factor that makes ``row`` coprime integers, its first non-zero entry positive."""
    denominators = math.lcm(*(v.denominator for v in row))
    numerators = math.gcd(*(int(v * denominators) for v in row))
    first = next(v for v in row if v != 0)
    return Fraction(denominators, numerators) * (1 if first > 0 else -1)


def winograd_conv(
    x: np.ndarray, w: np.ndarray, pads: tuple[tuple[int, int], ...], groups: int, tile: int, cache: bool = False
) -> np.ndarray:
    """Stride-1, dilation-1 convolution ``(N, C_in, *size) -> (N, C_out, *out)`` by F(tile, k), no bias.

    Takes the canonical arguments of :func:`convlab.functional.conv2d`: a
    batched input, the weight ``(C_out, C_in/groups, *k)``, zero padding as
    ``(lo, hi)`` pairs, the group count. Every transform is one BLAS call
    per axis (:func:`_along_axes`), laid out so that the transformed tiles
    are already the right operand of the ``prod(alpha)`` channel GEMMs. Works in
    slabs of tile rows along the first spatial axis, sized by the workspace
    limit, so the transformed input never exists whole; the transformed
    kernel is ``prod(alpha) / prod(k)`` times the weight.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> winograd_conv(x, np.ones((1, 1, 3, 3)), ((0, 0), (0, 0)), 1, 2)
    array([[[[45., 54.],
             [81., 90.]]]])
    """
    kernel = w.shape[2:]
    out_shape = tuple(n + lo + hi - k + 1 for n, (lo, hi), k in zip(x.shape[2:], pads, kernel))
    at, _, bt = _per_axis(tile, kernel, x.dtype)
    g64 = _per_axis(tile, kernel, np.dtype(np.float64))[1]
    u = cached_kernel(w, g64, groups, tile) if cache else transformed_kernel(w, g64, groups)
    tiles = [-(-o // tile) for o in out_shape]
    out = np.empty((x.shape[0], w.shape[0], *out_shape), dtype=x.dtype)
    per_row = math.prod(tiles[1:])
    rows = slab_rows(tiles[0], per_row, x.shape[1] + w.shape[0], u.shape[0], x.itemsize)

    passes = max(a.shape[1] for a in bt) <= _PASSES_ALPHA

    def slab(item: tuple[int, int, int]) -> None:
        image, first, count = item
        alloc = arena()
        counts = [count, *tiles[1:]]
        sizes = [t * tile + k - 1 for t, k in zip(counts, kernel)]
        sizes[-1] = (counts[-1] + (tile + kernel[-1] - 2) // tile) * tile  # whole blocks of the last axis
        d = _slab(x[image], pads, first * tile, sizes, alloc)
        if passes:
            v = input_transform(deinterleave(d, tile, alloc), bt, tile, counts, alloc)
        else:
            v = _input_tiles(d[None], bt, tile, groups)
        v = v.reshape(u.shape[0], groups, -1, math.prod(counts))
        products = np.matmul(u, v, out=alloc((*u.shape[:3], v.shape[-1]), x.dtype))
        rows = out[image, :, first * tile : min(out_shape[0], (first + count) * tile)]
        if passes:
            output_transform(products.reshape(*(a.shape[1] for a in at), -1, *counts), at, rows, tile, alloc)
        else:
            y = _along_axes(at, products.reshape(*(a.shape[1] for a in at), -1))
            _scatter_tiles(y, rows[None], tile, counts)

    run_slabs(slab, slab_items(x.shape[0], tiles[0], rows))
    return out


@lru_cache(maxsize=16)
def _per_axis(m: int, kernel: tuple[int, ...], dtype: np.dtype) -> tuple[tuple[np.ndarray, ...], ...]:
    """``(A^T, G, B^T)`` per spatial axis, in ``dtype``."""
    mats = [[np.array(a, dtype=np.float64).astype(dtype) for a in winograd_matrices(m, r)] for r in kernel]
    return tuple(tuple(axis[which] for axis in mats) for which in range(3))


def _along_axes(mats: tuple[np.ndarray, ...], data: np.ndarray) -> np.ndarray:
    """Apply ``mats[i]`` to axis ``i`` of ``data`` ``(a_1, ..., a_D, X)``: one BLAS call per axis.

    The separable form of the Kronecker product: ``2 alpha^3`` multiply-adds
    per 2-d tile instead of ``alpha^4``, and no transposes, because axis
    ``i`` is contracted as ``mats[i] @ data[p]`` for every prefix ``p``.
    """
    shape = list(data.shape)
    for axis, mat in enumerate(mats):
        prefix = math.prod(shape[:axis])
        data = np.matmul(mat, data.reshape(prefix, shape[axis], -1))
        shape[axis] = mat.shape[0]
    return data.reshape(shape)


def _slab(x: np.ndarray, pads, start: int, sizes: list[int], alloc=np.empty) -> np.ndarray:
    """Rows ``start .. start + sizes[0]`` of one zero-padded image ``(C, *size)``, padded further to ``sizes``."""
    slab = alloc((x.shape[0], *sizes), x.dtype)
    src, dst = [], []
    for axis, (n, (lo, _), size) in enumerate(zip(x.shape[1:], pads, sizes)):
        offset = lo - (start if axis == 0 else 0)  # padded coordinate j reads x[j - offset]
        first, last = max(offset, 0), min(size, n + offset)
        if first >= last:
            slab[...] = 0
            return slab
        dst.append(slice(first, last))
        src.append(slice(first - offset, last - offset))
    _zero_outside(slab, dst)
    slab[(Ellipsis, *dst)] = x[(Ellipsis, *src)]
    return slab


def _zero_outside(slab: np.ndarray, box: list[slice]) -> None:
    """Zero every element of ``slab`` ``(C, *sizes)`` outside ``box`` (one slice per spatial axis)."""
    for axis, cut in enumerate(box):
        inner = (slice(None),) + tuple(box[:axis])
        slab[(*inner, slice(0, cut.start))] = 0
        slab[(*inner, slice(cut.stop, None))] = 0


def _input_tiles(slab: np.ndarray, bt: tuple[np.ndarray, ...], m: int, groups: int) -> np.ndarray:
    """``(prod(alpha), groups, C_in/groups, N * tiles)``: ``B^T d B`` of every tile."""
    n, c, *size = slab.shape
    alphas = [a.shape[1] for a in bt]
    counts = [(s - a) // m + 1 for s, a in zip(size, alphas)]
    sn, sc, *ss = slab.strides
    # (alpha..., C, N, tiles...): every tile's alpha^D values, tile-major, as a strided view.
    view = np.lib.stride_tricks.as_strided(
        slab, (*alphas, c, n, *counts), (*ss, sc, sn, *(s * m for s in ss)), writeable=False
    )
    d = np.ascontiguousarray(view).reshape(*alphas, -1)
    return _along_axes(bt, d).reshape(-1, groups, c // groups, n * math.prod(counts))


def _scatter_tiles(y: np.ndarray, out: np.ndarray, m: int, counts: list[int]) -> None:
    """Write the output tiles ``y`` ``(m**D, C_out * N * tiles)`` into ``out`` ``(N, C_out, *size)``."""
    ndim = len(counts)
    n, c_out = out.shape[:2]
    y = y.reshape(*(m,) * ndim, c_out, n, *counts)
    order = [ndim + 1, ndim]
    for axis in range(ndim):
        order += [ndim + 2 + axis, axis]
    full = y.transpose(order).reshape(n, c_out, *(t * m for t in counts))
    out[...] = full[(Ellipsis, *(slice(0, s) for s in out.shape[2:]))]


# The strategy-table interface (functional/_strategies.py): three functions of
# the canonical convolution record (x, w, groups, windows, transposed).


def applies(args) -> bool:
    """3-tap kernels (1-d to 3-d), stride 1, dilation 1, floating point, not transposed."""
    policy = getattr(args, "policy", None)
    exact_float = policy is None or (policy.accumulate.kind == "f" and policy.accumulate == args.x.dtype)
    return (
        not args.transposed
        and args.x.dtype.kind == "f"
        and exact_float
        and all(win.kernel == 3 and win.stride == 1 and win.dilation == 1 for win in args.windows)
    )


def workspace(args) -> int:
    """Bytes beyond input and output: the transformed kernel and one slab of one tile row."""
    alpha = (DEFAULT_TILE + 2) ** len(args.windows)
    n, c_in = args.x.shape[:2]
    c_out, itemsize = args.w.shape[0], args.x.itemsize
    tiles = [-(-o // DEFAULT_TILE) for o in args.out_shape[1:]]
    kernel = alpha * c_out * args.w.shape[1] * itemsize
    return kernel + 3 * alpha * n * (c_in + c_out) * math.prod(tiles) * itemsize


def run(args) -> np.ndarray:
    """``(N, C_out, *out)`` by F(DEFAULT_TILE, 3), no bias."""
    pads = tuple((win.lo, win.hi) for win in args.windows)
    return winograd_conv(args.x, args.w, pads, args.groups, DEFAULT_TILE, cache=True)
