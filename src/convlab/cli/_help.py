"""The words of ``convlab --help``: the question -> command table and each sub-command's examples.

Kept apart from the argument definitions (``_shape_cmds`` and friends) so that
the text a newcomer reads is in one place, and a test runs every command
written here (``tests/test_cli_answers.py``): the help cannot drift from the
grammar without the test failing.
"""

from __future__ import annotations

import argparse
import functools
import textwrap

from ._table import WIDTH, columns, fit

__all__ = ["EXAMPLES", "QUESTIONS", "WIDTH", "attach", "question_table"]

# (question in the user's words, the command that answers it), in the order
# people ask them on forums; each command runs as written (the test does).
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("my ConvTranspose2d gives 23 instead of 24", "convlab shape convt 12 -k 3 -s 2 -p 1"),
    ("which conv turns 768 into 128?", "convlab solve 768 128"),
    ("which transposed conv doubles 12 to 24?", "convlab solve 12 24 --transposed"),
    ("what sizes does my unpadded U-Net accept?", "convlab unet-sizes 572"),
    ("why checkerboard artifacts (transposed conv)?", "convlab overlap 5 -k 3 -s 2"),
    ("padding='same' with stride 2?", "convlab shape conv 7 -k 3 -s 2 -p same"),
    ("conv as a matrix for 4x4 and 3x3", "convlab explain conv 4x4 -k 3"),
    ("transposed conv as zero insertion + flip", "convlab explain convtranspose 3x3 -k 3 -s 2"),
    ("why does ConvTranspose not undo my Conv?", "convlab roundtrip 7 -k 3 -s 2 -p 1"),
    ("output size of a max-pool with ceil_mode", "convlab shape pool 7 -k 2 --ceil-mode"),
    ("receptive field of my stack of layers", "convlab rf c3 c3 pool2 c3 c3 --input 64"),
    ("crop offsets of the U-Net's skip connections", "convlab unet-sizes 572"),
    ("shapes, parameters, FLOPs, memory of a U-Net", "convlab unet 572"),
    ("tile sizes and halo for overlap-tile inference", "convlab unet 512 --padding same"),
    ("animate a strided conv (conv_arithmetic)", "convlab animate conv 5 -k 3 -s 2 -p 1 -o conv.gif"),
    ("how does Winograd F(2,3) compute a conv?", "convlab explain winograd 4 -k 3"),
    ("input addresses and line buffer of a conv", "convlab addresses conv --input 1x1x8x8 -k 3"),
    ("quantise a U-Net to int8 ONNX", "convlab quantize --synthetic 2 -o unet_int8.onnx"),
    ("which fixed-point width (ap_fixed) is enough?", "convlab fixed-sweep --widths 8,12,16"),
    ("golden test vectors for my RTL/HLS", "convlab vectors demo --input 64 --out vectors"),
    ("does my simulation's output match?", "convlab diff vectors sim_dumps"),
    (
        "run my ONNX model; which runtime is right?",
        "convlab run model.onnx --input x.npy --compare onnxruntime",
    ),
    ("shapes and FLOPs of my ONNX model", "convlab trace model.onnx --input-shape 1x1x188x188"),
    (
        "segment a large image with my U-Net weights",
        "convlab segment cells.png -w unet.safetensors -o mask.png",
    ),
    ("see overlap-tile segmentation end to end", "convlab demo"),
)

