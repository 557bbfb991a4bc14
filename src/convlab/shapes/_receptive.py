"""Receptive fields of a chain of convolution, pooling and transposed-convolution layers."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from .._args import ConvlabError, describe, infer_ndim, padding_pairs, per_dim
from ._formulas import (
    _conv_1d,
    _conv_transpose_1d,
    _same_1d,
    pool_output_size,
)
from ._window import Window

KINDS = {
    "conv": "conv",
    "c": "conv",
    "pool": "pool",
    "p": "pool",
    "maxpool": "pool",
    "avgpool": "pool",
    "convt": "convtranspose",
    "convtranspose": "convtranspose",
    "t": "convtranspose",
    "up": "convtranspose",
}
_SPEC = re.compile(r"^([a-z]+?)(\d+)((?:[spd]\d+)*)$")


@dataclass(frozen=True)
class Layer:
    """A convolution-like layer, for :func:`receptive_field` (scalars or per-dim tuples).

    ``kind`` is ``'conv'``, ``'pool'`` or ``'convtranspose'``; ``stride=None``
    means ``kernel_size`` for pools and 1 otherwise, as in PyTorch.
    """

    kind: str
    kernel_size: int | tuple[int, ...]
    stride: int | tuple[int, ...] | None = None
    padding: object = 0
    dilation: int | tuple[int, ...] = 1
    output_padding: int | tuple[int, ...] = 0

    @classmethod
    def parse(cls, spec: str) -> Layer:
        """A layer from a compact spec: kind, kernel size, then ``s``/``p``/``d`` values.

        Kinds: ``conv`` (``c``), ``pool`` (``p``, ``maxpool``, ``avgpool``),
        ``convT`` (``t``, ``up``, ``convtranspose``). ``c3`` is a 3-wide
        convolution, ``c3s2p1`` one with stride 2 and padding 1, ``pool2`` a
        2×2 pool with stride 2, ``t2s2`` a transposed convolution.

        >>> Layer.parse("c3s2p1")
        Layer(kind='conv', kernel_size=3, stride=2, padding=1, dilation=1, output_padding=0)
        """
        match = _SPEC.match(spec.strip().lower()) if isinstance(spec, str) else None
        if match is None or match.group(1) not in KINDS:
            raise ConvlabError(
                f"layer spec must look like c3, c3s2p1, pool2 or t2s2 (kind {{conv, pool, convT}} "
                f"or {{c, p, t}}, kernel size, then s/p/d values), got {describe(spec)}"
            )
        kind, kernel, rest = KINDS[match.group(1)], int(match.group(2)), match.group(3)
        options = {key: int(value) for key, value in re.findall(r"([spd])(\d+)", rest)}
        return cls(kind, kernel, options.get("s"), options.get("p", 0), options.get("d", 1))

    def label(self) -> str:
        text = {"conv": "conv", "pool": "pool", "convtranspose": "convT"}[self.kind] + f" k{self.kernel_size}"
        if self.stride is not None:
            text += f" s{self.stride}"
        if self.padding != 0:
            text += f" p{self.padding}"
        if self.dilation != 1:
            text += f" d{self.dilation}"
        return text


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field after one layer, in pixels of the chain's input.

    Attributes
    ----------
    layer : Layer
    size : int or tuple
        Receptive field: the most input pixels, first to last, that one output
        pixel depends on (taking the hull; dilation leaves gaps inside).
    jump : Fraction or tuple
        Distance in input pixels between neighbouring outputs (the product of
        strides; transposed convolutions divide by theirs).
    start : int or tuple
        The first input pixel that output 0 depends on (negative: padding).
    output_size : int, tuple or None
        The layer's output size, when ``receptive_field`` was given an input size.
    """

    layer: Layer
    size: int | tuple[int, ...]
    jump: Fraction | tuple[Fraction, ...]
    start: int | tuple[int, ...]
    output_size: int | tuple[int, ...] | None = None

    def _repr_html_(self) -> str:
        """Jupyter's view (added by h8 for issue 15 item 5)."""
        from .._html import record

        fields = [("layer", self.layer), ("receptive field", self.size), ("jump", self.jump)]
        fields += [("start", self.start), ("output size", self.output_size)]
        return record("receptive field", fields)


