"""Answers in the user's words: the help's commands run; the answers' numbers are shapes' and torch's."""

from __future__ import annotations

import shlex
import shutil

import numpy as np
import pytest

from convlab.cli import _help, main

# Commands whose sub-commands are slow (a U-Net on an image, calibration):
# run in the slow suite only; the rest of the help runs on every commit.
_SLOW = ("convlab demo", "convlab segment", "convlab fixed-sweep", "convlab quantize")


def _commands() -> list[str]:
    listed = [command for _, command in _help.QUESTIONS]
    listed += [command for examples in _help.EXAMPLES.values() for _, command in examples]
    return list(dict.fromkeys(listed))


def _marked(command: str):
    marks = [pytest.mark.slow] if command.startswith(_SLOW) else []
    return pytest.param(command, marks=marks, id=command[len("convlab ") :])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The files the help's examples name: an ONNX model, an input, an image, weights, dumps."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from convlab.data import DEMO_WEIGHTS, synthetic_cells
    from convlab.io import write_image

    where = tmp_path_factory.mktemp("help")
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((2, 1, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["y"])],
        "help",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [weight],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), where / "model.onnx")
    np.save(where / "x.npy", rng.standard_normal((1, 1, 16, 16)).astype(np.float32))
    image, _ = synthetic_cells(600, seed=1)
    write_image((np.clip(image, 0, 1) * 255).astype(np.uint8), where / "cells.png")
    shutil.copy(DEMO_WEIGHTS, where / "unet.safetensors")
    assert main(["vectors", "demo", "--input", "64", "--out", str(where / "vectors")]) == 0
    shutil.copytree(where / "vectors", where / "sim_dumps")
    return where


