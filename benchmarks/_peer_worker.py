"""One library's process for ``bench_peers.py``: time the cases, print one JSON line of medians.

Usage (the driver calls it): ``python _peer_worker.py LIBRARY THREADS REPEATS CASE [CASE ...]``
with LIBRARY one of ``numpy-sgemm``, ``convlab``, ``convlab-winograd``, ``torch``,
``onnxruntime``. The thread variables are set before NumPy loads; torch and
onnxruntime get the same count through their own settings.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> None:
    library, threads, repeats, names = argv[0], int(argv[1]), int(argv[2]), argv[3:]
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CONVLAB_NUM_THREADS"):
        os.environ[var] = str(threads)
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _peer_cases import CASES

    results: dict[str, float | None] = {}
    if library == "numpy-sgemm":
        a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
        results["sgemm 2048"] = _median(lambda: a @ a, repeats)
    for name in names:
        case = CASES[name]
        x = np.random.default_rng(1).normal(size=case.shape).astype(np.float32)
        call = _build(library, case, x, threads)
        results[name] = None if call is None else _median(call, repeats)
    print(json.dumps({"library": library, "medians": results, "blas": _blas_kernel(library)}))


def _blas_kernel(library: str) -> str | None:
    """Which BLAS library and kernels convlab's GEMMs ran on (``None`` for the peers)."""
    if not library.startswith("convlab"):
        return None
    try:
        from convlab.functional._openblas import describe
    except ImportError:  # a checkout from before the function
        return None
    return describe()


def _build(library: str, case, x, threads: int):
    if library.startswith("convlab"):
        from _peer_cases import convlab_call

        import convlab

        if hasattr(convlab, "set_num_threads"):  # CONVLAB_NUM_THREADS says the same; explicit here
            convlab.set_num_threads(threads)
        algorithm = "gemm" if library == "convlab" else "winograd"
        return convlab_call(case, x, algorithm, fold=library.endswith("-folded"))
    if library == "torch":
        import torch
        from _peer_cases import torch_module

        torch.set_num_threads(threads)
        module, tx = torch_module(case), torch.from_numpy(x)

        def call():
            with torch.inference_mode():
                return module(tx)

        return call
    if library == "onnxruntime":
        return _onnxruntime(case, x, threads)
    return None


def _onnxruntime(case, x, threads: int):
    import onnxruntime as ort

    path = Path(os.environ["BENCH_ONNX_DIR"]) / (_slug(case.name) + ".onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x}
    return lambda: session.run(None, feed)


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def export(names: list[str], directory: str) -> None:
    """Export each case's torch module to ONNX (opset 17), in a process of its own."""
    import numpy as np
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _peer_cases import CASES, torch_module

    for name in names:
        case = CASES[name]
        x = torch.from_numpy(np.zeros(case.shape, np.float32))
        path = Path(directory) / (_slug(name) + ".onnx")
        torch.onnx.export(torch_module(case), (x,), str(path), opset_version=17, dynamo=False)


def _median(call, repeats: int) -> float:
    import numpy as np

    call()  # warm-up: first-touch allocations, thread pools starting
    spent = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        spent.append(time.perf_counter() - start)
    return float(np.median(spent))


if __name__ == "__main__":
    if sys.argv[1] == "export":
        export(sys.argv[3:], sys.argv[2])
    else:
        main(sys.argv[1:])
