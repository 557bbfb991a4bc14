"""``convlab demo``: a U-Net segments a large synthetic cell image by overlap-tile.

The network and its weights ship inside the package (``convlab.data``), the
image is generated with its exact ground truth, so the demo needs no
download and no optional package, and reports a real score. It prints what
it is about to do first, then a progress bar (on a terminal), then the
results. ``convlab demo --shapes`` keeps the tour of the shape questions
people work out by hand.
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
from ._demo_picture import CROP, demo_picture
from ._table import dumps

# The tour runs real command lines, printed above their answers, so that each
# one is also an example a reader can type (and the grammar's rules apply).
_SECTIONS = (
    (
        "Why does ConvTranspose2d(k3, s2, p1) not undo Conv2d(k3, s2, p1) on 24x24?",
        ("roundtrip", "24", "-k", "3", "-s", "2", "-p", "1"),
    ),
    ("Which conv maps 768 to 128?", ("solve", "768", "128", "--limit", "5")),
    ("The U-Net paper's 572x572 input: sizes and copy-and-crop windows", ("unet-sizes", "572")),
)


def add_command(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "demo",
        parents=[common],
        help="segment a synthetic cell image by overlap-tile with the bundled U-Net (--shapes: shape tour)",
        description="A U-Net shipped with convlab segments a synthetic cell image tile by tile, is scored "
        "against the exact mask, and draws input | prediction | ground truth with the tiles' kept cores "
        "and cropped-away borders on the input and prediction. Needs no download and no extra package.",
    )
    p.add_argument("--size", type=int, default=4096, help="image height and width (default %(default)s)")
    p.add_argument("--tile", type=int, default=572, help="the U-Net's input window (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic image (default %(default)s)")
    p.add_argument(
        "-o",
        "--output",
        default="convlab-demo.png",
        help="the picture: input | prediction | ground truth, labelled, with the tile grid "
        "(default %(default)s)",
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
    if not output.parent.is_dir():
        raise ConvlabError(f"--output {args.output!r}: the directory {str(output.parent)!r} does not exist")
    announce = None if args.json else _announce
    result = segment_synthetic(args.size, args.tile, args.seed, announce=announce)
    write_png(
        output, demo_picture(result["image"], result["prediction"], result["truth"], result["stats"].plan)
    )
    return _report(args, result, output)


def _announce(line: str) -> None:
    # Flushed at once: the header must be on the terminal before the progress bar starts on stderr.
    print(line, flush=True)


def segment_synthetic(size: int, tile: int, seed: int, *, announce=None) -> dict:
    """Generate, segment by overlap-tile, score: the demo's work.

    ``announce(line)``, if given, is called with the header lines before the
    work they describe, and a progress bar is drawn on a terminal's stderr;
    without it the work is silent.
    """
    from ..data import demo_unet, synthetic_cells
    from ..tiling import TilingStats, plan_tiles, predict_tiled

    say = announce or (lambda line: None)
    model, stats = demo_unet(), TilingStats()
    plan = plan_tiles(model, (size, size), tile)  # a tile the U-Net cannot take fails here, before any work
    parameters = sum(v.size for v in model.state_dict().values())
    for line in _header(size, seed, plan, model.config, parameters):
        say(line)
    start = time.perf_counter()
    image, truth = synthetic_cells(size, seed)
    generated = time.perf_counter() - start
    say(f"            made in {generated:.1f} s; segmenting {plan.total} tiles...")
    progress = _progress() if announce is not None else False
    prediction = predict_tiled(model, image, tile, labels=True, stats=stats, progress=progress)
    return {
        "image": image,
        "truth": truth,
        "prediction": prediction,
        "iou": iou(prediction, truth),
        "generate_s": generated,
        "stats": stats,
        "peak_mib": peak_memory_mib(),
        "parameters": parameters,
        "config": model.config,
    }


def _header(size: int, seed: int, plan, config, parameters: int) -> list[str]:
    window, kept = "x".join(map(str, plan.window)), "x".join(map(str, plan.stride))
    return [
        f"convlab demo: a U-Net segments a synthetic {size}x{size} cell image by overlap-tile",
        f"  model     U-Net depth {config.depth}, width {config.width}, unpadded, {parameters:,} "
        "parameters, weights shipped in convlab/data",
        f"  tiles     {plan.total} windows of {window}, {kept} kept from each, mirrored at the border",
        f"  image     {size}x{size} float32 with its exact mask (seed {seed})",
    ]


def _progress():
    """tqdm's bar on a terminal (predict_tiled's default), a plain counter there without tqdm, else none."""
    isatty = getattr(sys.stderr, "isatty", None)
    if not (isatty and isatty()):
        return False
    try:
        import tqdm  # noqa: F401  (only whether it is there: the bar is an option, not a requirement)
    except ImportError:
        return _count_tiles
    return None


def _count_tiles(done: int, total: int) -> None:
    print(f"\r  tiles     {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)


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


def write_png(path: Path, pixels: np.ndarray) -> None:
    """An 8-bit grey ``(H, W)`` or RGB ``(H, W, 3)`` PNG by zlib alone (no Pillow), written atomically."""
    from ..io import atomic_path

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w = pixels.shape[:2]
    rgb = pixels.ndim == 3
    # Filter type 0 (none) before every row, as the format requires.
    flat = np.ascontiguousarray(pixels, dtype=np.uint8).reshape(h, -1)
    rows = np.concatenate([np.zeros((h, 1), np.uint8), flat], axis=1).tobytes()
    # Colour type 2 is RGB, 0 grey.
    header = struct.pack(">IIBBBBB", w, h, 8, 2 if rgb else 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 6))
    with atomic_path(path) as tmp:
        tmp.write_bytes(data + chunk(b"IEND", b""))


def _report(args: argparse.Namespace, result: dict, output: Path) -> str:
    stats = result["stats"]
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
    crop = min(args.size, CROP)
    # The header went out before the work (segment_synthetic's announce): these are the results.
    lines = [
        f"  segmented in {stats.total:.1f} s ({stats.tiles / max(stats.total, 1e-9):.1f} tiles/s)"
        + ("" if peak is None else f", peak memory {peak:.0f} MiB"),
        f"  IoU       {result['iou']:.3f} against the ground truth (cells vs background)",
        f"  picture   {output}",
        f"            input | prediction | ground truth, the central {crop}x{crop}, with the tiles'",
        "            kept cores (green) and the borders they read but crop away (orange)",
    ]
    return "\n".join(lines)


def run_tour(args: argparse.Namespace) -> str:
    """The shape tour: three questions, the command that answers each, and its answer."""
    from ._parse import normalise

    parser, blocks = _tour_parser(), []
    for title, argv in _SECTIONS:
        command = parser.parse_args(list(argv))
        if getattr(command, "grammar", None) is not None:  # as main() does: the layer's canonical form
            normalise(command, command.command)
        blocks.append((title, "convlab " + " ".join(argv), command.run(command)))
    if args.json:
        return dumps({"sections": [{"title": t, "command": c, "text": a} for t, c, a in blocks]})
    return "\n\n".join(f"== {t}\n$ {c}\n{a}" for t, c, a in blocks)


def _tour_parser() -> argparse.ArgumentParser:
    """The sub-commands the tour runs, defined by their own modules as ``convlab`` defines them.

    Built here rather than taken from :func:`convlab.cli.build_parser`, which imports this module.
    """
    from ._shape_cmds import add_commands

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true")
    parser = argparse.ArgumentParser(prog="convlab")
    add_commands(parser.add_subparsers(dest="command"), common)
    return parser
