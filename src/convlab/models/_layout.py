"""``Layout``: what convlab needs to know of one U-Net project's checkpoints, as one record.

A layout says how its state_dict keys are recognised, how to build the
model from a state_dict (every hyper-parameter the keys and shapes tell),
and which hyper-parameters the weights cannot tell, with the values the
command line offers for them. :mod:`._registry` lists the layouts;
:func:`load_unet`, :func:`detect_layout` and ``convlab segment --layout``
read that list and nothing else.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._args import ConvlabError

__all__ = ["Layout", "LayoutOption", "count_keys", "need_key"]


def _unchanged(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class LayoutOption:
    """A hyper-parameter the weights cannot tell (it leaves no trace in the state_dict).

    ``choices`` are the values the command line offers (its ``--name`` flag);
    ``to_model`` turns one into the keyword the model class takes (e.g.
    jvanvugt's ``padding`` is a bool where convlab's is ``'valid'``/``'same'``).
    """

    name: str
    choices: tuple[str, ...]
    to_model: Callable[[Any], Any] = _unchanged


@dataclass(frozen=True)
class Layout:
    """One U-Net layout: its name, its key marker, its builder and its free hyper-parameters.

    Parameters
    ----------
    name : str
        ``load_unet(layout=name)`` and ``convlab segment --layout name``.
    marker : str
        A key prefix only this layout's state_dicts have (``'inc.double_conv.'``).
    build : callable ``(state, options) -> model``
        The model for a state_dict of plain NumPy arrays, its architecture
        read from the keys and shapes; ``options`` are keywords of the model
        class (``dtype``, the options below, overrides), to be applied over
        the inferred values.
    options : tuple of LayoutOption
        The hyper-parameters the weights cannot tell.
    """

    name: str
    marker: str
    build: Callable[[Mapping[str, np.ndarray], dict], Any]
    options: tuple[LayoutOption, ...] = field(default=())

    def model_options(self, values: Mapping[str, Any]) -> dict:
        """User values of this layout's options as the model class's keywords; others are refused.

        >>> from convlab.models._registry import layout
        >>> layout("jvanvugt").model_options({"padding": "same"})
        {'padding': True}
        """
        own = {o.name: o for o in self.options}
        alien = sorted(set(values) - set(own))
        if alien:
            raise ConvlabError(
                f"{self.name} weights fix or imply {', '.join(alien)}; leave them out of --config and flags"
            )
        return {name: own[name].to_model(value) for name, value in values.items()}


def count_keys(state: Mapping, pattern: str, start: int = 0) -> int:
    """How many of ``pattern.format(start)``, ``pattern.format(start + 1)``, ... are keys, in a row."""
    return next(i for i in itertools.count(start) if pattern.format(i) not in state) - start


def need_key(state: Mapping, key: str, layout: str) -> np.ndarray:
    """``state[key]``, a convolution weight, or an error naming the key every ``layout`` U-Net has.

    The architecture is read off these shapes, so a weight that is not
    ``(C_out, C_in, *kernel)`` with 1 to 3 spatial dimensions and no empty
    axis is refused here, before it can size a network.
    """
    if key not in state:
        raise ConvlabError(f"the state_dict has no {key!r}, which every {layout} U-Net has")
    weight = state[key]
    if not 3 <= weight.ndim <= 5 or 0 in weight.shape:
        raise ConvlabError(
            f"state_dict[{key!r}] must be a convolution weight (C_out, C_in, *kernel) with 1 to 3 "
            f"kernel dimensions and no empty axis, got shape {tuple(weight.shape)}"
        )
    return weight
