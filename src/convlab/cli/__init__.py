"""The ``convlab`` command: one sub-command per job."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .._args import ConvlabError
from . import _demo, _explain_cmds, _onnx_cmds, _segment, _shape_cmds, _unet_cmds

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    parser = _Parser(prog="convlab", description="Convolution arithmetic, exact, fast and visible.")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"convlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _demo.add_command(sub, common)
    _shape_cmds.add_commands(sub, common)
    _explain_cmds.add_commands(sub, common)
    _unet_cmds.add_commands(sub, common)
    _segment.add_command(sub, common)
    _onnx_cmds.add_commands(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        text = args.run(args)
    except (ConvlabError, TypeError) as err:
        print(f"convlab {args.command}: error: {err}", file=sys.stderr)
        return 2
    try:
        print(text)
    except BrokenPipeError:
        # `convlab ... | head` closed the pipe: not an error of ours. Point
        # stdout at devnull so the interpreter's final flush stays quiet.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    return 0
