"""Memory images and golden vectors for hardware.

- :func:`write_memory` / :func:`read_memory`: one tensor as a memory image in
  Verilog ``$readmemh``/``$readmemb`` text, Xilinx ``.coe``, Intel ``.mif``,
  raw binary or ``.npy``; words of 1-64 bits, signed or unsigned, several
  values per word (lanes).
- :func:`to_layout` / :func:`from_layout` and :class:`Layout`: the element
  order (``NCHW``, ``NHWC``, ``NCHWc8``, any loop order).
- :func:`write_vectors`: every layer's input, parameters and output of one
  forward pass, with ``manifest.json`` (:class:`Entry`);
  :func:`write_onnx_vectors`: the same for every node of an ONNX graph;
  :func:`diff`: a
  simulation's dumps against them, the first wrong value and where the
  mismatches cluster.
- :func:`conv_reads`, :func:`conv_transpose_reads`, :func:`crop_reads`: the
  input addresses each output reads; :func:`line_buffer`; :func:`skip_windows`:
  a U-Net's skip crops as :class:`StridedRange` address descriptors.
"""

from ._addresses import (
    StridedRange,
    conv_reads,
    conv_transpose_reads,
    crop_ranges,
    crop_reads,
    line_buffer,
    skip_windows,
)
from ._diff import DiffReport, TensorDiff, diff
from ._golden import Encoded, estimate_bytes, float_encoder, write_vectors
from ._manifest import MANIFEST, Entry, load_manifest, read_entry
from ._memory import FORMATS, MAX_VALUES, format_of, read_memory, read_words, write_memory
from ._onnx_golden import onnx_encoder, write_onnx_vectors
from ._order import Layout, from_layout, to_layout
from ._quant_golden import write_quant_vectors
from ._words import WordSpec, pack, unpack

__all__ = [
    "FORMATS",
    "MANIFEST",
    "MAX_VALUES",
    "DiffReport",
    "Encoded",
    "Entry",
    "Layout",
    "StridedRange",
    "TensorDiff",
    "WordSpec",
    "conv_reads",
    "conv_transpose_reads",
    "crop_ranges",
    "crop_reads",
    "diff",
    "estimate_bytes",
    "float_encoder",
    "format_of",
    "from_layout",
    "line_buffer",
    "load_manifest",
    "onnx_encoder",
    "pack",
    "read_entry",
    "read_memory",
    "read_words",
    "skip_windows",
    "to_layout",
    "unpack",
    "write_memory",
    "write_onnx_vectors",
    "write_quant_vectors",
    "write_vectors",
]
