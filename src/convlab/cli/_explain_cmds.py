"""The picture and explanation sub-commands: explain, animate, overlap."""

from __future__ import annotations

import argparse
import math

from .._args import ConvlabError
from . import _winograd_cmd
from ._address_text import crop_address_line, crop_addresses
from ._parse import Grammar, add_layer_options, bounded_int, choice_arg, compact, size_arg
from ._solve_text import even_overlap_fix
from ._table import dumps

_EXPLAIN_OPS = ("conv", "convt", "convtranspose", "unfold", "crop", "winograd")
_LAYER = ("kernel_size", "stride", "padding", "dilation")
_EXPLAIN = Grammar(
    applies={
        "conv": _LAYER,
        "convtranspose": (*_LAYER, "output_padding"),
        "unfold": _LAYER,
        "crop": (),
        "winograd": ("kernel_size", "padding"),
    },
    sizes=("size", "crop"),
    only={
        "crop": ("--crop", ("crop",)),
        "addresses": ("--addresses", ("crop",)),
        "tile": ("--tile", ("winograd",)),
    },
    needs_kernel=("conv", "convtranspose", "unfold"),
    ndims=(1, 2),
)
# A picture draws every cell: a value above this is a typo or a picture nobody can read.
_ANIMATE_MAX = 64
_ANIMATE = Grammar(
    applies={
        "conv": (*_LAYER, "groups"),
        "convtranspose": (*_LAYER, "output_padding", "groups"),
        "pool": (*_LAYER, "ceil_mode"),
    },
    # --pool (h14's, default None: which pooling a picture draws) applies to pool alone.
    only={"view": ("--view", ("convtranspose",)), "pool": ("--pool", ("pool",))},
    defaults={"view": "both"},
    ndims=(1, 2),
    maximum=_ANIMATE_MAX,
    why="it draws every cell",
)
_OVERLAP = Grammar(
    applies={"": (*_LAYER, "output_padding")},
    aliases={"size": "size_option"},
    defaults={"size": 5},
    ndims=(1, 2),
)


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "explain", parents=[common], help="a worked example: input, kernel, matrix, and every route agreeing"
    )
    p.add_argument(
        "op",
        type=choice_arg(_EXPLAIN_OPS),
        metavar="OP",
        help="conv, convtranspose (or convt), unfold, crop or winograd",
    )
    p.add_argument("size", type=size_arg, metavar="SIZE", help="input size: 4, or 4x4")
    add_layer_options(p, (*_LAYER, "output_padding"), kernel_required=False, ndims=(1, 2))
    p.add_argument("--crop", type=size_arg, default=None, help="crop only: the crop size")
    p.add_argument("--addresses", nargs="?", const="NCHW", metavar="LAYOUT", help="crop only: word addresses")
    p.add_argument("-c", "--channels", type=int, default=1, help="input and output channels (default 1)")
    p.add_argument(
        "--seed",
        type=bounded_int(0, 2**32 - 1),
        default=None,
        help="random integers -4..4 instead of 0, 1, 2, ...",
    )
    p.add_argument("--symbolic", action="store_true", help="names (x00, w01) instead of numbers")
    _winograd_cmd.add_arguments(p)
    p.set_defaults(run=run_explain, grammar=_EXPLAIN)

    p = sub.add_parser(
        "animate", parents=[common], help="conv_arithmetic-style animation: .gif, .png or .svg"
    )
    ops = ("conv", "convt", "convtranspose", "pool")
    p.add_argument("op", type=choice_arg(ops), metavar="OP", help="conv, convtranspose (or convt) or pool")
    p.add_argument(
        "size", type=size_arg, metavar="SIZE", help=f"input size: 5, or 5x7 (at most {_ANIMATE_MAX})"
    )
    add_layer_options(p, (*_LAYER, "output_padding", "groups", "ceil_mode"), ndims=(1, 2))
    _page_options(p)
    views = ("both", "scatter", "zero-insertion")
    p.add_argument(
        "--view",
        type=choice_arg(views),
        metavar="{" + ",".join(views) + "}",
        default=None,
        help="convtranspose: scatter, zero-insertion or both (default both)",
    )
    _picture_options(p)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="FILE.gif (animation), .png or .svg (all frames), .html (interactive page)",
    )
    p.set_defaults(run=run_animate, grammar=_ANIMATE)

    p = sub.add_parser(
        "overlap", parents=[common], help="kernel taps landing on each output pixel of a transposed conv"
    )
    p.add_argument(
        "size", type=size_arg, metavar="SIZE", nargs="?", default=None, help="input size (default 5)"
    )
    add_layer_options(p, (*_LAYER, "output_padding"), ndims=(1, 2))
    p.add_argument("--size", dest="size_option", type=size_arg, default=None, help=argparse.SUPPRESS)
    p.add_argument("-o", "--output", default=None, help="also draw a heat map: FILE.png or .svg")
    p.set_defaults(run=run_overlap, grammar=_OVERLAP)


