"""Issue 15 item 1: one command-line grammar for every sub-command that describes a layer.

Sizes are positional; -k/-s/-p/-d/--op (and --groups, --ceil-mode) mean the same everywhere; one
rule (cli/_parse.layer_ndim) says how many dimensions a bare number means; a flag that does not
apply is an error; errors are one line, exit 2, and point to the sub-command's help.
The sizes the grammar yields are held against PyTorch and against a naive reading written here.
"""

from __future__ import annotations

import itertools
import json

import pytest

from convlab import ConvlabError
from convlab.cli import main
from convlab.cli._parse import DEFAULT_NDIM, compact, layer_ndim, written

torch = pytest.importorskip("torch")
F = torch.nn.functional


def run(capsys, *argv):
    try:
        status = main([str(a) for a in argv])
    except SystemExit as stop:  # argparse refuses by exiting 2
        status = stop.code
    out, err = capsys.readouterr()
    return status, out, err


def ok_json(capsys, *argv) -> dict:
    status, out, err = run(capsys, *argv, "--json")
    assert (status, err) == (0, ""), err
    return json.loads(out)


def refused(capsys, *argv) -> str:
    """The one line of a refusal (exit 2, nothing on stdout)."""
    status, out, err = run(capsys, *argv)
    assert status == 2, (status, out, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


# ---- the dimension rule: one function --------------------------------------------------------


@pytest.mark.parametrize(
    ("ndim", "values", "expected"),
    [
        (None, {"size": 24}, 2),
        (None, {"size": 24, "kernel_size": 3, "padding": ((0, 1),)}, 2),  # a lone lo:hi is every dimension
        (None, {"size": 24, "kernel_size": (3, 3, 3)}, 3),
        (None, {"size": (5, 6), "padding": ((0, 1), (1, 0))}, 2),
        (None, {"size": 5, "padding": ((0, 1), (1, 0), 2)}, 3),
        (1, {"size": 24, "kernel_size": 3}, 1),
        (3, {"size": (4, 4, 4)}, 3),
    ],
)
def test_layer_ndim_is_the_flag_else_the_written_values_else_2(ndim, values, expected):
    assert DEFAULT_NDIM == 2
    assert layer_ndim(ndim, values) == expected


def test_layer_ndim_refuses_disagreeing_lengths_naming_both():
    with pytest.raises(
        ConvlabError, match=r"-k/--kernel-size 3x3x3 has 3 per-dimension values but size 5x5 has 2"
    ):
        layer_ndim(None, {"size": (5, 5), "kernel_size": (3, 3, 3)})
    with pytest.raises(
        ConvlabError, match=r"-p/--padding 0:1x1:0 has 2 per-dimension values but --ndim is 1"
    ):
        layer_ndim(1, {"size": 5, "padding": ((0, 1), (1, 0))})


def test_written_and_compact_show_values_as_the_user_writes_them():
    assert written((24, 24)) == "24x24" and written(((0, 1), 2)) == "0:1x2" and written("same") == "same"
    assert compact((3, 3)) == 3 and compact((3, 4)) == (3, 4) and compact(((0, 1), (0, 1))) == ((0, 1),)


# A bare number means 2-D in every command: (argv, JSON key, expected value).
BARE = [
    (("shape", "conv", "24", "-k", "3"), "output_size", [22, 22]),
    (("shape", "convt", "12", "-k", "3", "-s", "2", "-p", "1"), "output_size", [23, 23]),
    (("shape", "pool", "24", "-k", "2"), "output_size", [12, 12]),
    (("roundtrip", "24", "-k", "3", "-s", "2", "-p", "1"), "back_size", [23, 23]),
    (("solve", "768", "128"), "in_size", [768, 768]),
    (("unet-sizes", "572"), "output_size", [388, 388]),
    (("unet", "92", "--width", "4", "--depth", "2"), "output_size", [52, 52]),
    (("explain", "conv", "4", "-k", "3"), "size", [4, 4]),
    (("overlap", "3", "-k", "3", "-s", "2"), "shape", [7, 7]),
]


@pytest.mark.parametrize(("argv", "key", "value"), BARE, ids=[" ".join(a[:2]) for a, _, _ in BARE])
def test_a_bare_number_is_2d_in_every_command(capsys, argv, key, value):
    assert ok_json(capsys, *argv)[key] == value


# --ndim, or one value written per dimension, decides instead: (argv, key, expected).
DECIDED = [
    (("shape", "conv", "24", "-k", "3", "--ndim", "1"), "output_size", [22]),
    (("shape", "conv", "24", "-k", "3x3x3"), "output_size", [22, 22, 22]),
    (("shape", "conv", "24", "-k", "3", "-d", "1x2x1"), "output_size", [22, 20, 22]),
    (("shape", "conv", "5", "-k", "3", "-p", "0:1x1:0x0"), "output_size", [4, 4, 3]),
    (("shape", "convt", "4", "-k", "3", "--op", "1x0x1", "-s", "2"), "output_size", [10, 9, 10]),
    (("roundtrip", "24x25x26", "-k", "3", "-s", "2", "-p", "1"), "back_size", [23, 25, 25]),
    (("solve", "768", "128", "--ndim", "1"), "in_size", [768]),
    (("solve", "768x512", "128"), "out_size", [128, 128]),
    (("unet-sizes", "572", "--ndim", "1"), "output_size", [388]),
    (("unet-sizes", "572x572x572"), "output_size", [388, 388, 388]),
    (("unet", "92x92x92", "--width", "1", "--depth", "2"), "output_size", [52, 52, 52]),
    (("unet", "92", "--width", "1", "--depth", "2", "--ndim", "1"), "output_size", [52]),
    (("explain", "conv", "4", "-k", "3", "--ndim", "1"), "size", [4]),
    (("explain", "conv", "4", "-k", "3x2"), "size", [4, 4]),
    (("overlap", "3", "-k", "3", "-s", "2", "--ndim", "1"), "shape", [7]),
]


@pytest.mark.parametrize(("argv", "key", "value"), DECIDED, ids=[" ".join(a) for a, _, _ in DECIDED])
def test_ndim_or_a_per_dimension_value_decides(capsys, argv, key, value):
    assert ok_json(capsys, *argv)[key] == value


def test_unet_config_file_ndim_decides_for_a_bare_size(capsys, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"ndim": 1, "width": 1, "depth": 2}))
    assert ok_json(capsys, "unet", "92", "--config", path)["output_size"] == [52]
    # A size written per dimension is the rule's --ndim: it overrides the file's value.
    assert ok_json(capsys, "unet", "92x92", "--config", path)["output_size"] == [52, 52]


