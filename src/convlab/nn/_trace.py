"""Shape-only trace of a module: per layer the output shape, parameters, FLOPs and activation bytes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .._args import ConvlabError, as_int
from ..shapes import CropBox

__all__ = ["Trace", "TraceRow", "trace_into"]


@dataclass(frozen=True)
class TraceRow:
    """One layer (or skip merge) of a traced forward pass; no array is allocated to make it.

    Attributes
    ----------
    name : str
        The layer's dotted name, the prefix of its state_dict keys.
    layer : str
        Its class name, or ``'Concat'`` for a skip connection's merge.
    output_shape : tuple of int
        ``(N, C, *spatial)`` after the layer.
    parameters : int
        Parameter values of the layer (buffers not counted).
    flops : int
        ``2 * multiply-accumulates``: convolutions, transposed convolutions and
        batch norm's ``x * a + b``; comparisons, copies and interpolation count 0.
    activation_bytes : int
        Bytes of the output at the model's dtype.
    crop : CropBox or None
        At a merge of an unpadded U-Net: the window taken from the skip.
    pad : tuple of (int, int) or None
        At a merge of a padded U-Net: the zero padding of the up-sampled features.
    """

    name: str
    layer: str
    output_shape: tuple[int, ...]
    parameters: int
    flops: int
    activation_bytes: int
    crop: CropBox | None = None
    pad: tuple[tuple[int, int], ...] | None = None


def _merge(row: TraceRow) -> str:
    """How a skip merge matched sizes: the crop window start:stop, or the (lo, hi) padding."""
    if row.crop is not None:
        return " x ".join(f"{a}:{b}" for a, b in zip(row.crop.start, row.crop.stop))
    return "" if row.pad is None else "pad " + " x ".join(f"{lo}:{hi}" for lo, hi in row.pad)


class Trace(list):
    """The rows :meth:`Module.trace` returns: a plain list that Jupyter shows as a table."""

    def _repr_html_(self) -> str:
        from .._html import table

        header = ["name", "layer", "output shape", "parameters", "FLOPs", "activation bytes", "crop / pad"]
        rows = [
            [
                r.name,
                r.layer,
                r.output_shape,
                r.parameters,
                r.flops,
                r.activation_bytes,
                _merge(r),
            ]
            for r in self
        ]
        return table(f"{len(self)} layers", header, rows)


def check_shape(input_shape: Any) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive ints, at least ``(C, size)``."""
    if isinstance(input_shape, (int, str)) or not hasattr(input_shape, "__len__") or len(input_shape) < 2:
        raise ConvlabError(
            f"input_shape must be a tuple such as (N, C, H, W), got input_shape={input_shape!r}"
        )
    return tuple(as_int(v, "input_shape", minimum=1) for v in input_shape)


def trace_into(module: Any, name: str, shape: tuple[int, ...], rows: list[TraceRow], itemsize: int):
    """Append the rows of ``module`` applied to ``shape``; return its output shape.

    A module with a ``_trace`` method traces itself (networks whose forward is
    not a chain); a module with children is a chain of them; a leaf adds one row
    from its ``output_shape`` and ``macs``.
    """
    if hasattr(module, "_trace"):
        return module._trace(name, shape, rows, itemsize)
    children = list(module.named_children())
    if children:
        for child_name, child in children:
            shape = trace_into(child, f"{name}.{child_name}" if name else child_name, shape, rows, itemsize)
        return shape
    kind = type(module).__name__
    if type(module).output_shape.__qualname__ == "Module.output_shape":
        raise ConvlabError(
            f"layer {name or '<root>'} ({kind}) has no forward shape rule, so it cannot be traced"
        )
    try:
        out = module.output_shape(shape)
    except ConvlabError as err:
        raise ConvlabError(f"at layer {name or '<root>'} ({kind}) with input shape {shape}: {err}") from None
    macs = module.macs(shape) if hasattr(module, "macs") else 0
    params = sum(a.size for a in module._parameters.values())
    rows.append(TraceRow(name, type(module).__name__, out, params, 2 * macs, math.prod(out) * itemsize))
    return out
