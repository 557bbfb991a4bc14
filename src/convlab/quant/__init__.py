"""Integer and fixed-point arithmetic: exact golden models of what accelerators compute."""

# ---- fixed point (h5): HLS ap_fixed formats, fixed-point operators and U-Net runs ----
from ._fixed import FixedPoint
from ._fixed_accumulate import accumulation_route
from ._fixed_conv import fixed_conv, fixed_conv_transpose
from ._fixed_elementwise import fixed_add, fixed_center_crop, fixed_concat, fixed_max_pool, fixed_relu

__all__: list[str] = [
    "FixedPoint",
    "accumulation_route",
    "fixed_add",
    "fixed_center_crop",
    "fixed_concat",
    "fixed_conv",
    "fixed_conv_transpose",
    "fixed_max_pool",
    "fixed_relu",
]
# ---- end of fixed point ----
