"""conv1d/2d/3d and conv_transpose1d/2d/3d against PyTorch (float64) over random configurations.

PyTorch computes the exact reference in float64 from the same (float32 or
float64) values. Padding it does not accept (``(lo, hi)`` pairs, ``'same'``
at stride > 1, non-zero modes in the functional API) is applied explicitly
with ``torch.nn.functional.pad`` first, which is what ``nn.Conv*d`` does.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings

import convlab.functional as cf
from conv_cases import assert_close, conv_case, conv_transpose_case
from convlab import ConvlabError

torch = pytest.importorskip("torch")
F = torch.nn.functional

CONV = {1: cf.conv1d, 2: cf.conv2d, 3: cf.conv3d}
CONV_T = {1: cf.conv_transpose1d, 2: cf.conv_transpose2d, 3: cf.conv_transpose3d}
TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def _t(a):
    return None if a is None else torch.from_numpy(np.asarray(a, np.float64))


def torch_conv(case, x, w, b):
    """PyTorch's float64 convolution of the case, as a batched NumPy array."""
    xt = _t(x if x.ndim == case.ndim + 2 else x[None])
    if case.padding == "same" and set(case.stride) == {1} and case.padding_mode == "zeros":
        # Stride 1: PyTorch resolves 'same' itself, an independent check of the split.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "may require a zero-padded copy"
            return TORCH_CONV[case.ndim](xt, _t(w), _t(b), 1, "same", case.dilation, case.groups).numpy()
    flat = [p for pair in reversed(case.pads) for p in pair]
    xt = F.pad(xt, flat, mode=TORCH_MODE[case.padding_mode])
    return TORCH_CONV[case.ndim](xt, _t(w), _t(b), case.stride, 0, case.dilation, case.groups).numpy()


def torch_conv_transpose(case, x, w, b):
    """PyTorch's float64 transposed convolution; (lo, hi) padding cropped from its unpadded result."""
    xt = _t(x if x.ndim == case.ndim + 2 else x[None])
    full = TORCH_CONV_T[case.ndim](
        xt, _t(w), _t(b), case.stride, 0, case.output_padding, case.groups, case.dilation
    ).numpy()
    crop = tuple(slice(lo, n - hi) for (lo, hi), n in zip(case.pads, full.shape[2:]))
    return full[(Ellipsis, *crop)]


def run_conv(case):
    return CONV[case.ndim](
        case.x, case.w, case.b, case.stride, case.padding, case.dilation, case.groups, case.padding_mode
    )


def run_conv_transpose(case):
    op = (0,) * case.ndim if case.output_size is not None else case.output_padding
    return CONV_T[case.ndim](
        case.x, case.w, case.b, case.stride, case.padding, op, case.groups, case.dilation, case.output_size
    )


def check_conv(case):
    ours = run_conv(case)
    assert ours.dtype == case.x.dtype
    exact = torch_conv(case, case.x, case.w, case.b)
    scale = torch_conv(case, np.abs(case.x), np.abs(case.w), None if case.b is None else np.abs(case.b))
    assert_close(ours[None] if case.unbatched else ours, exact, scale, case.reduction())


def check_conv_transpose(case):
    ours = run_conv_transpose(case)
    assert ours.dtype == case.x.dtype
    exact = torch_conv_transpose(case, case.x, case.w, case.b)
    scale = torch_conv_transpose(
        case, np.abs(case.x), np.abs(case.w), None if case.b is None else np.abs(case.b)
    )
    assert_close(ours[None] if case.unbatched else ours, exact, scale, case.reduction(transposed=True))


@settings(max_examples=300)
@given(conv_case())
def test_conv_equals_torch(case):
    check_conv(case)


@settings(max_examples=300)
@given(conv_transpose_case())
def test_conv_transpose_equals_torch(case):
    check_conv_transpose(case)


@pytest.mark.slow
@settings(max_examples=10_000)
@given(conv_case(max_extra=12))
def test_conv_equals_torch_sweep(case):
    check_conv(case)


@pytest.mark.slow
@settings(max_examples=10_000)
@given(conv_transpose_case(max_extra=10))
def test_conv_transpose_equals_torch_sweep(case):
    check_conv_transpose(case)


@pytest.mark.parametrize("limit", [1, 4096, 2**20])
def test_chunking_does_not_change_the_result(limit):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 11, 13))
    w = rng.standard_normal((4, 3, 3, 2))
    wt = rng.standard_normal((6, 2, 3, 3))
    with cf.workspace_limit(limit):
        ours = cf.conv2d(x, w, None, (1, 2), ((2, 1), (0, 1)), (2, 1), 2)
        ours_t = cf.conv_transpose2d(x, wt, None, 2, 1, 1, 2)
    exact = F.conv2d(F.pad(_t(x), (0, 1, 2, 1)), _t(w), None, (1, 2), 0, (2, 1), 2).numpy()
    np.testing.assert_allclose(ours, exact, rtol=1e-12, atol=1e-12)
    exact_t = F.conv_transpose2d(_t(x), _t(wt), None, 2, 1, 1, 2).numpy()
    np.testing.assert_allclose(ours_t, exact_t, rtol=1e-12, atol=1e-12)


def test_float32_accumulates_in_float32_and_stays_close_to_torch_float32():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 64, 20, 20), dtype=np.float32)
    w = rng.standard_normal((32, 64, 3, 3), dtype=np.float32)
    ours = cf.conv2d(x, w, padding=1)
    assert ours.dtype == np.float32
    theirs = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=64 * 9 * 2e-7 * 8)


def test_unet_up_convolution_k2_s2_is_exact_tiling():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 8, 5, 7))
    w = rng.standard_normal((8, 4, 2, 2))
    b = rng.standard_normal(4)
    ours = cf.conv_transpose2d(x, w, b, stride=2)
    np.testing.assert_allclose(ours, F.conv_transpose2d(_t(x), _t(w), _t(b), stride=2).numpy(), rtol=1e-13)


def test_output_size_matches_module_forward():
    layer = torch.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1).double()
    x = np.random.default_rng(4).standard_normal((1, 4, 6, 5))
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    for target in [(11, 9), (12, 10), (1, 3, 12, 9)]:
        exact = layer(_t(x), output_size=target).detach().numpy()
        ours = cf.conv_transpose2d(x, w, b, stride=2, padding=1, output_size=target)
        np.testing.assert_allclose(ours, exact, rtol=1e-12, atol=1e-14)
    with pytest.raises(ConvlabError, match="output_size"):
        cf.conv_transpose2d(x, w, b, stride=2, padding=1, output_size=(13, 9))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_mode_equals_conv_module(mode):
    layer = torch.nn.Conv2d(2, 3, 3, padding=(2, 1), padding_mode=mode, dilation=(1, 2)).double()
    x = np.random.default_rng(5).standard_normal((2, 2, 6, 7))
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    ours = cf.conv2d(x, w, b, padding=(2, 1), dilation=(1, 2), padding_mode=mode)
    np.testing.assert_allclose(ours, layer(_t(x)).detach().numpy(), rtol=1e-12, atol=1e-13)
