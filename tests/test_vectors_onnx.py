"""Golden vectors of the user's own ONNX network: every node's tensors round-trip to onnxruntime's values."""

from __future__ import annotations

import collections
import json
import shutil

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

pytest.importorskip("onnxruntime")

import convlab.onnx as co
from convlab.cli import main
from convlab.vectors import diff, load_manifest, read_entry, to_layout, write_memory, write_onnx_vectors
from onnx_cases import export, ort_run, single_node


class SmallCnn(torch.nn.Module):
    """Conv-ReLU, max pool, BatchNorm, a 1x1 conv, an up-convolution and a skip concatenation."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(2, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4).eval()
        self.bn.running_mean.uniform_(-0.5, 0.5)
        self.bn.running_var.uniform_(0.5, 2.0)
        self.pool = torch.nn.MaxPool2d(2)
        self.mid = torch.nn.Conv2d(4, 4, 1)
        self.up = torch.nn.ConvTranspose2d(4, 4, 2, stride=2)
        self.head = torch.nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x):
        a = torch.relu(self.conv(x))
        b = self.up(torch.relu(self.mid(self.bn(self.pool(a)))))
        return self.head(torch.cat([a, b], 1))


@pytest.fixture(scope="module")
def exported():
    # BatchNormalization after the pool, not a conv: the exporter cannot fold it away.
    proto = export(SmallCnn(), (torch.zeros(1, 2, 8, 8),))
    x = np.random.default_rng(3).standard_normal((1, 2, 8, 8)).astype(np.float32)
    return proto, x


def _every_tensor_by_onnxruntime(proto, x, name="x"):
    """onnxruntime's value of every tensor: the model re-declared with every node output as a graph output."""
    exposed = onnx.ModelProto()
    exposed.CopyFrom(proto)
    declared = {o.name for o in exposed.graph.output}
    for node in exposed.graph.node:
        exposed.graph.output.extend(
            onnx.ValueInfoProto(name=n) for n in node.output if n and n not in declared
        )
    names = [o.name for o in exposed.graph.output]
    return dict(zip(names, ort_run(exposed, {name: x}, names)))


@pytest.mark.parametrize(("fmt", "layout"), [("readmemh", None), ("bin", "NHWC")])
def test_every_file_reads_back_as_onnxruntimes_tensor(exported, tmp_path, fmt, layout):
    proto, x = exported
    entries = write_onnx_vectors(proto, x, tmp_path / "g", fmt=fmt, layout=layout, meta={"run": 7})
    meta, listed = load_manifest(tmp_path / "g")
    assert meta == {"schema": "convlab.vectors/1", "run": 7} and listed == entries
    theirs = _every_tensor_by_onnxruntime(proto, x)
    initializers = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    ours = co.load(proto).run({"x": x}, keep="all")
    ops = [n.op_type for n in proto.graph.node]
    assert {"Conv", "BatchNormalization", "Relu", "MaxPool", "ConvTranspose", "Concat"} <= set(ops)
    assert [e.layer for e in entries if e.tensor == "output"] == [n.name for n in proto.graph.node]
    for e in entries:
        array = read_entry(e, tmp_path / "g" / e.file)
        assert array.dtype == np.float32 and e.number == {"kind": "float32"}
        if e.source in initializers:
            np.testing.assert_array_equal(array, initializers[e.source])
            continue
        np.testing.assert_array_equal(array, ours[e.source])  # the files hold convlab's values exactly
        expected = x if e.source == "x" else theirs[e.source]
        np.testing.assert_allclose(array, expected, rtol=2e-5, atol=2e-6 * np.abs(expected).max())
    conv = next(e for e in entries if e.op == "Conv")
    assert [e.tensor for e in entries if e.layer == conv.layer] == ["input", "w", "b", "output"]
    bn = [e.tensor for e in entries if e.op == "BatchNormalization"]
    assert bn == ["input", "scale", "b", "input_mean", "input_var", "output"]
    cat = [e.tensor for e in entries if e.op == "Concat"]
    assert cat == ["input", "inputs", "output"]


def test_diff_finds_a_planted_wrong_pixel_of_an_onnx_node(exported, tmp_path, capsys):
    proto, x = exported
    golden, dump = tmp_path / "g", tmp_path / "d"
    entries = write_onnx_vectors(proto, x, golden, fmt="bin")
    assert main(["diff", str(golden), str(golden)]) == 0
    capsys.readouterr()
    up = next(e for e in entries if e.op == "ConvTranspose" and e.tensor == "output")
    values = read_entry(up, golden / up.file)
    values[0, 1, 3, 6] += 0.25
    dump.mkdir()
    write_memory(dump / up.file, to_layout(values, up.layout), 32, signed=False, fmt="bin")
    report = diff(golden, dump)
    assert (report.first.entry.layer, report.first.first, report.first.mismatches) == (
        up.layer,
        (0, 1, 3, 6),
        1,
    )
    assert main(["diff", str(golden), str(dump)]) == 1
    text = capsys.readouterr().out
    assert f"{up.layer} output: 1 of {up.count} values differ" in text and "first: n=0, c=1, y=3, x=6" in text


