"""Memory images and golden vectors for hardware.

- :func:`write_memory` / :func:`read_memory`: one tensor as a memory image in
  Verilog ``$readmemh``/``$readmemb`` text, Xilinx ``.coe``, Intel ``.mif``,
  raw binary or ``.npy``; words of 1-64 bits, signed or unsigned, several
  values per word (lanes).
- :func:`to_layout` / :func:`from_layout` and :class:`Layout`: the element
  order (``NCHW``, ``NHWC``, ``NCHWc8``, any loop order).
"""

from ._memory import FORMATS, MAX_VALUES, format_of, read_memory, read_words, write_memory
from ._order import Layout, from_layout, to_layout
from ._words import WordSpec, pack, unpack

__all__ = [
    "FORMATS",
    "MAX_VALUES",
    "Layout",
    "WordSpec",
    "format_of",
    "from_layout",
    "pack",
    "read_memory",
    "read_words",
    "to_layout",
    "unpack",
    "write_memory",
]
