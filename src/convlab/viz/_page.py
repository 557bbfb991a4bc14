"""The interactive page: one self-contained HTML file that redoes convlab's arithmetic live.

The page's JavaScript re-expresses :mod:`convlab.shapes` (formulas, 'same',
pooling limits and ceil_mode) and the command line's parsing. Its error
messages are not copies: at write time every message convlab can give for a
layer is provoked here with sentinel numbers, and the numbers are turned into
``{placeholders}`` that the page fills. A changed wording in convlab reaches
the page the next time it is written.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from .. import shapes
from .._args import ConvlabError, as_int
from ._files import write_atomic

OPS = ("conv", "convtranspose", "pool")
MAX_PAGE_BYTES = 1_000_000
_SCRIPTS = ("arith.js", "draw.js", "torch.js", "page.js")


def _probes() -> dict[str, tuple[Callable[[], object], dict[str, str]]]:
    """Calls that raise each message, and which sentinel text becomes which placeholder."""
    from ..cli._parse import padding_arg, size_arg
    from ..nn import Conv2d

    conv, convt, pool = shapes.conv_output_size, shapes.conv_transpose_output_size, shapes.pool_output_size
    lohi = (0, (7003, 7005))
    return {
        "bound_positive": (lambda: conv((7001, 0), 3), {"(7001, 0)": "got", "size": "name"}),
        "bound_nonneg": (
            lambda: convt((5, 5), 3, output_padding=(7001, -1)),
            {"(7001, -1)": "got", "output_padding": "name"},
        ),
        "pad_negative": (lambda: conv((5, 5), 3, padding=(7001, -7003)), {"(7001, -7003)": "padding"}),
        "conv_kernel": (
            lambda: conv((50, 7001), (1, 9001), 1, lohi, (1, 37)),
            {
                "7001": "n",
                "9001": "k",
                "37": "d",
                "7003": "lo",
                "7005": "hi",
                "333001": "eff",
                "21009": "padded",
            },
        ),
        "same_refused": (lambda: convt((5, 5), 3, padding="same"), {}),
        "output_padding": (
            lambda: convt((5, 5), 1, stride=(1, 7001), output_padding=(0, 8001)),
            {"(0, 8001)": "output_padding", "7001": "max"},
        ),
        "transpose_pad": (lambda: convt((5, 2), 1, padding=lohi), {repr(lohi): "padding", "-14006": "out"}),
        "pool_pad": (
            lambda: pool((50, 9), (1, 9001), 1, (0, (7003, 4501))),
            {"(0, (7003, 4501))": "padding", "9001": "k", "4500": "half"},
        ),
        "pool_empty": (
            lambda: pool((50, 7001), (1, 90001), 1, lohi),
            {"7001": "n", "7003": "lo", "7005": "hi", "90001": "eff"},
        ),
        "groups_divide": (
            lambda: Conv2d(7001, 7003, 1, groups=9001),
            {"in_channels": "name", "7001": "channels", "9001": "groups"},
        ),
        "parse_sizes": (lambda: size_arg("7001q"), {"'7001q'": "text"}),
        "parse_padding": (lambda: padding_arg("7001q"), {"'7001q'": "text"}),
    }


def _template(key: str, message: str, names: dict[str, str]) -> str:
    """``message`` with each sentinel replaced by ``{name}``; the dimension index too."""
    text = message
    for sentinel, name in sorted(names.items(), key=lambda item: -len(item[0])):
        pattern = (
            rf"(?<![\w\-]){re.escape(sentinel)}(?![\w])" if sentinel[-1].isalnum() else re.escape(sentinel)
        )
        text, count = re.subn(pattern, "{" + name + "}", text)
        if count == 0:
            raise RuntimeError(f"page message {key}: {sentinel!r} is not in convlab's message {message!r}")
    # Every probe fails in dimension 1 (the second) so the index is unambiguous.
    return text.replace("in dimension 1", "in dimension {dim}")


def message_templates() -> dict[str, str]:
    """Every message the page can show, as templates made from convlab's own messages.

    Examples
    --------
    >>> message_templates()["same_refused"][:47]
    "padding='same' is defined for convolutions only"
    >>> message_templates()["output_padding"].endswith("got output_padding={output_padding}")
    True
    """
    templates = {}
    for key, (call, names) in _probes().items():
        try:
            call()
        except (ConvlabError, argparse.ArgumentTypeError) as err:
            templates[key] = _template(key, str(err), names)
        else:
            raise RuntimeError(f"page message {key}: the probe no longer raises")
    return templates


def _text(value: object) -> str:
    """A value as the command line writes it: ``5``, ``5x7``, ``0:1x1:1``, ``same``."""
    if value is None:
        return ""
    if isinstance(value, (tuple, list)):
        return "x".join(f"{v[0]}:{v[1]}" if isinstance(v, (tuple, list)) else str(v) for v in value)
    return str(value)


def _two_d(params: dict) -> dict:
    """A bare size means HxW, one lo:hi pair both dimensions (as on the page); 3-D is refused."""
    params = dict(params)
    for name in ("size", "kernel_size", "stride", "padding", "dilation", "output_padding"):
        value = params[name]
        if isinstance(value, (tuple, list)) and len(value) > 2:
            raise ConvlabError(
                f"the page draws 2-D layers: {name} takes one value or two, got {name}={tuple(value)!r}"
            )
    if not isinstance(params["size"], (tuple, list)):
        params["size"] = (params["size"],) * 2
    padding = params["padding"]
    if isinstance(padding, (tuple, list)) and len(padding) == 1:
        params["padding"] = (padding[0],) * 2
    return params


def _check_layer(params: dict, messages: dict[str, str]) -> None:
    """Refuse what the page would show as an error, with the message the page would show."""
    op = params["op"]
    if op not in OPS:
        raise ConvlabError(f"op must be one of {', '.join(OPS)}, got op={op!r}")
    channels = as_int(params["channels"], "in_channels", minimum=1)
    if op != "pool":
        out_channels = as_int(params["out_channels"], "out_channels", minimum=1)
        groups = as_int(params["groups"], "groups", minimum=1)
        for name, c in (("in_channels", channels), ("out_channels", out_channels)):
            if c % groups:
                raise ConvlabError(messages["groups_divide"].format(name=name, channels=c, groups=groups))
    layer = (params["size"], params["kernel_size"])
    stride, padding, dilation = params["stride"], params["padding"], params["dilation"]
    if op == "conv":
        shapes.conv_output_size(*layer, 1 if stride is None else stride, padding, dilation)
    elif op == "convtranspose":
        out_pad = params["output_padding"]
        shapes.conv_transpose_output_size(*layer, 1 if stride is None else stride, padding, out_pad, dilation)
    else:
        shapes.pool_output_size(*layer, stride, padding, dilation, params["ceil_mode"])


def page_html(
    op: str = "conv",
    size=5,
    kernel_size=3,
    stride=None,
    padding=0,
    dilation=1,
    output_padding=0,
    *,
    channels: int = 1,
    out_channels: int | None = None,
    groups: int = 1,
    ceil_mode: bool = False,
    view: str = "scatter",
) -> str:
    """The interactive page as one HTML string, opening on the given layer.

    Parameters
    ----------
    op : {'conv', 'convtranspose', 'pool'}
    size, kernel_size, stride, dilation, output_padding : int or tuple of 2 ints
        ``stride=None`` means 1, or ``kernel_size`` for pooling (PyTorch's rule).
    padding : int, tuple, ``(lo, hi)`` pairs, ``'same'`` or ``'valid'``
    channels, out_channels, groups : int
        ``out_channels`` defaults to ``channels``.
    ceil_mode : bool
        Pooling only.
    view : {'scatter', 'zero-insertion'}
        The first view of a transposed convolution.

    Returns
    -------
    str
        A self-contained page (no network access) that reads its parameters
        from the URL query (``?op=conv&size=5x5&k=3&s=2&p=1``) over these
        defaults.

    Examples
    --------
    >>> html = page_html("convtranspose", 5, 3, stride=2, padding=1, output_padding=1)
    >>> html.startswith("<!DOCTYPE html>") and 'id="output-size"' in html
    True
    """
    if view not in ("scatter", "zero-insertion"):
        raise ConvlabError(f"view must be 'scatter' or 'zero-insertion', got view={view!r}")
    params = _two_d(dict(locals()))
    params["out_channels"] = channels if out_channels is None else out_channels
    messages = message_templates()
    _check_layer(params, messages)
    defaults = {
        "op": op,
        **{key: _text(params[name]) for key, name in _QUERY.items()},
        "ceil_mode": bool(ceil_mode),
        "view": "zero" if view == "zero-insertion" else "scatter",
    }
    base = {**defaults, "op": "conv", "s": "", "p": "0", "d": "1", "output_padding": "0", "groups": "1"}
    base.update({"channels": "1", "out_channels": "", "ceil_mode": False, "view": "scatter"})
    data = json.dumps({"messages": messages, "defaults": defaults, "base": base}).replace("</", "<\\u002f")
    return _assemble(data)


_QUERY = {
    "size": "size",
    "k": "kernel_size",
    "s": "stride",
    "p": "padding",
    "d": "dilation",
    "output_padding": "output_padding",
    "groups": "groups",
    "channels": "channels",
    "out_channels": "out_channels",
}


def _assemble(data: str) -> str:
    from .. import __version__

    folder = resources.files("convlab.viz") / "page"
    script = "\n".join((folder / name).read_text(encoding="utf-8") for name in _SCRIPTS)
    html = (folder / "page.html").read_text(encoding="utf-8")
    for marker, text in (
        ("/*STYLE*/", (folder / "page.css").read_text(encoding="utf-8")),
        ("/*DATA*/", data),
        ("/*VERSION*/", __version__),
        ("/*SCRIPT*/", re.sub("</(script)", r"<\\/\1", script, flags=re.IGNORECASE)),
    ):
        html = html.replace(marker, text, 1)
    return html


def write_page(
    output: str | os.PathLike,
    op: str = "conv",
    size=5,
    kernel_size=3,
    stride=None,
    padding=0,
    dilation=1,
    output_padding=0,
    **options,
) -> Path:
    """Write :func:`page_html` to ``output`` (``.html``), atomically; returns the path.

    The arguments are those of :func:`page_html`; a layer convlab refuses is
    refused here too, with the message the page would show.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = write_page(pathlib.Path(tempfile.mkdtemp()) / "conv.html", "conv", (5, 5), 3, stride=2)
    >>> path.stat().st_size < 1_000_000
    True
    """
    target = Path(output)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ConvlabError(f"output must end in .html, got output={str(output)!r}")
    if not target.parent.is_dir():
        raise ConvlabError(f"output directory does not exist: {str(target.parent)!r}")
    html = page_html(op, size, kernel_size, stride, padding, dilation, output_padding, **options)
    write_atomic(target, html.encode("utf-8"))
    return target
