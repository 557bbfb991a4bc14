"""The shape-arithmetic sub-commands: shape, roundtrip, solve, rf, unet-sizes."""

from __future__ import annotations

import argparse

from .. import shapes
from ._parse import NDIM_HELP, Grammar, add_layer_options, bounded_int, choice_arg, layer_arg, size_arg
from ._table import dumps, fmt, table

_OPS = {"conv": "conv", "convtranspose": "convtranspose", "convt": "convtranspose", "pool": "pool"}
_FORMULAS = {
    "conv": "floor((size + pad_lo + pad_hi - dilation*(kernel_size-1) - 1) / stride) + 1",
    "convtranspose": "(size - 1)*stride - pad_lo - pad_hi + dilation*(kernel_size-1) + output_padding + 1",
    "pool": "floor_or_ceil((size + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1",
}


_LAYER = ("kernel_size", "stride", "padding", "dilation")
_SHAPE = Grammar(
    applies={"conv": _LAYER, "convtranspose": (*_LAYER, "output_padding"), "pool": (*_LAYER, "ceil_mode")}
)
# solve pins scalars (a square kernel) and searches the rest.
_SOLVE = Grammar(
    applies={
        "convolutions": _LAYER,
        "transposed convolutions (--transposed)": (*_LAYER, "output_padding"),
    },
    sizes=("in_size", "out_size"),
    expand="sizes",
    op=lambda args: "transposed convolutions (--transposed)" if args.transposed else "convolutions",
)


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "shape", parents=[common], help="output size of a conv, convtranspose or pool, with working"
    )
    p.add_argument(
        "op", type=choice_arg(tuple(_OPS)), metavar="OP", help="conv, convtranspose (or convt) or pool"
    )
    p.add_argument("size", type=size_arg, metavar="SIZE", help="input size: 24, 572x572 or 24x25x26")
    add_layer_options(p, (*_LAYER, "output_padding", "ceil_mode"))
    p.set_defaults(run=run_shape, grammar=_SHAPE)

    p = sub.add_parser("roundtrip", parents=[common], help="conv then convtranspose: the size you get back")
    p.add_argument("size", type=size_arg, metavar="SIZE", help="input size: 24, 572x572 or 24x25x26")
    add_layer_options(p, _LAYER)
    p.set_defaults(run=run_roundtrip, grammar=Grammar(applies={"": _LAYER}))

    p = sub.add_parser(
        "solve", parents=[common], help="every kernel/stride/padding mapping one size to another"
    )
    p.add_argument("in_size", type=size_arg, metavar="IN", help="input size: 768 or 768x512")
    p.add_argument("out_size", type=size_arg, metavar="OUT", help="output size: 128 or 128x64")
    p.add_argument("--transposed", action="store_true", help="search transposed convolutions")
    _solve_pins(p)
    p.add_argument("--limit", type=int, default=20, help="rows to print, 0 for all (default %(default)s)")
    p.set_defaults(run=run_solve, grammar=_SOLVE)

    p = sub.add_parser("rf", parents=[common], help="receptive field, jump and start of a chain of layers")
    p.add_argument(
        "layers", nargs="+", type=layer_arg, help="c3, c3s2p1, pool2, t2s2 (conv, pool, convT; s/p/d values)"
    )
    p.add_argument(
        "--input", type=size_arg, default=None, help="input size, to show each layer's output size"
    )
    p.set_defaults(run=run_rf)

    p = sub.add_parser(
        "unet-sizes", parents=[common], help="U-Net feature sizes, skip crops, valid input sizes"
    )
    p.add_argument("size", type=size_arg, metavar="SIZE", help="input size: 572 or 572x572")
    p.add_argument(
        "--depth", type=bounded_int(0, 64), default=4, help="number of 2x2 pools (default %(default)s)"
    )
    p.add_argument("-k", "--kernel-size", type=bounded_int(1, 1 << 20), default=3, help="default 3")
    p.add_argument(
        "--convs", type=bounded_int(1, 1024), default=2, help="convolutions per level (default %(default)s)"
    )
    p.add_argument(
        "-p",
        "--padding",
        type=choice_arg(("valid", "same")),
        default="valid",
        help="valid or same (default valid)",
    )
    p.add_argument("--ndim", type=int, choices=(1, 2, 3), default=None, help=NDIM_HELP)
    p.set_defaults(run=run_unet_sizes, grammar=Grammar(applies={"": ()}, expand="sizes"))