def _page_options(p: argparse.ArgumentParser) -> None:
    """The channels a picture or the page draws (h14's pictures draw them too)."""
    p.add_argument("-c", "--channels", type=int, default=1, help="input channels (default 1)")
    p.add_argument(
        "--out-channels", type=int, default=None, help="conv and convtranspose: output channels (default: -c)"
    )


def _picture_options(p: argparse.ArgumentParser) -> None:
    """Options of the .gif/.png/.svg pictures only (h14's; the rest of the grammar is the parser's)."""
    p.add_argument(
        "--values",
        action="store_true",
        help="write numbers (inputs, weights, products, outputs), not x1, w1, y1",
    )
    p.add_argument("--fps", type=float, default=None, help="GIF frames per second, 0.25 to 50 (default 1.5)")
    p.add_argument("--pool", choices=("max", "avg"), default=None, help="pool only: max (default) or avg")


def _picture_only(args: argparse.Namespace) -> None:
    """The page has its own controls: the pictures' options are refused there, not ignored."""
    given = [
        ("--values", args.values),
        (f"--fps {args.fps}", args.fps is not None),
        (f"--pool {args.pool}", args.pool),
    ]
    for flag, used in given:
        if used:
            raise ConvlabError(f"{flag} applies to .gif, .png and .svg pictures, not to the .html page")


def _one_d(args: argparse.Namespace) -> None:
    """``--ndim 1``: plain ints become 1-tuples, so the operators see one spatial dimension."""
    if args.ndim == 1:
        for key in ("size", "kernel_size", "crop"):
            value = getattr(args, key, None)
            if isinstance(value, int):
                setattr(args, key, (value,))


# A worked example prints every input, weight and matrix entry: values above
# this make pages nobody reads and matrices of (out x in) entries that hang.
_WORKED_MAX = 64
_WORKED_PIXELS = 4096
# overlap draws one count per output pixel.
_OVERLAP_PIXELS = 1 << 22


def _ints(value) -> list[int]:
    if isinstance(value, int):
        return [value]
    if isinstance(value, (tuple, list)):
        return [n for v in value for n in _ints(v)]
    return []


def _check_worked(args: argparse.Namespace) -> None:
    big = _transposed_pixels(args)
    if big > _WORKED_PIXELS:
        raise ConvlabError(
            f"a worked example prints every number, so its input and output have at most "
            f"{_WORKED_PIXELS} pixels, but size={args.size}, kernel_size={args.kernel_size}, "
            f"stride={args.stride}, dilation={args.dilation} reach {big}; use `convlab shape` for large sizes"
        )
    for key in ("size", "kernel_size", "stride", "padding", "dilation", "output_padding", "crop"):
        big = [n for n in _ints(getattr(args, key, None)) if n > _WORKED_MAX]
        if big:
            raise ConvlabError(
                f"a worked example prints every number, so {key} is at most {_WORKED_MAX} here, "
                f"got {key}={getattr(args, key)}; use `convlab shape` for large sizes"
            )


