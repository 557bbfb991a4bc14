"""The machinery of max and average pooling behind :mod:`._pool`'s public functions.

One primitive serves both: the input is padded once (``-inf`` for max, zero
for average) and cropped or extended at the end to exactly the extent the
windows cover; then each kernel tap is one strided slice of that array with
the output's shape, and the reduction runs tap by tap into the output. Memory
is the padded copy plus the output, whatever the kernel size, and the taps
are visited in PyTorch's row-major order, which makes the float32 running sum
of average pooling bit-identical to ATen's. Max pooling without indices
reduces one axis at a time instead (:func:`_max_pool_separable`).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .._args import ConvlabError, as_int, is_sequence, padding_pairs, per_dim
from ..shapes import Window, pool_output_size
from ._arrays import as_float_array, batched
from ._pad import pad
from ._threads import parallel, thread_count

__all__ = ["_avg_pool_nd", "_max_pool_nd"]

_POOL_BLOCK = 1 << 18  # input elements per task: a few planes, enough work to hide the hand-off
_SERIAL_BELOW = 1 << 20


@dataclass(frozen=True)
class _Pooling:
    """Canonical per-dimension arguments of one pooling; ``out`` from :mod:`convlab.shapes`."""

    size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    out: tuple[int, ...]

    @functools.cached_property
    def windows(self) -> tuple[Window, ...]:
        """The one coordinate map ``y*stride + t*dilation - lo`` per dimension."""
        return Window.per_dim(self.size, self.kernel, self.stride, self.dilation, self.padding)

    def starts(self, dim: int) -> np.ndarray:
        """First input coordinate of every window along ``dim`` (negative in the padding)."""
        return self.windows[dim].index(np.arange(self.out[dim]), 0)

    def extent(self, dim: int, tap: int) -> slice:
        """The slice of the input padded by ``lo`` that tap ``tap`` reads for every window of ``dim``."""
        win, last = self.windows[dim], self.out[dim] - 1
        return slice(win.index(0, tap) + win.lo, win.index(last, tap) + win.lo + 1, win.stride)


def _canonical(input, ndim, kernel_size, stride, padding, dilation, ceil_mode) -> tuple:
    x, unbatched = batched(as_float_array(input, "input"), ndim)
    if 0 in x.shape[1:]:
        # As ATen: only the batch may be empty.
        raise ConvlabError(
            f"input must have non-empty channel and spatial dimensions, got input of shape "
            f"{x.shape[1:] if unbatched else x.shape}"
        )
    kernel = per_dim(kernel_size, "kernel_size", ndim, minimum=1)
    if stride is None or (is_sequence(stride) and len(stride) == 0):
        stride = kernel
    steps = per_dim(stride, "stride", ndim, minimum=1)
    dil = per_dim(dilation, "dilation", ndim, minimum=1)
    pairs = padding_pairs(padding, ndim)
    if isinstance(pairs, str):
        raise ConvlabError(f"padding must be integers for pooling, got padding={padding!r}")
    size = x.shape[2:]
    out = pool_output_size(size, kernel, steps, pairs, dil, ceil_mode)
    # A dimension with one window never moves it: its stride (up to 2**63 and
    # more) would only overflow the int64 coordinate arithmetic.
    steps = tuple(1 if o == 1 else s for o, s in zip(out, steps))
    return x, unbatched, _Pooling(size, kernel, steps, pairs, dil, out)  # type: ignore[arg-type]


def _padded(x: np.ndarray, g: _Pooling, fill: float) -> np.ndarray:
    """``x`` padded (or cut) to exactly the extent the windows cover; a view when no padding is needed."""
    # The last window's last tap may lie beyond the padding (ceil_mode lets it
    # overhang) or before its end (flooring drops a remainder): pad or cut to it.
    pads = [
        (win.lo, win.index(o - 1, k - 1) + 1 - n) for win, o, k, n in zip(g.windows, g.out, g.kernel, g.size)
    ]
    if all(lo == 0 and hi <= 0 for lo, hi in pads):
        return x[(Ellipsis, *(slice(0, n + hi) for n, (_, hi) in zip(g.size, pads)))]
    return pad(x, [p for pair in reversed(pads) for p in pair], value=fill)


def _tap_view(padded: np.ndarray, g: _Pooling, tap: tuple[int, ...]) -> np.ndarray:
    return padded[(Ellipsis, *(g.extent(dim, t) for dim, t in enumerate(tap)))]


def _taps(x: np.ndarray, g: _Pooling, fill: float) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
    """``(tap, view)`` per kernel tap in row-major order; ``view`` has the output's shape."""
    padded = _padded(x, g, fill)
    for tap in itertools.product(*(range(k) for k in g.kernel)):
        yield tap, _tap_view(padded, g, tap)


