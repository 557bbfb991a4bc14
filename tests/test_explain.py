"""convlab explain and overlap: the seed examples' numbers, symbolic names, routes agreeing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convlab.cli import main
from convlab.viz._overlap import overlap_counts, verdict


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _grid_after(out: str, heading: str, rows: int) -> list[list[int]]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    return [[int(v) for v in line.split()] for line in lines[start + 1 : start + 1 + rows]]


def test_seed_001_transposed_conv_counts_from_1(capsys, torch):
    # Seed 001's example with values counted from 1 (from 0, x1 = w1 = 0 and
    # the first scatter block is all zeros): X = K = [[1, 2], [3, 4]].
    status, out, _ = run(capsys, "explain", "convtranspose", "2", "-k", "2")
    assert status == 0
    assert _grid_after(out, "input x", 2) == [[1, 2], [3, 4]]
    assert _grid_after(out, "kernel w", 2) == [[1, 2], [3, 4]]
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64)
    expected = torch.nn.functional.conv_transpose2d(x, x)[0, 0].int().tolist()
    assert _grid_after(out, "output y", 3) == expected == [[1, 4, 4], [6, 20, 16], [9, 24, 16]]
    assert "x1=1 * w" in out and "all 5 routes agree." in out


def test_every_route_line_reports_agreement(capsys):
    cases = [
        ("conv", "5x4", "-k", "3", "-s", "2", "-p", "0:1x1:1"),
        ("convtranspose", "3x2", "-k", "3", "-s", "2", "-p", "1", "--op", "1", "-c", "2", "--seed", "3"),
        ("convtranspose", "3", "-k", "3", "-s", "2", "-d", "3", "--op", "2", "--ndim", "1"),
        ("unfold", "4", "-k", "2", "-d", "2"),
        ("crop", "7x6", "--crop", "4"),
    ]
    for case in cases:
        status, out, _ = run(capsys, "explain", *case)
        assert status == 0, case
        routes = [line for line in out.splitlines() if "max |diff|" in line]
        assert routes and all(line.split()[0] == "agree" and " 0  " in line for line in routes), out


def test_conv_matrix_rows_are_windows_with_dots_for_zeros(capsys):
    # Seed 003: a 4x4 input and a 3x3 kernel give a 4 x 16 matrix, one row per window.
    status, out, _ = run(capsys, "explain", "conv", "4", "-k", "3", "--symbolic")
    assert status == 0
    rows = [line.split("[")[1].split() for line in out.splitlines() if line.startswith("  y") and "[" in line]
    assert len(rows) == 4
    # Names count from 1 in row-major order, as the values do (x6 is row 1, column 1).
    assert rows[0] == ["w1", "w2", "w3", ".", "w4", "w5", "w6", ".", "w7", "w8", "w9", *".....", "]"]
    assert rows[3][:6] == [".", ".", ".", ".", ".", "w1"]
    assert "y4 = w1*x6 + w2*x7" in out


def test_symbolic_transposed_conv_names_taps_and_flips_the_kernel(capsys):
    status, out, _ = run(
        capsys, "explain", "convtranspose", "3", "-k", "3", "-s", "2", "--ndim", "1", "--symbolic"
    )
    assert status == 0
    assert "x1 x2 x3" in out and "w1 w2 w3" in out
    assert "w3 w2 w1" in out  # the flipped kernel of the zero-insertion route
    assert ".  . x1  _ x2  _ x3  .  ." in out  # inserted zeros and padding marked apart
    assert "y3 = w3*x1 + w1*x2" in out


def test_large_sizes_get_a_summary_not_a_wall_of_numbers(capsys):
    status, out, _ = run(capsys, "explain", "conv", "32", "-k", "3", "--seed", "1")
    assert status == 0
    assert "matrix: 900 x 1024, 8100 stored entries" in out
    assert len(out.splitlines()) < 20
    assert "all 3 routes agree." in out


def test_json_gives_the_arrays_and_the_sparse_matrix(capsys):
    status, out, _ = run(capsys, "explain", "convtranspose", "2", "-k", "2", "--json")
    data = json.loads(out)
    assert status == 0
    assert data["arrays"]["y"] == [[[1, 4, 4], [6, 20, 16], [9, 24, 16]]]
    assert data["matrix"]["shape"] == [9, 4]
    assert all(r["agree"] for r in data["routes"])


def test_crop_box_follows_torchvision_rounding(capsys):
    status, out, _ = run(capsys, "explain", "crop", "7x6", "--crop", "4", "--json")
    box = json.loads(out)["box"]
    assert status == 0
    assert (box["start"], box["stop"]) == ([2, 1], [6, 5])


@pytest.mark.parametrize(
    "argv, words",
    [
        (("explain", "conv", "4"), "-k/--kernel-size"),
        (("explain", "crop", "4"), "--crop"),
        (("explain", "conv", "4", "-k", "3", "-c", "2", "--symbolic"), "channels=2"),
        (("explain", "conv", "4", "-k", "3", "-c", "0"), "channels"),
        (("explain", "conv", "2", "-k", "3"), "kernel_size"),
        (("explain", "conv", "4", "-k", "3", "-s", "0"), "stride"),
        (("explain", "convtranspose", "4", "-k", "3", "-s", "2", "--op", "2"), "output_padding"),
        (("overlap", "-k", "3", "-s", "0"), "stride"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_naming_the_parameter(capsys, argv, words):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err


def test_overlap_counts_k3_s2_alternate_one_two():
    assert overlap_counts(3, 2, size=(5,)).tolist() == [1, 1, 2, 1, 2, 1, 2, 1, 2, 1, 1]
    assert overlap_counts(3, 2, size=(5,), padding=1).tolist() == [1, 2, 1, 2, 1, 2, 1, 2, 1]
    row = overlap_counts(3, 2, size=(4,))
    np.testing.assert_array_equal(overlap_counts(3, 2, size=4), np.outer(row, row))
    assert verdict(2, 3, 2).startswith("uneven: interior pixels get 1 to 4 taps")
    assert verdict(2, 4, 2).startswith("uniform: every interior pixel gets 4 taps")


def test_overlap_command_text_and_json(capsys):
    status, out, _ = run(capsys, "overlap", "-k", "3", "-s", "2", "--size", "5", "--ndim", "1")
    assert status == 0
    assert "1 1 2 1 2 1 2 1 2 1 1" in out and "checkerboard" not in out
    status, out, _ = run(capsys, "overlap", "-k", "3", "-s", "2", "--size", "3", "--json")
    counts = np.array(json.loads(out)["counts"])
    assert counts.shape == (7, 7) and counts[2, 2] == 4 and counts[1, 1] == 1
