"""convlab explain winograd: the matrices, a worked tile whose arithmetic checks, every route agreeing."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from convlab.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _block(out: str, heading: str, rows: int) -> list[list[str]]:
    """The ``rows`` lines under ``heading``, the column of that heading only."""
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if heading in line)
    start = lines[at].index(heading)
    width = len(heading) + 6
    return [lines[at + 1 + r][start : start + width].split() for r in range(rows)]


def test_f23_shows_lavins_matrices_and_checks_every_route(capsys):
    status, out, _ = run(capsys, "explain", "winograd", "6")
    assert status == 0
    assert "16 multiplications per tile instead of 36" in out
    assert _block(out, "B^T (4x4)", 4) == [
        ["1", "0", "-1", "0"],
        ["0", "1", "1", "0"],
        ["0", "1", "-1", "0"],
        ["0", "1", "0", "-1"],
    ]
    for name in ("winograd F(2, 3)", "unfold + matmul", "conv matrix"):
        line = next(line for line in out.splitlines() if name in line)
        assert float(line.split()[-1]) == 0.0


def test_worked_tile_is_the_convolution_of_the_tile(capsys):
    _, out, _ = run(capsys, "explain", "winograd", "6", "--seed", "4")
    d = np.array(_block(out, "d (input tile)", 4), dtype=float)
    g = np.array(_block(out, "g (kernel)", 3), dtype=float)
    y = np.array([[Fraction(v) for v in row] for row in _block(out, "Y = A^T (U * V) A", 2)], dtype=float)
    expected = [[np.sum(d[i : i + 3, j : j + 3] * g) for j in range(2)] for i in range(2)]
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize(
    "argv", [["8", "--tile", "4", "--ndim", "1", "-p", "1"], ["7", "--tile", "6", "-k", "3"]]
)
def test_json_routes_agree(capsys, argv):
    status, out, _ = run(capsys, "explain", "winograd", *argv, "--json")
    data = json.loads(out)
    assert status == 0 and data["op"] == "winograd"
    assert all(diff < 1e-9 for diff in data["routes"].values())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["6", "--tile", "0"], "tile"),
        (["20"], "16"),
        (["6", "-s", "2"], "stride"),
        (["6", "-c", "2"], "channel"),
        (["6", "-p", "0:1"], "padding"),
    ],
)
def test_bad_requests_name_what_is_wrong(capsys, argv, message):
    status, _, err = run(capsys, "explain", "winograd", *argv)
    assert status != 0 and message in err
