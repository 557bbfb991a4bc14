"""Golden vectors of any ONNX network: every node's inputs and outputs, in the U-Net writer's formats.

The graph runs on :mod:`convlab.onnx` node by node (:meth:`OnnxModel.steps`)
and each selected node's tensors are written as soon as it finishes, so
memory stays that of one forward pass. The directory is staged beside
``out`` (:mod:`._staging`): an error leaves no partly written directory.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._args import ConvlabError
from ._golden import Encoded, Encoder, _Options, _write, file_bytes, float_encoder
from ._manifest import Entry, save_manifest
from ._memory import format_of
from ._order import Layout
from ._staging import check_space, check_target, staged_directory

__all__ = ["onnx_encoder", "write_onnx_vectors"]


def onnx_encoder(layer: str, tensor: str, array: np.ndarray) -> Encoded:
    """Each tensor in its own number format: floats as IEEE bits, integers as their two's complement.

    Shape tensors (int64), integer codes (int8/uint8/int32) and masks (bool, as
    0/1 bytes) keep their width, so a quantised graph's files hold its codes.

    >>> onnx_encoder("conv", "w", np.array([-1, 2], np.int8)).number
    {'kind': 'int8'}
    """
    if array.dtype.kind == "f":
        return float_encoder(layer, tensor, array)
    if array.dtype.kind == "b":
        return Encoded(array.astype(np.uint8), {"kind": "bool"}, False, 8)
    if array.dtype.kind not in "iu":
        raise ConvlabError(f"layer {layer} {tensor}: {array.dtype} tensors have no memory image")
    return Encoded(array, {"kind": array.dtype.name}, array.dtype.kind == "i", array.dtype.itemsize * 8)


def write_onnx_vectors(
    model: Any,
    x: np.ndarray | Mapping[str, np.ndarray],
    out: str | os.PathLike,
    *,
    encoder: Encoder = onnx_encoder,
    fmt: str = "readmemh",
    layout: str | None = None,
    word_bits: int | None = None,
    lanes: int = 1,
    high_first: bool = False,
    byteorder: str = "little",
    layers: Sequence[str] | None = None,
    memory_map: Mapping[str, int] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> list[Entry]:
    """Run an ONNX graph on ``x`` and write every node's inputs and outputs to ``out``.

    The directory has the layout of :func:`write_vectors` (so :func:`diff`
    and ``convlab diff`` read it unchanged): files
    ``{index:03d}_{node}_{tensor}{suffix}`` in the order the nodes run, and
    ``manifest.json``, whose entries name the node (``layer``), its
    ``op`` type, the tensor's role (``input``/``output`` for the first of
    each, else the ONNX schema's name in lower case: ``w``, ``b``,
    ``scale``..., a repeated name with its position appended) and, as
    ``source``, its ONNX tensor name.

    Parameters
    ----------
    model : OnnxModel, path, bytes or ModelProto
        Anything :func:`convlab.onnx.load` takes.
    x : ndarray or mapping
        The input of a single-input graph, or ``{input name: array}``.
    out : directory
        Created; an existing one is replaced only if it is empty or holds a
        previous ``manifest.json``.
    encoder : callable, default :func:`onnx_encoder`
    fmt, layout, word_bits, lanes, high_first, byteorder
        As in :func:`write_vectors`.
    layers : glob patterns, optional
        Only nodes whose name matches one (nodes without a name are called
        ``{op_type}_{index}``).
    memory_map : mapping, optional
        ``"node:tensor"`` -> word address, as in :func:`write_vectors`.

    Notes
    -----
    Before anything runs, the shape-only pass sizes every tensor and the
    files are estimated against the free disk space; a tensor larger than
    the memory limit is refused there too.

    Examples
    --------
    >>> import tempfile
    >>> from onnx import helper, TensorProto
    >>> node = helper.make_node("Relu", ["x"], ["y"], name="act")
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    >>> graph = helper.make_graph([node], "g", [x], [y])
    >>> x = np.array([[-1.0, 2.0]], np.float32)
    >>> entries = write_onnx_vectors(helper.make_model(graph), x, tempfile.mkdtemp())
    >>> [(e.layer, e.tensor, e.source, e.file) for e in entries]
    [('act', 'input', 'x', '000_act_input.hex'), ('act', 'output', 'y', '001_act_output.hex')]
    """
    from .. import onnx as convlab_onnx

    onnx_model = model if isinstance(model, convlab_onnx.OnnxModel) else convlab_onnx.load(model)
    feeds = _feeds(onnx_model, x)
    format_of("x", fmt)
    selected = _select(onnx_model, layers)
    _check_map(dict(memory_map or {}), selected)
    target = Path(out)
    check_target(target)
    _check_disk(onnx_model, feeds, selected, target, fmt, word_bits, lanes)
    layout_spec = None if layout is None else Layout.parse(layout)
    with staged_directory(target) as work:
        options = _Options(
            work, fmt, layout_spec, word_bits, lanes, high_first, byteorder, dict(memory_map or {})
        )
        entries = _run(onnx_model, feeds, selected, options, encoder)
        save_manifest(work, entries, dict(meta or {}))
    return entries


def _check_disk(model, feeds, selected, target: Path, fmt: str, word_bits: int | None, lanes: int) -> None:
    """Size every selected tensor by the shape-only pass and refuse what the disk cannot hold."""
    metas = model.tensor_metas({name: np.shape(v) for name, v in feeds.items()})
    needed = 0
    for node in selected.values():
        for name in filter(None, (*node.inputs, *node.outputs)):
            meta = metas[name]
            bits = word_bits or 8 * meta.dtype.itemsize * lanes
            needed += file_bytes(int(np.prod(meta.shape)), fmt, bits, lanes)
    check_space(target, needed, "nodes")


def _run(model, feeds, selected, options: _Options, encoder: Encoder) -> list[Entry]:
    entries: list[Entry] = []
    for node, ins, outs in model.steps(feeds):
        if node.name not in selected:
            continue
        named = [
            *zip(node.inputs, ins, _roles(node, "inputs")),
            *zip(node.outputs, outs, _roles(node, "outputs")),
        ]
        for source, array, role in named:
            if source and array is not None:
                array = np.asarray(array)
                entries.append(
                    _write(options, encoder, len(entries), node.name, node.op_type, role, array, source)
                )
    return entries


def _roles(node, side: str) -> list[str]:
    """``input``/``output`` for the first tensor of each side, then the schema's names in lower case."""
    names = node.inputs if side == "inputs" else node.outputs
    formal: list[str] = []
    try:
        import onnx.defs

        schema = onnx.defs.get_schema(node.op_type, node.opset, node.domain)
        formal = [p.name.lower() for p in getattr(schema, side)]
    except Exception:  # a domain onnx.defs does not know (com.microsoft): positions only
        formal = []
    first = "input" if side == "inputs" else "output"
    roles = []
    for i in range(len(names)):
        name = first if i == 0 else (formal[min(i, len(formal) - 1)] if formal else f"{first}{i}")
        roles.append(name if name not in roles else f"{name}{i}")
    return roles


