"""The stride-1 wide lowering (``_wide.py``) against PyTorch and against the N-d gather.

Most random cases are small images where the junk columns exceed
``_MAX_JUNK`` and the N-d gather runs; these tests lift the threshold so
that every stride-1 case goes through the wide lowering, once with the
per-tap accumulating GEMMs (``_blas.py``) and once with the wide gather.
"""

from __future__ import annotations

import contextlib
import tracemalloc
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings

import convlab.functional as cf
from conv_cases import conv_case
from convlab.functional import _blas, _wide
from test_functional_conv import check_conv

torch = pytest.importorskip("torch")


def _gather_only():
    return mock.patch.object(_wide, "_MAX_JUNK", -1.0)


def _wide_always():
    return mock.patch.multiple(_wide, _MAX_JUNK=1.0, _MIN_TAP_DEPTH=1)


def _no_blas():
    return mock.patch.object(_wide, "_by_taps", lambda *args: None)


@settings(max_examples=300)
@given(conv_case())
def test_wide_lowering_equals_torch(case):
    with _wide_always():
        check_conv(case)


@settings(max_examples=150)
@given(conv_case())
def test_wide_gather_equals_torch(case):
    with _wide_always(), _no_blas():
        check_conv(case)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_accumulating_gemm_equals_matmul_on_strided_views(dtype):
    gemm = _blas.gemm(dtype)
    if gemm is None:
        pytest.skip("NumPy's BLAS is not the bundled scipy-openblas: np.matmul fallback only")
    rng = np.random.default_rng(3)
    a = rng.standard_normal((7, 40)).astype(dtype)[:, 3:33]
    b = rng.standard_normal((30, 90)).astype(dtype)[:, 5:70]
    c = rng.standard_normal((7, 80)).astype(dtype)
    expected = a @ b + c[:, :65]
    gemm(a, b, c[:, :65], 1.0)
    np.testing.assert_allclose(c[:, :65], expected, rtol=1e-5 if dtype == np.float32 else 1e-13)
    assert _blas.gemm(np.float16) is None


@pytest.mark.parametrize("blas", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("shape", "kernel", "padding", "dilation", "groups"),
    [
        ((2, 6, 40, 41), (3, 3), 0, 1, 1),
        ((1, 4, 33, 70), (3, 2), ((2, 0), (1, 3)), (2, 1), 2),
        ((2, 3, 5, 9, 66), (2, 3, 3), 1, 1, 1),
        ((3, 4, 200), (5,), 2, 3, 1),
    ],
)
def test_wide_and_gather_agree(shape, kernel, padding, dilation, groups, dtype, blas):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((6, shape[1] // groups, *kernel)).astype(dtype)
    conv = {3: cf.conv1d, 4: cf.conv2d, 5: cf.conv3d}[len(shape)]
    with contextlib.ExitStack() as stack:
        stack.enter_context(_wide_always())
        if not blas:
            stack.enter_context(_no_blas())
        used = stack.enter_context(mock.patch.object(_wide, "_Padded", wraps=_wide._Padded))
        wide = conv(x, w, None, 1, padding, dilation, groups)
    assert used.called, "the wide lowering did not run"
    with _gather_only():
        gathered = conv(x, w, None, 1, padding, dilation, groups)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(wide, gathered, rtol=rtol, atol=rtol * np.abs(gathered).max())


@pytest.mark.parametrize("limit", [1, 20_000, 200_000, 300_000, 2**20])
def test_wide_chunks_obey_the_workspace_limit(limit):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 8, 60, 62)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    with _gather_only():
        expected = cf.conv2d(x, w, padding=1)
    with cf.workspace_limit(limit):
        cf.conv2d(x, w, padding=1)  # warm-up: NumPy's own one-time allocations
        tracemalloc.start()
        ours = cf.conv2d(x, w, padding=1)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-4)
    # One im2col column (8 channels x 9 taps) is the smallest chunk the gather can take.
    floor = 8 * 9 * 4
    assert peak <= ours.nbytes + max(limit, floor) + 64 * 1024
