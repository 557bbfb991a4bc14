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
from .._limits import check_memory
from ..shapes import CropBox, Window, center_crop_box, same_padding
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


def _address_map(shape: tuple[int, ...], layout: str) -> np.ndarray:
    """Channels-first array holding each element's word address in ``layout``."""
    parsed = Layout.parse(layout or channels_first(len(shape)))
    ordered_shape = parsed.shape(shape)
    index = np.full(math.prod(shape), -1, np.int64)
    marks = to_layout(np.arange(1, math.prod(shape) + 1).reshape(shape), parsed).reshape(-1)
    index[marks[marks > 0] - 1] = np.flatnonzero(marks > 0)
    assert math.prod(ordered_shape) == marks.size  # invariant of to_layout
    return index.reshape(shape)


def _windows(spatial, kernel_size, stride, padding, dilation, output_padding=0) -> list[Window]:
    """One :class:`convlab.shapes.Window` per spatial dimension, ``'same'``/``'valid'`` resolved."""
    nd = len(spatial)
    k = per_dim(kernel_size, "kernel_size", nd, minimum=1)
    s, d = per_dim(stride, "stride", nd, minimum=1), per_dim(dilation, "dilation", nd, minimum=1)
    pads = padding_pairs(padding, nd)
    if pads == "same":
        pads = tuple(same_padding(spatial[i], k[i], s[i], d[i]) for i in range(nd))
    elif pads == "valid":
        pads = ((0, 0),) * nd
    op = per_dim(output_padding, "output_padding", nd, minimum=0)
    return [Window(spatial[i], k[i], s[i], d[i], tuple(pads[i]), op[i]) for i in range(nd)]


def _gather(input_shape, windows: list[Window], out: tuple[int, ...], coords_of, layout) -> np.ndarray:
    """``(*out, C, *kernel)`` addresses of the input positions ``coords_of(window, o, t)`` (-1: none)."""
    _, c, *spatial = input_shape
    nd = len(windows)
    kernel = [w.kernel for w in windows]
    _bound(math.prod(out) * c * math.prod(kernel))
    where = _address_map(tuple(input_shape), layout)[0]
    grids = np.meshgrid(*[np.arange(o) for o in out], *[np.arange(k) for k in kernel], indexing="ij")
    hits = [coords_of(w, grids[i], grids[nd + i]) for i, w in enumerate(windows)]
    inside = np.all([ok & (x >= 0) & (x < n) for (x, ok), n in zip(hits, spatial)], axis=0)
    clipped = [np.clip(x, 0, n - 1) for (x, _), n in zip(hits, spatial)]
    table = np.where(inside[None], where[(slice(None), *clipped)], -1)
    return np.moveaxis(table, 0, nd)


def conv_reads(
    input_shape: tuple[int, ...], kernel_size, *, stride=1, padding=0, dilation=1, layout: str | None = None
) -> np.ndarray:
    """The input word addresses each output pixel of a convolution reads, ``-1`` for padding.

    Returns an array ``(*out_spatial, C_in, *kernel)``: for output pixel
    ``o``, channel ``c`` and tap ``t`` the address of input
    ``Window.index(o, t) = o * stride + t * dilation - padding_lo`` of batch 0.

    >>> conv_reads((1, 1, 3, 3), 3, padding=1)[0, 0, 0].tolist()
    [[-1, -1, -1], [-1, 0, 1], [-1, 3, 4]]
    """
    windows = _windows(input_shape[2:], kernel_size, stride, padding, dilation)
    out = tuple(w.conv_output for w in windows)
    return _gather(input_shape, windows, out, lambda w, o, t: (w.index(o, t), True), layout)


