"""``convlab explain winograd``: its options and its run; the text comes from :mod:`convlab.viz`."""

from __future__ import annotations

import argparse

from .._args import ConvlabError
from ._parse import written
from ._table import dumps


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tile", type=int, default=None, help="winograd only: outputs per tile, m of F(m, r) (default 2)"
    )


def run(args: argparse.Namespace) -> str:
    """After the grammar's normalisation: size and kernel are per-dimension tuples; -s/-d were refused."""
    from ..viz import _explain_winograd as ex

    size = args.size
    kernel = args.kernel_size or (3,) * len(size)
    tile = 2 if args.tile is None else args.tile
    if max(size) > 16:
        raise ConvlabError(
            f"explain winograd takes a 1-D or 2-D input of at most 16 per side, got size={args.size}"
        )
    if args.channels != 1:
        raise ConvlabError("explain winograd shows one channel, stride 1, dilation 1 (what F(m, r) computes)")
    pads = {args.padding} if isinstance(args.padding, str) else set(args.padding)
    padding = pads.pop()
    if pads or not isinstance(padding, int):
        raise ConvlabError(
            f"explain winograd takes one integer padding for every dimension, got -p {written(args.padding)}"
        )
    x, w = ex.winograd_example(size, kernel, args.seed)
    if args.json:
        return dumps({"op": "winograd", "tile": tile, "routes": ex.routes(x, w, padding, tile)})
    return ex.winograd_text(x, w, padding, tile)
