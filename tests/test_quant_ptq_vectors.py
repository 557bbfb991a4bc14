"""Golden vectors of the int8 U-Net: files hold exactly the integer run's codes; `vectors --quant int8`."""

import numpy as np
import pytest

from convlab import ConvlabError
from convlab.cli import main
from convlab.models import UNet
from convlab.quant import quantize_unet
from convlab.vectors import load_manifest, read_entry, write_quant_vectors


@pytest.fixture(scope="module")
def qnet_and_x():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 1, 12, 12))
    return quantize_unet(UNet(width=2, depth=1, padding="same", seed=6), [x]), x


@pytest.mark.parametrize("fmt", ["readmemh", "bin"])
def test_every_file_holds_the_integer_run(tmp_path, qnet_and_x, fmt):
    qnet, x = qnet_and_x
    entries = write_quant_vectors(qnet, x, tmp_path, fmt=fmt, layout="NHWC")
    _, records = qnet.run(x, record=True)
    by_name = {r.name: r for r in records}
    _, listed = load_manifest(tmp_path)
    assert [e.file for e in listed] == [e.file for e in entries]
    for entry in entries:
        r = by_name[entry.layer]
        expected = {"output": r.y, "weight": r.w, "bias": r.bias, "input": r.x[0]}
        expected |= {f"input{i}": a for i, a in enumerate(r.x)}
        got = read_entry(entry, tmp_path / entry.file)
        np.testing.assert_array_equal(got, expected[entry.tensor], err_msg=entry.file)
        assert entry.number["kind"] == expected[entry.tensor].dtype.name
    head = next(e for e in entries if e.layer == "head" and e.tensor == "output")
    assert head.number["scale"] == float(qnet.qparams[-1][0])
    assert head.number["zero_point"] == int(qnet.qparams[-1][1])


def test_selection_and_memory_map_errors(tmp_path, qnet_and_x):
    qnet, x = qnet_and_x
    with pytest.raises(ConvlabError, match="matches no layer of the quantised U-Net"):
        write_quant_vectors(qnet, x, tmp_path, layers=["nothing*"])
    with pytest.raises(ConvlabError, match="memory_map names no tensor"):
        write_quant_vectors(qnet, x, tmp_path, memory_map={"head:wieght": 0})
    entries = write_quant_vectors(
        qnet, x, tmp_path / "m", layers=["up0.*"], memory_map={"up0.merge:input1": 64}
    )
    assert {e.layer for e in entries} == {"up0.upconv", "up0.merge", "up0.conv1", "up0.conv2"}
    assert [e.address for e in entries if e.tensor == "input1"] == [64]


def test_cli_vectors_quant_int8_and_diff(tmp_path, capsys):
    out = tmp_path / "v"
    assert (
        main(["vectors", "demo", "--input", "92", "--out", str(out), "--quant", "int8", "--layers", "head"])
        == 0
    )
    assert "wrote 4 files for 1 layers" in capsys.readouterr().out
    _, entries = load_manifest(out)
    assert [(e.tensor, e.number["kind"]) for e in entries] == [
        ("input", "uint8"),
        ("weight", "int8"),
        ("bias", "int32"),
        ("output", "uint8"),
    ]
    assert main(["diff", str(out), str(out)]) == 0


def test_a_foreign_target_is_refused_before_the_integer_run(tmp_path, qnet_and_x, monkeypatch):
    qnet, x = qnet_and_x
    (tmp_path / "notes.txt").write_text("mine")
    calls = []
    monkeypatch.setattr(qnet, "run", lambda *a, **k: calls.append(a))
    with pytest.raises(ConvlabError, match=r"holds files but no manifest\.json"):
        write_quant_vectors(qnet, x, tmp_path)
    assert calls == []
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_disk_space_is_checked_before_any_file(tmp_path, qnet_and_x, monkeypatch):
    import collections

    import convlab.vectors._staging as staging

    qnet, x = qnet_and_x
    _, records = qnet.run(x, record=True)
    head = next(r for r in records if r.name == "head")
    # bin, 8-bit codes, int8 weights, int32 bias: the exact byte count of the head layer's files.
    exact = head.x[0].size + head.w.size + 4 * head.bias.size + head.y.size
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(staging.shutil, "disk_usage", lambda path: usage(10**9, 0, exact - 1))
    with pytest.raises(ConvlabError, match=r"need about .* GB but .* free: choose fewer layers"):
        write_quant_vectors(qnet, x, tmp_path / "v", fmt="bin", layers=["head"])
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(staging.shutil, "disk_usage", lambda path: usage(10**9, 0, exact))
    entries = write_quant_vectors(qnet, x, tmp_path / "v", fmt="bin", layers=["head"])
    assert sum((tmp_path / "v" / e.file).stat().st_size for e in entries) == exact