# Two or three runnable examples per sub-command, shown at the end of its
# --help: (what it shows, the command).
EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "demo": (
        ("segment a 4096x4096 synthetic image tile by tile", "convlab demo"),
        ("a smaller, quicker run", "convlab demo --size 1024 -o demo.png"),
        ("a tour of the shape questions instead", "convlab demo --shapes"),
    ),
    "shape": (
        ("23, and the output_padding that gives 24", "convlab shape convt 12 -k 3 -s 2 -p 1"),
        ("'same' with stride 2: the padding it means", "convlab shape conv 7 -k 3 -s 2 -p same"),
        ("a 2-D max-pool, rounding up", "convlab shape pool 7x8 -k 2 --ceil-mode"),
    ),
    "roundtrip": (
        ("conv 7 -> 4, transposed conv 4 -> 7: restored?", "convlab roundtrip 7 -k 3 -s 2 -p 1"),
        ("8 -> 4 -> 7: which output_padding restores 8", "convlab roundtrip 8 -k 3 -s 2 -p 1"),
    ),
    "solve": (
        ("convolutions from 768 down to 128", "convlab solve 768 128"),
        ("transposed convolutions from 12 up to 24", "convlab solve 12 24 --transposed"),
        ("only 3x3 kernels", "convlab solve 64 32 --kernel-size 3"),
    ),
    "rf": (
        ("VGG-like block: field, jump, start", "convlab rf c3 c3 pool2 c3 c3"),
        ("padded layers on a 32 input: edge pixels see less", "convlab rf c3p1 c3s2p1 c3p1 --input 32"),
        (
            "down and up again: the phases of the up-sampling differ",
            "convlab rf c3 pool2 c3 pool2 c3 t2s2 c3 t2s2 c3 --input 64",
        ),
    ),
    "unet-sizes": (
        ("the paper's U-Net: sizes, skip crops, valid inputs", "convlab unet-sizes 572"),
        ("a padded U-Net: which sizes work", "convlab unet-sizes 250 --padding same"),
        ("a shallower net with one 5x5 conv per level", "convlab unet-sizes 100 --depth 2 -k 5 --convs 1"),
    ),
    "explain": (
        ("conv as a matrix for a 4x4 input and a 3x3 kernel", "convlab explain conv 4x4 -k 3"),
        ("transposed conv: scatter, zero insertion, matrix", "convlab explain convtranspose 3x3 -k 3 -s 2"),
        ("Winograd F(2,3) on a 1-D input", "convlab explain winograd 6 -k 3 --ndim 1"),
    ),
    "animate": (
        ("a strided, padded conv", "convlab animate conv 5 -k 3 -s 2 -p 1 -o conv.gif"),
        (
            "a transposed conv, both views, as SVG frames",
            "convlab animate convtranspose 3 -k 3 -s 2 -o up.svg",
        ),
        ("the interactive page", "convlab animate convtranspose 5 -k 3 -s 2 -p 1 -o page.html"),
    ),
    "overlap": (
        ("k3 s2: uneven overlap, the checkerboard", "convlab overlap 5 -k 3 -s 2"),
        ("k4 s2: even overlap, no checkerboard", "convlab overlap 5 -k 4 -s 2 -p 1"),
        ("as a heat map", "convlab overlap 5 -k 3 -s 2 -o overlap.png"),
    ),
    "unet": (
        ("the paper's U-Net on 572x572", "convlab unet 572"),
        ("skip crops as NHWC word addresses", "convlab unet 572 --addresses NHWC"),
        ("a padded, batch-normed U-Net on 256x256", "convlab unet 256 --padding same --batch-norm"),
    ),
    "segment": (
        ("segment an image with U-Net weights", "convlab segment cells.png -w unet.safetensors -o mask.png"),
        (
            "by overlap-tile, writing a TIFF",
            "convlab segment cells.png -w unet.safetensors --tile 572 -o mask.tif",
        ),
    ),
    "fixed-sweep": (
        ("IoU per word width of ap_fixed", "convlab fixed-sweep --widths 8,12,16"),
        (
            "truncation instead of rounding, as a plot",
            "convlab fixed-sweep --widths 8-12 --rounding trn --plot iou.png",
        ),
    ),
    "vectors": (
        ("every layer of the demo U-Net as $readmemh hex", "convlab vectors demo --input 64 --out vectors"),
        (
            "as .coe for Xilinx block RAM, first layer only",
            "convlab vectors demo --input 64 --out coe --format coe --layers 'down0.*'",
        ),
    ),
    "diff": (
        ("golden vectors first", "convlab vectors demo --input 64 --out vectors"),
        ("then the simulation's dumps against them", "convlab diff vectors sim_dumps"),
        ("allowing one LSB", "convlab diff vectors sim_dumps --tolerance 1"),
    ),
    "addresses": (
        (
            "which input addresses each output of a 3x3 conv reads",
            "convlab addresses conv --input 1x1x8x8 -k 3",
        ),
        ("one output pixel of a strided conv", "convlab addresses conv --input 1x1x8x8 -k 3 -s 2 --at 1x1"),
        ("the U-Net's skip crops", "convlab addresses unet --input 572x572"),
    ),
    "run": (
        (
            "run, compared node by node with onnxruntime",
            "convlab run model.onnx --input x.npy --compare onnxruntime",
        ),
        ("write every intermediate tensor as .npy", "convlab run model.onnx --input x.npy --dump tensors"),
    ),
    "trace": (
        ("shapes, parameters and FLOPs of every node", "convlab trace model.onnx --input-shape 1x1x188x188"),
        ("the same as JSON", "convlab trace model.onnx --input-shape 1x1x188x188 --json"),
    ),
    "quantize": (
        ("int8 QOperator model of the demo U-Net", "convlab quantize --synthetic 2 -o unet_int8.onnx"),
        (
            "QDQ form, percentile calibration",
            "convlab quantize --synthetic 2 --form qdq --method percentile -o unet_qdq.onnx",
        ),
    ),
}

