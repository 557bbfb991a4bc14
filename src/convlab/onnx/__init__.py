"""Any ONNX convolutional network on convlab's operators: run, trace, dump, tile.

``load(path | bytes | ModelProto)`` returns an :class:`OnnxModel`, callable
like a :class:`convlab.nn.Module`; ``model.run(feeds, keep="all")`` returns
every intermediate tensor by its ONNX name; ``model.trace(shape)`` is a
shape-only pass with receptive fields through skips and up-sampling;
``model.size_contract`` lets :mod:`convlab.tiling` tile the graph. The
operator table (:data:`OPS`, :func:`register`) takes one entry per operator.
Requires the ``onnx`` extra (``pip install convlab[onnx]``).
"""

from . import (  # noqa: F401  (register ops)
    _conv_ops,
    _depth_ops,
    _layout_ops,
    _math_ops,
    _pad_ops,
    _pool_ops,
    _quant_ops,
    _resize_ops,
)
from ._compare import NodeDifference, compare_onnxruntime, dump_tensors
from ._contract import graph_contract
from ._model import OnnxModel, load
from ._registry import OPS, Meta, OpSpec, index_map, register
from ._tensors import MAX_ELEMENTS, OnnxModelError
from ._trace import OnnxTraceRow

__all__ = [
    "MAX_ELEMENTS",
    "OPS",
    "Meta",
    "NodeDifference",
    "OnnxModel",
    "OnnxModelError",
    "OnnxTraceRow",
    "OpSpec",
    "compare_onnxruntime",
    "dump_tensors",
    "graph_contract",
    "index_map",
    "load",
    "register",
]
