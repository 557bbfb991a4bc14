"""Canonical arguments of the lowering routes, through the functional operators' own checks.

Every route takes the same arguments as its ``convlab.functional`` operator,
for 1 to 3 spatial dimensions read off the weight's rank. Arrays are checked
by :func:`convlab.functional._conv_args.conv_arrays`, integers by
:mod:`convlab._args`, sizes by :mod:`convlab.shapes`: a route refuses exactly
what the fast operator refuses, with the same messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._args import MAX_SPATIAL_DIMS, ConvlabError, Pairs, padding_pairs, per_dim
from ..functional import conv1d, conv2d, conv3d
from ..functional._arrays import as_float_array
from ..functional._conv_args import conv_arrays, conv_padding
from ..shapes import conv_output_size, conv_transpose_output_size

__all__ = [
    "CONV",
    "Setup",
    "conv_setup",
    "finish",
    "spatial_ndim",
    "swap_groups",
    "transpose_setup",
    "window",
]

CONV = {1: conv1d, 2: conv2d, 3: conv3d}


@dataclass(frozen=True)
class Setup:
    """Checked arrays and per-dimension arguments of one convolution or transposed convolution.

    ``x`` is batched ``(N, C_in, *size)``; ``out_shape`` is the spatial size
    of the result; ``output_padding`` is all zeros for a convolution.
    """

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    unbatched: bool
    groups: int
    stride: tuple[int, ...]
    pads: Pairs
    dilation: tuple[int, ...]
    output_padding: tuple[int, ...]
    out_shape: tuple[int, ...]

    @property
    def ndim(self) -> int:
        return len(self.stride)

    @property
    def kernel(self) -> tuple[int, ...]:
        return self.w.shape[2:]

    @property
    def lo(self) -> tuple[int, ...]:
        return tuple(lo for lo, _ in self.pads)


def spatial_ndim(weight: object, transposed: bool) -> tuple[np.ndarray, int]:
    """The weight as a float array and the number of spatial dimensions its rank implies."""
    w = as_float_array(weight, "weight")
    if not 1 <= w.ndim - 2 <= MAX_SPATIAL_DIMS:
        layout = "C_in, C_out/groups" if transposed else "C_out, C_in/groups"
        raise ConvlabError(
            f"weight must have shape ({layout}, *kernel_size) with 1 to {MAX_SPATIAL_DIMS} "
            f"spatial dimensions, got weight of shape {w.shape}"
        )
    return w, w.ndim - 2


def conv_setup(input, weight, bias, stride, padding, dilation, groups) -> Setup:
    """Canonical arguments of a convolution, ``'same'`` padding resolved."""
    w, ndim = spatial_ndim(weight, transposed=False)
    (x, w, b, unbatched), g = conv_arrays(input, w, bias, groups, ndim, transposed=False)
    s = per_dim(stride, "stride", ndim, minimum=1)
    d = per_dim(dilation, "dilation", ndim, minimum=1)
    pairs = conv_padding(padding, x.shape[2:], w.shape[2:], s, d)
    out_shape = conv_output_size(x.shape[2:], w.shape[2:], s, pairs, d)
    return Setup(x, w, b, unbatched, g, s, pairs, d, (0,) * ndim, out_shape)


def transpose_setup(input, weight, bias, stride, padding, output_padding, groups, dilation) -> Setup:
    """Canonical arguments of a transposed convolution; its output size checks ``output_padding``."""
    w, ndim = spatial_ndim(weight, transposed=True)
    (x, w, b, unbatched), g = conv_arrays(input, w, bias, groups, ndim, transposed=True)
    s = per_dim(stride, "stride", ndim, minimum=1)
    d = per_dim(dilation, "dilation", ndim, minimum=1)
    out_shape = conv_transpose_output_size(x.shape[2:], w.shape[2:], s, padding, output_padding, d)
    pairs = padding_pairs(padding, ndim)
    op = per_dim(output_padding, "output_padding", ndim)
    return Setup(x, w, b, unbatched, g, s, pairs, d, op, tuple(out_shape))  # type: ignore[arg-type]


def finish(out: np.ndarray, setup: Setup) -> np.ndarray:
    """Add the bias, one value per output channel, and drop the batch axis the caller did not pass."""
    if setup.b is not None:
        out = out + setup.b.reshape(-1, *(1,) * setup.ndim)
    return out[0] if setup.unbatched else out


def swap_groups(w: np.ndarray, groups: int) -> np.ndarray:
    """``(A, B/groups, *k)`` to ``(B, A/groups, *k)``: each group's channel block transposed.

    Turns a transposed convolution's weight ``(C_in, C_out/groups, *k)`` into
    the convolution weight ``(C_out, C_in/groups, *k)`` connecting the same
    channel pairs, and back: group ``j`` links input block ``j`` to output
    block ``j`` in both layouts, only the order of the two channel axes differs.
    """
    a, b_per, *k = w.shape
    blocks = w.reshape(groups, a // groups, b_per, *k).swapaxes(1, 2)
    return blocks.reshape(groups * b_per, a // groups, *k)


def window(x: np.ndarray, lo: tuple[int, ...], size: tuple[int, ...]) -> np.ndarray:
    """``out[..., j] = x[..., j - lo]`` for ``j`` in ``0..size-1``, zero where that is outside ``x``.

    Zero padding by ``lo`` before and whatever fills ``size`` after, on the
    trailing ``len(lo)`` axes; a negative ``lo`` (or a short ``size``) crops.
    Unlike a crop-then-pad, a window may lie entirely outside ``x``.
    """
    lead = x.ndim - len(lo)
    out = np.zeros((*x.shape[:lead], *size), dtype=x.dtype)
    src, dst = [slice(None)] * lead, [slice(None)] * lead
    for n, shift, m in zip(x.shape[lead:], lo, size):
        first, last = max(shift, 0), min(m, n + shift)
        if first >= last:
            return out
        dst.append(slice(first, last))
        src.append(slice(first - shift, last - shift))
    out[tuple(dst)] = x[tuple(src)]
    return out
