"""``convlab quantize`` end to end on tiny nets, and its error branches."""

import json

import numpy as np
import pytest

from convlab.cli import main
from convlab.io import save_weights, write_image
from convlab.models import UNet
from convlab.quant import quantize_unet

ort = pytest.importorskip("onnxruntime")


def _run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def tiny(tmp_path):
    net = UNet(width=2, depth=1, padding="same", seed=4)
    path = tmp_path / "w.safetensors"
    save_weights(net.state_dict(), path)
    return net, path


def test_directory_calibration_writes_a_bit_equal_model(tmp_path, capsys, tiny):
    net, weights = tiny
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    pictures = [rng.integers(0, 256, (16, 16), dtype=np.uint8) for _ in range(2)]
    for i, p in enumerate(pictures):
        write_image(p, folder / f"{i}.png")
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "u.onnx"
    argv = ["quantize", "-w", str(weights), "--padding", "same", "--calibrate", str(folder), "-o", str(out)]
    argv.append("--json")
    status, text, err = _run(capsys, *argv)
    assert status == 0, err
    report = json.loads(text)
    assert report["calibration_images"] == 2 and report["input_shape"] == [1, 1, 16, 16]
    assert report["onnxruntime_check"]["differing"] == 0
    assert [r["name"] for r in report["layers"]][-1] == "head"
    # the same quantisation through the library: same codes from the written file
    images = [p[None, None].astype(np.float32) / 255 for p in pictures]
    qnet = quantize_unet(net, images)
    x = rng.random((1, 1, 16, 16), dtype=np.float32)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(["codes"], {"input": x})[0]
    np.testing.assert_array_equal(got, qnet.run(x)[0])


def test_synthetic_calibration_reports_iou(tmp_path, capsys):
    out = tmp_path / "demo.onnx"
    argv = [
        "quantize",
        "--synthetic",
        "1",
        "--size",
        "92",
        "--method",
        "percentile",
        "--form",
        "qdq",
        "-o",
        str(out),
    ]
    status, text, err = _run(capsys, *argv)
    assert status == 0, err
    assert "0 of 5408 output codes differ" in text
    assert "IoU on held-out synthetic cells: float 0.9" in text
    assert "up0.merge" in text and out.stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--synthetic", "1", "-o", "x.onx"], "--output must end in .onnx"),
        (["--synthetic", "0", "-o", "x.onnx"], "--synthetic must be a number of images in 1..256, got 0"),
        (["--synthetic", "1", "--size", "0", "-o", "x.onnx"], "--size must be in 1..4096 pixels, got 0"),
        (
            ["--synthetic", "1", "--size", "90", "-o", "x.onnx"],
            "nearest valid input sizes: 88 (below) and 92",
        ),
        (["--calibrate", "nowhere", "-o", "x.onnx"], "--calibrate must be a directory of images"),
        (
            ["--synthetic", "1", "--percentile", "10", "--method", "percentile", "-o", "x.onnx"],
            "percentile must",
        ),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    status, _, err = _run(capsys, "quantize", *args)
    assert status == 2 and message in err and err.count("\n") == 1
    assert not list(tmp_path.glob("*.onnx"))


def test_empty_directory_and_missing_source(tmp_path, capsys, tiny):
    _, weights = tiny
    status, _, err = _run(
        capsys, "quantize", "-w", str(weights), "--calibrate", str(tmp_path), "-o", "x.onnx"
    )
    assert status == 2 and "holds no .png/.tif/.tiff image" in err
    with pytest.raises(SystemExit) as info:
        main(["quantize", "-o", "x.onnx"])
    assert info.value.code == 2
    assert "one of the arguments --calibrate --synthetic is required" in capsys.readouterr().err
