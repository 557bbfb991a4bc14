"""shapes.Window: the one coordinate map, against the size formulas, a brute force and torch's autograd.

The index sets are the support of a gradient: with all-ones weights, the
gradient of one output of ``F.conv*d`` (or ``F.avg_pool*d``) with respect to
the input is non-zero exactly at the input positions that output reads, and
the gradient of one output of ``F.conv_transpose*d`` exactly at the inputs
that reach it.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab import ConvlabError
from convlab.shapes import (
    TapSlice,
    Window,
    conv_output_size,
    conv_transpose_output_size,
    pool_output_size,
)

SIZES = st.integers(1, 12)


def _scaled(examples: int) -> int:
    """``examples`` for the default profile (100), scaled with HYPOTHESIS_PROFILE=thorough or sweep."""
    return examples * settings().max_examples // 100


@st.composite
def windows(draw, size=SIZES):
    k = draw(st.integers(1, 5))
    lo, hi = draw(st.integers(0, 4)), draw(st.integers(0, 4))
    return Window(
        draw(size),
        k,
        stride=draw(st.integers(1, 4)),
        dilation=draw(st.integers(1, 3)),
        padding=(lo, hi),
        output_padding=draw(st.integers(0, 3)),
        ceil_mode=draw(st.booleans()),
    )


def _outcome(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ConvlabError as err:
        return type(err)


def _property(win: Window, name: str):
    try:
        return getattr(win, name)
    except ConvlabError as err:
        return type(err)


@settings(max_examples=_scaled(300))
@given(windows())
def test_output_sizes_are_the_formulas(win):
    # One-dimensional tuples, so that the (lo, hi) pair is read as one dimension's padding.
    size, kernel, stride, pads, dilation = (
        (win.size,),
        (win.kernel,),
        (win.stride,),
        (win.padding,),
        (win.dilation,),
    )

    def first(fn, *args, **kwargs):
        found = _outcome(fn, *args, **kwargs)
        return found[0] if isinstance(found, tuple) else found

    assert _property(win, "conv_output") == first(conv_output_size, size, kernel, stride, pads, dilation)
    assert _property(win, "pool_output") == first(
        pool_output_size, size, kernel, stride, pads, dilation, ceil_mode=win.ceil_mode
    )
    assert _property(win, "transpose_output") == first(
        conv_transpose_output_size, size, kernel, stride, pads, (win.output_padding,), dilation
    )


def _brute_taps(win: Window, start: int, stop: int) -> list[list[tuple[int, int]]]:
    """Per tap: (window relative to start, image position) of every in-range read, by the definition."""
    return [
        [
            (y - start, x)
            for y in range(start, stop)
            if 0 <= (x := y * win.stride + t * win.dilation - win.lo) < win.size
        ]
        for t in range(win.kernel)
    ]


def _expand(tap: TapSlice | None) -> list[tuple[int, int]]:
    if tap is None:
        return []
    ys = range(tap.windows.start, tap.windows.stop)
    xs = range(tap.image.start, tap.image.stop, tap.image.step)
    assert len(ys) == len(xs)
    return list(zip(ys, xs))


@settings(max_examples=_scaled(300))
@given(windows(), st.data())
def test_tap_slices_are_the_definition(win, data):
    count = _property(win, "conv_output")
    stop_max = count if isinstance(count, int) else 1
    start = data.draw(st.integers(0, stop_max))
    stop = data.draw(st.integers(start, stop_max + 3))
    slices = win.tap_slices(start, stop)
    assert len(slices) == win.kernel
    assert [_expand(t) for t in slices] == _brute_taps(win, start, stop)
    for y in range(start, stop):
        assert win.reads(y) == tuple(x for t in range(win.kernel) for yy, x in _brute_taps(win, y, y + 1)[t])


@settings(max_examples=_scaled(200))
@given(windows(size=st.none()), st.integers(-20, 40))
def test_window_of_inverts_index(win, x):
    for t in range(win.kernel):
        y = win.window_of(x, t)
        expected = [y2 for y2 in range(-60, 60) if win.index(y2, t) == x]
        assert expected == ([] if y is None else [y])


@settings(max_examples=_scaled(100))
@given(windows())
def test_tap_slices_default_stop_is_the_window_count(win):
    try:
        count = win.pool_output if win.ceil_mode else win.conv_output
    except ConvlabError:
        return
    assert win.tap_slices() == win.tap_slices(0, count)


def test_phases_cover_each_output_once_with_the_right_taps():
    for n, k, s, d, lo, hi, op in itertools.product(
        (1, 3, 4), (1, 2, 3), (1, 2, 3), (1, 2), (0, 1), (0, 2), (0, 1)
    ):
        if op >= max(s, d):
            continue
        win = Window(n, k, s, d, (lo, hi), op)
        try:
            out = win.transpose_output
        except ConvlabError:
            continue
        covered = []
        for offset in range(s):
            phase = win.phase(offset)
            assert phase.taps == tuple(t for t in reversed(range(k)) if (d * t) % s == (offset + lo) % s)
            covered += list(range(offset, out, s))
            assert phase.size == len(range(offset, out, s))
        assert sorted(covered) == list(range(out))


def test_stuffed_padding():
    assert Window(3, 3, 2, 1, (1, 0), 1).stuffed_padding == (1, 3)
    assert Window(3, 2, 2, 2, (3, 3)).stuffed_padding == (-1, -1)


def test_example_values():
    w = Window(5, 3, stride=2, padding=1)
    assert (w.conv_output, w.reads(0), w.reads(1), w.reads(2)) == (3, (0, 1), (1, 2, 3), (3, 4))
    assert Window(2, 3, stride=2).written_by(1) == (2, 3, 4)
    assert Window(5, 2, stride=2, ceil_mode=True).pool_output == 3


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"size": 0, "kernel": 3}, ConvlabError, "size must be positive integers, got size=0"),
        ({"size": 4, "kernel": 0}, ConvlabError, "kernel must be positive integers"),
        ({"size": 4, "kernel": 2, "stride": 0}, ConvlabError, "stride must be positive integers"),
        ({"size": 4, "kernel": 2, "dilation": -1}, ConvlabError, "dilation must be positive integers"),
        (
            {"size": 4, "kernel": 2, "padding": (1, 2, 3)},
            ConvlabError,
            r"padding must be an int or a \(lo, hi\) pair",
        ),
        ({"size": 4, "kernel": 2, "padding": -1}, ConvlabError, "padding must be non-negative integers"),
        ({"size": 4, "kernel": 2, "output_padding": -1}, ConvlabError, "output_padding must be non-negative"),
        ({"size": 4.0, "kernel": 2}, TypeError, "size must be an integer, got float"),
        ({"size": 4, "kernel": 2, "ceil_mode": 1}, TypeError, "ceil_mode must be a bool, got 1"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, error, words):
    with pytest.raises(error, match=words):
        Window(**kwargs)


def test_unbounded_window_has_no_output_size():
    with pytest.raises(ConvlabError, match="size=None"):
        _ = Window(None, 3).conv_output
    assert Window(None, 3, 2, 2, 1).index(4, 2) == 11


# ---- the index sets torch's autograd reveals --------------------------------------------


@st.composite
def nd_windows(draw, transposed: bool = False, pool: bool = False):
    ndim = draw(st.integers(1, 3))
    ceil_mode = pool and draw(st.booleans())
    wins = []
    for _ in range(ndim):
        k = draw(st.integers(1, 3))
        s, d = draw(st.integers(1, 3)), (1 if pool else draw(st.integers(1, 2)))
        p = draw(st.integers(0, k // 2)) if pool else None
        # torch's pools and transposed convs take symmetric padding only
        lo = p if pool else draw(st.integers(0, 3))
        hi = lo if pool or transposed else draw(st.integers(0, 3))
        op = draw(st.integers(0, max(s, d) - 1)) if transposed else 0
        wins.append(Window(draw(st.integers(1, 6)), k, s, d, (lo, hi), op, ceil_mode=ceil_mode))
    return tuple(wins)


def _support(grad) -> set[tuple[int, ...]]:
    return {tuple(int(i) for i in idx) for idx in zip(*grad.nonzero(as_tuple=True))}


def _out_index(data, sizes):
    return tuple(data.draw(st.integers(0, n - 1)) for n in sizes)


@settings(max_examples=_scaled(120))
@given(nd_windows(), st.data())
def test_conv_reads_are_autograds_support(torch, wins, data):
    try:
        sizes = [w.conv_output for w in wins]
    except ConvlabError:
        return
    conv = (None, torch.nn.functional.conv1d, torch.nn.functional.conv2d, torch.nn.functional.conv3d)[
        len(wins)
    ]
    x = torch.zeros((1, 1, *(w.size for w in wins)), dtype=torch.float64, requires_grad=True)
    # torch takes symmetric padding only: pad explicitly, as (lo, hi) pairs need.
    pads = [p for w in reversed(wins) for p in (w.lo, w.hi)]
    padded = torch.nn.functional.pad(x, pads)
    weight = torch.ones((1, 1, *(w.kernel for w in wins)), dtype=torch.float64)
    out = conv(padded, weight, stride=[w.stride for w in wins], dilation=[w.dilation for w in wins])
    assert list(out.shape[2:]) == sizes
    y = _out_index(data, sizes)
    out[(0, 0, *y)].backward()
    expected = _support(x.grad[0, 0])
    assert expected == set(itertools.product(*(w.reads(i) for w, i in zip(wins, y))))


@settings(max_examples=_scaled(120))
@given(nd_windows(pool=True), st.data())
def test_pool_reads_are_autograds_support(torch, wins, data):
    try:
        sizes = [w.pool_output for w in wins]
    except ConvlabError:
        return
    pool = (
        None,
        torch.nn.functional.avg_pool1d,
        torch.nn.functional.avg_pool2d,
        torch.nn.functional.avg_pool3d,
    )
    x = torch.zeros((1, 1, *(w.size for w in wins)), dtype=torch.float64, requires_grad=True)
    try:
        out = pool[len(wins)](
            x,
            [w.kernel for w in wins],
            stride=[w.stride for w in wins],
            padding=[w.lo for w in wins],
            ceil_mode=wins[0].ceil_mode,
        )
    except RuntimeError:
        return  # avg_pool3d refuses inputs smaller than the kernel (see test_shapes_torch)
    assert list(out.shape[2:]) == sizes
    y = _out_index(data, sizes)
    out[(0, 0, *y)].backward()
    assert _support(x.grad[0, 0]) == set(itertools.product(*(w.reads(i) for w, i in zip(wins, y))))


@settings(max_examples=_scaled(120))
@given(nd_windows(transposed=True), st.data())
def test_transposed_writes_are_autograds_support(torch, wins, data):
    try:
        sizes = [w.transpose_output for w in wins]
    except ConvlabError:
        return
    fn = getattr(torch.nn.functional, f"conv_transpose{len(wins)}d")
    x = torch.zeros((1, 1, *(w.size for w in wins)), dtype=torch.float64, requires_grad=True)
    weight = torch.ones((1, 1, *(w.kernel for w in wins)), dtype=torch.float64)
    out = fn(
        x,
        weight,
        stride=[w.stride for w in wins],
        padding=[w.lo for w in wins],
        output_padding=[w.output_padding for w in wins],
        dilation=[w.dilation for w in wins],
    )
    assert list(out.shape[2:]) == sizes
    o = _out_index(data, sizes)
    out[(0, 0, *o)].backward()
    per_dim = [{i for i in range(w.size) if oi in w.written_by(i)} for w, oi in zip(wins, o)]
    assert _support(x.grad[0, 0]) == set(itertools.product(*per_dim))
    # The forward convolution on the transposed output reads the same inputs back.
    forward = [w.forward() for w in wins]
    assert [f.size for f in forward] == sizes
