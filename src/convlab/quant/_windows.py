"""quant's one door to functional's window machinery (im2col ``gather``, col2im ``scatter_add``, chunks).

Every quantized operator describes its windows by a :class:`QGeometry` and
calls the three functions below; only this module knows how functional
spells a windowing, so that a change there is a change here alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..functional import _window, conv1d, conv2d, conv3d
from ..functional._workspace import chunks as _chunks
from ..shapes import Window

__all__ = ["QGeometry", "chunks", "float_conv", "gather", "scatter_add"]


@dataclass(frozen=True)
class QGeometry:
    """Per spatial dimension: image size, kernel, stride, dilation, padding before (``lo``) and after."""

    image: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    lo: tuple[int, ...]
    hi: tuple[int, ...]

    @property
    def taps(self) -> int:
        return math.prod(self.kernel)

    def _functional(self) -> tuple[Window, ...]:
        pads = tuple(zip(self.lo, self.hi))
        return Window.per_dim(self.image, self.kernel, self.stride, self.dilation, pads)


def gather(image: np.ndarray, geom: QGeometry, box: tuple[slice, ...], cols: np.ndarray) -> None:
    """im2col of one box of windows into ``cols`` ``(n, C, taps, *box)``, 0 in padding."""
    _window.gather(image, geom._functional(), box, cols)


def scatter_add(cols: np.ndarray, geom: QGeometry, box: tuple[slice, ...], image: np.ndarray) -> None:
    """col2im of one box: ``cols`` ``(n, C, taps, *box)`` added into ``image``, padding dropped."""
    _window.scatter_add(cols, geom._functional(), box, image)


def chunks(batch: int, out_shape: tuple[int, ...], bytes_per_position: int) -> Iterator:
    """Boxes of output positions whose temporaries fit the workspace limit."""
    return _chunks(batch, out_shape, bytes_per_position)


def float_conv(x: np.ndarray, w: np.ndarray, geom: QGeometry, groups: int) -> np.ndarray:
    """functional's convolution of float operands (its fastest GEMM lowering for the shapes).

    The integer route calls it only with integer-valued operands whose partial
    sums are provably exact in the dtype, so any summation order BLAS or the
    lowering picks gives the same result. It must be a GEMM lowering: a
    Winograd transform would not be exact.
    """
    conv = (conv1d, conv2d, conv3d)[len(geom.kernel) - 1]
    pairs = tuple(zip(geom.lo, geom.hi))
    return conv(x, w, None, geom.stride, pairs, geom.dilation, groups, algorithm="gemm")