def _solve_pins(p: argparse.ArgumentParser) -> None:
    """The pinned layer values (one for every dimension) and the bounds of the search."""
    pins = {"kernel-size": (1, 4096), "stride": (1, 4096), "padding": (0, 4096), "dilation": (1, 256)}
    for name, (low, high) in pins.items():
        p.add_argument(
            f"-{name[0]}",
            f"--{name}",
            metavar=name[0].upper(),
            type=bounded_int(low, high),
            default=None,
            help=f"pin the {name.replace('-', ' ')}, one value for every dimension ({low} to {high})",
        )
    p.add_argument(
        "--op",
        "--output-padding",
        dest="output_padding",
        metavar="OP",
        type=bounded_int(0, 4095),
        default=None,
        help="with --transposed: pin the output_padding",
    )
    # The search enumerates kernels x strides x dilations x paddings: these
    # caps keep one run to seconds.
    p.add_argument("--max-kernel-size", type=bounded_int(1, 64), default=16, help="default 16, at most 64")
    p.add_argument("--max-stride", type=bounded_int(1, 64), default=16, help="default 16, at most 64")
    p.add_argument(
        "--max-padding",
        type=bounded_int(0, 256),
        default=None,
        help="default: dilated kernel - 1; at most 256",
    )
    p.add_argument("--max-dilation", type=bounded_int(1, 8), default=1, help="default 1, at most 8")
    p.add_argument("--ndim", type=int, choices=(1, 2, 3), default=None, help=NDIM_HELP)


def _params(args: argparse.Namespace) -> dict:
    return {
        "kernel_size": args.kernel_size,
        "stride": args.stride,
        "padding": args.padding,
        "dilation": args.dilation,
    }


def run_shape(args: argparse.Namespace) -> str:
    op = _OPS[args.op]
    params = _params(args)
    if op == "convtranspose":
        params["stride"] = 1 if args.stride is None else args.stride
        out = shapes.conv_transpose_output_size(args.size, output_padding=args.output_padding, **params)
        working = shapes.size_working(op, args.size, output_padding=args.output_padding, **params)
    elif op == "pool":
        out = shapes.pool_output_size(args.size, ceil_mode=args.ceil_mode, **params)
        working = shapes.size_working(op, args.size, ceil_mode=args.ceil_mode, **params)
    else:
        params["stride"] = 1 if args.stride is None else args.stride
        out = shapes.conv_output_size(args.size, **params)
        working = shapes.size_working(op, args.size, **params)
    if args.json:
        return dumps({"op": op, "size": args.size, **params, "output_size": out, "working": list(working)})
    lines = [
        f"{op}: size {fmt(args.size)}, "
        + ", ".join(f"{k} {fmt(v)}" for k, v in params.items() if v is not None)
    ]
    lines.append(f"  out = {_FORMULAS[op]}")
    for dim, line in enumerate(working):
        lines.append(f"  dim {dim}: {line}")
    lines.append(f"output size: {fmt(out)}")
    if op == "conv":
        same = shapes.conv_input_sizes(out, **params) if args.padding != "same" else None
        if same is not None:
            lines.append(f"input sizes {fmt(same)} all give {fmt(out)} (the floor drops the remainder)")
    return "\n".join(lines)


def run_roundtrip(args: argparse.Namespace) -> str:
    r = shapes.roundtrip(args.size, **_params(args))
    if args.json:
        return dumps(
            {
                "size": r.size,
                "conv_size": r.conv_size,
                "back_size": r.back_size,
                "output_padding": r.output_padding,
                "same_conv_size": r.same_conv_size,
                "padding": r.padding,
                **_params(args),
            }
        )
    restored = r.back_size == r.size
    lines = [
        f"conv           {fmt(r.size)} -> {fmt(r.conv_size)}",
        f"convtranspose  {fmt(r.conv_size)} -> {fmt(r.back_size)}   (same kernel, stride, padding; "
        f"output_padding 0){'' if restored else '   != ' + fmt(r.size)}",
        f"input sizes {fmt(r.same_conv_size)} all give {fmt(r.conv_size)} after the conv, so the transposed "
        "conv cannot know which one to restore.",
        f"output_padding={fmt(r.output_padding)} restores {fmt(r.size)}: "
        f"ConvTranspose(..., output_padding={_tuple_text(r.output_padding)}), "
        f"or forward(x, output_size={_tuple_text(r.size)})",
    ]
    return "\n".join(lines)


def _tuple_text(value: object) -> str:
    return str(value) if not isinstance(value, tuple) else "(" + ", ".join(map(str, value)) + ")"


