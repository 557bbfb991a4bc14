"""Integer and fixed-point arithmetic: exact golden models of what accelerators compute."""

# ---- fixed point (h5): HLS ap_fixed formats, fixed-point operators and U-Net runs ----
from ._fixed import FixedPoint

__all__: list[str] = [
    "FixedPoint",
]
# ---- end of fixed point ----
