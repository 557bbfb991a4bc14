"""convlab animate and overlap pictures: valid files, exact frame counts, determinism, refusals."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest

from convlab.cli import main

PIL = pytest.importorskip("PIL.Image")
SVG = "{http://www.w3.org/2000/svg}"


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _frames(path) -> int:
    with PIL.open(path) as image:
        return getattr(image, "n_frames", 1)


@pytest.mark.parametrize(
    "argv, frames",
    [
        # conv: one frame per output pixel; 5x5, k3, s2, p1 -> 3x3.
        (("conv", "5", "-k", "3", "-s", "2", "-p", "1"), 9),
        # non-square, asymmetric padding, dilation: (6+0+1-2*2-1)//1+1 = 3 rows, (4+1+1-3)//2+1 = 2 cols.
        (("conv", "6x4", "-k", "3x2", "-s", "1x2", "-p", "0:1x1:1", "-d", "2x2"), 6),
        # transposed, both views: 2x3 input pixels, then 4x6 output pixels.
        (("convtranspose", "2x3", "-k", "3", "-s", "2", "-p", "1", "--op", "1"), 6 + 24),
        (("convtranspose", "2x3", "-k", "3", "-s", "2", "--view", "scatter"), 6),
        (("convtranspose", "2x3", "-k", "3", "-s", "2", "--view", "zero-insertion"), 5 * 7),
        # pooling: one frame per output pixel; 6x6, k2 (stride = kernel) -> 3x3; ceil_mode 5x5, k2 -> 3x3.
        (("pool", "6", "-k", "2"), 9),
        (("pool", "5", "-k", "2", "--ceil-mode", "--pool", "avg"), 9),
        # 1-D: a single row; 4 inputs, k3 s2 -> 9 outputs.
        (("convtranspose", "4", "-k", "3", "-s", "2", "--ndim", "1"), 4 + 9),
    ],
)
def test_gif_has_one_frame_per_pixel_as_designed(tmp_path, capsys, argv, frames):
    path = tmp_path / "a.gif"
    status, out, _ = run(capsys, "animate", *argv, "-o", str(path))
    assert status == 0 and f"{frames} frames" in out
    card = "--view" not in argv and argv[0] == "convtranspose"
    assert _frames(path) == frames + card


def test_svg_is_xml_with_every_cell_of_every_frame(tmp_path, capsys):
    path = tmp_path / "a.svg"
    status, _, _ = run(capsys, "animate", "conv", "5", "-k", "3", "-s", "2", "-p", "1", "-o", str(path))
    assert status == 0
    root = ET.parse(path).getroot()
    steps = [g for g in root.iter(f"{SVG}g") if g.get("class") == "step"]
    assert len(steps) == 9
    # One header and one legend for the sheet, not one per frame.
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts.count("conv2d: input 5x5, kernel 3x3, stride 2, padding 1, dilation 1") == 1
    assert texts.count("input pixel") == 1
    cells = [r for r in steps[0].iter(f"{SVG}rect") if r.get("data-kind")]
    kinds = [r.get("data-kind") for r in cells]
    # 7x7 padded input (25 data, 24 padding) and the 3x3 output.
    assert (len(cells), kinds.count("data"), kinds.count("padding"), kinds.count("output")) == (58, 25, 24, 9)
    # The last padding and data cells lie outside frame 0's window: their plain styles.
    pad = [r for r in cells if r.get("data-kind") == "padding"][-1]
    data = [r for r in cells if r.get("data-kind") == "data"][-1]
    assert pad.get("stroke-dasharray") and not data.get("stroke-dasharray")
    assert pad.get("fill") != data.get("fill")


def test_zero_insertion_cells_are_marked_apart_from_padding(tmp_path, capsys):
    path = tmp_path / "t.svg"
    argv = ("convtranspose", "2", "-k", "3", "-s", "2", "--view", "zero-insertion", "-o", str(path))
    assert run(capsys, "animate", *argv)[0] == 0
    first = next(g for g in ET.parse(path).getroot().iter(f"{SVG}g") if g.get("class") == "step")
    kinds = [r.get("data-kind") for r in first.iter(f"{SVG}rect") if r.get("data-kind")]
    # stuffed 3x3 (4 data, 5 zeros) padded by 2 each side -> 7x7; the 5x5 output.
    assert (kinds.count("data"), kinds.count("zero"), kinds.count("padding"), kinds.count("output")) == (
        4,
        5,
        40,
        25,
    )


@pytest.mark.parametrize("suffix", [".gif", ".png", ".svg"])
def test_pictures_are_byte_deterministic(tmp_path, capsys, suffix):
    argv = ("animate", "convtranspose", "2x2", "-k", "3", "-s", "2", "-p", "0:1x1:0", "--op", "1")
    paths = [tmp_path / f"{i}{suffix}" for i in range(2)]
    for path in paths:
        assert run(capsys, *argv, "-o", str(path))[0] == 0
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_overlap_heat_map_png(tmp_path, capsys):
    path = tmp_path / "o.png"
    status, out, _ = run(capsys, "overlap", "-k", "3", "-s", "2", "--size", "4", "-o", str(path))
    assert status == 0 and "checkerboard" in out
    with PIL.open(path) as image:
        assert image.format == "PNG" and image.size[1] == 16 + 3 * 18 + 8 + 9 * 30 + 14 + 14 + 16


@pytest.mark.parametrize(
    "argv, words",
    [
        (("animate", "conv", "500x500", "-k", "3"), "too large"),
        (("animate", "convtranspose", "30", "-k", "3", "-s", "2"), "too large"),
        (("overlap", "-k", "3", "-s", "2", "--size", "100"), "too large"),
        (("animate", "conv", "5", "-k", "3", "-o", "nowhere/a.gif"), "directory does not exist"),
        (("animate", "conv", "5", "-k", "3", "-o", "a.jpg"), ".png, .gif or .svg"),
        (("animate", "conv", "5", "-k", "7"), "kernel_size"),
        (("animate", "convtranspose", "5", "-k", "3", "-p", "same"), "padding"),
    ],
)
def test_refusals_exit_2_with_one_line_and_no_file(tmp_path, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    if "-o" not in argv:
        argv = (*argv, "-o", "big.png")
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err
    assert os.listdir(tmp_path) == []


def test_a_failed_write_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    def broken(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    status, _, err = run(capsys, "animate", "conv", "4", "-k", "3", "-o", str(tmp_path / "a.png"))
    assert status == 2 and "No space left on device" in err
    assert os.listdir(tmp_path) == []
