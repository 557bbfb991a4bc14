"""Issue 10's library reproductions: each gives a one-line ConvlabError/TypeError or the right answer."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import convlab
from convlab import functional as F
from convlab import init, lowering, nn, shapes
from convlab._args import ConvlabError
from convlab._limits import ResourceError


def refused(call, kind, *words):
    with pytest.raises(kind) as err:
        call()
    text = str(err.value)
    assert "\n" not in text
    for word in words:
        assert word in text, text
    return text


# ---- searches bounded by construction --------------------------------------------------------


def test_receptive_field_of_deep_upsampling_chains_is_refused_with_its_bound():
    refused(lambda: shapes.receptive_field(["t2s2"] * 30), ConvlabError, "bound of 4194304", "layers[0..")
    refused(lambda: shapes.receptive_field(["t2s1000000000"]), ConvlabError, "period of 1000000000")


def test_receptive_field_of_a_huge_conv_is_the_closed_form():
    (field,) = shapes.receptive_field(["c1000000000"])
    assert (field.size, field.jump, field.start) == (10**9, 1, 0)
    deep = shapes.receptive_field(["c3s2p1"] * 2000)[-1]
    # r_L = 1 + sum (k-1) * prod(previous strides) = 1 + 2 * (2**2000 - 1)
    assert deep.size == 2 * (2**2000 - 1) + 1 and deep.jump == 2**2000


def test_receptive_field_refuses_non_lists_and_giant_specs():
    refused(lambda: shapes.receptive_field(None), TypeError, "layers must be a list")
    refused(lambda: shapes.receptive_field("c3"), TypeError, "wrap one layer in a list")
    refused(lambda: shapes.receptive_field(["c3s" + "9" * 5000]), ConvlabError, "at most 1000 characters")
    refused(lambda: shapes.receptive_field([{"kind": np.ones(2), "kernel_size": 3}]), ConvlabError, "kind")


def naive_field(layers):
    """Trace every output of a whole period back as sets of pixels: no shortcut at all."""
    period = math.prod(x.stride for x in layers if x.kind == "convtranspose")
    spans = []
    for o in range(period):
        current = {o}
        for x in reversed(layers):
            s, k, d, p = x.stride, x.kernel_size, x.dilation, x.padding
            if x.kind == "convtranspose":
                current = {
                    i
                    for q in current
                    for t in range(k)
                    if (q + p - t * d) % s == 0
                    for i in [(q + p - t * d) // s]
                }
            else:
                current = {q * s + t * d - p for q in current for t in range(k)}
        spans.append((min(current), max(current)) if current else None)
    size = max((b - a + 1 for a, b in filter(None, spans)), default=0)
    return size, spans[0][0] if spans[0] else 0


@st.composite
def chains(draw):
    layers = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["conv", "pool", "convtranspose"]))
        k, s = draw(st.integers(1, 5)), draw(st.integers(1, 3))
        d = draw(st.integers(1, 3)) if kind != "pool" else 1
        layers.append(shapes.Layer(kind, k, s, draw(st.integers(0, k)), d))
    return layers


@settings(max_examples=60, deadline=None)
@given(chains())
def test_receptive_field_equals_the_naive_set_trace_after_every_layer(layers):
    try:
        fields = shapes.receptive_field(layers)
    except ConvlabError as err:
        # Only the stated work bound may refuse a well-formed chain, and only a long upsampling one.
        assert "bound of 4194304" in str(err)
        assert math.prod(x.stride for x in layers if x.kind == "convtranspose") >= 8
        assume(False)
    for i, field in enumerate(fields):
        assert (field.size, field.start) == naive_field(layers[: i + 1])


def naive_solve(n, out, ks, ss, ps, ds, transposed):
    found = set()
    for k, s, p, d in itertools.product(ks, ss, ps, ds):
        if transposed:
            for op in range(max(s, d)):
                if (n - 1) * s - 2 * p + d * (k - 1) + op + 1 == out:
                    found.add((k, s, p, d, op))
        elif n + 2 * p - d * (k - 1) - 1 >= 0 and (n + 2 * p - d * (k - 1) - 1) // s + 1 == out:
            found.add((k, s, p, d, 0))
    return found


def keys(solutions):
    return {(x.kernel_size, x.stride, x.padding, x.dilation, x.output_padding) for x in solutions}


@pytest.mark.parametrize("transposed", [False, True])
def test_solve_with_max_padding_2_40_is_the_full_answer(transposed):
    n, out = (768, 128) if not transposed else (128, 768)
    got = shapes.solve(n, out, transposed=transposed, max_padding=2**40, max_kernel_size=8, max_stride=8)
    # No padding beyond 2 * 768 can map these sizes: a naive search to 1600 is complete.
    expected = naive_solve(n, out, range(1, 9), range(1, 9), range(0, 1601), [1], transposed)
    assert keys(got) == expected and len(got) == len(expected) > 0


def test_solve_with_a_pinned_kernel_of_2_62_is_exact():
    k = 2**62
    got = shapes.solve(768, 128, kernel_size=k)
    # 2p lies within [k - 768, k - 768 + 128 * 16): a naive search of that window is complete.
    centre = (k - 768) // 2
    window = range(centre - 10, centre + 1100)
    assert keys(got) == naive_solve(768, 128, [k], range(1, 17), window, [1], False)
    assert len(got) == 64


def test_solve_refuses_searches_beyond_its_bounds():
    refused(lambda: shapes.solve(768, 128, max_kernel_size=2**40), ConvlabError, "combinations", "1048576")
    refused(
        lambda: shapes.solve(5, 2**41, transposed=True, stride=2**40, max_padding=2**41),
        ConvlabError,
        "solutions",
    )


def test_phases_refuse_more_phases_than_the_bound():
    x, w = np.ones((1, 1, 2)), np.ones((1, 1, 1))
    refused(
        lambda: lowering.conv_transpose_by_phases(x, w, stride=10**7),
        ConvlabError,
        "10000000 phases",
        "65536",
    )


# ---- memory checked before it is allocated ---------------------------------------------------

x4, w4 = np.ones((1, 1, 3, 3)), np.ones((1, 1, 1, 1))


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: F.conv2d(x4, w4, padding=2**20), ["conv2d", "padding=1048576"]),
        (lambda: F.conv2d(x4, w4, padding=2**20, padding_mode="circular"), ["conv2d", "padding=1048576"]),
        (lambda: F.pad(np.ones((1, 1, 3)), (2**40, 0)), ["pad's result", "pad=(1099511627776, 0)"]),
        (lambda: F.pad(np.ones((1, 1, 3)), (0, 2**40), mode="replicate"), ["pad's result"]),
        (lambda: init.bilinear_kernel(1, 1, 2**40), ["bilinear_kernel", "kernel_size=1099511627776"]),
        (lambda: F.conv_transpose2d(x4, w4, stride=2**30), ["conv_transpose2d", "stride=1073741824"]),
        (
            lambda: F.conv_transpose1d(
                np.ones((1, 1, 3)), np.ones((1, 1, 1)), stride=2**40, output_padding=2**40 - 1
            ),
            ["output_padding=1099511627775"],
        ),
        (lambda: F.unfold(x4, 1, padding=2**20), ["unfold's result", "padding=1048576"]),
        (
            lambda: F.fold(np.ones((1, 1, 1)), (2**20, 2**20), 1, padding=2**19),
            ["fold's result", "output_size"],
        ),
        (lambda: lowering.conv_matrix((1, 2**16, 2**16), np.ones((1, 1, 3, 3))), ["input_shape=(1, 65536"]),
        (lambda: lowering.conv_matrix((1, 1024, 1024), np.ones((256, 1, 5, 5))), ["the conv matrix"]),
        (lambda: lowering.conv_by_matrix(x4, w4, padding=2**20), ["padding=1048576"]),
        (lambda: lowering.conv_transpose_by_zero_insertion(x4, w4, stride=2**30), ["stride=1073741824"]),
        (lambda: nn.Conv2d(2**40, 1, 3), ["Conv2d's weight", "in_channels=1099511627776"]),
        (lambda: nn.ConvTranspose3d(1, 2**40, 3), ["ConvTranspose3d's weight", "out_channels"]),
        (lambda: nn.BatchNorm2d(2**40), ["num_features=1099511627776"]),
    ],
)
def test_allocations_are_refused_before_they_happen(call, words):
    refused(call, ResourceError, "memory limit", "convlab.memory_limit", *words)


def test_the_conv_check_counts_the_real_bytes():
    # Padded input (1, 1, 5, 5) and output (1, 2, 5, 5) in float64: 75 values.
    x, w = np.ones((1, 1, 3, 3)), np.ones((2, 1, 1, 1))
    with convlab.memory_limit(75 * 8):
        out = F.conv2d(x, w, padding=1)
    assert out.shape == (1, 2, 5, 5) and out.sum() == 18
    with convlab.memory_limit(75 * 8 - 1):
        refused(lambda: F.conv2d(x, w, padding=1), ResourceError, "600 B")


def test_pad_check_counts_the_real_bytes():
    x = np.ones((2, 3), np.float32)
    with convlab.memory_limit(4 * 2 * 6 + 8 * 6):  # result (2, 6) float32 and a 6-entry index map
        assert F.pad(x, (1, 2), mode="reflect").shape == (2, 6)
    with convlab.memory_limit(4 * 2 * 6 + 8 * 6 - 1):
        refused(lambda: F.pad(x, (1, 2)), ResourceError, "pad=(1, 2)")


def test_bilinear_kernel_refuses_integer_dtypes():
    refused(lambda: init.bilinear_kernel(1, 1, 4, dtype=np.int8), TypeError, "float dtype")
    assert init.bilinear_kernel(1, 1, 4, dtype="float64").dtype == np.float64


# ---- exceptions outside the contract ---------------------------------------------------------

torch = pytest.importorskip("torch")


def test_conv_by_matrix_takes_strides_beyond_int64():
    x, w = np.arange(5.0).reshape(1, 1, 5), np.array([[[1.0, 2.0]]])
    got = lowering.conv_by_matrix(x, w, stride=10**30)
    assert got.tolist() == [[[0.0 * 1 + 1.0 * 2]]]  # one window: x[0]*w[0] + x[1]*w[1]
    np.testing.assert_array_equal(got, F.conv1d(x, w, stride=10**30))


@pytest.mark.parametrize(
    "route",
    [lowering.conv_by_matrix, lowering.conv_by_unfold],
)
def test_lowering_takes_an_empty_batch_as_torch_does(route):
    x, w = np.ones((0, 2, 5)), np.ones((3, 2, 2))
    got = route(x, w, np.ones(3))
    want = torch.nn.functional.conv1d(
        torch.from_numpy(x), torch.from_numpy(w), torch.ones(3, dtype=torch.float64)
    )
    assert got.shape == tuple(want.shape) == (0, 3, 4)


@pytest.mark.parametrize(
    "route",
    [
        lowering.conv_transpose_by_matrix,
        lowering.conv_transpose_by_phases,
        lowering.conv_transpose_by_scatter,
        lowering.conv_transpose_by_zero_insertion,
    ],
)
def test_transposed_lowering_takes_an_empty_batch_as_torch_does(route):
    x, w = np.ones((0, 2, 5)), np.ones((2, 3, 2))
    got = route(x, w, stride=2)
    want = torch.nn.functional.conv_transpose1d(torch.from_numpy(x), torch.from_numpy(w), stride=2)
    assert got.shape == tuple(want.shape) == (0, 3, 10)


# ---- PyTorch's 1-element tuples --------------------------------------------------------------


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


ONE = [
    {"stride": (2,)},
    {"padding": (1,)},
    {"dilation": (2,)},
    {"stride": (2,), "padding": (1,), "dilation": (1,)},
]


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("kwargs", ONE)
def test_conv_broadcasts_one_element_tuples_as_torch(ndim, kwargs):
    rng = np.random.default_rng(ndim)
    x, w = rng.standard_normal((2, 3, *(6,) * ndim)), rng.standard_normal((4, 3, *(3,) * ndim))
    ours = getattr(F, f"conv{ndim}d")(x, w, **kwargs)
    theirs = getattr(torch.nn.functional, f"conv{ndim}d")(_t(x), _t(w), **kwargs).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("kwargs", [*ONE, {"stride": (2,), "output_padding": (1,)}])
def test_conv_transpose_broadcasts_one_element_tuples_as_torch(ndim, kwargs):
    rng = np.random.default_rng(ndim)
    x, w = rng.standard_normal((2, 3, *(4,) * ndim)), rng.standard_normal((3, 2, *(3,) * ndim))
    ours = getattr(F, f"conv_transpose{ndim}d")(x, w, **kwargs)
    theirs = getattr(torch.nn.functional, f"conv_transpose{ndim}d")(_t(x), _t(w), **kwargs).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d", "max_pool3d", "avg_pool3d"])
def test_pooling_broadcasts_one_element_tuples_as_torch(op):
    ndim = int(op[-2])
    x = np.random.default_rng(1).standard_normal((1, 2, *(7,) * ndim))
    kwargs = {"kernel_size": (3,), "stride": (2,), "padding": (1,)}
    ours = getattr(F, op)(x, **kwargs)
    theirs = getattr(torch.nn.functional, op)(_t(x), **kwargs).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_nn_conv_layers_follow_torch_on_one_element_tuples():
    x = np.random.default_rng(2).standard_normal((1, 1, 6, 6)).astype(np.float32)
    ours = nn.Conv2d(1, 2, 3, stride=(2,), padding=(1,))
    theirs = torch.nn.Conv2d(1, 2, 3, stride=(2,), padding=(1,))
    with torch.no_grad():
        theirs.weight.copy_(_t(ours.weight.data))
        theirs.bias.copy_(_t(ours.bias.data))
        np.testing.assert_allclose(ours(x), theirs(_t(x)).numpy(), rtol=1e-6, atol=1e-6)
    # torch's _pair((3,)) keeps (3,) and the layer cannot run: refused here at once.
    refused(lambda: nn.Conv2d(1, 1, (3,)), ConvlabError, "kernel_size")


def test_unfold_and_fold_keep_torchs_refusal_of_one_element_tuples():
    refused(lambda: F.fold(np.ones((1, 4, 9)), (4, 4), (2,)), ConvlabError, "kernel_size")
