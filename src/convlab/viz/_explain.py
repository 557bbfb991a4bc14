"""Worked examples as text: the arrays a person would write by hand, then the routes agreeing.

``explain`` prints, for small sizes, the input, the kernel, the matrix of
the operator (one row per window, ``.`` where there is no connection), the
operator's own picture (zero insertion and scatter for a transposed
convolution, the columns for unfold, the box for a crop) and one line per
equivalent formulation with its largest difference from
:mod:`convlab.functional`. Past :data:`MAX_COLUMNS` columns it prints a
summary instead of a wall of numbers.
"""

from __future__ import annotations

import itertools

import numpy as np

from .. import lowering
from ._layout import problem
from ._text import MAX_COLUMNS, MAX_ROWS, grid, matrix, names, num
from ._worked import Worked

AGREE = 1e-9  # integer data: every route is exact, so any difference at all is a disagreement


def title(op: str, p, channels: int) -> list[str]:
    """The layer with its parameters and the output size worked out, as the pictures title it."""
    from ._animate import header

    lines = header(p, "text")
    noun = "channel" if channels == 1 else "channels"
    lines[0] = lines[0].replace(": input", f", {channels} {noun}: input", 1)
    if op == "unfold":
        lines[0] = "unfold (im2col) for " + lines[0]
    return lines


def _per_channel(label: str, array: np.ndarray, letter: str | None) -> list[str]:
    """``array`` (C, *spatial): one grid per channel, names instead of numbers when ``letter``."""
    lines = []
    for c, plane in enumerate(array):
        head = label if len(array) == 1 else f"{label} channel {c}"
        cells = names(letter, plane.shape) if letter else plane
        lines += [head + ":", *grid(cells)]
    return lines


def _kernel(label: str, w: np.ndarray, letter: str | None, flipped: bool = False) -> list[str]:
    lines = []
    for o, i in itertools.product(range(w.shape[0]), range(w.shape[1])):
        head = label if w.shape[:2] == (1, 1) else f"{label} [{o}, {i}]"
        cells = names(letter, w.shape[2:]) if letter else w[o, i]
        if letter and flipped:
            cells = cells[(slice(None, None, -1),) * cells.ndim]
        lines += [head + ":", *grid(cells)]
    return lines


def _position_names(letter: str, channels: int, spatial: tuple[int, ...]) -> list[str]:
    base = list(names(letter, spatial).ravel())
    return base if channels == 1 else [f"{c}:{b}" for c in range(channels) for b in base]


def _weight_ids(w: np.ndarray) -> tuple[np.ndarray, dict]:
    # A weight holding 1, 2, 3, ... makes every matrix entry the id of its tap,
    # so the matrix can be printed with names: no two taps share a value.
    ids = np.arange(1.0, w.size + 1).reshape(w.shape)
    spatial = names("w", w.shape[2:]).ravel()
    return ids, {float(i + 1): spatial[i % len(spatial)] for i in range(w.size)}


def _matrix_lines(m, rows: list[str], cols: list[str], entry_names: dict | None) -> list[str]:
    dense = m.toarray()
    stored = np.zeros(dense.shape, dtype=bool)
    coo = m.tocoo()
    stored[coo.row, coo.col] = True
    return matrix(dense, stored, rows, cols, entry_names)


def _equations(m, rows: list[str], cols: list[str], entry_names: dict) -> list[str]:
    """``y00 = w00*x00 + w01*x01 + ...``: each output as the sum its matrix row spells."""
    m = m.tocsr()
    lines = []
    for r, name in enumerate(rows):
        start, stop = m.indptr[r], m.indptr[r + 1]
        terms = [
            f"{entry_names[float(v)]}*{cols[c]}" for c, v in zip(m.indices[start:stop], m.data[start:stop])
        ]
        lines.append(f"  {name} = " + (" + ".join(terms) if terms else "0"))
    return lines


def too_big(worked: Worked) -> bool:
    m = worked.matrix
    return m is not None and (m.shape[1] > MAX_COLUMNS or m.shape[0] > MAX_ROWS)


