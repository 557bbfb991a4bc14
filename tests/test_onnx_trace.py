"""model.trace and model.size_contract: receptive fields through skips and up-sampling, exact tiles."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import convlab.onnx as co  # noqa: E402
from convlab.models import UNetConfig  # noqa: E402
from convlab.shapes import receptive_field  # noqa: E402
from convlab.tiling import default_halo  # noqa: E402
from onnx_cases import export  # noqa: E402
from torch_unets import ConvlabLayout  # noqa: E402


class Chain(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv1d(1, 1, 3, padding=1)
        self.b = nn.Conv1d(1, 1, 3, stride=2, padding=1, dilation=2)
        self.t = nn.ConvTranspose1d(1, 1, 3, stride=2, padding=1)

    def forward(self, x):
        return self.t(self.b(nn.functional.max_pool1d(self.a(x), 2)))


def test_chain_receptive_fields_equal_shapes_receptive_field():
    model = co.load(export(Chain(), (torch.zeros(1, 1, 40),)))
    rows = model.trace((1, 1, 40))
    expected = receptive_field(["c3p1", "pool2", "c3s2p1d2", "t3s2p1"], 40)
    spatial = [r for r in rows if r.op in ("Conv", "MaxPool", "ConvTranspose")]
    assert [r.output_shapes[0][2] for r in spatial] == [e.output_size for e in expected]
    assert [(r.receptive_field[0], r.jump[0], r.start[0]) for r in spatial] == [
        (e.size, e.jump, e.start) for e in expected
    ]
    assert [r.flops for r in spatial] == [2 * 40 * 3, 0, 2 * 9 * 3, 2 * 9 * 3]  # 40 -> 20 -> 9 -> 18
    assert [r.parameters for r in spatial] == [4, 0, 4, 4]


class Skip1d(nn.Module):
    """Linear (no activations): an input pixel reaches an output exactly where the graph connects them."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv1d(1, 2, 3, padding=1, bias=False)
        self.down = nn.Conv1d(2, 2, 3, padding=2, dilation=2, bias=False)
        self.up = nn.ConvTranspose1d(2, 2, 2, stride=2, bias=False)
        self.out = nn.Conv1d(4, 1, 3, padding=1, bias=False)

    def forward(self, x):
        y = self.a(x)
        z = self.up(self.down(nn.functional.avg_pool1d(y, 2)))
        z = nn.functional.interpolate(z, scale_factor=1, mode="nearest")
        return self.out(torch.cat([y, z], dim=1))


def test_receptive_field_through_skip_and_up_convolution_is_the_exact_dependency_set():
    torch.manual_seed(0)
    n = 32
    net = Skip1d().double()
    model = co.load(export(net, (torch.zeros(1, 1, n, dtype=torch.float64),)))
    rows = model.trace((1, 1, n))
    out = rows[-1]
    assert out.op == "Conv" and out.jump[0] == 1
    # Brute force: which input pixels change output o (generic weights, no cancellation).
    response = np.stack([model(np.eye(n)[i].reshape(1, 1, n))[0, 0] for i in range(n)])
    from convlab.onnx._trace import Spatial, shape_pass

    values, steps = shape_pass(model.graph, {"x": (1, 1, n)})
    spatial = Spatial(model.graph, values, steps, "x")
    for o in range(n):
        exact = {i for i in range(n) if abs(response[i, o]) > 1e-12}
        assert exact == {i for i in spatial.pixels("y", 0, o) if 0 <= i < n}, o
    widths = [max(spatial.pixels("y", 0, o)) - min(spatial.pixels("y", 0, o)) + 1 for o in range(2)]
    assert out.receptive_field[0] == max(widths)


def test_padded_unet_contract_halo_matches_tiling_and_tiles_are_exact():
    config = UNetConfig(in_channels=1, classes=1, width=2, depth=2, padding="same")
    net = ConvlabLayout(config).eval()
    model = co.load(export(net, (torch.zeros(1, 1, 64, 64),), dynamic=(0, 0, 1, 1)))
    contract = model.size_contract
    assert contract.halo == (default_halo(config),) * 2 == (24, 24)
    assert contract.alignment == (4, 4) and contract.margin == ((0, 0), (0, 0))
    image = np.random.default_rng(0).standard_normal((1, 1, 96, 40)).astype(np.float32)
    whole = model(image)
    halo, window = 24, 64
    assert contract.is_valid((window, 40))
    for start in (0, 8, 32):  # multiples of the alignment, cores away from the image's border
        tile = model(np.ascontiguousarray(image[:, :, start : start + window]))
        core = slice(halo, window - halo)
        inner = slice(start + halo, start + window - halo)
        if start + halo >= halo and start + window - halo <= 96 - halo:
            np.testing.assert_allclose(
                tile[:, :, core, halo:-halo], whole[:, :, inner, halo:-halo], rtol=1e-5, atol=1e-6
            )


class Unpadded(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 2, 3)
        self.t = nn.ConvTranspose2d(2, 2, 2, stride=2)
        self.b = nn.Conv2d(2, 1, 3)

    def forward(self, x):
        return self.b(self.t(nn.functional.max_pool2d(torch.relu(self.a(x)), 2)))


def test_unpadded_contract_and_exact_tiles():
    model = co.load(export(Unpadded(), (torch.zeros(1, 1, 24, 24),), dynamic=(0, 0, 1, 1)))
    contract = model.size_contract
    assert contract.smallest == (6, 6) and contract.step == (2, 2)
    assert contract.margin == ((2, 2), (2, 2)) and contract.halo == (0, 0) and contract.alignment == (2, 2)
    image = np.random.default_rng(1).standard_normal((1, 1, 30, 30)).astype(np.float32)
    whole = model(image)
    assert whole.shape[2:] == contract.output_size((30, 30))
    tile = model(np.ascontiguousarray(image[:, :, 4:18, 6:20]))  # aligned start, valid size 14
    np.testing.assert_allclose(tile, whole[:, :, 4:14, 6:16], rtol=1e-6)


def test_classifier_trace_ends_without_spatial_layout():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2), nn.Flatten(), nn.Linear(2 * 3 * 3, 4))
    rows = co.load(export(net, (torch.zeros(1, 1, 8, 8),))).trace((1, 1, 8, 8))
    assert rows[0].receptive_field == (3, 3) and rows[-1].receptive_field is None
    assert rows[-1].output_shapes == ((1, 4),) and rows[-1].flops == 2 * 4 * 18
