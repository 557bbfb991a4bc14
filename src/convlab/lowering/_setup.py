"""Canonical arguments of the lowering routes: the functional operators' own record and checks.

Every route takes the same arguments as its ``convlab.functional`` operator,
for 1 to 3 spatial dimensions read off the weight's rank, and canonicalises
them into the same :class:`~convlab.functional._conv_args.ConvArgs` record
(arrays cast by the call's numeric policy, one
:class:`convlab.shapes.Window` per dimension): a route refuses exactly what
the fast operator refuses, with the same messages.
"""

from __future__ import annotations

import numpy as np

from .._args import MAX_SPATIAL_DIMS, ConvlabError
from ..functional import conv1d, conv2d, conv3d
from ..functional._conv_args import ConvArgs, conv_args, transpose_args
from ..functional._policy import real_array

__all__ = [
    "CONV",
    "ConvArgs",
    "conv_setup",
    "finish",
    "spatial_ndim",
    "swap_groups",
    "transpose_setup",
    "window",
]

CONV = {1: conv1d, 2: conv2d, 3: conv3d}


def spatial_ndim(weight: object, transposed: bool) -> tuple[np.ndarray, int]:
    """The weight as a real array and the number of spatial dimensions its rank implies."""
    w = real_array(weight, "weight")
    if not 1 <= w.ndim - 2 <= MAX_SPATIAL_DIMS:
        layout = "C_in, C_out/groups" if transposed else "C_out, C_in/groups"
        raise ConvlabError(
            f"weight must have shape ({layout}, *kernel_size) with 1 to {MAX_SPATIAL_DIMS} "
            f"spatial dimensions, got weight of shape {w.shape}"
        )
    return w, w.ndim - 2


def conv_setup(input, weight, bias, stride, padding, dilation, groups) -> ConvArgs:
    """Canonical arguments of a convolution, ``'same'`` padding resolved."""
    w, ndim = spatial_ndim(weight, transposed=False)
    return conv_args(input, w, bias, stride, padding, dilation, groups, "zeros", ndim)


def transpose_setup(input, weight, bias, stride, padding, output_padding, groups, dilation) -> ConvArgs:
    """Canonical arguments of a transposed convolution; its output size checks ``output_padding``."""
    w, ndim = spatial_ndim(weight, transposed=True)
    return transpose_args(input, w, bias, stride, padding, output_padding, groups, dilation, None, ndim)


def finish(out: np.ndarray, setup: ConvArgs) -> np.ndarray:
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