def summary(worked: Worked) -> list[str]:
    """Shapes, non-zeros and density instead of printing every entry."""
    m = worked.matrix
    lines = [f"  {key}: shape {tuple(a.shape)}" for key, a in worked.arrays.items()]
    nnz, (rows, cols) = m.nnz, m.shape
    lines.append(f"  matrix: {rows} x {cols}, {nnz} stored entries, density {nnz / (rows * cols):.4f}")
    lines.append(
        f"  (more than {MAX_COLUMNS} columns: too wide to print; try a smaller size to see every entry)"
    )
    return ["summary:", *lines]


def route_lines(worked: Worked, reference: str) -> list[str]:
    lines = [f"routes, each compared with {reference}:"]
    for route, diff in worked.routes:
        verdict = "agree" if diff <= AGREE else "DIFFER"
        lines.append(f"  {verdict:6}  max |diff| {num(diff) if np.isfinite(diff) else 'shape'}  {route}")
    ok = all(diff <= AGREE for _, diff in worked.routes)
    count = len(worked.routes)
    lines.append(
        ("the route agrees." if count == 1 else f"all {count} routes agree.") if ok else "some routes DIFFER."
    )
    return lines


def conv_text(worked: Worked, params: dict, symbolic: bool) -> str:
    """The text of ``explain conv`` and ``explain unfold``."""
    x, w, y = worked.arrays["x"], worked.arrays["w"], worked.arrays["y"]
    p = problem("conv", x.shape[1:], w.shape[2:], params["stride"], params["padding"], params["dilation"])
    lines = [*title(worked.op, p, x.shape[0]), ""]
    fn = f"convlab.functional.conv{worked.ndim}d"
    if too_big(worked):
        return "\n".join([*lines, *summary(worked), "", *route_lines(worked, fn)])
    lines += _per_channel("input x", x, "x" if symbolic else None)
    lines += _kernel("kernel w", w, "w" if symbolic else None)
    rows = _position_names("y", w.shape[0], y.shape[1:])
    cols = _position_names("x", x.shape[0], x.shape[1:])
    m, entry_names = worked.matrix, None
    if symbolic:
        ids, entry_names = _weight_ids(w)
        m = lowering.conv_matrix(x.shape, ids, **params)
    lines += [
        "",
        f"conv matrix M: {m.shape[0]} rows (one per window = output pixel) x {m.shape[1]} columns",
        "(input pixels); y.ravel() = M @ x.ravel()",
        "(. = no connection; 0 = a connection whose weight is 0)",
        *_matrix_lines(m, rows, cols, entry_names),
    ]
    if worked.op == "unfold":
        lines += _columns_lines(worked, symbolic, params)
    lines.append("")
    lines += ["output y, each row of M times x:", *_equations(m, rows, cols, entry_names)] if symbolic else []
    lines += [] if symbolic else _per_channel("output y = conv(x, w)", y, None)
    return "\n".join([*lines, "", *route_lines(worked, fn)])


def _columns_lines(worked: Worked, symbolic: bool, params: dict) -> list[str]:
    from ..functional import unfold

    x, w = worked.arrays["x"], worked.arrays["w"]
    cols = worked.arrays["columns"]
    windows = _position_names("y", 1, worked.arrays["y"].shape[1:])
    taps = [
        f"{c}:{t}" if x.shape[0] > 1 else t
        for c in range(x.shape[0])
        for t in names("w", w.shape[2:]).ravel()
    ]
    entry_names = None
    if symbolic:
        # Ids 1.. for the pixels, 0 for padding: the columns then name their pixels.
        ids = np.arange(1.0, x.size + 1).reshape(x.shape)
        cols = unfold(ids[None], w.shape[2:], **params)[0]
        entry_names = dict(zip(np.arange(1.0, x.size + 1), _position_names("x", x.shape[0], x.shape[1:])))
        entry_names[0.0] = "0"
    return [
        "",
        f"unfold(x): {cols.shape[0]} rows (channel, tap) x {cols.shape[1]} columns "
        "(one per window; 0 = padding)",
        *matrix(cols, np.ones(cols.shape, dtype=bool), taps, windows, entry_names),
        f"conv = w.reshape({w.shape[0]}, {cols.shape[0]}) @ unfold(x), "
        f"reshaped to {worked.arrays['y'].shape}",
    ]
