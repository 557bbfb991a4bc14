"""The ``convlab`` command: one sub-command per job."""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
import typing
from collections.abc import Sequence

from .._args import ConvlabError
from .._extras import MissingDependency
from . import (
    _demo,
    _explain_cmds,
    _fixed_cmds,
    _help,
    _onnx_cmds,
    _quant_cmds,
    _segment,
    _shape_cmds,
    _unet_cmds,
    _vectors_cmds,
)
from ._parse import DIMENSION_RULE, did_you_mean, normalise

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message, exit status 2, and a pointer to this command's help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def option_names(self) -> list[str]:
        """Every option this parser takes, read from its own help (what the user can see)."""
        return sorted(set(re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", self.format_help())))


class _TopParser(_Parser):
    """``convlab``'s parser: unknown commands and options suggest the closest; errors name the command."""

    commands: typing.ClassVar[dict[str, _Parser]] = {}

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        args = sys.argv[1:] if args is None else [str(a) for a in args]
        word = next((a for a in args if not a.startswith("-")), None)
        if word is not None and word not in self.commands:
            self.error(f"unknown command {word!r}{did_you_mean(word, self.commands)}")
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and getattr(namespace, "command", None) in self.commands:
            command = self.commands[namespace.command]
            names = command.option_names()
            hints = "".join(did_you_mean(e.partition("=")[0], names) for e in extras if e[:1] == "-")
            command.error(f"unrecognized arguments: {' '.join(extras)[:200]}{hints[:200]}")
        return namespace, extras


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    parser = _TopParser(
        prog="convlab", description="Convolution arithmetic, exact, fast and visible.", epilog=DIMENSION_RULE
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"convlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _demo.add_command(sub, common)
    _shape_cmds.add_commands(sub, common)
    _explain_cmds.add_commands(sub, common)
    _unet_cmds.add_commands(sub, common)
    _segment.add_command(sub, common)
    _fixed_cmds.add_command(sub, common)
    _vectors_cmds.add_commands(sub, common)
    _onnx_cmds.add_commands(sub, common)
    _quant_cmds.add_command(sub, common)
    parser.commands = dict(sub.choices)
    _help.attach(parser)  # the question table and every sub-command's examples
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    0 on success; 2 for bad arguments and for every failure that comes from
    the input or the environment (a missing or read-only directory, a full
    disk, too little memory), always as one line on stderr; 1 only for an
    internal error, whose traceback is printed and said to be one.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_usage(sys.stderr)
        print("convlab: error: name a command (see convlab --help)", file=sys.stderr)
        return 2
    try:
        if getattr(args, "grammar", None) is not None:
            normalise(args, args.command)
        text = args.run(args)
    except KeyboardInterrupt:
        print(f"convlab {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # every failure: one line, or a traceback marked internal
        return _report(args.command, err)
    try:
        print(text)
    except BrokenPipeError:
        # `convlab ... | head` closed the pipe: not an error of ours. Point
        # stdout at devnull so the interpreter's final flush stays quiet.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    return getattr(text, "exit_status", 0)  # `convlab diff` exits 1 when the values differ


def _report(command: str, err: Exception) -> int:
    if isinstance(err, MissingDependency):
        # Not the arguments' fault: the message already says what to install.
        message = str(err)
    elif isinstance(err, (ConvlabError, TypeError)):
        # The arguments were wrong: the command's own help shows the right ones.
        message = f"{err} (see convlab {command} --help)"
    elif isinstance(err, MemoryError):
        message = "out of memory; use a smaller size, or --tile where the command has it"
    elif isinstance(err, OSError):
        where = f": {err.filename}" if err.filename else ""
        message = f"{err.strerror or err}{where}"
    else:
        traceback.print_exc()
        print(
            f"convlab {command}: internal error (a bug in convlab; please report it with the "
            f"command line and the traceback above)",
            file=sys.stderr,
        )
        return 1
    print(f"convlab {command}: error: {' '.join(message.split())}", file=sys.stderr)
    return 2
