"""U-Nets on :mod:`convlab.nn`: convlab's own layout and two PyTorch layouts, key for key."""

from ._config import UNetConfig
from ._unet import UNet

__all__ = ["UNet", "UNetConfig"]