# ---- -p 0:1 broadcasts like -p 1 ----------------------------------------------------------------


def test_the_issue_reproduction_shape_conv_5x5_k3_s2_p0_1(capsys):
    status, out, err = run(capsys, "shape", "conv", "5x5", "-k", "3", "-s", "2", "-p", "0:1")
    assert (status, err) == (0, "")
    assert "output size: 2x2" in out
    # (5 + 0 + 1 - 2 - 1) // 2 + 1 = 2 in each dimension: the pair reached both.
    assert out.count("floor((5 + 0 + 1 - 1*(3-1) - 1) / 2) + 1 = floor(3 / 2) + 1 = 1 + 1 = 2") == 2


@pytest.mark.parametrize("command", ["shape", "explain"])
def test_a_lone_lo_hi_pair_equals_the_pair_in_every_dimension(capsys, command):
    layer = ("-k", "3", "-s", "2")
    one = ok_json(capsys, command, "conv", "5", *layer, "-p", "0:1")
    every = ok_json(capsys, command, "conv", "5x5", *layer, "-p", "0:1x0:1")
    assert one == every
    assert one["padding"] == [[0, 1], [0, 1]]


def test_animate_follows_the_dimension_rule_with_a_lone_pair(capsys, tmp_path):
    # The issue: `animate conv 5 ... -p 0:1` drew 1-D silently. 5x5, k3 s2, pads 0:1: 2x2 outputs, 4 frames.
    argv = ("animate", "conv", "5", "-k", "3", "-s", "2", "-p", "0:1")
    assert ok_json(capsys, *argv, "-o", tmp_path / "a.svg")["frames"] == 4
    assert ok_json(capsys, *argv, "--ndim", "1", "-o", tmp_path / "b.svg")["frames"] == 2


