"""Which cell is what, frame by frame: the geometry behind every picture.

Pure integer work on top of :mod:`convlab.shapes`: a 1-D problem is lifted to
a single row of a 2-D one, so the drawing code only ever sees rows and
columns. Three views exist:

- ``conv``: the padded input, the (dilated) kernel window sliding over it,
  one frame per output pixel.
- ``scatter``: a transposed convolution as each input pixel pasting a scaled
  copy of the kernel onto the output, one frame per input pixel. The canvas
  is the *uncropped* output; ``padding`` crops it afterwards.
- ``zero-insertion``: the same transposed convolution as a stride-1
  convolution of the flipped kernel over the input with ``stride - 1`` zeros
  between pixels, padded by ``dilation*(kernel_size-1) - padding`` (plus
  ``output_padding`` at the end); one frame per output pixel.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from .. import shapes
from .._args import ConvlabError, infer_ndim, padding_pairs, per_dim

# Cell kinds, shared with the renderers' style table.
DATA, PAD, ZERO, OUT, CROP, OUTPAD = "data", "padding", "zero", "output", "cropped", "output_padding"

Cell = tuple[int, int]


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

    @property
    def windows(self) -> tuple[shapes.Window, shapes.Window]:
        """Rows' and columns' :class:`convlab.shapes.Window`: the coordinate map every picture draws."""
        return tuple(
            shapes.Window(n, k, s, d, pads, o)
            for n, k, s, d, pads, o in zip(
                self.size, self.kernel, self.stride, self.dilation, self.pads, self.output_padding
            )
        )  # type: ignore[return-value]


def problem(op, size, kernel_size, stride=1, padding=0, dilation=1, output_padding=0) -> Problem:
    """Validate a layer through :mod:`convlab.shapes` and lift it to two dimensions.

    Raises ``ConvlabError`` naming the parameter, as the operators do; three
    spatial dimensions are refused because a flat picture cannot show them.
    """
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
        same = shapes.same_padding(n, k, s, d)
        pads = tuple(same)
    op_ = per_dim(output_padding, "output_padding", ndim, minimum=0)
    if op == "conv":
        out = shapes.conv_output_size(n, k, s, pads, d)
    else:
        out = shapes.conv_transpose_output_size(n, k, s, pads, op_, d)
    working = shapes.size_working(op, n, k, s, pads, d, **({"output_padding": op_} if op != "conv" else {}))

    def lift(values, fill):
        return tuple(values) if ndim == 2 else (fill, *values)

    return Problem(
        op, lift(n, 1), lift(k, 1), lift(s, 1), lift(pads, (0, 0)), lift(d, 1), lift(op_, 0),
        lift(out, 1), ndim, working,
    )  # fmt: skip


@dataclass
class Panel:
    """One grid of a frame: cell kinds, and what this frame points at.

    ``labels`` are the short texts written in cells (``w01``, ``x10``,
    counts); ``window`` the cells under the kernel; ``current`` the one cell
    being computed; ``done`` cells already finished (value: a count or 1).
    """

    title: str
    kinds: list[list[str]]
    window: set[Cell] = field(default_factory=set)
    current: set[Cell] = field(default_factory=set)
    done: dict[Cell, int] = field(default_factory=dict)
    labels: dict[Cell, str] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.kinds), len(self.kinds[0])


@dataclass
class Frame:
    """One picture of a sequence: a caption and two panels, left to right."""

    caption: str
    panels: tuple[Panel, Panel]
    window_words: str = "under the kernel"


def name(letter: str, r: int, c: int, ndim: int) -> str:
    """``w01``-style names; 1-D problems drop the row, wide indices get a comma."""
    if ndim == 1:
        return f"{letter}{c}"
    return f"{letter}{r}{c}" if r < 10 and c < 10 else f"{letter}{r},{c}"


def _grid(rows: int, cols: int, kind_of) -> list[list[str]]:
    return [[kind_of(r, c) for c in range(cols)] for r in range(rows)]


def _combine(a: str, b: str) -> str:
    # A 2-D cell is padding if either coordinate is, else a zero if either is.
    for kind in (PAD, ZERO, CROP, OUTPAD):
        if kind in (a, b):
            return kind
    return a


def _axis_kinds_conv(n: int, lo: int, hi: int) -> list[str]:
    return [DATA if lo <= p < lo + n else PAD for p in range(lo + n + hi)]


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


def _on_grid(windows, r: int, c: int, i: int, j: int) -> Cell:
    """Where window ``(r, c)``'s tap ``(i, j)`` lands on a grid that starts with the padding before."""
    return windows[0].index(r, i) + windows[0].lo, windows[1].index(c, j) + windows[1].lo


