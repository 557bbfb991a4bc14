"""Winograd's fast path: slabs of tiles through input transform, channel GEMMs and output transform.

:func:`winograd_conv` computes a stride-1, dilation-1 convolution by
F(m, k) along every axis; :mod:`._winograd_slabs` says how the slabs are
cut and scheduled, :mod:`._winograd_passes` how the transforms run,
:mod:`._winograd_kernels` how the kernel is transformed and cached.
"""

from __future__ import annotations

import math

import numpy as np

from ._epilogue import Epilogue, relu_into
from ._winograd_kernels import cached_kernel, transformed_kernel
from ._winograd_matrices import per_axis
from ._winograd_passes import input_transform, output_transform
from ._winograd_slabs import arena, run_slabs, slab_items, slab_rows, split_range

__all__ = ["winograd_checked", "winograd_conv"]


def winograd_conv(
    x: np.ndarray,
    w: np.ndarray,
    pads: tuple[tuple[int, int], ...],
    groups: int,
    tile: int,
    cache: bool = False,
    epilogue: Epilogue | None = None,
) -> np.ndarray:
    """Stride-1, dilation-1 convolution ``(N, C_in, *size) -> (N, C_out, *out)`` by F(tile, k), no bias.

    Takes the canonical arguments of :func:`convlab.functional.conv2d`: a
    batched input, the weight ``(C_out, C_in/groups, *k)``, zero padding as
    ``(lo, hi)`` pairs, the group count. Works in slabs of tile rows along
    the first spatial axis (:mod:`._winograd_slabs`), each through the
    input transform, the ``prod(alpha)`` channel GEMMs and the output
    transform while it is in the caches; the transformed kernel is
    ``prod(alpha) / prod(k)`` times the weight, and ``cache=True`` keeps it
    for the next call with the same weight array (:mod:`._winograd_kernels`).
    An ``epilogue`` (bias, ReLU) is applied to each slab's output tiles while
    they are in cache, bit for bit what it gives applied to the result.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> winograd_conv(x, np.ones((1, 1, 3, 3)), ((0, 0), (0, 0)), 1, 2)
    array([[[[45., 54.],
             [81., 90.]]]])
    """
    return _run(_Conv(x, w, pads, groups, tile, cache, epilogue))


def winograd_checked(
    x: np.ndarray, w: np.ndarray, pads, groups: int, tile: int, cache: bool, epilogue: Epilogue | None
) -> np.ndarray | None:
    """:func:`winograd_conv`, or ``None`` when some tile came out inf or NaN (see :meth:`_Conv.finish`)."""
    conv = _Conv(x, w, pads, groups, tile, cache, epilogue)
    out = _run(conv)
    return out if conv.finite else None


def _run(conv: _Conv) -> np.ndarray:
    tiles_per_row, channels = math.prod(conv.tiles[1:]), conv.x.shape[1] + conv.w.shape[0]
    rows = slab_rows(conv.tiles[0], tiles_per_row, channels, conv.points, conv.x.itemsize, conv.u.nbytes)
    run_slabs(conv.slab, slab_items(conv.x.shape[0], conv.tiles[0], rows))
    return conv.out


