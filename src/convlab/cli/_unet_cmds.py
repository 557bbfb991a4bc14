"""``convlab unet``: a shape-only trace of a U-Net, and the configuration options it shares."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from .. import shapes
from .._args import ConvlabError, describe, per_dim
from ._address_text import skip_address_lines, skip_addresses
from ._parse import Grammar, size_arg
from ._table import dumps, fmt, table

__all__ = ["add_commands", "config_from_args", "config_options", "run_unet"]

# Command-line flag -> UNetConfig field; --config files use the field names.
_FLAGS = {
    "in_channels": "--in-channels",
    "classes": "--classes",
    "depth": "--depth",
    "width": "--width",
    "convs_per_level": "--convs",
    "kernel_size": "--kernel-size",
    "padding": "--padding",
    "batch_norm": "--batch-norm",
    "pooling": "--pooling",
    "up_mode": "--up",
    "ndim": "--ndim",
}


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "unet",
        parents=[common],
        help="shape-only trace of a U-Net: layer shapes, skip crops, parameters, FLOPs, memory",
    )
    p.add_argument(
        "input", nargs="?", type=size_arg, default=None, metavar="SIZE", help="input size: 572 or 572x572"
    )
    p.add_argument("--input", dest="input_option", type=size_arg, default=None, help=argparse.SUPPRESS)
    p.add_argument("--addresses", nargs="?", const="NCHW", metavar="LAYOUT", help="skip crops as addresses")
    config_options(
        p, defaults_from="the paper's U-Net: 1 channel in, 2 classes, depth 4, width 64", short_flags=True
    )
    # The configuration (a --config file's ndim, or 2) decides a bare number's dimensions.
    grammar = Grammar(
        applies={"": ()},
        sizes=("input",),
        aliases={"input": "input_option"},
        required=("input",),
        expand="none",
    )
    p.set_defaults(run=run_unet, grammar=grammar)


def config_options(
    p: argparse.ArgumentParser,
    *,
    defaults_from: str,
    fields: tuple[str, ...] = tuple(_FLAGS),
    short_flags: bool = False,
) -> None:
    """``--config FILE.json`` and the flags of the UNetConfig ``fields``; unset ones: ``defaults_from``.

    ``short_flags`` adds ``-k`` and ``-p``, the layer grammar's spellings, where
    nothing else of the command takes them.
    """
    group = p.add_argument_group(f"U-Net configuration (unset values: {defaults_from})")
    group.add_argument("--config", metavar="FILE.json", help="UNetConfig fields as a JSON object")
    options = {
        "padding": {"choices": ("valid", "same")},
        "batch_norm": {"action": argparse.BooleanOptionalAction},
        "pooling": {"choices": ("max", "avg")},
        "up_mode": {"choices": ("transpose", "bilinear")},
        "ndim": {"type": int, "choices": (1, 2, 3)},
    }
    for field in fields:
        kind = options.get(field, {"type": int, "metavar": "N"})
        short = {"kernel_size": ["-k"], "padding": ["-p"]}.get(field, []) if short_flags else []
        if short_flags and field == "ndim":
            kind = {
                **kind,
                "help": "spatial dimensions; unset: those of a SIZE written per dimension, "
                "else --config's, else 2",
            }
        group.add_argument(*short, _FLAGS[field], dest=field, default=None, **kind)


def config_from_args(args: argparse.Namespace) -> dict:
    """The UNetConfig fields given: the ``--config`` file's, then the flags' over them."""
    from ..models import UNetConfig

    known = {f.name for f in dataclasses.fields(UNetConfig)}
    values = _read_config(args.config, known) if args.config else {}
    values.update({name: getattr(args, name) for name in _FLAGS if getattr(args, name, None) is not None})
    return values


def _read_config(path: str, known: set[str]) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as err:
        raise ConvlabError(f"cannot read --config {path!r}: {err.strerror or err}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConvlabError(f"--config {path!r} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise ConvlabError(
            f"--config {path!r} must hold a JSON object of UNetConfig fields, got {describe(data)}"
        )
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConvlabError(
            f"--config {path!r} has unknown fields {unknown}; UNetConfig fields are {sorted(known)}"
        )
    return data


def run_unet(args: argparse.Namespace) -> str:
    from ..models import UNet, UNetConfig

    config = UNetConfig(**config_from_args(args))
    size = per_dim(args.input, "--input", config.ndim, minimum=1)
    config.sizes(size)  # an input size that does not fit fails here, before any weight exists
    model = UNet(config)
    rows = model.trace((1, config.in_channels, *size))
    field, spread, approximate = _receptive_field(model, rows, size)
    windows = skip_addresses(config, size, args.addresses) if args.addresses else None
    if args.json:
        more = {"addresses": windows} if windows is not None else {}
        return dumps(
            _trace_json(config, size, rows, field, approximate) | more | {"receptive_field_range": spread}
        )
    square = len(size) > 1 and len(set(size)) == 1
    body = table(
        ["layer", "type", "output shape", "params", "MFLOP", "MiB", "skip (per side)" if square else "skip"],
        [
            [
                r.name,
                r.layer,
                fmt(r.output_shape[1:]),
                f"{r.parameters:,}",
                f"{r.flops / 1e6:,.0f}",
                f"{r.activation_bytes / 2**20:.1f}",
                _skip(r, square),
            ]
            for r in rows
        ],
    )
    more = skip_address_lines(windows, args.addresses) if windows is not None else []
    lines = [_headline(config, size, rows), body, *_totals(rows, field, approximate, model.dtype)]
    tiling = _tiling_lines(model.size_contract, size)
    return "\n".join([*lines, *_field_lines(field, spread, approximate), *tiling, *more])


def _tiling_lines(contract, size: tuple[int, ...]) -> list[str]:
    """What overlap-tile inference needs: valid windows, the core a window keeps, grid and halo."""
    fields = (contract.smallest, contract.step, contract.margin, contract.alignment, contract.halo)
    square = all(len(set(values)) == 1 for values in fields)

    def side(values: tuple) -> str:
        return fmt(values[0]) if square else fmt(values)

    a, b = contract.smallest[0], contract.step[0]
    rule = f"every size from {a}" if b == 1 else f"{a} + {b}*m"
    if not square:
        rule = " x ".join(f"{a} + {b}*m" for a, b in zip(contract.smallest, contract.step))
    lo, hi = contract.margin[0]
    margin = f"margin {lo} before, {hi} after" if square else f"margins {fmt(contract.margin)}"
    return [
        f"overlap-tile: windows of {rule}{' per side' if square else ''}; this {fmt(size)} window keeps a "
        f"{fmt(contract.output_size(size))} core ({margin}); windows start on a {side(contract.alignment)} "
        f"grid; halo {side(contract.halo)}" + ("" if contract.exact else " (approximate: no halo is exact)"),
        "  (convlab segment IMAGE --tile SIZE uses these; the halo is extra context for padded nets)",
    ]


def _headline(config, size: tuple[int, ...], rows: list) -> str:
    bn = "batch norm" if config.batch_norm else "no batch norm"
    return (
        f"U-Net {fmt(size)} -> {fmt(rows[-1].output_shape[2:])}: in_channels {config.in_channels}, "
        f"classes {config.classes}, depth {config.depth}, width {config.width}, "
        f"{config.convs_per_level} convs of {config.kernel_size} per level, padding '{config.padding}', "
        f"{config.pooling}-pool, up '{config.up_mode}', {bn}"
    )


def _skip(row, square: bool = False) -> str:
    """The skip connection's crop or pad; ``square``: one number per side (every dimension alike)."""
    if row.crop is not None:
        c = row.crop
        if square:
            return f"crop {c.size[0]} -> {c.output_size[0]} at {c.start[0]}..{c.stop[0] - 1}"
        window = " x ".join(f"{a}..{b - 1}" for a, b in zip(c.start, c.stop))
        return f"crop {fmt(c.size)} -> {fmt(c.output_size)} at {window}"
    if row.pad is not None:
        pad = row.pad[:1] if square else row.pad
        return f"pad up by {fmt(pad)}" if any(lo or hi for lo, hi in row.pad) else "concat"
    return ""


