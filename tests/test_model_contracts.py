"""Every model's size contract against brute force: what the torch re-implementations accept and lose.

Oracles: tests/torch_unets.py (written from each project's description, not
from convlab's code) run at every size of a range, and NaN propagation in
torch for the halo: pixels beyond a window are set to NaN in a larger
image, and the output pixels of the window that turn NaN are those its
edge can change. Convlab's own layout is also held against
``shapes.unet_valid_sizes``, the older, independent size rule.
"""

from __future__ import annotations

import numpy as np
import pytest

from convlab import ConvlabError
from convlab import nn as cnn
from convlab.models import JvanvugtUNet, MilesialUNet, UNet, UNetConfig
from convlab.models._contract import NoSizeRule, plan_contract
from convlab.models._encoder_decoder import Merge, Plan
from convlab.shapes import SizeContract, unet_sizes, unet_valid_sizes

torch = pytest.importorskip("torch")
from torch_unets import ConvlabLayout, JvanvugtLayout, MilesialLayout  # noqa: E402

# (convlab model, torch twin, a valid size for the dimension held fixed)
CASES = {
    "convlab-valid": (
        lambda: UNet(width=1, depth=2),
        lambda: ConvlabLayout(UNetConfig(width=1, depth=2)),
        44,
    ),
    "convlab-same": (
        lambda: UNet(width=1, depth=2, padding="same"),
        lambda: ConvlabLayout(UNetConfig(width=1, depth=2, padding="same")),
        8,
    ),
    "milesial": (lambda: MilesialUNet(1, 2, width=1), lambda: MilesialLayout(1, 2, width=1), 16),
    "milesial-bilinear": (
        lambda: MilesialUNet(1, 2, bilinear=True, width=2),
        lambda: MilesialLayout(1, 2, bilinear=True, width=2),
        16,
    ),
    "jvanvugt-valid": (lambda: JvanvugtUNet(depth=3, wf=0), lambda: JvanvugtLayout(depth=3, wf=0), 44),
    "jvanvugt-padded": (
        lambda: JvanvugtUNet(depth=3, wf=0, padding=True),
        lambda: JvanvugtLayout(depth=3, wf=0, padding=True),
        8,
    ),
    "jvanvugt-upsample": (
        lambda: JvanvugtUNet(depth=3, wf=0, up_mode="upsample"),
        lambda: JvanvugtLayout(depth=3, wf=0, up_mode="upsample"),
        44,
    ),
}

EXPECTED = {
    # smallest, step, margin per side, alignment, halo, exact
    "convlab-valid": (44, 4, (20, 20), 4, 0, True),
    "convlab-same": (4, 1, (0, 0), 4, 24, True),
    "milesial": (16, 1, (0, 0), 16, 96, True),
    "milesial-bilinear": (16, 1, (0, 0), 16, 112, False),
    "jvanvugt-valid": (44, 4, (20, 20), 4, 0, True),
    "jvanvugt-padded": (4, 4, (0, 0), 4, 24, True),
    "jvanvugt-upsample": (44, 4, (20, 20), 4, 4, True),
}


def _torch_out(reference, n: int, other: int):
    """The output height torch gives an ``n x other`` input, or None if it refuses it."""
    x = torch.zeros((1, 1, n, other), dtype=torch.float64)
    try:
        with torch.no_grad():
            return reference(x).shape[2]
    except (RuntimeError, ValueError, IndexError):
        return None


@pytest.mark.parametrize("name", list(CASES))
def test_contract_values(name):
    contract = CASES[name][0]().size_contract
    smallest, step, margin, alignment, halo, exact = EXPECTED[name]
    assert contract == SizeContract(
        (smallest,) * 2, (step,) * 2, (margin,) * 2, (alignment,) * 2, (halo,) * 2, exact
    )


@pytest.mark.parametrize("name", list(CASES))
def test_valid_sizes_and_margin_equal_what_torch_accepts(name):
    make, make_reference, other = CASES[name]
    contract, reference = make().size_contract, make_reference().double().eval()
    lost = sum(contract.margin[0])
    for n in range(1, contract.smallest[0] + 3 * contract.alignment[0]):
        out = _torch_out(reference, n, other)
        # Valid means: torch takes it and loses exactly the margin (jvanvugt takes 45 but outputs 4).
        assert contract.is_valid((n, other)) == (out == n - lost), (name, n, out)


@pytest.mark.parametrize("name", ["convlab-valid", "jvanvugt-valid", "jvanvugt-upsample"])
def test_margin_lo_is_where_output_pixel_zero_sits(name):
    # A NaN at input row p reaches output rows around p - lo: the middle of the
    # NaN rows is p - lo for these symmetric networks.
    make, make_reference, other = CASES[name]
    contract, reference = make().size_contract, make_reference().double().eval()
    n, lo = contract.smallest[0] + 4 * contract.alignment[0], contract.margin[0][0]
    x = torch.zeros((1, 1, n, other), dtype=torch.float64)
    p = n // 2
    x[0, 0, p, :] = float("nan")
    with torch.no_grad():
        rows = np.flatnonzero(torch.isnan(reference(x))[0, 0].any(dim=1).numpy())
    assert (rows[0] + rows[-1]) / 2 == pytest.approx(p - lo, abs=0.5)


