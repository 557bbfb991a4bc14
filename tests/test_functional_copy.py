"""copy_into: the pool's blocked copy equals np.copyto bit for bit, for views and at any thread count."""

from __future__ import annotations

import numpy as np
import pytest

import convlab
from convlab.functional import _copy
from convlab.functional._copy import copy_into


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_copy_into_views_equals_copyto(threads, dtype):
    rng = np.random.default_rng(0)
    source = (rng.standard_normal((2, 3, 700, 800)) * 100).astype(dtype)  # above the serial threshold
    if dtype != np.int16:
        source.reshape(-1)[::97] = np.nan
        source.reshape(-1)[1::97] = -0.0
    cropped = source[:, :, 5:-3, 2:-6]  # the skip join's centre crop: a strided view
    assert cropped.size >= _copy._SERIAL_BELOW
    expected = np.full((2, 5, *cropped.shape[2:]), 7, dtype)
    expected[:, 1:4] = cropped
    target = np.full_like(expected, 7)
    before = convlab.get_num_threads()
    try:
        convlab.set_num_threads(threads)
        copy_into(target[:, 1:4], cropped)
    finally:
        convlab.set_num_threads(before)
    assert target.tobytes() == expected.tobytes()


def test_copy_into_small_arrays_and_shape_mismatch():
    target = np.zeros((2, 3), np.float32)
    copy_into(target, np.full((2, 3), -0.0, np.float32))
    assert np.signbit(target).all()
    with pytest.raises(ValueError, match=r"one shape, got \(2, 3\) and \(3, 2\)"):
        copy_into(target, np.zeros((3, 2), np.float32))
