"""One tile's work, the same in this process and on a Dask worker: run the model, keep the core."""

from __future__ import annotations

import time

import numpy as np

from .._args import ConvlabError
from ._plan import Tile, TilePlan

__all__ = ["expected_output", "run_tile", "to_labels"]


def _forward(model: object, x: np.ndarray) -> np.ndarray:
    forward = getattr(model, "forward", None) or model
    if not callable(forward):
        raise TypeError(f"model must be callable or have forward(x), got {type(model).__name__}")
    return np.asarray(forward(x))


def to_labels(y: np.ndarray) -> np.ndarray:
    """Class indices of ``(classes, *spatial)`` logits: argmax, or ``logit > 0`` for one class."""
    # One class: a logit above 0 is a probability above 1/2 after the sigmoid.
    if y.shape[0] == 1:
        return (y[0] > 0).astype(np.uint8)
    return y.argmax(axis=0).astype(np.uint8 if y.shape[0] <= 256 else np.int32)


def expected_output(plan: TilePlan) -> tuple[int, ...]:
    """The spatial output size the contract promises for the plan's window."""
    return tuple(w - lo - hi for w, (lo, hi) in zip(plan.window, plan.margin))


def run_tile(model, window: np.ndarray, tile: Tile, expected: tuple[int, ...], labels: bool, dtype):
    """The kept core of one tile and the model's seconds: ``(block, seconds)``.

    ``window`` is ``(C, *window)``; ``expected`` the spatial output size the
    plan computed from the model's size contract.
    """
    start = time.perf_counter()
    y = _forward(model, np.ascontiguousarray(window, dtype=dtype)[np.newaxis])
    seconds = time.perf_counter() - start
    if y.ndim != len(expected) + 2 or y.shape[2:] != expected:
        raise ConvlabError(
            f"the model returned shape {y.shape} for a window of {window.shape[1:]}; its size contract "
            f"promises spatial size {expected}: does model.size_contract describe the model?"
        )
    core = y[(0, slice(None), *tile.keep)]
    return (to_labels(core) if labels else core), seconds
