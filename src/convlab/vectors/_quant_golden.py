"""Golden vectors of an int8 U-Net: each integer layer's input codes, weights, bias and output codes.

The layers are those :meth:`convlab.quant.QuantizedUNet.run` executes
(QLinearConv with the ReLU folded in, the up-convolution, max pooling on
codes, the requantising skip concatenation), so every file is what the
integer operator produced from the files before it: an RTL that computes
QLinearConv exactly reproduces them bit for bit.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._args import ConvlabError
from ._golden import Encoded, _Options, _write, file_bytes
from ._manifest import Entry, save_manifest
from ._memory import format_of
from ._order import Layout
from ._staging import check_space, check_target, staged_directory

__all__ = ["write_quant_vectors"]


def _number(array: np.ndarray, scale, zero_point, axis: int | None = None) -> Encoded:
    scales = np.asarray(scale, np.float64)
    number: dict[str, Any] = {"kind": array.dtype.name, "scale": scales.tolist()}
    number["zero_point"] = np.asarray(zero_point).tolist()
    if axis is not None:
        number["axis"] = axis
    return Encoded(array, number, array.dtype.kind == "i", array.dtype.itemsize * 8)


def _given(encoded: Encoded):
    """An encoder returning ``encoded``: the integer run already produced the codes."""
    return lambda layer, tensor, array: encoded


def _tensors(layer) -> list[tuple[str, Encoded]]:
    """``(tensor name, Encoded)`` of one :class:`~convlab.quant.QLayer`, inputs first."""
    names = ["input"] if len(layer.x) == 1 else [f"input{i}" for i in range(len(layer.x))]
    out = [(n, _number(x, s, z)) for n, x, s, z in zip(names, layer.x, layer.x_scale, layer.x_zero_point)]
    if layer.w is not None:
        axis = 1 if layer.op == "conv_transpose" else 0
        out.append(("weight", _number(layer.w, layer.w_scale, layer.w_zero_point, axis)))
    if layer.bias is not None:
        step = np.float32(layer.x_scale[0]) * layer.w_scale.astype(np.float32)
        out.append(("bias", _number(layer.bias, step, np.zeros_like(layer.bias), 0)))
    out.append(("output", _number(layer.y, layer.y_scale, layer.y_zero_point)))
    return out


def write_quant_vectors(
    qnet,
    x: np.ndarray,
    out: str | os.PathLike,
    *,
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
    """Run ``qnet.run(x)`` and write each integer layer's codes, as :func:`write_vectors` writes floats.

    Files: ``{index:03d}_{layer}_{tensor}{suffix}`` with tensors ``input``
    (``input0``/``input1`` for a concatenation: skip and up-sampled codes, as
    the layer reads them, before the crop), ``weight`` (int8), ``bias``
    (int32) and ``output`` (uint8). Each manifest entry's ``number`` holds the
    kind, scale(s), zero point(s) and, per channel, the axis.

    Examples
    --------
    >>> import tempfile
    >>> from convlab.models import UNet
    >>> from convlab.quant import quantize_unet
    >>> x = np.linspace(0, 1, 64).reshape(1, 1, 8, 8)
    >>> qnet = quantize_unet(UNet(width=2, depth=1, padding="same"), [x])
    >>> entries = write_quant_vectors(qnet, x, tempfile.mkdtemp(), layers=["head"])
    >>> [(e.tensor, e.number["kind"]) for e in entries]
    [('input', 'uint8'), ('weight', 'int8'), ('bias', 'int32'), ('output', 'uint8')]
    """
    format_of("x", fmt)
    names = [q.node.name for q in qnet.qnodes]
    chosen = [n for n in names if not layers or any(fnmatch.fnmatch(n, p) for p in layers)]
    if not chosen:
        raise ConvlabError(f"layers={list(layers or [])} matches no layer of the quantised U-Net")
    memory_map = dict(memory_map or {})
    check_target(Path(out))  # before the integer run, which may take minutes
    _, records = qnet.run(x, record=True)
    known = {f"{r.name}:{t}" for r in records if r.name in chosen for t, _ in _tensors(r)}
    unknown = sorted(set(memory_map) - known)
    if unknown:
        raise ConvlabError(f"memory_map names no tensor of the quantised U-Net: {', '.join(unknown[:5])}")
    _check_disk(Path(out), [r for r in records if r.name in chosen], fmt, word_bits, lanes)
    entries: list[Entry] = []
    with staged_directory(Path(out)) as work:
        options = _Options(work, fmt, None if layout is None else Layout.parse(layout), word_bits, lanes,
                           high_first, byteorder, memory_map)  # fmt: skip
        for record in records:
            if record.name not in chosen:
                continue
            for tensor, encoded in _tensors(record):
                encoder = lambda _l, _t, _a, e=encoded: e  # noqa: E731  (the codes are already computed)
                entries.append(
                    _write(options, encoder, len(entries), record.name, record.op, tensor, encoded.values)
                )
        save_manifest(work, entries, {"quant": "int8 (convlab.quant.quantize_unet)", **dict(meta or {})})
    return entries


def _check_disk(target: Path, records, fmt: str, word_bits: int | None, lanes: int) -> None:
    """Refuse, before any file is written, what the disk beside ``target`` cannot hold.

    The integer run has produced every tensor, so the sizes are exact, each
    at its own width (uint8 codes, int8 weights, int32 bias) unless
    ``word_bits`` packs them.
    """
    needed = 0
    for record in records:
        for _, encoded in _tensors(record):
            bits = word_bits or encoded.value_bits * lanes
            needed += file_bytes(encoded.values.size, fmt, bits, lanes)
    check_space(target, needed, "layers")
