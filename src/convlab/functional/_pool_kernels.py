"""The machinery of max and average pooling behind :mod:`._pool`'s public functions.

One primitive serves both: the input is padded once (``-inf`` for max, zero
for average) and cropped or extended at the end to exactly the extent the
windows cover; then each kernel tap is one strided slice of that array with
the output's shape, and the reduction runs tap by tap into the output. Memory
is the padded copy plus the output, whatever the kernel size, and the taps
are visited in PyTorch's row-major order, which makes the float32 running sum
of average pooling bit-identical to ATen's. Max pooling without indices
reduces one axis at a time instead, by shifted contiguous passes over
blocks of planes (:func:`_max_pool_separable`), with one scratch vector (two
in 3-d, one and a half for the float32 2x2 pool) of at most ``_POOL_BLOCK``
elements per thread.
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .._args import ConvlabError, as_int, is_sequence, padding_pairs, per_dim
from ..shapes import Window, pool_output_size
from ._arrays import as_float_array, batched, thread_arena
from ._pad import pad
from ._threads import parallel, thread_count

__all__ = ["_avg_pool_nd", "_max_pool_nd"]

_POOL_BLOCK = 1 << 19  # input elements per task: 2 MiB of float32, in a core's L2 with its scratch vectors
_SERIAL_BELOW = 1 << 17  # below this a hand-off to the pool costs more than the work


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
    options = (kernel_size, stride, padding, dilation, ceil_mode)
    if all(_literal(v) for v in options):
        # A network pools the same shapes every call: parsing the options and
        # building the windows cost a 512-channel 64x64 pool a fifth of its time.
        # repr keeps True apart from 1, which compare (and hash) equal.
        return x, unbatched, _cached_geometry(ndim, x.shape[2:], repr(options), options)
    return x, unbatched, _geometry(ndim, x.shape[2:], *options)


def _literal(value: object) -> bool:
    """Plain ints, bools, None, strings and tuples of them: hashable, and told apart by their repr."""
    if value is None or type(value) in (int, bool, str):
        return True
    return type(value) is tuple and all(_literal(v) for v in value)


@functools.lru_cache(maxsize=256)
def _cached_geometry(ndim: int, size: tuple[int, ...], key: str, options: object) -> _Pooling:
    del key  # in the cache key only
    return _geometry(ndim, size, *options)  # type: ignore[misc]


def _geometry(ndim, size, kernel_size, stride, padding, dilation, ceil_mode) -> _Pooling:
    kernel = per_dim(kernel_size, "kernel_size", ndim, minimum=1)
    if stride is None or (is_sequence(stride) and len(stride) == 0):
        stride = kernel
    steps = per_dim(stride, "stride", ndim, minimum=1)
    dil = per_dim(dilation, "dilation", ndim, minimum=1)
    pairs = padding_pairs(padding, ndim)
    if isinstance(pairs, str):
        raise ConvlabError(f"padding must be integers for pooling, got padding={padding!r}")
    out = pool_output_size(size, kernel, steps, pairs, dil, ceil_mode)
    # A dimension with one window never moves it: its stride (up to 2**63 and
    # more) would only overflow the int64 coordinate arithmetic.
    steps = tuple(1 if o == 1 else s for o, s in zip(out, steps))
    return _Pooling(size, kernel, steps, pairs, dil, out)  # type: ignore[arg-type]


def _pads(g: _Pooling) -> list[tuple[int, int]]:
    """Per dimension, what to add (or cut, if negative) at each end to get exactly the windows' extent."""
    # The last window's last tap may lie beyond the padding (ceil_mode lets it
    # overhang) or before its end (flooring drops a remainder).
    return [
        (win.lo, win.index(o - 1, k - 1) + 1 - n) for win, o, k, n in zip(g.windows, g.out, g.kernel, g.size)
    ]


