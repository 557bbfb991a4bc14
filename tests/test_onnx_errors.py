"""Bad models and bad calls: every problem found at load, named, in one error."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import convlab
import convlab.onnx as co
from onnx_cases import single_node

F = TensorProto.FLOAT


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _info(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def test_every_unsupported_operator_attribute_and_value_in_one_error():
    nodes = [
        helper.make_node("LSTM", ["x"], ["a"], name="rnn"),
        helper.make_node("Relu", ["x"], ["b"], name="act", bogus=3),
        helper.make_node("Resize", ["x", "", "s"], ["c"], name="up", mode="cubic"),
        helper.make_node("Conv", ["x", "w"], ["d"], name="conv", auto_pad="SOMETIMES"),
        helper.make_node("Custom", ["x"], ["e"], name="mine", domain="com.example"),
    ]
    init = [
        numpy_helper.from_array(np.ones(4, np.float32), "s"),
        numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "w"),
    ]
    model = _model(nodes, [_info("x", [1, 1, 4, 4])], [_info("d", None)], init)
    with pytest.raises(co.OnnxModelError) as err:
        co.load(model)
    text = str(err.value)
    assert "5 problem(s)" in text
    for fragment in ("'rnn': operator LSTM", "'act': unsupported attribute(s) bogus", "mode='cubic'",
                     "auto_pad='SOMETIMES'", "'mine': operator Custom of domain 'com.example'"):  # fmt: skip
        assert fragment in text
    assert isinstance(err.value, convlab.ConvlabError) and isinstance(err.value, ValueError)


def test_opset_outside_the_supported_range():
    model = single_node(
        "CenterCropPad", {"x": np.ones((2, 3), np.float32), "s": np.array([1, 1], np.int64)}, opset=17
    )
    with pytest.raises(co.OnnxModelError, match=r"opset 17 is outside the supported range 18\.\.28"):
        co.load(model)


def test_cycle_and_undefined_names():
    nodes = [
        helper.make_node("Relu", ["x", "q"], ["p"], name="a"),
        helper.make_node("Relu", ["p"], ["q"], name="b"),
        helper.make_node("Add", ["x", "missing_weight"], ["y"], name="c"),
    ]
    model = _model(nodes, [_info("x", [2])], [_info("y", [2])])
    with pytest.raises(co.OnnxModelError) as err:
        co.load(model)
    assert "cycle" in str(err.value) and "'a'" in str(err.value)
    assert "reads 'missing_weight', which no node, input or initializer defines" in str(err.value)


def test_output_nobody_produces():
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_info("x", [2])], [_info("z", [2])])
    with pytest.raises(co.OnnxModelError, match="graph output 'z' is produced by no node"):
        co.load(model)


def test_shape_inconsistent_graph_is_refused_at_load():
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
        helper.make_node("Add", ["c", "x"], ["y"], name="add"),
    ]
    bad_channels = _model(nodes[:1], [_info("x", [1, 2, 8, 8])], [_info("c", None)], [w])
    with pytest.raises(co.OnnxModelError, match=r"Conv node 'conv'.*input has 2 channels"):
        co.load(bad_channels)
    bad_add = _model(nodes, [_info("x", [1, 3, 8, 8])], [_info("y", None)], [w])
    with pytest.raises(co.OnnxModelError, match=r"Add node 'add'.*do not broadcast"):
        co.load(bad_add)


def test_huge_declared_shapes():
    model = _model(
        [helper.make_node("Relu", ["x"], ["y"])], [_info("x", [100000, 100000, 1000])], [_info("y", None)]
    )
    with pytest.raises(co.OnnxModelError, match="elements > the bound"):
        co.load(model)
    big = TensorProto(name="w", data_type=F, dims=[2**20, 2**20])
    model = _model([helper.make_node("Add", ["x", "w"], ["y"])], [_info("x", [1])], [_info("y", None)], [big])
    with pytest.raises(co.OnnxModelError, match="initializer 'w'"):
        co.load(model)


def _external(tmp_path, location, offset=0, length=16):
    tensor = TensorProto(name="w", data_type=F, dims=[4])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        tensor.external_data.add(key=key, value=value)
    model = _model(
        [helper.make_node("Add", ["x", "w"], ["y"])], [_info("x", [4])], [_info("y", None)], [tensor]
    )
    path = tmp_path / "m.onnx"
    onnx.save_model(model, path)
    return path


def test_external_data_is_read_beside_the_model_and_bounded(tmp_path):
    np.arange(6, dtype="<f4").tofile(tmp_path / "weights.bin")
    model = co.load(_external(tmp_path, "weights.bin", offset=8))
    np.testing.assert_array_equal(model(np.zeros(4, np.float32)), [2, 3, 4, 5])
    for location, offset, message in (
        ("../weights.bin", 0, "must be a file inside"),
        (str(tmp_path / "weights.bin"), 0, "must be a file inside"),
        ("weights.bin", 16, "a file of 24 bytes"),
        ("nothere.bin", 0, "does not exist"),
    ):
        with pytest.raises(co.OnnxModelError, match=message):
            co.load(_external(tmp_path, location, offset))
    with pytest.raises(co.OnnxModelError, match="pass base_dir"):
        co.load(onnx.load_model(str(_external(tmp_path, "weights.bin")), load_external_data=False))


def test_bad_model_arguments(tmp_path):
    with pytest.raises(TypeError, match=r"path, bytes or an onnx\.ModelProto"):
        co.load(3)
    with pytest.raises(co.OnnxModelError, match="not an ONNX model"):
        co.load(b"\x00\x01garbage")
    with pytest.raises(co.OnnxModelError, match="does not exist"):
        co.load(tmp_path / "none.onnx")


def test_bad_feeds_and_keep():
    model = co.load(single_node("Relu", {"x": np.ones((1, 2), np.float32)}))
    with pytest.raises(convlab.ConvlabError, match="missing \\['x'\\], unknown \\['z'\\]"):
        model.run({"z": np.ones((1, 2))})
    with pytest.raises(convlab.ConvlabError, match="must have shape \\(1, 2\\)"):
        model.run({"x": np.ones((2, 2), np.float32)})
    with pytest.raises(TypeError, match="must have dtype float32"):
        model.run({"x": np.ones((1, 2), bool)})
    with pytest.raises(convlab.ConvlabError, match="does not have: \\['nope'\\]"):
        model.run({"x": np.ones((1, 2), np.float32)}, keep=["nope"])
    with pytest.raises(TypeError, match="keep must be"):
        model.run({"x": np.ones((1, 2), np.float32)}, keep="some")
    with pytest.raises(TypeError, match="takes 1 input"):
        model(np.ones((1, 2)), np.ones((1, 2)))
    np.testing.assert_array_equal(
        model(np.array([[-1, 2]])), [[0, 2]]
    )  # integers are cast to the declared float


def test_trace_arguments():
    model = co.load(single_node("Relu", {"x": np.ones((1, 2, 3), np.float32)}))
    with pytest.raises(convlab.ConvlabError, match="declared with shape"):
        model.trace((1, 2, 3, 4))
    with pytest.raises(convlab.ConvlabError, match="must give a shape for input 'x'"):
        model.trace({"y": (1, 2, 3)})
    with pytest.raises(convlab.ConvlabError, match="fixed spatial sizes"):
        model.size_contract  # noqa: B018


def test_declared_sizes_beyond_the_memory_limit_are_refused_at_load():
    from convlab._limits import memory_limit

    model = single_node("Relu", {"x": np.ones((1, 3, 64, 64), np.float32)})
    with memory_limit(10_000), pytest.raises(co.OnnxModelError, match="Relu node"):
        co.load(model)