@pytest.mark.parametrize(
    ("padding", "expected"),
    [("same", [24, 24]), ("valid", [22, 22]), ("1", [24, 24]), ("1x0", [24, 22]), ("0:2", [24, 24])],
)
def test_padding_spellings(capsys, padding, expected):
    assert ok_json(capsys, "shape", "conv", "24", "-k", "3", "-p", padding)["output_size"] == expected


# ---- the oracle: the grammar's sizes are PyTorch's -----------------------------------------------


def _naive_pads(text: str, ndim: int) -> list[tuple[int, int]]:
    """The test's own reading of -p: '1' and '0:1' for every dimension, 'x' between dimensions."""
    parts = text.split("x")
    parts = parts * ndim if len(parts) == 1 else parts
    return [tuple(int(v) for v in p.split(":")) if ":" in p else (int(p), int(p)) for p in parts]


def _naive_dims(text: str, ndim: int) -> list[int]:
    parts = [int(v) for v in text.split("x")]
    return parts * ndim if len(parts) == 1 else parts


def _torch_output(op: str, size, kernel, stride, pads, dilation, out_pad) -> list[int]:
    x = torch.zeros(1, 1, *size)
    flat = [v for lo_hi in reversed(pads) for v in lo_hi]  # F.pad: last dimension first
    if op == "conv":
        conv = (F.conv1d, F.conv2d, F.conv3d)[len(size) - 1]
        return list(
            conv(F.pad(x, flat), torch.zeros(1, 1, *kernel), stride=stride, dilation=dilation).shape[2:]
        )
    # A transposed conv crops lo/hi: symmetric pads only (PyTorch has no asymmetric ones).
    convt = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[len(size) - 1]
    w = torch.zeros(1, 1, *kernel)
    padding = [lo for lo, _ in pads]
    y = convt(x, w, stride=stride, padding=padding, output_padding=out_pad, dilation=dilation)
    return list(y.shape[2:])


def _configs():
    # 3 with a dilated kernel of 5, and output_padding 2 at stride 2: PyTorch refuses, and so must convlab.
    sizes, kernels, strides, dilations = (
        ["3", "9x8", "6x7x8"],
        ["3", "2x3", "1x2x3"],
        ["1", "2", "2x1"],
        ["1", "2"],
    )
    for size, k, s, d, p in itertools.product(sizes, kernels, strides, dilations, ["0", "1", "0:1", "1x0:2"]):
        yield "conv", size, k, s, d, p, None
    for size, k, s, d, p, o in itertools.product(
        sizes, kernels, ["2", "3x2"], dilations, ["0", "1", "1x0"], ["0", "2"]
    ):
        yield "convt", size, k, s, d, p, o


def _ndim(*texts: str) -> int:
    counts = {len(t.split("x")) for t in texts if t is not None} - {1}
    return counts.pop() if counts else 2


def test_shape_sizes_equal_pytorch_over_the_grammar(capsys):
    checked = agreed_refusals = mixed_lengths = 0
    for op, size, k, s, d, p, o in _configs():
        argv = ["shape", op, size, "-k", k, "-s", s, "-d", d, "-p", p] + (["--op", o] if o else [])
        ndim = _ndim(size, k, s, d, p, o)
        written_dims = {len(t.split("x")) for t in (size, k, s, d, p, o) if t is not None} - {1}
        if len(written_dims) > 1:
            assert "per-dimension values" in refused(capsys, *argv)
            mixed_lengths += 1
            continue
        args = [_naive_dims(size, ndim), _naive_dims(k, ndim), _naive_dims(s, ndim), _naive_pads(p, ndim)]
        extra = [_naive_dims(d, ndim), _naive_dims(o, ndim) if o else None]
        try:
            expected = _torch_output("conv" if op == "conv" else "convt", *args, *extra)
        except RuntimeError:
            status, _, err = run(capsys, *argv, "--json")
            assert status == 2 and len(err.splitlines()) == 1, (argv, err)
            agreed_refusals += 1
            continue
        assert ok_json(capsys, *argv)["output_size"] == expected, argv
        checked += 1
    # The grid must exercise both outcomes.
    # The grid exercises each outcome: agreed sizes, agreed refusals, lengths that disagree.
    assert (checked, agreed_refusals, mixed_lengths) == (176, 76, 180)


