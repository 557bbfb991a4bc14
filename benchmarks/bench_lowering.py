"""Time the explicit routes of convlab.lowering against the fast convlab.functional operators.

First the build of ``conv_matrix`` for a 64x64 image, 16 to 16 channels,
3x3 kernel, padding 1 (9.2 million stored entries), then each route on a
small layer, next to the functional operator it equals. Reported: the
median of ``--repeats`` calls, and for the routes their ratio to functional.

Usage::

    python benchmarks/bench_lowering.py
    python benchmarks/bench_lowering.py --repeats 9 --size 96
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import convlab.functional as cf
from convlab import lowering as lw


def _median_time(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_matrix_build(size: int, repeats: int) -> None:
    w = np.random.default_rng(0).standard_normal((16, 16, 3, 3))
    m = lw.conv_matrix((16, size, size), w, padding=1)
    seconds = _median_time(lambda: lw.conv_matrix((16, size, size), w, padding=1), repeats)
    megabytes = (m.data.nbytes + m.indices.nbytes + m.indptr.nbytes) / 2**20
    print(
        f"conv_matrix {size}x{size}, 16->16, k3 p1: {seconds * 1e3:8.1f} ms  "
        f"shape {m.shape}, {m.nnz} entries, {megabytes:.0f} MiB"
    )


def bench_routes(repeats: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8, 24, 24))
    w = rng.standard_normal((8, 8, 3, 3))
    wt = rng.standard_normal((8, 4, 3, 3))
    conv = _median_time(lambda: cf.conv2d(x, w, padding=1), repeats)
    print(f"\nconv2d  (2, 8, 24, 24), k3 p1     functional {conv * 1e3:8.2f} ms")
    for route in (lw.conv_by_matrix, lw.conv_by_unfold):
        seconds = _median_time(lambda r=route: r(x, w, padding=1), repeats)
        print(f"  {route.__name__:34s} {seconds * 1e3:8.2f} ms  {seconds / conv:6.1f}x")
    up = _median_time(lambda: cf.conv_transpose2d(x, wt, stride=2, padding=1, output_padding=1), repeats)
    print(f"\nconv_transpose2d k3 s2 p1 op1     functional {up * 1e3:8.2f} ms")
    for route in (
        lw.conv_transpose_by_matrix,
        lw.conv_transpose_by_zero_insertion,
        lw.conv_transpose_by_scatter,
        lw.conv_transpose_by_phases,
    ):
        seconds = _median_time(lambda r=route: r(x, wt, stride=2, padding=1, output_padding=1), repeats)
        print(f"  {route.__name__:34s} {seconds * 1e3:8.2f} ms  {seconds / up:6.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per measurement (median)")
    parser.add_argument("--size", type=int, default=64, help="image size of the conv_matrix build")
    args = parser.parse_args()
    bench_matrix_build(args.size, args.repeats)
    bench_routes(args.repeats)


if __name__ == "__main__":
    main()
