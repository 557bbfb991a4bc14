"""``load`` and :class:`OnnxModel`: any supported ONNX graph, run on convlab's operators."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from .._args import ConvlabError
from ..shapes import SizeContract
from ._graph import Graph, Node, build_graph
from ._proto import onnx
from ._registry import OPS, Meta
from ._tensors import OnnxModelError
from ._trace import OnnxTraceRow, shape_pass, trace_rows

__all__ = ["OnnxModel", "load"]


def _read(model: object, base_dir: object) -> tuple[onnx.ModelProto, Path | None]:
    """The ModelProto (external data not loaded) and the directory of its external data."""
    if isinstance(model, onnx.ModelProto):
        return model, None if base_dir is None else Path(base_dir)  # type: ignore[arg-type]
    if isinstance(model, (bytes, bytearray, memoryview)):
        try:
            proto = onnx.load_model_from_string(bytes(model))
        except Exception as err:  # protobuf's DecodeError has no common public base
            raise OnnxModelError(f"model bytes are not an ONNX model: {err}") from None
        return proto, None if base_dir is None else Path(base_dir)  # type: ignore[arg-type]
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise OnnxModelError(f"model file {str(path)!r} does not exist")
        try:
            proto = onnx.load_model(str(path), load_external_data=False)
        except Exception as err:
            raise OnnxModelError(f"{path.name} is not an ONNX model: {err}") from None
        return proto, path.parent if base_dir is None else Path(base_dir)  # type: ignore[arg-type]
    raise TypeError(f"model must be a path, bytes or an onnx.ModelProto, got {type(model).__name__}")


def _node_problems(graph: Graph) -> list[str]:
    problems = []
    for node in graph.nodes:
        spec = OPS.get((node.domain, node.op_type))
        if spec is None:
            domain = f" of domain {node.domain!r}" if node.domain else ""
            problems.append(f"{node.label()}: operator {node.op_type}{domain} is not supported")
            continue
        low, high = spec.opsets
        if not low <= node.opset <= high:
            problems.append(
                f"{node.label()}: opset {node.opset} is outside the supported range {low}..{high}"
            )
        unknown = sorted(set(node.attrs) - set(spec.attributes))
        if unknown:
            problems.append(f"{node.label()}: unsupported attribute(s) {', '.join(unknown)}")
        if spec.check is not None:
            problems += spec.check(node)
    return problems


def load(
    model: str | os.PathLike | bytes | onnx.ModelProto, /, *, base_dir: str | os.PathLike | None = None
) -> OnnxModel:
    """Load an ONNX model to run, trace and tile on convlab's operators.

    Parameters
    ----------
    model : path, bytes or onnx.ModelProto
    base_dir : path, optional
        Where external-data files lie (default: the model file's directory).

    Returns
    -------
    OnnxModel

    Raises
    ------
    OnnxModelError
        (a :class:`convlab.ConvlabError`) listing every problem found: unsupported
        operators, opsets or attribute values, with node names; cycles; names no
        node defines; unreadable or out-of-bounds initializers; and, when the
        inputs' shapes are declared, the first node whose shapes do not fit.

    Examples
    --------
    >>> from onnx import helper, TensorProto
    >>> node = helper.make_node("Relu", ["x"], ["y"])
    >>> g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
    ...                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    >>> m = load(helper.make_model(g))
    >>> m(np.array([-1.0, 2.0], np.float32))
    array([0., 2.], dtype=float32)
    """
    proto, folder = _read(model, base_dir)
    try:
        graph, problems = build_graph(proto, folder)
    except OnnxModelError as err:
        raise OnnxModelError(f"the model cannot be loaded: {err}") from None
    problems += _node_problems(graph)
    if not problems:
        static = {i.name: i.shape for i in graph.inputs if i.shape is not None and None not in i.shape}
        if len(static) == len(graph.inputs):
            try:
                shape_pass(graph, static)
            except ConvlabError as err:
                problems.append(f"for the declared input shapes {static}: {err}")
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise OnnxModelError(f"the model cannot be run by convlab ({len(problems)} problem(s)):\n{lines}")
    source = Path(model) if isinstance(model, (str, os.PathLike)) else proto
    return OnnxModel(graph, source, folder)


class OnnxModel:
    """An ONNX graph on convlab's operators: ``model(x)``, ``model.run(feeds, keep)``, ``model.trace(shape)``.

    Attributes
    ----------
    input_names, output_names : list of str
    graph : the nodes in topological order, their decoded attributes and the initializers.
    """

    def __init__(
        self, graph: Graph, source: Path | onnx.ModelProto | None = None, base_dir: Path | None = None
    ):
        self.graph = graph
        # The file (re-read when onnxruntime must run the same model) or the proto given.
        self._source, self.base_dir = source, base_dir
        self.input_names = [i.name for i in graph.inputs]
        self.output_names = [o.name for o in graph.outputs]

    def __repr__(self) -> str:
        ops = len(self.graph.nodes)
        return f"OnnxModel({ops} nodes, inputs={self.input_names}, outputs={self.output_names})"

    @property
    def proto(self) -> onnx.ModelProto:
        """The model's ModelProto, external data not loaded (re-read from the file when loaded from one)."""
        if isinstance(self._source, Path):
            return onnx.load_model(str(self._source), load_external_data=False)
        if self._source is None:
            raise ConvlabError("this model was built without its ModelProto")
        return self._source

    @property
    def in_channels(self) -> int | None:
        """The declared channel count of the (first) input, as convlab's models have; None if symbolic."""
        shape = self.graph.inputs[0].shape if self.graph.inputs else None
        return shape[1] if shape is not None and len(shape) > 1 else None

    @property
    def ndim(self) -> int | None:
        """Spatial dimensions of the (first) input, from its declared ``(N, C, *spatial)`` (or None)."""
        shape = self.graph.inputs[0].shape if self.graph.inputs else None
        return len(shape) - 2 if shape is not None and len(shape) > 2 else None

    def num_parameters(self) -> int:
        """Elements of the floating-point initializers."""
        return sum(a.size for a in self.graph.initializers.values() if a.dtype.kind == "f")

    def __call__(self, *inputs: np.ndarray) -> np.ndarray | tuple[np.ndarray, ...]:
        """The graph's output for positional inputs (a tuple when it has several outputs)."""
        if len(inputs) != len(self.input_names):
            raise TypeError(
                f"the model takes {len(self.input_names)} input(s) {self.input_names}, got {len(inputs)}"
            )
        out = self.run(dict(zip(self.input_names, inputs)), keep=None)
        values = tuple(out[name] for name in self.output_names)
        return values[0] if len(values) == 1 else values

    forward = __call__

    def _feeds(self, feeds: Mapping[str, object]) -> dict[str, np.ndarray]:
        if not isinstance(feeds, Mapping):
            raise TypeError(f"feeds must be a dict of input name to array, got {type(feeds).__name__}")
        missing = [n for n in self.input_names if n not in feeds]
        unknown = [n for n in feeds if n not in self.input_names]
        if missing or unknown:
            raise ConvlabError(
                f"feeds must give exactly the inputs {self.input_names}: missing {missing}, unknown {unknown}"
            )
        values = {}
        for info in self.graph.inputs:
            array = np.asarray(feeds[info.name])
            if array.dtype.kind != info.dtype.kind or (array.dtype.kind == "f" and array.dtype != info.dtype):
                if not (array.dtype.kind in "iuf" and info.dtype.kind == "f"):
                    raise TypeError(f"input {info.name!r} must have dtype {info.dtype}, got {array.dtype}")
                array = array.astype(info.dtype)
            if info.shape is not None and (
                len(info.shape) != array.ndim
                or any(d is not None and d != n for d, n in zip(info.shape, array.shape))
            ):
                raise ConvlabError(
                    f"input {info.name!r} must have shape {info.shape} (None: any), got {array.shape}"
                )
            values[info.name] = array
        return values

    def run(
        self, feeds: Mapping[str, object], keep: str | Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Run the graph; return its outputs and the ``keep`` intermediate tensors by ONNX name.

        ``keep="all"`` keeps the inputs (as cast to the declared dtype) and every
        tensor a node produces; a list keeps those names; ``None`` only the
        graph outputs. Tensors nobody needs any more
        are released as the pass goes.
        """
        produced = [o for n in self.graph.nodes for o in n.outputs if o]
        if keep == "all":
            kept = set(produced) | set(self.input_names)
        elif keep is None:
            kept = set()
        elif isinstance(keep, Sequence) and not isinstance(keep, str):
            kept = set(keep)
            unknown = sorted(kept - set(produced) - set(self.input_names))
            if unknown:
                raise ConvlabError(f"keep names tensors the graph does not have: {unknown}")
        else:
            raise TypeError(f"keep must be 'all', a list of tensor names or None, got {keep!r}")
        kept |= set(self.output_names)
        values: dict[str, object] = {**self.graph.initializers, **self._feeds(feeds)}
        for _ in self._walk(values, kept):
            pass
        return {name: values[name] for name in kept if name in values}

    def steps(self, feeds: Mapping[str, object]) -> Iterator[tuple[Node, list, tuple]]:
        """Run the graph node by node, yielding ``(node, inputs, outputs)`` as each node finishes.

        ``node`` has the ONNX ``name``, ``op_type``, ``inputs`` and ``outputs``
        (tensor names, ``''`` for an omitted optional input); ``inputs`` and
        ``outputs`` are the arrays in the same order (``None`` where omitted).
        Memory stays that of :meth:`run`: a tensor is released once the nodes
        that read it have been yielded, so a consumer writing each node's
        tensors away (as :func:`convlab.vectors.write_onnx_vectors` does) never
        holds the whole pass.

        >>> from onnx import helper, TensorProto
        >>> node = helper.make_node("Relu", ["x"], ["y"], name="act")
        >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
        >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
        >>> model = load(helper.make_model(helper.make_graph([node], "g", [x], [y])))
        >>> [(n.name, outs[0].tolist()) for n, ins, outs in model.steps({"x": np.array([[-1.0, 2.0]])})]
        [('act', [[0.0, 2.0]])]
        """
        values: dict[str, object] = {**self.graph.initializers, **self._feeds(feeds)}
        yield from self._walk(values, set(self.output_names))

    def _walk(self, values: dict[str, object], kept: set[str]) -> Iterator[tuple[Node, list, tuple]]:
        """Run every node on ``values`` (updated in place), releasing what no later node reads."""
        last = {name: i for i, node in enumerate(self.graph.nodes) for name in node.inputs if name}
        for step, node in enumerate(self.graph.nodes):
            ins = [values[n] if n else None for n in node.inputs]
            try:
                # ONNX operators are IEEE arithmetic: NaN and inf propagate without a
                # warning, as in onnxruntime (and torch for the ops it shares).
                with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                    outs = OPS[(node.domain, node.op_type)].run(node, ins)
            except (ConvlabError, TypeError) as err:
                shapes = [None if v is None else np.shape(v) for v in ins]
                raise ConvlabError(f"{node.label()} (inputs of shapes {shapes}): {err}") from None
            values.update((name, out) for name, out in zip(node.outputs, outs) if name)
            yield node, ins, tuple(outs)
            del ins
            for name in node.inputs:
                if (
                    name
                    and last.get(name) == step
                    and name not in kept
                    and name not in self.graph.initializers
                ):
                    values.pop(name, None)

    def trace(
        self, shapes: Sequence[int] | Mapping[str, Sequence[int]], receptive_field: bool = True
    ) -> list[OnnxTraceRow]:
        """Shape-only pass: per node the output shapes, parameters, FLOPs and receptive field.

        ``shapes`` maps input names to shapes, or is one shape for a
        single-input graph. Receptive fields are in pixels of the first input
        with 1 to 3 spatial dimensions.

        Examples
        --------
        >>> from onnx import helper, TensorProto
        >>> node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2], strides=[2])
        >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, None])
        >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
        >>> g = helper.make_graph([node], "g", [x], [y])
        >>> row = load(helper.make_model(g)).trace((1, 1, 8))[0]
        >>> row.output_shapes, row.receptive_field, row.jump, row.start
        (((1, 1, 4),), (2,), (Fraction(2, 1),), (0,))
        """
        return trace_rows(self.graph, self._shapes(shapes), receptive_field)

    def tensor_metas(self, shapes: Sequence[int] | Mapping[str, Sequence[int]]) -> dict[str, Meta]:
        """Shape and dtype of every tensor (inputs, initializers, node outputs) for these input shapes.

        A shape-only pass, as :meth:`trace`: what a writer needs to size its
        output before running the graph.

        >>> from onnx import helper, TensorProto
        >>> node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2], strides=[2])
        >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, None])
        >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
        >>> load(helper.make_model(helper.make_graph([node], "g", [x], [y]))).tensor_metas((1, 1, 8))["y"]
        Meta(shape=(1, 1, 4), dtype=dtype('float32'))
        """
        values, _ = shape_pass(self.graph, self._shapes(shapes))
        return {
            name: v if isinstance(v, Meta) else Meta(np.shape(v), np.asarray(v).dtype)
            for name, v in values.items()
        }

    def _shapes(self, shapes: object) -> dict[str, tuple[int, ...]]:
        if not isinstance(shapes, Mapping):
            if len(self.input_names) != 1:
                raise ConvlabError(f"the model has inputs {self.input_names}: pass a dict of name to shape")
            shapes = {self.input_names[0]: shapes}
        result = {}
        for info in self.graph.inputs:
            if info.name not in shapes:
                raise ConvlabError(f"shapes must give a shape for input {info.name!r}")
            shape = tuple(int(n) for n in shapes[info.name])  # type: ignore[index]
            if info.shape is not None and (
                len(shape) != len(info.shape) or any(d not in (None, n) for d, n in zip(info.shape, shape))
            ):
                raise ConvlabError(f"input {info.name!r} is declared with shape {info.shape}, got {shape}")
            if min(shape, default=1) < 1:
                raise ConvlabError(f"shapes must be positive, got {shape} for {info.name!r}")
            result[info.name] = shape
        return result

    @functools.cached_property
    def size_contract(self) -> SizeContract:
        """The :class:`convlab.shapes.SizeContract` derived from the trace (see :func:`graph_contract`).

        Computed once (a scan of shape-only passes); raises ConvlabError for a
        graph without one (several inputs, fixed sizes, resampled output).
        """
        from ._contract import graph_contract

        return graph_contract(self)
