"""The block tiling and the thread pool that the memory-bound operators share."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab.functional import _threads


@given(st.lists(st.integers(0, 9), min_size=0, max_size=4), st.integers(1, 50))
@settings(max_examples=200)
def test_blocks_cover_every_element_once(shape, block):
    count = np.zeros(shape, dtype=np.int64)
    pieces = _threads.blocks(tuple(shape), block)
    for index in pieces:
        count[index] += 1
        assert count[index].size <= max(block, 1) or count[index].ndim == 0
    np.testing.assert_array_equal(count, 1)


def test_parallel_runs_every_item_and_nests_serially():
    seen = np.zeros(64, dtype=np.int64)

    def inner(i):
        seen[i] += 1

    def outer(item):
        # A task that submits work again runs it in its own thread, not on the pool.
        _threads.parallel(lambda j: inner(j[0]), [(item[0] * 8 + k,) for k in range(8)])

    _threads.parallel(outer, [(i,) for i in range(8)])
    np.testing.assert_array_equal(seen, 1)


def test_parallel_propagates_errors():
    def fail(item):
        raise ValueError(f"item {item[0]}")

    with pytest.raises(ValueError, match="item"):
        _threads.parallel(fail, [(i,) for i in range(5)])
