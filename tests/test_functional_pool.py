"""Max and average pooling against a naive loop reference and PyTorch; exact equality."""

from __future__ import annotations

import contextlib
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab import ConvlabError, shapes
from convlab.functional import _pool as P
from convlab.functional import max_pool2d, max_pool3d

# ---------------------------------------------------------------- naive reference


def _window(o: int, k: int, s: int, lo: int, d: int) -> list[int]:
    return [o * s - lo + t * d for t in range(k)]


def naive_max_pool(x, kernel, stride, pads, dilation, out):
    """Plain loops; ATen's rule spelled out: strict >, NaN always taken, start at first valid tap."""
    spatial = x.shape[2:]
    values = np.empty(x.shape[:2] + tuple(out), dtype=x.dtype)
    indices = np.empty(x.shape[:2] + tuple(out), dtype=np.int64)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for pos in itertools.product(*(range(o) for o in out)):
            axes = [_window(*args) for args in zip(pos, kernel, stride, [p[0] for p in pads], dilation)]
            first = []
            for ax, d in zip(axes, dilation):
                i = ax[0]
                while i < 0:
                    i += d
                first.append(i)
            # The first valid tap may lie beyond the input (a dilated window over a
            # tiny input): ATen still reports its row-major flat index.
            best = -np.inf
            where = sum(f * int(np.prod(spatial[i + 1 :])) for i, f in enumerate(first))
            for tap in itertools.product(*axes):
                if all(0 <= t < size for t, size in zip(tap, spatial)):
                    v = x[(n, c, *tap)]
                    if v > best or np.isnan(v):
                        best, where = v, int(np.ravel_multi_index(tap, spatial))
            values[(n, c, *pos)], indices[(n, c, *pos)] = best, where
    return values, indices


def naive_avg_pool(x, kernel, stride, pads, ceil_mode, count_include_pad, divisor_override, out):
    spatial = x.shape[2:]
    result = np.empty(x.shape[:2] + tuple(out), dtype=x.dtype)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for pos in itertools.product(*(range(o) for o in out)):
            total, padded_count, valid_count = x.dtype.type(0), 1, 1
            ranges = []
            for o, k, s, (lo, hi), size in zip(pos, kernel, stride, pads, spatial):
                start = o * s - lo
                end = min(start + k, size + hi)
                padded_count *= end - start
                ranges.append(range(max(start, 0), min(end, size)))
                valid_count *= len(ranges[-1])
            for tap in itertools.product(*ranges):
                total = x.dtype.type(total + x[(n, c, *tap)])
            if divisor_override is not None:
                divisor = divisor_override
            else:
                divisor = padded_count if count_include_pad else valid_count
            result[(n, c, *pos)] = total / x.dtype.type(divisor)
    return result


# ---------------------------------------------------------------- configurations


