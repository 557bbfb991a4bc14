"""``convlab.init.bilinear_kernel`` and its relation to bilinear interpolation."""

from __future__ import annotations

import numpy as np
import pytest

from convlab import ConvlabError
from convlab.init import bilinear_kernel


def _d2l_kernel(channels: int, k: int) -> np.ndarray:
    """d2l's ``bilinear_kernel`` for in == out channels (it fails otherwise)."""
    factor = (k + 1) // 2
    center = factor - 1 if k % 2 == 1 else factor - 0.5
    og = (np.arange(k).reshape(-1, 1), np.arange(k).reshape(1, -1))
    filt = (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)
    weight = np.zeros((channels, channels, k, k))
    weight[range(channels), range(channels), :, :] = filt
    return weight


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 8, 16])
def test_equals_fcn_kernel(k):
    np.testing.assert_array_equal(bilinear_kernel(3, 3, k, dtype=np.float64), _d2l_kernel(3, k))


@pytest.mark.parametrize(("cin", "cout"), [(1, 4), (4, 1), (3, 5), (5, 3)])
def test_any_channel_counts_diagonal_only(cin, cout):
    w = bilinear_kernel(cin, cout, 4)
    assert w.shape == (cin, cout, 4, 4) and w.dtype == np.float32
    tent = bilinear_kernel(1, 1, 4)[0, 0]
    for i in range(cin):
        for j in range(cout):
            np.testing.assert_array_equal(w[i, j], tent if i == j else 0)


def test_separable_and_sums_to_factor_squared():
    w = bilinear_kernel(1, 1, 6, dtype=np.float64)[0, 0]
    assert np.linalg.matrix_rank(w) == 1
    # stride 3 upsampling: each output position gets weights summing to 1, so
    # the kernel's total is stride**2.
    assert w.sum() == pytest.approx(9.0)


def _upsample_pair(torch, x, conv_transpose2d=None, interpolate=None):
    c = x.shape[1]
    w = bilinear_kernel(c, c, 4, dtype=x.dtype)
    if conv_transpose2d is None:
        up = torch.nn.functional.conv_transpose2d(
            torch.from_numpy(x), torch.from_numpy(w), stride=2, padding=1
        )
        up = up.numpy()
    else:
        up = conv_transpose2d(x, w, stride=2, padding=1)
    if interpolate is None:
        t = torch.from_numpy(x)
        ref = torch.nn.functional.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False).numpy()
    else:
        ref = interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    return up, ref


def _check_interior_and_border(up, ref, x):
    assert up.shape == ref.shape == (*x.shape[:2], 2 * x.shape[2], 2 * x.shape[3])
    np.testing.assert_allclose(up[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], rtol=1e-12, atol=1e-12)
    # On the border, the transposed conv weights the edge pixel by 3/4 and the
    # zero beyond it by 1/4, where interpolate clamps (weight 1 on the edge).
    np.testing.assert_allclose(up[..., 0, 1:-1], 0.75 * ref[..., 0, 1:-1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(up[..., 1:-1, -1], 0.75 * ref[..., 1:-1, -1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(up[..., 0, 0], 0.5625 * x[..., 0, 0], rtol=1e-12)


def test_conv_transpose_equals_bilinear_interpolate_in_the_interior_torch(torch):
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 6))
    _check_interior_and_border(*_upsample_pair(torch, x), x)


def test_conv_transpose_equals_bilinear_interpolate_in_the_interior_convlab(torch):
    from convlab.functional import conv_transpose2d

    x = np.random.default_rng(1).normal(size=(1, 2, 4, 7))
    _check_interior_and_border(*_upsample_pair(torch, x, conv_transpose2d=conv_transpose2d), x)


def test_constant_image_stays_constant_away_from_border():
    from convlab.functional import conv_transpose2d

    x = np.full((1, 2, 6, 5), 3.5)
    up = conv_transpose2d(x, bilinear_kernel(2, 2, 4, dtype=np.float64), stride=2, padding=1)
    np.testing.assert_array_equal(up[..., 1:-1, 1:-1], 3.5)
    np.testing.assert_array_equal(up[..., 0, 1:-1], 0.75 * 3.5)
    np.testing.assert_array_equal(up[..., 0, 0], 0.5625 * 3.5)


@pytest.mark.parametrize(
    ("args", "exc", "name"),
    [
        ((0, 1, 4), ConvlabError, "in_channels"),
        ((1, 0, 4), ConvlabError, "out_channels"),
        ((1, 1, 0), ConvlabError, "kernel_size"),
        ((1, 1, 4.0), TypeError, "kernel_size"),
        ((True, 1, 4), TypeError, "in_channels"),
    ],
)
def test_bilinear_kernel_errors_name_the_parameter(args, exc, name):
    with pytest.raises(exc, match=name):
        bilinear_kernel(*args)


def test_conv_transpose_equals_bilinear_interpolate_all_convlab():
    from convlab.functional import conv_transpose2d, interpolate

    x = np.random.default_rng(2).normal(size=(2, 3, 6, 5))
    w = bilinear_kernel(3, 3, 4, dtype=np.float64)
    up = conv_transpose2d(x, w, stride=2, padding=1)
    ref = interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    _check_interior_and_border(up, ref, x)
