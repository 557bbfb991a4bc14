"""convlab: convolution arithmetic made exact, fast and visible.

The operators of :mod:`convlab.functional` are re-exported here
(``convlab.conv2d`` is ``convlab.functional.conv2d``). They are loaded on
first use, so that ``import convlab.shapes`` works without NumPy.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import shapes
from ._args import ConvlabError
from ._extras import MissingDependency
from ._limits import (
    ResourceError,
    expansion_limit,
    get_expansion_limit,
    get_memory_limit,
    memory_limit,
)

__version__ = "0.1.0"

_FUNCTIONAL = (
    "algorithm",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "batch_norm",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "fold",
    "get_num_threads",
    "interpolate",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "pad",
    "relu",
    "set_num_threads",
    "unfold",
)
_SUBMODULES = ("functional", "init", "io", "lowering", "models", "nn", "quant", "transforms")

__all__ = [
    "ConvlabError",
    "MissingDependency",
    "ResourceError",
    "__version__",
    "expansion_limit",
    "get_expansion_limit",
    "get_memory_limit",
    "memory_limit",
    "shapes",
    *_SUBMODULES,
    *_FUNCTIONAL,
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _FUNCTIONAL:
        return getattr(importlib.import_module(".functional", __name__), name)
    raise AttributeError(f"module 'convlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
