"""nn.run_chain (what Sequential and the U-Nets run): fused conv+ReLU and conv+BatchNorm+ReLU give
the layers' own results bit for bit, match torch, never write the caller's input, and leave a
subclass with its own forward alone."""

from __future__ import annotations

import numpy as np
import pytest

from convlab import nn
from torch_unets import randomise_norms

torch = pytest.importorskip("torch")


def _one_by_one(modules, x):
    for module in modules:
        x = module(x)
    return x


def _pair(dtype):
    """The same chain in torch and in convlab (torch's weights)."""
    torch.manual_seed(0)
    theirs = randomise_norms(
        torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1),
            torch.nn.ReLU(inplace=True),
            torch.nn.Conv2d(8, 8, 3, padding=1, bias=False),
            torch.nn.BatchNorm2d(8),
            torch.nn.ReLU(),
            torch.nn.Conv2d(8, 4, 3, stride=2),
            torch.nn.BatchNorm2d(4),
            torch.nn.Conv2d(4, 4, 1),
            torch.nn.ReLU(),
        )
    ).to(torch.float64 if dtype == np.float64 else torch.float32)
    ours = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, dtype=dtype),
        nn.ReLU(inplace=True),
        nn.Conv2d(8, 8, 3, padding=1, bias=False, dtype=dtype),
        nn.BatchNorm2d(8, dtype=dtype),
        nn.ReLU(),
        nn.Conv2d(8, 4, 3, stride=2, dtype=dtype),
        nn.BatchNorm2d(4, dtype=dtype),
        nn.Conv2d(4, 4, 1, dtype=dtype),
        nn.ReLU(),
    )
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sequential_fused_equals_layer_by_layer_and_torch(dtype):
    theirs, ours = _pair(dtype)
    x = np.random.default_rng(0).standard_normal((2, 3, 37, 41)).astype(dtype)
    x.reshape(-1)[::5] = -0.0
    before = x.copy()
    fused = ours(x)
    assert x.tobytes() == before.tobytes(), "the chain wrote into its input"
    plain = _one_by_one(list(ours), x)
    assert fused.dtype == plain.dtype and fused.tobytes() == plain.tobytes()
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(fused, expected, rtol=tol, atol=tol * np.abs(expected).max())


def test_run_chain_leaves_a_subclass_forward_alone():
    class Doubled(nn.Conv2d):
        def forward(self, input):
            return 2 * super().forward(input)

    conv = Doubled(1, 2, 3)
    x = np.random.default_rng(1).standard_normal((1, 1, 9, 9)).astype(np.float32)
    got = nn.run_chain([conv, nn.ReLU()], x)
    assert np.array_equal(got, np.maximum(0, 2 * nn.Conv2d.forward(conv, x)))


def test_run_chain_batch_norm_on_the_callers_input_makes_a_new_array():
    norm = nn.BatchNorm2d(2)
    norm.running_mean = np.array([0.5, -1.0], np.float32)
    x = np.arange(16, dtype=np.float32).reshape(1, 2, 2, 4) - 8
    before = x.copy()
    out = nn.run_chain([norm, nn.ReLU()], x)
    assert out is not x and np.array_equal(x, before)
    assert out.tobytes() == nn.ReLU()(norm(x)).tobytes()


def test_run_chain_of_nothing_and_of_plain_layers():
    x = np.array([[[-1.0, 2.0]]])
    assert nn.run_chain([], x) is x
    assert np.array_equal(nn.run_chain([nn.ReLU(), nn.Identity()], x), [[[0.0, 2.0]]])


@pytest.mark.parametrize(
    ("layer", "kwargs", "name"),
    [
        (nn.Conv2d(1, 1, 1), {"relu": 1}, "relu"),
        (nn.BatchNorm2d(1), {"relu": "yes"}, "relu"),
        (nn.BatchNorm2d(1), {"inplace": None}, "inplace"),
    ],
)
def test_forward_relu_flags_must_be_bools(layer, kwargs, name):
    with pytest.raises(TypeError, match=f"{name} must be a bool, got"):
        layer.forward_relu(np.zeros((1, 1, 2, 2), np.float32), **kwargs)


def test_run_chain_calls_an_instance_forward_unfused():
    """The golden vectors' recorder replaces forward on instances: each layer must then be called."""
    conv, norm, relu = nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2), nn.ReLU()
    norm.running_mean = np.array([0.5, -1.0], np.float32)
    seen = []
    for name, layer in (("conv", conv), ("norm", norm), ("relu", relu)):
        own = layer.forward
        object.__setattr__(
            layer, "forward", lambda x, own=own, name=name: seen.append((name, own(x))) or seen[-1][1]
        )
    x = np.random.default_rng(2).standard_normal((1, 1, 6, 6)).astype(np.float32)
    out = nn.run_chain([conv, norm, relu], x)
    assert [name for name, _ in seen] == ["conv", "norm", "relu"]
    assert (seen[0][1] < 0).any(), "the conv's recorded output was normalised or rectified in place"
    assert out.tobytes() == seen[-1][1].tobytes()


