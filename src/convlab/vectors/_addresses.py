"""Addresses: which input words each output reads, line buffers, and a U-Net's skip crops as address ranges.

Addresses are word offsets into a tensor stored in a layout (see
:mod:`convlab.vectors._order`), one value per word; ``-1`` marks a read of
padding (a zero the hardware supplies, not a memory read).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._args import ConvlabError, padding_pairs, per_dim
from ..shapes import CropBox, center_crop_box, conv_output_size, same_padding
from ._order import Layout, channels_first, to_layout

__all__ = [
    "StridedRange",
    "conv_reads",
    "conv_transpose_reads",
    "crop_ranges",
    "crop_reads",
    "line_buffer",
    "skip_windows",
]

MAX_TABLE = 1 << 26  # entries of an address table, 512 MB of int64


def _address_map(shape: tuple[int, ...], layout: str) -> np.ndarray:
    """Channels-first array holding each element's word address in ``layout``."""
    parsed = Layout.parse(layout or channels_first(len(shape)))
    ordered_shape = parsed.shape(shape)
    index = np.full(math.prod(shape), -1, np.int64)
    marks = to_layout(np.arange(1, math.prod(shape) + 1).reshape(shape), parsed).reshape(-1)
    index[marks[marks > 0] - 1] = np.flatnonzero(marks > 0)
    assert math.prod(ordered_shape) == marks.size  # invariant of to_layout
    return index.reshape(shape)


def conv_reads(
    input_shape: tuple[int, ...], kernel_size, *, stride=1, padding=0, dilation=1, layout: str | None = None
) -> np.ndarray:
    """The input word addresses each output pixel of a convolution reads, ``-1`` for padding.

    Returns an array ``(*out_spatial, C_in, *kernel)``: for output pixel
    ``o``, channel ``c`` and tap ``t`` the address of input
    ``o * stride + t * dilation - padding_lo`` of batch 0.

    >>> conv_reads((1, 1, 3, 3), 3, padding=1)[0, 0, 0].tolist()
    [[-1, -1, -1], [-1, 0, 1], [-1, 3, 4]]
    """
    _, c, *spatial = input_shape
    nd = len(spatial)
    k = per_dim(kernel_size, "kernel_size", nd, minimum=1)
    s, d = per_dim(stride, "stride", nd, minimum=1), per_dim(dilation, "dilation", nd, minimum=1)
    pads = padding_pairs(padding, nd)
    if pads == "same":
        pads = tuple(same_padding(spatial[i], k[i], s[i], d[i]) for i in range(nd))
    elif pads == "valid":
        pads = ((0, 0),) * nd
    out = tuple(conv_output_size(tuple(spatial), k, s, pads, d))
    _bound(math.prod(out) * c * math.prod(k))
    where = _address_map(tuple(input_shape), layout)[0]
    grids = np.meshgrid(*[np.arange(o) for o in out], *[np.arange(t) for t in k], indexing="ij")
    coords = [grids[i] * s[i] + grids[nd + i] * d[i] - pads[i][0] for i in range(nd)]
    inside = np.all([(x >= 0) & (x < n_) for x, n_ in zip(coords, spatial)], axis=0)
    clipped = [np.clip(x, 0, n_ - 1) for x, n_ in zip(coords, spatial)]
    table = where[(slice(None), *clipped)]  # (C, *out, *kernel)
    table = np.where(inside[None], table, -1)
    return np.moveaxis(table, 0, nd)


