"""convlab: convolution arithmetic made exact, fast and visible."""

from . import shapes
from ._args import ConvlabError

__version__ = "0.1.0"

__all__ = ["ConvlabError", "__version__", "shapes"]
