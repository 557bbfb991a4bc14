"""``convlab solve``'s answer: the ranked table, what its columns mean, and lines that paste into PyTorch."""

from __future__ import annotations

import argparse

from .. import shapes
from ._table import dumps, fmt, same, table, wide

__all__ = ["even_overlap_fix", "solve_answer", "torch_line"]

_PASTED = 3  # PyTorch lines printed under the table without --wide


def torch_line(s: shapes.Solution, transposed: bool, ndim: int) -> str:
    """The ``torch.nn`` constructor of a solution, ready to paste where the channels are named.

    >>> torch_line(shapes.Solution(4, 2, 1, 1), True, 2)
    'nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)'
    """
    text = f"nn.{'ConvTranspose' if transposed else 'Conv'}{ndim}d(in_channels, out_channels, "
    text += f"{s.kernel_size}, stride={s.stride}"
    if s.padding:
        text += f", padding={s.padding}"
    if s.output_padding:
        text += f", output_padding={s.output_padding}"
    if s.dilation != 1:
        text += f", dilation={s.dilation}"
    return text + ")"


def _search(args: argparse.Namespace, transposed: bool) -> shapes.Solutions:
    found = shapes.solve(
        args.in_size,
        args.out_size,
        transposed=transposed,
        kernel_size=args.kernel_size,
        stride=args.stride,
        padding=args.padding,
        dilation=args.dilation,
        max_kernel_size=args.max_kernel_size,
        max_stride=args.max_stride,
        max_padding=args.max_padding,
        max_dilation=args.max_dilation,
    )
    pinned = getattr(args, "output_padding", None)  # the search has no output_padding pin: filter its answers
    return found if pinned is None else shapes.Solutions(s for s in found if s.output_padding == pinned)


def _ndim(args: argparse.Namespace) -> int:
    # A bare number is one dimension of the arithmetic; the layer people
    # paste it into is almost always 2-D, and the numbers apply per dimension.
    size = args.in_size if isinstance(args.in_size, tuple) else args.out_size
    return len(size) if isinstance(size, tuple) else 2


def solve_answer(args: argparse.Namespace) -> str:
    found = _search(args, args.transposed)
    shown = found if args.limit <= 0 else found[: args.limit]
    ndim = _ndim(args)
    if args.json:
        rows = [
            {**s.as_dict(), "design": s.form, "pytorch": torch_line(s, args.transposed, ndim)} for s in found
        ]
        data = {"in_size": args.in_size, "out_size": args.out_size, "transposed": args.transposed}
        return dumps({**data, "count": len(found), "solutions": rows})
    a, b = fmt(args.in_size), fmt(args.out_size)
    kind = "transposed convolutions" if args.transposed else "convolutions"
    head = f"{len(found)} {kind} map {a} to {b}"
    if not found:
        return head + _none_found(args)
    head += "; most common first" + (
        f", {len(shown)} shown (--limit 0 for all)" if len(shown) < len(found) else ""
    )
    lines = [head + ":", _table(shown, args, ndim), *_legend(args.transposed)]
    lines += _pasted(shown, args, ndim)
    return "\n".join(lines + _direction_hint(args))


def _table(shown: list, args: argparse.Namespace, ndim: int) -> str:
    last = "output_padding" if args.transposed else "unused"
    headers = ["#", "kernel", "stride", "padding", "dilation", last, "design"]
    rows = [
        [
            i,
            s.kernel_size,
            s.stride,
            s.padding,
            s.dilation,
            s.output_padding if args.transposed else s.unused,
            s.form or "-",
        ]
        for i, s in enumerate(shown, 1)
    ]
    if wide(args):
        headers.append("PyTorch")
        for row, s in zip(rows, shown):
            row.append(torch_line(s, args.transposed, ndim))
    return table(headers, rows)