@st.composite
def pool_configs(draw, ndim=None, dilation=True, max_size=7):
    nd = ndim or draw(st.integers(1, 3))
    size = [draw(st.integers(1, max_size)) for _ in range(nd)]
    kernel = [draw(st.integers(1, 4)) for _ in range(nd)]
    dil = [draw(st.integers(1, 3)) if dilation else 1 for _ in range(nd)]
    stride = [draw(st.integers(1, 3)) for _ in range(nd)]
    padding = [draw(st.integers(0, k // 2)) for k in kernel]
    ceil_mode = draw(st.booleans())
    # Grow the input until the pooling is legal (output at least 1 everywhere).
    for i in range(nd):
        size[i] = max(size[i], dil[i] * (kernel[i] - 1) + 1 - 2 * padding[i])
    return nd, size, kernel, stride, padding, dil, ceil_mode


def special_values(draw, shape, dtype):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    data = rng.normal(size=shape).astype(dtype)
    choice = rng.random(shape)
    data[choice < 0.2] = 1.0  # ties
    data[(choice >= 0.2) & (choice < 0.25)] = -np.inf
    if draw(st.booleans()):
        data[(choice >= 0.25) & (choice < 0.3)] = np.nan
    return data


def _out(cfg):
    _, size, kernel, stride, padding, dil, ceil_mode = cfg
    return list(shapes.pool_output_size(tuple(size), kernel, stride, padding, dil, ceil_mode))


@given(pool_configs(), st.data())
@settings(max_examples=60)
def test_max_pool_equals_naive_reference(cfg, data):
    nd, size, kernel, stride, padding, dil, ceil_mode = cfg
    x = special_values(data.draw, [2, 2, *size], np.float64)
    fn = getattr(P, f"max_pool{nd}d")
    values, indices = fn(x, kernel, stride, padding, dil, ceil_mode, return_indices=True)
    pads = [(p, p) for p in padding]
    ref_v, ref_i = naive_max_pool(x, kernel, stride, pads, dil, _out(cfg))
    np.testing.assert_array_equal(values, ref_v)
    np.testing.assert_array_equal(indices, ref_i)
    np.testing.assert_array_equal(fn(x, kernel, stride, padding, dil, ceil_mode), ref_v)


@given(pool_configs(dilation=False), st.booleans(), st.sampled_from([None, 3, -2]), st.data())
@settings(max_examples=60)
def test_avg_pool_equals_naive_reference(cfg, count_include_pad, divisor_override, data):
    nd, size, kernel, stride, padding, _, ceil_mode = cfg
    divisor_override = divisor_override if nd > 1 else None
    x = np.random.default_rng(data.draw(st.integers(0, 99))).normal(size=[2, 2, *size]).astype(np.float32)
    kwargs = {"divisor_override": divisor_override} if nd > 1 else {}
    got = getattr(P, f"avg_pool{nd}d")(x, kernel, stride, padding, ceil_mode, count_include_pad, **kwargs)
    pads = [(p, p) for p in padding]
    ref = naive_avg_pool(x, kernel, stride, pads, ceil_mode, count_include_pad, divisor_override, _out(cfg))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, ref)


def test_asymmetric_padding_pairs_equal_naive_reference():
    x = np.random.default_rng(3).normal(size=(1, 2, 5, 6))
    pads = ((0, 1), (1, 0))
    out = list(shapes.pool_output_size((5, 6), 2, 2, pads, 1, True))
    got_v, got_i = P.max_pool2d(x, 2, 2, pads, ceil_mode=True, return_indices=True)
    ref_v, ref_i = naive_max_pool(x, (2, 2), (2, 2), pads, (1, 1), out)
    np.testing.assert_array_equal(got_v, ref_v)
    np.testing.assert_array_equal(got_i, ref_i)
    got = P.avg_pool2d(x, 2, 2, pads, ceil_mode=True)
    np.testing.assert_array_equal(got, naive_avg_pool(x, (2, 2), (2, 2), pads, True, True, None, out))


def test_output_shape_comes_from_shapes():
    x = np.zeros((1, 3, 9, 10, 11))
    got = P.max_pool3d(x, (2, 3, 2), stride=(2, 1, 3), padding=1, dilation=(1, 2, 1), ceil_mode=True)
    assert got.shape[2:] == shapes.pool_output_size((9, 10, 11), (2, 3, 2), (2, 1, 3), 1, (1, 2, 1), True)


def test_unbatched_and_dtypes():
    x = np.arange(32, dtype=np.float32).reshape(2, 4, 4)
    v, i = P.max_pool2d(x, 2, return_indices=True)
    assert v.shape == (2, 2, 2) and i.shape == (2, 2, 2)
    assert v.dtype == np.float32 and i.dtype == np.int64
    np.testing.assert_array_equal(i[0], [[5, 7], [13, 15]])
    assert P.avg_pool1d(x[0].astype(np.float64), 2).dtype == np.float64
    assert P.avg_pool1d(np.arange(4).reshape(1, 4), 2).dtype == np.float64


def test_avg_pool_ceil_overhang_divisor():
    # size 6, kernel 3, stride 2, padding 1, ceil: the last window [5, 8) overhangs
    # the padded input [-1, 7) by one; ATen counts 7 - 5 = 2 positions, one of
    # them padding: (1 + 0) / 2.
    got = P.avg_pool1d(np.ones((1, 1, 6)), 3, 2, 1, ceil_mode=True)
    np.testing.assert_array_equal(got, [[[2 / 3, 1.0, 1.0, 0.5]]])
    got = P.avg_pool1d(np.ones((1, 1, 6)), 3, 2, 1, ceil_mode=True, count_include_pad=False)
    np.testing.assert_array_equal(got, [[[1.0, 1.0, 1.0, 1.0]]])


# ---------------------------------------------------------------- PyTorch


def _torch_max(torch, x, cfg, return_indices):
    nd, _, kernel, stride, padding, dil, ceil_mode = cfg
    fn = getattr(torch.nn.functional, f"max_pool{nd}d")
    return fn(torch.from_numpy(x), kernel, stride, padding, dil, ceil_mode, return_indices)


@given(pool_configs(max_size=9), st.sampled_from([np.float32, np.float64]), st.data())
@settings(max_examples=150)
def test_max_pool_equals_torch(torch, cfg, dtype, data):
    nd, size, kernel, stride, padding, dil, ceil_mode = cfg
    x = special_values(data.draw, [2, 3, *size], dtype)
    fn = getattr(P, f"max_pool{nd}d")
    values, indices = fn(x, kernel, stride, padding, dil, ceil_mode, return_indices=True)
    t_values, t_indices = _torch_max(torch, x, cfg, True)
    assert values.dtype == dtype
    np.testing.assert_array_equal(values, t_values.numpy())
    np.testing.assert_array_equal(indices, t_indices.numpy())
    plain = fn(x, kernel, stride, padding, dil, ceil_mode)
    np.testing.assert_array_equal(plain, _torch_max(torch, x, cfg, False).numpy())


def _torch_avg(torch, x, cfg, count_include_pad, divisor_override):
    nd, _, kernel, stride, padding, _, ceil_mode = cfg
    fn = getattr(torch.nn.functional, f"avg_pool{nd}d")
    extra = (divisor_override,) if nd > 1 else ()
    return fn(torch.from_numpy(x), kernel, stride, padding, ceil_mode, count_include_pad, *extra).numpy()


@given(
    pool_configs(dilation=False, max_size=9),
    st.booleans(),
    st.sampled_from([None, None, 1, 3, -2]),
    st.sampled_from([np.float32, np.float64]),
    st.data(),
)
@settings(max_examples=150)
def test_avg_pool_equals_torch(torch, cfg, count_include_pad, divisor_override, dtype, data):
    nd, size, kernel, stride, padding, _, ceil_mode = cfg
    if nd == 3:
        # PyTorch's avg_pool3d alone refuses inputs smaller than the kernel,
        # even when the padding makes room; convlab does not.
        size = [max(n, k) for n, k in zip(size, kernel)]
        cfg = (nd, size, *cfg[2:])
    divisor_override = divisor_override if nd > 1 else None
    seed = data.draw(st.integers(0, 2**31))
    x = (np.random.default_rng(seed).normal(size=[2, 3, *size]) * 100).astype(dtype)
    kwargs = {"divisor_override": divisor_override} if nd > 1 else {}
    got = getattr(P, f"avg_pool{nd}d")(x, kernel, stride, padding, ceil_mode, count_include_pad, **kwargs)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, _torch_avg(torch, x, cfg, count_include_pad, divisor_override))


@pytest.mark.slow
@given(pool_configs(max_size=9), st.sampled_from([np.float32, np.float64]), st.data())
@settings(max_examples=10_000)
def test_max_pool_equals_torch_long(torch, cfg, dtype, data):
    test_max_pool_equals_torch.hypothesis.inner_test(torch, cfg, dtype, data)


@pytest.mark.slow
@given(
    pool_configs(dilation=False, max_size=9),
    st.booleans(),
    st.sampled_from([None, None, 1, 3, -2]),
    st.sampled_from([np.float32, np.float64]),
    st.data(),
)
@settings(max_examples=10_000)
def test_avg_pool_equals_torch_long(torch, cfg, count_include_pad, divisor_override, dtype, data):
    test_avg_pool_equals_torch.hypothesis.inner_test(
        torch, cfg, count_include_pad, divisor_override, dtype, data
    )


def test_unet_pool_equals_torch(torch):
    x = np.random.default_rng(0).normal(size=(1, 4, 64, 64)).astype(np.float32)
    values, indices = P.max_pool2d(x, 2, return_indices=True)
    t_values, t_indices = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, return_indices=True)
    np.testing.assert_array_equal(values, t_values.numpy())
    np.testing.assert_array_equal(indices, t_indices.numpy())


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "exc", "name"),
    [
        (lambda: P.max_pool2d(np.zeros((1, 1, 4)), 2), ConvlabError, "input"),
        (lambda: P.max_pool2d(np.zeros((1, 1, 0, 4)), 2), ConvlabError, "input"),
        (lambda: P.max_pool2d(np.zeros((1, 1, 4, 4), dtype=complex), 2), TypeError, "input"),
        (lambda: P.max_pool2d(np.zeros((1, 1, 4, 4)), 0), ConvlabError, "kernel_size"),
        (lambda: P.max_pool2d(np.zeros((1, 1, 4, 4)), 2.0), TypeError, "kernel_size"),
        (lambda: P.max_pool2d(np.zeros((1, 1, 4, 4)), (2, 2, 2)), ConvlabError, "kernel_size"),
        (lambda: P.max_pool2d(np.zeros((1, 1, 4, 4)), 2, stride=0), ConvlabError, "stride"),
        (lambda: P.max_pool2d(np.zeros((1, 1, 4, 4)), 2, padding=2), ConvlabError, "padding"),
        (lambda: P.max_pool2d(np.zeros((1, 1, 4, 4)), 2, padding="same"), ConvlabError, "padding"),
        (lambda: P.max_pool2d(np.zeros((1, 1, 4, 4)), 2, dilation=0), ConvlabError, "dilation"),
        (lambda: P.max_pool2d(np.zeros((1, 1, 4, 4)), 5), ConvlabError, "kernel_size"),
        (lambda: P.max_pool2d(np.zeros((1, 1, 4, 4)), 2, ceil_mode=1), TypeError, "ceil_mode"),
        (lambda: P.max_pool2d(np.zeros((1, 1, 4, 4)), 2, return_indices=1), TypeError, "return_indices"),
        (
            lambda: P.avg_pool2d(np.zeros((1, 1, 4, 4)), 2, count_include_pad=0),
            TypeError,
            "count_include_pad",
        ),
        (
            lambda: P.avg_pool2d(np.zeros((1, 1, 4, 4)), 2, divisor_override=0),
            ConvlabError,
            "divisor_override",
        ),
        (
            lambda: P.avg_pool3d(np.zeros((1, 4, 4, 4)), 2, divisor_override=1.5),
            TypeError,
            "divisor_override",
        ),
    ],
)
def test_pool_errors_name_the_parameter(call, exc, name):
    with pytest.raises(exc, match=name):
        call()