def _padded(x: np.ndarray, g: _Pooling, fill: float) -> np.ndarray:
    """``x`` padded (or cut) to exactly the extent the windows cover; a view when no padding is needed."""
    pads = _pads(g)
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
    is always passed as ``b``. NaN propagates through ``np.maximum`` as
    through ATen's ``isnan`` test.

    Each axis but the first is reduced over the whole flattened block of
    planes (:func:`_max_flat`): the tap of a window ``t*dilation`` elements
    further along an axis is the same array shifted by
    ``t*dilation*axis_stride``, so every pass is one contiguous
    ``np.maximum`` (SIMD, one inner loop) instead of a strided one with an
    inner loop per row; positions whose window would cross a row or plane
    edge are computed too but never read. The first axis is then reduced
    through strided views straight into the output. A non-contiguous
    input (a view) is reduced with strided views of itself instead
    (:func:`_max_axes`), without a copy.
    """
    lead = padded.shape[:2]
    planes = padded.reshape(-1, *padded.shape[2:])
    out = np.empty((planes.shape[0], *g.out), dtype=padded.dtype)
    if planes.size == 0:
        return out.reshape(*lead, *g.out)
    if planes.flags.c_contiguous:
        work, items = _max_flat(planes, g, out), _flat_chunks(planes.shape, g)
    else:
        plane = max(1, math.prod(padded.shape[2:]))
        step = max(1, min(_POOL_BLOCK // plane, -(-planes.shape[0] // (2 * thread_count()))))
        items = [(slice(i, i + step),) for i in range(0, planes.shape[0], step)]  # type: ignore[misc]

        def work(index: slice) -> None:
            _max_axes(planes[index], g, out[index])

    if planes.size < _SERIAL_BELOW:
        for item in items:  # a hand-off to the pool costs more than the work
            work(*item)
    else:
        parallel(lambda item: work(*item), items)
    return out.reshape(*lead, *g.out)


def _flat_chunks(shape: tuple[int, ...], g: _Pooling) -> list[tuple[int, int, int, int]]:
    """``(p0, p1, y0, y1)``: planes ``p0:p1``, output rows ``y0:y1`` of the first spatial axis.

    About ``_POOL_BLOCK`` input elements each, and at least two per thread
    so that both stay busy: whole planes while a plane fits, else bands of
    output rows of one plane (a band's input rows are contiguous too).
    """
    planes, plane = shape[0], max(1, math.prod(shape[1:]))
    step = max(1, min(_POOL_BLOCK // plane, -(-planes // (2 * thread_count()))))
    if plane <= _POOL_BLOCK or g.out[0] == 1:
        return [(p, min(p + step, planes), 0, g.out[0]) for p in range(0, planes, step)]
    rows = max(1, _POOL_BLOCK // (plane // shape[1] * g.stride[0]))
    return [(p, p + 1, y, min(y + rows, g.out[0])) for p in range(planes) for y in range(0, g.out[0], rows)]


def _max_flat(planes: np.ndarray, g: _Pooling, out: np.ndarray):
    """The work of one chunk of :func:`_flat_chunks`: shifted contiguous maxima, then the windows.

    Every reduced axis but the first is one run of flat passes into a
    scratch vector; the first is reduced tap by tap straight into the output
    through strided views of that vector, which gathers the windows at the
    same time (a 2-d pool needs one scratch vector, a 3-d pool two).
    """
    spatial = planes.shape[1:]
    axis_strides = [math.prod(spatial[a + 1 :]) for a in range(len(spatial))]
    reduced = [a for a in range(len(spatial)) if g.kernel[a] > 1]
    win0 = g.windows[0]

    pairs = _pairs(planes, g)

    def work(p0: int, p1: int, y0: int, y1: int) -> None:
        r0, r1 = win0.index(y0, 0) + win0.lo, win0.index(y1 - 1, g.kernel[0] - 1) + win0.lo + 1
        if p1 - p0 > 1:
            r0, r1 = 0, spatial[0]
        segment = planes[p0:p1, r0:r1]
        source = segment.reshape(-1)
        if pairs:
            _max_pairs(source, segment.shape, out[p0:p1, y0:y1])
            return
        spare = _buffers(source.size, source.dtype, max(0, min(2, len(reduced) - 1)))
        for axis in reversed(reduced[1:]):
            target = spare[0] if source is not spare[0] else spare[1]
            _max_shifts(source, target, g.kernel[axis], g.dilation[axis] * axis_strides[axis])
            source = target
        grid = source[: segment.size].reshape(segment.shape)
        gather = [slice(0, (o - 1) * s + 1, s) for o, s in zip((y1 - y0, *g.out[1:]), g.stride)]
        result = out[p0:p1, y0:y1]
        if not reduced:
            np.copyto(result, grid[(slice(None), *gather)])
            return
        axis, step = reduced[0], g.dilation[reduced[0]]
        taps = []
        for t in range(g.kernel[axis]):
            at = list(gather)
            at[axis] = slice(gather[axis].start + t * step, gather[axis].stop + t * step, gather[axis].step)
            taps.append(grid[(slice(None), *at)])
        np.maximum(taps[1], taps[0], out=result)
        for view in taps[2:]:
            np.maximum(view, result, out=result)

    return work


def _pairs(planes: np.ndarray, g: _Pooling) -> bool:
    """Whether :func:`_max_pairs` serves: a 2x2, stride-2 float32 pool of rows of even length."""
    square = g.kernel == (2, 2) and g.stride == (2, 2) and g.dilation == (1, 1)
    return square and planes.dtype == np.float32 and planes.shape[-1] % 2 == 0 and sys.byteorder == "little"


def _max_pairs(source: np.ndarray, shape: tuple[int, ...], out: np.ndarray) -> None:
    """The U-Net's 2x2 pool of one chunk ``shape = (planes, rows, W)`` with flat passes only.

    The strided gather of the general path (two stride-2 views, a scalar
    inner loop per output row) is the costly step; here every step is one
    contiguous loop but the last. The pairs' maxima (a shifted pass,
    :func:`_max_shifts`) sit at the even positions; read as uint64, each
    even float32 is the low half of its pair on a little-endian machine,
    so a truncating uint64 -> uint32 cast keeps exactly the even columns.
    A shifted pass over those rows, then a copy of every other row, gives
    the windows. The taps are compared in the general path's order (the
    later tap first, the earlier one winning ties), so the bits are the same:
    128 planes of 64x64 took 151 instead of 167 us, 2 of 568x568 169 instead of 194.
    """
    n, half = source.size, shape[-1] // 2
    arena = thread_arena(6 * n)  # 1.5 float32 vectors of the chunk: row_max, then the even columns
    row_max, evens = arena[: 4 * n].view(np.float32), arena[4 * n : 6 * n].view(np.float32)
    _max_shifts(source, row_max, 2, 1)
    np.copyto(evens.view(np.uint32), row_max.view(np.uint64), casting="unsafe")  # row_max[-1] is cut off
    window = row_max[: n // 2]  # row_max is read: its bytes serve again
    _max_shifts(evens, window, 2, half)
    rows = window.reshape(shape[0], shape[1], half)
    np.copyto(out, rows[:, 0 : 2 * out.shape[1] : 2])


def _max_shifts(source: np.ndarray, target: np.ndarray, taps: int, shift: int) -> None:
    """``target[i] = max over t of source[i + t*shift]``, the earliest tap winning ties (see above)."""
    n = source.size
    np.maximum(source[shift:], source[: n - shift], out=target[: n - shift])
    for t in range(2, taps):
        np.maximum(source[t * shift :], target[: n - t * shift], out=target[: n - t * shift])


def _buffers(size: int, dtype: np.dtype, count: int) -> tuple[np.ndarray, ...]:
    """``count`` scratch vectors of ``size`` from the thread's arena (at most one chunk's input each)."""
    nbytes = size * dtype.itemsize
    arena = thread_arena(count * nbytes)
    return tuple(arena[i * nbytes : (i + 1) * nbytes].view(dtype) for i in range(count))


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
        # Unpadded, the whole input serves (contiguous, not cut): what lies
        # beyond the last window reaches only results that are not gathered.
        unpadded = all(lo == 0 and hi <= 0 for lo, hi in _pads(g)) and x.flags.c_contiguous
        return _max_pool_separable(x if unpadded else _padded(x, g, -np.inf), g)
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
