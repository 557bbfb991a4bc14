"""Hostile arguments to pooling, batch_norm and interpolate: a clear error or torch's answer."""

from __future__ import annotations

import numpy as np
import pytest

import convlab
from convlab import ConvlabError, ResourceError


def test_batch_norm_without_running_statistics_names_them():
    with pytest.raises(
        ConvlabError, match=r"needs running_mean and running_var arrays, got running_mean=None"
    ):
        convlab.batch_norm(np.ones((2, 3)), None, None)


@pytest.mark.parametrize("eps", [2**1100, float("inf"), float("nan"), -1e-5])
def test_batch_norm_eps_must_be_finite_and_non_negative(eps):
    with pytest.raises(ConvlabError, match=r"eps must be a finite non-negative float"):
        convlab.batch_norm(np.ones((2, 3)), np.zeros(3), np.ones(3), eps=eps)


def test_batch_norm_takes_numpy_scalar_eps_as_torch(torch):
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    mean, var = np.float32([0.1, -0.2, 0.3]), np.float32([0.5, 1.5, 2.0])
    got = convlab.batch_norm(x, mean, var, eps=np.float32(1e-3))
    want = torch.nn.functional.batch_norm(
        torch.from_numpy(x), torch.from_numpy(mean), torch.from_numpy(var), eps=float(np.float32(1e-3))
    )
    np.testing.assert_array_equal(got, want.numpy())


def test_interpolate_refuses_a_huge_output_before_allocating():
    with pytest.raises(ResourceError, match=r"interpolate's output of size \(40000000000,\).*scale_factor"):
        convlab.interpolate(np.ones((1, 1, 4)), scale_factor=1e10)


def test_interpolate_scale_factor_too_large_for_a_float():
    with pytest.raises(ConvlabError, match=r"scale_factor must be positive and finite"):
        convlab.interpolate(np.ones((1, 1, 4)), scale_factor=2**1100)


def test_interpolate_antialias(torch):
    x = np.arange(8.0).reshape(1, 1, 8)
    got = convlab.interpolate(x, scale_factor=0.5, mode="linear", antialias=False)
    want = torch.nn.functional.interpolate(
        torch.from_numpy(x), scale_factor=0.5, mode="linear", antialias=False
    )
    np.testing.assert_array_equal(got, want.numpy())
    with pytest.raises(ConvlabError, match=r"antialias=True .* is not supported; pass antialias=False"):
        convlab.interpolate(x, scale_factor=0.5, mode="linear", antialias=True)
    with pytest.raises(TypeError, match=r"antialias must be a bool, got str 'yes'"):
        convlab.interpolate(x, scale_factor=0.5, antialias="yes")


def test_pool_stride_of_a_single_window_is_any_size(torch):
    x = np.arange(4.0).reshape(1, 1, 4)
    want = torch.nn.functional.avg_pool1d(torch.from_numpy(x), 2, stride=2**31 - 1).numpy()
    for pool in (convlab.avg_pool1d, convlab.max_pool1d):
        got = pool(x, 2, stride=2**63)
        assert got.shape == want.shape == (1, 1, 1)
    np.testing.assert_array_equal(convlab.avg_pool1d(x, 2, stride=2**63), want)


@pytest.mark.parametrize("shape", [(0, 4, 4), (1, 0, 4, 4)])
def test_pool_refuses_zero_channels_as_torch(torch, shape):
    with pytest.raises(RuntimeError):
        torch.nn.functional.max_pool2d(torch.ones(shape), 2)
    for pool in (convlab.max_pool2d, convlab.avg_pool2d):
        with pytest.raises(ConvlabError, match=r"non-empty channel and spatial dimensions"):
            pool(np.ones(shape), 2)


def test_pool_takes_an_empty_batch_as_torch(torch):
    want = tuple(torch.nn.functional.max_pool2d(torch.ones(0, 1, 4, 4), 2).shape)
    assert convlab.max_pool2d(np.ones((0, 1, 4, 4)), 2).shape == want == (0, 1, 2, 2)
    assert convlab.avg_pool2d(np.ones((0, 1, 4, 4)), 2).shape == want
    assert convlab.max_pool2d(np.ones((0, 1, 4, 4)), 2, return_indices=True)[1].shape == want
