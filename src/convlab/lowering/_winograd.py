"""Convolution by Winograd's minimal filtering F(m, r), with its transforms B, G, A for teaching and hardware.

A tile of ``m + r - 1`` inputs gives ``m`` outputs of an ``r``-tap
correlation with ``m + r - 1`` multiplications instead of ``m * r``::

    y = A^T [(G g) * (B^T d)]            (1-d, * elementwise)
    Y = A^T [(G g G^T) * (B^T d B)] A    (2-d; 3-d applies them along each axis)

The matrices come from Cook-Toom's evaluation at the points 0, 1, -1, 2,
-2, 1/2, -1/2, ... and infinity (:mod:`convlab.functional._winograd` derives
them in exact rationals). This route runs any kernel size; a stride is the
stride-1 result subsampled and a dilation is the kernel with zeros inserted,
both exact rewrites that an accelerator would not use but that keep the
route total over :func:`convlab.functional.conv2d`'s arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import ArrayLike

from .._args import ConvlabError, as_int
from ..functional._conv import IntArg, PaddingArg
from ..functional._winograd import MAX_ALPHA, POINTS, winograd_conv, winograd_matrices
from ._setup import conv_setup, finish

__all__ = ["WinogradTransform", "conv_by_winograd", "winograd_transform"]


@dataclass(frozen=True)
class WinogradTransform:
    """F(m, r) along one axis: ``y = A_T @ ((G @ g) * (B_T @ d))`` for ``m + r - 1`` inputs ``d``.

    ``A_T`` ``(m, alpha)``, ``G`` ``(alpha, r)`` and ``B_T`` ``(alpha, alpha)``
    hold :class:`fractions.Fraction` (object arrays): exact, as a hardware
    designer sizes the adders and constant multipliers from them.
    ``points`` are the Cook-Toom points, ``None`` standing for infinity.
    """

    m: int
    r: int
    points: tuple[Fraction | None, ...]
    A_T: np.ndarray
    G: np.ndarray
    B_T: np.ndarray

    @property
    def alpha(self) -> int:
        """Inputs per tile, ``m + r - 1``: also the multiplications per tile in 1-d."""
        return self.m + self.r - 1

    def as_float(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(A_T, G, B_T)`` as float64 arrays."""
        return self.A_T.astype(np.float64), self.G.astype(np.float64), self.B_T.astype(np.float64)


def winograd_transform(m: int, r: int = 3) -> WinogradTransform:
    """The transform matrices of F(m, r), exact.

    Examples
    --------
    >>> t = winograd_transform(2, 3)
    >>> t.A_T.astype(int)
    array([[ 1,  1,  1,  0],
           [ 0,  1, -1,  1]])
    >>> [str(v) for v in t.G[1]]
    ['1/2', '1/2', '1/2']
    """
    m, r = as_int(m, "m", minimum=1), as_int(r, "r", minimum=1)
    if m + r - 1 > MAX_ALPHA:
        raise ConvlabError(f"F(m, r) needs m + r - 1 <= {MAX_ALPHA} Cook-Toom points, got m={m}, r={r}")
    at, g, bt = winograd_matrices(m, r)
    points = (*POINTS[: m + r - 2], None)
    return WinogradTransform(m, r, points, at, g, bt)


@np.errstate(invalid="ignore", over="ignore", divide="ignore")  # NaN/inf propagate silently, as in torch
def conv_by_winograd(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: PaddingArg = 0,
    dilation: IntArg = 1,
    groups: int = 1,
    *,
    tile: int = 2,
    return_transforms: bool = False,
) -> np.ndarray | tuple[np.ndarray, tuple[WinogradTransform, ...]]:
    """Convolution by Winograd's F(tile, k) along every spatial axis, 1-d to 3-d.

    Parameters
    ----------
    input : array_like, shape ``(N, C_in, *size)`` or ``(C_in, *size)``
    weight : array_like, shape ``(C_out, C_in/groups, *k)``
    bias : array_like, shape ``(C_out,)``, optional
    stride, padding, dilation, groups
        As :func:`convlab.functional.conv2d` (``(lo, hi)`` pairs, ``'same'``).
    tile : int
        ``m``: outputs per tile and axis. 2 (F(2, 3): 16 multiplications per
        2x2 outputs instead of 36), 4 or 6; error grows with it.
    return_transforms : bool
        Also return one :class:`WinogradTransform` per spatial axis.

    Returns
    -------
    numpy.ndarray, shape ``(N, C_out, *out)``, and the transforms when asked.

    Notes
    -----
    Equal to the convolution in exact arithmetic; in floating point the
    transforms add rounding error that grows with ``tile``
    (``benchmarks/winograd_error.py`` measures it on the U-Net layers).
    Cost: ``prod(tile + k - 1)`` channel GEMMs over ``prod(out / tile)``
    tiles, transforms in slabs bounded by the workspace limit.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv_by_winograd(x, np.ones((1, 1, 3, 3)))
    array([[[[45., 54.],
             [81., 90.]]]])
    >>> out, (rows, cols) = conv_by_winograd(x, np.ones((1, 1, 3, 3)), return_transforms=True)
    >>> rows.B_T.shape, rows.alpha
    ((4, 4), 4)
    """
    setup = conv_setup(input, weight, bias, stride, padding, dilation, groups)
    tile = as_int(tile, "tile", minimum=1)
    if not isinstance(return_transforms, bool):
        raise TypeError(f"return_transforms must be a bool, got {type(return_transforms).__name__}")
    w = _dilate(setup.w, setup.dilation)
    kernel = w.shape[2:]
    if tile + max(kernel) - 1 > MAX_ALPHA:
        raise ConvlabError(
            f"tile + kernel - 1 must be at most {MAX_ALPHA} (Cook-Toom points available), "
            f"got tile={tile} with (dilated) kernel {kernel}"
        )
    full = winograd_conv(setup.x, w, setup.pads, setup.groups, tile)
    # A stride keeps every stride-th output of the stride-1 convolution.
    out = full[(Ellipsis, *(slice(0, o * s, s) for o, s in zip(setup.out_shape, setup.stride)))]
    out = finish(np.ascontiguousarray(out), setup)
    if return_transforms:
        return out, tuple(winograd_transform(tile, k) for k in kernel)
    return out


def _dilate(w: np.ndarray, dilation: tuple[int, ...]) -> np.ndarray:
    """The kernel with ``dilation - 1`` zeros between taps: a dilated convolution's dense kernel."""
    if set(dilation) == {1}:
        return w
    k = w.shape[2:]
    dense = np.zeros((*w.shape[:2], *((n - 1) * d + 1 for n, d in zip(k, dilation))), dtype=w.dtype)
    dense[(Ellipsis, *(slice(None, None, d) for d in dilation))] = w
    return dense
