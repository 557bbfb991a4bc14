"""solve() against an independent enumeration, receptive_field() against autograd."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convlab import shapes


def naive_conv_solutions(n, out, max_k, max_s, max_d):
    """Every (k, s, p, d) with the textbook formula, no shortcuts."""
    found = set()
    for k, s, d in itertools.product(range(1, max_k + 1), range(1, max_s + 1), range(1, max_d + 1)):
        for p in range(0, d * (k - 1) + 1):
            span = n + 2 * p - d * (k - 1) - 1
            if span >= 0 and span // s + 1 == out:
                found.add((k, s, p, d, 0))
    return found


def naive_transposed_solutions(n, out, max_k, max_s, max_d):
    found = set()
    for k, s, d in itertools.product(range(1, max_k + 1), range(1, max_s + 1), range(1, max_d + 1)):
        for p in range(0, d * (k - 1) + 1):
            for op in range(max(s, d)):
                if (n - 1) * s - 2 * p + d * (k - 1) + op + 1 == out:
                    found.add((k, s, p, d, op))
    return found


def key(x):
    return (x.kernel_size, x.stride, x.padding, x.dilation, x.output_padding)


@given(st.integers(1, 60), st.integers(1, 60), st.integers(1, 2))
def test_solve_lists_exactly_the_solutions_within_bounds(n, out, max_d):
    got = shapes.solve(n, out, max_kernel_size=7, max_stride=5, max_dilation=max_d)
    assert {key(x) for x in got} == naive_conv_solutions(n, out, 7, 5, max_d)
    assert len(got) == len({key(x) for x in got})
    for x in got:
        assert shapes.conv_output_size(n, x.kernel_size, x.stride, x.padding, x.dilation) == out
        assert x.unused == (n + 2 * x.padding - x.dilation * (x.kernel_size - 1) - 1) % x.stride


@given(st.integers(1, 40), st.integers(1, 90), st.integers(1, 2))
def test_solve_transposed_lists_exactly_the_solutions_within_bounds(n, out, max_d):
    got = shapes.solve(n, out, transposed=True, max_kernel_size=6, max_stride=5, max_dilation=max_d)
    assert {key(x) for x in got} == naive_transposed_solutions(n, out, 6, 5, max_d)
    for x in got:
        size = shapes.conv_transpose_output_size(
            n, x.kernel_size, x.stride, x.padding, x.output_padding, x.dilation
        )
        assert size == out


def test_solve_orders_by_common_practice():
    got = shapes.solve(768, 128)
    whole = [x for x in got if x.dropped == 0]  # unused pixels that are padding lose nothing
    assert got[: len(whole)] == whole
    assert [(x.kernel_size, x.stride, x.padding) for x in whole[:3]] == [(6, 6, 0), (12, 6, 3), (11, 6, 5)]
    assert [x.form for x in whole[:3]] == ["k = s", "k = 2s, p = s/2", "centred"]


def test_solve_pins_parameters():
    got = shapes.solve(28, 14, kernel_size=3)
    assert {(x.stride, x.padding) for x in got} == {(2, 1)}  # (28 + 2 - 3) // 2 + 1
    assert all(x.kernel_size == 3 for x in got)


def test_solve_tuple_sizes_need_parameters_that_fit_every_dimension():
    both = shapes.solve((768, 512), (128, 128))
    assert both == []
    square = shapes.solve((24, 25), (12, 13), kernel_size=3)
    assert square[0] == shapes.Solution(3, 2, 1, 1, 0, 1)
    for x in square:
        assert shapes.conv_output_size((24, 25), x.kernel_size, x.stride, x.padding, x.dilation) == (12, 13)


def test_receptive_field_of_the_unet_contracting_path():
    layers = ["c3", "c3", "pool2"] * 4 + ["c3", "c3"]
    fields = shapes.receptive_field(layers, input_size=572)
    bottom = fields[-1]
    assert (bottom.size, bottom.jump, bottom.start, bottom.output_size) == (140, 16, 0, 28)


def test_receptive_field_compact_specs_and_dicts_agree():
    a = shapes.receptive_field(["c3s2p1", "pool3s2p1", "t4s2p1"])
    b = shapes.receptive_field(
        [
            shapes.Layer("conv", 3, 2, 1),
            {"kind": "pool", "kernel_size": 3, "stride": 2, "padding": 1},
            shapes.Layer("convtranspose", 4, 2, 1),
        ]
    )
    assert [(x.size, x.jump, x.start) for x in a] == [(x.size, x.jump, x.start) for x in b]


torch = pytest.importorskip("torch")


@st.composite
def chains(draw):
    layers = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "pool", "convtranspose"]))
        k = draw(st.integers(1, 4))
        s = draw(st.integers(1, 3))
        d = draw(st.integers(1, 2)) if kind != "pool" else 1
        p = draw(st.integers(0, k // 2))
        layers.append(shapes.Layer(kind, k, s, p, d))
    return layers


def torch_chain(layers):
    mods = []
    for x in layers:
        if x.kind == "conv":
            m = torch.nn.Conv1d(1, 1, x.kernel_size, x.stride, x.padding, x.dilation, bias=False)
        elif x.kind == "pool":  # average pooling has the max pool's window, with nonzero gradients
            m = torch.nn.AvgPool1d(x.kernel_size, x.stride, x.padding)
        else:
            m = torch.nn.ConvTranspose1d(
                1, 1, x.kernel_size, x.stride, x.padding, dilation=x.dilation, bias=False
            )
        if hasattr(m, "weight"):
            torch.nn.init.constant_(m.weight, 1.0)
        mods.append(m)
    return torch.nn.Sequential(*mods).double()


@given(chains())
def test_receptive_field_equals_the_support_of_autograd_gradients(layers):
    # Positive weights: every input an output reads gets a nonzero gradient,
    # so the gradient's support is the receptive field. A long input keeps
    # the probed outputs away from the borders, where padding hides pixels.
    n = 400
    try:
        fields = shapes.receptive_field(layers, input_size=n)
    except ValueError:
        return
    field = fields[-1]
    net = torch_chain(layers)
    x = torch.ones((1, 1, n), dtype=torch.float64, requires_grad=True)
    y = net(x)
    assert y.shape[-1] == field.output_size
    widths, starts = [], {}
    jump = field.jump
    # Probe a whole period of output phases (the product of the transposed
    # strides) around the output that sits over the middle of the input.
    period = 1
    for layer in layers:
        period *= layer.stride if layer.kind == "convtranspose" else 1
    first = max(0, min(int((n // 2 - field.start) / jump), y.shape[-1] - period))
    for o in range(first, min(first + period, y.shape[-1])):
        (grad,) = torch.autograd.grad(y[0, 0, o], x, retain_graph=True)
        support = torch.nonzero(grad[0, 0]).flatten()
        if len(support):
            assert support[0] > 0 and support[-1] < n - 1, "probe too close to the border"
            widths.append(int(support[-1] - support[0] + 1))
            starts[o] = int(support[0])
    assert max(widths, default=0) == field.size
    # Output o starts where output 0 starts plus o jumps, for conv/pool chains.
    if all(layer.kind != "convtranspose" for layer in layers):
        for o, first in starts.items():
            assert first == field.start + o * jump
