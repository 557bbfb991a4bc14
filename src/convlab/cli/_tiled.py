"""``convlab segment --tile``: the overlap-tile path for images larger than memory.

``convlab segment`` registers these options with :func:`add_tiling_options`
and hands over to :func:`run_tiled` when ``--tile`` is given: the image is
read window by window (TIFF, .npy or zarr), the mask written tile by tile
under a temporary name, in this process or on a Dask cluster.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .._args import ConvlabError
from .._extras import require
from ._parse import size_arg
from ._table import dumps, fmt

__all__ = ["ScaledModel", "add_tiling_options", "run_tiled"]

_OUTPUTS = (".tif", ".tiff", ".npy", ".zarr")


def add_tiling_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("overlap-tile inference (images larger than memory)")
    g.add_argument(
        "--tile",
        type=size_arg,
        default=None,
        help="segment by overlap-tile with this input window (572, or 572x380; 572 as in the paper); "
        "the mask must then be .tif, .tiff, .npy or .zarr",
    )
    g.add_argument(
        "--halo", type=size_arg, default=None, help="extra context per side (default: the model's, exact)"
    )
    g.add_argument("--workers", type=int, default=None, help="run the tiles on N local Dask worker processes")
    g.add_argument("--scheduler", default=None, help="run the tiles on the Dask scheduler at this address")


class ScaledModel:
    """A model behind an affine input scaling: integer images mapped to [0, 1] window by window.

    It shows tiling the wrapped model's size contract and, if it states them, its channels
    (an ONNX graph need not).
    """

    def __init__(self, model, offset: float, scale: float):
        self.model, self.offset, self.scale = model, offset, scale
        self.size_contract = model.size_contract
        self.in_channels = getattr(model, "in_channels", None)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.model((x - self.offset) * self.scale)


def _scaled(model, dtype: np.dtype, normalize: str):
    if normalize != "dtype":
        raise ConvlabError(
            f"--normalize {normalize} needs statistics of the whole image; with --tile use --normalize dtype"
        )
    # The segment command's 'dtype' rule, window by window: integers by
    # their type's range to [0, 1], floats as they are.
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return ScaledModel(model, float(info.min), 1.0 / (float(info.max) - float(info.min)))
    return model


def _source(path: str):
    """What predict_tiled reads: the path of a streamable file, the decoded array of a PNG."""
    if Path(path).suffix.lower() == ".png":
        from ..io import read_image

        return read_image(path)
    return path


def _require_packages(args: argparse.Namespace, out: Path) -> None:
    """Every package the run needs, checked before the model is loaded."""
    if args.workers is not None or args.scheduler is not None:
        flag = f"--workers {args.workers}" if args.workers is not None else f"--scheduler {args.scheduler}"
        require("dask.distributed", "dask", flag)
    for path in (Path(args.image), out):
        if path.suffix.lower() in (".tif", ".tiff"):
            require("tifffile", "io", f"{'writing' if path is out else 'reading'} {path}")
        elif path.suffix.lower() == ".zarr":
            require("zarr", "zarr", f"{'writing' if path is out else 'reading'} {path}")
        elif path.suffix.lower() == ".png":
            require("PIL.Image", "io", f"reading {path}")


def run_tiled(args: argparse.Namespace, load_model) -> str:
    """Segment ``args.image`` by overlap-tile; ``load_model(args)`` gives ``(model, notes)``."""
    from ..tiling import TilingStats, predict_tiled
    from ..tiling._sources import open_source

    out = Path(args.output)
    if out.suffix.lower() not in _OUTPUTS:
        raise ConvlabError(f"with --tile, --output must end in {', '.join(_OUTPUTS)}, got {str(out)!r}")
    if args.workers is not None and args.scheduler is not None:
        raise ConvlabError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    if args.workers is not None and args.workers < 1:
        raise ConvlabError(f"--workers must be at least 1, got {args.workers}")
    _require_packages(args, out)
    model, notes = load_model(args)
    if not model.size_contract.exact:
        notes.append(
            "the model interpolates with align_corners=True, whose sampling positions depend on the "
            "window's size: the tiles approximate the whole-image mask, no halo makes them exact"
        )
    image = _source(args.image)
    probe = open_source(image, getattr(model, "in_channels", None), model.size_contract.ndim)
    scaled, stats = _scaled(model, probe.dtype, args.normalize), TilingStats()

    def run(scheduler):
        return predict_tiled(
            scaled, image, args.tile, halo=args.halo, out=out, labels=True, scheduler=scheduler, stats=stats
        )

    if args.workers is not None:
        from dask.distributed import Client, LocalCluster  # required above

        with LocalCluster(n_workers=args.workers, threads_per_worker=1) as cluster, Client(cluster) as client:
            run(client)
    else:
        run(args.scheduler)
    return _report(args, probe.shape[1:], stats, out, notes)


def _report(args, spatial, stats, out: Path, notes: list[str]) -> str:
    plan = stats.plan
    if args.json:
        return dumps(
            {
                "image": args.image,
                "weights": args.weights,
                "input_size": spatial,
                "mask": str(out),
                "tiles": stats.tiles,
                "window": plan.window,
                "kept": plan.stride,
                "halo": plan.halo,
                "seconds": round(stats.total, 3),
                "notes": notes,
            }
        )
    for note in notes:
        print(f"convlab segment: note: {note}", file=sys.stderr)
    lines = [
        f"{args.image}: {fmt(spatial)}, {stats.tiles} tiles of {fmt(plan.window)} "
        f"({fmt(plan.stride)} kept, halo {fmt(plan.halo)}) in {stats.total:.1f} s",
        f"wrote {out}: the mask, {fmt(tuple(spatial))} uint8 class indices, written tile by tile",
    ]
    return "\n".join(lines)
