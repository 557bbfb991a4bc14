"""Which algorithm lowers the convolutions: a context variable and its context manager.

``"gemm"`` (the default) is exact: every output is a sum of products in the
dtype's arithmetic, as PyTorch's CPU kernels compute it. Other algorithms
(registered as rows of :data:`._strategies.STRATEGIES`) may trade rounding
for speed; where one does not apply (its kernel sizes, strides, dtypes), the
convolution runs by ``"gemm"``.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from .._args import ConvlabError, describe
from ._strategies import DEFAULT_ALGORITHM, algorithms

__all__ = ["algorithm", "current_algorithm", "resolve_algorithm"]

_ALGORITHM: contextvars.ContextVar[str] = contextvars.ContextVar(
    "convlab_algorithm", default=DEFAULT_ALGORITHM
)


def resolve_algorithm(name: object) -> str:
    """``name`` checked against the registered algorithms; ``None`` is the current context's."""
    if name is None:
        return _ALGORITHM.get()
    if not isinstance(name, str) or name not in algorithms():
        raise ConvlabError(
            f"algorithm must be one of {', '.join(map(repr, algorithms()))}, got algorithm={describe(name)}"
        )
    return name


def current_algorithm() -> str:
    """The algorithm convolutions use in this context (``"gemm"`` unless :func:`algorithm` says otherwise).

    Examples
    --------
    >>> current_algorithm()
    'gemm'
    """
    return _ALGORITHM.get()


@contextlib.contextmanager
def algorithm(name: str) -> Iterator[str]:
    """Context manager: convolutions in the block (this thread or task only) use algorithm ``name``.

    Parameters
    ----------
    name : str
        A registered algorithm: ``"gemm"`` (exact, the default) or
        ``"winograd"`` (F(4, 3), or F(6, 3) on 2-D layers with many tiles,
        for 3-tap, stride-1, dilation-1 float convolutions, within 1e-4 of
        the largest output (of 1 % of the largest sum of ``|w x|`` where
        every output cancels below that), where it pays:
        ``C_in*C_out/(C_in+C_out)`` per group at least 64 in 1-D, 24 in 2-D,
        12 in 3-D, measured; every other convolution, and an input holding
        inf or NaN, by ``"gemm"``). An unknown name raises ``ConvlabError``
        listing the registered ones.

    Examples
    --------
    >>> import numpy as np
    >>> from convlab.functional import conv1d
    >>> with algorithm("gemm"):
    ...     conv1d(np.ones((1, 1, 4)), np.ones((1, 1, 3)))
    array([[[3., 3.]]])
    """
    token = _ALGORITHM.set(resolve_algorithm(name))
    try:
        yield name
    finally:
        _ALGORITHM.reset(token)