_DESCRIPTIONS = {
    "demo": (
        "Segment a synthetic image of cells, larger than the U-Net's window, tile by tile with the\n"
        "bundled U-Net: the seamless overlap-tile strategy of Ronneberger et al. (2015), with the IoU\n"
        "against the ground truth and a side-by-side picture. --shapes prints a tour of the shape\n"
        "questions instead."
    ),
}


def question_table(width: int = WIDTH) -> str:
    """The questions and their commands: two columns where they fit in ``width``, else two lines.

    >>> question_table().splitlines()[0].split("  ")[1]
    'my ConvTranspose2d gives 23 instead of 24'
    """
    column = max(len(q) for q, _ in QUESTIONS) + 2
    lines = []
    for question, command in QUESTIONS:
        if 2 + column + len(command) <= width:
            lines.append(f"  {question.ljust(column)}{command}")
        else:
            lines += [f"  {question}", f"      {command}"]
    return "\n".join(lines)


def _examples(name: str) -> str:
    return "examples:\n" + "\n".join(f"  # {what}\n  {command}" for what, command in EXAMPLES[name])


def _without_none_default(parser: argparse.ArgumentParser) -> None:
    # "default None" tells a reader nothing: say nothing instead.
    for action in parser._actions:
        if action.help and action.default is None and "%(default)s" in action.help:
            text = action.help.replace("(default %(default)s)", "").replace("default %(default)s", "")
            action.help = text.strip(" ;,") or None


def _wrapped(text: str | None) -> str | None:
    """Paragraphs written as long strings, wrapped to WIDTH: the raw formatter that keeps the
    examples' and the table's lines would print them as they are."""
    if not text:
        return text
    return "\n\n".join(textwrap.fill(" ".join(p.split()), WIDTH - 2) for p in text.split("\n\n"))


def attach(parser: argparse.ArgumentParser) -> None:
    """Put the question table on ``parser`` and the examples on each of its sub-commands."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = (
        "Convolution arithmetic, exact, fast and visible.\n\n"
        "Which command answers my question:\n\n" + question_table() + "\n\n"
        "Every command takes --help, with examples; sizes are written 24, 572x572 or 24x25x26."
    )
    parser.epilog = _wrapped(parser.epilog)  # the grammar's dimension rule (h12)
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for name, sub in action.choices.items():
            sub.formatter_class = argparse.RawDescriptionHelpFormatter
            if name in EXAMPLES:
                sub.epilog = _examples(name)
            if sub.description is None and name in _DESCRIPTIONS:
                sub.description = _DESCRIPTIONS[name]
            else:
                sub.description = _wrapped(sub.description)
            _without_none_default(sub)
            sub.add_argument(
                "--wide",
                action="store_true",
                help=f"full tables, lines of any length (default: {WIDTH} columns)",
            )
            if sub.get_default("run") is not None:
                sub.set_defaults(run=_fitted(sub.get_default("run")))


def _fitted(run):
    """``run`` whose tables and lines fit WIDTH columns, unless --wide (or --json: data, not prose)."""

    @functools.wraps(run)
    def fitted(args: argparse.Namespace):
        if getattr(args, "json", False) or getattr(args, "wide", False):
            with columns(None):
                return run(args)
        with columns(WIDTH):
            text = run(args)
            if type(text) is str:
                return fit(text)
            if isinstance(text, str):  # a str carrying an exit status (convlab diff)
                out = type(text)(fit(text))
                out.__dict__.update(text.__dict__)
                return out
            return text

    return fitted
