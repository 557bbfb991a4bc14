"""Integer shape arithmetic of convolution-family layers; no NumPy needed.

The one home of every size formula in convlab: the operators, the U-Net,
the tiling and the pictures all call these functions.
"""

from ._contract import SizeContract
from ._crop import CropBox, center_crop_box
from ._field_range import receptive_field_range
from ._formulas import (
    conv_input_sizes,
    conv_output_size,
    conv_transpose_output_size,
    output_padding_for,
    pool_output_size,
    same_padding,
    transpose_output_sizes,
)
from ._receptive import Layer, ReceptiveField, receptive_field
from ._roundtrip import Roundtrip, roundtrip
from ._solve import Solution, Solutions, solve
from ._unet import UNetLevel, UNetSizeError, UNetSizes, unet_sizes, unet_valid_sizes
from ._window import Phase1d, TapSlice, Window
from ._working import size_working

__all__ = [
    "CropBox",
    "Layer",
    "Phase1d",
    "ReceptiveField",
    "Roundtrip",
    "SizeContract",
    "Solution",
    "Solutions",
    "TapSlice",
    "UNetLevel",
    "UNetSizeError",
    "UNetSizes",
    "Window",
    "center_crop_box",
    "conv_input_sizes",
    "conv_output_size",
    "conv_transpose_output_size",
    "output_padding_for",
    "pool_output_size",
    "receptive_field",
    "receptive_field_range",
    "roundtrip",
    "same_padding",
    "size_working",
    "solve",
    "transpose_output_sizes",
    "unet_sizes",
    "unet_valid_sizes",
]
