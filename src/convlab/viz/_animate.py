"""The conv_arithmetic-style animations: one frame per output or input pixel."""

from __future__ import annotations

import os

from .._args import ConvlabError
from ._compose import Section
from ._files import picture_format
from ._frames import conv_frames, pool_frames, scatter_frames, stacked, zero_insertion_frames
from ._layout import Problem, conv_grid, problem, scatter_canvas, stuffed_grid, stuffed_pads
from ._notebook import Animation
from ._output import check_budget, frame_duration, write_picture
from ._scene import check_grid
from ._values import compute

VIEWS = ("both", "scatter", "zero-insertion")
POOL_MODES = ("max", "avg")


def _pair(values: tuple, p: Problem, *, full: bool = False) -> str:
    """``3`` (or ``3x3`` for sizes) when equal per dimension, ``3x5`` when not; pads as ``(lo, hi)``."""
    if p.ndim == 1:
        values = values[1:]
    if all(isinstance(v, tuple) for v in values):
        if not all(lo == hi for lo, hi in values):
            pairs = [f"({lo}, {hi})" for lo, hi in values]
            return pairs[0] if len(set(pairs)) == 1 else " x ".join(pairs)
        values = tuple(lo for lo, _ in values)
    return str(values[0]) if len(set(values)) == 1 and not full else "x".join(map(str, values))


def header(p: Problem, pool_mode: str = "max") -> list[str]:
    """Title lines: the layer with its parameters, then the size formula worked per dimension."""
    name = {"conv": "conv", "convtranspose": "conv_transpose", "pool": f"{pool_mode}_pool"}[p.op]
    text = (
        f"{name}{p.ndim}d: input {_pair(p.size, p, full=True)}, kernel {_pair(p.kernel, p, full=True)}, "
        f"stride {_pair(p.stride, p)}, padding {_pair(p.pads, p)}"
    )
    if not (p.op == "pool" and pool_mode == "avg"):
        text += f", dilation {_pair(p.dilation, p)}"
    if p.op == "convtranspose":
        text += f", output_padding {_pair(p.output_padding, p)}"
    if p.op == "pool" and p.ceil_mode:
        text += ", ceil_mode"
    c_in, c_out, groups = p.channels
    if p.op == "pool" and c_in > 1:
        text += f", channels {c_in} (each pooled on its own)"
    elif (c_in, c_out) != (1, 1):
        text += f", channels {c_in} -> {c_out}" + (f", groups {groups}" if groups > 1 else "")
    if p.ndim == 1 or p.working[0] == p.working[1]:
        return [text, f"output size: {p.working[0]}"]
    return [text, *(f"{axis}: {work}" for axis, work in zip(("rows", "cols"), p.working))]


def _sentence(p: Problem, view: str, pool_mode: str) -> str:
    if p.op == "pool":
        if pool_mode == "max":
            return "max pooling keeps the largest value under the window (padding is never picked)"
        return "average pooling takes the mean under the window (padding counts as 0, as in PyTorch)"
    if view == "conv":
        return "the window slides over the input; each position makes one output pixel"
    if view == "scatter":
        crop = "; padding then crops the border" if any(v for pair in p.pads for v in pair) else ""
        extra = "; output_padding adds outputs at the end" if any(p.output_padding) else ""
        return f"each input pixel adds x * kernel at stride steps{crop}{extra}"
    return "the same output as a convolution with stride 1 of the flipped kernel"


def _card(p: Problem) -> tuple[str, ...]:
    zeros = _pair(tuple(s - 1 for s in p.stride), p)
    return (
        "The same transposed convolution, now as an ordinary convolution:",
        f"insert stride - 1 = {zeros} zero{'' if zeros == '1' else 's'} between input pixels, "
        f"pad by d*(k-1) - padding = {_pair(stuffed_pads(p), p)}"
        + (" (+ output_padding at the end)," if any(p.output_padding) else ","),
        "flip the kernel and slide it with stride 1.",
    )


def sections(p: Problem, view: str = "both", values: bool = False, pool_mode: str = "max") -> list[Section]:
    """The frames of ``p``'s animation, by view (``view`` for transposed convolutions only)."""
    numbers = compute(p, pool_mode) if values or p.op == "pool" else None
    if p.op == "pool":
        return [
            Section(_sentence(p, "pool", pool_mode), stacked(p, pool_frames(p, numbers, pool_mode), False))
        ]
    if p.op == "conv":
        return [Section(_sentence(p, "conv", pool_mode), stacked(p, conv_frames(p, numbers), False))]
    if view not in VIEWS:
        raise ConvlabError(f"view must be one of {', '.join(VIEWS)}, got view={view!r}")
    out = []
    if view in ("both", "scatter"):
        out.append(Section(_sentence(p, "scatter", pool_mode), stacked(p, scatter_frames(p, numbers), True)))
    if view in ("both", "zero-insertion"):
        frames = stacked(p, zero_insertion_frames(p, numbers), False)
        out.append(
            Section(_sentence(p, "zero-insertion", pool_mode), frames, _card(p) if view == "both" else ())
        )
    return out