def _sums(rows: list) -> dict:
    # In-place ReLUs write over their input: their rows add no memory.
    held = [r for r in rows if r.layer != "ReLU"]
    largest = max(held, key=lambda r: r.activation_bytes)
    return {
        "parameters": sum(r.parameters for r in rows),
        "flops": sum(r.flops for r in rows),
        "activation_bytes": sum(r.activation_bytes for r in held),
        "largest_activation": {"layer": largest.name, "bytes": largest.activation_bytes},
    }


def _totals(rows: list, field: tuple[int, ...], approximate: bool, dtype) -> list[str]:
    s = _sums(rows)
    mib = 2**20
    return [
        f"total: {s['parameters']:,} parameters ({s['parameters'] * dtype.itemsize / mib:.1f} MiB {dtype}), "
        f"{s['flops'] / 1e9:,.1f} GFLOP (2 x multiply-adds)",
        f"activations: {s['activation_bytes'] / mib:,.1f} MiB summed over the layers' outputs (in-place "
        f"ReLUs not counted), largest {s['largest_activation']['bytes'] / mib:.1f} MiB at "
        f"{s['largest_activation']['layer']}",
    ]


def _field_lines(field: tuple[int, ...], spread: list | None, approximate: bool) -> list[str]:
    about = "about " if approximate else ""
    path = "through the longest path (encoder, bottom, decoder)"
    if spread is None:
        lines = [f"receptive field: {about}{fmt(field)} input pixels at most, {path}"]
    elif all(a == b for a, b in spread):
        lines = [
            f"receptive field: {about}{fmt(tuple(a for a, _ in spread))} input pixels for every output pixel"
        ]
    else:
        ranges = "x".join(f"{a}" if a == b else f"{a}..{b}" for a, b in spread)
        lines = [
            f"receptive field: {about}{ranges} input pixels, depending on the output pixel (the",
            "  up-convolutions' phases differ; with padding, edge pixels see fewer), " + path,
        ]
    if not approximate and spread is not None:
        lines[-1] += "; torch's gradients show the same"
    if approximate:
        lines.append("  bilinear up-sampling counted as a 4x4 stride-2 transposed conv (same neighbours)")
    return lines