LayerArg = Layer | str | Mapping[str, object]


def _as_layer(spec: LayerArg, index: int) -> Layer:
    if isinstance(spec, Layer):
        layer = spec
    elif isinstance(spec, str):
        layer = Layer.parse(spec)
    elif isinstance(spec, Mapping):
        try:
            layer = Layer(**spec)  # type: ignore[arg-type]
        except TypeError as err:
            raise TypeError(f"layers[{index}] has an unknown key: {err}") from None
    else:
        raise TypeError(f"layers[{index}] must be a Layer, a spec string or a dict, got {describe(spec)}")
    if layer.kind not in ("conv", "pool", "convtranspose"):
        raise ConvlabError(f"layers[{index}].kind must be conv, pool or convtranspose, got {layer.kind!r}")
    return layer


@dataclass(frozen=True)
class _Dim:
    """One layer in one dimension, canonical: its kind and its :class:`Window` (an unbounded line)."""

    kind: str
    window: Window

    @property
    def k(self) -> int:
        return self.window.kernel

    @property
    def s(self) -> int:
        return self.window.stride

    @property
    def lo(self) -> int:
        return self.window.lo

    @property
    def hi(self) -> int:
        return self.window.hi

    @property
    def d(self) -> int:
        return self.window.dilation

    @property
    def op(self) -> int:
        return self.window.output_padding


def _reads(layer: _Dim, o: int) -> list[int]:
    """The input indices that output ``o`` of one layer reads."""
    win = layer.window
    if layer.kind != "convtranspose":
        return [win.index(o, t) for t in range(layer.k)]
    # A transposed conv's input i reaches output win.index(i, t): invert the map.
    found = (win.window_of(o, t) for t in range(layer.k))
    return [i for i in found if i is not None]


def _through(layers: Sequence[_Dim], o: int) -> tuple[int, int] | None:
    """First and last input pixel that output ``o`` of the chain depends on."""
    # Sets, not intervals: dilation and transposed strides leave gaps, and an
    # interval hull would count pixels reached only through those gaps.
    current = {o}
    for layer in reversed(layers):
        current = {i for q in current for i in _reads(layer, q)}
        if not current:
            return None
    return min(current), max(current)


def _field_1d(layers: Sequence[_Dim]) -> tuple[int, Fraction, int]:
    jump = Fraction(1)
    for layer in layers:
        jump = jump / layer.s if layer.kind == "convtranspose" else jump * layer.s
    # Shifting the last output by the product of the transposed strides shifts
    # every intermediate interval by a whole number of pixels, so the field's
    # size is periodic with that period.
    period = math.prod(x.s for x in layers if x.kind == "convtranspose")
    spans = [_through(layers, o) for o in range(period)]
    size = max((b - a + 1 for a, b in filter(None, spans)), default=0)
    start = spans[0][0] if spans[0] else 0
    return size, jump, start


def _canonical_layer(layer: Layer, index: int, ndim: int, size: int | None, dim: int) -> _Dim:
    name = f"layers[{index}]"
    k = per_dim(layer.kernel_size, f"{name}.kernel_size", ndim, minimum=1)[dim]
    default_stride = layer.kernel_size if layer.kind == "pool" else 1
    s = per_dim(default_stride if layer.stride is None else layer.stride, f"{name}.stride", ndim, minimum=1)[
        dim
    ]
    d = per_dim(layer.dilation, f"{name}.dilation", ndim, minimum=1)[dim]
    op = per_dim(layer.output_padding, f"{name}.output_padding", ndim, minimum=0)[dim]
    pads = padding_pairs(layer.padding, ndim, f"{name}.padding")
    if pads == "same":
        if layer.kind != "conv":
            raise ConvlabError(f"{name}.padding='same' is defined for convolutions only")
        if size is None and s > 1:
            raise ConvlabError(f"{name}.padding='same' with stride {s} depends on the size: pass input_size")
        lo, hi = _same_1d(1 if size is None else size, k, s, d)
    else:
        lo, hi = pads[dim]
    return _Dim(layer.kind, Window(None, k, s, d, (lo, hi), op))


