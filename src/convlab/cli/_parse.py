"""Parsing of sizes and padding written on the command line."""

from __future__ import annotations

import argparse
import re

__all__ = ["padding_arg", "size_arg"]

_SEP = re.compile(r"[x,]")


def _int(text: str, what: str, whole: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{what} must be integers like {_EXAMPLES[what]}, got {whole!r}"
        ) from None


_EXAMPLES = {"sizes": "24 or 572x572", "padding": "1, 1x2, 0:1, 0:1x1:1, same or valid"}


def size_arg(text: str) -> int | tuple[int, ...]:
    """``24`` → 24; ``572x572`` or ``572,572`` → (572, 572)."""
    parts = _SEP.split(text.strip())
    values = tuple(_int(p, "sizes", text) for p in parts)
    return values[0] if len(values) == 1 else values


def padding_arg(text: str):
    """``1``, ``1x2`` (per dimension), ``0:1`` (lo:hi), ``0:1x1:1``, ``same`` or ``valid``."""
    text = text.strip()
    if text in ("same", "valid"):
        return text
    parts = _SEP.split(text)
    values = []
    for part in parts:
        if ":" in part:
            lo, _, hi = part.partition(":")
            values.append((_int(lo, "padding", text), _int(hi, "padding", text)))
        else:
            values.append(_int(part, "padding", text))
    if len(values) == 1:
        return values[0] if isinstance(values[0], int) else (values[0],)
    return tuple(values)