def _transposed_pixels(args: argparse.Namespace) -> int:
    """Pixels of the largest of input, kernel and transposed output: bounds every operator's."""
    # ints alone mean 2-D
    two_d = isinstance(args.size, int) and args.ndim != 1
    sizes = [args.size] * 2 if two_d else _ints(args.size)
    kernels = _ints(args.kernel_size)
    strides, dilations = _ints(args.stride), _ints(args.dilation)
    if len(strides) == 1:
        strides = strides * len(sizes)
    if len(dilations) == 1:
        dilations = dilations * len(sizes)
    if len(kernels) == 1:
        kernels = kernels * len(sizes)
    pixels = 1
    for n, k, st, d in zip(sizes, kernels, strides, dilations):
        pixels *= max(n - 1, 0) * st + d * (k - 1) + 1
    # The kernel is drawn too (and a dilation of 0, refused later, must not hide it).
    return max(pixels, math.prod(sizes), math.prod(kernels))


def _check_overlap(args: argparse.Namespace) -> None:
    pixels = _transposed_pixels(args)
    if pixels > _OVERLAP_PIXELS:
        raise ConvlabError(
            f"overlap draws one count per output pixel and at most {_OVERLAP_PIXELS}, but --size "
            f"{args.size} with this kernel and stride gives {pixels}"
        )


def _check_channels(channels: int) -> None:
    if channels < 1 or channels > 8:
        raise ConvlabError(f"channels must be an integer from 1 to 8, got channels={channels}")


def _worked(args: argparse.Namespace):
    from ..viz import _worked

    if args.op == "crop":
        if args.crop is None:
            raise ConvlabError("explain crop needs --crop, the crop size (e.g. --crop 4 or --crop 4x3)")
        return _worked.crop_example(args.size, args.crop, args.channels, args.seed)
    if args.kernel_size is None:
        raise ConvlabError(f"explain {args.op} needs -k/--kernel-size (e.g. -k 3)")
    layer = (args.size, args.kernel_size, args.stride, args.padding, args.dilation)
    if args.op == "convtranspose":
        return _worked.convtranspose_example(*layer, args.output_padding, args.channels, args.seed)
    example = _worked.unfold_example if args.op == "unfold" else _worked.conv_example
    return example(*layer, args.channels, args.seed)


def run_explain(args: argparse.Namespace) -> str:
    from ..viz import _explain, _explain_transpose_crop

    if args.op == "winograd":
        return _winograd_cmd.run(args)
    _check_channels(args.channels)
    _check_worked(args)
    _one_d(args)
    if args.symbolic and args.channels != 1:
        raise ConvlabError(f"--symbolic names one channel only, got channels={args.channels}")
    worked = _worked(args)
    span = crop_addresses(args) if args.addresses else None
    if args.json:
        return dumps(_explain_json(worked, args) | ({"addresses": span} if args.addresses else {}))
    params = {"stride": args.stride, "padding": args.padding, "dilation": args.dilation}
    if args.op == "crop":
        more = [crop_address_line(span, args.addresses)] if args.addresses else []
        return "\n".join([_explain_transpose_crop.crop_text(worked, args.symbolic), *more])
    if args.op == "convtranspose":
        return _explain_transpose_crop.transpose_text(
            worked, {**params, "output_padding": args.output_padding}, args.symbolic
        )
    return _explain.conv_text(worked, params, args.symbolic)


def _explain_json(worked, args: argparse.Namespace) -> dict:
    from ..viz._explain import AGREE

    data = {
        "op": worked.op,
        "size": args.size,
        "kernel_size": args.kernel_size,
        "stride": args.stride,
        "padding": args.padding,
        "dilation": args.dilation,
        "output_padding": args.output_padding if args.op == "convtranspose" else None,
        "arrays": {key: value.tolist() for key, value in worked.arrays.items()},
        "routes": [{"route": r, "max_abs_diff": d, "agree": d <= AGREE} for r, d in worked.routes],
    }
    m = worked.matrix
    if m is not None:
        coo = m.tocoo()
        data["matrix"] = {
            "shape": list(m.shape),
            "nnz": int(m.nnz),
            "rows": coo.row.tolist(),
            "cols": coo.col.tolist(),
            "values": coo.data.tolist(),
        }
    if "box" in worked.extra:
        box = worked.extra["box"]
        data["box"] = {"start": box.start, "stop": box.stop, "pad": box.pad, "output_size": box.output_size}
    return data


