"""argparse types for sizes and padding written on the command line; the parsing itself is _args's."""

from __future__ import annotations

import argparse
import re

from .._args import ConvlabError, padding_from_text, sizes_from_text

__all__ = ["bounded_int", "layer_arg", "padding_arg", "size_arg"]


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


def bounded_int(minimum: int, maximum: int, why: str = ""):
    """An argparse type: an integer in ``minimum..maximum`` (the CLI's stated bound on the work)."""

    def parse(text: str) -> int:
        if len(text.strip()) > 24:
            raise argparse.ArgumentTypeError(
                f"expected an integer from {minimum} to {maximum}, got {text[:24]}..."
            )
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"expected an integer from {minimum} to {maximum}{why}, got {value}"
            )
        return value

    return parse


# rf walks every layer's reach; a layer written with numbers above this (or a
# spec longer than _LAYER_TEXT) is a typo, and unbounded ones made it hang.
_LAYER_NUMBER = 10**4
_LAYER_TEXT = 40


def layer_arg(text: str) -> str:
    """A layer spec such as ``c3s2p1``, with every number at most 10**4."""
    if len(text) > _LAYER_TEXT:
        raise argparse.ArgumentTypeError(
            f"a layer is written like c3s2p1 in at most {_LAYER_TEXT} characters, got {text[:_LAYER_TEXT]}..."
        )
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    if any(n > _LAYER_NUMBER for n in numbers):
        raise argparse.ArgumentTypeError(
            f"layer values are at most {_LAYER_NUMBER} on the command line, got {text!r}"
        )
    return text