def _output_panel(p: Problem, done: dict, current: Cell, label: str) -> Panel:
    panel = Panel(f"output {_size(p.out, p.ndim)}", _grid(*p.out, lambda r, c: OUT))
    panel.done, panel.current, panel.labels = done, {current}, {current: label}
    return panel


def _size(size: tuple[int, int], ndim: int) -> str:
    return str(size[1]) if ndim == 1 else f"{size[0]}x{size[1]}"


def _windows(p: Problem, rows_kinds, cols_kinds, title: str, flipped: bool) -> list[Frame]:
    """One frame per output pixel of a stride-``stride`` sweep over the grid given per axis."""
    kinds = [[_combine(a, b) for b in cols_kinds] for a in rows_kinds]
    kh, kw = p.kernel
    # The flipped kernel sweeps the zero-inserted, re-padded grid at stride 1.
    wins = (
        p.windows
        if not flipped
        else tuple(shapes.Window(None, k, 1, d) for k, d in zip(p.kernel, p.dilation))
    )
    frames, done = [], {}
    for r, c in itertools.product(range(p.out[0]), range(p.out[1])):
        panel = Panel(title, kinds)
        for i, j in itertools.product(range(kh), range(kw)):
            cell = _on_grid(wins, r, c, i, j)
            panel.window.add(cell)
            ti, tj = (kh - 1 - i, kw - 1 - j) if flipped else (i, j)
            panel.labels[cell] = name("w", ti, tj, p.ndim)
        y = name("y", r, c, p.ndim)
        caption = f"{y} = sum of the {kh * kw} products under the window"
        frames.append(Frame(caption, (panel, _output_panel(p, dict(done), (r, c), y))))
        done[(r, c)] = 1
    return frames


def conv_frames(p: Problem) -> list[Frame]:
    """The kernel window over the padded input: one frame per output pixel."""
    rows = _axis_kinds_conv(p.size[0], *p.pads[0])
    cols = _axis_kinds_conv(p.size[1], *p.pads[1])
    return _windows(p, rows, cols, f"input {_size(p.size, p.ndim)} + padding", flipped=False)


def zero_insertion_frames(p: Problem) -> list[Frame]:
    """The flipped kernel, stride 1, over the zero-stuffed, re-padded input."""
    (rlo, rhi), (clo, chi) = stuffed_pads(p)
    rows = _axis_kinds_stuffed(p.size[0], p.stride[0], rlo, rhi)
    cols = _axis_kinds_stuffed(p.size[1], p.stride[1], clo, chi)
    title = "input with zeros inserted + padding, kernel flipped"
    return _windows(p, rows, cols, title, flipped=True)


def _axis_kinds_canvas(full: int, lo: int, out: int) -> list[str]:
    # Uncropped positions q; the output keeps lo <= q < lo + out, and anything
    # past the last landing position (full) is output_padding: nothing lands.
    return [
        (OUTPAD if q >= full else OUT) if lo <= q < lo + out else CROP for q in range(max(full, lo + out))
    ]


def scatter_frames(p: Problem) -> list[Frame]:
    """Each input pixel pastes a kernel copy onto the uncropped output: one frame per input pixel."""
    full = [w.index(n - 1, w.kernel - 1) + w.lo + 1 for n, w in zip(p.size, p.windows)]
    rows = _axis_kinds_canvas(full[0], p.pads[0][0], p.out[0])
    cols = _axis_kinds_canvas(full[1], p.pads[1][0], p.out[1])
    canvas = [[_combine(a, b) for b in cols] for a in rows]
    kh, kw = p.kernel
    counts: dict[Cell, int] = {}
    frames = []
    for r, c in itertools.product(range(p.size[0]), range(p.size[1])):
        x = name("x", r, c, p.ndim)
        source = Panel(f"input {_size(p.size, p.ndim)}", _grid(*p.size, lambda *_: DATA))
        source.current, source.labels = {(r, c)}, {(r, c): x}
        source.done = {cell: 1 for cell in itertools.product(range(r + 1), range(p.size[1])) if cell < (r, c)}
        target = Panel("output before cropping by padding", canvas, done=dict(counts))
        for i, j in itertools.product(range(kh), range(kw)):
            cell = _on_grid(p.windows, r, c, i, j)
            target.window.add(cell)
            target.labels[cell] = name("w", i, j, p.ndim)
            counts[cell] = counts.get(cell, 0) + 1
        caption = f"{x} times the kernel, added onto the output (numbers: taps landed so far)"
        frames.append(Frame(caption, (source, target), f"{x}'s kernel copy"))
    return frames
