"""``convlab demo``: the shipped U-Net segments synthetic cells by overlap-tile, scored against the truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convlab.cli import main
from convlab.cli._demo import iou, segment_synthetic, write_png
from convlab.data import DEMO_CONFIG, DEMO_WEIGHTS, demo_unet, synthetic_cells


def test_shipped_weights_are_small_and_load():
    assert DEMO_WEIGHTS.stat().st_size < 1_000_000
    model = demo_unet()
    assert model.config == DEMO_CONFIG and model.config.padding == "valid"


@pytest.mark.parametrize("seed", [1, 2])
def test_shipped_weights_reach_the_iou_on_unseen_images(seed):
    # Training used seeds 1000 and up; these images were never seen.
    result = segment_synthetic(320, 572, seed)
    assert result["iou"] >= 0.9
    assert result["prediction"].shape == (320, 320) and result["prediction"].dtype == np.uint8


def test_demo_command_prints_the_score_and_writes_the_picture(tmp_path, capsys):
    picture = tmp_path / "demo.png"
    assert main(["demo", "--size", "300", "--tile", "188", "-o", str(picture)]) == 0
    out = capsys.readouterr().out
    score = float(out.split("IoU")[1].split()[0])
    assert score >= 0.9
    assert "segmented in" in out and "tiles/s" in out and "peak memory" in out
    Image = pytest.importorskip("PIL.Image")
    with Image.open(picture) as png:  # three 300-pixel panels, labelled: see test_cli_demo.py
        assert png.size[0] > 3 * 300 and png.size[1] > 300 and png.mode == "RGB"
    assert main(["demo", "--size", "200", "-o", str(picture), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["iou"] >= 0.9 and data["tiles"] == 1 and data["picture"] == str(picture)


def test_demo_refuses_bad_arguments(tmp_path, capsys):
    assert main(["demo", "--size", "0"]) == 2
    assert "--size must be a positive" in capsys.readouterr().err
    assert main(["demo", "--size", "64", "-o", str(tmp_path / "demo.jpg")]) == 2
    assert "--output must end in .png" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_synthetic_cells_are_deterministic():
    a, mask = synthetic_cells((70, 90), seed=4)
    b, same = synthetic_cells((70, 90), seed=4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(mask, same)
    assert not np.array_equal(a, synthetic_cells((70, 90), seed=5)[0])
    assert 0.05 < mask.mean() < 0.4  # cells cover a minority of the field
    assert a[mask == 1].mean() > a[mask == 0].mean() + 0.3


def test_iou():
    truth = np.array([[1, 1, 0, 0]], np.uint8)
    assert iou(np.array([[1, 0, 1, 0]], np.uint8), truth) == pytest.approx(1 / 3)
    assert iou(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8)) == 1.0


def test_png_is_read_back_exactly(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    grey = np.arange(12 * 7, dtype=np.uint8).reshape(12, 7) * 3
    write_png(tmp_path / "g.png", grey)
    with Image.open(tmp_path / "g.png") as png:
        np.testing.assert_array_equal(np.asarray(png), grey)