_arg = st.one_of(
    st.integers(-2, 5),
    st.lists(st.integers(-2, 5), max_size=4),
    st.floats(-2, 5),
    st.none(),
    st.text(max_size=2),
)


@given(st.integers(1, 3), _arg, _arg, _arg, _arg, st.one_of(st.booleans(), st.integers(0, 1)), _arg)
@settings(max_examples=300)
def test_pool_fuzz_only_value_or_type_errors(nd, kernel, stride, padding, dilation, flag, divisor):
    x = np.zeros((1, 2) + (5,) * nd)
    with contextlib.suppress(ValueError, TypeError):
        getattr(P, f"max_pool{nd}d")(x, kernel, stride, padding, dilation, flag, flag)
    with contextlib.suppress(ValueError, TypeError):
        extra = (divisor,) if nd > 1 else ()
        getattr(P, f"avg_pool{nd}d")(x, kernel, stride, padding, flag, flag, *extra)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "dilation", "ceil_mode"),
    [(2, 2, 0, 1, False), (3, 2, 1, 1, True), ((2, 3), (1, 2), (1, 0), (2, 1), False)],
)
def test_max_pool_signed_zeros_and_nan_equal_torch(
    torch, dtype, kernel, stride, padding, dilation, ceil_mode
):
    # The separable fast path must keep ATen's first-wins rule between -0.0
    # and +0.0, which value comparison alone (assert_array_equal) cannot see.
    rng = np.random.default_rng(4)
    x = rng.choice(np.array([-0.0, 0.0, -1.0, np.nan, -0.0], dtype=dtype), size=(2, 3, 9, 10))
    x[0, 0] = rng.choice(np.array([-0.0, 0.0], dtype=dtype), size=(9, 10))
    got = max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)
    expected = torch.nn.functional.max_pool2d(
        torch.from_numpy(x), kernel, stride, padding, dilation, ceil_mode
    )
    np.testing.assert_array_equal(got, expected.numpy())
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected.numpy()))


