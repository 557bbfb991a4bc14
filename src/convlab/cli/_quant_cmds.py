"""``convlab quantize``: post-training int8 quantisation of U-Net weights, exported as ONNX.

Calibration images come from a PNG/TIFF directory or are synthetic cells
(``--synthetic N``, which also scores the float and int8 networks' IoU on
held-out synthetic images against their exact ground truth). The report
lists every layer's float-vs-integer error.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .._args import ConvlabError
from .._extras import require
from ..models._registry import option_choices
from ._table import dumps, table
from ._unet_cmds import config_from_args, config_options

__all__ = ["add_command", "run_quantize"]

# Synthetic evaluation images use seeds from here on, never a calibration seed.
_EVAL_SEED = 10_000
_MAX_IMAGES = 256


def add_command(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "quantize", parents=[common], help="post-training int8 quantisation of U-Net weights to an ONNX model"
    )
    p.add_argument(
        "--weights",
        "-w",
        help="U-Net state_dict, any layout load_unet reads (default: the shipped demo U-Net)",
    )
    p.add_argument(
        "--layout", default="auto", help="parameter-name layout of the weights (default: %(default)s)"
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--calibrate", metavar="DIR", help="directory of PNG/TIFF calibration images")
    src.add_argument("--synthetic", type=int, metavar="N", help="calibrate on N synthetic cell images")
    p.add_argument("--size", type=int, help="synthetic image size (default: the valid size nearest 188)")
    p.add_argument("--method", choices=("minmax", "percentile"), default="minmax")
    p.add_argument(
        "--percentile", type=float, default=99.99, help="for --method percentile (default %(default)s)"
    )
    p.add_argument(
        "--normalize", choices=("dtype", "standardize"), default="dtype", help="image scaling (as segment)"
    )
    p.add_argument("-o", "--output", required=True, help="the ONNX model to write (.onnx)")
    p.add_argument(
        "--form",
        choices=("qoperator", "qdq"),
        default="qoperator",
        help="QLinearConv nodes (bit-equal at every onnxruntime level), or DQ/float op/Q "
        "(bit-equal once onnxruntime fuses it: ORT_ENABLE_EXTENDED and above) (default %(default)s)",
    )
    # As segment: only what some layout's weights cannot tell is asked for.
    config_options(p, defaults_from="inferred from the weights", fields=tuple(option_choices()))
    p.set_defaults(run=run_quantize)


def _model(args):
    from ..io import load_weights
    from ..models import detect_layout, load_unet
    from ..models._registry import layout as registered_layout

    if args.weights is None:
        from ..data import demo_unet

        return demo_unet()
    state = load_weights(args.weights)
    layout = detect_layout(state) if args.layout == "auto" else args.layout
    return load_unet(state, layout=layout, **registered_layout(layout).model_options(config_from_args(args)))


def _default_size(model) -> int:
    contract = model.size_contract
    small, step = contract.smallest[0], contract.step[0]
    return small if small >= 188 else small + step * -(-(188 - small) // step)


def _directory_images(args, model) -> list[np.ndarray]:
    from ..io import IMAGE_SUFFIXES, read_image
    from ._segment import fit_channels, normalise

    folder = Path(args.calibrate)
    if not folder.is_dir():
        raise ConvlabError(f"--calibrate must be a directory of images, got {args.calibrate!r}")
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
    if not files:
        raise ConvlabError(f"--calibrate {args.calibrate!r} holds no {'/'.join(IMAGE_SUFFIXES)} image")
    if len(files) > _MAX_IMAGES:
        raise ConvlabError(f"--calibrate holds {len(files)} images; use at most {_MAX_IMAGES}")
    images = []
    for f in files:
        x, _ = fit_channels(normalise(read_image(f), args.normalize), model.in_channels, what=str(f))
        images.append(x[None])
    return images


def _synthetic(count: int, size: int, first_seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from ..data import synthetic_cells

    pairs = [synthetic_cells(size, seed=first_seed + i) for i in range(count)]
    return [p[0][None, None] for p in pairs], [p[1] for p in pairs]


def _iou(model, qnet, images, truths) -> dict:
    from ._demo import iou

    scores = {"float": [], "int8": []}
    for x, truth in zip(images, truths):
        for key, logits in (("float", model(x)), ("int8", qnet(x))):
            out = logits.shape[2:]
            lo = [(t - o) // 2 for t, o in zip(truth.shape, out)]
            box = tuple(slice(a, a + o) for a, o in zip(lo, out))
            scores[key].append(iou(logits[0].argmax(0), truth[box]))
    return {k: float(np.mean(v)) for k, v in scores.items()}


def _ort_check(path: str, qnet, x: np.ndarray) -> dict | None:
    """Run the written model in onnxruntime (when installed) and count differing output codes."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(["codes"], {"input": x.astype(np.float32)})[0]
    expected = qnet.run(x)[0]
    return {
        "onnxruntime": ort.__version__,
        "elements": int(expected.size),
        "differing": int(np.count_nonzero(got != expected)),
    }


