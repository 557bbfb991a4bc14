"""Time a whole U-Net forward pass, convlab against PyTorch, with the same weights and threads.

Two networks of the paper's size (width 64, depth 4, 1 channel in, 2 classes),
float32, batch 1:

- ``572 valid``: the unpadded U-Net of Ronneberger et al. (2015), 572 -> 388;
- ``512 same``: the padded U-Net (3x3 convolutions with padding 1), 512 -> 512.

The torch network is ``tests/torch_unets.py``'s ``ConvlabLayout`` (convlab's
layout, written in torch), loaded with convlab's weights key for key; the
outputs are compared before timing. Both run in one process with the same
thread count: ``--threads`` sets OPENBLAS/OMP/MKL_NUM_THREADS before NumPy
loads, threadpoolctl limits BLAS to it, and ``torch.set_num_threads``.
Each library is timed in its own block of ``--repeats`` calls after a
warm-up, with a pause between blocks (see ``median_times`` for why not
alternating); the median is reported.

Peak memory of one forward pass, input excluded:

- ``convlab (tracemalloc)``: NumPy reports its allocations to tracemalloc,
  so its peak is the largest total of live arrays during the call;
- ``rss``: growth of the process's peak resident set during the call, for
  both libraries (torch's allocator is not visible to tracemalloc). Linux:
  VmHWM is reset through /proc/self/clear_refs before the call; elsewhere
  ``resource.getrusage``'s ru_maxrss, which only grows, so a call that stays
  below an earlier peak reads 0 there.

Recorded 2026-11-22 on the project's 2-core box, quiet (load average 1.6),
torch 2.13.0+cpu and NumPy 2.4.6 on OpenBLAS, 2 threads each, median of 5::

    network   | convlab s | torch s | ratio | tracemalloc | convlab rss | torch rss (MiB)
    572 valid |      1.68 |    1.46 |  1.15 |         210 |         191 |       308
    512 same  |      2.06 |    1.94 |  1.06 |         325 |         321 |       512

Three runs gave 1.14-1.25 for 572 valid and 1.06-1.21 for 512 same; an
earlier version that alternated the calls read 1.2-1.3 (torch's and
OpenBLAS's spinning threads slowing the next call). Under load from other
processes the ratio moves more with the load than with the code, so
compare runs taken back to back on a quiet machine.
Outputs agree with torch to 6e-7 of the largest output value.

Usage::

    python benchmarks/bench_unet.py               # 5 repeats, all cores
    python benchmarks/bench_unet.py --repeats 3 --threads 2
    python benchmarks/bench_unet.py --quick       # 1 repeat, smaller inputs (188 / 256)
    python benchmarks/bench_unet.py --only same   # the padded network only
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per library (median reported)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="BLAS and torch threads")
    parser.add_argument("--quick", action="store_true", help="one repeat, inputs 188 and 256")
    parser.add_argument("--only", choices=["valid", "same"], help="run one of the two networks")
    return parser.parse_args()


ARGS = _parse()
# BLAS reads its thread count when NumPy loads, so set it first.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from convlab.models import UNet, UNetConfig  # noqa: E402

# tests/torch_unets.py: the torch reference the model tests use, in convlab's layout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from torch_unets import ConvlabLayout  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import median_times, rss_growth_mib, tracemalloc_peak_mib  # noqa: E402

HEADER = (
    "network | size | GFLOP | convlab s | torch s | ratio | convlab tracemalloc MiB | convlab rss MiB "
    "| torch rss MiB | max diff / max |output|"
)


def networks(config: UNetConfig):
    """convlab's U-Net and the torch reference with the same weights."""
    ours = UNet(config, seed=0)
    theirs = ConvlabLayout(config).eval()
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    return ours, theirs


def bench(name: str, config: UNetConfig, size: int, repeats: int) -> None:
    ours, theirs = networks(config)
    x = np.random.default_rng(1).random((1, 1, size, size), dtype=np.float32)
    xt = torch.from_numpy(x)

    def run_ours():
        return ours(x)

    def run_torch():
        with torch.inference_mode():
            return theirs(xt)

    expected = run_torch().numpy()
    got = run_ours()
    error = float(np.abs(got - expected).max() / np.abs(expected).max())
    t_ours, t_torch = median_times([run_ours, run_torch], repeats)
    gflop = sum(r.flops for r in ours.trace(x.shape)) / 1e9
    peaks = [tracemalloc_peak_mib(run_ours), rss_growth_mib(run_ours), rss_growth_mib(run_torch)]
    cells = [name, f"{size}->{got.shape[-1]}", f"{gflop:.1f}", f"{t_ours:.2f}", f"{t_torch:.2f}"]
    cells += [f"{t_ours / t_torch:.2f}", *("-" if p is None else f"{p:.0f}" for p in peaks), f"{error:.1e}"]
    print(" | ".join(cells), flush=True)


def main() -> int:
    repeats = 1 if ARGS.quick else ARGS.repeats
    torch.set_num_threads(ARGS.threads)
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("-",) * 3
    print(
        f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads); "
        f"{ARGS.threads} BLAS threads; {os.cpu_count()} cores; median of {repeats}; "
        f"load average before: {', '.join(f'{v:.2f}' for v in load)}"
    )
    print("BLAS pools:", [(p["internal_api"], p["num_threads"]) for p in threadpool_info()])
    print(HEADER)
    small = {"valid": 188, "same": 256}
    for padding, size in (("valid", 572), ("same", 512)):
        if ARGS.only not in (None, padding):
            continue
        config = UNetConfig(padding=padding)
        bench(f"{size} {padding}", config, small[padding] if ARGS.quick else size, repeats)
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("-",) * 3
    print(f"load average after: {', '.join(f'{v:.2f}' for v in load)}; goal: ratio <= 1.1")
    return 0


if __name__ == "__main__":
    with threadpool_limits(limits=ARGS.threads):
        sys.exit(main())