def _nan_reach(reference, contract, other: int) -> int:
    """Output pixels of an aligned window that depend on anything beyond it, at its worse end."""
    a = contract.alignment[0]
    start = 8 * a + 4 * contract.halo[0]
    window = contract.smallest[0] + contract.step[0] * -(-(8 * a + 2 * contract.halo[0]) // contract.step[0])
    window += (-(window - contract.smallest[0])) % a
    total = contract.smallest[0] + contract.step[0] * -(
        -(2 * start + window - contract.smallest[0]) // contract.step[0]
    )
    total += (-(total - contract.smallest[0])) % a
    x = torch.full((1, 1, total, other), float("nan"), dtype=torch.float64)
    x[:, :, start : start + window] = torch.randn((1, 1, window, other), dtype=torch.float64)
    with torch.no_grad():
        y = reference(x)[0, 0]
    core = torch.isnan(y[start : start + window - sum(contract.margin[0])]).any(dim=1).numpy()
    assert not core[len(core) // 2]  # the middle of the window depends on the window alone
    first_clean, last_clean = np.flatnonzero(~core)[[0, -1]]
    return max(int(first_clean), len(core) - 1 - int(last_clean))


@pytest.mark.parametrize("name", [n for n in CASES if EXPECTED[n][5]])
def test_halo_is_the_reach_of_a_window_edge_rounded_to_the_alignment(name):
    make, make_reference, other = CASES[name]
    contract, reference = make().size_contract, make_reference().double().eval()
    reach, halo, a = _nan_reach(reference, contract, other), contract.halo[0], contract.alignment[0]
    assert halo == -(-reach // a) * a, (reach, halo)


@pytest.mark.parametrize(
    "config",
    [
        UNetConfig(depth=4),
        UNetConfig(depth=3, kernel_size=5, convs_per_level=3),
        UNetConfig(depth=2, kernel_size=2),
        UNetConfig(depth=3, padding="same"),
        UNetConfig(depth=0),
        UNetConfig(depth=2, ndim=1, up_mode="bilinear"),
    ],
)
def test_convlab_contract_agrees_with_unet_sizes(config):
    c = UNet.contract_for(config)
    valid = unet_valid_sizes(1, c.smallest[0] + 3 * c.alignment[0] + 1, **_rules(config))
    assert [n for n in range(1, c.smallest[0] + 3 * c.alignment[0] + 1) if c.is_valid([n] * c.ndim)] == valid
    sizes = unet_sizes(valid[0], **_rules(config))
    assert sum(c.margin[0]) == valid[0] - sizes.output_size[0]
    assert c.alignment[0] == 2**config.depth
    assert c.exact == (config.up_mode == "transpose")


def _rules(config):
    return {k: getattr(config, k) for k in ("depth", "kernel_size", "convs_per_level", "padding")}


def test_contract_is_kept_and_config_contract_needs_no_weights():
    net = UNet(width=1)
    assert net.size_contract is net.size_contract
    assert UNet.contract_for(UNetConfig(width=64)) == net.size_contract
    with pytest.raises(TypeError, match="config must be a UNetConfig"):
        UNet.contract_for({"depth": 2})


def test_three_dimensional_and_anisotropic_contracts():
    assert UNet(width=1, depth=1, ndim=3).size_contract.smallest == (18, 18, 18)
    # A plan whose dimensions differ gets one contract per dimension.
    conv = cnn.Conv2d(1, 1, (3, 5), padding=(1, 0))
    plan = Plan([[("conv", conv)]], [], [], Merge("pad", skip_first=True))
    c = plan_contract(plan, 2)
    assert c.smallest == (1, 5) and c.margin == ((0, 0), (2, 2)) and c.halo == (1, 0)


def test_layers_without_a_size_rule_have_no_contract():
    fixed = Plan([[("up", cnn.Upsample(size=(8, 8)))]], [], [], Merge("pad", skip_first=True))
    with pytest.raises(NoSizeRule, match=r"layer up \(Upsample\) has a fixed output size"):
        plan_contract(fixed, 2)

    class Odd(cnn.Module):
        def forward(self, x):
            return x

    with pytest.raises(NoSizeRule, match=r"layer odd \(Odd\) has no size rule"):
        plan_contract(Plan([[("odd", Odd())]], [], [], Merge("pad", skip_first=True)), 2)
    down = Plan([[("c", cnn.Conv2d(1, 1, 2, stride=2))]], [], [], Merge("pad", skip_first=True))
    with pytest.raises(NoSizeRule, match="output's resolution differs"):
        plan_contract(down, 2)


# --- SizeContract's own checks -------------------------------------------------


def test_size_contract_queries():
    c = SizeContract((44,), (4,), ((20, 20),), (4,), (0,))
    assert c.is_valid(48) and not c.is_valid(46) and not c.is_valid(40)
    assert c.nearest_valid(46) == ((44,), (48,)) and c.nearest_valid(10) == (None, (44,))
    assert c.output_size(48) == (8,)
    with pytest.raises(
        ConvlabError, match=r"input size \(46,\) is not valid.*nearest valid sizes are \(44,\) and \(48,\)"
    ):
        c.output_size(46)
    with pytest.raises(ConvlabError, match="size must have 1 entries"):
        c.is_valid((44, 44))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            ((4,), (1, 1), ((0, 0),), (4,), (0,)),
            r"SizeContract.step must have one entry per spatial dimension",
        ),
        (((0,), (1,), ((0, 0),), (4,), (0,)), "out of range in dimension 0"),
        (((4,), (1,), ((0, 0),), (4,), (-1,)), "out of range in dimension 0"),
        (((4,), (1,), ((2, 2),), (4,), (0,)), r"margin \(2, 2\) leaves no output for the smallest size 4"),
    ],
)
def test_size_contract_refuses_inconsistent_fields(fields, message):
    with pytest.raises(ConvlabError, match=message):
        SizeContract(*fields)


def test_size_contract_exact_must_be_a_bool():
    with pytest.raises(TypeError, match=r"SizeContract\.exact must be a bool"):
        SizeContract((4,), (1,), ((0, 0),), (4,), (0,), exact=1)