def _legend(transposed: bool) -> list[str]:
    design = (
        "design: k = s tiles without overlap; k = 2s, p = s/2 overlaps every pixel equally; "
        "centred: p = (k-1)/2"
    )
    if transposed:
        return [design, "output_padding: extra rows added at the end, to reach the sizes between strides"]
    return [
        design,
        "unused: padded-input pixels at the end that no window reads (0: an exact tiling); up to",
        "  `padding` of them are zeros and nothing is lost; beyond that, real input pixels are ignored",
    ]


def _pasted(shown: list, args: argparse.Namespace, ndim: int) -> list[str]:
    if wide(args):
        return []
    lines = [f"in PyTorch (import torch.nn as nn), rows 1-{min(_PASTED, len(shown))}; --wide for every row:"]
    return lines + [f"  {torch_line(s, args.transposed, ndim)}" for s in shown[:_PASTED]]


def _none_found(args: argparse.Namespace) -> str:
    up = _grows(args)
    if not args.transposed and up:
        return (
            ".\nA convolution shrinks a size (its padding can grow it a little).\n"
            f"Going up is a transposed convolution: convlab solve {_sizes(args)} "
            "--transposed"
        )
    if args.transposed and not up:
        return (
            ".\nA transposed convolution grows a size (its padding can shrink it a little).\n"
            f"Going down is a convolution: convlab solve {_sizes(args)}"
        )
    return " within the bounds (raise --max-kernel-size, --max-stride, --max-padding or --max-dilation)"


def _sizes(args: argparse.Namespace) -> str:
    """The two sizes as the user would type them again (a square size as one number)."""
    return f"{fmt(same(args.in_size))} {fmt(same(args.out_size))}"


def _grows(args: argparse.Namespace) -> bool:
    ins = args.in_size if isinstance(args.in_size, tuple) else (args.in_size,)
    outs = args.out_size if isinstance(args.out_size, tuple) else (args.out_size,)
    return sum(outs) * len(ins) > sum(ins) * len(outs)


def _direction_hint(args: argparse.Namespace) -> list[str]:
    command = f"convlab solve {_sizes(args)}"
    if not args.transposed and _grows(args):
        return [f"going up is usually a transposed convolution: {command} --transposed"]
    if args.transposed and not _grows(args):
        return [f"going down is usually a convolution: {command}"]
    return []


def even_overlap_fix(args: argparse.Namespace, out_shape: tuple[int, ...]) -> list[str]:
    """The checkerboard's usual fixes, as PyTorch lines: a kernel the stride divides, or resize + conv.

    The first transposed convolution :func:`convlab.shapes.solve` ranks for the
    same input and output size and stride whose kernel is a multiple of the
    stride (every output pixel then gets the same number of taps).
    """
    ndim = len(out_shape)
    sizes, strides = _dims(args.size, ndim), _dims(args.stride, ndim)
    fix = []
    if len(set(sizes)) == 1 and len(set(strides)) == 1 and len(set(out_shape)) == 1:
        n, s, out = sizes[0], strides[0], out_shape[0]
        found = shapes.solve(n, out, transposed=True, stride=s, dilation=1, max_kernel_size=max(16, 2 * s))
        even = [x for x in found if x.kernel_size % s == 0]
        if even:
            fix.append(f"  {torch_line(even[0], True, ndim)}")
    fix.append(
        f"  nn.Sequential(nn.Upsample(scale_factor={_scale(strides)}), "
        f"nn.Conv{ndim}d(in_channels, out_channels, 3, padding=1))"
    )
    return [
        "even overlap: a kernel the stride divides, or resize then convolve (Odena et al. 2016,",
        "'Deconvolution and Checkerboard Artifacts'); in PyTorch, the first with this output size:",
        *fix,
    ]


def _dims(value: object, ndim: int) -> tuple:
    return tuple(value) if isinstance(value, tuple) else (value,) * ndim


def _scale(strides: tuple) -> object:
    return strides[0] if len(set(strides)) == 1 else strides