def conv_transpose_reads(
    input_shape: tuple[int, ...],
    kernel_size,
    *,
    stride=1,
    padding=0,
    output_padding=0,
    dilation=1,
    layout: str | None = None,
) -> np.ndarray:
    """The input addresses each output pixel of a transposed convolution gathers, ``-1`` where none.

    Input ``i`` scatters through tap ``t`` onto output ``Window.index(i, t)``;
    gathering inverts it: output ``o`` takes ``i = (o - index(0, t)) / stride``
    when the division is exact and ``i`` lies in the input. That is what
    hardware without zero insertion reads. Returns ``(*out_spatial, C_in, *kernel)``.

    >>> conv_transpose_reads((1, 1, 2), 2, stride=2)[:, 0].tolist()
    [[0, -1], [-1, 0], [1, -1], [-1, 1]]
    """
    windows = _windows(input_shape[2:], kernel_size, stride, padding, dilation, output_padding)
    out = tuple(w.transpose_output for w in windows)

    def source(w: Window, o, t):
        i, rest = np.divmod(o - w.index(0, t), w.stride)
        return i, rest == 0

    return _gather(input_shape, windows, out, source, layout)


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
    """The crop window ``box`` of batch 0 of a skip tensor, all channels, as one :class:`StridedRange`.

    Every address of a layout is a sum of per-axis strides, so the window is
    a nest of loops; inner loops that cover their axis whole merge into the
    contiguous run. A channel-blocked layout whose block does not divide the
    channels would read padding channels too and is refused.

    >>> crop_ranges((1, 2, 6, 6), center_crop_box((6, 6), 4), "NHWC")
    StridedRange(start=14, run=8, loops=((4, 12),))
    """
    if box.padded:
        raise ConvlabError(f"the crop {box.output_size} is larger than the skip {box.size}: no address range")
    parsed = Layout.parse(layout or channels_first(len(skip_shape)))
    if skip_shape[1] % parsed.block:
        raise ConvlabError(f"layout {parsed} pads {skip_shape[1]} channels to its block: no single range")
    sizes = parsed.shape(tuple(skip_shape))
    strides = [math.prod(sizes[i + 1 :]) for i in range(len(sizes))]
    spatial = dict(zip("DHW"[-len(box.start) :], zip(box.start, box.stop)))
    loops, start = [], 0
    for letter, size, stride in zip(parsed.letters, sizes, strides):
        lo, hi = spatial.get(letter, (0, 1 if letter == "N" else size))
        start += lo * stride
        if hi - lo > 1:
            loops.append((hi - lo, stride))
    run = 1
    while loops and loops[-1][1] == run:
        run *= loops.pop()[0]
    return StridedRange(start, run, tuple(loops))


def skip_windows(model, input_shape: tuple[int, ...], layout: str | None = None) -> list[dict]:
    """For each skip merge of a U-Net, bottom first: the skip's shape, crop box and crop addresses.

    ``model`` is any U-Net of :mod:`convlab.models` (its shape-only trace is
    read, so every layout's own crop rule applies), or a
    :class:`convlab.models.UNetConfig`, which needs no weights.
    Each dict has ``merge``, ``skip_shape`` and ``pad_up`` (the padding of
    the up-sampled features, when the skip is not cropped) or ``start``,
    ``stop``, ``last`` (the top-left and bottom-right pixels of the crop are
    ``start`` and ``last``) and ``range`` (a :class:`StridedRange`).

    >>> from convlab.models import UNetConfig
    >>> skip_windows(UNetConfig(), (1, 1, 572, 572))[-1]["range"]
    StridedRange(start=50072, run=392, loops=((64, 322624), (392, 568)))
    """
    if hasattr(model, "trace"):
        merges = _traced_merges(model.trace(tuple(input_shape)))
    else:
        merges = _config_merges(model, tuple(input_shape))
    out = []
    for name, skip, box, pad in merges:
        entry = {"merge": name, "skip_shape": list(skip), "pad_up": pad}
        if box is not None:
            entry["start"], entry["stop"] = list(box.start), list(box.stop)
            entry["last"] = [b - 1 for b in box.stop]  # the bottom-right pixel, inclusive
            entry["range"] = crop_ranges(skip, box, layout)
        out.append(entry)
    return out


def _traced_merges(rows) -> list[tuple]:
    merges = []
    for i, row in enumerate(rows):
        if row.layer == "Concat":
            up_channels = rows[i - 1].output_shape[1]
            spatial = row.crop.size if row.crop is not None else row.output_shape[2:]
            skip = (1, row.output_shape[1] - up_channels, *spatial)
            merges.append((row.name, skip, row.crop, row.pad))
    return merges


def _config_merges(config, input_shape: tuple[int, ...]) -> list[tuple]:
    sizes = config.sizes(input_shape[2:])
    merges = []
    for level in reversed(sizes.levels[: config.depth]):
        skip = (1, config.channels[level.level], *level.encoder[-1])
        merges.append((f"up{level.level}.merge", skip, level.skip_crop, level.skip_pad))
    return merges


def _bound(entries: int) -> None:
    # The table, its index grids and the layout's address map: about four int64 arrays of this size.
    check_memory(32 * entries, f"an address table of {entries} entries")
