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

# The help is written in issue 15's grammar (sizes positional everywhere);
# until h12's grammar is merged these spell the same thing the old way.
# Delete the dict once `convlab unet 572` and `convlab overlap 5 ...` parse.
_TODAY = {
    "convlab overlap 5 -k 3 -s 2": "convlab overlap --size 5 -k 3 -s 2",
    "convlab overlap 5 -k 4 -s 2 -p 1": "convlab overlap --size 5 -k 4 -s 2 -p 1",
    "convlab overlap 5 -k 3 -s 2 -o overlap.png": "convlab overlap --size 5 -k 3 -s 2 -o overlap.png",
    "convlab unet 572": "convlab unet --input 572",
    "convlab unet 572 --addresses NHWC": "convlab unet --input 572 --addresses NHWC",
    "convlab unet 256 --padding same --batch-norm": "convlab unet --input 256 --padding same --batch-norm",
}


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
    argv = shlex.split(_TODAY.get(command, command))
    assert argv[0] == "convlab"
    status = main(argv[1:])
    out, err = capsys.readouterr()
    assert status == 0, err
    if "--wide" not in argv and "--json" not in argv:
        wide = [line for line in out.splitlines() if len(line) > _help.WIDTH]
        assert not wide, f"{len(wide)} lines over {_help.WIDTH} columns, e.g. {wide[0]!r}"
