"""``convlab explain winograd``: F(m, r)'s matrices, one tile worked through, and every route agreeing.

The text shows what an accelerator engineer builds: the input transform
``B^T``, the kernel transform ``G`` and the output transform ``A^T`` in exact
rationals, then the first tile ``d`` going through ``V = B^T d B``,
``U = G g G^T``, the elementwise product and ``Y = A^T (U * V) A``, and
finally the whole convolution by Winograd against the GEMM, unfold and
matrix routes.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .. import lowering
from ..functional import conv1d, conv2d
from ._text import grid, side_by_side

__all__ = ["winograd_example", "winograd_text"]


def winograd_example(
    size: tuple[int, ...], kernel: tuple[int, ...], seed: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """A small integer input ``(1, 1, *size)`` and kernel ``(1, 1, *kernel)``: a count or seeded -4..4."""
    if seed is None:
        x = (np.arange(math.prod(size)) % 10).reshape(1, 1, *size).astype(np.float64)
        w = (np.arange(math.prod(kernel)) % 5 - 2).reshape(1, 1, *kernel).astype(np.float64)
        return x, w
    rng = np.random.default_rng(seed)
    return (
        rng.integers(-4, 5, (1, 1, *size)).astype(np.float64),
        rng.integers(-4, 5, (1, 1, *kernel)).astype(np.float64),
    )


def _exact(array: np.ndarray) -> np.ndarray:
    return np.vectorize(Fraction, otypes=[object])(array) if array.dtype != object else array


def _fmt(array: np.ndarray) -> np.ndarray:
    return np.vectorize(lambda v: str(Fraction(v)), otypes=[object])(array)


def _apply(matrices: list[np.ndarray], tile: np.ndarray) -> np.ndarray:
    """``M tile M^T`` along every axis (one matrix per axis), in exact rationals."""
    out = _exact(tile)
    for axis, m in enumerate(matrices):
        out = np.moveaxis(np.tensordot(m, out, axes=([1], [axis])), 0, axis)
    return out


def routes(x: np.ndarray, w: np.ndarray, padding, tile: int) -> dict[str, float]:
    """Largest difference of each route's output from the GEMM convolution's."""
    gemm = (conv1d if x.ndim == 3 else conv2d)(x, w, padding=padding)
    others = {
        f"winograd F({tile}, {w.shape[-1]})": lowering.conv_by_winograd(x, w, padding=padding, tile=tile),
        "unfold + matmul": lowering.conv_by_unfold(x, w, padding=padding),
        "conv matrix": lowering.conv_by_matrix(x, w, padding=padding),
    }
    return {name: float(np.abs(out - gemm).max()) for name, out in others.items()}


def winograd_text(x: np.ndarray, w: np.ndarray, padding, tile: int) -> str:
    """The whole explanation of one convolution by Winograd (1-d or 2-d, one channel)."""
    out, transforms = lowering.conv_by_winograd(x, w, padding=padding, tile=tile, return_transforms=True)
    t = transforms[-1]
    dims = "x".join(str(tile) for _ in transforms), "x".join(str(k) for k in w.shape[2:])
    alpha = [tr.alpha for tr in transforms]
    direct = math.prod(tile * tr.r for tr in transforms)
    points = ", ".join("inf" if p is None else str(p) for p in t.points)
    lines = [
        f"Winograd F({dims[0]}, {dims[1]}): input tiles of {'x'.join(map(str, alpha))}, "
        f"outputs of {dims[0]};",
        f"{math.prod(alpha)} multiplications per tile instead of {direct}. Cook-Toom points: {points}.",
        "",
        *side_by_side(
            [
                [f"B^T ({t.alpha}x{t.alpha})", *grid(_fmt(t.B_T))],
                [f"G ({t.alpha}x{t.r})", *grid(_fmt(t.G))],
                [f"A^T ({t.m}x{t.alpha})", *grid(_fmt(t.A_T))],
            ]
        ),
        "",
        *_first_tile(x, w, padding, transforms),
        "",
        "output (all tiles):",
        *grid(out[0, 0]),
        "",
        "every route agrees (largest |difference| from the GEMM convolution):",
        *(f"  {name:<22} {diff:.3g}" for name, diff in routes(x, w, padding, tile).items()),
    ]
    return "\n".join(lines)


def _first_tile(x: np.ndarray, w: np.ndarray, padding, transforms) -> list[str]:
    pads = padding if isinstance(padding, int) else 0
    padded = np.pad(x[0, 0], pads)
    d = padded[tuple(slice(0, tr.alpha) for tr in transforms)]
    d = np.pad(d, [(0, tr.alpha - n) for tr, n in zip(transforms, d.shape)])
    v = _apply([tr.B_T for tr in transforms], d)
    u = _apply([tr.G for tr in transforms], w[0, 0])
    y = _apply([tr.A_T for tr in transforms], u * v)
    two = len(transforms) == 2  # 1-d multiplies on the left only
    return [
        "the first tile, worked through:",
        *side_by_side(
            [
                ["d (input tile)", *grid(d)],
                ["g (kernel)", *grid(w[0, 0])],
                ["V = B^T d B" if two else "V = B^T d", *grid(_fmt(v))],
                ["U = G g G^T" if two else "U = G g", *grid(_fmt(u))],
            ]
        ),
        *side_by_side(
            [
                ["U * V (elementwise)", *grid(_fmt(u * v))],
                ["Y = A^T (U * V) A" if two else "Y = A^T (U * V)", *grid(_fmt(y))],
            ]
        ),
    ]