def _next_size(x: _Dim, n: int, index: int) -> int:
    try:
        if x.kind == "conv":
            return _checked(_conv_1d(n, x.k, x.s, x.lo, x.hi, x.d, 0))
        if x.kind == "pool":
            return _checked(pool_output_size(n, x.k, x.s, ((x.lo, x.hi),), x.d)[0])
        if x.op >= max(x.s, x.d):
            raise ConvlabError(f"output_padding must be smaller than max(stride, dilation), got {x.op}")
        return _checked(_conv_transpose_1d(n, x.k, x.s, x.lo, x.hi, x.op, x.d))
    except ConvlabError as err:
        raise ConvlabError(f"layers[{index}] does not fit an input of size {n}: {err}") from None


def _checked(n: int) -> int:
    if n < 1:
        raise ConvlabError(f"the output would have size {n}")
    return n


def receptive_field(
    layers: Iterable[LayerArg], input_size: int | Sequence[int] | None = None
) -> list[ReceptiveField]:
    """Receptive field, jump and start offset after each layer of a chain.

    Parameters
    ----------
    layers : iterable of Layer, str or dict
        Conv, pool and transposed-conv layers in order; strings use
        :meth:`Layer.parse`'s compact form (``"c3"``, ``"pool2"``, ``"t2s2"``).
    input_size : int or tuple of int, optional
        When given, each layer's output size is computed too (and
        ``padding='same'`` with stride > 1 can be resolved).

    Notes
    -----
    Exact, not the textbook recurrence ``r += (k-1)*jump``: each output
    pixel's input interval is traced back through every layer, which also
    covers transposed convolutions, whose outputs read different numbers of
    inputs by phase (the largest field is reported). Image borders are
    ignored: positions in the padding count as pixels.

    Examples
    --------
    >>> [(r.size, r.jump, r.start) for r in receptive_field(["c3", "c3", "pool2"])]
    [(3, Fraction(1, 1), 0), (5, Fraction(1, 1), 0), (6, Fraction(2, 1), 0)]
    >>> receptive_field(["c3s2p1", "t3s2p1"])[-1].size
    5
    """
    parsed = [_as_layer(spec, i) for i, spec in enumerate(layers)]
    if not parsed:
        raise ConvlabError("layers must hold at least one layer, got none")
    named = {
        f"layers[{i}].{f}": getattr(x, f)
        for i, x in enumerate(parsed)
        for f in ("kernel_size", "stride", "dilation", "output_padding")
    }
    named.update(
        {f"layers[{i}].padding": x.padding for i, x in enumerate(parsed) if not isinstance(x.padding, str)}
    )
    ndim_found = infer_ndim(input_size=input_size, **named)
    ndim, scalar = (1, True) if ndim_found is None else (ndim_found, False)
    sizes = None if input_size is None else per_dim(input_size, "input_size", ndim, minimum=1)
    per_dim_results = []
    for dim in range(ndim):
        n = None if sizes is None else sizes[dim]
        chain, rows = [], []
        for i, layer in enumerate(parsed):
            x = _canonical_layer(layer, i, ndim, n, dim)
            chain.append(x)
            n = None if n is None else _next_size(x, n, i)
            rows.append((*_field_1d(chain), n))
        per_dim_results.append(rows)
    return [
        ReceptiveField(layer, *(_pick([r[i][j] for r in per_dim_results], scalar) for j in range(4)))
        for i, layer in enumerate(parsed)
    ]


def _pick(values: list, scalar: bool):
    if values[0] is None:
        return None
    return values[0] if scalar else tuple(values)
