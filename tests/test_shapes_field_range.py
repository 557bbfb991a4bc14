"""receptive_field_range() against the support of torch autograd gradients, output pixel by output pixel."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab import shapes
from convlab._args import ConvlabError
from test_shapes_solve_rf import chains as layer_chains

torch = pytest.importorskip("torch")


def _ones(module):
    # Positive weights: every input an output reads gets a nonzero gradient,
    # so the gradient's support is exactly the set of pixels it depends on.
    torch.nn.init.constant_(module.weight, 1.0)
    return module


def _torch_layer(x: shapes.Layer, channels: int = 1):
    stride = x.stride if x.stride is not None else (x.kernel_size if x.kind == "pool" else 1)
    if x.kind == "conv":
        return _ones(torch.nn.Conv1d(channels, 1, x.kernel_size, stride, x.padding, x.dilation, bias=False))
    if x.kind == "pool":  # average pooling reads the max pool's window, with nonzero gradients everywhere
        return torch.nn.AvgPool1d(x.kernel_size, stride, x.padding)
    return _ones(
        torch.nn.ConvTranspose1d(
            channels, 1, x.kernel_size, stride, x.padding, dilation=x.dilation, bias=False
        )
    )


def _support_range(net, n: int, vectorize: bool = False) -> tuple[int, int]:
    """(fewest, most) input pixels, first to last, in the gradient support of each output pixel."""
    x = torch.ones((1, 1, n), dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: net(v)[0, 0], x, vectorize=vectorize)[:, 0, 0, :]
    widths = []
    for row in jac:
        support = torch.nonzero(row).flatten()
        if len(support):
            widths.append(int(support[-1] - support[0] + 1))
    return min(widths), max(widths)


@st.composite
def chains(draw):
    """test_shapes_solve_rf's chains of layers, with an input size."""
    return draw(layer_chains()), draw(st.integers(1, 40))


@settings(max_examples=50)
@given(chains())
def test_range_equals_the_spread_of_autograd_supports_over_every_output_pixel(case):
    layers, n = case
    try:
        got = shapes.receptive_field_range(layers, n)
    except ConvlabError:
        return  # the chain does not fit n (receptive_field says so too)
    net = torch.nn.Sequential(*(_torch_layer(x) for x in layers)).double()
    assert got == _support_range(net, n)


def _crop(x, size: int):
    start = (x.shape[-1] - size) // 2
    return x[..., start : start + size]


class _UNet1d(torch.nn.Module):
    """Ronneberger's U-Net in one dimension, linear (no ReLU), one channel per path: only reach matters."""

    def __init__(self, depth: int, padding: int):
        super().__init__()
        conv = lambda c: _ones(torch.nn.Conv1d(c, 1, 3, padding=padding, bias=False))  # noqa: E731
        self.down = torch.nn.ModuleList(torch.nn.Sequential(conv(1), conv(1)) for _ in range(depth + 1))
        self.up = torch.nn.ModuleList(
            _ones(torch.nn.ConvTranspose1d(1, 1, 2, 2, bias=False)) for _ in range(depth)
        )
        self.merge = torch.nn.ModuleList(torch.nn.Sequential(conv(2), conv(1)) for _ in range(depth))
        self.head = _ones(torch.nn.Conv1d(1, 1, 1, bias=False))

    def forward(self, x):
        skips = []
        for level in self.down[:-1]:
            x = level(x)
            skips.append(x)
            x = torch.nn.functional.avg_pool1d(x, 2)
        x = self.down[-1](x)
        for up, merge, skip in zip(reversed(self.up), reversed(self.merge), reversed(skips)):
            x = up(x)
            x = merge(torch.cat([_crop(skip, x.shape[-1]), x], 1))
        return self.head(x)


def _unet_chain(depth: int, padding: int) -> list[str]:
    c = f"c3p{padding}"
    return [c, c, "pool2"] * depth + [c, c] + ["t2s2", c, c] * depth + ["c1"]


# 188: the smallest input; its 4 output pixels see all of it, 188 each.
@pytest.mark.parametrize(("n", "padding"), [(572, 0), (188, 0), (256, 1), (100, 1)])
def test_unet_range_is_torchs_with_the_skips(n, padding):
    # The figure: torch's gradients show 188-204 input pixels for the
    # paper's U-Net; the longest path (encoder, bottom, decoder) gives the
    # same range as the whole net with its skip connections.
    net = _UNet1d(4, padding).double()
    expected = _support_range(net, n, vectorize=True)  # vmap: one pass for all rows of a large Jacobian
    assert shapes.receptive_field_range(_unet_chain(4, padding), n) == expected
    if n == 572:
        assert expected == (188, 204)
        assert shapes.receptive_field_range(_unet_chain(4, 0)) == (188, 204)  # every pixel: phases only


def test_range_is_per_dimension_and_the_largest_is_receptive_fields():
    layers = ["c3p1", "c3s2p1", "t2s2", "c3"]
    ranges = shapes.receptive_field_range(layers, (32, 9))
    assert ranges == (shapes.receptive_field_range(layers, 32), shapes.receptive_field_range(layers, 9))
    assert shapes.receptive_field_range(layers)[1] == shapes.receptive_field(layers)[-1].size


def test_range_work_is_bounded_before_it_starts():
    with pytest.raises(ConvlabError, match="bound"):
        shapes.receptive_field_range(["c3"] * 40, 10**5)
