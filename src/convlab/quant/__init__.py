"""Integer and fixed-point arithmetic: exact golden models of what accelerators compute."""

# ---- fixed point (h5): HLS ap_fixed formats, fixed-point operators and U-Net runs ----
from ._fixed import FixedPoint
from ._fixed_accumulate import accumulation_route
from ._fixed_conv import fixed_conv, fixed_conv_transpose
from ._fixed_elementwise import fixed_add, fixed_center_crop, fixed_concat, fixed_max_pool, fixed_relu
from ._fixed_formats import FormatTable, LayerFormats
from ._fixed_sweep import SweepRow, bit_width_sweep
from ._fixed_unet import FixedLayer, calibrate_formats, fixed_unet, unet_layer_names

__all__: list[str] = [
    "FixedLayer",
    "FixedPoint",
    "FormatTable",
    "LayerFormats",
    "SweepRow",
    "accumulation_route",
    "bit_width_sweep",
    "calibrate_formats",
    "fixed_add",
    "fixed_center_crop",
    "fixed_concat",
    "fixed_conv",
    "fixed_conv_transpose",
    "fixed_max_pool",
    "fixed_relu",
    "fixed_unet",
    "unet_layer_names",
]
# ---- end of fixed point ----
