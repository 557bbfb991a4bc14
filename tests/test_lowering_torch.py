"""Every convlab.lowering route against PyTorch in float64, over random configurations.

PyTorch refuses ``(lo, hi)`` padding pairs and ``'same'`` at stride > 1: the
convolution then gets the input padded by ``F.pad`` first, the transposed
convolution runs unpadded and its result is cropped, which is what the
padding means.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from conv_cases import assert_close, conv_case, conv_transpose_case
from convlab import lowering as lw

torch = pytest.importorskip("torch")
F = torch.nn.functional

TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
CONV_ROUTES = [lw.conv_by_matrix, lw.conv_by_unfold]
TRANSPOSE_ROUTES = [
    lw.conv_transpose_by_matrix,
    lw.conv_transpose_by_zero_insertion,
    lw.conv_transpose_by_scatter,
    lw.conv_transpose_by_phases,
]


def _t(a):
    return None if a is None else torch.from_numpy(np.asarray(a, np.float64))


def torch_conv(case, x, w, b):
    flat = [p for pair in reversed(case.pads) for p in pair]
    xt = F.pad(_t(case.xb if x is None else x), flat)
    return TORCH_CONV[case.ndim](xt, _t(w), _t(b), case.stride, 0, case.dilation, case.groups).numpy()


def torch_conv_transpose(case, x, w, b):
    full = TORCH_CONV_T[case.ndim](
        _t(x), _t(w), _t(b), case.stride, 0, case.output_padding, case.groups, case.dilation
    ).numpy()
    crop = tuple(slice(lo, n - hi) for (lo, hi), n in zip(case.pads, full.shape[2:]))
    return full[(Ellipsis, *crop)]


def _abs(a):
    return None if a is None else np.abs(a)


def check_conv_routes(case):
    exact = torch_conv(case, case.xb, case.w, case.b)
    scale = torch_conv(case, np.abs(case.xb), np.abs(case.w), _abs(case.b))
    for route in CONV_ROUTES:
        ours = route(case.x, case.w, case.b, case.stride, case.padding, case.dilation, case.groups)
        assert_close(ours[None] if case.unbatched else ours, exact, scale, case.reduction())


def check_conv_transpose_routes(case):
    exact = torch_conv_transpose(case, case.xb, case.w, case.b)
    scale = torch_conv_transpose(case, np.abs(case.xb), np.abs(case.w), _abs(case.b))
    for route in TRANSPOSE_ROUTES:
        ours = route(
            case.x, case.w, case.b, case.stride, case.pads, case.output_padding, case.groups, case.dilation
        )
        assert_close(ours[None] if case.unbatched else ours, exact, scale, case.reduction(transposed=True))


@settings(max_examples=150)
@given(conv_case(modes=False))
def test_conv_routes_equal_torch(case):
    check_conv_routes(case)


@settings(max_examples=150)
@given(conv_transpose_case())
def test_conv_transpose_routes_equal_torch(case):
    check_conv_transpose_routes(case)


@pytest.mark.slow
@settings(max_examples=10_000)
@given(conv_case(max_extra=10, modes=False))
def test_conv_routes_equal_torch_sweep(case):
    check_conv_routes(case)


@pytest.mark.slow
@settings(max_examples=10_000)
@given(conv_transpose_case(max_extra=8))
def test_conv_transpose_routes_equal_torch_sweep(case):
    check_conv_transpose_routes(case)


def test_seed001_against_conv_transpose2d_module():
    layer = torch.nn.ConvTranspose2d(1, 1, kernel_size=2, stride=2, bias=False).double()
    k = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
    with torch.no_grad():
        layer.weight.copy_(_t(k))
        exact = layer(_t(k)).numpy()
    for route in TRANSPOSE_ROUTES:
        np.testing.assert_array_equal(route(k, k, stride=2), exact)
