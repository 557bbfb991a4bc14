"""Helpers of the convlab.onnx tests: single-node models, onnxruntime and onnx.reference as oracles."""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

FLOAT = TensorProto.FLOAT
OPSET = 19


def single_node(op, inputs, outputs=("y",), feeds=("x",), opset=OPSET, **attrs):
    """A model of one node; ``inputs`` maps names to arrays: those named in ``feeds`` are graph
    inputs, the others initializers; a None value omits an optional input.
    """
    initializers, graph_inputs = {}, []
    for name, value in inputs.items():
        if value is None:
            continue
        if name in feeds:
            elem = helper.np_dtype_to_tensor_dtype(value.dtype)
            graph_inputs.append(helper.make_tensor_value_info(name, elem, value.shape))
        else:
            initializers[name] = value
    node = helper.make_node(
        op, [n if v is not None else "" for n, v in inputs.items()], list(outputs), **attrs
    )
    graph = helper.make_graph(
        [node],
        "g",
        graph_inputs,
        [onnx.ValueInfoProto(name=o) for o in outputs],
        [onnx.numpy_helper.from_array(np.asarray(v), n) for n, v in initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    return model


def ort_run(model, feeds, outputs=None):
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(outputs, feeds)


def reference_run(model, feeds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ReferenceEvaluator(model).run(None, feeds)


def export(net, args, *, dynamic=None, opset=17, input_names=("x",), output_names=("y",)):
    """``torch.onnx.export`` (the TorchScript exporter, dynamo=False: seconds instead of ~20 s per model)."""
    import torch

    buffer = io.BytesIO()
    axes = None
    if dynamic:
        axes = {name: dict(enumerate(dynamic)) for name in (*input_names, *output_names)}
        axes = {name: {i: f"{name}_{d}" for i, d in spec.items() if d} for name, spec in axes.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net.eval(),
            args,
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes=axes,
        )
    return onnx.load_model_from_string(buffer.getvalue())


def all_tensors_against_ort(model_proto, feeds, rel=1e-5):
    """convlab with keep='all' against onnxruntime with every node output exposed; the worst relative gap."""
    import convlab.onnx as co

    model = co.load(model_proto)
    ours = model.run(feeds, keep="all")
    proto = onnx.ModelProto()
    proto.CopyFrom(model_proto)
    declared = {o.name for o in proto.graph.output}
    for node in proto.graph.node:
        for name in node.output:
            if name and name not in declared:
                proto.graph.output.append(onnx.ValueInfoProto(name=name))
    names = [o.name for o in proto.graph.output]
    theirs = dict(zip(names, ort_run(proto, feeds, names)))
    worst = 0.0
    for name, b in theirs.items():
        a = ours[name]
        assert a.shape == b.shape, (name, a.shape, b.shape)
        assert a.dtype == b.dtype, (name, a.dtype, b.dtype)
        if a.dtype.kind in "iub":
            np.testing.assert_array_equal(a, b, err_msg=name)
            continue
        scale = float(np.abs(b).max()) if b.size else 0.0
        gap = float(np.abs(a.astype(np.float64) - b).max()) / scale if scale else 0.0
        assert gap <= rel, (name, gap)
        worst = max(worst, gap)
    return model, ours, worst