def test_pool_stride_defaults_to_the_kernel_as_pytorch(capsys):
    got = ok_json(capsys, "shape", "pool", "7x9", "-k", "3x2", "--ceil-mode", "-p", "1")
    pool = torch.nn.MaxPool2d((3, 2), padding=1, ceil_mode=True)
    assert got["stride"] == [3, 2]
    assert got["output_size"] == list(pool(torch.zeros(1, 1, 7, 9)).shape[2:])


# ---- sizes positional everywhere; the old option spellings stay as aliases ------------------


@pytest.mark.parametrize(
    ("positional", "option"),
    [
        (("overlap", "5", "-k", "3", "-s", "2"), ("overlap", "-k", "3", "-s", "2", "--size", "5")),
        (("unet", "572"), ("unet", "--input", "572")),
    ],
)
def test_sizes_are_positional_and_the_old_option_is_an_alias(capsys, positional, option):
    assert ok_json(capsys, *positional) == ok_json(capsys, *option)


def test_overlap_size_still_defaults_to_5(capsys):
    assert ok_json(capsys, "overlap", "-k", "3", "-s", "2")["shape"] == [11, 11]


# ---- the same flags, long and short, on every command that describes a layer ------------------

SHORT_LONG = [
    ("shape", "convt", "12"),
    ("animate", "convt", "3", "-o", "a.svg"),
    ("roundtrip", "24"),
    ("explain", "convtranspose", "3"),
    ("overlap", "4"),
]


@pytest.mark.parametrize("head", SHORT_LONG, ids=[h[0] for h in SHORT_LONG])
def test_short_and_long_layer_flags_mean_the_same(capsys, tmp_path, monkeypatch, head):
    monkeypatch.chdir(tmp_path)
    short = ["-k", "3", "-s", "2", "-p", "1", "-d", "1"]
    long = ["--kernel-size", "3", "--stride", "2", "--padding", "1", "--dilation", "1"]
    if head[0] != "roundtrip":
        short, long = [*short, "--op", "1"], [*long, "--output-padding", "1"]
    assert ok_json(capsys, *head, *short) == ok_json(capsys, *head, *long)


def test_solve_takes_the_layer_flags_as_pins(capsys):
    pinned = ok_json(
        capsys, "solve", "12", "24", "--transposed", "-k", "3", "-s", "2", "-p", "1", "--limit", "0"
    )
    assert {(x["kernel_size"], x["stride"], x["padding"]) for x in pinned["solutions"]} == {(3, 2, 1)}
    assert [x["output_padding"] for x in pinned["solutions"]] == [1]


def test_solve_output_padding_pin_keeps_exactly_those_solutions(capsys):
    every = ok_json(capsys, "solve", "12", "24", "--transposed", "--limit", "0")["solutions"]
    pinned = ok_json(capsys, "solve", "12", "24", "--transposed", "--op", "1", "--limit", "0")["solutions"]
    assert pinned == [x for x in every if x["output_padding"] == 1] and pinned
    for x in pinned:  # each one really maps 12 to 24, by PyTorch
        layer = torch.nn.ConvTranspose1d(
            1, 1, x["kernel_size"], x["stride"], x["padding"], x["output_padding"]
        )
        assert layer(torch.zeros(1, 1, 12)).shape[-1] == 24


def test_unet_and_unet_sizes_take_k_and_p(capsys):
    assert ok_json(capsys, "unet-sizes", "64", "-k", "5", "-p", "same") == ok_json(
        capsys, "unet-sizes", "64", "--kernel-size", "5", "--padding", "same"
    )
    short = ok_json(capsys, "unet", "64", "-k", "5", "-p", "same", "--width", "2")
    assert short == ok_json(capsys, "unet", "64", "--kernel-size", "5", "--padding", "same", "--width", "2")
    assert short["config"]["kernel_size"] == 5 and short["config"]["padding"] == "same"