class _Conv:
    """One call's operands, transforms and output; :meth:`slab` computes one slab of it."""

    def __init__(self, x, w, pads, groups: int, tile: int, cache: bool, epilogue: Epilogue | None) -> None:
        self.x, self.w, self.pads, self.groups, self.m = x, w, pads, groups, tile
        self.epilogue = None if epilogue is None or epilogue.empty else epilogue
        self.finite = True
        self.kernel = w.shape[2:]
        out_shape = tuple(n + lo + hi - k + 1 for n, (lo, hi), k in zip(x.shape[2:], pads, self.kernel))
        self.at, _, self.bt = per_axis(tile, self.kernel, x.dtype)
        g = per_axis(tile, self.kernel, np.dtype(np.float64))[1]
        self.u = cached_kernel(w, g, groups, tile) if cache else transformed_kernel(w, g, groups)
        self.points = self.u.shape[0]
        self.tiles = [-(-o // tile) for o in out_shape]
        self.out = np.empty((x.shape[0], w.shape[0], *out_shape), dtype=x.dtype)
        self.slack = (tile + self.kernel[-1] - 2) // tile  # blocks a last-axis tile reaches past its own

    @np.errstate(invalid="ignore", over="ignore")  # pool threads: inf - inf is caught by finish
    def slab(self, item: tuple[int, int, int], split: bool) -> None:
        """Tile rows ``first .. first + count`` of image ``image``; ``split``: its steps on the pool."""
        image, first, count = item
        m, alloc = self.m, arena()
        counts = [count, *self.tiles[1:]]
        sizes = [t * m + k - 1 for t, k in zip(counts, self.kernel)]
        sizes[-1] = (counts[-1] + (m + self.kernel[-1] - 2) // m) * m  # whole blocks of the last axis
        out = self.out[image, :, first * m : (first + count) * m]
        d = _planes_slab(self.x[image], self.pads, first * m, sizes, m, self.slack, alloc, arena("block"))
        self._three_steps(d, out, counts, split, alloc)

    def _three_steps(self, d, out, counts: list[int], split: bool, alloc) -> None:
        """Input transform on ``d`` ``(*rows, m, C * blocks + slack)``, channel GEMMs, output transform."""
        c_in, (*outer, last) = self.x.shape[1], counts
        blocks, alphas = last + self.slack, [a.shape[1] for a in self.at]
        v = alloc((*alphas[:-1], *outer, alphas[-1], c_in * blocks), self.x.dtype)

        @np.errstate(invalid="ignore", over="ignore")
        def forward(c: slice) -> None:
            planes = d[..., c.start * blocks : c.stop * blocks + self.slack]
            target = v[..., c.start * blocks : c.stop * blocks]
            input_transform(planes, self.bt, self.m, counts, arena("block"), target)

        split_range(forward, c_in) if split else forward(slice(0, c_in))
        v = _real_tiles(v, math.prod(outer), last, c_in, alloc)
        v = v.reshape(self.points, self.groups, c_in // self.groups, -1)
        products = alloc((*self.u.shape[:3], v.shape[-1]), v.dtype)
        if split:  # the slab alone: its GEMMs over the pool, a block of transform points each
            split_range(lambda p: np.matmul(self.u[p], v[p], out=products[p]), self.points)
        else:
            np.matmul(self.u, v, out=products)
        products = products.reshape(*alphas, -1, *counts)
        output_transform(products, self.at, out, self.m, alloc, self.finish)

    def finish(self, tiles: np.ndarray) -> None:
        """Check a slab's output tiles ``(*m[:-1], C_out, ...)`` for inf and NaN, then apply the epilogue.

        The transforms subtract inputs, so an inf in a tile becomes inf - inf
        = NaN where the GEMM (and torch) give inf: the caller recomputes such
        a convolution by the exact GEMM. A sum of squares is non-finite
        exactly when some term is (or, harmlessly, when it overflows): one
        BLAS dot product, the fastest pass over the tiles, in cache, and
        before a ReLU could turn a -inf into 0. Whole tiles count, a false
        alarm only costs the recomputation.
        """
        flat = tiles.reshape(-1)
        if not np.isfinite(np.dot(flat, flat)):
            self.finite = False
        if self.epilogue is not None:
            _epilogue_on_tiles(tiles, len(self.kernel) - 1, self.epilogue)


def _real_tiles(v: np.ndarray, rows: int, last: int, c_in: int, alloc) -> np.ndarray:
    """``(points, C_in, rows, last)``: the channel GEMMs' operand, without the junk blocks.

    ``v`` is the input transform's ``(*alpha[:-1], *outer tiles, alpha[-1],
    C_in * blocks)`` with junk in the last ``blocks - last`` blocks of every
    channel (see :func:`_planes_slab`). With one row of outer tiles the real
    tiles are a strided view, which BLAS reads in place; with more, the outer
    tiles sit between points and channels, and one copy moves them after the
    channels.
    """
    blocks = v.shape[-1] // c_in
    v = v.reshape(-1, rows, v.shape[-2], c_in, blocks)[..., :last]  # (*alpha[:-1], rows, alpha, C, last)
    if rows == 1:
        return v.reshape(-1, c_in, 1, last)
    compact = alloc((v.shape[0], v.shape[2], c_in, rows, last), v.dtype)
    np.copyto(compact, v.transpose(0, 2, 3, 1, 4))
    return compact.reshape(-1, c_in, rows, last)


def _planes_slab(
    x: np.ndarray, pads, start: int, sizes: list[int], m: int, slack: int, alloc, scratch=None
) -> np.ndarray:
    """``(*sizes[:-1], m, C * blocks + slack)``: the zero-padded slab, channels inside, last axis in phases.

    Element ``[*r, q, c * blocks + b]`` is padded coordinate ``(*r, b * m +
    q)`` of channel ``c`` (``blocks = sizes[-1] / m``; ``slack`` zeros end
    every row). Why this order: along every axis but the last a transform's
    taps are whole rows, and along the last, tap ``i`` of every tile of every
    channel is one contiguous run, the plane of phase ``i % m`` shifted by
    ``i // m`` elements (:func:`input_transform`); the shift carries a
    channel's last ``i // m`` blocks into the next channel, but those tiles
    are junk that nothing reads. NumPy's passes then run over rows of
    ``C * blocks`` elements, not one short row per channel.

    Built in two copies: the input's rows, contiguous runs, into a padded
    slab ``(C, *sizes)`` from ``scratch`` (another arena: it dies before the
    transform's temporaries are made), then that slab, in cache, into the
    phases. Gathering every phase straight from the input (``m`` strided
    passes over its rows, each bringing in every cache line) cost more:
    22 against 18 thread-ms a layer for 64 channels at 512^2, F(6, 3).
    """
    c, blocks = x.shape[0], sizes[-1] // m
    d = alloc((*sizes[:-1], m, c * blocks + slack), x.dtype)
    d[..., c * blocks :] = 0
    padded = (scratch or alloc)((c, *sizes), x.dtype)
    src, dst = [], []
    for axis, (size_in, (pad, _), size) in enumerate(zip(x.shape[1:], pads, sizes)):
        offset = pad - (start if axis == 0 else 0)  # padded coordinate j reads x[j - offset]
        first, last = max(offset, 0), min(size, size_in + offset)
        dst.append(slice(first, max(first, last)))
        src.append(slice(first - offset, last - offset))
    if all(cut.stop > cut.start for cut in dst):
        _zero_outside(padded, dst)
        padded[(slice(None), *dst)] = x[(slice(None), *src)]
    else:
        padded[...] = 0
    n = len(sizes) - 1
    phases = padded.reshape(c, *sizes[:-1], blocks, m).transpose(*range(1, n + 1), n + 2, 0, n + 1)
    np.copyto(d[..., : c * blocks].reshape(*sizes[:-1], m, c, blocks), phases)
    return d


def _zero_outside(slab: np.ndarray, box: list[slice]) -> None:
    """Zero every element of ``slab`` ``(C, *spatial)`` outside ``box`` (the spatial axes)."""
    for axis, cut in enumerate(box):
        index = [slice(None), *box[:axis]]  # inside along the earlier axes: their outside is zero already
        slab[(*index, slice(0, cut.start))] = 0
        slab[(*index, slice(cut.stop, None))] = 0


def _epilogue_on_tiles(tiles: np.ndarray, phases: int, epilogue: Epilogue) -> None:
    """``relu?(tiles + bias)`` in place on tiles ``(*m[:phases], C, ...)``, as :class:`Epilogue` does.

    The same float sum and ``max(0, .)`` per element (bit for bit the
    unfused result), but against whole blocks: a bias block ``(C, rest)``
    and :func:`._epilogue.relu_into`'s zero block, not a broadcast bias
    column and the scalar 0, which NumPy's ufuncs ran 2x and 4x slower on
    these short rows.
    """
    channels = tiles.shape[phases]
    view = tiles.reshape(-1, tiles[(0,) * phases].size)
    block = arena("epilogue")((view.shape[1],), tiles.dtype)
    if epilogue.bias is not None:
        np.copyto(block.reshape(channels, -1), epilogue.bias.reshape(-1, 1))
        np.add(view, block, out=view)
    if epilogue.relu:
        relu_into(view)
