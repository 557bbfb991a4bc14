"""unfold and fold against PyTorch (2-D, the only rank it has) over random configurations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convlab.functional as cf

torch = pytest.importorskip("torch")
F = torch.nn.functional


@st.composite
def unfold_case(draw, max_extra=5):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    size = tuple(
        max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, max_extra))
        for k, d, p in zip(kernel, dilation, padding)
    )
    batch = draw(st.sampled_from([None, 1, 3]))
    channels = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((batch or 1, channels, *size)).astype(dtype)
    args = {"kernel_size": kernel, "dilation": dilation, "padding": padding, "stride": stride}
    if draw(st.booleans()) and kernel[0] == kernel[1] and dilation[0] == dilation[1]:
        args["kernel_size"], args["dilation"] = kernel[0], dilation[0]  # ints, as PyTorch users write
    return (x[0] if batch is None else x), size, args


def check(x, size, args):
    # unfold copies values and fold adds at most prod(kernel) of them: both are
    # exact in float64; a float32 fold is a sum of <= 9 float32 terms.
    ours = cf.unfold(x, **args)
    theirs = F.unfold(torch.from_numpy(x), **args).numpy()
    assert ours.dtype == x.dtype
    np.testing.assert_array_equal(ours, theirs)
    folded = cf.fold(ours, size, **args)
    np.testing.assert_allclose(folded, F.fold(torch.from_numpy(ours), size, **args).numpy(), rtol=1e-6)
    assert folded.dtype == x.dtype and folded.shape == x.shape


@settings(max_examples=300)
@given(unfold_case())
def test_unfold_and_fold_equal_torch(case):
    check(*case)


@pytest.mark.slow
@settings(max_examples=10_000)
@given(unfold_case(max_extra=12))
def test_unfold_and_fold_equal_torch_sweep(case):
    check(*case)


def test_conv_is_unfold_then_matmul():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((5, 3, 3, 2))
    cols = cf.unfold(x, (3, 2), dilation=(1, 2), padding=1, stride=2)
    out = (w.reshape(5, -1) @ cols).reshape(2, 5, 5, 4)
    exact = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), None, 2, 1, (1, 2)).numpy()
    np.testing.assert_allclose(out, exact, rtol=1e-12, atol=1e-13)
