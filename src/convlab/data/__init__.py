"""Data that ships with convlab: synthetic cell images and the demo's trained U-Net.

``demo_unet.safetensors`` holds the weights of a small U-Net (:data:`DEMO_CONFIG`)
trained by ``scripts/train_demo_unet.py`` on :func:`synthetic_cells` images.
"""

from __future__ import annotations

from pathlib import Path

from ..models import UNet, UNetConfig
from ._synthetic import synthetic_cells

__all__ = ["DEMO_CONFIG", "DEMO_WEIGHTS", "demo_unet", "synthetic_cells"]

# Small enough to train in minutes on two cores and to segment a 4096² image
# in about a minute; unpadded, so that overlap-tile inference is exact.
DEMO_CONFIG = UNetConfig(in_channels=1, classes=2, depth=2, width=8, padding="valid")
DEMO_WEIGHTS = Path(__file__).with_name("demo_unet.safetensors")


def demo_unet() -> UNet:
    """The demo's trained U-Net (float32), from the weights inside the package.

    >>> demo_unet().config.width
    8
    """
    from ..io import load_weights

    model = UNet(DEMO_CONFIG)
    model.load_state_dict(load_weights(DEMO_WEIGHTS))
    return model