@pytest.mark.parametrize("command", ["shape", "explain", "animate"])
def test_convt_is_convtranspose_everywhere(capsys, tmp_path, command):
    tail = ["-o", tmp_path / "a.svg"] if command == "animate" else []
    argv = ("3", "-k", "3", "-s", "2", *tail)
    assert ok_json(capsys, command, "convt", *argv) == ok_json(capsys, command, "convtranspose", *argv)


# ---- refusals: one line, exit 2, the sub-command's help; one test row per branch ------------

REFUSALS = [
    # a flag that does not apply to the operator
    ("shape conv 24 -k 3 --ceil-mode", "--ceil-mode applies to pool, not conv"),
    ("shape conv 24 -k 3 --op 0", "--op/--output-padding applies to convtranspose, not conv"),
    ("shape pool 24 -k 2 --op 1", "--op/--output-padding applies to convtranspose, not pool"),
    ("shape convt 24 -k 2 --ceil-mode", "--ceil-mode applies to pool, not convtranspose"),
    (
        "explain crop 7 --crop 4 -k 3",
        "-k/--kernel-size applies to conv, convtranspose, unfold, winograd, not crop",
    ),
    ("explain winograd 6 -s 2", "-s/--stride applies to conv, convtranspose, unfold, not winograd"),
    ("explain conv 4 -k 3 --op 1", "--op/--output-padding applies to convtranspose, not conv"),
    ("explain conv 4 -k 3 --crop 2", "--crop applies to crop, not conv"),
    ("explain conv 4 -k 3 --addresses", "--addresses applies to crop, not conv"),
    ("explain conv 4 -k 3 --tile 2", "--tile applies to winograd, not conv"),
    ("animate pool 5 -k 2 --groups 2 -o a.html", "--groups applies to conv, convtranspose, not pool"),
    ("animate conv 5 -k 3 --ceil-mode -o a.html", "--ceil-mode applies to pool, not conv"),
    (
        "solve 768 128 --op 1",
        "--op/--output-padding applies to transposed convolutions (--transposed), not convolutions",
    ),
    # the operator needs a kernel; a size is needed
    ("explain unfold 4", "explain unfold needs -k/--kernel-size (e.g. -k 3)"),
    ("unet", "unet needs the input size, e.g. `convlab unet 572`"),
    ("unet 572 --input 572", "the size is given twice, as 572 and as --input 572"),
    ("overlap 5 --size 5 -k 3", "the size is given twice, as 5 and as --size 5"),
    # the dimension rule
    ("shape conv 24x24 -k 3x3x3", "-k/--kernel-size 3x3x3 has 3 per-dimension values but size 24x24 has 2"),
    ("shape conv 24 -k 3x3 --ndim 3", "-k/--kernel-size 3x3 has 2 per-dimension values but --ndim is 3"),
    ("explain conv 4x4x4 -k 3", "explain takes 1-D or 2-D layers, got 3-D (from size 4x4x4)"),
    ("unet 572x572 --ndim 3", "size 572x572 has 2 per-dimension values but --ndim is 3"),
    ("explain crop 7x6 --crop 4x4x4", "--crop 4x4x4 has 3 per-dimension values but size 7x6 has 2"),
    (
        "animate conv 5 -k 3x3x3 -o a.svg",
        "animate takes 1-D or 2-D layers, got 3-D (from -k/--kernel-size 3x3x3)",
    ),
    ("overlap 5 -k 3 --ndim 3", "argument --ndim: invalid choice: 3"),
    # bounds before the work
    (
        "animate conv 65 -k 3 -o a.svg",
        "size 65x65 is too large for animate: it draws every cell, so every value is at most 64",
    ),
    ("animate conv 5 -k 3 -d 100 -o a.svg", "-d/--dilation 100x100 is too large for animate"),
    (
        "animate conv 5 -k 3 --groups 65 -o a.html",
        "argument --groups: expected an integer from 1 to 64, got 65",
    ),
    ("solve 768 128 -k 3x3", "argument -k/--kernel-size: expected an integer, got '3x3'"),
    ("solve 768 128 -s 0", "argument -s/--stride: expected an integer from 1 to 4096, got 0"),
    (
        "explain winograd 6 -p 0:1",
        "explain winograd takes one integer padding for every dimension, got -p 0:1x0:1",
    ),
    # close matches
    ("shape convtranpose 5 -k 3", "got 'convtranpose'; did you mean convtranspose?"),
    ("explain unfld 5 -k 3", "did you mean unfold?"),
    ("shape conv 5 -k 3 --dilaton 2", "unrecognized arguments: --dilaton 2; did you mean --dilation?"),
    ("overlap 5 6 -k 3", "unrecognized arguments: 6"),
    ("animate convt 5 -k 3 --view scater -o a.svg", "got 'scater'; did you mean scatter?"),
    (
        "unet-sizes 64 -p sam",
        "argument -p/--padding: expected one of valid, same, got 'sam'; did you mean same?",
    ),
    ("animate conv 5 -k 3 --view scatter -o a.svg", "--view applies to convtranspose, not conv"),
]


