"""unet_sizes() against a U-Net's shapes traced through PyTorch's own layers."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convlab import shapes

torch = pytest.importorskip("torch")
F = torch.nn.functional


def torch_trace(size, depth, k, convs, padding):
    """Feature sizes of a U-Net built from torch's functional ops on the meta device."""
    pad = 0 if padding == "valid" else "same"
    w = torch.empty((1, 1, k), device="meta")
    up = torch.empty((1, 1, 2), device="meta")
    x = torch.empty((1, 1, size), device="meta")
    skips, enc = [], []
    for level in range(depth + 1):
        sizes = [x.shape[-1]]
        for _ in range(convs):
            x = F.conv1d(x, w, padding=pad)
            sizes.append(x.shape[-1])
        enc.append(sizes)
        if level < depth:
            skips.append(x)
            x = F.max_pool1d(x, 2)
    ups, crops, dec = [], [], []
    for skip in reversed(skips):
        x = F.conv_transpose1d(x, up, stride=2)
        ups.append(x.shape[-1])
        diff = skip.shape[-1] - x.shape[-1]
        if padding == "valid":
            start = round(diff / 2)  # torchvision's center_crop rule
            crops.append((start, start + x.shape[-1]))
        else:
            x = F.pad(x, (diff // 2, diff - diff // 2))  # Pytorch-UNet pads the up-sampled side
        sizes = [x.shape[-1]]
        for _ in range(convs):
            x = F.conv1d(x, w, padding=pad)
            sizes.append(x.shape[-1])
        dec.append(sizes)
    return enc, ups[::-1], crops[::-1], dec[::-1], x.shape[-1]


def test_paper_unet_572_matches_torch():
    enc, ups, crops, dec, out = torch_trace(572, 4, 3, 2, "valid")
    u = shapes.unet_sizes(572)
    assert out == 388 == u.output_size[0]
    assert [[s[0] for s in lv.encoder] for lv in u.levels] == enc
    assert [lv.up[0] for lv in u.levels[:4]] == ups
    assert [(lv.skip_crop.start[0], lv.skip_crop.stop[0]) for lv in u.levels[:4]] == crops
    assert [[s[0] for s in lv.decoder] for lv in u.levels[:4]] == dec


@given(st.integers(1, 3), st.sampled_from([2, 3, 5]), st.integers(1, 3), st.data())
def test_valid_sizes_trace_like_torch(depth, k, convs, data):
    config = {"depth": depth, "kernel_size": k, "convs_per_level": convs}
    valid = shapes.unet_valid_sizes(1, 400, **config)
    if not valid:
        return
    assert shapes.unet_sizes(valid[0], **config).smallest_valid == valid[0]
    n = data.draw(st.sampled_from(valid))
    enc, _ups, crops, dec, out = torch_trace(n, depth, k, convs, "valid")
    u = shapes.unet_sizes(n, **config)
    assert u.output_size == (out,)
    assert [[s[0] for s in lv.encoder] for lv in u.levels] == enc
    assert [(lv.skip_crop.start[0], lv.skip_crop.stop[0]) for lv in u.levels[:depth]] == crops
    assert [[s[0] for s in lv.decoder] for lv in u.levels[:depth]] == dec


@given(st.integers(1, 4), st.integers(16, 300))
def test_same_padding_unet_returns_the_input_size_like_torch(depth, n):
    if n < 2**depth:
        return
    _enc, ups, _crops, dec, out = torch_trace(n, depth, 3, 2, "same")
    u = shapes.unet_sizes(n, depth=depth, padding="same")
    assert u.output_size == (n,) == (out,)
    assert [[s[0] for s in lv.decoder] for lv in u.levels[:depth]] == dec
    for lv, up in zip(u.levels, ups):
        skip = lv.encoder[-1][0]
        lo, hi = lv.skip_pad[0]
        assert up + lo + hi == skip and hi - lo in (0, 1)


def test_valid_sizes_are_periodic_and_every_other_size_names_the_breaking_layer():
    valid = shapes.unet_valid_sizes(150, 700)
    assert valid[:3] == [188, 204, 220]
    assert all(b - a == 16 for a, b in itertools.pairwise(valid))
    for n in range(188, 300):
        if n in valid:
            assert shapes.unet_sizes(n).input_size == (n,)
        else:
            with pytest.raises(shapes.UNetSizeError) as info:
                shapes.unet_sizes(n)
            assert info.value.layer.endswith(".pool")
            assert info.value.below in valid and info.value.above in valid
            assert info.value.below < n < info.value.above


def test_2d_sizes_and_neighbours():
    u = shapes.unet_sizes((572, 588))
    assert u.output_size == (388, 404)
    assert u.valid_below == (556, 572) and u.valid_above == (588, 604)
    assert u.levels[0].skip_crop.start == (88, 88)
