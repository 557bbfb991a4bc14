"""Which cell is what, frame by frame: the geometry behind every picture.

Pure integer work on top of :mod:`convlab.shapes`: a 1-D problem is lifted to
a single row of a 2-D one, so the drawing code only ever sees rows and
columns. Four views exist:

- ``conv`` (and ``pool``): the padded input, the (dilated) window sliding
  over it, one frame per output pixel.
- ``scatter``: a transposed convolution as each input pixel pasting a scaled
  copy of the kernel onto the output, one frame per input pixel. The canvas
  is the *uncropped* output; ``padding`` crops it afterwards.
- ``zero-insertion``: the same transposed convolution as a stride-1
  convolution of the flipped kernel over the input with ``stride - 1`` zeros
  between pixels, padded by ``dilation*(kernel_size-1) - padding`` (plus
  ``output_padding`` at the end); one frame per output pixel.

Cells are named by :mod:`convlab.viz._numbering` (``x1``, ``w1``, ``y1``,
counted from 1); with values, :mod:`convlab.viz._values` writes numbers
instead.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from .. import shapes
from .._args import ConvlabError, infer_ndim, padding_pairs, per_dim
from ._numbering import label

# Cell kinds, shared with the renderers' style table.
DATA, PAD, ZERO, OUT, CROP, OUTPAD = "data", "padding", "zero", "output", "cropped", "output_padding"

Cell = tuple[int, int]
OPS = ("conv", "convtranspose", "pool")


@dataclass(frozen=True)
class Problem:
    """One layer's parameters, canonical and two-dimensional (1-D is one row)."""

    op: str
    size: tuple[int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]
    dilation: tuple[int, int]
    output_padding: tuple[int, int]
    out: tuple[int, int]
    ndim: int
    working: tuple[str, ...]
    ceil_mode: bool = False
    channels: tuple[int, int, int] = (1, 1, 1)  # in_channels, out_channels, groups

    @property
    def windows(self) -> tuple[shapes.Window, shapes.Window]:
        """Rows' and columns' :class:`convlab.shapes.Window`: the coordinate map every picture draws."""
        return tuple(
            shapes.Window(n, k, s, d, pads, o, self.ceil_mode)
            for n, k, s, d, pads, o in zip(
                self.size, self.kernel, self.stride, self.dilation, self.pads, self.output_padding
            )
        )  # type: ignore[return-value]

    def grid_name(self, letter: str, rc: Cell, shape: tuple[int, int]) -> str:
        """``x1``-style name of cell ``rc`` of a grid of ``shape``, counted from 1 row by row."""
        return label(letter, rc[0] * shape[1] + rc[1])


MAX_CHANNELS = 8  # planes a picture stacks before they stop being countable


def problem(
    op,
    size,
    kernel_size,
    stride=1,
    padding=0,
    dilation=1,
    output_padding=0,
    *,
    ceil_mode=False,
    channels=None,
) -> Problem:
    """Validate a layer through :mod:`convlab.shapes` and lift it to two dimensions.

    Raises ``ConvlabError`` naming the parameter, as the operators do; three
    spatial dimensions are refused because a flat picture cannot show them.
    ``stride=None`` means 1, or ``kernel_size`` for pooling (PyTorch's rule);
    ``channels`` is ``(in_channels, out_channels, groups)``.
    """
    if op not in OPS:
        raise ConvlabError(f"op must be one of {', '.join(OPS)}, got op={op!r}")
    stride = (kernel_size if op == "pool" else 1) if stride is None else stride
    named = dict(size=size, kernel_size=kernel_size, stride=stride, dilation=dilation)
    if op == "convtranspose":
        named["output_padding"] = output_padding
    ndim = infer_ndim(padding=padding, **named) or 2
    if ndim == 3:
        raise ConvlabError("pictures are 1-D or 2-D; got 3 spatial dimensions in size or kernel_size")
    n = per_dim(size, "size", ndim, minimum=1)
    k = per_dim(kernel_size, "kernel_size", ndim, minimum=1)
    s = per_dim(stride, "stride", ndim, minimum=1)
    d = per_dim(dilation, "dilation", ndim, minimum=1)
    pads = padding_pairs(padding, ndim)
    if pads == "same" and op == "conv":
        pads = tuple(shapes.same_padding(n, k, s, d))
    if op == "pool" and (pads == "same" or any(lo != hi for lo, hi in pads)):
        raise ConvlabError(f"pooling pads both sides alike (as in PyTorch), got padding={padding!r}")
    op_ = per_dim(output_padding, "output_padding", ndim, minimum=0) if op == "convtranspose" else (0,) * ndim
    out, working = _sizes(op, n, k, s, pads, d, op_, ceil_mode)

    def lift(values, fill):
        return tuple(values) if ndim == 2 else (fill, *values)

    return Problem(
        op, lift(n, 1), lift(k, 1), lift(s, 1), lift(pads, (0, 0)), lift(d, 1), lift(op_, 0),
        lift(out, 1), ndim, working, bool(ceil_mode), _channels(op, channels),
    )  # fmt: skip