def _receptive_field(model, rows: list, size: tuple[int, ...]) -> tuple[tuple[int, ...], list | None, bool]:
    """The largest receptive field, the (fewest, most) per output pixel, and whether approximate.

    By :func:`convlab.shapes.receptive_field` and
    :func:`convlab.shapes.receptive_field_range` (None when the input is
    beyond the range's work bound).

    The longest path runs through every traced layer (the skips are shorter).
    Interpolation is not a convolution: with ``align_corners=True`` which
    inputs an output reads depends on the size, so it is counted as its
    ``align_corners=False`` equivalent, a 4x4 stride-2 transposed convolution
    reading the same 2 neighbours per dimension (and the result flagged).
    """
    modules = dict(model.named_modules())
    layers, approximate = [], False
    for row in rows:
        m = modules.get(row.name)
        kind = row.layer.rstrip("123d")
        if kind == "Conv":
            layers.append(shapes.Layer("conv", m.kernel_size, m.stride, m.padding, m.dilation))
        elif kind == "ConvTranspose":
            layers.append(
                shapes.Layer(
                    "convtranspose", m.kernel_size, m.stride, m.padding, m.dilation, m.output_padding
                )
            )
        elif kind in ("MaxPool", "AvgPool"):
            layers.append(shapes.Layer("pool", m.kernel_size, m.stride, m.padding, getattr(m, "dilation", 1)))
        elif kind == "Upsample":
            layers.append(shapes.Layer("convtranspose", 4, 2, 1))
            approximate = True
    largest = shapes.receptive_field(layers)[-1].size
    largest = (largest,) * model.config.ndim if isinstance(largest, int) else largest
    try:
        spread = list(shapes.receptive_field_range(layers, size))
    except ConvlabError:
        spread = None
    return largest, spread, approximate


def _trace_json(config, size: tuple[int, ...], rows: list, field: tuple[int, ...], approximate: bool) -> dict:
    layers = []
    for r in rows:
        crop = (
            None
            if r.crop is None
            else {
                "size": r.crop.size,
                "output_size": r.crop.output_size,
                "start": r.crop.start,
                "stop": r.crop.stop,
            }
        )
        layers.append(
            {
                "name": r.name,
                "layer": r.layer,
                "output_shape": r.output_shape,
                "parameters": r.parameters,
                "flops": r.flops,
                "activation_bytes": r.activation_bytes,
                "crop": crop,
                "pad": r.pad,
            }
        )
    return {
        "config": dataclasses.asdict(config),
        "input_size": size,
        "output_size": rows[-1].output_shape[2:],
        "layers": layers,
        "totals": _sums(rows),
        "receptive_field": {"size": field, "approximate": approximate},
    }
