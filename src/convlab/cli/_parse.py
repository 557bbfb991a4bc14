"""argparse types for sizes and padding written on the command line; the parsing itself is _args's."""

from __future__ import annotations

import argparse

from .._args import ConvlabError, padding_from_text, sizes_from_text

__all__ = ["padding_arg", "size_arg"]


def size_arg(text: str) -> int | tuple[int, ...]:
    """``24`` → 24; ``572x572`` or ``572,572`` → (572, 572)."""
    try:
        return sizes_from_text(text)
    except ConvlabError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def padding_arg(text: str):
    """``1``, ``1x2`` (per dimension), ``0:1`` (lo:hi), ``0:1x1:1``, ``same`` or ``valid``."""
    try:
        return padding_from_text(text)
    except ConvlabError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