_STRATEGY_CASES = [  # (C_in, C_out, kernel, stride, padding, bias): one per strategy row
    (3, 8, 3, 1, 1, True),  # im2col (thin input)
    (16, 24, 3, 1, 1, False),  # wide: per-tap GEMMs
    (16, 8, 1, 1, 0, True),  # direct 1x1
    (16, 8, 3, 2, 1, False),  # im2col, strided
    (64, 64, 3, 1, 1, False),  # Winograd under algorithm("winograd")
]


def _special_input(rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    flat = x.reshape(-1)
    # A few non-finite inputs only: each reaches C_out * k * k outputs.
    flat[::7], flat[3], flat[-5] = -0.0, np.inf, np.nan
    return x


@pytest.mark.parametrize("case", _STRATEGY_CASES)
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("algorithm", ["gemm", "winograd"])
def test_conv_batch_norm_fused_equals_torch_batch_norm_of_the_conv(case, relu, algorithm):
    from convlab.functional import algorithm as use

    c_in, c_out, k, stride, padding, bias = case
    rng = np.random.default_rng(c_in + c_out + k)
    conv = nn.Conv2d(c_in, c_out, k, stride, padding, bias=bias, rng=rng)
    norm = nn.BatchNorm2d(c_out, eps=1e-3)
    norm.running_mean = (rng.standard_normal(c_out) * 0.3).astype(np.float32)
    norm.running_var = (rng.random(c_out) + 0.2).astype(np.float32)
    norm.weight = (rng.standard_normal(c_out)).astype(np.float32)
    shift = (rng.standard_normal(c_out) * 0.1).astype(np.float32)
    shift[0] = 2.0**-130  # a subnormal-range shift: the kernel with the tiny-result test
    norm.bias = shift
    x = _special_input(rng, (2, c_in, 13, 11))
    before = x.copy()
    chain = [conv, norm, nn.ReLU()] if relu else [conv, norm]
    with use(algorithm):
        fused, conv_out = nn.run_chain(chain, x), conv(x)
    assert x.tobytes() == before.tobytes()
    expected = torch.nn.functional.batch_norm(
        torch.from_numpy(conv_out),
        *(torch.from_numpy(np.asarray(p)) for p in (norm.running_mean, norm.running_var)),
        torch.from_numpy(np.asarray(norm.weight)),
        torch.from_numpy(np.asarray(norm.bias)),
        False,
        0.1,
        1e-3,
    )
    expected = (torch.relu(expected) if relu else expected).numpy()
    assert fused.dtype == np.float32 and np.isfinite(fused).mean() > 0.5
    np.testing.assert_array_equal(fused, expected)
    np.testing.assert_array_equal(np.signbit(fused), np.signbit(expected))


def test_conv_batch_norm_with_a_float64_norm_runs_the_layers_in_turn():
    rng = np.random.default_rng(3)
    conv, norm = nn.Conv2d(2, 3, 3, rng=rng), nn.BatchNorm2d(3, dtype=np.float64)
    norm.running_mean = rng.standard_normal(3)
    x = rng.standard_normal((1, 2, 7, 7)).astype(np.float32)
    fused = nn.run_chain([conv, norm, nn.ReLU()], x)
    assert fused.dtype == np.float64
    assert fused.tobytes() == nn.ReLU()(norm(conv(x))).tobytes()


def test_conv_batch_norm_chain_checks_the_norm_channels_first():
    conv, norm = nn.Conv2d(2, 3, 3), nn.BatchNorm2d(4)
    with pytest.raises(ValueError, match=r"BatchNorm2d\(4\) expects .* got input of shape \(1, 3, 5, 5\)"):
        nn.run_chain([conv, norm], np.zeros((1, 2, 7, 7), np.float32))


def test_a_folded_batch_norm_fuses_the_conv_with_its_relu_and_keeps_the_values(monkeypatch):
    """fold_batch_norm leaves Conv -> Identity -> ReLU: the chain skips the Identity and fuses conv + ReLU."""
    net = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1))
    net[1].running_mean = np.array([0.5, -1.0, 0.25, 2.0], np.float32)
    net[1].running_var = np.array([0.5, 2.0, 1.0, 4.0], np.float32)
    folded = nn.fold_batch_norm(net)
    assert type(folded[1]) is nn.Identity
    calls = []
    original = nn.Conv2d.forward_relu

    def spy(self, x, relu=True):
        calls.append(relu)
        return original(self, x, relu=relu)

    monkeypatch.setattr(nn.Conv2d, "forward_relu", spy)
    x = np.random.default_rng(3).standard_normal((1, 3, 11, 13)).astype(np.float32)
    fused = folded(x)
    assert calls == [True, False]
    monkeypatch.undo()
    plain = _one_by_one(list(folded), x)
    assert fused.tobytes() == plain.tobytes()
    # The fold moves float32 outputs by a few ulps only (its documented price).
    np.testing.assert_allclose(fused, net(x), rtol=1e-5, atol=1e-5 * np.abs(plain).max())


def test_an_identity_whose_forward_was_replaced_is_still_called():
    identity, seen = nn.Identity(), []
    object.__setattr__(identity, "forward", lambda x: seen.append(x.shape) or x)
    x = np.ones((1, 1, 5, 5), np.float32)
    nn.run_chain([nn.Conv2d(1, 1, 3), identity, nn.ReLU()], x)
    assert seen == [(1, 1, 3, 3)]
