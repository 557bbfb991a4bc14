"""``convlab segment --tile``: the overlap-tile path of the segment command."""

from __future__ import annotations

import os

import numpy as np
import pytest

from convlab.cli import main
from convlab.io import save_weights
from convlab.models import UNet, UNetConfig

tifffile = pytest.importorskip("tifffile")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("segment")
    weights = folder / "unet.safetensors"
    save_weights(UNet(UNetConfig(width=4, depth=2, classes=3), seed=9).state_dict(), weights)
    rng = np.random.default_rng(10)
    image = (rng.random((300, 250)) * 65535).astype(np.uint16)
    tifffile.imwrite(folder / "big.tif", image)
    return folder, weights, image


def test_tiled_mask_matches_the_whole_image_mask(files, capsys):
    folder, weights, _ = files
    whole, tiled = folder / "whole.tif", folder / "tiled.tif"
    assert main(["segment", str(folder / "big.tif"), "-w", str(weights), "-o", str(whole)]) == 0
    assert (
        main(["segment", str(folder / "big.tif"), "-w", str(weights), "--tile", "188", "-o", str(tiled)]) == 0
    )
    out = capsys.readouterr().out
    assert "tiles of 188x188" in out and "written tile by tile" in out
    a, b = tifffile.imread(whole), tifffile.imread(tiled)
    assert a.shape == b.shape == (300, 250) and b.dtype == np.uint8
    # float32: a logit pair within rounding of a tie may pick the other class.
    assert np.mean(a == b) > 0.999


def test_tiled_segment_errors_leave_no_file(files, capsys):
    folder, weights, _ = files
    before = set(os.listdir(folder))
    argv = ["segment", str(folder / "big.tif"), "-w", str(weights), "--tile", "188"]
    assert main([*argv, "-o", str(folder / "mask.png")]) == 2
    assert "with --tile, --output must end in .tif" in capsys.readouterr().err
    assert main([*argv, "-o", str(folder / "m.tif"), "--workers", "2", "--scheduler", "tcp://x:1"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main([*argv, "-o", str(folder / "m.tif"), "--normalize", "standardize"]) == 2
    assert "whole image" in capsys.readouterr().err
    assert main([*argv[:1], str(folder / "nope.tif"), *argv[2:], "-o", str(folder / "m.tif")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([*argv[:-1], "61", "-o", str(folder / "m.tif")]) == 2
    assert "tile must be a valid input size" in capsys.readouterr().err
    assert set(os.listdir(folder)) == before
