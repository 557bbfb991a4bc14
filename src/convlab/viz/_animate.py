"""The conv_arithmetic-style animations: one frame per output or input pixel."""

from __future__ import annotations

import os

from .._args import ConvlabError
from ._files import picture_format, save
from ._layout import Problem, conv_frames, problem, scatter_frames, stuffed_pads, zero_insertion_frames
from ._notebook import Animation
from ._scene import Scene, check_grid, frame_scene

VIEWS = ("both", "scatter", "zero-insertion")


def _pair(values: tuple, p: Problem, *, full: bool = False) -> str:
    """``3`` (or ``3x3`` for sizes) when equal per dimension, ``3x5`` when not; pads as ``(lo, hi)``."""
    if p.ndim == 1:
        values = values[1:]
    if all(isinstance(v, tuple) for v in values):
        if not all(lo == hi for lo, hi in values):
            return " x ".join(f"({lo}, {hi})" for lo, hi in values)
        values = tuple(lo for lo, _ in values)
    return str(values[0]) if len(set(values)) == 1 and not full else "x".join(map(str, values))


def header(p: Problem, view: str) -> list[str]:
    """Title lines: the layer with its parameters, then the size formula worked per dimension."""
    name = f"conv{p.ndim}d" if p.op == "conv" else f"conv_transpose{p.ndim}d"
    text = (
        f"{name}: input {_pair(p.size, p, full=True)}, kernel {_pair(p.kernel, p, full=True)}, "
        f"stride {_pair(p.stride, p)}, padding {_pair(p.pads, p)}, dilation {_pair(p.dilation, p)}"
    )
    if p.op == "convtranspose":
        text += f", output_padding {_pair(p.output_padding, p)}"
    lines = [text]
    if p.ndim == 1 or p.working[0] == p.working[1]:
        lines.append(f"output size: {p.working[0]}")
    else:
        lines += [f"{axis}: {work}" for axis, work in zip(("rows", "cols"), p.working)]
    if view == "zero-insertion":
        pads = _pair(stuffed_pads(p), p)
        lines.append(
            f"as a conv: {_pair(tuple(s - 1 for s in p.stride), p)} zeros between pixels, padding {pads} "
            "= d*(k-1) - padding (+ output_padding at the end), kernel flipped, stride 1"
        )
    elif view == "scatter":
        lines.append("each input pixel adds x * kernel at stride steps; padding then crops the border")
    return lines


def frames_for(p: Problem, view: str) -> list[Scene]:
    """Every frame of the animation of ``p`` (``view`` for transposed convolutions only)."""
    if p.op == "conv":
        return [frame_scene(f, header(p, "conv")) for f in conv_frames(p)]
    if view not in VIEWS:
        raise ConvlabError(f"view must be one of {', '.join(VIEWS)}, got view={view!r}")
    scenes: list[Scene] = []
    if view in ("both", "scatter"):
        scenes += [frame_scene(f, header(p, "scatter")) for f in scatter_frames(p)]
    if view in ("both", "zero-insertion"):
        scenes += [frame_scene(f, header(p, "zero-insertion")) for f in zero_insertion_frames(p)]
    return scenes


def frame_count(p: Problem, view: str = "both") -> int:
    """Frames of an animation: one per output pixel (conv, zero-insertion) or input pixel (scatter)."""
    outs, ins = p.out[0] * p.out[1], p.size[0] * p.size[1]
    if p.op == "conv":
        return outs
    return {"scatter": ins, "zero-insertion": outs, "both": ins + outs}[view]


def animate(
    op: str,
    size,
    kernel_size,
    output: str | os.PathLike,
    *,
    stride=1,
    padding=0,
    dilation=1,
    output_padding=0,
    view: str = "both",
) -> Animation:
    """Draw the animation of a conv or transposed conv into ``output`` (.gif, .png or .svg).

    Parameters
    ----------
    op : {'conv', 'convtranspose'}
    size, kernel_size, stride, dilation, output_padding : int or tuple of 1-2 ints
    padding : int, tuple, ``(lo, hi)`` pairs or ``'same'`` (conv only)
    output : path
        ``.gif`` animates, ``.png`` and ``.svg`` show every frame on one sheet.
    view : {'both', 'scatter', 'zero-insertion'}
        For ``'convtranspose'``: each input pixel's kernel copy landing on the
        output (one frame per input pixel), the equivalent zero-inserted
        convolution (one per output pixel), or the first then the second.

    Returns
    -------
    Animation
        The number of frames drawn, an ``int`` that also displays the
        picture inline in Jupyter (``.path`` is the file).
    """
    if op not in ("conv", "convtranspose"):
        raise ConvlabError(f"op must be 'conv' or 'convtranspose', got op={op!r}")
    picture_format(output)
    p = problem(op, size, kernel_size, stride, padding, dilation, output_padding)
    # Check the grids before building thousands of frames for a 500x500 input.
    check_grid(*p.size, "input")
    check_grid(*p.out, "output")
    scenes = frames_for(p, view)
    save(scenes, output)
    return Animation(len(scenes), output)
