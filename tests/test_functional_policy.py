"""The numeric policy: the float rule every operator kept, and the integer finishing step it offers.

The float rule is written out here independently (a table of dtype pairs),
not derived from the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest

import convlab.functional as cf
from convlab import ConvlabError
from convlab.functional._conv_args import conv_args, transpose_args
from convlab.functional._policy import NumericPolicy, float_dtype, float_policy, real_array

F16, F32, F64 = np.float16, np.float32, np.float64


@pytest.mark.parametrize(
    ("dtypes", "expected"),
    [
        ((F32, F32), F32),
        ((F32, F64), F64),
        ((F16, F16), F32),
        ((F16, F32), F32),
        ((np.int8, F32), F64),
        ((np.uint8,), F64),
        ((np.bool_, F32), F64),
        ((np.int64, np.int64), F64),
        ((F32, F32, F64), F64),
    ],
)
def test_float_policy_table(dtypes, expected):
    policy = float_policy(*(np.zeros(2, d) for d in dtypes))
    assert policy.compute == policy.accumulate == policy.output == np.dtype(expected)
    assert (policy.rounding, policy.saturate, policy.integer) == ("nearest-even", False, False)


@pytest.mark.parametrize(
    ("x", "w", "expected", "alone"),
    [(F32, F32, F32, F32), (np.int16, F32, F64, F64), (F16, F16, F32, F32), (F32, F64, F64, F32)],
)
def test_operators_return_the_policy_dtype(x, w, expected, alone):
    out = cf.conv2d(np.ones((1, 1, 3, 3), x), np.ones((1, 1, 2, 2), w))
    assert out.dtype == expected
    assert cf.conv_transpose2d(np.ones((1, 1, 3, 3), x), np.ones((1, 1, 2, 2), w)).dtype == expected
    # unfold and fold have one operand: its own dtype decides.
    assert cf.unfold(np.ones((1, 1, 3, 3), x), 2).dtype == alone
    assert cf.fold(np.ones((1, 4, 4), x), (3, 3), 2).dtype == alone


def test_canonical_records_carry_the_policy():
    args = conv_args(np.ones((1, 2, 5), F32), np.ones((3, 2, 2), F64), None, 1, 0, 1, 1, "zeros", 1)
    assert args.policy == NumericPolicy(F64, F64, F64)
    assert args.x.dtype == args.w.dtype == F64 and args.x.flags.c_contiguous
    t = transpose_args(np.ones((2, 5), F32), np.ones((2, 3, 2), F32), np.ones(3, F16), 2, 0, 1, 1, 1, None, 1)
    assert t.policy.output == F32 and t.b.dtype == F32 and t.out_shape == (11,) and t.transposed


def test_finish_rounds_and_saturates_into_an_integer_output():
    acc = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 300.0, -300.0])
    expected = {
        "nearest-even": [-2, -2, 0, 0, 2, 2, 127, -128],
        "half-away": [-3, -2, -1, 1, 2, 3, 127, -128],
        "floor": [-3, -2, -1, 0, 1, 2, 127, -128],
        "truncate": [-2, -1, 0, 0, 1, 2, 127, -128],
    }
    for rounding, values in expected.items():
        policy = NumericPolicy(F64, F64, np.int8, rounding=rounding, saturate=True)
        out = policy.finish(acc)
        assert out.dtype == np.int8
        assert out.tolist() == values, rounding


def test_finish_of_an_integer_accumulator():
    policy = NumericPolicy(np.int32, np.int64, np.uint8, saturate=True)
    assert policy.integer
    assert policy.finish(np.array([-5, 7, 999], np.int64)).tolist() == [0, 7, 255]
    same = np.arange(3.0)
    assert NumericPolicy(F64, F64, F64).finish(same) is same
    assert NumericPolicy(F64, F64, F32).finish(same).dtype == F32


def test_bad_policy_and_arrays():
    with pytest.raises(ConvlabError, match="rounding must be one of"):
        NumericPolicy(F32, F32, F32, rounding="up")
    with pytest.raises(TypeError, match="input must be a real numeric array, got dtype complex128"):
        real_array(np.ones(2, complex), "input")
    with pytest.raises(TypeError, match="weight must be a numeric array, got list"):
        real_array([[1, 2], [3]], "weight")
    with pytest.raises(ConvlabError, match="dtype must be float32 or float64, got dtype='int32'"):
        float_dtype("int32")
    assert float_dtype(np.float64) == F64
