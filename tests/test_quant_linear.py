"""quantize_linear and dequantize_linear against onnxruntime (opset 21) and per-element Python."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab.quant import dequantize_linear, quantize_linear

KINDS = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "uint16": (0, 65535)}
KINDS4 = {"int4": (-8, 7), "uint4": (0, 15)}
SCALES = [2.0**-k for k in range(6)] + [0.0037, 0.1, 0.3, 1.7, 3.0, 100.0]


@st.composite
def quant_cases(draw, kinds=KINDS):
    kind = draw(st.sampled_from(sorted(kinds)))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    layout = draw(st.sampled_from(["tensor", "axis", "block"]))
    axis = draw(st.integers(0, len(shape) - 1))
    block = draw(st.integers(1, 3)) if layout == "block" else None
    if layout == "tensor":
        param_shape = ()
    elif layout == "axis":
        param_shape = (shape[axis],)
    else:
        param_shape = tuple(-(-n // block) if i == axis else n for i, n in enumerate(shape))
    if layout == "block" and np.prod(param_shape) == 1:
        # One parameter is per tensor, and onnxruntime refuses a block_size then.
        layout, param_shape, block = "tensor", (), None
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = rng.choice(SCALES, param_shape).astype(np.float32)
    lo, hi = kinds[kind]
    zp = rng.choice([lo, hi, (lo + hi + 1) // 2, lo + 1], param_shape)
    # Half-integer multiples of the scale are ties; the wide spread saturates both ways.
    halves = rng.integers(-2 * (hi - lo), 2 * (hi - lo), shape) / 2
    x = (halves * np.broadcast_to(scale.max(), shape)).astype(np.float32)
    x = np.where(rng.random(shape) < 0.3, rng.normal(0, 50, shape), x).astype(np.float32)
    return {
        "x": x,
        "scale": scale,
        "zp": zp,
        "kind": kind,
        "axis": None if layout == "tensor" else axis,
        "block": block,
    }


def _ort_qdq(c):
    """onnxruntime's QuantizeLinear (and its DequantizeLinear of that) in one opset-21 graph."""
    from onnx import TensorProto, helper

    from quant_oracles import run_ort

    tt = getattr(TensorProto, c["kind"].upper())
    attrs = {} if c["axis"] is None else {"axis": c["axis"]}
    if c["block"]:
        attrs["block_size"] = c["block"]
    zp = helper.make_tensor("zp", tt, c["zp"].shape, c["zp"].ravel().tolist())
    scale = helper.make_tensor("s", TensorProto.FLOAT, c["scale"].shape, c["scale"].ravel().tolist())
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"], **attrs)]
    nodes.append(helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"], **attrs))
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if c["kind"] in KINDS:
        outputs.append(helper.make_tensor_value_info("q", tt, None))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, c["x"].shape)],
        outputs,
        [scale, zp],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    return run_ort(model, {"x": c["x"]}) if c["kind"] not in KINDS else _run_all(model, c["x"])


def _run_all(model, x):
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return tuple(session.run(None, {"x": x}))


def _ours(c):
    zp = c["zp"].astype(np.int64)
    q = quantize_linear(c["x"], c["scale"], zp, axis=c["axis"], block_size=c["block"], dtype=c["kind"])
    y = dequantize_linear(q, c["scale"], zp, axis=c["axis"], block_size=c["block"], dtype=c["kind"])
    return q, y


def _naive_quantize(c):
    """Per element: float32 division, Python's round (half to even), then clip."""
    x, lo, hi = c["x"], *{**KINDS, **KINDS4}[c["kind"]]
    out = np.empty(x.shape, dtype=np.int64)
    for idx in np.ndindex(*x.shape):
        p = [idx[a] // (c["block"] or 1) if a == c["axis"] else idx[a] for a in range(x.ndim)]
        p = () if c["axis"] is None else (tuple(p) if c["block"] else (p[c["axis"]],))
        out[idx] = min(max(round(float(np.float32(x[idx]) / c["scale"][p])) + int(c["zp"][p]), lo), hi)
    return out


@settings(max_examples=150)
@given(quant_cases())
def test_quantize_and_dequantize_equal_onnxruntime_and_naive(c):
    pytest.importorskip("onnxruntime")
    q, y = _ours(c)
    y_ort, q_ort = _ort_qdq(c)
    assert q.dtype == np.dtype(c["kind"])
    np.testing.assert_array_equal(q, q_ort)
    np.testing.assert_array_equal(y, y_ort)
    np.testing.assert_array_equal(q, _naive_quantize(c))


@settings(max_examples=60)
@given(quant_cases(KINDS4))
def test_int4_codes_equal_onnxruntime_through_dequantize(c):
    """onnxruntime cannot hand int4 tensors to NumPy; its DequantizeLinear of them is compared instead."""
    pytest.importorskip("onnxruntime")
    q, y = _ours(c)
    np.testing.assert_array_equal(y, _ort_qdq(c))
    np.testing.assert_array_equal(q, _naive_quantize(c))


def test_ties_round_half_to_even_and_saturation_clamps_before_the_cast():
    q = quantize_linear(np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1e30, -1e30], np.float32), 1.0, np.int8(0))
    np.testing.assert_array_equal(q, [0, 2, 2, 0, -2, 127, -128])
    np.testing.assert_array_equal(quantize_linear([300.0, -5.0], 1.0), np.array([255, 0], np.uint8))


def test_float64_input_divides_in_float64():
    # 29 * 0.05 / 0.1 is 14.500000000000002 in float64 (rounds up) and a tie 14.5 in float32 (to even).
    x = 29 * 0.05
    assert quantize_linear(np.float64(x), np.float64(0.1), np.int8(0)).item() == 15
    assert quantize_linear(np.float32(x), np.float32(0.1), np.int8(0)).item() == 14
