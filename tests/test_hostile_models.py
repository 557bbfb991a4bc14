"""Issue 10, models, shapes of U-Nets and tiling: work bounded by construction, bad input refused by name."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

import convlab
from convlab import ConvlabError
from convlab.models import UNet, UNetConfig, load_unet
from convlab.shapes import unet_sizes, unet_valid_sizes
from convlab.tiling import TilingStats, default_halo, plan_tiles, predict_tiled


def _naive_valid(n: int, depth: int, k: int, convs: int, padding: str) -> bool:
    """The U-Net's sizes walked layer by layer, written independently of shapes._unet."""
    skips = []
    for level in range(depth + 1):
        for _ in range(convs):
            if padding == "valid":
                if n < k:
                    return False
                n -= k - 1
        if level == depth:
            break
        if n < 2 or (padding == "valid" and n % 2):
            return False
        skips.append(n)
        n //= 2
    for skip in reversed(skips):
        up = 2 * n
        if padding == "valid" and skip < up:
            return False
        n = up if padding == "valid" else skip
        for _ in range(convs):
            if padding == "valid":
                if n < k:
                    return False
                n -= k - 1
    return True


@pytest.mark.parametrize(
    ("depth", "k", "convs", "padding"),
    list(itertools.product((0, 1, 2, 3), (1, 3, 4), (1, 2, 3), ("valid", "same"))),
)
def test_closed_form_search_equals_the_naive_walk(depth, k, convs, padding):
    valid = [n for n in range(1, 300) if _naive_valid(n, depth, k, convs, padding)]
    cfg = {"depth": depth, "kernel_size": k, "convs_per_level": convs, "padding": padding}
    assert unet_valid_sizes(1, 300, **cfg) == valid
    if valid:
        assert unet_sizes(valid[0], **cfg).smallest_valid == valid[0]
        # A size that does not fit names the naive walk's neighbours.
        for n in range(1, 300):
            if n in valid:
                continue
            with pytest.raises(convlab.shapes.UNetSizeError) as info:
                unet_sizes(n, **cfg)
            below = max((m for m in valid if m < n), default=None)
            assert info.value.below == below
            if n < valid[-1]:
                assert info.value.above == min(m for m in valid if m > n)
            break


def test_deep_unets_answer_at_once_and_caps_are_stated():
    start = time.perf_counter()
    with pytest.raises(convlab.shapes.UNetSizeError, match="13194139533308"):
        unet_sizes(572, depth=40)
    u = unet_sizes(13194139533308, depth=40)
    assert u.smallest_valid == 13194139533308 and u.output_size[0] > 0
    unet_sizes(2**64, depth=64, padding="same", convs_per_level=1024)
    assert time.perf_counter() - start < 10
    with pytest.raises(ConvlabError, match="depth must be at most 64, got depth=65"):
        unet_sizes(572, depth=65)
    with pytest.raises(
        ConvlabError, match="convs_per_level must be at most 1024, got convs_per_level=1000000"
    ):
        unet_sizes(572, convs_per_level=10**6)
    with pytest.raises(ConvlabError, match="would list more than"):
        unet_valid_sizes(1, 10**30, padding="same")


@pytest.mark.parametrize(
    "config",
    [
        UNetConfig(depth=1, width=2),
        UNetConfig(depth=2, width=3, batch_norm=True, in_channels=3, classes=5),
        UNetConfig(depth=2, width=2, up_mode="bilinear", ndim=1, convs_per_level=3, kernel_size=5),
        UNetConfig(depth=1, width=2, ndim=3, batch_norm=True, up_mode="bilinear"),
        UNetConfig(depth=0, width=4),
    ],
)
def test_parameter_count_is_exact(config):
    model = UNet(config)
    params = sum(a.size for _, a in model.named_parameters())
    running = sum(a.size for name, a in model.named_buffers() if "running" in name)
    assert config.parameter_count() == params
    assert config.buffer_count() == running


@pytest.mark.parametrize(
    ("overrides", "word"),
    [({"width": 2**40}, "width=1099511627776"), ({"classes": 2**62}, f"classes={2**62}")],
)
def test_huge_unets_are_refused_before_any_weight_is_drawn(overrides, word):
    start = time.perf_counter()
    with pytest.raises(convlab.ResourceError, match=word):
        UNet(UNetConfig(**overrides))
    assert time.perf_counter() - start < 5


def test_memory_limit_applies_to_the_parameters():
    config = UNetConfig(depth=1, width=4)
    nbytes = config.parameter_count() * 4
    # Each conv also draws its weight in float64 before the float32 cast (nn's own check counts 8 + 4 bytes).
    largest = max(v.size for v in UNet(config).state_dict().values())
    with convlab.memory_limit(max(nbytes, 12 * largest)):
        UNet(config)
    with (
        convlab.memory_limit(nbytes - 1),
        pytest.raises(convlab.ResourceError, match=r"the U-Net's parameters"),
    ):
        UNet(config)


