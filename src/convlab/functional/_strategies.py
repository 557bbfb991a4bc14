"""The table of convolution lowering strategies and the chooser that picks one per call.

Each row names a strategy, the ``algorithm`` it belongs to (what
:func:`convlab.functional.algorithm` selects), when it applies and the
workspace it needs. :func:`choose` takes the first row of the selected
algorithm that applies and whose workspace fits the limit; when none does
(an algorithm such as Winograd covers only some kernels) the ``"gemm"`` rows
run, whose last row, ``im2col``, applies to everything.

Adding a strategy (depthwise, Winograd, integer accumulation) is one module
with three functions of a :class:`~._conv_args.ConvArgs` and one row here:

- ``applies(args) -> bool``: shapes, strides, dtypes (``args.policy``) it handles;
- ``workspace(args) -> int``: the fewest bytes of temporaries it needs beyond
  input and output (compared with :func:`get_workspace_limit`);
- ``run(args) -> ndarray``: the ``(N, C_out, *args.out_shape)`` result in
  ``args.policy.accumulate`` (the bias is added and the policy applied after);
- optionally ``run_fused(args, epilogue) -> ndarray``: the same with an
  :class:`~._epilogue.Epilogue` (bias, ReLU) applied to each block as it is
  stored, bit for bit what ``run`` followed by the epilogue gives.

Rows are tried in order, so a specialised strategy goes before the general
ones of its algorithm. A new algorithm name is registered by its first row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import _direct, _im2col, _wide, _winograd
from ._conv_args import ConvArgs
from ._epilogue import Epilogue
from ._workspace import get_workspace_limit

__all__ = ["DEFAULT_ALGORITHM", "STRATEGIES", "Strategy", "algorithms", "choose"]

DEFAULT_ALGORITHM = "gemm"


@dataclass(frozen=True)
class Strategy:
    """One way to compute a convolution: when it applies, what it needs, how it runs."""

    name: str
    algorithm: str
    applies: Callable[[ConvArgs], bool]
    workspace: Callable[[ConvArgs], int]
    run: Callable[[ConvArgs], np.ndarray]
    run_fused: Callable[[ConvArgs, Epilogue], np.ndarray] | None = None


def _winograd_or_gemm(args: ConvArgs, epilogue: Epilogue | None = None) -> np.ndarray:
    """Winograd's result, or the exact GEMM rows' when it held an inf or NaN (see _winograd.run)."""
    out = _winograd.run(args, epilogue)
    if out is not None:
        return out
    exact = choose(args, DEFAULT_ALGORITHM)  # every "gemm" row fuses epilogues
    return exact.run(args) if epilogue is None else exact.run_fused(args, epilogue)


STRATEGIES: tuple[Strategy, ...] = (
    Strategy(
        "winograd", "winograd", _winograd.applies, _winograd.workspace, _winograd_or_gemm, _winograd_or_gemm
    ),
    Strategy("direct", "gemm", _direct.applies, _direct.workspace, _direct.run, _direct.run_fused),
    Strategy("wide", "gemm", _wide.applies, _wide.workspace, _wide.run, _wide.run_fused),
    Strategy("im2col", "gemm", _im2col.applies, _im2col.workspace, _im2col.run, _im2col.run_fused),
)


def algorithms() -> tuple[str, ...]:
    """The registered algorithm names, in table order."""
    return tuple(dict.fromkeys(row.algorithm for row in STRATEGIES))


def choose(args: ConvArgs, algorithm: str = DEFAULT_ALGORITHM) -> Strategy:
    """The strategy that computes ``args``: the first row of ``algorithm`` that applies and fits."""
    limit = get_workspace_limit()
    for wanted in dict.fromkeys((algorithm, DEFAULT_ALGORITHM)):
        for row in STRATEGIES:
            if row.algorithm == wanted and row.applies(args) and row.workspace(args) <= limit:
                return row
    # im2col's one column is granted even above the limit (see set_workspace_limit).
    return STRATEGIES[-1]
