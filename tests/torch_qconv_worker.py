"""Run torch.ao.nn.quantized.Conv2d on cases from a .npz and save its codes (a subprocess, so that
FBGEMM_ENABLE_INSTRUCTIONS can select fbgemm's AVX2 kernels for it alone)."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore")


def run(case: dict, engine: str) -> np.ndarray:
    torch.backends.quantized.engine = engine
    x, w = case["x"], case["w"]
    xq = torch._make_per_tensor_quantized_tensor(torch.from_numpy(x), float(case["sx"]), int(case["zx"]))
    sw = case["sw"]
    if sw.ndim:
        zw = torch.zeros(w.shape[0], dtype=torch.int64)
        wq = torch._make_per_channel_quantized_tensor(
            torch.from_numpy(w), torch.from_numpy(sw.astype(np.float64)), zw, 0
        )
    else:
        wq = torch._make_per_tensor_quantized_tensor(torch.from_numpy(w), float(sw), 0)
    g = int(case["groups"])
    conv = torch.ao.nn.quantized.Conv2d(
        x.shape[1],
        w.shape[0],
        tuple(w.shape[2:]),
        stride=int(case["stride"]),
        padding=int(case["padding"]),
        groups=g,
    )
    bias = None if case["bias"].size == 0 else torch.from_numpy(case["bias"])
    conv.set_weight_bias(wq, bias)
    conv.scale, conv.zero_point = float(case["sy"]), int(case["zy"])
    return conv(xq).int_repr().numpy()


if __name__ == "__main__":
    source, target, engine = sys.argv[1:4]
    data = np.load(source)
    count = int(data["count"])
    outs = {f"y{i}": run({k[len(f"c{i}_"):]: data[k] for k in data.files if k.startswith(f"c{i}_")}, engine)
            for i in range(count)}  # fmt: skip
    np.savez(target, **outs)
