"""Merge.join (the decoder's skip concatenation with the up-convolution written into its half)
against Merge.apply on the up-sampled features (np.concatenate), bit for bit, for every rule."""

from __future__ import annotations

import numpy as np
import pytest

from convlab import nn
from convlab.models._encoder_decoder import Merge


def _up(c_in, c_out, dtype=np.float32):
    layer = nn.ConvTranspose2d(c_in, c_out, 2, stride=2, rng=3, dtype=dtype)
    layer.bias = np.random.default_rng(4).standard_normal(c_out).astype(dtype)
    return layer


@pytest.mark.parametrize("skip_first", [True, False])
@pytest.mark.parametrize(
    ("rule", "skip_size", "x_size"),
    [
        ("center", (23, 20), (9, 8)),
        ("floor", (21, 20), (9, 8)),
        ("pad", (18, 16), (9, 8)),
        ("pad", (19, 17), (9, 8)),
    ],
)
def test_join_equals_concatenate(rule, skip_size, x_size, skip_first):
    rng = np.random.default_rng(0)
    merge, up = Merge(rule, skip_first), _up(6, 3)
    skip = rng.standard_normal((2, 4, *skip_size)).astype(np.float32)
    x = rng.standard_normal((2, 6, *x_size)).astype(np.float32)
    expected = merge.apply(skip, up(x))
    joined = merge.join(skip, [("up", up)], x)
    assert joined.dtype == expected.dtype and joined.tobytes() == expected.tobytes()


def test_join_with_other_up_layers_or_dtypes_falls_back_to_concatenate():
    rng = np.random.default_rng(1)
    merge = Merge("center", True)
    skip = rng.standard_normal((1, 2, 12, 12)).astype(np.float32)
    x = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    steps = [("upsample", nn.Upsample(scale_factor=2, mode="nearest")), ("reduce", nn.Conv2d(4, 2, 1))]
    expected = merge.apply(skip, steps[1][1](steps[0][1](x)))
    assert merge.join(skip, steps, x).tobytes() == expected.tobytes()
    wide = _up(4, 2, np.float64)
    expected = merge.apply(skip, wide(x))
    joined = merge.join(skip, [("up", wide)], x)
    assert joined.dtype == np.float64 and joined.tobytes() == expected.tobytes()


def test_join_calls_an_instance_forward():
    merge, up = Merge("center", True), _up(4, 2)
    calls = []
    own = up.forward
    object.__setattr__(up, "forward", lambda x: calls.append(x.shape) or own(x))
    skip = np.ones((1, 2, 12, 12), np.float32)
    x = np.random.default_rng(3).standard_normal((1, 4, 5, 5)).astype(np.float32)
    joined = merge.join(skip, [("up", up)], x)
    assert calls == [(1, 4, 5, 5)]
    assert joined.tobytes() == merge.apply(skip, own(x)).tobytes()


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize(("rule", "skip_size"), [("center", (23, 20)), ("pad", (18, 16))])
def test_join_copies_the_skip_on_the_pool_bit_for_bit(rule, skip_size, threads, monkeypatch):
    import convlab
    from convlab.functional import _copy

    # Every skip copy in blocks of 7 elements on the pool: cropped views and whole arrays.
    monkeypatch.setattr(_copy, "_SERIAL_BELOW", 0)
    monkeypatch.setattr(_copy, "_BLOCK", 7)
    rng = np.random.default_rng(5)
    merge, up = Merge(rule, True), _up(6, 3)
    skip = rng.standard_normal((2, 4, *skip_size)).astype(np.float32)
    skip.reshape(-1)[::5] = np.nan
    x = rng.standard_normal((2, 6, 9, 8)).astype(np.float32)
    expected = merge.apply(skip, up(x))
    before = convlab.get_num_threads()
    try:
        convlab.set_num_threads(threads)
        joined = merge.join(skip, [("up", up)], x)
    finally:
        convlab.set_num_threads(before)
    assert joined.tobytes() == expected.tobytes()
