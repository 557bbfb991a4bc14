"""The size formulas written out with every term, for people to read."""

from __future__ import annotations

from .._args import ConvlabError, describe, per_dim
from ._formulas import (
    PaddingArg,
    SizeArg,
    _canonical,
    _conv_transpose_1d,
    _effective,
    _pool_1d,
    conv_output_size,
    conv_transpose_output_size,
    pool_output_size,
)


def size_working(
    op: str,
    size: SizeArg,
    kernel_size: SizeArg,
    stride: SizeArg | None = None,
    padding: PaddingArg = 0,
    dilation: SizeArg = 1,
    output_padding: SizeArg = 0,
    ceil_mode: bool = False,
) -> tuple[str, ...]:
    """The formula of ``op`` with every term filled in, one line per dimension.

    ``op`` is ``'conv'``, ``'convtranspose'`` or ``'pool'``; ``stride=None``
    means ``kernel_size`` for pools and 1 otherwise. The result of each
    line equals what :func:`conv_output_size`, :func:`conv_transpose_output_size`
    and :func:`pool_output_size` return (they are called to validate first).

    Examples
    --------
    >>> print(size_working("conv", 24, 3, stride=2, padding=1)[0])
    floor((24 + 1 + 1 - 1*(3-1) - 1) / 2) + 1 = floor(23 / 2) + 1 = 11 + 1 = 12
    """
    if not isinstance(op, str):
        raise TypeError(
            f"op must be 'conv', 'convtranspose' or 'pool', got {type(op).__name__} {describe(op)}"
        )
    if stride is None:
        stride = kernel_size if op == "pool" else 1
    if op == "conv":
        conv_output_size(size, kernel_size, stride, padding, dilation)
    elif op == "convtranspose":
        conv_transpose_output_size(size, kernel_size, stride, padding, output_padding, dilation)
    elif op == "pool":
        pool_output_size(size, kernel_size, stride, padding, dilation, ceil_mode)
    else:
        raise ConvlabError(f"op must be 'conv', 'convtranspose' or 'pool', got op={op!r}")
    c = _canonical(size, kernel_size, stride, padding, dilation, same_ok=True, output_padding=output_padding)
    ops = per_dim(output_padding, "output_padding", len(c.size))
    lines = []
    for n, k, s, (lo, hi), d, o in zip(c.size, c.kernel, c.stride, c.padding, c.dilation, ops):
        if op == "convtranspose":
            value = _conv_transpose_1d(n, k, s, lo, hi, o, d)
            lines.append(
                f"({n} - 1)*{s} - {lo} - {hi} + {d}*({k}-1) + {o} + 1 = "
                f"{(n - 1) * s} - {lo + hi} + {d * (k - 1)} + {o} + 1 = {value}"
            )
            continue
        top = n + lo + hi - _effective(k, d)
        if op == "pool" and ceil_mode:
            value = _pool_1d(n, k, s, lo, hi, d, True)
            line = (
                f"ceil(({n} + {lo} + {hi} - {d}*({k}-1) - 1) / {s}) + 1 = ceil({top} / {s}) + 1 = "
                f"{-(-top // s)} + 1 = {-(-top // s) + 1}"
            )
            if value != -(-top // s) + 1:
                line += f", minus the last window that would start in the right padding = {value}"
            lines.append(line)
            continue
        lines.append(
            f"floor(({n} + {lo} + {hi} - {d}*({k}-1) - 1) / {s}) + 1 = floor({top} / {s}) + 1 = "
            f"{top // s} + 1 = {top // s + 1}"
        )
    return tuple(lines)
