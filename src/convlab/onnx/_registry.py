"""The operator table: one :class:`OpSpec` per ONNX op type, and the values flowing through a trace.

Adding an operator is one table entry. The integer operators are wired that
way in :mod:`._quant_ops`: one ``register`` per op, whose ``run`` calls
:func:`convlab.quant.run_onnx_node` and whose ``shape`` reuses the float
operator's rule with the output's integer dtype.

``run`` receives the node and its input arrays (``None`` for an omitted
optional input) and returns a tuple of output arrays; ``shape`` receives
:class:`Meta` records or, for small tensors whose values are known at trace
time (shapes, constants), arrays, and returns the same kinds; ``window``
gives the index maps of the receptive-field trace.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .._args import ConvlabError

__all__ = ["OPS", "Meta", "OpSpec", "dtype_of", "index_map", "ints_of", "register", "shape_of", "value_of"]

# onnx 1.23's latest opset. The operators here changed after opset 19 only to
# accept new element types (int4, float8...), which the dtype check refuses.
MAX_OPSET = 28


@dataclass(frozen=True)
class Meta:
    """A tensor of the shape-only trace: its shape and dtype, no values."""

    shape: tuple[int, ...]
    dtype: np.dtype


Value = "np.ndarray | Meta"
RunFn = Callable[..., tuple]
# A per-dimension index map of the receptive-field trace: output index -> input indices read.
IndexMap = Callable[[int], Sequence[int]]


@dataclass(frozen=True)
class OpSpec:
    """How convlab runs, traces and validates one ONNX operator.

    Attributes
    ----------
    run : callable ``(node, inputs) -> tuple of arrays``
    shape : callable ``(node, inputs) -> tuple of Meta or arrays``
        Shape-only rule; values of small known inputs may be read with :func:`value_of`.
    attributes : tuple of str
        The attributes convlab understands; any other one is refused at load.
    opsets : (int, int)
        The range of the node's domain opset this implementation follows.
    check : callable ``(node) -> list of str``, optional
        Load-time problems of attribute values (unsupported modes...).
    window : callable ``(node, inputs, outputs) -> {input index: [IndexMap per spatial dim]}``, optional
        For spatial operators: which input pixels each output pixel reads. ``"pointwise"``:
        output pixel ``o`` reads pixel ``o`` of every input of the same rank (broadcast: 0).
        ``None``: the output has no spatial layout (flatten, matmul...).
    flops : callable ``(node, input_shapes, output_shapes) -> int``, optional
    """

    run: RunFn
    shape: RunFn
    attributes: tuple[str, ...] = ()
    opsets: tuple[int, int] = (1, MAX_OPSET)
    check: Callable[[object], list[str]] | None = None
    window: Callable | str | None = "pointwise"
    flops: Callable | None = None


OPS: dict[tuple[str, str], OpSpec] = {}


def register(op_type: str, spec: OpSpec, domain: str = "") -> None:
    """Add or replace the implementation of ``op_type`` in ``domain`` (``''`` is ai.onnx)."""
    OPS[(domain, op_type)] = spec


def index_map(fn: IndexMap, jump: object = 1) -> IndexMap:
    """Tag a window's index map with its jump: input pixels per output pixel (stride, 1/stride...)."""
    fn.jump = Fraction(jump)  # type: ignore[attr-defined]
    return fn


def shape_of(value: object) -> tuple[int, ...]:
    return value.shape if isinstance(value, Meta) else tuple(np.shape(value))


def dtype_of(value: object) -> np.dtype:
    return value.dtype if isinstance(value, Meta) else np.asarray(value).dtype


def value_of(value: object, what: str) -> np.ndarray:
    """The values of an input that must be known (a shape, axes, scales...)."""
    if isinstance(value, Meta):
        raise ConvlabError(
            f"{what} must be known without running the graph (a constant or computed from shapes)"
        )
    return np.asarray(value)


def ints_of(value: object, what: str) -> tuple[int, ...]:
    array = value_of(value, what)
    if array.dtype.kind not in "iu":
        raise ConvlabError(f"{what} must be integers, got dtype {array.dtype}")
    return tuple(int(v) for v in array.reshape(-1))