def _check(args) -> None:
    if not str(args.output).lower().endswith(".onnx"):
        raise ConvlabError(f"--output must end in .onnx, got {args.output!r}")
    if args.synthetic is not None and not 1 <= args.synthetic <= _MAX_IMAGES:
        raise ConvlabError(
            f"--synthetic must be a number of images in 1..{_MAX_IMAGES}, got {args.synthetic}"
        )
    if args.size is not None and not 1 <= args.size <= 4096:
        raise ConvlabError(f"--size must be in 1..4096 pixels, got {args.size}")


def run_quantize(args: argparse.Namespace) -> str:
    from ..quant import export_onnx, layer_errors, quantize_unet

    _check(args)
    require("onnx", "onnx", f"writing {args.output}")
    model = _model(args)
    scores = None
    if args.synthetic is not None:
        size = args.size or _default_size(model)
        images, _ = _synthetic(args.synthetic, size, 0)
    else:
        images = _directory_images(args, model)
    qnet = quantize_unet(model, images, method=args.method, percentile=args.percentile)
    export_onnx(qnet, args.output, images[0].shape, form=args.form)
    probe = images[0]
    if args.synthetic is not None:
        held_out, truths = _synthetic(2, images[0].shape[-1], _EVAL_SEED)
        scores, probe = _iou(model, qnet, held_out, truths), held_out[0]
    rows = layer_errors(qnet, probe)
    return _report(args, images, rows, scores, _ort_check(args.output, qnet, images[0]))


_LAYER_KEYS = ("name", "op", "scale", "zero_point", "max_abs_error", "rms_error", "max_error_steps")


def _report(args, images, rows, scores, ort_check) -> str:
    if args.json:
        layers = [dict(zip(_LAYER_KEYS, (r.name, r.op, r.scale, r.zero_point, r.max_abs, r.rms, r.max_steps)))
                  for r in rows]  # fmt: skip
        return dumps({
            "output": str(args.output), "method": args.method, "form": args.form,
            "calibration_images": len(images), "input_shape": list(images[0].shape), "layers": layers,
            "iou": scores, "onnxruntime_check": ort_check,
        })  # fmt: skip
    shape = "x".join(str(v) for v in images[0].shape)
    lines = [
        f"wrote {args.output}: int8 U-Net for input {shape} ({args.method} calibration on "
        f"{len(images)} image{'s' * (len(images) != 1)})"
    ]
    if ort_check is None:
        lines.append("onnxruntime is not installed: the export was not run here")
    else:
        lines.append(
            f"onnxruntime {ort_check['onnxruntime']} on the first calibration image: "
            f"{ort_check['differing']} of {ort_check['elements']} output codes differ from convlab's"
        )
    body = [(r.name, r.op, f"{r.scale:.4g}", r.zero_point, f"{r.max_abs:.4g}", f"{r.rms:.4g}",
             f"{r.max_steps:.1f}") for r in rows]  # fmt: skip
    lines.append(table(("layer", "op", "scale", "zp", "max |err|", "rms err", "max steps"), body, "  "))
    if scores:
        lines.append(
            f"IoU on held-out synthetic cells: float {scores['float']:.4f}, int8 {scores['int8']:.4f}"
        )
    return "\n".join(lines)
