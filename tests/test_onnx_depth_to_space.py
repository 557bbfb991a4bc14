"""DepthToSpace in convlab.onnx: both modes against onnxruntime and a loop, its trace, and the int8 export.

convlab's own int8 U-Net export writes up-convolutions as QLinearConv +
DepthToSpace (CRD), so convlab must run the file it writes.
"""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest

import convlab.onnx as co
from convlab import ConvlabError
from convlab.data import demo_unet, synthetic_cells
from convlab.quant import onnx_model, quantize_unet
from onnx_cases import ort_run, single_node


def _loop(x: np.ndarray, b: int, mode: str) -> np.ndarray:
    n, c, h, w = x.shape
    c_out = c // (b * b)
    y = np.empty((n, c_out, h * b, w * b), x.dtype)
    for k in range(c_out):
        for i in range(h * b):
            for j in range(w * b):
                block = (i % b) * b + j % b
                source = k * b * b + block if mode == "CRD" else block * c_out + k
                y[:, k, i, j] = x[:, source, i // b, j // b]
    return y


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
@pytest.mark.parametrize(
    ("shape", "b"), [((1, 4, 3, 5), 2), ((2, 18, 2, 3), 3), ((1, 8, 1, 1), 2), ((1, 3, 2, 2), 1)]
)
@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_depth_to_space_equals_onnxruntime_and_the_loop(mode, shape, b, dtype):
    x = np.arange(np.prod(shape)).reshape(shape).astype(dtype)
    model = single_node("DepthToSpace", {"x": x}, opset=13, blocksize=b, mode=mode)
    got = co.load(model)(x)
    np.testing.assert_array_equal(got, ort_run(model, {"x": x})[0])
    np.testing.assert_array_equal(got, _loop(x, b, mode))


def test_depth_to_space_trace_halves_the_jump():
    x = np.zeros((1, 8, 4, 6), np.float32)
    rows = co.load(single_node("DepthToSpace", {"x": x}, opset=13, blocksize=2, mode="CRD")).trace(x.shape)
    row = rows[-1]
    assert row.output_shapes == ((1, 2, 8, 12),)
    assert [str(j) for j in row.jump] == ["1/2", "1/2"]
    assert list(row.receptive_field) == [1, 1]


def test_depth_to_space_errors_at_load():
    x = np.zeros((1, 6, 2, 2), np.float32)
    with pytest.raises(ConvlabError, match=r"blocksize=2 must be positive and b² must divide the 6 input"):
        co.load(single_node("DepthToSpace", {"x": x}, opset=13, blocksize=2))
    with pytest.raises(ConvlabError, match=r"mode='XYZ' is not one of DCR, CRD"):
        co.load(
            single_node("DepthToSpace", {"x": np.zeros((1, 4, 2, 2), np.float32)}, blocksize=2, mode="XYZ")
        )


def test_convlab_runs_its_own_int8_export_bit_equal():
    images = [synthetic_cells(188, seed=s)[0][None, None] for s in (1, 2)]
    qnet = quantize_unet(demo_unet(), images)
    x = synthetic_cells(188, seed=7)[0][None, None].astype(np.float32)
    model = onnx_model(qnet, x.shape)
    assert "DepthToSpace" in {node.op_type for node in model.graph.node}
    ours = co.load(model).run({"input": x}, keep=None)
    options = onnxruntime.SessionOptions()
    theirs = onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    ).run(None, {"input": x})
    codes, _ = qnet.run(x)
    names = [o.name for o in model.graph.output]
    np.testing.assert_array_equal(ours[names[0]], codes)
    for name, value in zip(names, theirs):
        np.testing.assert_array_equal(ours[name], value)