def run_solve(args: argparse.Namespace) -> str:
    found = shapes.solve(
        args.in_size,
        args.out_size,
        transposed=args.transposed,
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
    if pinned is not None:
        found = shapes.Solutions(s for s in found if s.output_padding == pinned)
    shown = found if args.limit <= 0 else found[: args.limit]
    if args.json:
        return dumps(
            {
                "in_size": args.in_size,
                "out_size": args.out_size,
                "transposed": args.transposed,
                "count": len(found),
                "solutions": [s.as_dict() for s in found],
            }
        )
    kind = "transposed convolutions" if args.transposed else "convolutions"
    head = f"{len(found)} {kind} map {fmt(args.in_size)} to {fmt(args.out_size)}"
    if not found:
        return head + " within the bounds (raise --max-kernel-size, --max-stride, --max-dilation)"
    if len(shown) < len(found):
        head += f"; the simplest {len(shown)} (--limit 0 for all)"
    if args.transposed:
        rows = [
            (s.kernel_size, s.stride, s.padding, s.dilation, s.output_padding, _snippet(s, True))
            for s in shown
        ]
        headers = ("kernel", "stride", "padding", "dilation", "output_padding", "PyTorch")
    else:
        rows = [(s.kernel_size, s.stride, s.padding, s.dilation, s.unused, _snippet(s, False)) for s in shown]
        headers = ("kernel", "stride", "padding", "dilation", "unused", "PyTorch")
    return head + ":\n" + table(headers, rows)


def _snippet(s: shapes.Solution, transposed: bool) -> str:
    text = f"{'ConvTranspose' if transposed else 'Conv'}(C_in, C_out, {s.kernel_size}, stride={s.stride}"
    if s.padding:
        text += f", padding={s.padding}"
    if s.output_padding:
        text += f", output_padding={s.output_padding}"
    if s.dilation != 1:
        text += f", dilation={s.dilation}"
    return text + ")"


def run_rf(args: argparse.Namespace) -> str:
    fields = shapes.receptive_field(args.layers, input_size=args.input)
    if args.json:
        return dumps(
            {
                "input_size": args.input,
                "layers": [
                    {
                        "layer": spec,
                        "receptive_field": f.size,
                        "jump": f.jump,
                        "start": f.start,
                        "output_size": f.output_size,
                    }
                    for spec, f in zip(args.layers, fields)
                ],
            }
        )
    headers = ["#", "layer", "receptive field", "jump", "start"]
    rows = [[i, f.layer.label(), f.size, f.jump, f.start] for i, f in enumerate(fields)]
    if args.input is not None:
        headers.append("output size")
        for row, f in zip(rows, fields):
            row.append(f.output_size)
    note = (
        "start: first input pixel that output 0 reads (negative = padding); "
        "jump: input pixels between outputs"
    )
    return table(headers, rows) + "\n" + note


def run_unet_sizes(args: argparse.Namespace) -> str:
    u = shapes.unet_sizes(
        args.size,
        depth=args.depth,
        kernel_size=args.kernel_size,
        convs_per_level=args.convs,
        padding=args.padding,
    )
    if args.json:
        return dumps(_unet_json(u))
    head = (
        f"U-Net {fmt(u.input_size)} -> {fmt(u.output_size)} (depth {u.depth}, kernel {u.kernel_size}, "
        f"{u.convs_per_level} convs per level, padding '{u.padding}')"
    )
    rows = []
    for lv in u.levels:
        rows.append(
            [
                lv.level,
                " ".join(fmt(s) for s in lv.encoder),
                lv.pooled,
                lv.up,
                _skip(lv),
                " ".join(fmt(s) for s in lv.decoder) or "-",
            ]
        )
    body = table(["level", "encoder", "pooled", "up", "skip", "decoder"], rows)
    below = ", ".join(fmt(b) for b in u.valid_below)
    above = ", ".join(fmt(a) for a in u.valid_above)
    tail = f"smallest valid input: {u.smallest_valid}; nearest valid sizes: {below} below, {above} above"
    return "\n".join([head, body, tail])


def _skip(lv: shapes.UNetLevel) -> str:
    if lv.skip_crop is not None:
        c = lv.skip_crop
        window = " x ".join(f"{a}..{b - 1}" for a, b in zip(c.start, c.stop))
        return f"crop {fmt(c.size)} -> {fmt(c.output_size)} at {window}"
    if lv.skip_pad is not None:
        if any(lo or hi for lo, hi in lv.skip_pad):
            return f"pad up by {fmt(lv.skip_pad)}"
        return "concat"
    return "-"


def _unet_json(u: shapes.UNetSizes) -> dict:
    levels = []
    for lv in u.levels:
        crop = lv.skip_crop
        levels.append(
            {
                "level": lv.level,
                "encoder": lv.encoder,
                "pooled": lv.pooled,
                "up": lv.up,
                "skip_crop": None
                if crop is None
                else {
                    "size": crop.size,
                    "output_size": crop.output_size,
                    "start": crop.start,
                    "stop": crop.stop,
                },
                "skip_pad": lv.skip_pad,
                "decoder": lv.decoder,
            }
        )
    return {
        "input_size": u.input_size,
        "output_size": u.output_size,
        "depth": u.depth,
        "kernel_size": u.kernel_size,
        "convs_per_level": u.convs_per_level,
        "padding": u.padding,
        "levels": levels,
        "smallest_valid": u.smallest_valid,
        "valid_below": u.valid_below,
        "valid_above": u.valid_above,
    }
