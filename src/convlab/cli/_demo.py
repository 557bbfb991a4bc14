"""``convlab demo``: the questions people work out by hand, answered."""

from __future__ import annotations

import argparse

from ._shape_cmds import run_roundtrip, run_solve, run_unet_sizes

_SECTIONS = (
    (
        "Why does ConvTranspose2d(k3, s2, p1) not undo Conv2d(k3, s2, p1) on 24x24?",
        run_roundtrip,
        {"size": 24, "kernel_size": 3, "stride": 2, "padding": 1, "dilation": 1},
    ),
    (
        "Which conv maps 768 to 128?",
        run_solve,
        {
            "in_size": 768,
            "out_size": 128,
            "transposed": False,
            "kernel_size": None,
            "stride": None,
            "padding": None,
            "dilation": None,
            "max_kernel_size": 16,
            "max_stride": 16,
            "max_padding": None,
            "max_dilation": 1,
            "limit": 5,
        },
    ),
    (
        "The U-Net paper's 572x572 input: sizes and copy-and-crop windows",
        run_unet_sizes,
        {"size": 572, "depth": 4, "kernel_size": 3, "convs": 2, "padding": "valid"},
    ),
)


def add_command(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[common], help="a tour of what convlab answers")
    p.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> str:
    blocks = []
    for title, command, values in _SECTIONS:
        text = command(argparse.Namespace(json=False, **values))
        blocks.append(f"== {title}\n{text}")
    if args.json:
        from ._table import dumps

        return dumps(
            {
                "sections": [
                    {"title": t, "text": b.split("\n", 1)[1]} for (t, _, _), b in zip(_SECTIONS, blocks)
                ]
            }
        )
    return "\n\n".join(blocks)
