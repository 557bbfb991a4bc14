"""The size formulas of convolution, transposed convolution and pooling.

Each public function takes a scalar or a per-dimension tuple (1 to 3 spatial
dimensions) for every size argument and returns an int when every argument is
a scalar, a tuple otherwise. Per-dimension work is done by the ``_*_1d``
helpers, which take canonical ints and never validate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .._args import ConvlabError, infer_ndim, padding_pairs, per_dim

Size = int | tuple[int, ...]
SizeArg = int | Sequence[int]
PaddingArg = int | str | Sequence[int | Sequence[int]]


def _dims(**named: object) -> tuple[int, bool]:
    """(ndim, scalar): ndim from the sequences among the arguments, 1 if none."""
    ndim = infer_ndim(**named)
    return (1, True) if ndim is None else (ndim, False)


def _out(values: tuple, scalar: bool):
    return values[0] if scalar else values


# ---------------------------------------------------------------- per dimension


def _effective(k: int, d: int) -> int:
    """Extent of a dilated kernel: d·(k−1)+1 input pixels from first to last tap."""
    return d * (k - 1) + 1


def _same_1d(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    # SAME_UPPER (TensorFlow, ONNX auto_pad): the output has ceil(n/s) pixels,
    # the padding needed for that is split with the odd pixel at the end.
    out = -(-n // s)
    total = max((out - 1) * s + _effective(k, d) - n, 0)
    return total // 2, total - total // 2


def _conv_1d(n: int, k: int, s: int, lo: int, hi: int, d: int, dim: int) -> int:
    # PyTorch Conv docs: floor((n + 2p − d·(k−1) − 1) / s) + 1, with 2p = lo + hi.
    padded = n + lo + hi
    if padded < _effective(k, d):
        raise ConvlabError(
            f"kernel_size is larger than the padded input in dimension {dim}: "
            f"dilated kernel d*(k-1)+1 = {d}*({k}-1)+1 = {_effective(k, d)} > "
            f"size + padding = {n} + {lo} + {hi} = {padded}"
        )
    return (padded - _effective(k, d)) // s + 1


def _conv_transpose_1d(n: int, k: int, s: int, lo: int, hi: int, op: int, d: int) -> int:
    # PyTorch ConvTranspose docs: (n − 1)·s − 2p + d·(k − 1) + output_padding + 1.
    return (n - 1) * s - lo - hi + d * (k - 1) + op + 1


def _pool_1d(n: int, k: int, s: int, lo: int, hi: int, d: int, ceil_mode: bool) -> int:
    # ATen Pool.h pooling_output_shape_pad_lr: with ceil_mode a last window may
    # hang over the end, but one that would start in the right padding is dropped.
    span = n + lo + hi - _effective(k, d) + (s - 1 if ceil_mode else 0)
    out = span // s + 1
    if ceil_mode and (out - 1) * s >= n + lo:
        out -= 1
    return out


# ---------------------------------------------------------------- canonical arguments


@dataclass(frozen=True)
class _Conv:
    """Canonical per-dimension arguments of a convolution-like layer."""

    size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    scalar: bool


def _canonical(size, kernel_size, stride, padding, dilation, *, same_ok: bool, **extra) -> _Conv:
    ndim, scalar = _dims(
        size=size, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation, **extra
    )
    n = per_dim(size, "size", ndim, minimum=1)
    k = per_dim(kernel_size, "kernel_size", ndim, minimum=1)
    s = per_dim(stride, "stride", ndim, minimum=1)
    d = per_dim(dilation, "dilation", ndim, minimum=1)
    pads = padding_pairs(padding, ndim)
    if pads == "same":
        if not same_ok:
            raise ConvlabError(
                "padding='same' is defined for convolutions only; pass integers "
                "(and output_padding) here, got padding='same'"
            )
        pads = tuple(_same_1d(*args) for args in zip(n, k, s, d))
    return _Conv(n, k, s, pads, d, scalar)  # type: ignore[arg-type]


def _output_padding(output_padding, c: _Conv) -> tuple[int, ...]:
    op = per_dim(output_padding, "output_padding", len(c.size), minimum=0)
    for i, (o, s, d) in enumerate(zip(op, c.stride, c.dilation)):
        if o >= max(s, d):
            raise ConvlabError(
                f"output_padding must be smaller than max(stride, dilation) = {max(s, d)} "
                f"in dimension {i}, got output_padding={output_padding!r}"
            )
    return op


# ---------------------------------------------------------------- public formulas


def conv_output_size(
    size: SizeArg,
    kernel_size: SizeArg,
    stride: SizeArg = 1,
    padding: PaddingArg = 0,
    dilation: SizeArg = 1,
) -> Size:
    """Spatial output size of a convolution (``torch.nn.Conv1d/2d/3d``).

    Parameters
    ----------
    size, kernel_size, stride, dilation : int or tuple of int
        Per spatial dimension, or one int for all of them.
    padding : int, tuple, ``'valid'`` or ``'same'``
        One int, one int per dimension, one ``(lo, hi)`` pair per dimension,
        ``'valid'`` (none) or ``'same'`` (output ``ceil(size / stride)``, the
        odd padding pixel at the end, for any stride).

    Returns
    -------
    int or tuple of int
        An int when every argument is a scalar, else one size per dimension.

    Notes
    -----
    ``out = floor((size + lo + hi - dilation*(kernel_size - 1) - 1) / stride) + 1``,
    the formula of PyTorch's ``Conv2d`` documentation with ``2*padding = lo + hi``.

    Examples
    --------
    >>> conv_output_size(24, 3, stride=2, padding=1)
    12
    >>> conv_output_size((572, 572), 3)
    (570, 570)
    >>> conv_output_size(7, 3, stride=2, padding="same")
    4
    """
    c = _canonical(size, kernel_size, stride, padding, dilation, same_ok=True)
    return _out(
        tuple(
            _conv_1d(n, k, s, lo, hi, d, i)
            for i, (n, k, s, (lo, hi), d) in enumerate(zip(c.size, c.kernel, c.stride, c.padding, c.dilation))
        ),
        c.scalar,
    )


def conv_transpose_output_size(
    size: SizeArg,
    kernel_size: SizeArg,
    stride: SizeArg = 1,
    padding: PaddingArg = 0,
    output_padding: SizeArg = 0,
    dilation: SizeArg = 1,
) -> Size:
    """Spatial output size of a transposed convolution (``torch.nn.ConvTranspose*d``).

    Notes
    -----
    ``out = (size - 1)*stride - lo - hi + dilation*(kernel_size - 1) + output_padding + 1``
    (PyTorch's ``ConvTranspose2d`` documentation, ``2*padding = lo + hi``).
    ``output_padding`` must be smaller than ``max(stride, dilation)``.

    Examples
    --------
    >>> conv_transpose_output_size(12, 3, stride=2, padding=1)
    23
    >>> conv_transpose_output_size(12, 3, stride=2, padding=1, output_padding=1)
    24
    """
    c = _canonical(size, kernel_size, stride, padding, dilation, same_ok=False, output_padding=output_padding)
    op = _output_padding(output_padding, c)
    sizes = tuple(
        _conv_transpose_1d(n, k, s, lo, hi, o, d)
        for n, k, s, (lo, hi), o, d in zip(c.size, c.kernel, c.stride, c.padding, op, c.dilation)
    )
    for i, out in enumerate(sizes):
        if out < 1:
            raise ConvlabError(
                f"padding is too large: the transposed convolution output would have size {out} "
                f"in dimension {i}, got padding={padding!r}"
            )
    return _out(sizes, c.scalar)


def pool_output_size(
    size: SizeArg,
    kernel_size: SizeArg,
    stride: SizeArg | None = None,
    padding: PaddingArg = 0,
    dilation: SizeArg = 1,
    ceil_mode: bool = False,
) -> Size:
    """Spatial output size of max or average pooling (``torch.nn.MaxPool2d`` and kin).

    ``stride`` defaults to ``kernel_size``, as in PyTorch. PyTorch's limits are
    enforced: padding at most ``kernel_size // 2``, output at least 1.

    Notes
    -----
    ``out = floor_or_ceil((size + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``;
    with ``ceil_mode`` a last window that would start inside the right padding
    is dropped (ATen ``pooling_output_shape``).

    Examples
    --------
    >>> pool_output_size(5, 2)
    2
    >>> pool_output_size(5, 2, ceil_mode=True)
    3
    >>> pool_output_size(6, 3, stride=2, padding=1, ceil_mode=True)
    4
    """
    if not isinstance(ceil_mode, bool):
        raise TypeError(f"ceil_mode must be a bool, got {type(ceil_mode).__name__} {ceil_mode!r}")
    c = _canonical(
        size, kernel_size, kernel_size if stride is None else stride, padding, dilation, same_ok=False
    )
    sizes = []
    for i, (n, k, s, (lo, hi), d) in enumerate(zip(c.size, c.kernel, c.stride, c.padding, c.dilation)):
        # ATen's pooling_output_shape allows padding up to half the *dilated*
        # kernel, but every max/avg pool kernel then checks pad <= k // 2 on
        # the undilated kernel, which is the limit users meet.
        if max(lo, hi) > k // 2:
            raise ConvlabError(
                f"padding must be at most half of kernel_size ({k} // 2 = {k // 2}) in dimension {i}, "
                f"as PyTorch requires, got padding={padding!r}"
            )
        out = _pool_1d(n, k, s, lo, hi, d, ceil_mode)
        if out < 1:
            raise ConvlabError(
                f"kernel_size is larger than the padded input in dimension {i}: pooling "
                f"{n} + {lo} + {hi} with a dilated window of {_effective(k, d)} leaves no output"
            )
        sizes.append(out)
    return _out(tuple(sizes), c.scalar)


def same_padding(
    size: SizeArg, kernel_size: SizeArg, stride: SizeArg = 1, dilation: SizeArg = 1
) -> tuple[int, int] | tuple[tuple[int, int], ...]:
    """The ``(lo, hi)`` padding of ``padding='same'`` (SAME_UPPER), for any stride.

    The output gets ``ceil(size / stride)`` pixels; the total padding that
    takes is split with the odd pixel at the end, as TensorFlow and ONNX's
    ``auto_pad='SAME_UPPER'`` do. At stride 1 this equals PyTorch's
    ``padding='same'``, which PyTorch refuses for stride > 1.

    Examples
    --------
    >>> same_padding(10, 4)
    (1, 2)
    >>> same_padding(7, 3, stride=2)
    (1, 1)
    >>> same_padding((8, 8), 3, stride=2)
    ((0, 1), (0, 1))
    """
    c = _canonical(size, kernel_size, stride, "same", dilation, same_ok=True)
    return _out(c.padding, c.scalar)


def conv_input_sizes(
    output_size: SizeArg,
    kernel_size: SizeArg,
    stride: SizeArg = 1,
    padding: PaddingArg = 0,
    dilation: SizeArg = 1,
) -> range | tuple[range, ...]:
    """Every input size that a convolution maps to ``output_size``: the inverse.

    Flooring makes the convolution many-to-one: up to ``stride`` input sizes
    give the same output. This is why a transposed convolution cannot know
    which one to restore, and why ``output_padding`` exists.

    Examples
    --------
    >>> conv_input_sizes(12, 3, stride=2, padding=1)
    range(23, 25)
    >>> conv_input_sizes(4, 3, stride=2, padding="same")
    range(7, 9)
    """
    ndim, scalar = _dims(
        output_size=output_size, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation
    )
    out = per_dim(output_size, "output_size", ndim, minimum=1)
    k = per_dim(kernel_size, "kernel_size", ndim, minimum=1)
    s = per_dim(stride, "stride", ndim, minimum=1)
    d = per_dim(dilation, "dilation", ndim, minimum=1)
    pads = padding_pairs(padding, ndim)
    if pads == "same":
        return _out(tuple(range((o - 1) * si + 1, o * si + 1) for o, si in zip(out, s)), scalar)
    ranges = []
    for o, ki, si, (lo, hi), di in zip(out, k, s, pads, d):
        first = (o - 1) * si + _effective(ki, di) - lo - hi
        ranges.append(range(max(first, 1), max(first + si, 1)))
    return _out(tuple(ranges), scalar)


def transpose_output_sizes(
    size: SizeArg,
    kernel_size: SizeArg,
    stride: SizeArg = 1,
    padding: PaddingArg = 0,
    dilation: SizeArg = 1,
) -> range | tuple[range, ...]:
    """Every output size a transposed convolution can reach, over all output_padding.

    ``output_padding`` runs from 0 to ``max(stride, dilation) - 1``, so the
    reachable sizes are that many consecutive integers.

    Examples
    --------
    >>> transpose_output_sizes(12, 3, stride=2, padding=1)
    range(23, 25)
    """
    c = _canonical(size, kernel_size, stride, padding, dilation, same_ok=False)
    ranges = []
    for i, (n, k, s, (lo, hi), d) in enumerate(zip(c.size, c.kernel, c.stride, c.padding, c.dilation)):
        base = _conv_transpose_1d(n, k, s, lo, hi, 0, d)
        reach = range(max(base, 1), base + max(s, d))
        if not reach:
            raise ConvlabError(
                f"padding is too large: no output_padding gives a positive size in dimension {i}, "
                f"got padding={padding!r}"
            )
        ranges.append(reach)
    return _out(tuple(ranges), c.scalar)


def output_padding_for(
    target: SizeArg,
    size: SizeArg,
    kernel_size: SizeArg,
    stride: SizeArg,
    padding: PaddingArg = 0,
    dilation: SizeArg = 1,
) -> Size:
    """The ``output_padding`` that makes a transposed convolution produce ``target``.

    What ``nn.ConvTranspose2d.forward(x, output_size=target)`` computes, over
    the whole range ``torch.nn.functional.conv_transpose2d`` accepts:
    ``0 <= output_padding < max(stride, dilation)``. (The module's
    ``output_size`` path stops at ``stride - 1``, narrower when
    ``dilation > stride``.) Raises ``ConvlabError`` naming the reachable
    sizes when none exists.

    Examples
    --------
    >>> output_padding_for(24, 12, 3, stride=2, padding=1)
    1
    >>> output_padding_for((24, 23), (12, 12), 3, stride=2, padding=1)
    (1, 0)
    """
    c = _canonical(size, kernel_size, stride, padding, dilation, same_ok=False, target=target)
    goal = per_dim(target, "target", len(c.size), minimum=1)
    result = []
    for i, (t, n, k, s, (lo, hi), d) in enumerate(
        zip(goal, c.size, c.kernel, c.stride, c.padding, c.dilation)
    ):
        base = _conv_transpose_1d(n, k, s, lo, hi, 0, d)
        top = base + max(s, d) - 1
        if not base <= t <= top:
            raise ConvlabError(
                f"target size {t} is not reachable in dimension {i}: a transposed convolution of "
                f"size {n} with kernel_size={k}, stride={s}, padding=({lo}, {hi}), dilation={d} "
                f"gives {base}..{top} (output_padding 0..{max(s, d) - 1}), got target={target!r}"
            )
        result.append(t - base)
    return _out(tuple(result), c.scalar)
