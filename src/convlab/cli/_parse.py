"""The command line's one grammar: sizes and layer flags as text, and their normalisation.

Every sub-command that describes a layer reads it the same way: sizes are
positional (``24``, ``572x572``, ``24x25x26``); ``-k/-s/-p/-d/--op`` (and
``--groups``, ``--ceil-mode`` where they mean something) carry the layer; a
bare number means the same value in every dimension, and how many dimensions
there are is decided by :func:`layer_ndim` alone. A flag that does not apply
to the chosen operator is refused, never ignored. The text parsing itself is
``_args``'s; this module adapts it to argparse and normalises once, before a
command runs, so that the commands see canonical per-dimension tuples.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .._args import ConvlabError, padding_from_text, sizes_from_text

__all__ = [
    "DEFAULT_NDIM",
    "DIMENSION_RULE",
    "NDIM_HELP",
    "Grammar",
    "add_layer_options",
    "bounded_int",
    "choice_arg",
    "compact",
    "did_you_mean",
    "layer_arg",
    "layer_ndim",
    "normalise",
    "padding_arg",
    "size_arg",
    "written",
]

# nn.Conv2d is the layer most questions are about, and a picture is 2-D.
DEFAULT_NDIM = 2
DIMENSION_RULE = (
    "A bare number means the same value in every dimension; the number of dimensions is --ndim, else that "
    "of any value written per dimension (24x24, -k 3x3x3, -p 0:1x1:0), else 2 (as Conv2d)."
)

NDIM_HELP = "spatial dimensions; unset: those of any value written per dimension (24x24, -k 3x3), else 2"


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


def did_you_mean(word: str, choices) -> str:
    """``"; did you mean animate?"`` for the closest of ``choices``, or ``""``.

    >>> did_you_mean("animat", ["animate", "explain"])
    '; did you mean animate?'
    """
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def choice_arg(choices: tuple[str, ...]) -> Callable[[str], str]:
    """An argparse type: one of ``choices``, else an error that suggests the closest."""

    def parse(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(
                f"expected one of {', '.join(choices)}, got {text!r}{did_you_mean(text, choices)}"
            )
        return text

    return parse


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


# --- the layer flags: one spelling, one meaning, on every command ----------------------------

# dest -> how the user spells it; the order is the order of the help.
FLAGS = {
    "kernel_size": "-k/--kernel-size",
    "stride": "-s/--stride",
    "padding": "-p/--padding",
    "dilation": "-d/--dilation",
    "output_padding": "--op/--output-padding",
    "groups": "--groups",
    "ceil_mode": "--ceil-mode",
}
_PER_DIM = ("kernel_size", "stride", "dilation", "output_padding")
_DEFAULTS = {"padding": 0, "dilation": 1, "output_padding": 0, "groups": 1, "ceil_mode": False}
_HELP = {
    "kernel_size": "e.g. 3 or 3x5",
    "stride": "default 1 (pool: the kernel size)",
    "padding": "1, 1x2, lo:hi like 0:1 (every dimension), 0:1x1:0, same or valid; default 0",
    "dilation": "default 1",
    "output_padding": "convtranspose only: added to the end of the output; default 0",
    "groups": "conv and convtranspose: channel groups; default 1",
    "ceil_mode": "pool only: round the output size up",
}


def add_layer_options(
    p: argparse.ArgumentParser, flags: tuple[str, ...], *, kernel_required: bool = True, ndims=(1, 2, 3)
) -> None:
    """Add the layer flags ``flags`` (dests of :data:`FLAGS`) and ``--ndim``, all unset by default."""
    types = {"padding": padding_arg, "groups": bounded_int(1, 64)}
    for dest in (d for d in FLAGS if d in flags):
        names = FLAGS[dest].split("/")
        extra = {"required": kernel_required} if dest == "kernel_size" else {}
        if dest == "ceil_mode":
            p.add_argument(*names, dest=dest, action="store_true", default=None, help=_HELP[dest])
            continue
        kind = {"type": types.get(dest, size_arg), "metavar": names[0].lstrip("-").upper()}
        words = _HELP[dest] if dest != "stride" or "ceil_mode" in flags else "default 1"
        p.add_argument(*names, dest=dest, help=words, **kind, **extra)
    p.add_argument(
        "--ndim",
        type=int,
        choices=ndims,
        default=None,
        help=NDIM_HELP,
    )


@dataclass(frozen=True)
class Grammar:
    """How one sub-command reads its layer, set on its parser with ``set_defaults(grammar=...)``.

    ``applies`` maps each operator (``""`` for a command of one operator) to
    the layer flags (dests of :data:`FLAGS`) that mean something for it;
    ``only`` does the same for the command's other flags (dest -> spelling
    and operators). ``sizes`` are its positional per-dimension arguments,
    ``aliases`` the old option spelling kept for one (``{"size":
    "size_option"}``), ``defaults`` their values when unset and ``required``
    those that must be given. ``expand`` says what becomes per-dimension
    tuples: ``"all"``, ``"sizes"`` (the layer flags are pinned scalars) or
    ``"none"`` (the command applies the rule itself, e.g. with a config
    file). ``maximum`` bounds every number before the command runs.
    """

    applies: Mapping[str, tuple[str, ...]]
    sizes: tuple[str, ...] = ("size",)
    only: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, object] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    needs_kernel: tuple[str, ...] = ()
    ndims: tuple[int, ...] = (1, 2, 3)
    expand: str = "all"
    maximum: int | None = None
    why: str = ""
    op: Callable[[argparse.Namespace], str] = lambda args: getattr(args, "op", "")


_OP_ALIASES = {"convt": "convtranspose"}


def normalise(args: argparse.Namespace, command: str) -> None:
    """Check and canonicalise ``args`` in place by its ``grammar``; raises ``ConvlabError``.

    Afterwards every per-dimension value is a tuple of ``args.ndim`` ints,
    padding a tuple of ints or ``(lo, hi)`` pairs (or ``'same'``), and unset
    flags hold their defaults (a pool's stride: its kernel, as PyTorch's).
    """
    g: Grammar = args.grammar
    if hasattr(args, "op"):
        args.op = _OP_ALIASES.get(args.op, args.op)
    op = g.op(args)
    args.given = frozenset(d for d in FLAGS if _given(args, d))
    _refuse_inapplicable(args, g, op)
    _merge_aliases(args, g, command)
    if op in g.needs_kernel and args.kernel_size is None:
        raise ConvlabError(f"{command} {op} needs -k/--kernel-size (e.g. -k 3)")
    names = [*g.sizes]
    if g.expand == "all":
        names += [d for d in (*_PER_DIM, "padding") if d in g.applies.get(op, ())]
    values = {name: getattr(args, name, None) for name in names}
    ndim = layer_ndim(args.ndim, values)
    if ndim not in g.ndims:
        dims = " or ".join(f"{n}-D" for n in g.ndims)
        why = _why_ndim(args.ndim, values)
        raise ConvlabError(f"{command} takes {dims} layers, got {ndim}-D (from {why})")
    if g.expand == "none":
        args.ndim = args.ndim if _counted(values) is None else ndim
        return
    for name, value in values.items():
        if value is not None:
            setattr(args, name, _expand(name, value, ndim))
    if g.expand == "all":
        _fill_defaults(args, op, ndim)
    args.ndim = ndim
    if g.maximum is not None:
        _bound(args, [*names, "groups"], g.maximum, g.why, command)


def _given(args: argparse.Namespace, dest: str) -> bool:
    # `--op 0` is given (and 0 == False): only None and a store_true flag's False mean "not given".
    value = getattr(args, dest, None)
    return value is not False and value is not None


def _refuse_inapplicable(args: argparse.Namespace, g: Grammar, op: str) -> None:
    spelled = {d: (FLAGS[d], tuple(o for o, fl in g.applies.items() if d in fl)) for d in FLAGS}
    for dest, (spelling, ops) in {**spelled, **g.only}.items():
        if not _given(args, dest) or not ops or op in ops:
            continue
        raise ConvlabError(f"{spelling} applies to {', '.join(ops)}, not {op}")


def _merge_aliases(args: argparse.Namespace, g: Grammar, command: str) -> None:
    for dest, alias in g.aliases.items():
        given = getattr(args, alias, None)
        if given is not None and getattr(args, dest, None) is not None:
            raise ConvlabError(
                f"the size is given twice, as {written(getattr(args, dest))} and as "
                f"--{alias.removesuffix('_option')} {written(given)}; write it once, positionally"
            )
        if given is not None:
            setattr(args, dest, given)
    for dest, value in g.defaults.items():
        if getattr(args, dest, None) is None:
            setattr(args, dest, value)
    for dest in g.required:
        if getattr(args, dest, None) is None:
            raise ConvlabError(f"{command} needs the input size, e.g. `convlab {command} 572` or 572x572")


def _why_ndim(ndim: int | None, values: Mapping[str, object]) -> str:
    counted = _counted(values)
    if ndim is not None:
        return f"--ndim {ndim}"
    if counted is not None:
        return f"{_spelling(counted[0])} {written(values[counted[0]])}"
    return "the default"


def _counted(values: Mapping[str, object]) -> tuple[str, int] | None:
    """The first value written per dimension, and its count; a lone ``0:1`` counts for every dimension."""
    for name, value in values.items():
        if isinstance(value, tuple) and len(value) > 1:
            return name, len(value)
    return None


def layer_ndim(ndim: int | None, values: Mapping[str, object]) -> int:
    """THE rule for how many spatial dimensions a command's numbers describe.

    ``--ndim`` if given; else the number of values of any argument written
    per dimension (``24x24``, ``-k 3x3x3``, ``-p 0:1x1:0``; ``-p 0:1`` is one
    ``lo:hi`` pair for every dimension, as ``-p 1`` is one number); else
    :data:`DEFAULT_NDIM`. Every argument written per dimension must agree.

    >>> layer_ndim(None, {"size": 24, "kernel_size": (3, 3, 3)}), layer_ndim(None, {"size": 24})
    (3, 2)
    >>> layer_ndim(1, {"size": 24, "padding": ((0, 1),)})
    1
    """
    counted = _counted(values)
    first = (f"--ndim {ndim}", ndim) if ndim is not None else counted
    said = f"--ndim is {ndim}" if ndim is not None else ""
    if counted is not None and ndim is None:
        said = f"{_spelling(counted[0])} {written(values[counted[0]])} has {counted[1]}"
    for name, value in values.items():
        if first is not None and isinstance(value, tuple) and len(value) > 1 and len(value) != first[1]:
            raise ConvlabError(
                f"{_spelling(name)} {written(value)} has {len(value)} per-dimension values but {said}: "
                f"write one value for every dimension, or one per dimension"
            )
    return DEFAULT_NDIM if first is None else first[1]


def _expand(name: str, value, ndim: int):
    if name == "padding" and isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return value * ndim if len(value) == 1 else value
    return (value,) * ndim


def _fill_defaults(args: argparse.Namespace, op: str, ndim: int) -> None:
    """Every layer flag the parser defines gets a value, applicable to ``op`` or not: no command sees None."""
    for dest in (d for d in FLAGS if getattr(args, d, None) is None and hasattr(args, d)):
        if dest == "stride":
            kernel = getattr(args, "kernel_size", None)
            args.stride = kernel if op == "pool" and kernel is not None else (1,) * ndim
        elif dest in _DEFAULTS:
            value = _DEFAULTS[dest]
            setattr(args, dest, value if dest in ("groups", "ceil_mode") else _expand(dest, value, ndim))


def _bound(args: argparse.Namespace, names: list[str], maximum: int, why: str, command: str) -> None:
    for name in names:
        value = getattr(args, name, None)
        numbers = re.findall(r"\d+", str(value)) if not isinstance(value, str) else []
        if any(int(n) > maximum for n in numbers):
            raise ConvlabError(
                f"{_spelling(name)} {written(value)} is too large for {command}: {why}, so every value "
                f"is at most {maximum}"
            )


def compact(value):
    """A per-dimension tuple whose values are all equal as one value, as a user would write it.

    >>> compact((3, 3)), compact((3, 5)), compact(((0, 1), (0, 1))), compact("same")
    (3, (3, 5), ((0, 1),), 'same')
    """
    if not isinstance(value, tuple) or len(set(value)) != 1:
        return value
    return value[:1] if isinstance(value[0], tuple) else value[0]


# How the user knows the other per-dimension arguments (unet's positional size is stored as `input`).
_SPELLINGS = {"input": "size", "crop": "--crop"}


def _spelling(name: str) -> str:
    return FLAGS.get(name) or _SPELLINGS.get(name, name)


def written(value) -> str:
    """A value as the user writes it on the command line.

    >>> written((24, 24)), written(((0, 1), (1, 0))), written(3)
    ('24x24', '0:1x1:0', '3')
    """
    if isinstance(value, tuple):
        return "x".join(f"{v[0]}:{v[1]}" if isinstance(v, tuple) else str(v) for v in value)
    return str(value)
