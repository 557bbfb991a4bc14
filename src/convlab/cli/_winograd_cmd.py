"""``convlab explain winograd``: its options and its run; the text comes from :mod:`convlab.viz`."""

from __future__ import annotations

import argparse

from .._args import ConvlabError
from ._table import dumps


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tile", type=int, default=2, help="winograd only: outputs per tile, m of F(m, r) (default 2)"
    )


def run(args: argparse.Namespace) -> str:
    from ..viz import _explain_winograd as ex

    size = (args.size,) * (args.ndim or 2) if isinstance(args.size, int) else tuple(args.size)
    kernel = args.kernel_size or 3
    kernel = (kernel,) * len(size) if isinstance(kernel, int) else tuple(kernel)
    if len(size) not in (1, 2) or len(kernel) != len(size) or max(size) > 16:
        raise ConvlabError(
            f"explain winograd takes a 1-D or 2-D input of at most 16 per side, got size={args.size}"
        )
    if (
        args.channels != 1
        or args.stride not in (1, (1,) * len(size))
        or args.dilation not in (1, (1,) * len(size))
    ):
        raise ConvlabError("explain winograd shows one channel, stride 1, dilation 1 (what F(m, r) computes)")
    if not isinstance(args.padding, int):
        raise ConvlabError(f"explain winograd takes one integer padding, got padding={args.padding!r}")
    x, w = ex.winograd_example(size, kernel, args.seed)
    if args.json:
        return dumps(
            {"op": "winograd", "tile": args.tile, "routes": ex.routes(x, w, args.padding, args.tile)}
        )
    return ex.winograd_text(x, w, args.padding, args.tile)