def test_layers_glob_memory_map_and_file_names_of_slashed_node_names(exported, tmp_path):
    proto, x = exported
    conv = next(n.name for n in proto.graph.node if n.op_type == "ConvTranspose")
    assert "/" in conv  # the TorchScript exporter names nodes "/up/ConvTranspose"
    entries = write_onnx_vectors(
        proto, x, tmp_path, layers=["*ConvTranspose*"], memory_map={f"{conv}:w": 0x40}
    )
    assert {e.layer for e in entries} == {conv} and [e.tensor for e in entries] == [
        "input",
        "w",
        "b",
        "output",
    ]
    weight = entries[1]
    assert weight.address == 0x40 and "@40\n" in (tmp_path / weight.file).read_text()
    assert (
        all("/" not in e.file for e in entries)
        and entries[0].file == f"000_{conv[1:].replace('/', '_')}_input.hex"
    )


def test_integer_and_shape_tensors_keep_their_width(tmp_path):
    x = np.random.default_rng(0).integers(-100, 100, (1, 2, 4, 4)).astype(np.float32) / 10
    scale, zero = np.array(0.05, np.float32), np.array(-3, np.int8)
    model = single_node("QuantizeLinear", {"x": x, "s": scale, "z": zero})
    entries = write_onnx_vectors(model, x, tmp_path, fmt="readmemh")
    codes = next(e for e in entries if e.tensor == "output")
    assert (codes.number, codes.value_bits, codes.signed) == ({"kind": "int8"}, 8, True)
    np.testing.assert_array_equal(read_entry(codes, tmp_path / codes.file), ort_run(model, {"x": x})[0])
    zp = next(e for e in entries if e.tensor == "y_zero_point")
    assert zp.tensor_shape == [] and read_entry(zp, tmp_path / zp.file)[()] == -3
    shape = np.array([1, -1], np.int64)
    model = single_node("Reshape", {"x": x, "s": shape})
    entries = write_onnx_vectors(model, x, tmp_path / "r")
    target = next(e for e in entries if e.tensor == "shape")
    assert (target.number, target.value_bits, target.signed) == ({"kind": "int64"}, 64, True)
    np.testing.assert_array_equal(read_entry(target, tmp_path / "r" / target.file), shape)


