"""The bit-width sweep and ``convlab fixed-sweep``: rows, scores, plot, format tables, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convlab._args import ConvlabError
from convlab.cli import main
from convlab.data import demo_unet, synthetic_cells
from convlab.models import UNet
from convlab.quant import FormatTable, bit_width_sweep, calibrate_formats, fixed_unet


def _iou(p, t):
    return np.count_nonzero(p & t) / np.count_nonzero(p | t)


def test_sweep_rows_score_what_they_say():
    model = demo_unet()
    scored = [synthetic_cells(92, seed) for seed in (5, 6)]
    x = np.stack([image for image, _ in scored])[:, None]
    truth = np.stack([mask for _, mask in scored])
    cal = synthetic_cells(92, 7)[0][None, None]
    rows = bit_width_sweep(model, x, truth, cal, [4, 24], tables={"mine": FormatTable()})
    assert [r.label for r in rows] == ["float32", "W=4", "W=24", "hls4ml ap_fixed<16,6>", "mine"]
    float_pred = model(x.astype(np.float32)).argmax(1).astype(bool)
    crop = truth[:, 20:72, 20:72].astype(bool)  # the 52x52 output at the centre of 92x92
    assert rows[0].iou_truth == _iou(float_pred, crop) and rows[0].iou_float == 1.0 == rows[0].agreement
    codes, _ = fixed_unet(model, x, calibrate_formats(model, cal, 4))
    fixed_pred = codes.argmax(1).astype(bool)
    assert rows[1].iou_truth == _iou(fixed_pred, crop) and rows[1].iou_float == _iou(fixed_pred, float_pred)
    assert rows[1].agreement == np.mean(fixed_pred == float_pred) < 1.0  # 4 bits do change decisions
    assert rows[2].agreement == 1.0  # 24 bits: the float model's decisions
    assert (rows[3].iou_truth, rows[3].iou_float) == (rows[4].iou_truth, rows[4].iou_float)


def test_sweep_errors():
    model = UNet(width=2, depth=1, padding="valid")
    with pytest.raises(ConvlabError, match="truths must have shape"):
        bit_width_sweep(model, np.zeros((1, 1, 24, 24)), np.zeros((24, 24)), np.zeros((1, 1, 24, 24)), [8])


def test_command_table_json_plot_and_formats(tmp_path, capsys):
    formats = tmp_path / "eight.json"
    formats.write_text(
        json.dumps({"input": "ap_fixed<8,2>", "default": {"output": "ap_fixed<8,4,AP_RND,AP_SAT>"}})
    )
    plot = tmp_path / "iou.png"
    args = ["fixed-sweep", "--size", "60", "--images", "1", "--calibration", "1", "--widths", "6-7"]
    assert main([*args, "--formats", str(formats), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].replace(" ", "") == "formatsWIoUvstruthIoUvsfloatpixels=float"
    labels = [line.split()[0] for line in out.splitlines()[2:7]]
    assert labels == ["float32", "W=6", "W=7", "hls4ml", "eight.json"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["word_bits"] for r in data["rows"]] == [None, 6, 7, None]
    assert all(0.0 <= r["iou_truth"] <= 1.0 for r in data["rows"]) and data["rows"][0]["iou_float"] == 1.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--widths", "four"], "--widths must look like"),
        (["--images", "0"], "--images and --calibration must be at least 1"),
        (["--plot", "x.jpg"], "--plot must end in .png"),
        (["--rounding", "round"], "rounding must be one of"),
    ],
)
def test_command_errors(extra, message, capsys):
    assert main(["fixed-sweep", "--size", "60", "--widths", "6", *extra]) == 2
    assert message in capsys.readouterr().err