@pytest.mark.parametrize(("command", "message"), REFUSALS, ids=[a[:50] for a, _ in REFUSALS])
def test_each_refusal_is_one_line_exit_2_pointing_to_the_sub_command_help(
    capsys, tmp_path, monkeypatch, command, message
):
    monkeypatch.chdir(tmp_path)
    argv = command.split()
    line = refused(capsys, *argv)
    assert message in line
    assert line.startswith(f"convlab {argv[0]}: error: ")
    assert line.endswith(f"(see convlab {argv[0]} --help)")
    assert list(tmp_path.iterdir()) == []  # refused before writing anything


def test_a_refused_animation_never_reaches_the_drawing(capsys, tmp_path, monkeypatch):
    import convlab.viz as viz

    def draw(*args, **kwargs):
        raise AssertionError("the grammar should have refused before drawing")

    monkeypatch.setattr(viz, "animate", draw)
    assert "too large" in refused(capsys, "animate", "conv", "1000", "-k", "3", "-o", tmp_path / "a.gif")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("animat",), "convlab: error: unknown command 'animat'; did you mean animate? (see convlab --help)"),
        (
            ("shap", "conv", "5"),
            "convlab: error: unknown command 'shap'; did you mean shape? (see convlab --help)",
        ),
        (("frobnicate",), "convlab: error: unknown command 'frobnicate' (see convlab --help)"),
    ],
)
def test_an_unknown_command_suggests_close_matches(capsys, argv, message):
    assert refused(capsys, *argv) == message


def test_a_library_refusal_also_points_to_the_sub_command_help(capsys):
    line = refused(capsys, "shape", "conv", "5", "-k", "7")
    assert "kernel_size" in line and line.endswith("(see convlab shape --help)")


def test_every_layer_command_states_the_dimension_rule_in_its_help(capsys):
    for command in ("shape", "roundtrip", "solve", "unet-sizes", "explain", "animate", "overlap", "unet"):
        status, out, _ = run(capsys, command, "--help")
        assert status == 0
        text = " ".join(out.split())
        assert "--ndim" in text, command
        rule = "those of a SIZE written" if command == "unet" else "those of any value written per dimension"
        assert rule in text and "else 2" in text, command


def test_convlab_help_states_the_dimension_rule(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0
    assert "the number of dimensions is --ndim, else that of any value written per dimension" in " ".join(
        out.split()
    )


def test_help_has_no_default_none(capsys):
    for command in ("shape", "roundtrip", "solve", "unet-sizes", "explain", "animate", "overlap", "unet"):
        _, out, _ = run(capsys, command, "--help")
        assert "default None" not in out, command


def test_a_huge_stride_prints_its_range_instead_of_overflowing(capsys):
    # The grammar fuzz found it: fmt() took len() of range(129, 10**30), past a C ssize_t.
    s = 555555555555555555555555555555
    status, out, err = run(
        capsys, "roundtrip", "4097", "-k", "3", "-p", "1", "-d", "65", "-s", s, "--ndim", "1"
    )
    assert (status, err) == (0, "")
    # conv: floor((4097 + 2 - 65*2 - 1) / s) + 1 = 1, reached by every n with 0 <= n - 129 < s.
    assert f"input sizes 129..{s + 128} all give 1" in out
