"""``convlab segment``'s files: masks a viewer shows, labels kept as indices, the side-by-side picture."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from convlab import ConvlabError
from convlab.cli import main
from convlab.cli._segment import mask_levels
from convlab.io import read_image, save_weights, write_image
from convlab.models import UNet


def _levels_by_hand(classes: int) -> list[int]:
    """round(255 c / (K - 1)) with halves up, in exact fractions."""
    return [int(Fraction(255 * c, classes - 1) + Fraction(1, 2)) for c in range(classes)]


@pytest.mark.parametrize("classes", range(2, 257))
def test_mask_levels_spread_the_classes_evenly_over_0_to_255(classes):
    expected = _levels_by_hand(classes)
    got = mask_levels(np.arange(classes, dtype=np.uint8), classes)
    assert got.dtype == np.uint8 and got.tolist() == expected
    assert got[0] == 0 and got[-1] == 255 and len(set(got.tolist())) == classes


def test_mask_levels_of_small_class_counts_and_bad_counts():
    assert mask_levels(np.array([0, 1]), 2).tolist() == [0, 255]
    assert mask_levels(np.array([0, 1, 2]), 3).tolist() == [0, 128, 255]
    assert mask_levels(np.array([0, 1, 2, 3]), 4).tolist() == [0, 85, 170, 255]
    assert mask_levels(np.array([0, 1, 2, 3, 4]), 5).tolist() == [0, 64, 128, 191, 255]
    for bad in (1, 257):
        with pytest.raises(ConvlabError, match=rf"classes must be in 2\.\.256 .*got classes={bad}"):
            mask_levels(np.zeros(1, np.uint8), bad)


def _model(classes: int) -> UNet:
    model = UNet(width=4, depth=1, in_channels=1, classes=classes, seed=8)  # every class wins somewhere
    # Centre each class's logit on a sample and amplify, so that the argmax varies over the image.
    sample = np.random.default_rng(0).random((1, 1, 48, 48), dtype=np.float32)
    model.head.bias[...] -= model(sample)[0].mean(axis=(1, 2))
    model.head.weight[...] *= 1000
    model.head.bias[...] *= 1000
    return model


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_image(np.random.default_rng(3).integers(0, 256, (30, 34), dtype=np.uint8), tmp_path / "cells.png")
    for classes in (2, 3):
        save_weights(_model(classes).state_dict(), tmp_path / f"w{classes}.npz")
    return tmp_path


def _segment(capsys, *argv: str) -> tuple[str, str]:
    status = main(["segment", "cells.png", *argv])
    out, err = capsys.readouterr()
    assert status == 0, err
    return out, err


@pytest.mark.parametrize("classes", [2, 3])
def test_png_masks_are_greys_and_tiff_npy_masks_class_indices(folder, capsys, classes):
    weights = f"w{classes}.npz"
    _segment(capsys, "-w", weights, "-o", "m.tif", "--no-side-by-side")
    _segment(capsys, "-w", weights, "-o", "m.npy", "--no-side-by-side")
    out, _ = _segment(capsys, "-w", weights, "-o", "m.png", "--no-side-by-side")
    labels = read_image("m.tif")[0]
    np.testing.assert_array_equal(np.load("m.npy"), labels)
    assert labels.dtype == np.uint8 and set(np.unique(labels).tolist()) == set(range(classes))
    greys = read_image("m.png")[0]
    np.testing.assert_array_equal(greys, np.array(_levels_by_hand(classes), np.uint8)[labels])
    shown = "0/255" if classes == 2 else "0/128/255"
    assert f"wrote m.png: the mask, 30x34 uint8, greys {shown} for classes 0..{classes - 1}" in out
    tiff_out, _ = _segment(capsys, "-w", weights, "-o", "m.tif", "--no-side-by-side")
    assert f"wrote m.tif: the mask, 30x34 uint8, class indices 0..{classes - 1}" in tiff_out


def test_side_by_side_is_written_by_default_named_and_announced(folder, capsys):
    out, _ = _segment(capsys, "-w", "w2.npz", "-o", "mask.png")
    lines = out.splitlines()
    assert lines[1].startswith("wrote mask.png: the mask")
    assert lines[2].startswith("  pixels: class 0 ") and "class 1 " in lines[2]
    assert lines[3] == "wrote mask_side_by_side.png: the image | the classes coloured over it"
    picture = read_image("mask_side_by_side.png")
    assert picture.shape == (3, 30, 34 + 4 + 34)
    # The left half is the grey image itself (uint8 is shown unstretched).
    np.testing.assert_array_equal(picture[0, :, :34], read_image("cells.png")[0])
    out, _ = _segment(capsys, "-w", "w2.npz", "-o", "other.tif", "--side-by-side", "--json")
    data = json.loads(out)
    assert data["side_by_side"] == "other_side_by_side.png" and data["mask_values"] == [0, 1]
    assert (folder / "other_side_by_side.png").is_file()


def test_no_side_by_side_writes_only_the_mask(folder, capsys):
    out, _ = _segment(capsys, "-w", "w3.npz", "-o", "m.png", "--no-side-by-side")
    assert "side_by_side" not in out and len(out.splitlines()) == 3
    out, _ = _segment(capsys, "-w", "w3.npz", "-o", "m.png", "--no-side-by-side", "--json")
    data = json.loads(out)
    assert data["side_by_side"] is None and data["classes"] == 3 and data["mask_values"] == [0, 128, 255]
    assert sorted(p.name for p in folder.iterdir()) == ["cells.png", "m.png", "w2.npz", "w3.npz"]


def test_side_by_side_with_tile_is_refused(folder, capsys):
    assert (
        main(["segment", "cells.png", "-w", "w2.npz", "--tile", "60", "-o", "m.npy", "--side-by-side"]) == 2
    )
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("convlab segment: error: --side-by-side draws the whole image")
    assert not (folder / "m.npy").exists()


def test_tiled_segment_announces_its_mask(folder, capsys):
    out, _ = _segment(capsys, "-w", "w2.npz", "--tile", "60", "-o", "m.npy")
    assert "wrote m.npy: the mask, 30x34 uint8 class indices, written tile by tile" in out
    _segment(capsys, "-w", "w2.npz", "-o", "whole.npy", "--no-side-by-side")
    assert np.mean(np.load("m.npy") == np.load("whole.npy")) > 0.999


def test_help_documents_the_files_and_the_mask_values(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["segment", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--side-by-side, --no-side-by-side" in text
    assert "OUTPUT-STEM_side_by_side.png" in text
    assert "class c of K is grey round(255*c/(K-1)), 0/255 for two classes" in text
    assert ".tif, .tiff or .npy hold the class indices" in text


def test_a_3d_volume_needs_a_mask_format_with_planes(tmp_path, monkeypatch, capsys):
    tifffile = pytest.importorskip("tifffile")
    monkeypatch.chdir(tmp_path)
    tifffile.imwrite("vol.tif", np.zeros((20, 20, 20), np.uint8), metadata={"axes": "ZYX"})
    save_weights(UNet(width=2, depth=1, ndim=3, padding="same", seed=0).state_dict(), "w3d.npz")
    argv = ["segment", "vol.tif", "-w", "w3d.npz"]
    status = main([*argv, "-o", "m.png"])
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "is 3-D (shape 1x20x20x20): a PNG holds one plane; write the mask as .tif, .tiff or .npy" in err
    assert main([*argv, "-o", "m.npy", "--no-side-by-side"]) == 0, capsys.readouterr().err
    assert np.load("m.npy").shape == (20, 20, 20)
    # The volume's labels as a ZYX TIFF (write_image takes planes only): found by this test.
    assert main([*argv, "-o", "m.tif"]) == 0, capsys.readouterr().err
    np.testing.assert_array_equal(read_image("m.tif")[0], np.load("m.npy"))
    assert read_image("m_side_by_side.png").shape == (3, 20, 20 + 4 + 20)  # the middle plane
