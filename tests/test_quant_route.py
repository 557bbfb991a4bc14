"""The exactness route: float64 GEMM below K * max|x - zx| * max|w - zw| = 2**53, int64 at and above it."""

from __future__ import annotations

import numpy as np
import pytest

from convlab import ConvlabError
from convlab.quant import conv_integer, conv_route, matmul_integer
from convlab.quant._conv_args import conv_geometry
from convlab.quant._integer import accumulate, choose_route


def test_route_switches_exactly_at_two_to_the_53():
    assert choose_route(1, 2**26, 2**27 - 1).name == "float64"
    assert choose_route(2, 2**26, 2**26).name == "int64"  # bound == 2**53: not below it
    assert choose_route(2, 2**26, 2**26 - 1).name == "float64"


def _edge_case():
    """K = 2 taps whose exact sum 2**53 + 1 has no float64: float64 GEMM would return 2**53."""
    x = np.array([[[2**26, 1]]], np.int32)
    w = np.array([[[2**27, 1]]], np.int32)
    return x, w


def test_just_above_the_bound_takes_int64_and_stays_exact():
    x, w = _edge_case()
    route = conv_route(x, w)
    assert (route.name, route.bound) == ("int64", 2**54)
    geom, out, _ = conv_geometry((2,), (2,), 1, "valid", 1)
    acc, taken = accumulate(x.astype(np.int64), w.astype(np.int64), geom, out, 1)
    assert taken == route
    assert int(acc[0, 0, 0]) == 2**53 + 1 != int(np.float64(2**53) + np.float64(1))
    # conv_integer holds it as an int32 register: (2**53 + 1) mod 2**32 = 1, where float64 would give 0.
    assert conv_integer(x, w).item() == 1


def test_just_below_the_bound_takes_float64_and_is_exact():
    x = np.array([[[2**26 - 1, 2**26 - 1]]], np.int32)
    w = np.array([[[2**26, 2**26 - 1]]], np.int32)
    route = conv_route(x, w)
    assert route.name == "float64" and route.bound == 2 * (2**26 - 1) * 2**26 < 2**53
    exact = (2**26 - 1) * 2**26 + (2**26 - 1) ** 2
    assert conv_integer(x, w).item() == np.int64(exact).astype(np.int32)
    assert matmul_integer(x[0], w[0].T).item() == np.int64(exact).astype(np.int32)


def test_zero_points_enter_the_bound():
    x = np.full((1, 1, 3, 3), 255, np.uint8)
    w = np.full((1, 1, 3, 3), -128, np.int8)
    assert conv_route(x, w, 0, 127).bound == 9 * 255 * 255
    assert conv_route(x, w, 255, 0).bound == 0


def test_u_net_int8_layers_take_float64():
    # 3x3 conv, 1024 channels (the deepest U-Net layer): 9216 * 255 * 255 < 2**53 by far.
    assert choose_route(9 * 1024, 255, 255).name == "float64"
    assert choose_route(9 * 1024, 65535, 65535).name == "float64"  # int16/uint16 too


def test_beyond_int64_is_refused_before_any_work():
    with pytest.raises(ConvlabError, match="exceed int64"):
        choose_route(4, 2**31, 2**31)


def test_float32_passes_keep_each_partial_sum_below_two_to_the_24():
    route = choose_route(9 * 64, 255, 128, taps=9, channels=64)
    assert route.name == "float32"
    fit = (2**24 - 1) // (9 * 255 * 128)  # 57 channels keep a pass below 2**24
    assert route.channels_per_pass * 9 * 255 * 128 < 2**24
    assert -(-64 // route.channels_per_pass) == -(-64 // fit) == 2  # as few passes as possible, equal widths
    # One channel's taps already reach 2**24: no float32 pass is exact, float64 takes over.
    assert choose_route(2, 2**12, 2**12, taps=1, channels=2).name == "float64"
    assert choose_route(2, 2**12, 2**12 - 1, taps=1, channels=2).channels_per_pass == 1


def test_float32_route_is_exact_where_one_float32_gemm_is_not():
    """1x1 conv over 3 channels: the exact sum 33542146 needs 25 bits, so one float32 GEMM rounds it."""
    x = np.array([[[4095]], [[4095]], [[1]]], np.int16)[None]  # (1, 3, 1, 1)
    w = np.array([[[[4096]], [[4095]], [[1]]]], np.int16)  # (1, 3, 1, 1)
    route = conv_route(x, w)
    assert (route.name, route.channels_per_pass) == ("float32", 1)
    exact = 4095 * 4096 + 4095 * 4095 + 1
    one_gemm = float(np.float32(4095 * 4096) + np.float32(4095 * 4095) + np.float32(1))
    assert one_gemm != exact
    assert conv_integer(x, w).item() == exact


def test_groups_skip_the_float32_route():
    x = np.zeros((1, 4, 3, 3), np.uint8)
    w = np.ones((4, 2, 3, 3), np.int8)
    assert conv_route(x, w, 200, groups=2).name == "float64"
    assert conv_route(x, np.ones((4, 4, 3, 3), np.int8), 200).name == "float32"
