"""The frames of each view, as panels of cell kinds, labels and highlights (see :mod:`._layout`).

Without values, cells carry names counted from 1 (``w1`` under the window,
``y3`` for the pixel it makes); with :class:`._values.Values` they carry the
input values, the products under the window and the exact outputs, and the
caption writes the sum out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .. import shapes
from ._layout import (
    DATA,
    Frame,
    Panel,
    Problem,
    conv_grid,
    on_grid,
    output_kinds,
    padded_title,
    pixels,
    scatter_canvas,
    size_text,
    stuffed_grid,
    stuffed_pads,
    taps,
)
from ._values import Values, short

Source = Callable[[tuple[int, int]], tuple[int, int]]  # a DATA cell of a grid -> its input pixel


def _output_panel(p: Problem, done: dict, current, labels: dict) -> Panel:
    panel = Panel(f"output {size_text(p.out, p.ndim)}", output_kinds(p), done=done)
    panel.current, panel.labels = {current}, labels
    return panel


def _input_labels(kinds, values: Values | None, source: Source) -> dict:
    if values is None:
        return {}
    return {
        (r, c): short(values.x[source((r, c))])
        for r, row in enumerate(kinds)
        for c, kind in enumerate(row)
        if kind == DATA
    }


def _sum_caption(y: str, terms: list[str], total: float | None, count: int) -> str:
    if total is None:
        return f"{y} = sum of the {count} products under the window"
    shown = " + ".join(terms) if terms else "0"
    return f"{y} = {shown} = {short(total)}" + (" (padding and zeros add 0)" if len(terms) < count else "")


def window_frames(p: Problem, kinds, title: str, flipped: bool, values: Values | None, source: Source):
    """One frame per output pixel of a window sweeping ``kinds`` (conv, or the zero-inserted grid)."""
    kh, kw = p.kernel
    # The flipped kernel sweeps the zero-inserted, re-padded grid at stride 1.
    wins = (
        p.windows
        if not flipped
        else tuple(shapes.Window(None, k, 1, d) for k, d in zip(p.kernel, p.dilation))
    )
    base = _input_labels(kinds, values, source)
    frames, done, out_labels = [], {}, {}
    for r, c in pixels(p.out):
        panel = Panel(title, kinds, labels=dict(base))
        terms = []
        for i, j in taps(p):
            cell = on_grid(wins, r, c, i, j)
            panel.window.add(cell)
            ti, tj = (kh - 1 - i, kw - 1 - j) if flipped else (i, j)
            if values is None:
                panel.labels[cell] = p.grid_name("w", (ti, tj), p.kernel)
            elif kinds[cell[0]][cell[1]] == DATA:
                x, w = values.x[source(cell)], values.w[ti, tj]
                panel.labels[cell], terms = short(x * w), [*terms, f"{short(x)}*{short(w)}"]
            else:
                panel.labels[cell] = "0"
        y = p.grid_name("y", (r, c), p.out)
        total = None if values is None else values.y[r, c]
        here = {(r, c): y if values is None else short(total)}
        caption = _sum_caption(y, terms, total, kh * kw)
        frames.append(Frame(caption, (panel, _output_panel(p, dict(done), (r, c), {**out_labels, **here}))))
        done[(r, c)] = 1
        out_labels.update(here if values is not None else {})
    return frames


def conv_frames(p: Problem, values: Values | None = None) -> list[Frame]:
    """The kernel window over the padded input: one frame per output pixel."""
    (rlo, _), (clo, _) = p.pads
    title = padded_title(f"input {size_text(p.size, p.ndim)}", p, p.pads)
    return window_frames(p, conv_grid(p), title, False, values, lambda rc: (rc[0] - rlo, rc[1] - clo))


def zero_insertion_frames(p: Problem, values: Values | None = None) -> list[Frame]:
    """The flipped kernel, stride 1, over the zero-stuffed, re-padded input."""
    (rlo, _), (clo, _) = stuffed_pads(p)
    (sr, sc) = p.stride
    what = "input with zeros inserted" if max(p.stride) > 1 else "input"
    title = padded_title(what, p, stuffed_pads(p)) + ", kernel flipped"
    source = lambda rc: ((rc[0] - rlo) // sr, (rc[1] - clo) // sc)  # noqa: E731
    return window_frames(p, stuffed_grid(p), title, True, values, source)


def scatter_frames(p: Problem, values: Values | None = None) -> list[Frame]:
    """Each input pixel pastes a kernel copy onto the uncropped output: one frame per input pixel."""
    canvas = scatter_canvas(p)
    cropped = any(v for pair in p.pads for v in pair)
    title = "output before cropping by padding" if cropped else f"output {size_text(p.out, p.ndim)}"
    sums: dict = {}
    counts: dict = {}
    frames = []
    for r, c in pixels(p.size):
        x = p.grid_name("x", (r, c), p.size)
        source = Panel(f"input {size_text(p.size, p.ndim)}", [[DATA] * p.size[1] for _ in range(p.size[0])])
        source.current = {(r, c)}
        source.labels = (
            _input_labels(source.kinds, values, lambda rc: rc) if values is not None else {(r, c): x}
        )
        source.done = {cell: 1 for cell in pixels(p.size) if cell < (r, c)}
        target = Panel(title, canvas, done=dict(counts))
        if values is not None:
            target.labels = {cell: short(v) for cell, v in sums.items()}
        elif any(n > 1 for n in counts.values()):
            target.labels = {cell: str(n) for cell, n in counts.items()}
        for i, j in taps(p):
            cell = on_grid(p.windows, r, c, i, j)
            target.window.add(cell)
            if values is None:
                target.labels[cell] = p.grid_name("w", (i, j), p.kernel)
            else:
                product = values.x[r, c] * values.w[i, j]
                target.labels[cell] = short(product)
                sums[cell] = sums.get(cell, 0.0) + product
            counts[cell] = counts.get(cell, 0) + 1
        if values is None:
            caption = f"{x} times the kernel, added onto the output (numbers: taps landed so far)"
        else:
            v = short(values.x[r, c])
            caption = f"{x} = {v}: {v} * kernel added onto the output (numbers: sums so far)"
        frames.append(Frame(caption, (source, target), "an input pixel and its kernel copy"))
    return frames


def pool_frames(p: Problem, values: Values, mode: str) -> list[Frame]:
    """The pooling window over the padded input, the maximum it keeps or the mean it takes."""
    kinds = conv_grid(p)
    (rlo, rhi), (clo, chi) = p.pads
    inside = (p.size[0] + rlo + rhi, p.size[1] + clo + chi)  # past this, ceil_mode's overhang: not counted
    source: Source = lambda rc: (rc[0] - rlo, rc[1] - clo)  # noqa: E731
    title = padded_title(f"input {size_text(p.size, p.ndim)}", p, p.pads)
    base = _input_labels(kinds, values, source)
    frames, done, out_labels = [], {}, {}
    for r, c in pixels(p.out):
        panel = Panel(title, kinds, labels=dict(base))
        read, divisor = [], 0
        for i, j in taps(p):
            cell = on_grid(p.windows, r, c, i, j)
            panel.window.add(cell)
            if kinds[cell[0]][cell[1]] == DATA:
                read.append((values.x[source(cell)], cell))
            elif mode == "avg" and cell[0] < inside[0] and cell[1] < inside[1]:
                panel.labels[cell] = "0"
            divisor += cell[0] < inside[0] and cell[1] < inside[1]
        y, total = p.grid_name("y", (r, c), p.out), values.y[r, c]
        if mode == "max" and not read:
            # A dilated window can fall wholly in the padding: PyTorch's maximum of nothing is -inf.
            caption = f"{y} = the maximum of no input pixel (only padding under the window) = {short(total)}"
        elif mode == "max":
            panel.picked = {max(read)[1]}
            caption = f"{y} = max({', '.join(short(v) for v, _ in read)}) = {short(total)}"
            caption += " (padding ignored)" if len(read) < len(panel.window) else ""
        else:
            terms = " + ".join(short(v) for v, _ in read) or "0"
            zeros = " + 0" * (
                divisor - len(read)
            )  # padding counts (count_include_pad), the overhang does not
            caption = f"{y} = ({terms}{zeros}) / {divisor} = {short(total)}"
        here = {(r, c): short(total)}
        frames.append(Frame(caption, (panel, _output_panel(p, dict(done), (r, c), {**out_labels, **here}))))
        done[(r, c)], out_labels = 1, {**out_labels, **here}
    return frames


def _channel_words(p: Problem, lead: int, group: int, reads, scatter: bool) -> tuple[str, str]:
    """``output channel 2`` and `` (group 2: input channels 3-4)``: what a frame of a stack computes."""
    if p.op == "pool":
        return f"channel {lead + 1}", ""  # pooled on its own
    if scatter:
        return f"input channel {lead + 1}", f" (group {group + 1})"
    first, last = min(reads) + 1, max(reads) + 1
    inputs = f"input channel {first}" if first == last else f"input channels {first}-{last}"
    return f"output channel {lead + 1}", f" (group {group + 1}: {inputs})"


def stacked(p: Problem, frames: list[Frame], scatter: bool) -> list[Frame]:
    """The frames once per output channel (per input channel when scattering), channels as planes.

    Plane ``i`` of a grid is channel ``i + 1``, front to back, coloured by its
    group; a frame's active planes are the channels its window reads and the
    one it writes (scattering: the input channel and every output channel of
    its group).
    """
    c_in, c_out, groups = p.channels
    if (c_in, c_out) == (1, 1):
        return frames
    group_in = tuple(i // (c_in // groups) for i in range(c_in))
    group_out = tuple(o // (c_out // groups) for o in range(c_out))
    out = []
    for lead in range(c_in if scatter else c_out):
        g = (group_in if scatter else group_out)[lead]
        reads = frozenset(i for i in range(c_in) if group_in[i] == g)
        writes = frozenset(o for o in range(c_out) if group_out[o] == g)
        active_in, active_out = (frozenset({lead}), writes) if scatter else (reads, frozenset({lead}))
        words, where = _channel_words(p, lead, g, reads, scatter)
        for f in frames:
            left, right = (dataclasses.replace(q) for q in f.panels)
            left.planes, left.active = group_in, active_in
            right.planes, right.active = group_out, active_out
            out.append(Frame(f"{words}{where}: {f.caption}", (left, right), f.window_words))
    return out
