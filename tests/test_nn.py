"""convlab.nn: every layer against the torch layer with the same weights, state_dict round trips, errors."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

from convlab import ConvlabError, nn

torch = pytest.importorskip("torch")
tnn = torch.nn


def _pair(ours_cls, theirs_cls, *args, **kwargs):
    """The torch layer (random weights, float64) and ours with its state_dict loaded."""
    torch.manual_seed(0)
    theirs = theirs_cls(*args, **kwargs).double().eval()
    ours = ours_cls(*args, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    return ours.to(np.float64), theirs


def _check(ours, theirs, shape, *, tol=1e-10, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x.copy())).numpy()
    got = ours(x)
    assert got.shape == expected.shape == ours.output_shape(shape)
    scale = max(np.abs(expected).max(), 1e-300)
    assert np.abs(got - expected).max() <= tol * scale
    _round_trip(ours, theirs)


def _round_trip(ours, theirs):
    """torch state_dict -> convlab -> state_dict: same keys in the same order, same values."""
    expected = theirs.state_dict()
    got = ours.state_dict()
    assert list(got) == list(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value.numpy())
        assert got[key].shape == tuple(value.shape)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert ours.num_parameters == sum(p.numel() for p in theirs.parameters())


CONVS = [
    (nn.Conv1d, tnn.Conv1d, (3, 6, 3), dict(stride=2, padding=1, dilation=2, groups=3), (2, 3, 17)),
    (
        nn.Conv2d,
        tnn.Conv2d,
        (4, 6, (3, 2)),
        dict(padding=(1, 0), groups=2, padding_mode="reflect"),
        (2, 4, 9, 8),
    ),
    (
        nn.Conv2d,
        tnn.Conv2d,
        (2, 3, 3),
        dict(padding="same", bias=False, padding_mode="circular"),
        (2, 2, 7, 6),
    ),
    (nn.Conv3d, tnn.Conv3d, (2, 4, 3), dict(stride=(1, 2, 1), padding=1), (2, 2, 5, 6, 7)),
    (
        nn.ConvTranspose1d,
        tnn.ConvTranspose1d,
        (4, 2, 3),
        dict(stride=2, padding=1, output_padding=1),
        (2, 4, 9),
    ),
    (nn.ConvTranspose2d, tnn.ConvTranspose2d, (4, 6, 2), dict(stride=2, groups=2), (2, 4, 5, 6)),
    (
        nn.ConvTranspose2d,
        tnn.ConvTranspose2d,
        (3, 2, 3),
        dict(stride=2, dilation=2, bias=False),
        (1, 3, 4, 5),
    ),
    (nn.ConvTranspose3d, tnn.ConvTranspose3d, (2, 3, 2), dict(stride=2), (2, 2, 3, 4, 5)),
]


@pytest.mark.parametrize(("ours", "theirs", "args", "kwargs", "shape"), CONVS)
def test_conv_layers_equal_torch(ours, theirs, args, kwargs, shape):
    _check(*_pair(ours, theirs, *args, **kwargs), shape)


def test_conv_transpose_output_size_argument():
    ours, theirs = _pair(nn.ConvTranspose2d, tnn.ConvTranspose2d, 2, 2, 3, stride=2, padding=1)
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5))
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x), output_size=(10, 10)).numpy()
    np.testing.assert_allclose(ours(x, output_size=(10, 10)), expected, rtol=1e-12, atol=1e-12)


LAYERS = [
    (nn.MaxPool1d, tnn.MaxPool1d, (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 3, 10)),
    (nn.MaxPool2d, tnn.MaxPool2d, (2,), {}, (2, 3, 9, 8)),
    (nn.MaxPool3d, tnn.MaxPool3d, (2,), dict(dilation=2), (1, 2, 6, 7, 8)),
    (nn.AvgPool1d, tnn.AvgPool1d, (3,), dict(padding=1, count_include_pad=False), (2, 3, 10)),
    (nn.AvgPool2d, tnn.AvgPool2d, (2,), {}, (2, 3, 9, 8)),
    (nn.AvgPool2d, tnn.AvgPool2d, (3,), dict(stride=1, divisor_override=5), (2, 3, 6, 6)),
    (nn.AvgPool3d, tnn.AvgPool3d, (2,), dict(ceil_mode=True), (1, 2, 5, 6, 7)),
    (nn.ReLU, tnn.ReLU, (), {}, (2, 3, 4)),
    (nn.Identity, tnn.Identity, (), {}, (2, 3, 4)),
    (nn.Dropout, tnn.Dropout, (0.3,), {}, (2, 3, 4)),
    (nn.Dropout1d, tnn.Dropout1d, (), {}, (2, 3, 4)),
    (nn.Dropout2d, tnn.Dropout2d, (), {}, (2, 3, 4, 5)),
    (nn.Dropout3d, tnn.Dropout3d, (), {}, (2, 3, 4, 5, 6)),
    (nn.Upsample, tnn.Upsample, (), dict(scale_factor=2), (2, 3, 4, 5)),
    (nn.Upsample, tnn.Upsample, (), dict(scale_factor=2, mode="bilinear", align_corners=True), (2, 3, 7, 5)),
    (nn.Upsample, tnn.Upsample, (), dict(scale_factor=2, mode="bilinear"), (2, 3, 7, 5)),
    (nn.Upsample, tnn.Upsample, (), dict(size=(5, 9, 4), mode="trilinear"), (1, 2, 3, 4, 5)),
    (nn.Upsample, tnn.Upsample, (), dict(scale_factor=1.5, mode="linear", align_corners=True), (2, 2, 9)),
]


@pytest.mark.parametrize(("ours", "theirs", "args", "kwargs", "shape"), LAYERS)
def test_layers_equal_torch(ours, theirs, args, kwargs, shape):
    _check(*_pair(ours, theirs, *args, **kwargs), shape)


@pytest.mark.parametrize(
    ("ours", "theirs", "shape"),
    [
        (nn.BatchNorm1d, tnn.BatchNorm1d, (4, 3)),
        (nn.BatchNorm1d, tnn.BatchNorm1d, (4, 3, 5)),
        (nn.BatchNorm2d, tnn.BatchNorm2d, (2, 3, 4, 5)),
        (nn.BatchNorm3d, tnn.BatchNorm3d, (2, 3, 4, 5, 2)),
    ],
)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_equals_torch_in_eval(ours, theirs, shape, affine):
    torch.manual_seed(0)
    reference = theirs(3, eps=1e-3, affine=affine).double()
    reference.running_mean.copy_(torch.randn(3))
    reference.running_var.copy_(torch.rand(3) + 0.5)
    reference.num_batches_tracked.fill_(11)
    if affine:
        reference.weight.data.copy_(torch.randn(3))
        reference.bias.data.copy_(torch.randn(3))
    layer = ours(3, eps=1e-3, affine=affine)
    layer.load_state_dict(reference.eval().state_dict())
    assert layer.num_batches_tracked.dtype == np.int64 and layer.num_batches_tracked == 11
    _check(layer.to(np.float64), reference, shape)


def test_sequential_and_module_list_equal_torch():
    torch.manual_seed(0)
    theirs = tnn.Sequential(
        tnn.Conv2d(2, 4, 3, padding=1, bias=False), tnn.BatchNorm2d(4), tnn.ReLU(), tnn.MaxPool2d(2)
    ).double()
    ours = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2)
    )
    ours.load_state_dict(theirs.eval().state_dict())
    _check(ours.to(np.float64), theirs, (2, 2, 8, 6))
    assert len(ours) == 4 and isinstance(ours[1], nn.BatchNorm2d)
    named = nn.Sequential(OrderedDict(conv=nn.Conv1d(1, 1, 1), act=nn.ReLU()))
    assert list(named.state_dict()) == ["conv.weight", "conv.bias"]
    stack = nn.ModuleList([nn.Conv1d(1, 2, 1), nn.Conv1d(2, 2, 1)])
    assert list(stack.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert [type(m).__name__ for m in stack] == ["Conv1d", "Conv1d"] and len(stack) == 2


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
        self.scale = nn.Parameter(np.ones(2, np.float32))
        self.offset = nn.Buffer(np.zeros(2, np.float32))
        self.note = "plain attribute"

    def forward(self, x):
        return self.features(x) * self.scale.reshape(1, 2, 1, 1) + self.offset.reshape(1, 2, 1, 1)


def test_module_registration_and_torch_order():
    net = _Net()
    assert list(net.state_dict()) == [
        "scale",
        "offset",
        "features.0.weight",
        "features.0.bias",
        "features.1.weight",
        "features.1.bias",
        "features.1.running_mean",
        "features.1.running_var",
        "features.1.num_batches_tracked",
    ]
    assert [n for n, _ in net.named_parameters()] == [
        "scale",
        "features.0.weight",
        "features.0.bias",
        "features.1.weight",
        "features.1.bias",
    ]
    assert net.num_parameters == 2 + 18 + 2 + 2 + 2
    assert net.note == "plain attribute" and "note" not in net.state_dict()
    net.scale = np.full(2, 3.0)  # a registered name takes a plain array
    assert net.state_dict()["scale"][0] == 3.0
    del net.offset
    net.features[0].bias = None
    assert net.features[0].bias is None and "features.0.bias" not in net.state_dict()
    assert "offset" not in net.state_dict()
    assert [name for name, _ in net.named_modules()] == ["", "features", "features.0", "features.1"]
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        net.missing  # noqa: B018
    assert net.eval() is net


def test_to_and_astype_cast_floats_only():
    net = _Net().to(np.float64)
    assert {a.dtype for k, a in net.state_dict().items() if "num_batches" not in k} == {np.dtype(np.float64)}
    assert net.features[1].num_batches_tracked.dtype == np.int64
    assert net.astype("float32").dtype == np.float32
    assert net(np.zeros((1, 1, 5, 5), np.float32)).dtype == np.float32
    with pytest.raises(ConvlabError, match="dtype must be float32 or float64, got dtype='float16'"):
        net.to("float16")
    with pytest.raises(ConvlabError, match="dtype must be float32 or float64"):
        nn.Conv2d(1, 1, 1, dtype=np.int32)


def test_load_state_dict_errors_list_every_key():
    net = _Net()
    state = dict(net.state_dict())
    del state["features.0.bias"], state["scale"]
    state["features.2.weight"] = np.ones(2)
    state["features.0.weight"] = np.ones((2, 1, 5, 5))
    with pytest.raises(nn.StateDictError) as info:
        net.load_state_dict(state)
    err = info.value
    assert err.missing_keys == ["scale", "features.0.bias"]
    assert err.unexpected_keys == ["features.2.weight"]
    message = str(err)
    assert "missing keys (2): scale, features.0.bias" in message
    assert "unexpected keys (1): features.2.weight" in message
    assert (
        "size mismatch for features.0.weight in layer features.0 (Conv2d): "
        "expected shape (2, 1, 3, 3), found (2, 1, 5, 5)" in message
    )
    # A shape mismatch is an error even when not strict, as in torch; nothing was loaded.
    before = net.features[0].weight.copy()
    with pytest.raises(nn.StateDictError, match="size mismatch"):
        net.load_state_dict(state, strict=False)
    np.testing.assert_array_equal(net.features[0].weight, before)


def test_load_state_dict_not_strict_returns_the_lists():
    net = _Net()
    state = {"features.0.weight": np.full((2, 1, 3, 3), 2.0), "extra": np.ones(1)}
    result = net.load_state_dict(state, strict=False)
    assert result == nn.IncompatibleKeys([k for k in net.state_dict() if k != "features.0.weight"], ["extra"])
    assert net.features[0].weight.dtype == np.float32 and net.features[0].weight[0, 0, 0, 0] == 2.0
    state["features.0.weight"][...] = 5.0  # loaded arrays are copies
    assert net.features[0].weight[0, 0, 0, 0] == 2.0
    assert net.load_state_dict(net.state_dict()) == nn.IncompatibleKeys([], [])
    with pytest.raises(TypeError, match="mapping"):
        net.load_state_dict([("scale", np.ones(2))])


def test_deterministic_torch_like_initialisation():
    a, b, c = nn.Conv2d(3, 8, 3), nn.Conv2d(3, 8, 3), nn.Conv2d(3, 8, 3, rng=1)
    np.testing.assert_array_equal(a.weight, b.weight)
    assert not np.array_equal(a.weight, c.weight)
    bound = 1 / np.sqrt(3 * 9)  # torch's kaiming_uniform(a=sqrt(5)) bound, and its bias bound
    assert np.abs(a.weight).max() <= bound and np.abs(a.bias).max() <= bound
    assert np.abs(a.weight).max() > 0.9 * bound and a.weight.dtype == np.float32
    t = nn.ConvTranspose2d(4, 6, 2, groups=2, rng=np.random.default_rng(5))
    assert t.weight.shape == (4, 3, 2, 2) and np.abs(t.weight).max() <= 1 / np.sqrt(3 * 4)


def test_trace_of_a_chain():
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.ConvTranspose2d(4, 2, 2, 2)
    )
    rows = net.trace((2, 1, 10, 10))
    assert [r.name for r in rows] == ["0", "1", "2", "3", "4"]
    assert [r.output_shape for r in rows] == [(2, 4, 8, 8)] * 3 + [(2, 4, 4, 4), (2, 2, 8, 8)]
    assert [r.flops for r in rows] == [2 * 2 * 4 * 64 * 9, 2 * 2 * 4 * 64, 0, 0, 2 * 2 * 16 * 4 * 2 * 4]
    assert [r.parameters for r in rows] == [40, 8, 0, 0, 34]
    assert rows[0].activation_bytes == 2 * 4 * 64 * 4
    assert net(np.zeros((2, 1, 10, 10), np.float32)).shape == rows[-1].output_shape
    with pytest.raises(ConvlabError, match=r"at layer 0 \(Conv2d\) with input shape \(2, 1, 2, 2\)"):
        net.trace((2, 1, 2, 2))


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: nn.Conv2d(3, 4, 3, groups=2), ConvlabError, "in_channels must be divisible by groups"),
        (lambda: nn.Conv2d(2, 3, 3, groups=2), ConvlabError, "out_channels must be divisible by groups"),
        (lambda: nn.Conv2d(2, 3, 0), ConvlabError, "kernel_size must be positive"),
        (lambda: nn.Conv2d(2, 3, 3, bias=1), TypeError, "bias must be a bool"),
        (
            lambda: nn.ConvTranspose2d(2, 3, 3, padding_mode="reflect"),
            ConvlabError,
            "padding_mode must be 'zeros'",
        ),
        (
            lambda: nn.BatchNorm2d(3, track_running_stats=False),
            ConvlabError,
            "track_running_stats must be True",
        ),
        (lambda: nn.Dropout(1.5), ConvlabError, "p must be between 0 and 1, got p=1.5"),
        (lambda: nn.Conv2d(2, 3, 3, rng=-1), ConvlabError, "rng must be non-negative"),
        (lambda: nn.Sequential(nn.ReLU(), "relu"), TypeError, "Sequential takes convlab.nn.Module children"),
    ],
)
def test_constructor_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_forward_shape_errors():
    with pytest.raises(ConvlabError, match=r"Conv2d expects input of shape \(N, 3"):
        nn.Conv2d(3, 4, 3)(np.zeros((1, 2, 5, 5)))
    with pytest.raises(ConvlabError, match=r"BatchNorm2d\(3\) expects 4-d input with 3 channels"):
        nn.BatchNorm2d(3)(np.zeros((1, 3, 5)))
    with pytest.raises(NotImplementedError, match="Module has no forward"):
        nn.Module()(1)
    with pytest.raises(ConvlabError, match=r"layer <root> \(Module\) has no forward shape rule"):
        nn.Module().trace((1, 2, 3))


def test_repr_reads_like_torch():
    text = repr(nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.ReLU()))
    assert text.startswith("Sequential(\n  (0): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), bias=False)")
