"""``convlab fixed-sweep``: the demo U-Net in fixed point at several word widths, scored by IoU."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .._args import ConvlabError
from .._extras import require
from ._table import dumps, table

# Calibration images are drawn from seeds far from the scored ones.
_CALIBRATION_SEED = 1000


def add_command(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "fixed-sweep",
        parents=[common],
        help="the demo U-Net in HLS fixed point per word width: IoU vs ground truth and vs float",
    )
    p.add_argument("--widths", default="4-16", help="word widths, 'A-B' or 'A,B,C' (default %(default)s)")
    p.add_argument("--size", type=int, default=252, help="synthetic image size (default %(default)s)")
    p.add_argument("--images", type=int, default=2, help="scored images, seeds 0.. (default %(default)s)")
    p.add_argument("--calibration", type=int, default=2, help="calibration images (default %(default)s)")
    p.add_argument("--rounding", default="rnd_conv", help="rounding of every format (default %(default)s)")
    p.add_argument("--overflow", default="sat", help="overflow of every format (default %(default)s)")
    p.add_argument("--formats", action="append", default=[], help="also score this JSON format table")
    p.add_argument("--plot", help="write IoU against word width to this .png")
    p.set_defaults(run=run_sweep)


def _widths(text: str) -> list[int]:
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-"))
            return list(range(lo, hi + 1))
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise ConvlabError(f"--widths must look like '4-16' or '6,8,12', got {text!r}") from None


def run_sweep(args: argparse.Namespace) -> str:
    from ..data import demo_unet, synthetic_cells
    from ..quant import FormatTable, bit_width_sweep

    widths = _widths(args.widths)
    if args.images < 1 or args.calibration < 1:
        raise ConvlabError(
            f"--images and --calibration must be at least 1, got {args.images}, {args.calibration}"
        )
    if args.plot and Path(args.plot).suffix.lower() != ".png":
        raise ConvlabError(f"--plot must end in .png, got {args.plot!r}")
    if args.plot:  # before the sweep, not after minutes of it
        require("matplotlib", "viz", f"--plot {args.plot}")
    tables = {Path(f).name: FormatTable.from_json(f) for f in args.formats}
    scored = [synthetic_cells(args.size, seed) for seed in range(args.images)]
    calibration = [synthetic_cells(args.size, _CALIBRATION_SEED + s)[0] for s in range(args.calibration)]
    rows = bit_width_sweep(
        demo_unet(),
        np.stack([image for image, _ in scored])[:, None],
        np.stack([mask for _, mask in scored]),
        np.stack(calibration)[:, None],
        widths,
        rounding=args.rounding,
        overflow=args.overflow,
        tables=tables,
    )
    if args.plot:
        _plot(rows, Path(args.plot))
    if args.json:
        return dumps({"rows": [row.__dict__ for row in rows], "plot": args.plot})
    body = [
        (r.label, r.word_bits, f"{r.iou_truth:.4f}", f"{r.iou_float:.4f}", f"{100 * r.agreement:.3f} %")
        for r in rows
    ]
    head = ("formats", "W", "IoU vs truth", "IoU vs float", "pixels = float")
    note = f"{args.images} image(s) {args.size}x{args.size}, calibrated on {args.calibration} other(s)"
    return table(head, body) + f"\n{note}" + (f"; plot: {args.plot}" if args.plot else "")


def _plot(rows, path: Path) -> None:
    matplotlib = require("matplotlib", "viz", f"--plot {path}")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import atomic_path

    swept = [r for r in rows if r.label.startswith("W=")]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    widths = [r.word_bits for r in swept]
    ax.plot(widths, [r.iou_truth for r in swept], "o-", label="fixed point vs ground truth")
    ax.plot(widths, [r.iou_float for r in swept], "s--", label="fixed point vs float prediction")
    ax.axhline(
        rows[0].iou_truth, color="grey", lw=1, label=f"float32 vs ground truth ({rows[0].iou_truth:.4f})"
    )
    ax.set(xlabel="word width W (bits, every tensor)", ylabel="IoU (foreground)", xticks=widths)
    ax.set_title("Demo U-Net in ap_fixed<W, I per layer>", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