def frame_count(p: Problem, view: str = "both") -> int:
    """Frames of an animation: one per output pixel (conv, pool, zero-insertion) or input pixel (scatter).

    Times the output channels (the input channels when scattering); the
    title card of a GIF is not counted.
    """
    outs, ins = p.out[0] * p.out[1] * p.channels[1], p.size[0] * p.size[1] * p.channels[0]
    if p.op != "convtranspose":
        return outs
    return {"scatter": ins, "zero-insertion": outs, "both": ins + outs}[view]


def _grids(p: Problem, view: str) -> list[tuple[int, tuple[int, int], tuple[int, int]]]:
    """(frames, left grid, right grid) per view of ``p``, without building a frame."""

    def shape(grid: list[list[str]]) -> tuple[int, int]:
        return len(grid), len(grid[0]) if grid else 0

    if p.op != "convtranspose":
        return [(frame_count(p), shape(conv_grid(p)), p.out)]
    views = []
    if view in ("both", "scatter"):
        views.append((frame_count(p, "scatter"), p.size, shape(scatter_canvas(p))))
    if view in ("both", "zero-insertion"):
        views.append((frame_count(p, "zero-insertion"), shape(stuffed_grid(p)), p.out))
    return views


def _check_mode(op: str, pool_mode: str | None, dilation) -> str:
    if pool_mode is None:
        return "max"
    if op != "pool":
        raise ConvlabError(f"pool_mode applies to op='pool' only, got op={op!r}, pool_mode={pool_mode!r}")
    if pool_mode not in POOL_MODES:
        raise ConvlabError(f"pool_mode must be 'max' or 'avg', got pool_mode={pool_mode!r}")
    if pool_mode == "avg" and dilation not in (1, (1,), (1, 1)):
        raise ConvlabError(f"average pooling has no dilation (as in PyTorch), got dilation={dilation!r}")
    return pool_mode


def animate(
    op: str,
    size,
    kernel_size,
    output: str | os.PathLike,
    *,
    stride=None,
    padding=0,
    dilation=1,
    output_padding=0,
    view: str = "both",
    values: bool = False,
    pool_mode: str | None = None,
    ceil_mode: bool = False,
    channels: int = 1,
    out_channels: int | None = None,
    groups: int = 1,
    fps: float | None = None,
) -> Animation:
    """Draw the animation of a conv, transposed conv or pooling into ``output`` (.gif, .png or .svg).

    Parameters
    ----------
    op : {'conv', 'convtranspose', 'pool'}
    size, kernel_size, stride, dilation, output_padding : int or tuple of 1-2 ints
        ``stride=None`` means 1, or ``kernel_size`` for pooling (PyTorch's rule).
    padding : int, tuple, ``(lo, hi)`` pairs or ``'same'`` (conv only)
    output : path
        ``.gif`` animates; ``.png`` and ``.svg`` show every frame on one sheet
        under one header and one legend.
    view : {'both', 'scatter', 'zero-insertion'}
        For ``'convtranspose'``: each input pixel's kernel copy landing on the
        output (one frame per input pixel), the equivalent zero-inserted
        convolution (one per output pixel), or the first, a title card, then
        the second.
    values : bool
        Write numbers (inputs and weights counted from 1, the products under
        the window, the exact outputs) instead of names ``x1``, ``w1``, ``y1``.
        Pooling always shows values.
    pool_mode : {'max', 'avg'}, optional
        Pooling only; default ``'max'``.
    ceil_mode : bool
        Pooling only.
    channels, out_channels, groups : int
        Conv and transposed conv: channels as stacked planes, coloured by group.
    fps : float, optional
        GIF frames per second, from 0.25 to 50 (default 1.5); the last frame
        and the title card stay three times as long. GIF only.

    Returns
    -------
    Animation
        The number of frames drawn (title card not counted), an ``int`` that
        also displays the picture inline in Jupyter (``.path`` is the file).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "conv.svg"
    >>> int(animate("conv", 4, 3, path))
    4
    """
    mode = _check_mode(op, pool_mode, dilation)
    if op != "pool" and ceil_mode:
        raise ConvlabError(f"ceil_mode applies to op='pool' only, got op={op!r}")
    suffix = picture_format(output)
    if fps is not None and suffix != ".gif":
        raise ConvlabError(f"fps applies to .gif animations, got fps={fps!r} for output={str(output)!r}")
    frame_duration(1.5 if fps is None else fps)  # checked before any frame is built
    plan = (channels, out_channels, groups)
    p = problem(
        op, size, kernel_size, stride, padding, dilation, output_padding, ceil_mode=ceil_mode, channels=plan
    )
    if values and max(p.channels[:2]) > 1:
        raise ConvlabError(
            f"values are drawn for one channel, got channels={channels}, out_channels={out_channels}"
        )
    # Check the grids before building thousands of frames for a 500x500 input.
    check_grid(*p.size, "input")
    check_grid(*p.out, "output")
    check_budget(_grids(p, view), suffix)
    parts = sections(p, view, values, mode)
    write_picture(header(p, mode), parts, output, suffix, 1.5 if fps is None else fps)
    return Animation(sum(len(s.frames) for s in parts), output)