def _feeds(model, x) -> dict[str, np.ndarray]:
    if isinstance(x, Mapping):
        missing = [n for n in model.input_names if n not in x]
        unknown = [n for n in x if n not in model.input_names]
        if missing or unknown:
            raise ConvlabError(
                f"x must give exactly the inputs {model.input_names}: missing {missing}, unknown {unknown}"
            )
        return {name: np.asarray(value) for name, value in x.items()}
    if len(model.input_names) != 1:
        raise ConvlabError(
            f"the model has inputs {model.input_names}: pass x as a dict of input name to array"
        )
    return {model.input_names[0]: np.asarray(x)}


def _select(model, layers: Sequence[str] | None) -> dict[str, Any]:
    if isinstance(layers, str):
        raise TypeError(f"layers must be a list of glob patterns, got the string {layers!r}")
    nodes = {node.name: node for node in model.graph.nodes}
    chosen = {
        n: node for n, node in nodes.items() if not layers or any(fnmatch.fnmatch(n, p) for p in layers)
    }
    if not chosen:
        shown = ", ".join(list(nodes)[:6])
        raise ConvlabError(f"layers={list(layers or [])} matches no node of the model (nodes: {shown}, ...)")
    return chosen


def _check_map(memory_map: dict[str, int], selected: dict[str, Any]) -> None:
    known = {
        f"{name}:{role}"
        for name, node in selected.items()
        for side in ("inputs", "outputs")
        for role in _roles(node, side)
    }
    unknown = sorted(set(memory_map) - known)
    if unknown:
        raise ConvlabError(
            f"memory_map names no tensor of the selected nodes: {', '.join(unknown[:5])}; keys are "
            f"'node:tensor', e.g. {min(known)!r}"
        )
