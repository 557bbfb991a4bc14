"""Worked examples of a transposed convolution and of a center crop, as text."""

from __future__ import annotations

import itertools

import numpy as np

from ._explain import (
    _equations,
    _kernel,
    _matrix_lines,
    _per_channel,
    _position_names,
    _weight_ids,
    route_lines,
    summary,
    title,
    too_big,
)
from ._layout import DATA, PAD, ZERO, _axis_kinds_stuffed, _combine, problem
from ._text import grid, names, num, side_by_side
from ._worked import Worked, transpose_matrix

MARK = {PAD: ".", ZERO: "_"}


def _axis_sources(n: int, s: int, lo: int, hi: int) -> list[tuple[str, int]]:
    """Per virtual position of the stuffed, padded axis: its kind and the input index it holds."""
    return [(kind, (v - lo) // s) for v, kind in enumerate(_axis_kinds_stuffed(n, s, lo, hi))]


def _stuffed_lines(worked: Worked, p, symbolic: bool) -> list[str]:
    """The zero-inserted, padded input: data, ``_`` for inserted zeros, ``.`` for padding."""
    x = worked.arrays["x"]
    axes = [_axis_sources(n, s, lo, hi) for n, s, (lo, hi) in zip(p.size, p.stride, p.stuffed_padding)]
    xnames = names("x", x.shape[1:]).reshape(p.size)
    lines = []
    for c, plane in enumerate(x):
        plane2 = plane.reshape(p.size)
        cells = np.empty((len(axes[0]), len(axes[1])), dtype=object)
        for (r, (kr, ir)), (q, (kc, ic)) in itertools.product(enumerate(axes[0]), enumerate(axes[1])):
            kind = _combine(kr, kc)
            if kind != DATA:
                cells[r, q] = MARK[kind]
            else:
                cells[r, q] = xnames[ir, ic] if symbolic else num(plane2[ir, ic])
        head = "zero-inserted, padded input" + (f" channel {c}" if len(x) > 1 else "")
        lines += [head + ":", *grid(cells if x.ndim == 3 else cells[0])]
    return lines


def _scatter_blocks(worked: Worked, symbolic: bool) -> list[list[str]]:
    """For each input pixel, the output with that pixel's kernel copy on it (channel 0 to 0)."""
    x, w, y = worked.arrays["x"][0], worked.arrays["w"][0, 0], worked.arrays["y"][0]
    p = worked.extra["problem"]
    x2, w2 = x.reshape(p.size), w.reshape(p.kernel)
    wnames = names("w", w.shape).reshape(p.kernel)
    xnames = names("x", x.shape).reshape(p.size)
    rows, cols = p.windows
    blocks = []
    for r, c in itertools.product(range(p.size[0]), range(p.size[1])):
        canvas = np.full(p.out, ".", dtype=object)
        outside = 0
        for i, j in itertools.product(range(p.kernel[0]), range(p.kernel[1])):
            orow, ocol = rows.index(r, i), cols.index(c, j)
            if 0 <= orow < p.out[0] and 0 <= ocol < p.out[1]:
                canvas[orow, ocol] = wnames[i, j] if symbolic else num(x2[r, c] * w2[i, j])
            else:
                outside += 1
        label = xnames[r, c] if symbolic else f"{xnames[r, c]}={num(x2[r, c])}"
        note = f" ({outside} cropped)" if outside else ""
        blocks.append([f"{label} * w{note}", *grid(canvas if y.ndim == 2 else canvas[0])])
    return blocks


def _phase_lines(phases, stride: tuple[int, ...]) -> list[str]:
    lines = [f"stride phases: {len(phases)} stride-1 convolutions, each filling every stride-th output pixel"]
    for ph in phases:
        where = ", ".join(f"{o}::{s}" for o, s in zip(ph.offset, stride))
        taps = " x ".join("(" + ", ".join(map(str, t)) + ")" for t in ph.taps) or "none"
        lines.append(f"  outputs [{where}] ({'x'.join(map(str, ph.size))} pixels) use kernel taps {taps}")
    return lines


def transpose_text(worked: Worked, params: dict, symbolic: bool) -> str:
    """The text of ``explain convtranspose``."""
    x, w, y = worked.arrays["x"], worked.arrays["w"], worked.arrays["y"]
    p = problem("convtranspose", x.shape[1:], w.shape[2:], params["stride"], params["padding"],
                params["dilation"], params["output_padding"])  # fmt: skip
    lines = [*title("convtranspose", p, x.shape[0]), ""]
    fn = f"convlab.functional.conv_transpose{worked.ndim}d"
    if too_big(worked):
        return "\n".join([*lines, *summary(worked), "", *route_lines(worked, fn)])
    letter = "x" if symbolic else None
    lines += [*_per_channel("input x", x, letter), *_kernel("kernel w", w, "w" if symbolic else None), ""]
    worked.extra["problem"] = p
    lines += ["scatter: each input pixel adds (pixel * kernel) onto the output at stride steps;",
              "taps that fall in the padding are cropped (. = nothing from this pixel)"]  # fmt: skip
    lines += [*side_by_side(_scatter_blocks(worked, symbolic)), ""]
    pads = " x ".join(f"({lo}, {hi})" for lo, hi in worked.extra["stuffed_padding"])
    lines += [
        f"zero insertion: stride-1 zeros between pixels (_), padding {pads} (.)",
        "= dilation*(k-1) - padding (+ output_padding at the end); then a stride-1 conv, flipped kernel",
    ]
    stuffed = _stuffed_lines(worked, _Stuffed(p, worked.extra["stuffed_padding"]), symbolic)
    if symbolic:
        flipped = _kernel("flipped kernel", w, "w", flipped=True)
    else:
        flipped = _kernel("flipped kernel", worked.arrays["flipped"], None)
    lines += side_by_side([stuffed, flipped])
    lines += ["", *_transpose_matrix_lines(worked, params, symbolic), ""]
    lines += _per_channel("output y = conv_transpose(x, w)", y, None)
    stride = p.stride if p.ndim == 2 else p.stride[1:]
    lines += ["", *_phase_lines(worked.extra["phases"], stride)]
    return "\n".join([*lines, "", *route_lines(worked, fn)])


class _Stuffed:
    """The 2-D-lifted problem with the stuffed padding, for :func:`_stuffed_lines`."""

    def __init__(self, p, pads):
        lift = (lambda v: v) if p.ndim == 2 else (lambda v: ((0, 0), *v))
        self.size, self.stride, self.stuffed_padding = p.size, p.stride, lift(tuple(pads))


def _transpose_matrix_lines(worked: Worked, params: dict, symbolic: bool) -> list[str]:
    x, w, y = worked.arrays["x"], worked.arrays["w"], worked.arrays["y"]
    rows = _position_names("y", y.shape[0], y.shape[1:])
    cols = _position_names("x", x.shape[0], x.shape[1:])
    m, entry_names = worked.matrix, None
    if symbolic:
        ids, entry_names = _weight_ids(w)
        m = transpose_matrix(y.shape, ids, x.shape[1:], params)
    lines = [
        f"transposed-conv matrix M.T: {m.shape[0]} rows (output pixels) x {m.shape[1]} columns "
        "(input pixels);",
        "M is the matrix of the conv from the output back to the input; y.ravel() = M.T @ x.ravel()",
        *_matrix_lines(m, rows, cols, entry_names),
    ]
    if symbolic:
        lines += ["each output, a row of M.T times x:", *_equations(m, rows, cols, entry_names)]
    return lines


def crop_text(worked: Worked, symbolic: bool) -> str:
    """The text of ``explain crop``: the box torchvision's center_crop takes, on numbered pixels."""
    box = worked.extra["box"]
    x, y = worked.arrays["x"], worked.arrays["y"]
    size, out = "x".join(map(str, box.size)), "x".join(map(str, box.output_size))
    lines = [
        f"center_crop {size} -> {out} (torchvision's rule: start = round((size - crop) / 2), half to even)"
    ]
    for dim, (n, o, (lo, hi), a, b) in enumerate(
        zip(box.size, box.output_size, box.pad, box.start, box.stop)
    ):
        axis = ("rows", "cols")[dim] if len(box.size) == 2 else "size"
        pad = f"; zero padding ({lo}, {hi}) first" if lo or hi else ""
        lines.append(f"  {axis}: {n} -> {o}: take {a}..{b - 1} of the padded image{pad}")
    if max(box.size) > 40:
        return "\n".join([*lines, "", *route_lines(worked, "convlab.transforms.center_crop")])
    padded = np.pad(x[0], box.pad)
    cells = np.pad(names("x", box.size), box.pad, constant_values="0") if symbolic else padded
    inside = np.zeros(padded.shape, dtype=bool)
    inside[box.slices] = True
    marked = np.where(
        inside, np.vectorize(lambda v: v if isinstance(v, str) else num(v), otypes=[object])(cells), "."
    )
    lines += ["", "the image (. = left out):" if not box.padded else "the padded image (. = left out):"]
    lines += grid(marked)
    lines += ["", *_per_channel("the crop", y, None)]
    return "\n".join([*lines, "", *route_lines(worked, "convlab.transforms.center_crop")])
