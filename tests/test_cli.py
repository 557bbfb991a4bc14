"""The command line: the issue's 'done when' answers, JSON output, exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from convlab.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_solve_768_128_lists_kernel_6_stride_6_first(capsys):
    status, out, _ = run(capsys, "solve", "768", "128")
    assert status == 0
    rows = [line.split() for line in out.splitlines()[3:]]
    assert rows[0][:6] == ["1", "6", "6", "0", "1", "0"]
    assert "nn.Conv2d(in_channels, out_channels, 6, stride=6)" in out


def test_unet_sizes_572_prints_388_and_the_four_crop_windows(capsys):
    status, out, _ = run(capsys, "unet-sizes", "572")
    assert status == 0
    # A bare number is 2-D (the grammar's rule): the paper's 572x572 tile, square, so the
    # table gives one number per side.
    assert "572x572 -> 388x388" in out and "sizes per side (the input is square)" in out
    for window in (
        "568 -> 392 at 88..479",
        "280 -> 200 at 40..239",
        "136 -> 104 at 16..119",
        "64 -> 56 at 4..59",
    ):
        assert window in out


def test_roundtrip_24_says_23_and_output_padding_1(capsys):
    status, out, _ = run(capsys, "roundtrip", "24", "-k", "3", "-s", "2", "-p", "1")
    assert status == 0
    assert "12x12 -> 23x23" in out
    assert "output_padding=1 restores 24x24" in out


def test_roundtrip_3d_json(capsys):
    status, out, _ = run(capsys, "roundtrip", "24x25x26", "-k", "3", "-s", "2", "-p", "1", "--json")
    data = json.loads(out)
    assert status == 0
    assert data["conv_size"] == [12, 13, 13]
    assert data["back_size"] == [23, 25, 25]
    assert data["output_padding"] == [1, 0, 1]


def test_shape_shows_every_term_of_the_formula(capsys):
    status, out, _ = run(capsys, "shape", "conv", "24", "-k", "3", "-s", "2", "-p", "1")
    assert status == 0
    assert "floor((24 + 1 + 1 - 1*(3-1) - 1) / 2) + 1 = floor(23 / 2) + 1 = 11 + 1 = 12" in out
    assert "input sizes 23..24 all give 12: the floor drops the remainder" in out


def test_shape_pool_ceil_mode_drops_the_window_starting_in_the_padding(capsys):
    # 5 + 2*1 with k2 s2 and ceil: ceil(4/2)+1 = 4, but window 3 would start at 6 >= 5 + 1.
    status, out, _ = run(capsys, "shape", "pool", "5", "-k", "2", "-p", "1", "--ceil-mode")
    assert status == 0
    assert "output size: 3" in out
    assert "right padding" in out


def test_shape_convtranspose_and_asymmetric_padding(capsys):
    status, out, _ = run(
        capsys, "shape", "convt", "12", "-k", "3", "-s", "2", "-p", "1", "--output-padding", "1"
    )
    assert status == 0 and "output size: 24" in out
    status, out, _ = run(capsys, "shape", "conv", "10x10", "-k", "4", "-p", "1:2x0", "--json")
    assert status == 0 and json.loads(out)["output_size"] == [10, 7]


def test_shape_same_padding_at_stride_2(capsys):
    status, out, _ = run(capsys, "shape", "conv", "7", "-k", "3", "-s", "2", "-p", "same", "--json")
    assert status == 0 and json.loads(out)["output_size"] == [4, 4]


def test_solve_json_and_transposed(capsys):
    status, out, _ = run(capsys, "solve", "12", "24", "--transposed", "--json")
    data = json.loads(out)
    assert status == 0 and data["count"] == len(data["solutions"]) > 0
    first = data["solutions"][0]
    assert (first["kernel_size"], first["stride"], first["padding"], first["output_padding"]) == (2, 2, 0, 0)


def test_solve_without_solutions_says_so(capsys):
    status, out, _ = run(capsys, "solve", "10", "100", "--max-stride", "2")
    assert status == 0 and out.startswith("0 convolutions map 10x10 to 100x100")


def test_rf_table_and_json(capsys):
    status, out, _ = run(capsys, "rf", "c3", "c3", "pool2", "--input", "572")
    assert status == 0
    last = out.splitlines()[4].split()
    assert last[-5:] == ["6", "6", "2", "0", "284"]
    status, out, _ = run(capsys, "rf", "c3s2p1", "t3s2p1", "--json")
    layers = json.loads(out)["layers"]
    assert [x["receptive_field"] for x in layers] == [3, 5]
    assert layers[0]["start"] == -1


def test_unet_sizes_json_and_same_padding(capsys):
    status, out, _ = run(capsys, "unet-sizes", "101x64", "--padding", "same", "--json")
    data = json.loads(out)
    assert status == 0 and data["output_size"] == [101, 64]
    assert data["levels"][0]["skip_pad"] == [[0, 1], [0, 0]]


def test_demo_answers_the_seed_questions(capsys):
    status, out, _ = run(capsys, "demo", "--shapes")
    assert status == 0
    assert "12x12 -> 23x23" in out and "88..479" in out
    assert "nn.Conv2d(in_channels, out_channels, 6, stride=6)" in out
    # Each answer under the command line that gives it, as a reader would type it.
    assert "$ convlab roundtrip 24 -k 3 -s 2 -p 1\n" in out and "$ convlab unet-sizes 572\n" in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["unet-sizes", "573"], ["573", "down0.pool", "572", "588"]),
        (["shape", "conv", "5", "-k", "7"], ["kernel_size", "padded input"]),
        (["shape", "conv", "5", "-k", "3", "-s", "0"], ["stride"]),
        (["shape", "conv", "5", "-k", "3", "-p", "x"], ["padding", "'x'"]),
        (["shape", "conv", "5"], ["-k/--kernel-size"]),
        (["shape", "deconv", "5", "-k", "3"], ["expected one of", "deconv"]),
        (["shape", "pool", "5", "-k", "2", "-p", "2"], ["padding", "half"]),
        (["roundtrip", "24x24", "-k", "3x3x3"], ["-k/--kernel-size 3x3x3", "size 24x24 has 2"]),
        (["rf", "q3"], ["layer spec", "q3"]),
        (["solve", "10", "0"], ["out_size"]),
        (["bogus"], ["unknown command", "bogus"]),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv, words):
    status, out, err = run_or_exit(capsys, argv)
    assert status == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    for word in words:
        assert word in err


def run_or_exit(capsys, argv):
    try:
        status = main(argv)
    except SystemExit as stop:
        status = stop.code
    out, err = capsys.readouterr()
    return status, out, err


def test_console_script_runs_as_a_module():
    done = subprocess.run(
        [sys.executable, "-m", "convlab", "roundtrip", "24", "-k", "3", "-s", "2", "-p", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "output_padding=1" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "convlab", "unet-sizes", "573"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and "down0.pool" in done.stderr


def test_bare_convlab_prints_usage_to_stderr_and_exits_2(capsys):
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: convlab")
    assert err.splitlines()[-1] == "convlab: error: name a command (see convlab --help)"


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (
            MemoryError(),
            "convlab rf: error: out of memory; use a smaller size, or --tile where the command has it",
        ),
        (
            FileNotFoundError(2, "No such file or directory", "/no/dir/x.png"),
            "convlab rf: error: No such file or directory: /no/dir/x.png",
        ),
        (
            PermissionError(13, "Permission denied", "/ro/x.png"),
            "convlab rf: error: Permission denied: /ro/x.png",
        ),
    ],
)
def test_environment_failures_are_one_line_exit_2(monkeypatch, capsys, exc, line):
    import convlab.cli._shape_cmds as cmds

    def fail(args):
        raise exc

    monkeypatch.setattr(cmds, "run_rf", fail, raising=True)
    assert main(["rf", "c3"]) == 2
    assert capsys.readouterr().err.splitlines() == [line]


def test_internal_errors_show_a_traceback_marked_internal_and_exit_1(monkeypatch, capsys):
    import convlab.cli._shape_cmds as cmds

    def fail(args):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(cmds, "run_rf", fail, raising=True)
    assert main(["rf", "c3"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: boom" in err
    assert err.splitlines()[-1].startswith("convlab rf: internal error (a bug in convlab")
