"""The convolution strategy table, its chooser, ``algorithm()`` and the per-thread workspace limit.

Each strategy is checked where it should be chosen, and every strategy that
applies is run on the same inputs: small integers in float64, so that every
summation order is exact and the strategies, the naive loop reference and
torch must agree bit for bit.
"""

from __future__ import annotations

import threading
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convlab.functional as cf
import reference_conv as ref
from convlab import ConvlabError
from convlab.functional import _strategies, _wide
from convlab.functional._conv_args import conv_args
from convlab.functional._policy import NumericPolicy
from convlab.functional._strategies import STRATEGIES, Strategy, choose


def _scaled(examples: int) -> int:
    """``examples`` for the default profile (100), scaled with HYPOTHESIS_PROFILE=thorough or sweep."""
    return examples * settings().max_examples // 100


def _args(x_shape, w_shape, stride=1, padding=0, dilation=1, groups=1, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, x_shape).astype(dtype)
    w = rng.integers(-3, 4, w_shape).astype(dtype)
    return conv_args(x, w, None, stride, padding, dilation, groups, "zeros", len(w_shape) - 2)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kwargs", "expected"),
    [
        ((1, 8, 20, 20), (4, 8, 1, 1), {}, "direct"),
        ((2, 3, 9), (5, 3, 1), {}, "direct"),
        ((1, 16, 64, 64), (8, 16, 3, 3), {"padding": 1}, "wide"),
        ((1, 8, 64, 64), (8, 8, 3, 3), {"padding": 1}, "wide"),  # depth 8: the taps gathered, one GEMM
        ((1, 16, 64, 64), (8, 2, 3, 3), {"padding": 1, "groups": 8}, "im2col"),  # thin groups stay im2col's
        ((1, 16, 6, 10, 10), (4, 16, 3, 1, 1), {}, "wide"),  # no junk: the kernel spans dim 0 only
        ((1, 8, 64, 64), (8, 8, 3, 3), {"padding": 1, "stride": 2}, "im2col"),
        ((1, 8, 8, 8), (8, 8, 3, 3), {}, "im2col"),  # 25 % junk columns
        ((1, 8, 20, 20), (4, 8, 1, 1), {"stride": 2}, "im2col"),
        ((1, 16, 20, 20), (4, 16, 1, 1), {"padding": 1}, "wide"),
    ],
)
def test_each_strategy_is_chosen_where_it_should_be(x_shape, w_shape, kwargs, expected):
    assert choose(_args(x_shape, w_shape, **kwargs)).name == expected


def test_wide_needs_its_workspace():
    args = _args((1, 16, 64, 64), (8, 16, 3, 3), padding=1)
    need = _wide.workspace(args)
    with cf.workspace_limit(need):
        assert choose(args).name == "wide"
    with cf.workspace_limit(need - 1):
        assert choose(args).name == "im2col"


def test_table_rows_are_complete_and_named_once():
    names = [row.name for row in STRATEGIES]
    assert len(names) == len(set(names))
    assert STRATEGIES[-1].name == "im2col"
    assert _strategies.algorithms() == ("winograd", "gemm")


@st.composite
def _case(draw):
    ndim = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 2]))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    size = tuple(draw(st.integers(k, k + 6)) for k in kernel)
    pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    stride = tuple(draw(st.sampled_from([1, 1, 2])) for _ in range(ndim))
    x_shape, w_shape = (draw(st.integers(1, 2)), c_in, *size), (c_out, c_in // groups, *kernel)
    return x_shape, w_shape, {"stride": stride, "padding": pads, "dilation": dilation, "groups": groups}


@settings(max_examples=_scaled(150))
@given(_case(), st.integers(0, 2**16))
def test_every_applicable_strategy_equals_the_reference_exactly(case, seed):
    x_shape, w_shape, kw = case
    try:
        args = _args(x_shape, w_shape, seed=seed, **kw)
    except ConvlabError:
        return  # the kernel does not fit: refused before any strategy
    expected = ref.conv(args.x, args.w, None, args.stride, args.pads, args.dilation, args.groups)
    ran = 0
    # Lift the junk and depth thresholds so that the wide strategy applies at every stride-1 case.
    with mock.patch.multiple(_wide, _MAX_JUNK=1.0, _MIN_TAP_DEPTH=1):
        for row in STRATEGIES:
            # Winograd trades rounding for speed: tests/test_winograd.py holds it to its bound.
            if row.algorithm == "gemm" and row.applies(args):
                out = row.run(args)
                assert out.dtype == args.policy.accumulate
                np.testing.assert_array_equal(out, expected, err_msg=row.name)
                ran += 1
    assert ran >= 1


def test_strategies_equal_torch_on_one_case(torch):
    args = _args((2, 4, 17, 19), (6, 2, 3, 2), padding=((1, 0), (2, 1)), groups=2, seed=5)
    x = np.pad(args.x, ((0, 0), (0, 0), (1, 0), (2, 1)))
    expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(args.w), groups=2).numpy()
    with mock.patch.multiple(_wide, _MAX_JUNK=1.0, _MIN_TAP_DEPTH=1):
        outputs = {
            row.name: row.run(args) for row in STRATEGIES if row.algorithm == "gemm" and row.applies(args)
        }
    assert set(outputs) == {"wide", "im2col"}
    for name, out in outputs.items():
        np.testing.assert_array_equal(out, expected, err_msg=name)


# ---- algorithm(): the selection mechanism --------------------------------------------------