def conv_transpose_reads(
    input_shape: tuple[int, ...], kernel_size, *, stride=1, padding=0, dilation=1, layout: str | None = None
) -> np.ndarray:
    """The input addresses each output pixel of a transposed convolution gathers, ``-1`` where none.

    Output ``o`` takes input ``i = (o + padding - t * dilation) / stride`` through
    tap ``t`` when the division is exact and ``i`` lies in the input: the
    gather form of the scatter, which is what hardware without zero
    insertion reads. Returns ``(*out_spatial, C_in, *kernel)``.

    >>> conv_transpose_reads((1, 1, 2), 2, stride=2)[:, 0].tolist()
    [[0, -1], [-1, 0], [1, -1], [-1, 1]]
    """
    _, c, *spatial = input_shape
    nd = len(spatial)
    k = per_dim(kernel_size, "kernel_size", nd, minimum=1)
    s, d = per_dim(stride, "stride", nd, minimum=1), per_dim(dilation, "dilation", nd, minimum=1)
    p = per_dim(padding, "padding", nd, minimum=0)
    out = tuple((spatial[i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + 1 for i in range(nd))
    if min(out) < 1:
        raise ConvlabError(f"the transposed convolution of {tuple(spatial)} gives no output ({out})")
    _bound(math.prod(out) * c * math.prod(k))
    where = _address_map(tuple(input_shape), layout)[0]
    grids = np.meshgrid(*[np.arange(o) for o in out], *[np.arange(t) for t in k], indexing="ij")
    num = [grids[i] + p[i] - grids[nd + i] * d[i] for i in range(nd)]
    coords = [x // s[i] for i, x in enumerate(num)]
    inside = np.all(
        [(x % s[i] == 0) & (q >= 0) & (q < spatial[i]) for i, (x, q) in enumerate(zip(num, coords))], 0
    )
    clipped = [np.clip(q, 0, m - 1) for q, m in zip(coords, spatial)]
    table = np.where(inside[None], where[(slice(None), *clipped)], -1)
    return np.moveaxis(table, 0, nd)


def crop_reads(input_shape: tuple[int, ...], output_size, layout: str | None = None) -> np.ndarray:
    """For each pixel and channel of a center crop, the input address it copies (-1: padding).

    Returns ``(*output_size, C)``, torchvision's crop window (see
    :func:`convlab.shapes.center_crop_box`), like :func:`conv_reads`'s rows.

    >>> crop_reads((1, 1, 4, 4), 2)[..., 0].tolist()
    [[5, 6], [9, 10]]
    """
    _, c, *spatial = input_shape
    box = center_crop_box(tuple(spatial), output_size)
    _bound(c * math.prod(box.output_size))
    where = _address_map(tuple(input_shape), layout)[0]
    coords = [np.arange(a, b) - lo for (a, b), (lo, _) in zip(zip(box.start, box.stop), box.pad)]
    grids = np.meshgrid(*coords, indexing="ij")
    inside = np.all([(g >= 0) & (g < m) for g, m in zip(grids, spatial)], axis=0)
    table = where[(slice(None), *[np.clip(g, 0, m - 1) for g, m in zip(grids, spatial)])]
    return np.moveaxis(np.where(inside[None], table, -1), 0, -1)


def line_buffer(input_shape: tuple[int, ...], kernel_size, *, dilation=1, stride=1, transposed=False) -> int:
    """Values a row-streaming implementation holds: ``(k - 1) * dilation`` rows x width x channels.

    For a transposed convolution the rows are input rows: an output row
    needs ``ceil(((k - 1) * dilation + 1) / stride)`` of them, one of which
    streams in. Only the first spatial dimension streams; the others are
    held whole (for 3-D: planes x rows).

    >>> line_buffer((1, 64, 572, 572), 3)
    73216
    """
    _, c, *spatial = input_shape
    nd = len(spatial)
    k, d = per_dim(kernel_size, "kernel_size", nd, minimum=1), per_dim(dilation, "dilation", nd, minimum=1)
    span = (k[0] - 1) * d[0]
    if transposed:
        span = -(-(span + 1) // per_dim(stride, "stride", nd, minimum=1)[0]) - 1
    return span * math.prod(spatial[1:]) * c


@dataclass(frozen=True)
class StridedRange:
    """Addresses ``start + sum(i_j * stride_j) + r``, ``r < run``, ``i_j < count_j``: a DMA descriptor."""

    start: int
    run: int
    loops: tuple[tuple[int, int], ...]  # (count, stride), outermost first

    def addresses(self) -> np.ndarray:
        grids = np.meshgrid(*[np.arange(n) * s for n, s in self.loops], np.arange(self.run), indexing="ij")
        return (self.start + sum(grids)).reshape(-1)


def crop_ranges(skip_shape: tuple[int, ...], box: CropBox, layout: str | None = None) -> StridedRange:
    """The crop window ``box`` of a skip tensor as one :class:`StridedRange` of its addresses."""
    if box.padded:
        raise ConvlabError(f"the crop {box.output_size} is larger than the skip {box.size}: no address range")
    table = crop_reads((1, *skip_shape[1:]), box.output_size, layout)
    flat = np.sort(table.reshape(-1))
    run = (
        int(np.argmax(np.diff(flat) != 1)) + 1 if flat.size > 1 and (np.diff(flat) != 1).any() else flat.size
    )
    starts = flat[::run]
    loops, rest = [], starts - starts[0]
    shape = _loop_shape(rest)
    for count, stride in shape:
        loops.append((count, stride))
    result = StridedRange(int(flat[0]), run, tuple(loops))
    assert np.array_equal(np.sort(result.addresses()), flat)  # own invariant: the descriptor is exact
    return result


def _loop_shape(offsets: np.ndarray) -> list[tuple[int, int]]:
    """Factor sorted run starts into nested (count, stride) loops, innermost last."""
    if offsets.size <= 1:
        return []
    stride = int(offsets[1])
    count = (
        int(np.argmax(np.diff(offsets) != stride)) + 1 if (np.diff(offsets) != stride).any() else offsets.size
    )
    outer = _loop_shape(offsets[::count])
    return [*outer, (count, stride)]


def skip_windows(model, input_shape: tuple[int, ...], layout: str | None = None) -> list[dict]:
    """For each skip merge of a U-Net: the skip's shape, its crop box, and the crop as address ranges."""
    rows = model.trace(tuple(input_shape))
    out = []
    for i, row in enumerate(rows):
        if row.layer != "Concat":
            continue
        up_channels = rows[i - 1].output_shape[1]
        box = row.crop
        spatial = box.size if box is not None else row.output_shape[2:]
        skip = (1, row.output_shape[1] - up_channels, *spatial)
        entry = {"merge": row.name, "skip_shape": list(skip), "pad_up": row.pad}
        if box is not None:
            entry["start"], entry["stop"] = list(box.start), list(box.stop)
            entry["range"] = crop_ranges(skip, box, layout)
        out.append(entry)
    return out


def _bound(entries: int) -> None:
    if entries > MAX_TABLE:
        raise ConvlabError(f"the address table would have {entries} entries, more than {MAX_TABLE}")
