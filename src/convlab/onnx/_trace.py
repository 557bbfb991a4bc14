"""Shape-only pass over an ONNX graph, and receptive fields through skips, merges and up-sampling.

The shape pass carries :class:`Meta` records (shape and dtype) for tensors
whose values need arithmetic, and real arrays for small integer tensors
(shapes, constants) whose values later nodes read.

Receptive fields are exact index sets, as :func:`convlab.shapes.receptive_field`
computes them for chains: each spatial operator maps an output index to the
input indices it reads (its "window"); the set of graph-input pixels behind
output ``o`` of a tensor is the union over every path back to the input.
Positions in padding count as pixels (negative or past the end), so the sets
also say which outputs the image's border can reach.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .._args import ConvlabError
from .._limits import check_memory
from ._registry import OPS, Meta, shape_of

__all__ = ["OnnxTraceRow", "Spatial", "shape_pass", "trace_rows"]

# Tensors up to this many elements are evaluated (not only shaped) by the trace.
SMALL = 4096


@dataclass(frozen=True)
class OnnxTraceRow:
    """One node of a traced graph; no activation is computed to make it.

    Attributes
    ----------
    name, op : str
        The node's name and op type.
    outputs : tuple of str
    output_shapes : tuple of tuple of int
    parameters : int
        Elements of the node's initializer inputs (weights, biases, statistics).
    flops : int
        ``2 * multiply-accumulates`` of convolutions, transposed convolutions,
        Gemm/MatMul and batch normalisation; other operators count 0.
    receptive_field, jump, start : tuple or None
        Per spatial dimension of the first output, in pixels of the graph's
        (first spatial) input: the most pixels one output pixel depends on
        (first to last), the distance between neighbouring outputs' fields,
        and the first pixel behind output 0 (negative: padding). ``None`` when
        the output has no spatial layout (after Flatten, Gemm...).
    """

    name: str
    op: str
    outputs: tuple[str, ...]
    output_shapes: tuple[tuple[int, ...], ...]
    parameters: int
    flops: int
    receptive_field: tuple[int, ...] | None = None
    jump: tuple[Fraction, ...] | None = None
    start: tuple[int, ...] | None = None


def _node_values(node, ins):
    spec = OPS[(node.domain, node.op_type)]
    outs = spec.shape(node, ins)
    small = all(not isinstance(v, Meta) for v in ins) and all(
        not isinstance(o, Meta) or math.prod(o.shape) <= SMALL for o in outs
    )
    if small and any(isinstance(o, Meta) for o in outs):
        outs = spec.run(node, [None if v is None else np.asarray(v) for v in ins])
    return tuple(outs)


def shape_pass(graph, input_shapes: dict[str, tuple[int, ...]]) -> tuple[dict, list]:
    """Values (Meta or small arrays) of every tensor, and per node its inputs and outputs."""
    values: dict[str, object] = dict(graph.initializers)
    for info in graph.inputs:
        values[info.name] = Meta(tuple(input_shapes[info.name]), info.dtype)
    steps = []
    for node in graph.nodes:
        ins = [values[n] if n else None for n in node.inputs]
        try:
            outs = _node_values(node, ins)
        except (ConvlabError, TypeError) as err:
            shapes = [None if v is None else shape_of(v) for v in ins]
            raise ConvlabError(f"{node.label()} (inputs of shapes {shapes}): {err}") from None
        for name, value in zip(node.outputs, outs):
            if name:
                values[name] = value
            if isinstance(value, Meta):
                # A declared or traced shape the run could not allocate is refused now.
                check_memory(math.prod(value.shape) * value.dtype.itemsize, f"{node.label()} output {name!r}")
        steps.append((node, ins, outs))
    return values, steps


class Spatial:
    """The index maps of a traced graph and the exact pixel sets behind each output pixel."""

    def __init__(self, graph, values, steps, source: str):
        self.source, self.values = source, values
        self.maps: dict[str, list] = {}
        self.jump: dict[str, tuple[Fraction, ...]] = {}
        self.period: dict[str, tuple[int, ...]] = {}
        rank = len(shape_of(values[source]))
        self.ndim = rank - 2
        self.jump[source], self.period[source] = (Fraction(1),) * self.ndim, (1,) * self.ndim
        for node, ins, outs in steps:
            self._add(node, ins, outs, rank)
        self._memo: dict = {}

    def _add(self, node, ins, outs, rank):
        window = OPS[(node.domain, node.op_type)].window
        result = window if window in (None, "pointwise") else window(node, ins, outs)
        per_output = result if isinstance(result, list) else [result] * len(node.outputs)
        for name, out, maps in zip(node.outputs, outs, per_output):
            if not name or maps is None or len(shape_of(out)) != rank:
                continue
            if maps == "pointwise":
                maps = {i: self._pointwise(ins[i], out) for i, n in enumerate(node.inputs) if n in self.jump}
            sources = [(node.inputs[i], m) for i, m in maps.items() if node.inputs[i] in self.jump]
            if not sources:
                continue
            self.maps[name] = sources
            first, m = sources[0]
            self.jump[name] = tuple(j * getattr(f, "jump", 1) for j, f in zip(self.jump[first], m))
            self.period[name] = tuple(
                min(
                    max(
                        math.lcm(*(self.period[s][d] for s, _ in sources))
                        * Fraction(getattr(m[d], "jump", 1)).denominator,
                        1,
                    ),
                    shape_of(out)[d + 2],
                )
                for d in range(self.ndim)
            )

    def _pointwise(self, value, out):
        shape = shape_of(value)
        if len(shape) != len(shape_of(out)):
            return None
        return [
            (lambda o: [0]) if n == 1 and m != 1 else (lambda o: [o])
            for n, m in zip(shape[2:], shape_of(out)[2:])
        ]

    def pixels(self, tensor: str, dim: int, o: int) -> frozenset:
        """The graph-input pixels (along ``dim``) behind output ``o`` of ``tensor``."""
        old = sys.getrecursionlimit()
        # One Python frame per node on the longest path back to the input.
        sys.setrecursionlimit(max(old, 4 * len(self.maps) + 1000))
        try:
            return self._pixels(tensor, dim, o)
        finally:
            sys.setrecursionlimit(old)

    def _pixels(self, tensor: str, dim: int, o: int) -> frozenset:
        if tensor == self.source:
            return frozenset((o,))
        key = (tensor, dim, o)
        found = self._memo.get(key)
        if found is None:
            found = frozenset().union(
                *(
                    self._pixels(src, dim, i)
                    for src, m in self.maps[tensor]
                    if m is not None
                    for i in m[dim](o)
                )
            )
            self._memo[key] = found
        return found

    def field(self, tensor: str) -> tuple[tuple[int, ...], tuple[Fraction, ...], tuple[int, ...]] | None:
        """(receptive field, jump, start) per dimension, or None for a non-spatial tensor."""
        if tensor not in self.jump:
            return None
        sizes, starts = [], []
        for d in range(self.ndim):
            spans = [self.pixels(tensor, d, o) for o in range(self.period[tensor][d])]
            sizes.append(max((max(s) - min(s) + 1 for s in spans if s), default=0))
            starts.append(min(spans[0]) if spans[0] else 0)
        return tuple(sizes), self.jump[tensor], tuple(starts)


def trace_rows(graph, input_shapes: dict[str, tuple[int, ...]], receptive: bool = True) -> list[OnnxTraceRow]:
    """The rows of :meth:`OnnxModel.trace`."""
    values, steps = shape_pass(graph, input_shapes)
    spatial = None
    sources = [i.name for i in graph.inputs if len(input_shapes[i.name]) in (3, 4, 5)]
    if receptive and sources:
        spatial = Spatial(graph, values, steps, sources[0])
    rows = []
    for node, ins, outs in steps:
        spec = OPS[(node.domain, node.op_type)]
        in_shapes = [None if v is None else shape_of(v) for v in ins]
        out_shapes = tuple(shape_of(v) for v in outs)
        params = sum(
            graph.initializers[n].size
            for n in node.inputs
            if n in graph.initializers and graph.initializers[n].dtype.kind == "f"
        )
        flops = int(spec.flops(node, in_shapes, out_shapes)) if spec.flops else 0
        field = spatial.field(node.outputs[0]) if spatial is not None else None
        rows.append(
            OnnxTraceRow(
                node.name, node.op_type, node.outputs, out_shapes, int(params), flops, *(field or (None,) * 3)
            )
        )
    return rows
