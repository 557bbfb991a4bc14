"""The shape-arithmetic sub-commands: shape, roundtrip, solve, rf, unet-sizes."""

from __future__ import annotations

import argparse

from .. import shapes
from ._parse import NDIM_HELP, Grammar, add_layer_options, bounded_int, choice_arg, layer_arg, size_arg
from ._shape_text import roundtrip_torch, shape_text
from ._solve_text import solve_answer
from ._table import dumps, fmt, same, table

_OPS = {"conv": "conv", "convtranspose": "convtranspose", "convt": "convtranspose", "pool": "pool"}

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
    return shape_text(op, args, params, out, working)


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
        f"input sizes {fmt(same(r.same_conv_size))} all give {fmt(same(r.conv_size))} after the conv, so "
        "the transposed conv cannot know which one to restore.",
        f"output_padding={fmt(same(r.output_padding))} restores {fmt(r.size)}.",
    ]
    return "\n".join(lines + roundtrip_torch(r, _params(args)))


def run_solve(args: argparse.Namespace) -> str:
    return solve_answer(args)


def run_rf(args: argparse.Namespace) -> str:
    fields = shapes.receptive_field(args.layers, input_size=args.input)
    ranges = [shapes.receptive_field_range(args.layers[: i + 1], args.input) for i in range(len(fields))]
    if args.json:
        layers = [
            {
                "layer": spec,
                "receptive_field": f.size,
                "receptive_field_range": r,
                "jump": f.jump,
                "start": f.start,
                "output_size": f.output_size,
            }
            for spec, f, r in zip(args.layers, fields, ranges)
        ]
        return dumps({"input_size": args.input, "layers": layers})
    headers = ["#", "layer", "receptive field", "per output pixel", "jump", "start"]
    rows = [
        [i, f.layer.label(), f.size, _span(r), f.jump, f.start]
        for i, (f, r) in enumerate(zip(fields, ranges))
    ]
    if args.input is not None:
        headers.append("output size")
        for row, f in zip(rows, fields):
            row.append(f.output_size)
    edges = (
        "with --input, edge pixels whose window lies partly in the padding see fewer"
        if args.input is not None
        else "borders ignored (give --input to count the edges, where padding hides pixels)"
    )
    notes = [
        "receptive field: the most input pixels, first to last, that one output pixel depends on",
        "per output pixel: fewest..most over every output pixel: transposed convs' phases differ;",
        f"  {edges}",
        "start: first input pixel output 0 reads (negative: padding); jump: input pixels between outputs",
    ]
    return "\n".join([table(headers, rows), *notes])


def _span(r: tuple) -> str:
    """``(188, 204)`` as ``188..204``; one pair per dimension joined by ``x``."""
    pairs = r if isinstance(r[0], tuple) else (r,)
    return "x".join(str(a) if a == b else f"{a}..{b}" for a, b in pairs)


def run_unet_sizes(args: argparse.Namespace) -> str:
    config = {"depth": args.depth, "kernel_size": args.kernel_size, "convs_per_level": args.convs}
    u = shapes.unet_sizes(args.size, padding=args.padding, **config)
    if args.json:
        return dumps(_unet_json(u))
    head = (
        f"U-Net {fmt(u.input_size)} -> {fmt(u.output_size)} (depth {u.depth}, kernel {u.kernel_size}, "
        f"{u.convs_per_level} convs per level, padding '{u.padding}')"
    )
    # A square input has square features: one number per side keeps the table narrow.
    side = fmt if len(set(u.input_size)) > 1 else (lambda v: fmt(v[0]) if isinstance(v, tuple) else fmt(v))
    rows = [
        [
            lv.level,
            " ".join(side(s) for s in lv.encoder),
            side(lv.pooled),
            side(lv.up),
            _skip(lv, side),
            " ".join(side(s) for s in lv.decoder) or "-",
        ]
        for lv in u.levels
    ]
    body = table(["level", "encoder", "pooled", "up", "skip", "decoder"], rows)
    note = ["sizes per side (the input is square)"] if side is not fmt and len(u.input_size) > 1 else []
    return "\n".join([head, body, *note, *_valid_rule(u, config)])


def _valid_rule(u: shapes.UNetSizes, config: dict) -> list[str]:
    """The rule for the input sizes this U-Net takes, in words and with the sizes around this one."""
    n = u.input_size[0]
    if u.padding == "same":
        period = 2**u.depth
        padded = [lv.level for lv in u.levels if lv.skip_pad and any(lo or hi for lo, hi in lv.skip_pad)]
        where = f"; here at levels {', '.join(map(str, padded))}" if padded else ""
        even = sorted({max(period, n // period * period), -(-n // period) * period})
        return [
            f"valid input sizes: every size from {u.smallest_valid} up ('same' convs keep sizes, pools "
            f"floor odd ones and the decoder pads the up-sampled features back{where})",
            f"no padding at any skip: multiples of 2**{u.depth} = {period}, e.g. {', '.join(map(str, even))}",
        ]
    first = u.smallest_valid
    period = shapes.unet_valid_sizes(first, first + 2**u.depth + 1, padding=u.padding, **config)
    step = period[1] - period[0]
    base = [first + i * step for i in range(3)]
    tail = [x for x in (n - step, n, n + step) if x > base[-1]]
    listed = [*base, *(["..."] if tail and tail[0] > base[-1] + step else []), *tail]
    return [
        f"valid input sizes: {first} + {step}*m ({', '.join(map(str, listed))}, ...): every size before "
        f"a pool must be even (each conv takes {u.kernel_size - 1} off)",
        *(["other sides: the same rule"] if len(u.input_size) > 1 else []),
    ]


def _skip(lv: shapes.UNetLevel, side=fmt) -> str:
    if lv.skip_crop is not None:
        c = lv.skip_crop
        if side is fmt:
            window = " x ".join(f"{a}..{b - 1}" for a, b in zip(c.start, c.stop))
        else:
            window = f"{c.start[0]}..{c.stop[0] - 1}"
        return f"crop {side(c.size)} -> {side(c.output_size)} at {window}"
    if lv.skip_pad is not None:
        if any(lo or hi for lo, hi in lv.skip_pad):
            return f"pad up by {fmt(lv.skip_pad[:1]) if side is not fmt else fmt(lv.skip_pad)}"
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
