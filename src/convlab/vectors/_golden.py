"""Golden vectors: every layer's input, parameters and output of one forward pass, as memory files."""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._args import ConvlabError
from ..nn import Module
from ._manifest import Entry, save_manifest
from ._memory import format_of, write_memory
from ._order import Layout, channels_first, to_layout
from ._staging import check_space, check_target, staged_directory

__all__ = ["Encoded", "estimate_bytes", "float_encoder", "write_vectors"]

_SUFFIX = {
    "readmemh": ".hex",
    "readmemb": ".bmem",
    "coe": ".coe",
    "mif": ".mif",
    "bin": ".bin",
    "npy": ".npy",
}


@dataclass(frozen=True)
class Encoded:
    """A tensor as the numbers hardware stores: ``values`` of ``value_bits`` bits and their meaning."""

    values: np.ndarray
    number: dict[str, Any]
    signed: bool
    value_bits: int


# (layer name, tensor name, float array) -> Encoded. The one place a number
# format enters: float32 words now, an integer or fixed-point quantiser later.
Encoder = Callable[[str, str, np.ndarray], Encoded]


def float_encoder(layer: str, tensor: str, array: np.ndarray) -> Encoded:
    """Floats as their IEEE bits: float32 tensors become unsigned 32-bit words.

    >>> float_encoder("head", "output", np.ones(2, np.float32)).number
    {'kind': 'float32'}
    """
    return Encoded(array, {"kind": array.dtype.name}, False, array.dtype.itemsize * 8)


@dataclass(frozen=True)
class _Options:
    out: Path
    fmt: str
    layout: Layout | None
    word_bits: int | None
    lanes: int
    high_first: bool
    byteorder: str
    memory_map: Mapping[str, int]


