"""Running layers one after another, with the fusions that change no value.

A convolution followed by a ``ReLU`` applies the bias and the ReLU to each
block of its output as it stores it (:meth:`Conv2d.forward_relu`); a
BatchNorm whose input is a convolution's fresh output normalises it in
place, with a following ``ReLU`` applied to each block while it is in
cache. A plain ``Identity`` (what :func:`fold_batch_norm` leaves of a folded
BatchNorm) is skipped, so the layers around it fuse. Each fusion saves whole
passes over an activation (and, in place, an activation's allocation) and
gives the same values bit for bit as the layers run one by one, which the
tests check against torch and against the unfused chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._conv import Conv1d, Conv2d, Conv3d
from ._layers import BatchNorm1d, BatchNorm2d, BatchNorm3d, Identity, ReLU
from ._module import Module

__all__ = ["run_chain"]

# Exact types only, with their class's forward: anything else runs as written (see _plain).
_CONVS = (Conv1d, Conv2d, Conv3d)
_NORMS = (BatchNorm1d, BatchNorm2d, BatchNorm3d)


def run_chain(modules: Iterable[Module], x: Any) -> Any:
    """``x`` through ``modules`` in order, as ``for m in modules: x = m(x)``, fusing where exact.

    Parameters
    ----------
    modules : iterable of Module
    x : array_like
        The first module's input; it is never written (only arrays the chain
        itself produced are reused in place).

    Returns
    -------
    The last module's output.

    Examples
    --------
    >>> import numpy as np
    >>> from convlab.nn import Conv2d, ReLU
    >>> conv, x = Conv2d(1, 2, 3), np.ones((1, 1, 5, 5), np.float32)
    >>> np.array_equal(run_chain([conv, ReLU()], x), ReLU()(conv(x)))
    True
    """
    # A plain Identity returns its input: dropping it lets the layers around it
    # fuse (fold_batch_norm leaves Conv -> Identity -> ReLU behind).
    chain = [m for m in modules if not _plain(m, (Identity,))]
    fresh, i = False, 0
    while i < len(chain):
        module = chain[i]
        relu = i + 1 < len(chain) and _plain(chain[i + 1], (ReLU,))
        if _plain(module, _CONVS):
            x, fresh = module.forward_relu(x, relu=relu), True
        elif _plain(module, _NORMS):
            x, fresh = module.forward_relu(x, relu=relu, inplace=fresh), True
        else:
            x, fresh, relu = module(x), False, False
        i += 2 if relu else 1
    return x


def _plain(module: Module, types: tuple[type, ...]) -> bool:
    """Whether ``module`` is exactly one of ``types`` and runs its class's own ``forward``.

    A subclass, or an instance whose ``forward`` was replaced (the golden
    vectors' recorder wraps it to see every layer's input and output), must
    be called as it is, unfused.
    """
    return type(module) in types and "forward" not in module.__dict__
