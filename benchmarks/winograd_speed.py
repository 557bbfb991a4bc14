"""Winograd's fast path against convlab's exact GEMM and onnxruntime: U-Net layers and whole U-Nets.

Each library runs in a process of its own (the cases and the onnxruntime
exports are ``bench_peers.py``'s), with the same thread count, alternating
the order over ``--rounds`` rounds; each process reports, per case, the
median wall time and the median *CPU* time of ``--repeats`` calls after a
warm-up. On a shared machine the CPU time moves much less with the load
than the wall time, and with ``--threads 1`` it is the cost of the work
itself: quote both. Unlike ``bench_peers.py``'s ``convlab-winograd``
layer rows, which call the transform routine directly, the Winograd rows
here go through ``convlab.functional.conv2d(..., algorithm="winograd")``: the
per-layer choice (:func:`convlab.functional._winograd.pays`) and the
transformed-kernel cache apply, as in a model's forward pass.

Usage::

    python benchmarks/winograd_speed.py --match paper --threads 1
    python benchmarks/winograd_speed.py --only layers --threads 2 --rounds 2
    python benchmarks/winograd_speed.py --libraries convlab-winograd,onnxruntime --match milesial
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# convlab-winograd-folded: the same, with nn.fold_batch_norm (an explicit opt-in, not bit-equal to
# torch, as onnxruntime folds the BatchNorms of its graphs): the milesial row differs.
LIBRARIES = ("convlab", "convlab-winograd", "onnxruntime")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="passes over the libraries, order alternating")
    parser.add_argument("--only", choices=["layers", "models"], default=None)
    parser.add_argument("--match", default="", help="only cases whose name contains this")
    parser.add_argument("--libraries", default=",".join(LIBRARIES), help="comma-separated subset")
    return parser.parse_args()


def worker(library: str, threads: int, repeats: int, names: list[str]) -> dict:
    """In a fresh process: ``{case: [median wall s, median CPU s]}`` (and the SGEMM rate)."""
    import numpy as np
    from _peer_cases import CASES
    from _peer_worker import _build

    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    results = {"sgemm GFLOP/s": 2 * 2048**3 / _times(lambda: a @ a, 3)[0] / 1e9}
    for name in names:
        case = CASES[name]
        x = np.random.default_rng(1).normal(size=case.shape).astype(np.float32)
        call = (
            _layer_call(case, x) if library.startswith("convlab-winograd") and case.kind == "conv" else None
        )
        if library == "convlab-winograd-folded" and case.kind == "model":
            call = _folded_model(case, x)
        call = call or _build(library, case, x, threads)
        results[name] = None if call is None else _times(call, repeats)
    return results


def _layer_call(case, x):
    import numpy as np

    import convlab.functional as F

    rng = np.random.default_rng(0)
    c = case.shape[1]
    w = (rng.normal(size=(case.out_channels, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    b = np.zeros(case.out_channels, np.float32)
    return lambda: F.conv2d(x, w, b, algorithm="winograd")


def _folded_model(case, x):
    from _peer_cases import _config

    import convlab.functional as F
    from convlab.models import MilesialUNet, UNet
    from convlab.nn import fold_batch_norm

    net = fold_batch_norm(MilesialUNet(3, 2) if case.model == "milesial" else UNet(_config(case), seed=0))

    def call():
        with F.algorithm("winograd"):
            return net(x)

    return call


def _times(call, repeats: int) -> list[float]:
    import numpy as np

    call()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return [float(np.median(wall)), float(np.median(cpu))]


def measure(names: list[str], libraries: list[str], args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(HERE.parent / "src"))
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    best: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as onnx_dir:
        env["BENCH_ONNX_DIR"] = onnx_dir
        if "onnxruntime" in libraries:
            export = [sys.executable, str(HERE / "_peer_worker.py"), "export", onnx_dir, *names]
            subprocess.run(export, env=env, check=True, capture_output=True)
        for round_ in range(args.rounds):
            for library in libraries if round_ % 2 == 0 else libraries[::-1]:
                _merge(best.setdefault(library, {}), _run_worker(library, names, args, env))
    return best


def _run_worker(library: str, names: list[str], args: argparse.Namespace, env: dict) -> dict:
    command = [sys.executable, __file__, "--worker", library, str(args.threads), str(args.repeats), *names]
    run = subprocess.run(command, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"{library} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def _merge(mine: dict, new: dict) -> None:
    """The smaller figure of every round, wall and CPU separately."""
    for name, value in new.items():
        old = mine.get(name)
        if old is None or value is None:
            mine[name] = value if old is None else old
        elif isinstance(value, list):
            mine[name] = [min(a, b) for a, b in zip(old, value)]
        else:  # the SGEMM rate: the best of the rounds
            mine[name] = max(old, value)


def table(best: dict, names: list[str], libraries: list[str]) -> str:
    rates = ", ".join(f"{lib} {best[lib]['sgemm GFLOP/s']:.0f}" for lib in libraries)
    lines = [f"NumPy SGEMM 2048^2 GFLOP/s measured in each process: {rates}", ""]
    head = " | ".join(f"{lib} wall s (cpu s)" for lib in libraries)
    lines.append(f"case | {head} | winograd/gemm wall (cpu) | winograd/ort wall (cpu)")
    for name in names:
        t = {lib: best[lib].get(name) for lib in libraries}
        cells = " | ".join("n/a" if t[lib] is None else f"{t[lib][0]:.3f} ({t[lib][1]:.3f})" for lib in t)
        lines.append(f"{name} | {cells} | {_ratio(t, 'convlab')} | {_ratio(t, 'onnxruntime')}")
    return "\n".join(lines)


def _ratio(t: dict, other: str) -> str:
    a, b = t.get("convlab-winograd") or t.get("convlab-winograd-folded"), t.get(other)
    return "n/a" if not a or not b else f"{a[0] / b[0]:.2f} ({a[1] / b[1]:.2f})"


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        library, threads, repeats, *names = sys.argv[2:]
        print(json.dumps(worker(library, int(threads), int(repeats), names)))
        return
    from _peer_cases import LAYERS, MODELS

    args = _parse()
    cases = {"layers": LAYERS, "models": MODELS}.get(args.only, LAYERS + MODELS)
    names = [c.name for c in cases if args.match in c.name and c.kind in ("conv", "model")]
    libraries = [lib for lib in args.libraries.split(",") if lib]
    print(f"threads {args.threads}, load average before: {os.getloadavg()}", flush=True)
    print(table(measure(names, libraries, args), names, libraries))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