def test_max_pool_many_channels_use_every_block(torch):
    x = np.random.default_rng(5).normal(size=(3, 37, 66, 64)).astype(np.float32)
    got = max_pool2d(x, 2)
    np.testing.assert_array_equal(got, torch.nn.functional.max_pool2d(torch.from_numpy(x), 2).numpy())
    np.testing.assert_array_equal(max_pool3d(x[None], (1, 2, 2)), got[None])


# ---------------------------------------------------------------- the flat passes' chunking


def _signed_specials(rng, shape, dtype):
    return rng.choice(np.array([-0.0, 0.0, -1.0, 1.0, np.nan, -np.inf], dtype=dtype), size=shape)


def _assert_same_bits(got, expected):
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


@pytest.mark.parametrize("block", [1 << 6, 1 << 9, 1 << 19])
@pytest.mark.parametrize(
    ("shape", "kernel", "stride", "padding", "dilation", "ceil_mode"),
    [
        ((2, 3, 37, 41), 2, 2, 0, 1, False),
        ((1, 2, 40, 33), 3, 2, 1, 1, True),
        ((1, 1, 45, 30), (2, 3), (1, 2), (1, 0), (2, 1), False),
        ((1, 2, 9, 14, 11), (2, 3, 2), (2, 1, 3), 1, (1, 2, 1), True),
    ],
)
def test_max_pool_chunks_of_planes_and_of_rows_equal_torch(
    torch, monkeypatch, block, shape, kernel, stride, padding, dilation, ceil_mode
):
    # A small block makes every plane larger than a chunk, so the flat passes
    # run on bands of output rows; the default runs several planes per chunk.
    from convlab.functional import _pool_kernels

    monkeypatch.setattr(_pool_kernels, "_POOL_BLOCK", block)
    monkeypatch.setattr(_pool_kernels, "_SERIAL_BELOW", 0)
    rng = np.random.default_rng(block + len(shape))
    for dtype in (np.float32, np.float64):
        x = _signed_specials(rng, shape, dtype)
        nd = len(shape) - 2
        got = getattr(P, f"max_pool{nd}d")(x, kernel, stride, padding, dilation, ceil_mode)
        fn = getattr(torch.nn.functional, f"max_pool{nd}d")
        _assert_same_bits(got, fn(torch.from_numpy(x), kernel, stride, padding, dilation, ceil_mode).numpy())


