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
        used = stack.enter_context(mock.patch.object(_wide, "_Source", wraps=_wide._Source))
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


@pytest.mark.parametrize("blocks", [False, True])
@pytest.mark.parametrize(
    ("pads", "dilation"),
    [
        (((5, 4), (2, 3)), (1, 1)),  # chunks of padding rows only, at both ends
        (((1, 0), (0, 2)), (2, 1)),  # dilated reach into the padding, none after the first dimension
        (((0, 3), (1, 1)), (1, 2)),
    ],
)
def test_chunks_pad_their_own_rows_as_the_whole_padded_image(pads, dilation, blocks):
    """One-row chunks, each padding the rows it reads in its thread's buffer (three row blocks or one)."""
    from convlab.functional._conv_args import conv_args
    from reference_conv import conv as loop_conv

    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 16, 9, 11)).astype(np.float32)
    w = rng.standard_normal((130, 16, 3, 3)).astype(np.float32)
    args = conv_args(x, w, None, 1, [list(p) for p in pads], dilation, 1, "zeros", 2)
    small = (
        mock.patch.multiple(_blas, BLOCK_WEIGHT=4096, MIN_BLOCK_ROWS=64)
        if blocks
        else contextlib.nullcontext()
    )
    used = mock.patch.object(_wide, "_Source", wraps=_wide._Source)
    with small, used as source, _wide_always(), mock.patch.multiple(_wide, _THREAD_CHUNK=1):
        assert _wide.applies(args) and (len(_wide._blocks(args)) > 1) == blocks
        ours = _wide.run(args)
    assert source.called
    padded = np.pad(x, ((0, 0), (0, 0), *pads))
    t = torch.nn.functional.conv2d(torch.from_numpy(padded), torch.from_numpy(w), dilation=dilation).numpy()
    np.testing.assert_allclose(ours, t, rtol=1e-5, atol=1e-5 * float(np.abs(t).max()))
    edges = [0, 127, 128, 129]  # the row blocks' edges (0:128, 128:130)
    ref = loop_conv(
        x[:1].astype(np.float64), w[edges].astype(np.float64), None, (1, 1), list(pads), dilation, 1
    )
    np.testing.assert_allclose(ours[:1, edges], ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))