def _state(**changes):
    state = dict(UNet(UNetConfig(depth=1, width=2)).state_dict())
    state.update(changes)
    return state


@pytest.mark.parametrize(
    "weight",
    [np.ones(3, np.float32), np.ones((2, 1), np.float32), np.empty((2**22, 0, 3, 3), np.float32)],
)
def test_load_unet_refuses_weights_that_cannot_size_a_network(weight):
    with pytest.raises(
        ConvlabError, match=r"state_dict\['bottom.conv1.weight'\] must be a convolution weight"
    ):
        load_unet(_state(**{"bottom.conv1.weight": weight}))


def test_load_unet_checks_the_inferred_network_against_the_memory_limit():
    # 2**21 output channels inferred from a (cheap, broadcast) weight: refused before building.
    big = np.broadcast_to(np.float32(0), (2**21, 1, 3, 3))
    with pytest.raises(convlab.ResourceError, match="parameters"):
        load_unet(_state(**{"bottom.conv1.weight": big}))


def test_contracts_of_deep_configs_are_refused_quickly():
    start = time.perf_counter()
    with pytest.raises(ConvlabError, match="depth must be at most 64"):
        default_halo(UNetConfig(padding="same", depth=10**6))
    with pytest.raises(ConvlabError, match="total stride is 2048"):
        plan_tiles(UNetConfig(depth=11, width=1), (1000, 1000), 572)
    with pytest.raises(ConvlabError, match="total stride is 18446744073709551616"):
        plan_tiles(UNetConfig(depth=64, width=1), (1000, 1000), 572)
    assert time.perf_counter() - start < 5


def test_predict_tiled_refuses_bad_stats_and_integer_dtypes():
    model = UNet(UNetConfig(depth=1, width=2))
    image = np.random.default_rng(0).random((40, 40)) * 100
    with pytest.raises(TypeError, match="stats must be a TilingStats or None, got int 3"):
        predict_tiled(model, image, 32, stats=3)
    with pytest.raises(ConvlabError, match=r"dtype must be a floating dtype.*int8"):
        predict_tiled(model, image, 32, dtype=np.int8)
    stats = TilingStats()
    got = predict_tiled(model, image, 32, dtype=np.float64, stats=stats)
    assert stats.plan is not None
    # A floating dtype is accepted and the logits cover the image.
    assert got.shape[1:] == image.shape


@pytest.mark.parametrize(
    ("shape", "layout"),
    [
        ((300, 257), {"rowsperstrip": 16}),
        ((300, 257), {"tile": (32, 48)}),
        ((130, 70, 3), {"rowsperstrip": 7}),
        ((130, 70, 3), {"tile": (16, 16)}),
    ],
)
def test_tiff_boxes_decode_only_their_segments_equal_numpy_slicing(tmp_path, shape, layout):
    tifffile = pytest.importorskip("tifffile")
    from convlab.tiling._tiff_segments import read_page_box

    a = (np.random.default_rng(1).random(shape) * 60000).astype(np.uint16)
    tifffile.imwrite(tmp_path / "t.tif", a, compression="zlib", **layout)
    for y0, y1, x0, x1 in [
        (0, shape[0], 0, shape[1]),
        (5, 37, 3, 60),
        (shape[0] - 3, shape[0], 0, 1),
        (4, 4, 0, 5),
    ]:
        box = (slice(y0, y1), slice(x0, x1), *(slice(None),) * (len(shape) - 2))
        assert np.array_equal(read_page_box(str(tmp_path / "t.tif"), box), a[box])


def test_deflate_tiff_larger_than_the_memory_limit_is_tiled_without_zarr(tmp_path, monkeypatch):
    tifffile = pytest.importorskip("tifffile")
    rng = np.random.default_rng(2)
    image = (rng.random((1200, 1000)) * 255).astype(np.uint8)
    image[:, 500:] = 0  # compressible, still 1.2 MB decoded
    tifffile.imwrite(tmp_path / "big.tif", image, compression="zlib", rowsperstrip=8)
    model = UNet(UNetConfig(depth=1, width=1), seed=4)
    expected = predict_tiled(model, image.astype(np.float32), 188, labels=True)
    monkeypatch.setitem(__import__("sys").modules, "zarr", None)  # as if zarr were not installed

    def whole_image(*args, **kwargs):
        raise AssertionError("the whole image was decoded")

    monkeypatch.setattr(tifffile, "imread", whole_image)
    # Decoding the whole image once (the old fallback) would take 1.2 MB: refused at 1 MB.
    with convlab.memory_limit(1 << 20):
        got = predict_tiled(model, str(tmp_path / "big.tif"), 188, labels=True, out=tmp_path / "m.npy")
    assert np.array_equal(np.load(got), expected)
