"""``convlab demo``: a U-Net segments a large synthetic cell image by overlap-tile.

The network and its weights ship inside the package (``convlab.data``), the
image is generated with its exact ground truth, so the demo needs no
download and reports a real score. ``convlab demo --shapes`` keeps the tour
of the shape questions people work out by hand.
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from .._args import ConvlabError
from .._limits import check_memory
from ._shape_cmds import run_roundtrip, run_solve, run_unet_sizes
from ._table import dumps

_SECTIONS = (
    (
        "Why does ConvTranspose2d(k3, s2, p1) not undo Conv2d(k3, s2, p1) on 24x24?",
        run_roundtrip,
        {"size": 24, "kernel_size": 3, "stride": 2, "padding": 1, "dilation": 1},
    ),
    (
        "Which conv maps 768 to 128?",
        run_solve,
        {
            "in_size": 768,
            "out_size": 128,
            "transposed": False,
            "kernel_size": None,
            "stride": None,
            "padding": None,
            "dilation": None,
            "max_kernel_size": 16,
            "max_stride": 16,
            "max_padding": None,
            "max_dilation": 1,
            "limit": 5,
        },
    ),
    (
        "The U-Net paper's 572x572 input: sizes and copy-and-crop windows",
        run_unet_sizes,
        {"size": 572, "depth": 4, "kernel_size": 3, "convs": 2, "padding": "valid"},
    ),
)
# The picture shows a crop: a 4096² image is too large to see cells in.
_CROP = 512


def add_command(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "demo",
        parents=[common],
        help="segment a synthetic cell image by overlap-tile with the bundled U-Net (--shapes: shape tour)",
    )
    p.add_argument("--size", type=int, default=4096, help="image height and width (default %(default)s)")
    p.add_argument("--tile", type=int, default=572, help="the U-Net's input window (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic image (default %(default)s)")
    p.add_argument(
        "-o", "--output", default="convlab-demo.png", help="side-by-side PNG (default %(default)s)"
    )
    p.add_argument("--shapes", action="store_true", help="the tour of shape questions instead")
    p.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> str:
    if args.shapes:
        return run_tour(args)
    if args.size < 1:
        raise ConvlabError(f"--size must be a positive number of pixels, got {args.size}")
    # The synthetic image, its mask and the side-by-side RGB picture are
    # whole arrays: about 16 bytes a pixel, checked before drawing them.
    check_memory(16 * args.size**2, f"demo --size {args.size} (the image, mask and picture)")
    output = Path(args.output)
    if output.suffix.lower() != ".png":
        raise ConvlabError(f"--output must end in .png, got {args.output!r}")
    result = segment_synthetic(args.size, args.tile, args.seed)
    write_png(output, side_by_side(result["image"], result["prediction"], result["truth"]))
    return _report(args, result, output)


def segment_synthetic(size: int, tile: int, seed: int) -> dict:
    """Generate, segment by overlap-tile, score: the demo's work, without the printing."""
    from ..data import demo_unet, synthetic_cells
    from ..tiling import TilingStats, predict_tiled

    start = time.perf_counter()
    image, truth = synthetic_cells(size, seed)
    generated = time.perf_counter() - start
    model, stats = demo_unet(), TilingStats()
    prediction = predict_tiled(model, image, tile, labels=True, stats=stats)
    return {
        "image": image,
        "truth": truth,
        "prediction": prediction,
        "iou": iou(prediction, truth),
        "generate_s": generated,
        "stats": stats,
        "peak_mib": peak_memory_mib(),
        "parameters": sum(v.size for v in model.state_dict().values()),
        "config": model.config,
    }


def iou(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of the foreground (class 1) masks; 1.0 when both are empty."""
    p, t = prediction.astype(bool), truth.astype(bool)
    union = np.count_nonzero(p | t)
    return 1.0 if union == 0 else np.count_nonzero(p & t) / union


def peak_memory_mib() -> float | None:
    """The process's peak resident memory in MiB, or None where ``resource`` is missing (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _grey(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, [0.5, 99.5])
    scaled = (image - low) / (high - low if high > low else 1.0)
    return np.round(255 * np.clip(scaled, 0, 1)).astype(np.uint8)


def side_by_side(image: np.ndarray, prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``(h, 3w + 8)`` uint8 grey: input | prediction | ground truth, on the image's central crop."""
    h, w = image.shape
    top, left = max(0, (h - _CROP) // 2), max(0, (w - _CROP) // 2)
    box = (slice(top, top + _CROP), slice(left, left + _CROP))
    panels = [_grey(image[box]), prediction[box] * np.uint8(255), truth[box] * np.uint8(255)]
    gap = np.full((panels[0].shape[0], 4), 128, np.uint8)
    return np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)


def write_png(path: Path, grey: np.ndarray) -> None:
    """An 8-bit greyscale PNG, by zlib alone (no Pillow needed), written atomically."""
    from ..io import atomic_path

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w = grey.shape
    # Filter type 0 (none) before every row, as the format requires.
    rows = np.concatenate([np.zeros((h, 1), np.uint8), grey], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 6))
    with atomic_path(path) as tmp:
        tmp.write_bytes(data + chunk(b"IEND", b""))


def _report(args: argparse.Namespace, result: dict, output: Path) -> str:
    stats, config = result["stats"], result["config"]
    plan = stats.plan
    peak = result["peak_mib"]
    if args.json:
        return dumps(
            {
                "size": args.size,
                "seed": args.seed,
                "iou": round(result["iou"], 4),
                "tiles": stats.tiles,
                "window": plan.window,
                "kept": plan.stride,
                "generate_seconds": round(result["generate_s"], 2),
                "segment_seconds": round(stats.total, 2),
                "peak_memory_mib": None if peak is None else round(peak, 1),
                "picture": str(output),
            }
        )
    n = args.size
    window, kept = "x".join(map(str, plan.window)), "x".join(map(str, plan.stride))
    crop = min(n, _CROP)
    lines = [
        f"convlab demo: a U-Net segments a synthetic {n}x{n} cell image by overlap-tile",
        f"  image     {n}x{n} float32 with its exact mask (seed {args.seed}), "
        f"made in {result['generate_s']:.1f} s",
        f"  model     U-Net depth {config.depth}, width {config.width}, unpadded, {result['parameters']:,} "
        "parameters, weights shipped in convlab/data",
        f"  tiles     {stats.tiles} windows of {window}, {kept} kept from each, mirrored at the border",
        f"  segmented in {stats.total:.1f} s ({stats.tiles / max(stats.total, 1e-9):.1f} tiles/s)"
        + ("" if peak is None else f", peak memory {peak:.0f} MiB"),
        f"  IoU       {result['iou']:.3f} against the ground truth (cells vs background)",
        f"  picture   {output}: input | prediction | ground truth, the central {crop}x{crop}",
    ]
    return "\n".join(lines)


def run_tour(args: argparse.Namespace) -> str:
    """The shape tour: three questions and convlab's answers."""
    blocks = []
    for title, command, values in _SECTIONS:
        text = command(argparse.Namespace(json=False, **values))
        blocks.append(f"== {title}\n{text}")
    if args.json:
        return dumps(
            {
                "sections": [
                    {"title": t, "text": b.split("\n", 1)[1]} for (t, _, _), b in zip(_SECTIONS, blocks)
                ]
            }
        )
    return "\n\n".join(blocks)
