"""``convlab vectors``, ``convlab diff`` and ``convlab addresses``: golden vectors for hardware."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from .._args import ConvlabError
from .._limits import check_memory
from ._address_text import crop_range, range_text, skip_address_lines, skip_addresses
from ._parse import padding_arg, size_arg

__all__ = ["add_commands"]

_FORMATS = {"hex": "readmemh", "bmem": "readmemb", "coe": "coe", "mif": "mif", "bin": "bin", "npy": "npy"}


class Outcome(str):
    """Command output with an exit status other than 0 (``convlab diff``: 1 when values differ)."""

    exit_status = 0


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("vectors", parents=[common], help="golden test vectors of every layer, for RTL/HLS")
    p.add_argument(
        "model",
        help="U-Net weights (.safetensors, .npz, .pt), 'demo' for the shipped U-Net, or any model.onnx "
        "(then every node's inputs and outputs; --layers matches node names)",
    )
    p.add_argument("--input", required=True, help="input .npy/.png/.tif, or a size (64 or 64x64) to generate")
    p.add_argument("--seed", type=int, default=0, help="seed of a generated input (default: %(default)s)")
    p.add_argument("--out", required=True, help="output directory (created)")
    p.add_argument("--format", choices=tuple(_FORMATS), default="hex", help="memory format (default: hex)")
    p.add_argument("--layout", help="element order: NCHW, NHWC, NCHWc8, ... (default: channels first)")
    p.add_argument("--word-bits", type=int, help="memory word width (default: value width x lanes)")
    p.add_argument("--lanes", type=int, default=1, help="values per word (default: 1)")
    p.add_argument("--high-first", action="store_true", help="first value of a word in the high bits")
    p.add_argument("--byteorder", choices=("little", "big"), default="little", help="of .bin words")
    p.add_argument("--layers", nargs="+", metavar="GLOB", help="only these layers, e.g. 'down0.*' head")
    p.add_argument("--memory-map", metavar="FILE.json", help='{"layer:tensor": word address, ...}')
    p.add_argument(
        "--quant",
        choices=("int8",),
        help="int8 U-Net (convlab quantize's scheme, calibrated on the input): integer codes of every layer",
    )
    p.set_defaults(run=run_vectors)
    d = sub.add_parser("diff", parents=[common], help="a simulation's dumps against golden vectors")
    d.add_argument("golden", help="directory written by convlab vectors")
    d.add_argument("dump", help="directory of the simulation's dumps, named as the manifest names them")
    d.add_argument("--tolerance", type=int, default=0, metavar="LSB", help="allowed difference (default: 0)")
    d.set_defaults(run=run_diff)
    add_addresses(sub, common)


def _model(name: str):
    from ..io import load_weights
    from ..models import load_unet

    if name == "demo":
        from ..data import DEMO_WEIGHTS

        name = str(DEMO_WEIGHTS)
    if not Path(name).is_file():
        raise ConvlabError(f"MODEL must be a weights file or 'demo', got {name!r} (no such file)")
    return load_unet(load_weights(name)), name


def _input(text: str, seed: int, model) -> tuple[np.ndarray, dict]:
    path = Path(text)
    if path.suffix.lower() in (".npy", ".png", ".tif", ".tiff") and not path.is_file():
        raise ConvlabError(f"--input {text!r}: no such file")
    if path.suffix.lower() == ".npy" and path.is_file():
        x = np.load(path, allow_pickle=False)
        return x.reshape((1,) * (model.ndim + 2 - x.ndim) + x.shape), {"input": str(path)}
    if path.suffix.lower() in (".png", ".tif", ".tiff") and path.is_file():
        from ..io import read_image

        image = np.asarray(read_image(path), np.float32)
        image = image[..., None] if image.ndim == model.ndim else image
        return np.moveaxis(image, -1, 0)[None], {"input": str(path)}
    try:
        size = size_arg(text)
    except (ValueError, TypeError):
        raise ConvlabError(
            f"--input must be a .npy/.png/.tif file or a size such as 64x64, got {text!r}"
        ) from None
    spatial = (size,) * model.ndim if isinstance(size, int) else tuple(size)
    shape = (1, model.in_channels, *spatial)
    check_memory(4 * math.prod(shape), f"a generated input of shape {shape}")
    x = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    return x, {"input": "generated: standard normal float32", "seed": seed}


def run_vectors(args: argparse.Namespace) -> str:
    from .. import __version__
    from ..vectors import write_vectors

    if Path(args.model).suffix.lower() == ".onnx":
        return _onnx_vectors(args)
    model, source = _model(args.model)
    x, provenance = _input(args.input, args.seed, model)
    memory_map = {}
    if args.memory_map:
        memory_map = _load_map(args.memory_map)
    meta = {"convlab": __version__, "model": source, "input_shape": list(x.shape), **provenance}
    start = time.perf_counter()
    write, x = write_vectors, x.astype(model.dtype)
    if args.quant:
        from ..quant import quantize_unet
        from ..vectors import write_quant_vectors

        model = quantize_unet(model, [x])
        write = write_quant_vectors
    entries = write(
        model, x, args.out, fmt=_FORMATS[args.format], layout=args.layout,
        word_bits=args.word_bits, lanes=args.lanes, high_first=args.high_first, byteorder=args.byteorder,
        layers=args.layers, memory_map=memory_map, meta=meta,
    )  # fmt: skip
    return _summary(args, entries, time.perf_counter() - start, "layers")


def _onnx_vectors(args: argparse.Namespace) -> str:
    from .. import __version__
    from ..onnx import load
    from ..vectors import write_onnx_vectors

    if args.quant:
        raise ConvlabError(
            "--quant int8 quantises U-Net weights; an ONNX model's own integer nodes (QLinearConv, ...) "
            "are written as the codes they compute"
        )
    if not Path(args.model).is_file():
        raise ConvlabError(f"MODEL {args.model!r}: no such file")
    model = load(args.model)
    if len(model.input_names) != 1 or model.ndim is None or model.in_channels is None:
        raise ConvlabError(
            f"{args.model} must have one input of declared rank and channels (N, C, *spatial), has "
            f"inputs {model.input_names}: write its vectors with convlab.vectors.write_onnx_vectors"
        )
    x, provenance = _input(args.input, args.seed, model)
    memory_map = _load_map(args.memory_map) if args.memory_map else {}
    meta = {"convlab": __version__, "model": args.model, "input_shape": list(x.shape), **provenance}
    start = time.perf_counter()
    entries = write_onnx_vectors(
        model, x, args.out, fmt=_FORMATS[args.format], layout=args.layout, word_bits=args.word_bits,
        lanes=args.lanes, high_first=args.high_first, byteorder=args.byteorder, layers=args.layers,
        memory_map=memory_map, meta=meta,
    )  # fmt: skip
    return _summary(args, entries, time.perf_counter() - start, "nodes")


def _summary(args: argparse.Namespace, entries, seconds: float, unit: str) -> str:
    size = sum(f.stat().st_size for f in Path(args.out).iterdir() if f.is_file())
    layers = len({e.layer for e in entries})
    if args.json:
        return json.dumps({"files": len(entries), "layers": layers, "bytes": size, "seconds": seconds})
    return (
        f"wrote {len(entries)} files for {layers} {unit} to {args.out} ({size / 1e6:.1f} MB, "
        f"{seconds:.1f} s); manifest: {Path(args.out) / 'manifest.json'}"
    )


def _load_map(path: str) -> dict[str, int]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConvlabError(f"--memory-map {path!r} cannot be read as JSON: {err}") from None
    if not isinstance(data, dict) or not all(isinstance(v, int) and v >= 0 for v in data.values()):
        raise ConvlabError(f'--memory-map must be a JSON object {{"layer:tensor": address}}, got {path!r}')
    return data


def run_diff(args: argparse.Namespace) -> str:
    from ..vectors import diff

    report = diff(args.golden, args.dump, args.tolerance)
    text = json.dumps(_diff_json(report)) if args.json else "\n".join(_diff_lines(report))
    out = Outcome(text)
    out.exit_status = 0 if report.equal else 1
    return out


def _diff_lines(report) -> list[str]:
    lines = [f"{len(report.compared)} tensor(s) compared, {len(report.missing)} golden files not dumped"]
    shown = 0
    for t in report.compared:
        e = t.entry
        if not t.mismatches:
            lines.append(f"{e.layer} {e.tensor}: equal ({e.count} values)")
            continue
        lines.append(
            f"{e.layer} {e.tensor}: {t.mismatches} of {e.count} values differ, max {t.max_lsb} LSB ({t.dump})"
        )
        where = ", ".join(f"{a}={i}" for a, i in zip(_axes(len(t.first)), t.first))
        lines.append(f"  first: {where} (word {t.first_word}): golden {t.golden}, dump {t.found}")
        lines += [f"  {w}" for w in t.where]
        if shown < 3 and t.map:
            lines.append("  map ('#' = some value differs; top-left is row 0, column 0):")
            lines += [f"    {row}" for row in t.map]
        shown += 1
    first = report.first
    lines.append(
        "EQUAL" if first is None else f"DIFFERENT: first at {first.entry.layer} {first.entry.tensor}"
    )
    return lines


def _axes(rank: int) -> tuple[str, ...]:
    return {1: ("i",), 3: ("n", "c", "x"), 4: ("n", "c", "y", "x"), 5: ("n", "c", "z", "y", "x")}[rank]


def _diff_json(report) -> dict:
    return {
        "equal": report.equal,
        "missing": [e.file for e in report.missing],
        "tensors": [
            {
                "layer": t.entry.layer, "tensor": t.entry.tensor, "dump": t.dump, "mismatches": t.mismatches,
                "max_lsb": t.max_lsb, "first": t.first, "first_word": t.first_word, "golden": t.golden,
                "found": t.found, "where": t.where,
            }
            for t in report.compared
        ],
    }  # fmt: skip


def add_addresses(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from ._unet_cmds import config_options

    a = sub.add_parser(
        "addresses", parents=[common], help="input addresses per output, line buffers, skip crops"
    )
    a.add_argument("op", choices=("conv", "convtranspose", "crop", "unet"))
    a.add_argument("--input", type=size_arg, required=True, help="N x C x H x W (conv, crop) or H x W (unet)")
    a.add_argument("-k", "--kernel-size", type=size_arg, default=3)
    a.add_argument("-s", "--stride", type=size_arg, default=1)
    a.add_argument("-p", "--padding", type=padding_arg, default=0, help="1, 1x2, lo:hi like 0:1, same, valid")
    a.add_argument("--output-padding", type=size_arg, default=0, help="convtranspose only")
    a.add_argument("-d", "--dilation", type=size_arg, default=1)
    a.add_argument("--crop", type=size_arg, help="crop size (op crop)")
    a.add_argument("--at", type=size_arg, help="one output pixel, e.g. 0x0 (default: all, --json only)")
    a.add_argument("--layout", help="element order of the input (default: channels first)")
    config_options(a, defaults_from="the paper's U-Net", fields=("depth", "width", "in_channels"))
    a.set_defaults(run=run_addresses)


def run_addresses(args: argparse.Namespace) -> str:
    from .. import vectors

    shape = (args.input,) if isinstance(args.input, int) else tuple(args.input)
    if args.op == "unet":
        return _unet_addresses(args, shape)
    if len(shape) < 3:
        raise ConvlabError(f"--input must be N x C x spatial sizes for {args.op}, got {args.input}")
    if args.op == "crop":
        if args.crop is None:
            raise ConvlabError("addresses crop needs --crop, the crop size")
        table = vectors.crop_reads(shape, args.crop, args.layout)
        return _table_text(args, table, "crop", None, crop_range(shape, args.crop, args.layout))
    transposed = args.op == "convtranspose"
    kwargs = {
        "stride": args.stride,
        "padding": args.padding,
        "dilation": args.dilation,
        "layout": args.layout,
    }
    if transposed:
        table = vectors.conv_transpose_reads(
            shape, args.kernel_size, output_padding=args.output_padding, **kwargs
        )
    else:
        table = vectors.conv_reads(shape, args.kernel_size, **kwargs)
    buffer = vectors.line_buffer(
        shape, args.kernel_size, dilation=args.dilation, stride=args.stride, transposed=transposed
    )
    return _table_text(args, table, args.op, buffer)


def _table_text(
    args: argparse.Namespace, table: np.ndarray, op: str, buffer: int | None, span: dict | None = None
) -> str:
    nd = len(args.input) - 2
    picked = table
    if args.at is not None:
        at = (args.at,) if isinstance(args.at, int) else tuple(args.at)
        if len(at) != nd or any(not 0 <= a < n for a, n in zip(at, table.shape)):
            raise ConvlabError(f"--at must be an output pixel within {table.shape[:nd]}, got {args.at}")
        picked = table[at]
    if args.json:
        body = {"op": op, "line_buffer": buffer, "shape": list(table.shape), "reads": picked.tolist()}
        return json.dumps(body | ({"range": span} if span else {}))
    lines = [f"{op}: address table of shape {list(table.shape)} (-1 reads padding)"]
    if buffer is not None:
        lines.append(f"line buffer of a row-streaming implementation: {buffer} values")
    if span is not None:
        lines.append(f"the crop reads {range_text(span)}")
    if args.at is not None:
        lines.append(f"output {args.at} reads:")
        lines += [f"  {row}" for row in np.array2string(picked, max_line_width=100).splitlines()]
    else:
        lines.append("(--at Y,X prints one output's addresses; --json all of them)")
    return "\n".join(lines)


def _unet_addresses(args: argparse.Namespace, spatial: tuple[int, ...]) -> str:
    from ..models import UNetConfig
    from ._unet_cmds import config_from_args

    config = config_from_args(args)
    config.pop("padding", None)
    if args.padding in ("same", "valid"):
        config["padding"] = args.padding
    model = UNetConfig(**config)  # shapes only: no weights to build
    spatial = spatial * model.ndim if len(spatial) == 1 else spatial
    windows = skip_addresses(model, spatial, args.layout)
    return json.dumps(windows) if args.json else "\n".join(skip_address_lines(windows, args.layout))
