"""fold_batch_norm: opt-in Conv -> BatchNorm folding, against the unfolded model and torch's fusion."""

from __future__ import annotations

import numpy as np
import pytest

from convlab import nn
from convlab.models import MilesialUNet


def _randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    rng = np.random.default_rng(seed)
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            c = module.num_features
            module.running_mean[:] = rng.normal(size=c) * 0.1
            module.running_var[:] = rng.random(c) + 0.5
            module.weight[:] = rng.random(c) + 0.5
            module.bias[:] = rng.normal(size=c) * 0.1
    return model


def test_milesial_folded_is_close_and_the_original_unchanged():
    net = _randomise(MilesialUNet(3, 2, width=4))
    before = {k: v.copy() for k, v in net.state_dict().items()}
    folded = nn.fold_batch_norm(net)
    x = np.random.default_rng(1).normal(size=(1, 3, 64, 48)).astype(np.float32)
    exact, fast = net(x), folded(x)
    assert np.abs(fast - exact).max() <= 1e-5 * np.abs(exact).max()
    names = [type(m).__name__ for m in folded.modules()]
    assert "BatchNorm2d" not in names and names.count("Identity") == 18
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_fold_equals_torch_fusion_in_float64(torch):
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    conv, norm = nn.Conv2d(3, 5, 3, padding=1), nn.BatchNorm2d(5)
    _randomise(nn.Sequential(conv, norm), seed=2)
    net = nn.Sequential(conv, norm, nn.ReLU()).to(np.float64)
    t_conv = torch.nn.Conv2d(3, 5, 3, padding=1).double().eval()
    t_norm = torch.nn.BatchNorm2d(5).double().eval()
    t_conv.load_state_dict({k[2:]: torch.from_numpy(v) for k, v in net.state_dict().items() if k[0] == "0"})
    t_norm.load_state_dict(
        {k[2:]: torch.from_numpy(np.asarray(v)) for k, v in net.state_dict().items() if k[0] == "1"}
    )
    fused = fuse_conv_bn_eval(t_conv, t_norm)
    got = nn.fold_batch_norm(net)[0]
    np.testing.assert_allclose(got.weight, fused.weight.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(got.bias, fused.bias.detach().numpy(), rtol=1e-13, atol=1e-15)


def test_only_matching_adjacent_pairs_fold():
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.ReLU(), nn.BatchNorm2d(2), nn.ConvTranspose2d(2, 2, 2), nn.BatchNorm2d(2)
    )
    folded = nn.fold_batch_norm(net)
    assert [type(m).__name__ for m in folded.children()] == [
        "Conv2d", "ReLU", "BatchNorm2d", "ConvTranspose2d", "BatchNorm2d"
    ]  # fmt: skip


def test_fold_refuses_non_modules():
    with pytest.raises(TypeError, match="model"):
        nn.fold_batch_norm("net")