def _sizes(op: str, n, k, s, pads, d, op_, ceil_mode) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The output size from :mod:`convlab.shapes` (which validates), and its formula worked out."""
    if op == "conv":
        out = shapes.conv_output_size(n, k, s, pads, d)
    elif op == "pool":
        out = shapes.pool_output_size(n, k, s, pads, d, ceil_mode)
    else:
        out = shapes.conv_transpose_output_size(n, k, s, pads, op_, d)
    extra = (
        {"output_padding": op_} if op == "convtranspose" else {"ceil_mode": ceil_mode} if op == "pool" else {}
    )
    return out, shapes.size_working(op, n, k, s, pads, d, **extra)


def _channels(op: str, channels) -> tuple[int, int, int]:
    """``(in_channels, out_channels, groups)``, checked as ``nn.Conv2d`` does and small enough to draw."""
    if channels is None:
        return (1, 1, 1)
    c_in, c_out, groups = channels
    c_out = c_in if c_out is None else c_out
    for key, value in (("channels", c_in), ("out_channels", c_out), ("groups", groups)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{key} must be an int, got {key}={value!r}")
        if not 1 <= value <= MAX_CHANNELS:
            raise ConvlabError(
                f"{key} must be from 1 to {MAX_CHANNELS} in a picture (planes stop being countable), "
                f"got {key}={value}"
            )
    if op == "pool" and (c_out != c_in or groups != 1):
        raise ConvlabError(
            f"pooling keeps its channels: out_channels and groups apply to conv, got op={op!r}"
        )
    if op == "pool":
        return (c_in, c_in, c_in)  # each channel pooled on its own: as many groups as channels
    if c_in % groups or c_out % groups:
        raise ConvlabError(
            f"groups must divide channels and out_channels (as in nn.Conv2d), got channels={c_in}, "
            f"out_channels={c_out}, groups={groups}"
        )
    return (c_in, c_out, groups)


@dataclass
class Panel:
    """One grid of a frame: cell kinds, and what this frame points at.

    ``labels`` are the short texts written in cells (``w1``, ``x5``, counts,
    values); ``window`` the cells under the kernel; ``current`` the one cell
    being computed (or the input pixel being scattered); ``done`` cells
    already finished (value: a count or 1); ``picked`` the cell a max
    pooling keeps. ``planes`` stacks channels behind the grid: one group
    index per plane, and the planes this frame reads or writes in ``active``.
    """

    title: str
    kinds: list[list[str]]
    window: set[Cell] = field(default_factory=set)
    current: set[Cell] = field(default_factory=set)
    done: dict[Cell, int] = field(default_factory=dict)
    labels: dict[Cell, str] = field(default_factory=dict)
    picked: set[Cell] = field(default_factory=set)
    planes: tuple[int, ...] = (0,)
    active: frozenset[int] = frozenset({0})

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.kinds), len(self.kinds[0])


@dataclass
class Frame:
    """One picture of a sequence: a caption and two panels, left to right, the highlight linking them."""

    caption: str
    panels: tuple[Panel, Panel]
    window_words: str = "window and the output pixel it makes"


def _grid(rows: int, cols: int, kind_of) -> list[list[str]]:
    return [[kind_of(r, c) for c in range(cols)] for r in range(rows)]


def _combine(a: str, b: str) -> str:
    # A 2-D cell is padding if either coordinate is, else a zero if either is.
    for kind in (PAD, ZERO, CROP, OUTPAD):
        if kind in (a, b):
            return kind
    return a


def _axis_kinds_conv(n: int, lo: int, hi: int, length: int | None = None) -> list[str]:
    # Pooling with ceil_mode may read past the right padding: those positions are drawn as padding too.
    return [DATA if lo <= p < lo + n else PAD for p in range(max(lo + n + hi, length or 0))]


def _axis_kinds_stuffed(n: int, s: int, lo: int, hi: int) -> list[str]:
    # Virtual position v reads stuffed index u = v - lo; negative lo crops.
    length = (n - 1) * s + 1
    kinds = []
    for v in range(max(0, length + lo + hi)):
        u = v - lo
        kinds.append(PAD if not 0 <= u < length else (DATA if u % s == 0 else ZERO))
    return kinds


def stuffed_pads(p: Problem) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding of the zero-inserted input: ``d*(k-1) - lo`` before, ``d*(k-1) - hi + op`` after."""
    return tuple(w.stuffed_padding for w in p.windows)  # type: ignore[return-value]


