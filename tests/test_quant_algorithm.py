"""Exact integer and fixed-point convolutions ignore a float algorithm context.

Winograd's transforms round: inside ``with algorithm("winograd")`` the float
operators may use it, but quant's float64 route must stay a GEMM, or the
integer sums it proves exact would silently be rounded.
"""

from __future__ import annotations

import numpy as np

from convlab.functional import algorithm, conv2d
from convlab.quant import FixedPoint, conv_integer, fixed_conv


def _loop_conv(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    n, _, h, wd = x.shape
    o, _, k, _ = w.shape
    out = np.zeros((n, o, h - k + 1, wd - k + 1), dtype=np.int64)
    for i in range(h - k + 1):
        for j in range(wd - k + 1):
            patch = x[:, :, i : i + k, j : j + k].astype(np.int64)
            out[:, :, i, j] = np.einsum("nckl,ockl->no", patch, w.astype(np.int64))
    return out


def _winograd_would_run(x: np.ndarray, w: np.ndarray) -> None:
    """The same shapes in float32 do take Winograd under the context (it rounds
    differently from the GEMM), so the exact results below prove quant stays on GEMM."""
    xf, wf = x.astype(np.float32) / 128, w.astype(np.float32) / 128
    with algorithm("winograd"):
        fast = conv2d(xf, wf)
    assert not np.array_equal(fast, conv2d(xf, wf))


def test_conv_integer_is_exact_under_winograd():
    rng = np.random.default_rng(3)
    # 64 -> 64 channels: a shape the float Winograd rule takes (see below).
    x = rng.integers(-128, 128, (1, 64, 12, 12), dtype=np.int8)
    w = rng.integers(-128, 128, (64, 64, 3, 3), dtype=np.int8)
    _winograd_would_run(x, w)
    with algorithm("winograd"):
        got = conv_integer(x, w)
    np.testing.assert_array_equal(got, _loop_conv(x, w))


def test_fixed_conv_is_exact_under_winograd():
    rng = np.random.default_rng(4)
    fmt = FixedPoint(16, 8)
    x = rng.integers(-(1 << 15), 1 << 15, (1, 64, 10, 10))
    w = rng.integers(-(1 << 15), 1 << 15, (64, 64, 3, 3))
    _winograd_would_run(x, w)
    out_fmt = FixedPoint(48, 16)
    with algorithm("winograd"):
        got = fixed_conv(x, fmt, w, fmt, out_format=out_fmt)
    np.testing.assert_array_equal(got, _loop_conv(x, w))
