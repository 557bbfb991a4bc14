"""Per-dimension values written as text (``572x572``, ``0:1x1:1``): _args's parsers and the CLI's adapters."""

from __future__ import annotations

import argparse

import pytest

from convlab import ConvlabError
from convlab._args import padding_from_text, sizes_from_text
from convlab.cli._parse import padding_arg, size_arg


@pytest.mark.parametrize(
    ("text", "value"), [("24", 24), ("572x572", (572, 572)), ("572,380", (572, 380)), (" 3x4x5 ", (3, 4, 5))]
)
def test_sizes(text, value):
    assert sizes_from_text(text) == size_arg(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("1x2", (1, 2)),
        ("0:1", ((0, 1),)),
        ("0:1x1:1", ((0, 1), (1, 1))),
        ("same", "same"),
        ("valid", "valid"),
    ],
)
def test_padding(text, value):
    assert padding_from_text(text) == padding_arg(text) == value


def test_bad_text_names_the_kind_and_the_whole_value():
    with pytest.raises(ConvlabError, match=r"sizes must be integers like 24 or 572x572, got '572xa'"):
        sizes_from_text("572xa")
    with pytest.raises(ConvlabError, match=r"padding must be integers like .*same or valid, got '0:b'"):
        padding_from_text("0:b")
    with pytest.raises(argparse.ArgumentTypeError, match="sizes must be integers"):
        size_arg("")
    with pytest.raises(argparse.ArgumentTypeError, match="padding must be integers"):
        padding_arg("1x")
