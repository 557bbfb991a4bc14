"""The int8 demo U-Net: convlab's integer run against onnxruntime's run of the exported model.

Both compute the same codes (the test suite holds them bit-equal); this times
them. Each library runs in a process of its own with the same thread count,
twice in opposite orders; each process reports the median of ``--repeats``
calls after a warm-up, and the table shows the smaller median.

Usage::

    PYTHONPATH=src python benchmarks/bench_int8.py [--size 572] [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

_WORKER = r"""
import json, sys, time
import numpy as np
library, path = sys.argv[1], sys.argv[5]
threads, repeats, size = (int(v) for v in sys.argv[2:5])
from convlab.data import demo_unet, synthetic_cells
from convlab.quant import export_onnx, quantize_unet
calibration = [synthetic_cells(252, seed=s)[0][None, None] for s in (1000, 1001)]
qnet = quantize_unet(demo_unet(), calibration)
x = synthetic_cells(size, seed=5)[0][None, None].astype(np.float32)
if library == "export":
    export_onnx(qnet, path, x.shape)
    sys.exit(0)
if library == "convlab":
    run = lambda: qnet.run(x)[0]
else:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    run = lambda: session.run(["codes"], {"input": x})[0]
codes = run()
spent = []
for _ in range(repeats):
    start = time.perf_counter()
    run()
    spent.append(time.perf_counter() - start)
print(json.dumps({"median": float(np.median(spent)), "checksum": int(codes.astype(np.int64).sum())}))
"""


def _run(args: list[str], threads: int) -> dict:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    env.setdefault("PYTHONPATH", os.path.join(os.path.dirname(__file__), "..", "src"))
    done = subprocess.run([sys.executable, "-c", _WORKER, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"worker {args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]) if args[0] != "export" else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=572)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "unet_int8.onnx")
        common = [str(args.threads), str(args.repeats), str(args.size), path]
        _run(["export", *common], args.threads)
        best: dict[str, float] = {}
        sums = set()
        for order in (("convlab", "onnxruntime"), ("onnxruntime", "convlab")):
            for library in order:
                result = _run([library, *common], args.threads)
                best[library] = min(best.get(library, float("inf")), result["median"])
                sums.add(result["checksum"])
    print(f"int8 demo U-Net at {args.size}^2, {args.threads} threads:")
    print(
        f"  convlab {best['convlab']:.3f} s, onnxruntime {best['onnxruntime']:.3f} s, "
        f"convlab/onnxruntime {best['convlab'] / best['onnxruntime']:.2f}"
    )
    print(f"  output checksums {'agree' if len(sums) == 1 else 'DIFFER: ' + str(sorted(sums))}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
