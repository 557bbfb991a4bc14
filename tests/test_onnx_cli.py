"""``convlab run`` and ``convlab trace`` on an exported U-Net."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

import onnx  # noqa: E402

from convlab.cli import main  # noqa: E402
from convlab.io import read_image, write_image  # noqa: E402
from convlab.onnx import load  # noqa: E402
from onnx_cases import export, ort_run  # noqa: E402
from torch_unets import MilesialLayout  # noqa: E402


@pytest.fixture(scope="module")
def unet(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "unet.onnx"
    onnx.save_model(
        export(MilesialLayout(1, 2, width=2), (torch.zeros(1, 1, 32, 32),), dynamic=(0, 0, 1, 1)), path
    )
    return path


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_run_compare_and_dump(unet, tmp_path, capsys):
    x = np.random.default_rng(0).standard_normal((1, 1, 40, 36)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    status, out, err = _run(
        capsys,
        "run",
        unet,
        "--input",
        tmp_path / "x.npy",
        "--compare",
        "onnxruntime",
        "--dump",
        tmp_path / "d",
    )
    assert status == 0, err
    assert "output y: shape (1, 2, 40, 36)" in out and "Conv" in out and "agree within" in out
    index = json.loads((tmp_path / "d" / "index.json").read_text())["tensors"]
    assert index[0]["node"] == "input" and index[-1]["tensor"] == "y"
    last = np.load(tmp_path / "d" / index[-1]["file"])
    np.testing.assert_allclose(last, ort_run(onnx.load(unet), {"x": x})[0], rtol=1e-5, atol=1e-6)
    assert all((tmp_path / "d" / e["file"]).exists() for e in index)
    assert not list((tmp_path / "d").glob("*.tmp*"))


def test_run_json_names_the_first_parting_node(unet, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.ones((1, 1, 32, 32), np.float32))
    status, out, _ = _run(
        capsys,
        "run",
        unet,
        "--input",
        tmp_path / "x.npy",
        "--compare",
        "onnxruntime",
        "--tolerance",
        "0",
        "--json",
    )
    data = json.loads(out)
    assert status == 0 and data["outputs"]["y"]["shape"] == [1, 2, 32, 32]
    rows = data["compare"]
    parting = next((r["tensor"] for r in rows if r["max_rel"] > 0), None)
    assert data["first_parting"] == parting


def test_run_reads_an_image(unet, tmp_path, capsys):
    write_image((np.arange(32 * 32) % 251).astype(np.uint8).reshape(32, 32), tmp_path / "cells.png")
    status, out, err = _run(capsys, "run", unet, "--input", tmp_path / "cells.png")
    assert status == 0, err
    assert "output y: shape (1, 2, 32, 32), float32" in out


def test_trace_shows_receptive_fields_through_the_skips(unet, capsys):
    status, out, _ = _run(capsys, "trace", unet, "--input-shape", "1x1x64x64", "--wide")  # one row per node
    assert status == 0
    last = next(line for line in out.splitlines() if line.startswith("/outc")).split()
    assert last[2] == "1x2x64x64" and last[5] == "204x204" and last[6] == "1x1" and last[7] == "-94,-94"
    status, out, _ = _run(capsys, "trace", unet, "--input-shape", "1x1x64x64", "--json")
    rows = json.loads(out)["rows"]
    assert rows[-1]["receptive_field"] == [204, 204] and rows[-1]["jump"] == ["1", "1"]


def test_command_errors(unet, tmp_path, capsys):
    status, _, err = _run(capsys, "trace", unet, "--input-shape", "1xAx3")
    assert status == 2 and "--input-shape must look like" in err
    status, _, err = _run(capsys, "run", tmp_path / "none.onnx", "--input", "x.npy")
    assert status == 2 and "does not exist" in err
    status, _, err = _run(capsys, "trace", unet, "--input-shape", "1x1x7x7")
    assert status == 2 and "MaxPool" in err


class TinyUNet(torch.nn.Module):
    """One level of a padded U-Net; its two classes both occur on a random image."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.a, self.b = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.up, self.head = nn.ConvTranspose2d(4, 4, 2, stride=2), nn.Conv2d(8, 2, 3, padding=1)

    def forward(self, x):
        skip = torch.relu(self.a(x))
        deep = self.up(torch.relu(self.b(torch.nn.functional.max_pool2d(skip, 2))))
        return self.head(torch.cat([skip, deep], dim=1))


def test_segment_with_an_onnx_model_tiled_equals_untiled(tmp_path, capsys):
    torch.manual_seed(3)
    onnx.save_model(
        export(TinyUNet(), (torch.zeros(1, 1, 32, 32),), dynamic=(0, 0, 1, 1)), tmp_path / "m.onnx"
    )
    image = (np.random.default_rng(0).random((150, 130)) * 255).astype(np.uint8)
    write_image(image, tmp_path / "big.tif")
    status, _, err = _run(
        capsys, "segment", tmp_path / "big.tif", "--model", tmp_path / "m.onnx", "-o", tmp_path / "a.tif"
    )
    assert status == 0, err
    status, out, err = _run(
        capsys,
        "segment",
        tmp_path / "big.tif",
        "--model",
        tmp_path / "m.onnx",
        "-o",
        tmp_path / "b.tif",
        "--tile",
        "64",
    )
    assert status == 0, err
    assert "tiles of 64x64" in out
    whole, tiled = read_image(tmp_path / "a.tif"), read_image(tmp_path / "b.tif")
    assert set(np.unique(whole)) == {0, 1}
    # Tiles at the image's border see its mirror image where the whole image
    # sees zero padding (tiling's documented rule); beyond the halo they agree.
    h = load(tmp_path / "m.onnx").size_contract.halo[0]
    assert 0 < h < 20
    np.testing.assert_array_equal(tiled[:, h:-h, h:-h], whole[:, h:-h, h:-h])