def test_max_pool_of_a_view_equals_torch_and_leaves_it_alone(torch):
    # A non-contiguous input is pooled through strided views of itself, without a copy.
    base = _signed_specials(np.random.default_rng(7), (2, 6, 30, 34), np.float32)
    x = base[:, ::2, 1:, ::-1]
    before = base.copy()
    got = max_pool2d(x, 2)
    _assert_same_bits(got, torch.nn.functional.max_pool2d(torch.from_numpy(x.copy()), 2).numpy())
    _assert_same_bits(base, before)


def test_max_pool_options_cache_keeps_true_apart_from_one():
    x = np.zeros((1, 1, 5, 5), np.float32)
    assert max_pool2d(x, 2, ceil_mode=True).shape == (1, 1, 3, 3)
    for _ in range(2):  # a cached geometry must not hide the error
        with pytest.raises(TypeError, match="ceil_mode"):
            max_pool2d(x, 2, ceil_mode=1)
    assert max_pool2d(x, [2, 2], [1, 2]).shape == max_pool2d(x, (2, 2), (1, 2)).shape == (1, 1, 4, 2)


# ---------------------------------------------------------------- the 2x2 pool's pairs path


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("block", [1 << 6, 1 << 19])
@pytest.mark.parametrize(
    ("shape", "padding", "ceil_mode"),
    [
        ((2, 3, 38, 40), 0, False),
        ((1, 4, 37, 42), 0, False),
        ((1, 2, 37, 41), 0, True),
        ((2, 2, 20, 18), 1, False),
    ],
)
def test_max_pool_2x2_pairs_path_equals_torch_bit_for_bit(
    torch, monkeypatch, threads, block, shape, padding, ceil_mode
):
    # Rows of even length (after padding or ceil_mode's extension) in float32
    # take the uint64 pairs path; ties between -0.0 and +0.0 and NaN are its risk.
    import convlab
    from convlab.functional import _pool_kernels

    calls = []
    pairs = _pool_kernels._max_pairs
    monkeypatch.setattr(_pool_kernels, "_max_pairs", lambda *a: calls.append(1) or pairs(*a))
    monkeypatch.setattr(_pool_kernels, "_POOL_BLOCK", block)  # small: bands of output rows
    monkeypatch.setattr(_pool_kernels, "_SERIAL_BELOW", 0)
    x = _signed_specials(np.random.default_rng(block + shape[2]), shape, np.float32)
    before = convlab.get_num_threads()
    try:
        convlab.set_num_threads(threads)
        got = max_pool2d(x, 2, padding=padding, ceil_mode=ceil_mode)
    finally:
        convlab.set_num_threads(before)
    assert calls
    expected = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, padding=padding, ceil_mode=ceil_mode)
    _assert_same_bits(got, expected.numpy())


def test_max_pool_pairs_path_only_for_float32_rows_of_even_length(monkeypatch):
    from convlab.functional import _pool_kernels

    calls = []
    pairs = _pool_kernels._max_pairs
    monkeypatch.setattr(_pool_kernels, "_max_pairs", lambda *a: calls.append(1) or pairs(*a))
    rng = np.random.default_rng(9)
    for x, kwargs in [
        (_signed_specials(rng, (1, 2, 8, 9), np.float32), {}),  # odd rows: pairs would straddle them
        (_signed_specials(rng, (1, 2, 8, 8), np.float64), {}),
        (_signed_specials(rng, (1, 2, 8, 8), np.float32), {"stride": 1}),
    ]:
        max_pool2d(x, 2, **kwargs)
    assert not calls
