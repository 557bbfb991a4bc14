"""Hypothesis strategies of quantized convolution configurations (shared by the default and slow suites)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

# Scales that make ties (powers of two) and scales that do not; tiny y scales saturate both ways.
SCALES = [2.0**-k for k in range(0, 9)] + [0.0037, 0.011, 0.02, 0.1, 0.3, 1.7, 3.0]
RANGES = {"uint8": (0, 255), "int8": (-128, 127)}


def _zero_point(draw, kind: str) -> int:
    lo, hi = RANGES[kind]
    return draw(st.sampled_from([lo, hi, (lo + hi + 1) // 2]) | st.integers(lo, hi))


def _codes(draw, kind: str, shape: tuple[int, ...]) -> np.ndarray:
    lo, hi = RANGES[kind]
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    extreme = draw(st.sampled_from(["uniform", "extremes", "narrow"]))
    if extreme == "extremes":
        values = rng.choice([lo, hi, lo + 1, hi - 1], size=shape)
    elif extreme == "narrow":
        mid = (lo + hi) // 2
        values = rng.integers(mid - 3, mid + 4, size=shape)
    else:
        values = rng.integers(lo, hi + 1, size=shape)
    return values.astype(kind)


@st.composite
def conv_configs(draw, max_ndim: int = 3, *, transposed: bool = False):
    """A dict of operands and geometry that onnxruntime's QLinearConv accepts."""
    ndim = draw(st.integers(1, max_ndim))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg_in, cg_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    size = tuple(draw(st.integers(max(1, r - 2), r + 5)) for r in reach)
    pairs = []
    for r, n in zip(reach, size):
        lo = draw(st.integers(0, 2))
        hi = draw(st.integers(max(0, r - n - lo), 2 + max(0, r - n - lo)))
        pairs.append((lo, hi))
    # onnxruntime refuses auto_pad SAME_* with dilation ("Dilation not supported").
    same = not transposed and set(dilation) == {1}
    auto_pad = draw(st.sampled_from([None, None, None, "SAME_UPPER", "SAME_LOWER"])) if same else None
    x_kind = draw(st.sampled_from(["uint8", "int8"]))
    w_kind = "int8" if x_kind == "int8" else draw(st.sampled_from(["uint8", "int8"]))
    c_in, c_out = cg_in * groups, cg_out * groups
    w_shape = (c_in, cg_out, *kernel) if transposed else (c_out, cg_in, *kernel)
    per_channel = draw(st.booleans())
    n_w = (cg_out if transposed else c_out) if per_channel else 1  # the weight's output axis
    w_scale = np.array([draw(st.sampled_from(SCALES)) for _ in range(n_w)], np.float32)
    # onnxruntime's per-channel filters share one zero point value (it checks they are equal).
    w_zp = np.full(n_w, _zero_point(draw, w_kind), w_kind)
    bias = None
    if draw(st.booleans()):
        bias = (
            np.random.default_rng(draw(st.integers(0, 2**31)))
            .integers(-(2**14), 2**14, c_out)
            .astype(np.int32)
        )
    return {
        "x": _codes(draw, x_kind, (draw(st.integers(1, 2)), c_in, *size)),
        "x_scale": np.float32(draw(st.sampled_from(SCALES))),
        "x_zero_point": np.array(_zero_point(draw, x_kind), x_kind),
        "w": _codes(draw, w_kind, w_shape),
        "w_scale": w_scale if per_channel else w_scale.reshape(()),
        "w_zero_point": w_zp if per_channel else w_zp.reshape(()),
        "y_scale": np.float32(draw(st.sampled_from(SCALES))),
        "y_zero_point": np.array(_zero_point(draw, x_kind), x_kind),
        "bias": bias,
        "stride": stride,
        "dilation": dilation,
        "pairs": tuple(pairs),
        "auto_pad": auto_pad,
        "groups": groups,
    }