def write_vectors(
    model: Module,
    x: np.ndarray,
    out: str | os.PathLike,
    *,
    encoder: Encoder = float_encoder,
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
    """Run ``model(x)`` and write each leaf layer's input, parameters and output to ``out``.

    Files are named ``{index:03d}_{layer}_{tensor}{suffix}`` and listed in
    ``out/manifest.json`` in the order the forward pass reaches them. Each file
    is written as soon as its layer runs, so memory stays that of one forward.
    The directory is built beside ``out`` and renamed into place at the end,
    replacing a previous vectors directory whole; an error leaves ``out`` as
    it was.

    Parameters
    ----------
    model : convlab.nn.Module
    x : ndarray ``(N, C, *spatial)``
    out : directory, created if missing
    encoder : callable, default :func:`float_encoder`
        ``encoder(layer, tensor, array) -> Encoded``: the stored numbers.
    fmt, layout, word_bits, lanes, high_first, byteorder
        As in :func:`write_memory` and :func:`to_layout` (default layout:
        channels first, ``NCHW`` for 2-D layers); ``word_bits``
        defaults to the encoder's value width times ``lanes``.
    layers : glob patterns, optional
        Only layers whose dotted name matches one (e.g. ``"down0.*"``).
    memory_map : mapping, optional
        ``"layer:tensor"`` -> word address, recorded in the manifest (and as
        an ``@`` line in ``$readmem`` files).

    Examples
    --------
    >>> import tempfile
    >>> from convlab.nn import Conv2d
    >>> entries = write_vectors(Conv2d(1, 2, 3), np.ones((1, 1, 4, 4), np.float32), tempfile.mkdtemp())
    >>> [(e.tensor, e.shape) for e in entries]
    [('input', [1, 1, 4, 4]), ('weight', [2, 1, 3, 3]), ('bias', [2]), ('output', [1, 2, 2, 2])]
    """
    if not isinstance(model, Module):
        raise TypeError(
            f"model must be a convlab.nn.Module (for an ONNX model: write_onnx_vectors), "
            f"got {type(model).__name__}"
        )
    format_of("x", fmt)
    options = _Options(
        Path(out),
        fmt,
        None if layout is None else Layout.parse(layout),
        word_bits,
        lanes,
        high_first,
        byteorder,
        dict(memory_map or {}),
    )
    targets = [(n, m) for n, m in model.named_modules() if not any(True for _ in m.children())]
    targets = [
        (n or "model", m) for n, m in targets if not layers or any(fnmatch.fnmatch(n, p) for p in layers)
    ]
    if not targets:
        raise ConvlabError(f"layers={list(layers or [])} matches no layer of the model")
    _check_map(options.memory_map, targets)
    check_target(options.out)
    _check_disk(model, np.shape(x), options, word_bits or 8 * np.asarray(x).dtype.itemsize * lanes)
    entries: list[Entry] = []
    with staged_directory(options.out) as work:
        staged = dataclasses.replace(options, out=work)
        with _hooks(targets, lambda *a: entries.append(_write(staged, encoder, len(entries), *a))):
            model(x)
        save_manifest(work, entries, dict(meta or {}))
    return entries


def estimate_bytes(model: Module, input_shape: tuple[int, ...], fmt: str, word_bits: int, lanes: int = 1):
    """About how many bytes :func:`write_vectors` writes, from the shape-only trace (None if untraceable).

    Each traced layer's output counted twice (it is the next layer's input
    too), plus the parameters; text formats cost their digits and a newline.

    >>> from convlab.nn import Conv2d
    >>> estimate_bytes(Conv2d(1, 2, 3), (1, 1, 4, 4), "bin", 32)
    144
    """
    try:
        rows = model.trace(tuple(input_shape))
    except (ConvlabError, TypeError):
        return None  # a custom layer without a shape rule: nothing to estimate from
    values = sum(2 * math.prod(r.output_shape) + r.parameters for r in rows if r.layer != "Concat")
    return file_bytes(values, fmt, word_bits, lanes)


def _check_map(memory_map: Mapping[str, int], targets: list[tuple[str, Module]]) -> None:
    """A memory-map key that names no tensor is a typo: refuse it before any work."""
    known = set()
    for name, module in targets:
        tensors = ["input", "output", *module._parameters, *module._buffers]
        known.update(f"{name}:{tensor}" for tensor in tensors)
    unknown = sorted(set(memory_map) - known)
    if unknown:
        raise ConvlabError(
            f"memory_map names no tensor of the model: {', '.join(unknown[:5])}; keys are 'layer:tensor', "
            f"e.g. {next(iter(sorted(known)))!r}"
        )


def _check_disk(model: Module, shape: tuple[int, ...], options: _Options, word_bits: int) -> None:
    needed = estimate_bytes(model, shape, options.fmt, word_bits, options.lanes)
    if needed is not None:
        check_space(options.out, needed, "layers")


class _hooks:
    """Context manager: each target's ``forward`` reports its input, parameters and output."""

    def __init__(self, targets: list[tuple[str, Module]], emit: Callable[..., None]):
        self.targets, self.emit, self.calls = targets, emit, {}

    def __enter__(self) -> _hooks:
        self.saved = [module.__dict__.get("forward") for _, module in self.targets]
        for name, module in self.targets:
            object.__setattr__(module, "forward", self._wrap(name, module, module.forward))
        return self

    def __exit__(self, *exc: object) -> None:
        for (_, module), saved in zip(self.targets, self.saved):
            module.__dict__.pop("forward", None)
            if saved is not None:  # a forward the instance itself had: put it back
                module.__dict__["forward"] = saved

    def _wrap(self, name: str, module: Module, forward: Callable) -> Callable:
        def hooked(input: Any, *args: Any, **kwargs: Any) -> Any:
            calls = self.calls[name] = self.calls.get(name, 0) + 1
            layer = name if calls == 1 else f"{name}#{calls}"  # a module called twice
            op = type(module).__name__
            self.emit(layer, op, "input", np.asarray(input))
            for key, array in [*module._parameters.items(), *module._buffers.items()]:
                if array is not None and array.dtype.kind == "f":
                    self.emit(layer, op, key, array)
            result = forward(input, *args, **kwargs)
            self.emit(layer, op, "output", np.asarray(result[0] if isinstance(result, tuple) else result))
            return result

        return hooked


def file_bytes(count: int, fmt: str, word_bits: int, lanes: int = 1) -> int:
    """About how many bytes ``count`` values take in ``fmt`` (text formats: digits and a newline per word).

    >>> file_bytes(10, "bin", 32), file_bytes(10, "readmemh", 32)
    (40, 90)
    """
    digits = -(-word_bits // 4)
    per_word = {"readmemh": digits + 1, "readmemb": word_bits + 1, "coe": digits + 2, "mif": digits + 16}
    per_word |= {"bin": -(-word_bits // 8), "npy": -(-word_bits // 8)}
    return count * per_word[fmt] // lanes


def _file_name(index: int, layer: str, tensor: str, suffix: str) -> str:
    # ONNX node names ("/down1/conv/Conv") hold path separators: only these characters reach a file name.
    safe = "".join(c if c.isalnum() or c in "._-#" else "_" for c in f"{layer}_{tensor}").strip("._")
    return f"{index:03d}_{safe[:120]}{suffix}"


def _write(
    options: _Options, encoder: Encoder, index: int, layer: str, op: str, tensor: str, array, source=None
):
    encoded = encoder(layer, tensor, array)
    lanes = options.lanes
    word_bits = options.word_bits or encoded.value_bits * lanes
    if word_bits != encoded.value_bits * lanes:
        raise ConvlabError(
            f"layer {layer} {tensor}: word_bits={word_bits} with lanes={lanes} gives "
            f"{word_bits // lanes}-bit values, but its {encoded.number['kind']} numbers are "
            f"{encoded.value_bits}-bit"
        )
    # Layouts order (N, C, *spatial) tensors; scalars, vectors and matrices stay row-major ("C").
    layout = (options.layout or Layout.parse(channels_first(array.ndim))) if array.ndim > 2 else None
    ordered = to_layout(encoded.values, layout) if layout is not None else encoded.values
    file = _file_name(index, layer, tensor, _SUFFIX[options.fmt])
    address = options.memory_map.get(f"{layer}:{tensor}")
    header = f"convlab golden vector: layer {layer} ({op}) {tensor}, shape {list(ordered.shape)}"
    try:
        depth = write_memory(
            options.out / file,
            ordered,
            word_bits,
            signed=encoded.signed,
            lanes=lanes,
            fmt=options.fmt,
            high_first=options.high_first,
            byteorder=options.byteorder,
            address=address if options.fmt in ("readmemh", "readmemb") else None,
            header=header + f", {encoded.number['kind']}",
        )
    except ConvlabError as err:
        raise ConvlabError(f"layer {layer} {tensor}: {err}") from None
    return Entry(
        layer, op, tensor, file, options.fmt, list(ordered.shape), list(array.shape),
        str(layout) if layout is not None else "C", word_bits, encoded.value_bits, lanes,
        options.high_first, encoded.signed, options.byteorder, encoded.number, int(ordered.size),
        depth, address, source,
    )  # fmt: skip