def _max_pool_separable(padded: np.ndarray, g: _Pooling) -> np.ndarray:
    """Max pooling as one 1-d max per axis, last axis first, over blocks of channels on the pool.

    A max over a box is the max over each axis in turn, and reducing the
    last axis first keeps ATen's tie rule: among equal maxima (``-0.0`` and
    ``+0.0``) the first in row-major order wins, because ``np.maximum(a, b)``
    returns ``b`` on equality (``a > b ? a : b``) and the earlier tap or row
    is always passed as ``b``. NaN
    propagates through ``np.maximum`` as through ATen's ``isnan`` test. A
    2x2 pool is then two passes (pairs of columns, then pairs of rows)
    instead of four, and each block of channels stays in cache between them.
    """
    lead = padded.shape[:2]
    planes = padded.reshape(-1, *padded.shape[2:])
    out = np.empty((planes.shape[0], *g.out), dtype=padded.dtype)
    plane = max(1, math.prod(padded.shape[2:]))
    step = max(1, min(_POOL_BLOCK // plane, -(-planes.shape[0] // (2 * thread_count()))))
    if planes.size < _SERIAL_BELOW:
        step = max(1, planes.shape[0])  # a hand-off to the pool costs more than the work
    chunks = [slice(i, i + step) for i in range(0, planes.shape[0], step)]
    parallel(lambda index: _max_axes(planes[index], g, out[index]), [(c,) for c in chunks])
    return out.reshape(*lead, *g.out)


def _max_axes(block: np.ndarray, g: _Pooling, out: np.ndarray) -> None:
    for axis in reversed(range(len(g.kernel))):
        index = [slice(None)] * block.ndim
        taps = []
        for t in range(g.kernel[axis]):
            index[1 + axis] = g.extent(axis, t)
            taps.append(block[tuple(index)])
        last = axis == 0
        result = out if last else np.empty(taps[0].shape, dtype=block.dtype)
        if len(taps) == 1:
            np.copyto(result, taps[0])
        else:
            np.maximum(taps[1], taps[0], out=result)
        for view in taps[2:]:
            np.maximum(view, result, out=result)
        block = result


def _flat_index(coords: list[np.ndarray], size: tuple[int, ...]) -> np.ndarray:
    """Row-major flat index of per-dimension coordinate vectors, broadcast to the output grid."""
    flat = np.zeros((1,) * len(size), dtype=np.int64)
    for dim, c in enumerate(coords):
        shape = [1] * len(size)
        shape[dim] = c.size
        flat = flat * size[dim] + c.reshape(shape)
    return flat


def _max_pool(x: np.ndarray, g: _Pooling, return_indices: bool):
    shape = x.shape[:2] + g.out
    if not return_indices:
        return _max_pool_separable(_padded(x, g, -np.inf), g)
    # ATen starts each window at its first tap inside the input, value -inf,
    # then takes a tap when it is strictly greater or NaN: the first maximum
    # wins a tie, the last NaN wins among NaNs.
    first = []
    for dim, d in enumerate(g.dilation):
        start = g.starts(dim)
        first.append(np.where(start < 0, start - (start // d) * d, start))
    out = np.full(shape, -np.inf, dtype=x.dtype)
    indices = np.empty(shape, dtype=np.int64)
    indices[...] = _flat_index(first, g.size)
    for tap, view in _taps(x, g, -np.inf):
        take = (view > out) | np.isnan(view)
        np.copyto(out, view, where=take)
        coords = [win.index(np.arange(o), t) for win, o, t in zip(g.windows, g.out, tap)]
        np.copyto(indices, _flat_index(coords, g.size), where=take)
    return out, indices


def _avg_pool(x: np.ndarray, g: _Pooling, count_include_pad: bool, divisor_override: int | None):
    # ATen's float32 kernel adds the taps one by one into a float32 sum that
    # starts at +0.0 (so an all -0.0 window averages to +0.0), then divides.
    out = np.zeros(x.shape[:2] + g.out, dtype=x.dtype)
    for _, view in _taps(x, g, 0.0):
        out += view
    if divisor_override is not None:
        return np.divide(out, x.dtype.type(divisor_override), out=out)
    counts = []
    for dim, (n, k, (_, hi)) in enumerate(zip(g.size, g.kernel, g.padding)):
        start = g.starts(dim)
        # ATen AvgPoolKernel: the window end is clipped to the padded input
        # first (a ceil_mode overhang does not count), to the input second.
        end = np.minimum(start + k, n + hi)
        counts.append(end - start if count_include_pad else np.minimum(end, n) - np.maximum(start, 0))
    divisor = np.ones((1,) * len(counts), dtype=np.int64)
    for dim, c in enumerate(counts):
        divisor = divisor * c.reshape([-1 if i == dim else 1 for i in range(len(counts))])
    return np.divide(out, divisor.astype(x.dtype), out=out)


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _max_pool_nd(ndim, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    return_indices = _flag(return_indices, "return_indices")
    x, unbatched, g = _canonical(input, ndim, kernel_size, stride, padding, dilation, ceil_mode)
    result = _max_pool(x, g, return_indices)
    if unbatched:
        return (result[0][0], result[1][0]) if return_indices else result[0]
    return result


@np.errstate(invalid="ignore", over="ignore", divide="ignore")  # NaN/inf propagate silently, as in torch
def _avg_pool_nd(ndim, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    count_include_pad = _flag(count_include_pad, "count_include_pad")
    if divisor_override is not None:
        divisor_override = as_int(divisor_override, "divisor_override")
        if divisor_override == 0:
            raise ConvlabError("divisor_override must be a non-zero integer, got divisor_override=0")
    x, unbatched, g = _canonical(input, ndim, kernel_size, stride, padding, 1, ceil_mode)
    out = _avg_pool(x, g, count_include_pad, divisor_override)
    return out[0] if unbatched else out
