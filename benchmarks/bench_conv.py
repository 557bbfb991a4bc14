"""Time convlab's conv2d and conv_transpose2d against PyTorch on the paper U-Net's layers.

Both libraries run in the same process with the same number of threads
(``--threads``, default: all cores; several counts run one after the other,
which needs threadpoolctl to change NumPy's BLAS threads at run time). Reported per layer: the median time of
each, their ratio (convlab / torch: below 1 is faster), the GFLOP/s of each
(2 * multiply-adds / time), and the peak memory of one call. Each library
is timed in its own block of calls (``_measure.median_times`` says why not
alternating).

The limit of the machine is NumPy's own SGEMM rate, measured first on a
square float32 product; the convolutions are GEMMs, so that is the rate
they can at best reach.

Peak memory, two ways:
- ``np peak``: tracemalloc's peak during one convlab call (NumPy reports its
  array allocations to tracemalloc), output included, input excluded;
- ``rss``: growth of the process's peak resident set (VmHWM, reset through
  /proc/self/clear_refs before each call) for convlab and torch alike; it
  includes the output and buffers freed before the call returns, and reads 0
  when freed memory is reused. Linux only; '-' elsewhere.

Usage::

    python benchmarks/bench_conv.py            # 5 repeats per layer
    python benchmarks/bench_conv.py --quick    # 1 repeat, smaller SGEMM
    python benchmarks/bench_conv.py --repeats 9 --threads 2
    python benchmarks/bench_conv.py --threads 1 2 --only conv   # needs threadpoolctl
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per layer (median reported)")
    parser.add_argument("--quick", action="store_true", help="one timed call per layer")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[os.cpu_count() or 1], help="BLAS and torch threads"
    )
    parser.add_argument("--only", choices=["conv", "up"], help="run one table only")
    return parser.parse_args()


ARGS = _parse()
# BLAS reads its thread count when NumPy is imported, so set it first (the
# largest asked for: threadpoolctl can lower it later, not raise it).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(max(ARGS.threads))

import numpy as np  # noqa: E402

import convlab.functional as cf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _measure import median_times, rss_growth_mib, tracemalloc_peak_mib  # noqa: E402

CONV_LAYERS = [(64, 570), (128, 280), (256, 136), (512, 64), (1024, 30)]
UP_LAYERS = [(1024, 28), (512, 52), (256, 100), (128, 196)]


def median_time(call, repeats: int) -> float:
    return median_times([call], repeats, pause=0.0)[0]


def rss_peak_mib(call) -> str:
    growth = rss_growth_mib(call)
    return "-" if growth is None else f"{growth:.0f}"


def np_peak_mib(call) -> str:
    return f"{tracemalloc_peak_mib(call):.0f}"


def sgemm_rate(repeats: int, n: int) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    return 2 * n**3 / median_time(lambda: a @ b, repeats) / 1e9


def row(name, flops, ours_call, torch_call, repeats) -> str:
    if torch_call is None:
        ours = median_time(ours_call, repeats)
    else:
        ours, theirs = median_times([ours_call, torch_call], repeats)
    cells = [name, f"{ours * 1e3:9.1f}", f"{flops / ours / 1e9:7.0f}"]
    if torch_call is not None:
        cells += [f"{theirs * 1e3:9.1f}", f"{flops / theirs / 1e9:7.0f}", f"{ours / theirs:6.2f}"]
    else:
        cells += ["-", "-", "-"]
    cells += [np_peak_mib(ours_call), rss_peak_mib(ours_call)]
    cells.append(rss_peak_mib(torch_call) if torch_call is not None else "-")
    return " | ".join(cells)


HEADER = "layer | convlab ms | GFLOP/s | torch ms | GFLOP/s | ratio | np peak MiB | rss MiB | torch rss MiB"


def conv_table(torch, repeats: int) -> None:
    print("\nconv2d 3x3, float32, batch 1, no padding (goal: ratio <= 1.2, >= 70 % of SGEMM)")
    print(HEADER)
    rng = np.random.default_rng(1)
    for channels, size in CONV_LAYERS:
        x = rng.standard_normal((1, channels, size, size), dtype=np.float32)
        w = rng.standard_normal((channels, channels, 3, 3), dtype=np.float32) / (3 * channels**0.5)
        flops = 2 * channels * channels * 9 * (size - 2) ** 2
        torch_call = None
        if torch is not None:
            xt, wt = torch.from_numpy(x), torch.from_numpy(w)
            torch_call = lambda xt=xt, wt=wt: torch.nn.functional.conv2d(xt, wt)  # noqa: E731
        name = f"{channels}->{channels} @ {size}^2"
        print(row(name, flops, lambda x=x, w=w: cf.conv2d(x, w), torch_call, repeats), flush=True)


def up_table(torch, repeats: int) -> None:
    print("\nconv_transpose2d 2x2 stride 2, float32, batch 1 (goal: ratio <= 0.7)")
    print(HEADER)
    rng = np.random.default_rng(2)
    for channels, size in UP_LAYERS:
        x = rng.standard_normal((1, channels, size, size), dtype=np.float32)
        w = rng.standard_normal((channels, channels // 2, 2, 2), dtype=np.float32) / channels**0.5
        flops = 2 * channels * (channels // 2) * 4 * size * size
        torch_call = None
        if torch is not None:
            xt, wt = torch.from_numpy(x), torch.from_numpy(w)
            torch_call = lambda xt=xt, wt=wt: torch.nn.functional.conv_transpose2d(xt, wt, stride=2)  # noqa: E731
        name = f"{channels}->{channels // 2} @ {size}^2"
        call = lambda x=x, w=w: cf.conv_transpose2d(x, w, stride=2)  # noqa: E731
        print(row(name, flops, call, torch_call, repeats), flush=True)


def main() -> int:
    repeats = 1 if ARGS.quick else ARGS.repeats
    try:
        import torch
    except ImportError:
        torch = None
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        if len(ARGS.threads) > 1:
            print("several --threads need threadpoolctl (pip install threadpoolctl)", file=sys.stderr)
            return 2
        threadpool_info, threadpool_limits = None, None
    for threads in ARGS.threads:
        limits = threadpool_limits(threads) if threadpool_limits else contextlib.nullcontext()
        with limits:
            run(torch, threads, repeats, threadpool_info)
    return 0


def run(torch, threads: int, repeats: int, threadpool_info) -> None:
    """Both tables at one thread count."""
    if torch is not None:
        torch.set_num_threads(threads)
        torch_info = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    else:
        torch_info = "torch not installed: convlab only"
    print(f"\n=== {threads} thread{'s' if threads > 1 else ''} ===")
    print(f"numpy {np.__version__}; {torch_info}; {os.cpu_count()} cores; median of {repeats}")
    if threadpool_info is not None:
        print("threadpoolctl:", [(p["internal_api"], p["num_threads"]) for p in threadpool_info()])
    else:
        blas = ", ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"))
        print(f"threadpoolctl not installed: BLAS threads from the environment ({blas})")
    rate = sgemm_rate(repeats if ARGS.quick else max(repeats, 3), 2048 if ARGS.quick else 4096)
    print(f"NumPy SGEMM: {rate:.0f} GFLOP/s (the limit; 70 % = {0.7 * rate:.0f})")
    print(f"workspace limit: {cf.get_workspace_limit() / 2**20:.0f} MiB")
    if ARGS.only in (None, "conv"):
        conv_table(torch, repeats)
    if ARGS.only in (None, "up"):
        up_table(torch, repeats)


if __name__ == "__main__":
    sys.exit(main())
