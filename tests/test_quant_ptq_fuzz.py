"""Slow sweep: random U-Nets quantised and exported, bit-equal in onnxruntime in both graph forms."""

import numpy as np
import pytest

from convlab.models import MilesialUNet, UNet
from convlab.quant import onnx_model, quantize_unet

ort = pytest.importorskip("onnxruntime")
CASES = 200


def _net(rng):
    if rng.random() < 0.25:
        size = int(rng.integers(16, 40))
        return MilesialUNet(int(rng.integers(1, 3)), 2, width=2, seed=int(rng.integers(1000))), size
    depth = int(rng.integers(1, 4))
    padding = ("same", "valid")[int(rng.integers(2))]
    config = {"width": int(rng.integers(1, 6)), "depth": depth, "padding": padding}
    config |= {"batch_norm": bool(rng.integers(2)), "in_channels": int(rng.integers(1, 3))}
    net = UNet(classes=int(rng.integers(1, 4)), seed=int(rng.integers(1000)), **config)
    contract = net.size_contract
    size = contract.smallest[0] + contract.step[0] * int(rng.integers(0, 3))
    return net, size


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(CASES))
def test_random_unets_bit_equal_in_both_forms(seed):
    rng = np.random.default_rng(seed)
    net, size = _net(rng)
    shape = (int(rng.integers(1, 3)), net.in_channels, size, size)
    method = ("minmax", "percentile")[seed % 2]
    qnet = quantize_unet(net, [rng.normal(size=shape) for _ in range(2)], method=method, percentile=99.5)
    x = (rng.normal(size=shape) * rng.uniform(0.5, 2.0)).astype(np.float32)
    codes = qnet.run(x)[0]
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    for form in ("qoperator", "qdq"):
        model = onnx_model(qnet, shape, form=form).SerializeToString()
        got = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"]).run(
            ["codes"], {"input": x}
        )[0]
        np.testing.assert_array_equal(got, codes, err_msg=f"{form} {type(net).__name__} {shape}")
