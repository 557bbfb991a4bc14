"""``convlab run`` and ``convlab trace``: an ONNX model on convlab's operators."""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import numpy as np

from .._args import ConvlabError
from .._extras import require
from ._table import dumps, fmt, table

DEFAULT_TOLERANCE = 1e-5


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "run", parents=[common], help="run an ONNX model; dump every tensor; compare with onnxruntime"
    )
    p.add_argument("model", help="model.onnx")
    p.add_argument(
        "--input", required=True, help="x.npy (the input array), or image.png / image.tif (batch of one)"
    )
    p.add_argument("--dump", metavar="DIR", help="write every tensor as .npy with index.json")
    p.add_argument(
        "--compare", choices=["onnxruntime"], help="per node max abs/rel difference against a runtime"
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help="max relative difference (default %(default)s)",
    )
    p.set_defaults(run=run_model)
    p = sub.add_parser(
        "trace", parents=[common], help="shapes, parameters, FLOPs, receptive fields of an ONNX model"
    )
    p.add_argument("model", help="model.onnx")
    p.add_argument("--input-shape", required=True, help="e.g. 1x3x512x512")
    p.set_defaults(run=run_trace)


def _onnx(path: str):
    require("onnx", "onnx", f"reading {path}")
    from .. import onnx

    return onnx


def _input(path_text: str, model) -> np.ndarray:
    path = Path(path_text)
    if path.suffix.lower() == ".npy":
        if not path.is_file():
            raise ConvlabError(f"--input {path_text!r} does not exist")
        array = np.load(path, allow_pickle=False)
    else:
        from ..io import read_image

        array = read_image(path)
    declared = model.graph.inputs[0].shape
    if declared is not None and array.ndim == len(declared) - 1:
        array = array[None]
    return array


def run_model(args: argparse.Namespace) -> str:
    onnx = _onnx(args.model)
    if args.compare:  # before running the model, not after
        require("onnxruntime", None, "--compare onnxruntime")
    model = onnx.load(args.model)
    if len(model.input_names) != 1:
        raise ConvlabError(f"--input gives one array; the model has inputs {model.input_names}")
    feeds = {model.input_names[0]: _input(args.input, model)}
    rows = None
    if args.compare:
        rows, values = onnx.compare_onnxruntime(model, feeds)
    else:
        values = model.run(feeds, keep="all" if args.dump else None)
    index = onnx.dump_tensors(model, values, args.dump) if args.dump else None
    outputs = {name: values[name] for name in model.output_names}
    if args.json:
        return dumps(_json(outputs, rows, args.tolerance, index))
    return _text(outputs, rows, args.tolerance, index)


def _first_parting(rows, tolerance: float):
    return next((r for r in rows if not r.max_rel <= tolerance), None)


def _json(outputs, rows, tolerance, index) -> dict:
    data: dict = {
        "outputs": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in outputs.items()},
    }
    if index is not None:
        data["dump"] = str(index)
    if rows is not None:
        data["compare"] = [
            {
                "node": r.node,
                "op": r.op,
                "tensor": r.tensor,
                "shape": list(r.shape),
                "max_abs": r.max_abs,
                "max_rel": r.max_rel,
            }
            for r in rows
        ]
        first = _first_parting(rows, tolerance)
        data["tolerance"] = tolerance
        data["first_parting"] = None if first is None else first.tensor
    return data


def _text(outputs, rows, tolerance, index) -> str:
    lines = []
    for name, value in outputs.items():
        lo, hi = (fmt(float(value.min())), fmt(float(value.max()))) if value.size else ("-", "-")
        lines.append(f"output {name}: shape {value.shape}, {value.dtype}, min {lo}, max {hi}")
    if rows is not None:
        body = [
            (r.node, r.op, "x".join(map(str, r.shape)), f"{r.max_abs:.3g}", f"{r.max_rel:.3g}") for r in rows
        ]
        lines += ["", "convlab vs onnxruntime, per node in topological order:"]
        lines.append(table(("node", "op", "shape", "max abs", "max rel"), body, indent="  "))
        first = _first_parting(rows, tolerance)
        worst = max((r.max_rel for r in rows), default=0.0)
        if first is None:
            lines.append(
                f"all {len(rows)} tensors agree within max relative difference {tolerance:g} "
                f"(worst {worst:.3g})"
            )
        else:
            lines.append(
                f"first tensor beyond {tolerance:g}: {first.tensor!r} of {first.op} node {first.node!r}"
            )
    if index is not None:
        lines.append(f"tensors written to {index.parent} (index: {index.name})")
    return "\n".join(lines)


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConvlabError(f"--input-shape must look like 1x3x512x512, got {text!r}") from None
    if min(shape) < 1:
        raise ConvlabError(f"--input-shape must be positive sizes, got {text!r}")
    return shape


def _jump(values) -> str:
    return "x".join(str(Fraction(v)) for v in values)


def run_trace(args: argparse.Namespace) -> str:
    onnx = _onnx(args.model)
    model = onnx.load(args.model)
    rows = model.trace(_shape(args.input_shape))
    if args.json:
        return dumps({"rows": [_row_json(r) for r in rows], "parameters": sum(r.parameters for r in rows)})
    body = []
    # Exporters' shape arithmetic (Shape, Gather, Concat of sizes...) makes
    # rank-0/1 tensors; the table shows the layers, --json every node.
    shown = [
        r for r in rows if r.receptive_field is not None or r.parameters or max(map(len, r.output_shapes)) > 1
    ]
    for r in shown:
        shape = " ".join("x".join(map(str, s)) for s in r.output_shapes)
        rf = "-" if r.receptive_field is None else "x".join(map(str, r.receptive_field))
        jump = "-" if r.jump is None else _jump(r.jump)
        start = "-" if r.start is None else ",".join(map(str, r.start))
        body.append((r.name, r.op, shape, r.parameters, r.flops, rf, jump, start))
    text = table(("node", "op", "output", "params", "flops", "rf", "jump", "start"), body)
    total = sum(r.flops for r in rows)
    hidden = f" ({len(rows) - len(shown)} shape-arithmetic nodes not shown)" if len(shown) < len(rows) else ""
    return f"{text}\n{len(rows)} nodes{hidden}, {sum(r.parameters for r in rows)} parameters, {total} FLOPs"


def _row_json(r) -> dict:
    return {
        "node": r.name,
        "op": r.op,
        "outputs": list(r.outputs),
        "output_shapes": [list(s) for s in r.output_shapes],
        "parameters": r.parameters,
        "flops": r.flops,
        "receptive_field": None if r.receptive_field is None else list(r.receptive_field),
        "jump": None if r.jump is None else [str(Fraction(j)) for j in r.jump],
        "start": None if r.start is None else list(r.start),
    }