def run_animate(args: argparse.Namespace) -> str:
    from ..viz import animate

    if str(args.output).lower().endswith((".html", ".htm")):
        _picture_only(args)
        return _run_page(args)
    _one_d(args)
    frames = animate(
        args.op,
        args.size,
        args.kernel_size,
        args.output,
        stride=args.stride,
        padding=args.padding,
        dilation=args.dilation,
        output_padding=args.output_padding,
        view=args.view,
        values=args.values,
        pool_mode=args.pool,
        ceil_mode=args.ceil_mode,
        channels=args.channels,
        out_channels=args.out_channels,
        groups=args.groups,
        fps=args.fps,
    )
    if args.json:
        return dumps({"output": args.output, "frames": frames})
    return f"wrote {args.output}: {frames} frames"


def _run_page(args: argparse.Namespace) -> str:
    from ..viz import write_page

    if args.ndim == 1:
        raise ConvlabError(
            "the interactive page draws 2-D layers, got --ndim 1 (write a .gif or .svg for 1-D)"
        )
    view = "zero-insertion" if args.view == "zero-insertion" else "scatter"
    # The page's boxes show values as written (3, not 3x3); an unset pool stride stays
    # empty there, so that it follows the kernel when the reader changes it.
    stride = args.stride if "stride" in args.given else None
    values = (args.size, args.kernel_size, stride, args.padding, args.dilation, args.output_padding)
    layer = tuple(compact(v) for v in values)
    if args.ceil_mode and args.op != "pool":
        raise ConvlabError(f"--ceil-mode applies to pool only, got op={args.op}")
    if args.op == "pool" and (args.groups != 1 or args.out_channels is not None):
        raise ConvlabError("--groups and --out-channels apply to conv and convtranspose, got op=pool")
    page = {"channels": args.channels, "out_channels": args.out_channels, "groups": args.groups}
    write_page(args.output, args.op, *layer, view=view, ceil_mode=args.ceil_mode, **page)
    if args.json:
        return dumps({"output": args.output})
    return f"wrote {args.output}: open it in a browser (no network needed)"


def run_overlap(args: argparse.Namespace) -> str:
    from ..viz import _overlap

    _one_d(args)
    _check_overlap(args)
    size, kernel = args.size, args.kernel_size
    counts = _overlap.overlap_counts(
        kernel, args.stride, args.dilation, size, args.padding, args.output_padding
    )
    verdict = _overlap.verdict(counts.ndim, args.kernel_size, args.stride, args.dilation)
    head = (
        f"conv_transpose{counts.ndim}d overlap: input {_text(size)}, kernel {_text(kernel)}, "
        f"stride {_text(args.stride)}, padding {_text(args.padding)}, dilation {_text(args.dilation)} "
        f"-> output {'x'.join(map(str, counts.shape))}"
    )
    if args.output:
        _overlap.save_overlap(counts, [head, *verdict.split("; ", 1)], args.output)
    if args.json:
        return dumps(
            {"counts": counts.tolist(), "shape": counts.shape, "verdict": verdict, "output": args.output}
        )
    lines = [head, "taps landing on each output pixel (conv_transpose of ones with a ones kernel):"]
    lines += ["  " + line for line in _overlap.text_grid(counts).splitlines()]
    lines.append(verdict)
    if verdict.startswith("uneven"):
        lines += even_overlap_fix(args, counts.shape)
    if args.output:
        lines.append(f"wrote {args.output}")
    return "\n".join(lines)


def _text(value) -> str:
    if isinstance(value, tuple):
        return "x".join(f"{v[0]}:{v[1]}" if isinstance(v, tuple) else str(v) for v in value)
    return str(value)
