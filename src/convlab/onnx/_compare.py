"""Every intermediate tensor on disk, and convlab against onnxruntime node by node.

The ONNX ``ModelProto`` is re-read for onnxruntime with every node output
declared as a graph output, so that onnxruntime returns the same tensors
convlab keeps; both run the same feeds.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._extras import require
from ..io import atomic_path
from ._proto import onnx

__all__ = ["NodeDifference", "compare_onnxruntime", "dump_tensors"]


def dump_tensors(model, values: dict[str, np.ndarray], directory: str | os.PathLike) -> Path:
    """Write each tensor of ``values`` as ``NNNN_<name>.npy`` and an ``index.json``; returns the index path.

    The index lists per tensor the file, the node that produced it (or
    ``"input"``), its op type, shape and dtype, in topological order. Every
    file is written atomically.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    producers = {out: node for node in model.graph.nodes for out in node.outputs if out}
    order = [n for n in model.input_names if n in values] + [
        o for n in model.graph.nodes for o in n.outputs if o in values
    ]
    entries = []
    for i, name in enumerate(order):
        array = np.asarray(values[name])
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
        file = f"{i:04d}_{safe}.npy"
        with atomic_path(folder / file) as tmp, open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        node = producers.get(name)
        entries.append(
            {
                "tensor": name,
                "file": file,
                "node": node.name if node else "input",
                "op": node.op_type if node else "input",
                "shape": list(array.shape),
                "dtype": str(array.dtype),
            }
        )
    index = folder / "index.json"
    with atomic_path(index) as tmp:
        tmp.write_text(json.dumps({"tensors": entries}, indent=1) + "\n")
    return index


@dataclass(frozen=True)
class NodeDifference:
    """convlab against onnxruntime on one tensor: ``max_rel`` is ``max|a - b| / max|b|``."""

    node: str
    op: str
    tensor: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float


def _session_bytes(model) -> bytes:
    proto = onnx.ModelProto()
    proto.CopyFrom(model.proto)
    if model.base_dir is not None:
        onnx.load_external_data_for_model(proto, str(model.base_dir))
    declared = {o.name for o in proto.graph.output}
    for node in model.graph.nodes:
        for name in node.outputs:
            if name and name not in declared:
                proto.graph.output.append(onnx.ValueInfoProto(name=name))
    return proto.SerializeToString()


def compare_onnxruntime(
    model, feeds: dict[str, np.ndarray]
) -> tuple[list[NodeDifference], dict[str, np.ndarray]]:
    """Per tensor in topological order, convlab against onnxruntime; and convlab's values."""
    onnxruntime = require("onnxruntime", None, "--compare onnxruntime")
    ours = model.run(feeds, keep="all")
    options = onnxruntime.SessionOptions()
    # Graph optimisations fuse nodes (Conv+BN, Conv+Relu) and drop their
    # intermediate tensors; the comparison is per ONNX node.
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(_session_bytes(model), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    theirs = dict(zip(names, session.run(names, {k: np.asarray(v) for k, v in model._feeds(feeds).items()})))
    rows = []
    for node in model.graph.nodes:
        for name in node.outputs:
            if not name or name not in theirs or name not in ours:
                continue
            a, b = np.asarray(ours[name]), np.asarray(theirs[name])
            if a.shape != b.shape:
                rows.append(
                    NodeDifference(node.name, node.op_type, name, a.shape, float("inf"), float("inf"))
                )
                continue
            diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
            scale = float(np.abs(b).max()) if b.size else 0.0
            max_abs = float(diff.max()) if diff.size else 0.0
            rows.append(
                NodeDifference(
                    node.name, node.op_type, name, a.shape, max_abs, max_abs / scale if scale else max_abs
                )
            )
    return rows, ours