@pytest.mark.parametrize("command", [_marked(c) for c in _commands()])
def test_every_command_of_the_help_runs_and_fits_100_columns(command, workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    argv = shlex.split(command)
    assert argv[0] == "convlab"
    status = main(argv[1:])
    out, err = capsys.readouterr()
    assert status == 0, err
    if "--wide" not in argv and "--json" not in argv:
        wide = [line for line in out.splitlines() if len(line) > _help.WIDTH]
        assert not wide, f"{len(wide)} lines over {_help.WIDTH} columns, e.g. {wide[0]!r}"


def _answer(capsys, *argv: str) -> str:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert status == 0, err
    return out


def _pasted(out: str, torch) -> list[tuple[object, str]]:
    """Every ``nn.`` line of an answer evaluated in PyTorch, with its trailing comment."""
    layers = []
    for line in out.splitlines():
        code, _, comment = line.strip().partition("  # ")
        if code.startswith("nn."):
            scope = {"nn": torch.nn, "in_channels": 1, "out_channels": 1}
            layers.append((eval(code, scope), comment))
    return layers


@pytest.mark.parametrize(
    ("n", "k", "s", "d"),
    [(7, 3, 2, 1), (8, 3, 2, 1), (8, 4, 2, 1), (9, 5, 3, 1), (10, 3, 2, 2), (5, 1, 2, 1)],
)
def test_strided_same_names_its_padding_and_torch_code_computes_convlabs_values(capsys, torch, n, k, s, d):
    import convlab

    out = _answer(capsys, "shape", "conv", n, "-k", k, "-s", s, "-d", d, "-p", "same", "--wide")
    lo, hi = convlab.shapes.same_padding(n, k, s, d)
    # TensorFlow's SAME: ceil(n / s) outputs, total padding split with the odd pixel at the end.
    total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
    assert (lo, hi) == (total // 2, total - total // 2)
    assert f"padding 'same' resolves to (lo, hi) = ({lo}, {hi})" in out
    assert "torch.nn.Conv2d refuses padding='same' with stride > 1" in out
    with pytest.raises(ValueError, match="strided"):  # the refusal is PyTorch's, not ours
        torch.nn.Conv2d(1, 1, k, stride=s, dilation=d, padding="same")
    [(layer, _)] = _pasted(out, torch)
    assert isinstance(layer, torch.nn.Sequential) == (lo != hi)
    conv = layer[-1] if lo != hi else layer
    x = np.random.default_rng(n).standard_normal((1, 1, n, n))
    w, b = conv.weight.detach().double().numpy(), conv.bias.detach().double().numpy()
    got = layer.double()(torch.from_numpy(x)).detach().numpy()
    expected = convlab.conv2d(x, w, b, stride=s, padding="same", dilation=d)
    assert got.shape[-2:] == (-(-n // s),) * 2
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_stride_1_same_says_pytorch_agrees(capsys, torch):
    out = _answer(capsys, "shape", "conv", 8, "-k", 4, "-p", "same")
    assert "resolves to (lo, hi) = (1, 2)" in out and "PyTorch agrees" in out
    x = torch.zeros(1, 1, 8, 8)
    assert torch.nn.Conv2d(1, 1, 4, padding="same")(x).shape[-1] == 8


@pytest.mark.parametrize(("n", "k", "s", "p"), [(12, 3, 2, 1), (12, 2, 2, 0), (12, 3, 3, 1), (5, 4, 2, 1)])
def test_convtranspose_names_the_output_padding_of_every_reachable_size(capsys, torch, n, k, s, p):
    out = _answer(capsys, "shape", "convt", n, "-k", k, "-s", s, "-p", p)
    reach = [(n - 1) * s - 2 * p + k + op for op in range(s)]  # PyTorch's documented formula
    layers = _pasted(out, torch)
    # The comment is the size the line gives: 24, or 24x24 when the answer is 2-D.
    sizes = [tuple(int(v) for v in comment.split("x")) for _, comment in layers]
    assert sorted(size[0] for size in sizes) == reach
    x = torch.zeros(1, 1, n, n)
    for (layer, _), size in zip(layers, sizes):
        assert layer(x).shape[-2:] == (size[0],) * 2
        assert len(set(size)) == 1
    assert f"output_padding 0..{s - 1} reaches {reach[0]}..{reach[-1]}" in out
    big = torch.nn.ConvTranspose2d(1, 1, k, stride=s, padding=p)
    assert f"output_size=[{reach[-1]}, {reach[-1]}]" in out
    assert big(x, output_size=[reach[-1]] * 2).shape[-1] == reach[-1]


def test_issue_convt_12_gives_23_and_output_padding_1_gives_24(capsys):
    out = _answer(capsys, "shape", "convt", 12, "-k", 3, "-s", 2, "-p", 1)
    assert "output size: 23" in out
    assert (
        "nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1)  # 24" in out
    )


def test_the_floor_note_appears_only_when_the_floor_drops_something(capsys, torch):
    assert "all give" not in _answer(capsys, "shape", "conv", 24, "-k", 3)
    out = _answer(capsys, "shape", "conv", 24, "-k", 3, "-s", 2, "-p", 1)
    assert "input sizes 23..24 all give 12: the floor drops the remainder" in out
    conv = torch.nn.Conv2d(1, 1, 3, stride=2, padding=1)
    sizes = {n: conv(torch.zeros(1, 1, n, n)).shape[-1] for n in range(21, 27)}
    assert [n for n, o in sizes.items() if o == 12] == [23, 24]


def test_asymmetric_padding_is_written_as_zero_pad_then_conv(capsys, torch):
    import convlab

    out = _answer(capsys, "shape", "conv", "8x9", "-k", 3, "-s", 2, "-p", "same")
    (lo0, hi0), (lo1, hi1) = convlab.shapes.same_padding((8, 9), 3, 2)
    assert (lo0, hi0) != (hi0, lo0) or (lo1, hi1) != (hi1, lo1)
    [(layer, _)] = _pasted(out, torch)
    x = np.random.default_rng(1).standard_normal((1, 1, 8, 9))
    layer = layer.double()
    got = layer(torch.from_numpy(x)).detach().numpy()
    conv = layer[1]
    w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    np.testing.assert_allclose(got, convlab.conv2d(x, w, b, stride=2, padding="same"), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("a", "b", "transposed"), [(768, 128, False), (12, 24, True), (64, 32, False), (5, 11, True)]
)
def test_every_solve_row_pasted_into_torch_maps_a_to_b(capsys, torch, a, b, transposed):
    flag = ["--transposed"] if transposed else []
    out = _answer(capsys, "solve", a, b, *flag, "--wide", "--limit", "0")
    layers = [
        (eval(line[line.index("nn.") :], {"nn": torch.nn, "in_channels": 1, "out_channels": 1}))
        for line in out.splitlines()
        if "nn." in line
    ]
    assert len(layers) == int(out.split()[0]) > 0
    x = torch.zeros(1, 1, a, a)
    assert {tuple(layer(x).shape[-2:]) for layer in layers} == {(b, b)}


def test_solve_ranks_the_usual_up_sampling_first(capsys):
    out = _answer(capsys, "solve", 12, 24, "--transposed")
    rows = [line.split()[1:5] for line in out.splitlines()[3:] if line[:1].isdigit()]
    order = {tuple(r): i for i, r in enumerate(rows)}
    assert order[("2", "2", "0", "1")] < order[("13", "1", "0", "1")]
    assert order[("4", "2", "1", "1")] < order[("13", "1", "0", "1")]
    assert rows[:2] == [["2", "2", "0", "1"], ["4", "2", "1", "1"]]
    assert "unused" not in out and "output_padding: extra" in out


def test_solve_explains_unused_and_points_up_to_transposed(capsys):
    out = _answer(capsys, "solve", 768, 128)
    assert "unused: padded-input pixels at the end that no window reads" in out
    assert "nn.Conv2d(in_channels, out_channels, 6, stride=6)" in out
    out = _answer(capsys, "solve", 128, 768)
    assert "Going up is a transposed convolution: convlab solve 128 768 --transposed" in out
    assert "raise --max" not in out
    out = _answer(capsys, "solve", 30, 12, "--transposed")
    assert "Going down is a convolution: convlab solve 30 12" in out


def test_unet_sizes_same_states_the_real_rule(capsys):
    from convlab import shapes

    out = _answer(capsys, "unet-sizes", 250, "--padding", "same")
    assert "nearest valid" not in out and "249" not in out and "251" not in out
    assert "valid input sizes: every size from 16 up" in out
    assert "no padding at any skip: multiples of 2**4 = 16, e.g. 240, 256" in out
    assert "here at levels 1, 3" in out
    # The rule, from shapes: every size from 16 works; exactly the multiples of 16 pad nowhere.
    for n in range(1, 300):
        try:
            u = shapes.unet_sizes(n, padding="same")
        except ValueError:
            assert n < 16
            continue
        assert n >= 16
        padded = any(lv.skip_pad and any(lo or hi for lo, hi in lv.skip_pad[0:1]) for lv in u.levels)
        assert padded == (n % 16 != 0), n
    u = shapes.unet_sizes(250, padding="same")
    assert [lv.level for lv in u.levels if lv.skip_pad and lv.skip_pad[0] != (0, 0)] == [1, 3]


def test_unet_sizes_valid_states_the_progression(capsys):
    from convlab import shapes

    out = _answer(capsys, "unet-sizes", 572)
    assert "valid input sizes: 188 + 16*m (188, 204, 220, ..., 556, 572, 588, ...)" in out
    fits = []
    for n in range(1, 700):
        try:
            shapes.unet_sizes(n)
            fits.append(n)
        except ValueError:
            pass
    assert fits == list(range(188, 700, 16))


def test_unet_sizes_of_a_square_input_prints_one_number_per_side(capsys):
    one, two = _answer(capsys, "unet-sizes", 572), _answer(capsys, "unet-sizes", "572x572")
    assert "sizes per side (the input is square)" in two
    assert one.splitlines()[1:7] == two.splitlines()[1:7]


def test_rf_per_output_pixel_column_is_receptive_field_range(capsys):
    from convlab import shapes

    layers = ["c3p1", "c3s2p1", "t2s2", "c3p1"]
    out = _answer(capsys, "rf", *layers, "--input", 32)
    rows = [line.split("  ") for line in out.splitlines()[2:6]]
    cells = [[c.strip() for c in row if c.strip()] for row in rows]
    for i, row in enumerate(cells):
        lo, hi = shapes.receptive_field_range(layers[: i + 1], 32)
        assert row[3] == (str(lo) if lo == hi else f"{lo}..{hi}")
    assert cells[0][3] == "2..3"  # the corner output of a padded 3-tap conv reads 2 input pixels


def test_unet_receptive_field_is_the_range_torch_shows(capsys):
    out = _answer(capsys, "unet", 572)
    assert "receptive field: 188..204x188..204 input pixels, depending on the output pixel" in out
    assert "204x204 input pixels per output pixel" not in out


@pytest.mark.parametrize(("n", "k", "s"), [(5, 3, 2), (6, 5, 3), (4, 3, 2)])
def test_overlap_names_a_torch_fix_whose_taps_are_even(capsys, torch, n, k, s):
    out = _answer(capsys, "overlap", n, "-k", k, "-s", s)
    assert out.count("\n  nn.") == 2 and "Odena et al. 2016" in out
    fix, resize = (layer for layer, _ in _pasted(out, torch))
    ones = torch.ones(1, 1, n, n)
    reference = torch.nn.ConvTranspose2d(1, 1, k, stride=s)
    torch.nn.init.ones_(fix.weight)
    torch.nn.init.zeros_(fix.bias)
    taps = fix(ones)[0, 0]
    assert taps.shape == reference(ones).shape[-2:]  # the same output size as the layer asked about
    assert fix.kernel_size[0] % fix.stride[0] == 0
    inner = taps[fix.kernel_size[0] : -fix.kernel_size[0], fix.kernel_size[0] : -fix.kernel_size[0]]
    assert inner.numel() == 0 or torch.unique(inner).numel() == 1  # every interior pixel: as many taps
    assert resize(ones).shape[-1] == n * s


@pytest.mark.parametrize(
    ("size", "k", "s", "p"), [(24, 3, 2, 1), (7, 3, 2, "same"), (25, 4, 3, 1), ("24x25", 3, 2, 1)]
)
def test_roundtrip_torch_lines_restore_the_size(capsys, torch, size, k, s, p):
    out = _answer(capsys, "roundtrip", size, "-k", k, "-s", s, "-p", p)
    scope = {"nn": torch.nn, "in_channels": 1, "out_channels": 2}
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith(("down =", "up ="))]
    assert len(lines) == 2
    for line in lines:
        exec(line, scope)
    hw = tuple(int(v) for v in str(size).split("x")) if "x" in str(size) else (size, size)
    x = torch.zeros(1, 1, *hw)
    assert tuple(scope["up"](scope["down"](x)).shape[-2:]) == hw
    y = scope["down"](x)
    plain = torch.nn.ConvTranspose2d(2, 1, k, stride=s, padding=scope["up"].padding)
    assert tuple(plain(y, output_size=list(hw)).shape[-2:]) == hw
    assert f"output_size={list(hw)}" in out


def _help_text(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


def _commands_of_parser() -> dict:
    from convlab.cli import build_parser

    parser = build_parser()
    return next(a for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict)).choices


def test_convlab_help_opens_with_the_forum_questions(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    text = _help_text(capsys)
    assert text.index("Which command answers my question") < text.index("positional arguments")
    for question, command in [
        ("my ConvTranspose2d gives 23 instead of 24", "convlab shape convt 12 -k 3 -s 2 -p 1"),
        ("which conv turns 768 into 128?", "convlab solve 768 128"),
        ("what sizes does my unpadded U-Net accept?", "convlab unet-sizes 572"),
        ("why checkerboard artifacts", "convlab overlap 5 -k 3 -s 2"),
        ("padding='same' with stride 2?", "convlab shape conv 7 -k 3 -s 2 -p same"),
        ("conv as a matrix for 4x4 and 3x3", "convlab explain conv 4x4 -k 3"),
        ("receptive field", "convlab rf"),
        ("crop offsets of the U-Net's skip connections", "convlab unet-sizes 572"),
        ("quantise", "convlab quantize"),
        ("fixed-point", "convlab fixed-sweep"),
        ("test vectors for my RTL", "convlab vectors"),
        ("run my ONNX model", "convlab run"),
        ("segment a large image", "convlab segment"),
        ("tile sizes", "convlab unet"),
        ("Winograd", "convlab explain winograd"),
    ]:
        line = next((x for x in text.splitlines() if question in x), None)
        assert line is not None, question
        after = text[text.index(line) :].split("\n", 2)
        assert command in after[0] or command in after[1], (question, command)
    assert max(len(line) for line in text.splitlines()) <= _help.WIDTH


def test_every_sub_command_help_ends_with_two_or_three_runnable_examples(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    commands = _commands_of_parser()
    assert set(commands) == set(_help.EXAMPLES)
    for name in commands:
        text = _help_text(capsys, name)
        examples = text[text.index("\nexamples:\n") :].splitlines()[2:]
        runs = [line.strip() for line in examples if line.startswith("  convlab ")]
        assert 2 <= len(runs) <= 3, name
        assert runs == [command for _, command in _help.EXAMPLES[name]]
        assert "default None" not in text and "default: None" not in text, name
        assert max(len(line) for line in text.splitlines()) <= _help.WIDTH, name
        assert "--wide" in text


def test_demo_help_says_what_the_demo_does(capsys):
    text = _help_text(capsys, "demo")
    description = text.split("options:")[0].split("\n\n", 1)[1]
    assert "synthetic" in description and "tile" in description


def test_wide_prints_the_full_table(capsys):
    narrow = _answer(capsys, "unet-sizes", "572x588")
    wide = _answer(capsys, "unet-sizes", "572x588", "--wide")
    assert max(map(len, narrow.splitlines())) <= _help.WIDTH < max(map(len, wide.splitlines()))
    assert narrow.count("level  ") == 2 and wide.count("level  ") == 1  # cut into two column groups


def test_readme_has_the_question_table_of_convlab_help():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme[readme.index("## Which command answers my question") :]
    start = section.index("```text\n") + len("```text\n")
    block = section[start : section.index("\n```", start)]
    assert block == _help.question_table()


def test_readme_shape_command_line_shows_what_the_commands_print(capsys):
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme[readme.index("## The shape command line") :]
    start = section.index("```console\n") + len("```console\n")
    block = section[start : section.index("```\n", start)]
    for chunk in block.split("$ convlab ")[1:]:
        command, _, shown = chunk.partition("\n")
        main(shlex.split(command))
        out, err = capsys.readouterr()
        assert (out + err).strip() == shown.strip(), command
