"""An ONNX graph as plain records: nodes in topological order, decoded attributes, initializers.

Everything that can be checked without input data is checked here, and every
problem is collected before one :class:`OnnxModelError` lists them all: cycles,
names nobody produces, unsupported operators, opsets and attribute values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._proto import onnx
from ._tensors import OnnxModelError, check_elements, element_dtype, tensor_to_array

__all__ = ["Graph", "Node", "ValueInfo", "build_graph"]


@dataclass(frozen=True)
class Node:
    """One ONNX node: ``inputs`` keep ``''`` for omitted optional inputs; ``attrs`` are decoded."""

    name: str
    op_type: str
    domain: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, object]
    opset: int

    def attr(self, key: str, default: object = None) -> object:
        return self.attrs.get(key, default)

    def label(self) -> str:
        return f"{self.op_type} node {self.name!r}"


@dataclass(frozen=True)
class ValueInfo:
    """A graph input or output: name, dtype and declared shape (``None`` for a symbolic dimension)."""

    name: str
    dtype: np.dtype | None
    shape: tuple[int | None, ...] | None


@dataclass
class Graph:
    nodes: list[Node]
    inputs: list[ValueInfo]
    outputs: list[ValueInfo]
    initializers: dict[str, np.ndarray] = field(default_factory=dict)
    opsets: dict[str, int] = field(default_factory=dict)


def _attribute(attr: onnx.AttributeProto, base_dir: Path | None, what: str) -> object:
    kind = attr.type
    A = onnx.AttributeProto
    if kind == A.INT:
        return int(attr.i)
    if kind == A.FLOAT:
        return float(np.float32(attr.f))
    if kind == A.STRING:
        return attr.s.decode("utf-8", "replace")
    if kind == A.INTS:
        return tuple(int(v) for v in attr.ints)
    if kind == A.FLOATS:
        return tuple(float(np.float32(v)) for v in attr.floats)
    if kind == A.STRINGS:
        return tuple(v.decode("utf-8", "replace") for v in attr.strings)
    if kind == A.TENSOR:
        return tensor_to_array(attr.t, base_dir, f"{what} attribute {attr.name!r}")
    raise OnnxModelError(
        f"{what} has attribute {attr.name!r} of type {A.AttributeType.Name(kind)} (graphs unsupported)"
    )


def _value_info(info: onnx.ValueInfoProto, what: str) -> ValueInfo:
    tensor = info.type.tensor_type
    # An output may leave its type undeclared; the node producing it decides.
    undeclared = what == "graph output" and tensor.elem_type == onnx.TensorProto.UNDEFINED
    dtype = None if undeclared else element_dtype(tensor.elem_type, f"{what} {info.name!r}")
    if not tensor.HasField("shape"):
        return ValueInfo(info.name, dtype, None)
    shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
    check_elements(tuple(d or 0 for d in shape), f"{what} {info.name!r}")
    return ValueInfo(info.name, dtype, shape)


def _nodes(
    graph: onnx.GraphProto, opsets: dict[str, int], base_dir: Path | None, problems: list[str]
) -> list[Node]:
    nodes = []
    for index, proto in enumerate(graph.node):
        name = proto.name or f"{proto.op_type}_{index}"
        what = f"{proto.op_type} node {name!r}"
        attrs = {}
        for attr in proto.attribute:
            try:
                attrs[attr.name] = _attribute(attr, base_dir, what)
            except OnnxModelError as err:
                problems.append(str(err))
        domain = "" if proto.domain == "ai.onnx" else proto.domain
        opset = opsets.get(domain, 0)
        nodes.append(Node(name, proto.op_type, domain, tuple(proto.input), tuple(proto.output), attrs, opset))
    return nodes


def _topological(nodes: list[Node], available: set[str], problems: list[str]) -> list[Node]:
    """Kahn's order; names nobody produces and cycles become problems naming the nodes."""
    producers: dict[str, Node] = {}
    for node in nodes:
        for out in filter(None, node.outputs):
            if out in producers or out in available:
                problems.append(f"{node.label()} writes {out!r}, which is already defined")
            producers[out] = node
    for node in nodes:
        for name in filter(None, node.inputs):
            if name not in producers and name not in available:
                problems.append(f"{node.label()} reads {name!r}, which no node, input or initializer defines")
    done, order, pending = set(available), [], list(nodes)
    while pending:
        ready = [n for n in pending if all(not i or i in done or i not in producers for i in n.inputs)]
        if not ready:
            names = ", ".join(repr(n.name) for n in pending)
            problems.append(f"the graph has a cycle (or depends on one) through nodes {names}")
            break
        for node in ready:
            order.append(node)
            done.update(filter(None, node.outputs))
        pending = [n for n in pending if n not in ready]
    return order


def build_graph(model: onnx.ModelProto, base_dir: Path | None) -> tuple[Graph, list[str]]:
    """The graph's records and the list of structural problems found (empty when sound)."""
    problems: list[str] = []
    g = model.graph
    opsets = {("" if o.domain == "ai.onnx" else o.domain): int(o.version) for o in model.opset_import}
    initializers = {}
    for tensor in g.initializer:
        try:
            initializers[tensor.name] = tensor_to_array(tensor, base_dir, f"initializer {tensor.name!r}")
        except OnnxModelError as err:
            problems.append(str(err))
    if len(g.sparse_initializer):
        problems.append("sparse initializers are not supported")
    inputs, outputs = [], []
    for info in g.input:
        if info.name in initializers:
            continue
        try:
            inputs.append(_value_info(info, "graph input"))
        except OnnxModelError as err:
            problems.append(str(err))
    for info in g.output:
        try:
            outputs.append(_value_info(info, "graph output"))
        except OnnxModelError as err:
            problems.append(str(err))
    nodes = _nodes(g, opsets, base_dir, problems)
    available = set(initializers) | {i.name for i in inputs}
    order = _topological(nodes, available, problems)
    produced = available | {o for n in nodes for o in n.outputs}
    problems += [f"graph output {o.name!r} is produced by no node" for o in outputs if o.name not in produced]
    return Graph(order, inputs, outputs, initializers, opsets), problems
