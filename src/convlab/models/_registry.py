"""The registry of U-Net layouts: one :class:`Layout` per project whose checkpoints convlab loads.

A new layout is one module (its model class on :class:`UNetBase` with a
``_plan``, and its ``LAYOUT`` record) and one line below. Order matters
only for :func:`detect_layout`: the first layout whose marker prefixes a key wins.
"""

from __future__ import annotations

from .._args import ConvlabError
from . import _jvanvugt, _milesial, _unet
from ._layout import Layout

__all__ = ["LAYOUTS", "REGISTRY", "layout", "option_choices"]

REGISTRY: dict[str, Layout] = {
    entry.name: entry
    for entry in (
        _unet.LAYOUT,
        _milesial.LAYOUT,
        _jvanvugt.LAYOUT,
    )
}

LAYOUTS = tuple(REGISTRY)


def layout(name: str) -> Layout:
    """The registered layout ``name``; an error lists the names.

    >>> layout("milesial").marker
    'inc.double_conv.'
    """
    if name not in REGISTRY:
        raise ConvlabError(f"layout must be 'auto' or one of {', '.join(map(repr, REGISTRY))}, got {name!r}")
    return REGISTRY[name]


def option_choices() -> dict[str, tuple[str, ...]]:
    """Every layout option's name and the union of its choices, for the command line.

    >>> option_choices()
    {'padding': ('valid', 'same'), 'pooling': ('max', 'avg')}
    """
    merged: dict[str, tuple[str, ...]] = {}
    for entry in REGISTRY.values():
        for option in entry.options:
            known = merged.get(option.name, ())
            merged[option.name] = known + tuple(c for c in option.choices if c not in known)
    return merged