def test_algorithm_context_and_keyword():
    x, w = np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3))
    expected = cf.conv2d(x, w)
    with cf.algorithm("gemm") as name:
        assert name == "gemm"
        np.testing.assert_array_equal(cf.conv2d(x, w), expected)
    np.testing.assert_array_equal(cf.conv2d(x, w, algorithm="gemm"), expected)
    np.testing.assert_array_equal(
        cf.conv1d(x[:, :, 0], w[:, :, 0], algorithm="gemm"), cf.conv1d(x[:, :, 0], w[:, :, 0])
    )


@pytest.mark.parametrize("name", ["winograd4", "GEMM", 3, ""])
def test_unknown_algorithm_lists_the_registered_ones(name):
    with (
        pytest.raises(ConvlabError, match=r"algorithm must be one of 'winograd', 'gemm', got algorithm="),
        cf.algorithm(name),
    ):
        pass
    with pytest.raises(ConvlabError, match=r"algorithm must be one of 'winograd', 'gemm'"):
        cf.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), algorithm=name)


def _marked(args):
    return np.full((args.x.shape[0], args.w.shape[0], *args.out_shape), 7.0)


def test_a_new_algorithm_is_one_row(monkeypatch):
    """A row registers its algorithm; where it does not apply, the exact gemm rows run."""
    row = Strategy("test-3x3", "test", lambda a: a.kernel == (3, 3), lambda a: 0, _marked)
    monkeypatch.setattr(_strategies, "STRATEGIES", (row, *STRATEGIES))
    x = np.ones((1, 1, 6, 6))
    with cf.algorithm("test"):
        assert (cf.conv2d(x, np.ones((1, 1, 3, 3))) == 7.0).all()
        np.testing.assert_array_equal(cf.conv2d(x, np.ones((1, 1, 2, 2))), np.full((1, 1, 5, 5), 4.0))
    np.testing.assert_array_equal(cf.conv2d(x, np.ones((1, 1, 3, 3))), np.full((1, 1, 4, 4), 9.0))
    assert (cf.conv2d(x, np.ones((1, 1, 3, 3)), algorithm="test") == 7.0).all()


# ---- thread isolation of the context variables ---------------------------------------------


def _in_two_threads(body):
    """Run ``body(i, barrier)`` in two threads at once; return what each returned."""
    barrier, results, errors = threading.Barrier(2, timeout=30), [None, None], []

    def target(i):
        try:
            results[i] = body(i, barrier)
        except BaseException as err:  # reported in the main thread
            errors.append(err)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def test_workspace_limit_is_per_thread():
    before = cf.get_workspace_limit()
    limits = (1000, 2**20)

    def body(i, barrier):
        seen = []
        with cf.workspace_limit(limits[i]):
            barrier.wait()  # both threads are inside their blocks now
            seen.append(cf.get_workspace_limit())
            # A convolution in this thread obeys this thread's limit: it still computes exactly.
            out = cf.conv2d(np.ones((1, 2, 12, 12)), np.ones((1, 2, 3, 3)))
            barrier.wait()
            seen.append(cf.get_workspace_limit())
        if i == 0:
            cf.set_workspace_limit(5000)  # set outside any block: this thread only
        barrier.wait()
        seen.append(cf.get_workspace_limit())
        return seen, float(out.sum())

    (seen0, sum0), (seen1, sum1) = _in_two_threads(body)
    assert seen0 == [1000, 1000, 5000]
    assert seen1 == [2**20, 2**20, before]
    assert sum0 == sum1 == 18.0 * 100
    assert cf.get_workspace_limit() == before


def test_algorithm_is_per_thread(monkeypatch):
    row = Strategy("test-all", "test", lambda a: True, lambda a: 0, _marked)
    monkeypatch.setattr(_strategies, "STRATEGIES", (row, *STRATEGIES))

    def body(i, barrier):
        x, w = np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2))
        if i == 0:
            with cf.algorithm("test"):
                barrier.wait()
                return float(cf.conv2d(x, w)[0, 0, 0, 0])
        barrier.wait()
        return float(cf.conv2d(x, w)[0, 0, 0, 0])

    assert _in_two_threads(body) == [7.0, 4.0]


# ---- an integer policy runs through the same table -----------------------------------------


def test_an_integer_policy_is_exact_through_the_gemm_rows():
    """int64 compute and accumulation: the im2col row sums exactly where float64 cannot (sums > 2**53)."""
    rng = np.random.default_rng(11)
    x = rng.integers(2**30, 2**31, (2, 4, 9), dtype=np.int64) | 1
    w = rng.integers(2**21, 2**22, (3, 4, 3), dtype=np.int64) | 1
    policy = NumericPolicy(np.int64, np.int64, np.int64)
    args = conv_args(x, w, None, 2, 1, 1, 1, "zeros", 1, policy=policy)
    assert [row.name for row in STRATEGIES if row.applies(args)] == ["im2col"]  # wide is float BLAS only
    out = choose(args).run(args)
    exact = [
        [
            [
                sum(
                    int(w[o, c, t]) * int(x[n, c, y * 2 + t - 1])
                    for c in range(4)
                    for t in range(3)
                    if 0 <= y * 2 + t - 1 < 9
                )
                for y in range(5)
            ]
            for o in range(3)
        ]
        for n in range(2)
    ]
    assert out.dtype == np.int64 and out.tolist() == exact
    float_out = cf.conv1d(x.astype(np.float64), w.astype(np.float64), stride=2, padding=1)
    assert float_out.astype(object).tolist() != exact  # what the integer policy buys
