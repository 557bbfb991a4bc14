"""convlab against torch and onnxruntime on U-Net layers and whole U-Nets, each library in its own process.

Every library runs in a fresh process of its own (in one process, one
library's spinning threads slow the other), with the same thread count
(``--threads``, default 2: BLAS/OpenMP variables, ``convlab.set_num_threads``,
``torch.set_num_threads``, onnxruntime's ``intra_op_num_threads``). The libraries run in one order,
then again in the opposite order; each process reports the median of
``--repeats`` calls after a warm-up, and the table shows the smaller of the
two medians. NumPy's own 2048^2 SGEMM, timed in its own process in the same
run, gives the machine's GEMM rate that the GFLOP/s column is read against.
onnxruntime runs graphs exported from the same torch modules
(``torch.onnx.export``, opset 17; the single-layer graphs are one node each).

Usage::

    python benchmarks/bench_peers.py                    # everything, 5 repeats, 2 threads
    python benchmarks/bench_peers.py --only layers      # the layer table
    python benchmarks/bench_peers.py --only models --repeats 3
    python benchmarks/bench_peers.py --match pool       # cases whose name contains 'pool'

``convlab-winograd`` times convolutions by Winograd (F(4, 3) or F(6, 3)): the
layers always, the whole networks when ``convlab.functional.algorithm`` exists.
``convlab-winograd-folded`` (opt-in: ``--libraries ...,convlab-winograd-folded``)
runs the networks through ``convlab.nn.fold_batch_norm`` first, as onnxruntime's
graph optimiser folds them (not bit-equal to torch's eager BatchNorm).
Check ``uptime`` first: on a shared machine the ratios move with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _peer_cases import CASES, LAYERS, MODELS  # noqa: E402

LIBRARIES = ("convlab", "convlab-winograd", "torch", "onnxruntime")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=["layers", "models"], default=None)
    parser.add_argument("--match", default="", help="only cases whose name contains this")
    parser.add_argument("--libraries", default=",".join(LIBRARIES), help="comma-separated subset")
    return parser.parse_args()


def _worker(args: list[str], env: dict) -> dict:
    run = subprocess.run(
        [sys.executable, str(HERE / "_peer_worker.py"), *args], env=env, capture_output=True, text=True
    )
    if run.returncode != 0:
        raise SystemExit(f"worker {args[:1]} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def measure(names: list[str], libraries: list[str], threads: int, repeats: int) -> dict:
    """``{library: {case: min over the two passes of the median seconds}}`` plus the SGEMM rate."""
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(HERE.parent / "src"))
    worker = [sys.executable, str(HERE / "_peer_worker.py")]
    with tempfile.TemporaryDirectory() as onnx_dir:
        env["BENCH_ONNX_DIR"] = onnx_dir
        if "onnxruntime" in libraries:
            subprocess.run([*worker, "export", onnx_dir, *names], env=env, check=True)
        best: dict[str, dict[str, float | None]] = {}
        order = ["numpy-sgemm", *libraries]
        for sequence in (order, order[::-1]):
            for library in sequence:
                cases = [] if library == "numpy-sgemm" else names
                report = _worker([library, str(threads), str(repeats), *cases], env)
                medians = report["medians"]
                if report.get("blas") and library == "convlab" and sequence is order:
                    print(f"convlab's GEMMs: {report['blas']}, {threads} pool threads", flush=True)
                mine = best.setdefault(library, {})
                for name, value in medians.items():
                    old = mine.get(name)
                    mine[name] = value if old is None else (old if value is None else min(old, value))
    return best


def _ratio(t: dict, a: str, b: str) -> str:
    return "n/a" if not t.get(a) or not t.get(b) else f"{t[a] / t[b]:.2f}"


def table(best: dict, names: list[str]) -> str:
    """One row per case: seconds per library, the ratios, convlab's GFLOP/s against SGEMM's."""
    sgemm = 2 * 2048**3 / best["numpy-sgemm"]["sgemm 2048"] / 1e9
    libs = [lib for lib in best if lib != "numpy-sgemm"]
    ratios = [r for r in _RATIOS if r[0] in libs or r[0] != "convlab-winograd-folded"]
    lines = [
        f"NumPy SGEMM 2048^2 in this run: {sgemm:.0f} GFLOP/s",
        "",
        f"case | {' | '.join(f'{lib} s' for lib in libs)} | {' | '.join(label for _, _, label in ratios)}"
        " | convlab GFLOP/s (% of SGEMM)",
    ]
    for name in names:
        t = {lib: best[lib].get(name) for lib in libs}
        seconds = " | ".join("n/a" if t[lib] is None else f"{t[lib]:.4f}" for lib in libs)
        flops, rate = CASES[name].flops(), ""
        if flops and t.get("convlab"):
            gflops = flops / t["convlab"] / 1e9
            rate = f"{gflops:.0f} ({100 * gflops / sgemm:.0f}%)"
        row = " | ".join(_ratio(t, a, b) for a, b, _ in ratios)
        lines.append(f"{name} | {seconds} | {row} | {rate}")
    return "\n".join(lines)


_RATIOS = (
    ("convlab", "torch", "convlab/torch"),
    ("convlab", "onnxruntime", "convlab/ort"),
    ("convlab-winograd", "onnxruntime", "winograd/ort"),
    ("convlab-winograd-folded", "onnxruntime", "winograd-folded/ort"),
)


def main() -> None:
    args = _parse()
    cases = {"layers": LAYERS, "models": MODELS}.get(args.only, LAYERS + MODELS)
    names = [c.name for c in cases if args.match in c.name]
    libraries = [lib for lib in args.libraries.split(",") if lib]
    print(f"load average before: {os.getloadavg()}", flush=True)
    best = measure(names, libraries, args.threads, args.repeats)
    print(table(best, names))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
