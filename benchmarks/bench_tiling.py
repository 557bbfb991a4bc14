"""Overlap-tile inference of an image larger than the memory it may use: peak RSS and throughput.

    python benchmarks/bench_tiling.py              # 16384x16384 float32 (1 GiB), a few minutes
    python benchmarks/bench_tiling.py --size 4096  # a quick run

The image is generated straight into a .npy file in the temporary directory
(strip by strip, never whole in memory), segmented by
:func:`convlab.tiling.predict_tiled` into a .npy label file, and both files
are deleted afterwards. Reported: tiles/s, the ratio of the total time to
the sum of the per-tile model time (the cost of reading, mirroring,
stitching and writing), and the process's peak resident memory, which must
stay under ``--limit-gib`` (1.5 GiB) whatever the image's size.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from convlab.models import UNet, UNetConfig
from convlab.tiling import TilingStats, predict_tiled

_STRIP = 256


def peak_rss_gib() -> float:
    """The process's peak resident memory so far (Linux: ru_maxrss is in KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**30 if sys.platform == "darwin" else peak / 2**20


def write_image(path: Path, size: int, seed: int) -> None:
    """A ``(size, size)`` float32 .npy of smooth blobs plus noise, written strip by strip."""
    rng = np.random.default_rng(seed)
    header = {"descr": "<f4", "fortran_order": False, "shape": (size, size)}
    cols = np.arange(size, dtype=np.float32)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_2_0(f, header)
        for top in range(0, size, _STRIP):
            rows = np.arange(top, min(top + _STRIP, size), dtype=np.float32)[:, None]
            strip = np.sin(rows / 37.0) * np.cos(cols / 23.0) + rng.normal(0, 0.2, (len(rows), size))
            f.write(strip.astype("<f4").tobytes())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=int, default=16384, help="image height and width (default %(default)s)"
    )
    parser.add_argument(
        "--tile", type=int, default=572, help="the U-Net's input window (default %(default)s)"
    )
    parser.add_argument("--width", type=int, default=4, help="U-Net width (default %(default)s)")
    parser.add_argument("--depth", type=int, default=2, help="U-Net depth (default %(default)s)")
    parser.add_argument("--limit-gib", type=float, default=1.5, help="peak RSS limit (default %(default)s)")
    args = parser.parse_args()
    model = UNet(UNetConfig(width=args.width, depth=args.depth))
    with tempfile.TemporaryDirectory(prefix="convlab-bench-") as tmp:
        source, target = Path(tmp) / "image.npy", Path(tmp) / "labels.npy"
        start = time.perf_counter()
        write_image(source, args.size, seed=0)
        made = time.perf_counter() - start
        print(
            f"image {args.size}x{args.size} float32, {source.stat().st_size / 2**30:.2f} GiB, "
            f"written in {made:.0f} s"
        )
        stats = TilingStats()
        predict_tiled(model, source, args.tile, out=target, labels=True, stats=stats, progress=None)
        mask = np.load(target, mmap_mode="r")
        classes = int(mask[:: max(1, args.size // 64), :: max(1, args.size // 64)].max()) + 1
        del mask
    peak = peak_rss_gib()
    plan = stats.plan
    print(
        f"U-Net width {args.width}, depth {args.depth}: {stats.tiles} tiles of "
        f"{plan.window[0]}x{plan.window[1]} ({plan.stride[0]}x{plan.stride[1]} kept), labels seen: {classes}"
    )
    print(f"total {stats.total:.1f} s, {stats.tiles / stats.total:.2f} tiles/s")
    print(
        f"model {stats.compute:.1f} s, read {stats.read:.1f} s, write {stats.write:.1f} s; "
        f"total / model = {stats.total / stats.compute:.3f}"
    )
    verdict = "under" if peak < args.limit_gib else "OVER"
    print(f"peak RSS {peak:.2f} GiB, {verdict} the {args.limit_gib} GiB limit")
    return 0 if peak < args.limit_gib else 1


if __name__ == "__main__":
    sys.exit(main())