def on_grid(windows, r: int, c: int, i: int, j: int) -> Cell:
    """Where window ``(r, c)``'s tap ``(i, j)`` lands on a grid that starts with the padding before."""
    return windows[0].index(r, i) + windows[0].lo, windows[1].index(c, j) + windows[1].lo


def size_text(size: tuple[int, int], ndim: int) -> str:
    return str(size[1]) if ndim == 1 else f"{size[0]}x{size[1]}"


def output_kinds(p: Problem) -> list[list[str]]:
    """The output grid; the last ``output_padding`` rows and columns of a transposed conv marked apart."""
    (rows, cols), (opr, opc) = p.out, p.output_padding
    return _grid(rows, cols, lambda r, c: OUTPAD if r >= rows - opr or c >= cols - opc else OUT)


def padded_title(what: str, p: Problem, pads) -> str:
    """``input 5x5 + padding`` only when some padding exists; a negative one crops instead."""
    if any(v > 0 for pair in pads for v in pair):
        what += " + padding"
    if any(v < 0 for pair in pads for v in pair):
        what += ", cropped"
    return what


def conv_grid(p: Problem) -> list[list[str]]:
    """The padded input of a conv or pooling, long enough for every window (pooling's ceil_mode)."""
    ends = [w.index(o - 1, w.kernel - 1) + w.lo + 1 for o, w in zip(p.out, p.windows)]
    rows = _axis_kinds_conv(p.size[0], *p.pads[0], ends[0])
    cols = _axis_kinds_conv(p.size[1], *p.pads[1], ends[1])
    return [[_combine(a, b) for b in cols] for a in rows]


def stuffed_grid(p: Problem) -> list[list[str]]:
    """The zero-inserted input, padded by ``d*(k-1) - padding`` (cropped where that is negative)."""
    (rlo, rhi), (clo, chi) = stuffed_pads(p)
    rows = _axis_kinds_stuffed(p.size[0], p.stride[0], rlo, rhi)
    cols = _axis_kinds_stuffed(p.size[1], p.stride[1], clo, chi)
    return [[_combine(a, b) for b in cols] for a in rows]


def _axis_kinds_canvas(full: int, lo: int, out: int, extra: int) -> list[str]:
    # Uncropped positions q; the output keeps lo <= q < lo + out, the last
    # ``extra`` of them added by output_padding (something may land there or not).
    def kind(q: int) -> str:
        if not lo <= q < lo + out:
            return CROP
        return OUTPAD if q >= lo + out - extra else OUT

    return [kind(q) for q in range(max(full, lo + out))]


def scatter_canvas(p: Problem) -> list[list[str]]:
    """The uncropped output of a transposed conv: what padding crops, what output_padding adds."""
    full = [w.index(n - 1, w.kernel - 1) + w.lo + 1 for n, w in zip(p.size, p.windows)]
    rows = _axis_kinds_canvas(full[0], p.pads[0][0], p.out[0], p.output_padding[0])
    cols = _axis_kinds_canvas(full[1], p.pads[1][0], p.out[1], p.output_padding[1])
    return [[_combine(a, b) for b in cols] for a in rows]


def taps(p: Problem):
    """Every kernel tap ``(i, j)``, row-major."""
    return itertools.product(range(p.kernel[0]), range(p.kernel[1]))


def pixels(shape: tuple[int, int]):
    """Every cell of a grid of ``shape``, row-major."""
    return itertools.product(range(shape[0]), range(shape[1]))