def test_cli_vectors_of_an_onnx_file(exported, tmp_path, capsys):
    proto, _ = exported
    path = tmp_path / "net.onnx"
    onnx.save(proto, path)
    out = tmp_path / "v"
    argv = ["vectors", str(path), "--input", "8x8", "--seed", "4", "--out", str(out), "--format", "bin"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    meta, entries = load_manifest(out)
    assert f"wrote {len(entries)} files for {len(proto.graph.node)} nodes to {out}" in text
    assert meta["model"] == str(path) and meta["input_shape"] == [1, 2, 8, 8] and meta["seed"] == 4
    generated = np.random.default_rng(4).standard_normal((1, 2, 8, 8), dtype=np.float32)
    np.testing.assert_array_equal(read_entry(entries[0], out / entries[0].file), generated)
    last = entries[-1]
    np.testing.assert_allclose(
        read_entry(last, out / last.file), ort_run(proto, {"x": generated})[0], atol=1e-5
    )
    # The same run again replaces the previous directory and writes the same bytes.
    first = (out / last.file).read_bytes()
    assert main(argv) == 0 and (out / last.file).read_bytes() == first
    capsys.readouterr()
    assert main([*argv[:-2], "--quant", "int8"]) == 2
    assert "--quant int8 quantises U-Net weights" in capsys.readouterr().err


def test_refusals_name_the_problem_and_leave_nothing_behind(exported, tmp_path, monkeypatch):
    proto, x = exported
    out = tmp_path / "v"
    with pytest.raises(
        ValueError, match=r"layers=\['nope\*'\] matches no node of the model \(nodes: /conv/Conv"
    ):
        write_onnx_vectors(proto, x, out, layers=["nope*"])
    with pytest.raises(
        ValueError, match=r"memory_map names no tensor of the selected nodes: /conv/Conv:weight"
    ):
        write_onnx_vectors(proto, x, out, memory_map={"/conv/Conv:weight": 0})
    with pytest.raises(TypeError, match="layers must be a list of glob patterns"):
        write_onnx_vectors(proto, x, out, layers="*")
    with pytest.raises(
        ValueError, match=r"x must give exactly the inputs \['x'\]: missing \['x'\], unknown \['y'\]"
    ):
        write_onnx_vectors(proto, {"y": x}, out)
    # A failure in the middle of the pass (a 16-bit word for float32 values) leaves no directory.
    with pytest.raises(ValueError, match=r"word_bits=16 .* 32-bit"):
        write_onnx_vectors(proto, x, out, word_bits=16)
    assert list(tmp_path.iterdir()) == []
    usage = collections.namedtuple("usage", "total used free")
    import convlab.vectors._staging as module

    monkeypatch.setattr(module.shutil, "disk_usage", lambda path: usage(10**6, 0, 1000))
    with pytest.raises(ValueError, match=r"need about .* GB but .* free: choose fewer nodes"):
        write_onnx_vectors(proto, x, out)
    monkeypatch.undo()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(
        ValueError, match=r"holds files but no manifest.json: choose a new or empty directory"
    ):
        write_onnx_vectors(proto, x, foreign)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_a_previous_vectors_directory_is_replaced_whole(exported, tmp_path):
    proto, x = exported
    out = tmp_path / "v"
    write_onnx_vectors(proto, x, out, fmt="bin")
    write_onnx_vectors(proto, x, out, layers=["/head/*"])
    _, entries = load_manifest(out)
    assert sorted(p.name for p in out.iterdir()) == sorted([*(e.file for e in entries), "manifest.json"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]
    assert json.loads((out / "manifest.json").read_text())["entries"][0]["source"] == entries[0].source
    shutil.rmtree(out)


def test_a_graph_of_two_inputs_takes_a_dict(tmp_path):
    a = np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)
    model = single_node("Add", {"x": a, "y2": a}, feeds=("x", "y2"))
    with pytest.raises(ValueError, match=r"the model has inputs \['x', 'y2'\]: pass x as a dict"):
        write_onnx_vectors(model, a, tmp_path / "v")
    entries = write_onnx_vectors(model, {"x": a, "y2": 2 * a}, tmp_path / "v")
    assert [(e.tensor, e.source) for e in entries] == [("input", "x"), ("b", "y2"), ("output", "y")]
    np.testing.assert_array_equal(read_entry(entries[2], tmp_path / "v" / entries[2].file), 3 * a)


def test_a_classifiers_matrices_read_back_row_major_under_any_layout(tmp_path):
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(2 * 4 * 4, 5)
    )
    proto = export(net, (torch.zeros(1, 1, 6, 6),))
    x = np.random.default_rng(2).standard_normal((1, 1, 6, 6)).astype(np.float32)
    entries = write_onnx_vectors(proto, x, tmp_path, layout="NHWC")
    gemm = {e.tensor: e for e in entries if e.op == "Gemm"}
    assert gemm["b"].layout == "C" and gemm["b"].tensor_shape == [5, 32]
    np.testing.assert_array_equal(
        read_entry(gemm["b"], tmp_path / gemm["b"].file), net[3].weight.detach().numpy()
    )
    conv_in = entries[0]
    assert conv_in.layout == "NHWC" and conv_in.shape == [1, 6, 6, 1]
    np.testing.assert_allclose(
        read_entry(gemm["output"], tmp_path / gemm["output"].file), ort_run(proto, {"x": x})[0], rtol=1e-5
    )
    assert load_manifest(tmp_path)[1] == entries


def test_an_int8_onnx_export_gives_the_codes_of_the_integer_run_bit_for_bit(tmp_path):
    from convlab.models import UNet
    from convlab.quant import onnx_model, quantize_unet
    from convlab.vectors import write_quant_vectors

    x = np.random.default_rng(0).random((1, 1, 16, 16)).astype(np.float32)
    qnet = quantize_unet(UNet(width=2, depth=1, padding="same"), [x])
    proto = onnx_model(qnet, (1, 1, 16, 16))
    entries = write_onnx_vectors(proto, x, tmp_path / "onnx")
    source = proto.graph.input[0].name
    theirs = _every_tensor_by_onnxruntime(proto, x, source)
    initializers = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    for e in entries:
        got = read_entry(e, tmp_path / "onnx" / e.file)
        expected = initializers.get(e.source, x if e.source == source else theirs.get(e.source))
        assert got.dtype == expected.dtype, e
        np.testing.assert_array_equal(got, expected)
    conv = next(e for e in entries if e.op == "QLinearConv" and e.tensor == "output")
    assert conv.number == {"kind": "uint8"} and conv.value_bits == 8
    # The first QLinearConv's codes are those of convlab's own int8 run of the same layer.
    run = write_quant_vectors(qnet, x, tmp_path / "run", layers=["down0.conv1"])
    ours = read_entry(run[-1], tmp_path / "run" / run[-1].file)
    np.testing.assert_array_equal(read_entry(conv, tmp_path / "onnx" / conv.file), ours)
