"""Networks exported from torch: convlab.onnx against onnxruntime (every tensor) and torch (outputs)."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import convlab  # noqa: E402
import torch_unets  # noqa: E402
from convlab.models import UNetConfig  # noqa: E402
from onnx_cases import all_tensors_against_ort, export  # noqa: E402
from torch_unets import ConvlabLayout, JvanvugtLayout, MilesialLayout, randomise_norms  # noqa: E402

# The TorchScript exporter traces sizes as tensors, which Python's round()
# refuses; a float() makes the crop offsets constants of the exported graph.
torch_unets.round = lambda v: builtins.round(float(v))


def _check(net, shape, rel=2e-6, dynamic=None, torch_atol=None):
    torch.manual_seed(0)
    net = randomise_norms(net).eval()
    x = torch.randn(*shape)
    proto = export(net, (x,), dynamic=dynamic)
    model, ours, worst = all_tensors_against_ort(proto, {"x": x.numpy()}, rel)
    with torch.no_grad():
        expected = net(x).numpy()
    out = ours[model.output_names[0]]
    scale = np.abs(expected).max()
    assert np.abs(out - expected).max() <= (torch_atol or rel * scale)
    return model, worst


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda: ConvlabLayout(UNetConfig(width=2)), (1, 1, 188, 188)),
        (
            lambda: ConvlabLayout(UNetConfig(width=2, padding="same", batch_norm=True, depth=3)),
            (1, 1, 40, 48),
        ),
        (lambda: MilesialLayout(3, 2, width=2), (1, 3, 35, 42)),
        (lambda: MilesialLayout(3, 2, True, width=2), (1, 3, 33, 30)),
        (lambda: JvanvugtLayout(wf=1, depth=3), (1, 1, 92, 92)),
        (
            lambda: JvanvugtLayout(wf=1, depth=3, padding=True, up_mode="upsample", batch_norm=True),
            (1, 1, 32, 40),
        ),
    ],
    ids=["convlab-valid", "convlab-same", "milesial", "milesial-bilinear", "jvanvugt", "jvanvugt-upsample"],
)
def test_upstream_unets_every_tensor(make, shape):
    # Linear Resize (the upsample layouts): onnxruntime rounds each float32
    # weight product, convlab rounds once; the ulp-level gap grows through the
    # convolutions that follow to a few 1e-6.
    model, worst = _check(make(), shape, rel=1e-5)
    assert worst <= 1e-5
    ops = {n.op_type for n in model.graph.nodes}
    assert {"Conv", "MaxPool", "Concat"} <= ops


class ResNetish(nn.Module):
    """Strided and depthwise convolutions, a residual add, global pooling and a Gemm head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.dw = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8)
        self.pw = nn.Conv2d(8, 8, 1)
        self.down = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.LeakyReLU(0.1))
        self.pool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        y = self.stem(x)
        y = torch.relu(y + self.pw(torch.sigmoid(self.dw(y))))
        y = self.pool(self.down(y))
        y = nn.functional.adaptive_avg_pool2d(y, 1).flatten(1)
        return torch.softmax(self.head(torch.tanh(y)), dim=1)


def test_resnet_like_classifier():
    model, _ = _check(ResNetish(), (2, 3, 29, 31), rel=1e-5)
    ops = {n.op_type for n in model.graph.nodes}
    assert {"Gemm", "Softmax", "GlobalAveragePool", "Add"} <= ops
    with pytest.raises(convlab.ConvlabError, match=r"one input and one output|resolution|fixed"):
        model.size_contract  # noqa: B018


class FCN(nn.Module):
    """A fully convolutional segmenter up-sampling by a bilinear ConvTranspose (FCN's initialisation)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 4, stride=4))
        self.up = nn.ConvTranspose2d(4, 4, 8, stride=4, padding=2, bias=False)
        with torch.no_grad():
            self.up.weight.copy_(torch.from_numpy(convlab.init.bilinear_kernel(4, 4, 8)))

    def forward(self, x):
        return self.up(self.body(x))


def test_fcn_with_bilinear_transposed_convolution():
    model, _ = _check(FCN(), (1, 2, 32, 36), rel=2e-6)
    w = model.graph.initializers[next(n for n in model.graph.nodes if n.op_type == "ConvTranspose").inputs[1]]
    np.testing.assert_array_equal(w, convlab.init.bilinear_kernel(4, 4, 8))


class AutoEncoder(nn.Module):
    """output_padding with dilation, asymmetric sizes."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1, dilation=2), nn.ReLU())
        self.dec = nn.ConvTranspose2d(4, 1, 3, stride=2, padding=1, output_padding=1, dilation=2)

    def forward(self, x):
        return torch.sigmoid(self.dec(self.enc(x)))


def test_autoencoder_with_output_padding_and_dilation():
    model, _ = _check(AutoEncoder(), (2, 1, 17, 22))
    node = next(n for n in model.graph.nodes if n.op_type == "ConvTranspose")
    assert node.attr("output_padding") == (1, 1) and node.attr("dilations") == (2, 2)


class Net1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv1d(2, 4, 5, padding=2)
        self.p = nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False)
        self.t = nn.ConvTranspose1d(4, 2, 4, stride=2, padding=1)

    def forward(self, x):
        return self.t(torch.relu(self.p(self.a(x))))


class Net3d(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv3d(1, 3, 3, padding=1)
        self.bn = nn.BatchNorm3d(3)
        self.t = nn.ConvTranspose3d(3, 2, 2, stride=2)

    def forward(self, x):
        y = nn.functional.max_pool3d(torch.relu(self.bn(self.a(x))), 2)
        return nn.functional.interpolate(self.t(y), scale_factor=2, mode="nearest")


@pytest.mark.parametrize(("net", "shape"), [(Net1d, (2, 2, 37)), (Net3d, (1, 1, 8, 10, 6))], ids=["1d", "3d"])
def test_one_and_three_dimensional_nets(net, shape):
    model, _ = _check(net(), shape)
    assert len(model.trace(shape)[-1].receptive_field) == len(shape) - 2


def test_dynamic_export_runs_any_size_and_has_a_contract():
    model, _ = _check(MilesialLayout(1, 2, width=2), (1, 1, 37, 29), dynamic=(0, 0, 1, 1))
    for size in [(16, 16), (45, 19)]:
        x = np.random.default_rng(1).standard_normal((1, 1, *size)).astype(np.float32)
        assert model(x).shape == (1, 2, *size)
    assert (model.in_channels, model.ndim) == (1, 2)
    contract = model.size_contract
    assert contract.smallest == (16, 16) and contract.step == (1, 1)
    assert contract.margin == ((0, 0), (0, 0)) and contract.alignment == (16, 16)
    assert contract.halo == (96, 96)
