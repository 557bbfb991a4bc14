"""Overlap-tile inference against whole-image inference, streaming I/O, and the error branches."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convlab import ConvlabError
from convlab.models import UNet, UNetConfig
from convlab.shapes import UNetSizeError
from convlab.tiling import TilingStats, default_halo, plan_tiles, predict_tiled, reflect_indices

VALID = UNetConfig(width=2, depth=2, classes=2)
SAME = UNetConfig(width=2, depth=2, classes=2, padding="same")


@pytest.fixture(scope="module")
def valid64():
    return UNet(VALID, seed=1, dtype=np.float64)


def whole_image(model, image):
    """Whole-image inference: mirrored by the margin, extended to a valid size, cropped back."""
    config = model.config
    pads = []
    for n in image.shape:
        first = config.sizes(44).input_size[0]
        margin = first - config.sizes(first).output_size[0]
        size = n + margin
        while True:
            try:
                config.sizes(size)
                break
            except UNetSizeError:
                size += 1
        pads.append((margin // 2, size - n - margin // 2))
    padded = np.pad(image, pads, mode="reflect")
    return model(padded[np.newaxis, np.newaxis])[0][:, : image.shape[0], : image.shape[1]]


# Tiles of 188 and 236 keep every convolution at least 38 pixels wide, at
# every level: convlab.functional then lowers each conv of a window the same
# way as the whole image's (its per-tap "wide" lowering, chosen by width), so
# each output is the same sum in the same order: bit-identical in float64.
@pytest.mark.parametrize("shape", [(197, 230), (150, 421), (61, 300), (333, 95)])
@pytest.mark.parametrize("tile", [188, 236])
def test_unpadded_tiles_equal_whole_image_bit_for_bit(valid64, shape, tile):
    image = np.random.default_rng(shape[0]).standard_normal(shape)
    tiled = predict_tiled(valid64, image, tile)
    assert tiled.dtype == np.float64
    np.testing.assert_array_equal(tiled, whole_image(valid64, image))


# Narrow tiles: some deep convs of a window are lowered by the other path
# of convlab.functional (an im2col GEMM over channel and tap together) than
# the whole image's (per-tap GEMMs), which sums the same products in another
# order. Same values up to float64 rounding, then, not the same bits.
@pytest.mark.parametrize("tile", [48, 60, 92])
def test_unpadded_narrow_tiles_equal_whole_image_to_rounding(valid64, tile):
    image = np.random.default_rng(tile).standard_normal((101, 77))
    np.testing.assert_allclose(
        predict_tiled(valid64, image, tile), whole_image(valid64, image), rtol=0, atol=1e-13
    )


def test_float32_tiles_equal_whole_image_to_rounding():
    # float32: a window's GEMMs have other sizes than the whole image's; BLAS
    # picks its blocking and kernels by size, so the additions may round
    # differently in the last bits.
    model = UNet(VALID, seed=2)
    image = np.random.default_rng(3).standard_normal((130, 170)).astype(np.float32)
    tiled = predict_tiled(model, image, 92)
    assert tiled.dtype == np.float32
    np.testing.assert_allclose(tiled, whole_image(model, image), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(96, 128), (101, 87)])
def test_padded_unet_interior_is_exact_with_the_default_halo(shape):
    model = UNet(SAME, seed=3, dtype=np.float64)
    halo = default_halo(SAME)
    assert halo == 24  # the edge reaches 22 pixels in, rounded to a multiple of 4
    image = np.random.default_rng(4).standard_normal(shape)
    whole = model(image[np.newaxis, np.newaxis])[0]
    inner = (slice(None), slice(halo, -halo), slice(halo, -halo))
    for tile in (64, 80):
        np.testing.assert_allclose(predict_tiled(model, image, tile)[inner], whole[inner], rtol=0, atol=1e-13)


def test_padded_unet_halo_short_of_the_reach_is_not_exact():
    # 20, the unpadded twin's margin, lets the tiles' zero padding into the cores.
    model = UNet(SAME, seed=3, dtype=np.float64)
    image = np.random.default_rng(4).standard_normal((100, 84))
    whole = model(image[np.newaxis, np.newaxis])[0]
    short = predict_tiled(model, image, 64, halo=20)
    assert np.abs(short[:, 24:-24, 24:-24] - whole[:, 24:-24, 24:-24]).max() > 1e-12


def test_image_smaller_than_a_tile_is_mirrored_to_the_window(valid64):
    image = np.random.default_rng(5).standard_normal((7, 3))
    np.testing.assert_array_equal(predict_tiled(valid64, image, 188), whole_image(valid64, image))
    one = predict_tiled(valid64, np.ones((1, 1)), 188)
    assert one.shape == (2, 1, 1)


@given(n=st.integers(1, 40), start=st.integers(-100, 40), length=st.integers(1, 90))
def test_reflect_indices_follow_numpy_pad_reflect(n, start, length):
    lo, hi = max(0, -start), max(0, start + length - n)
    padded = np.pad(np.arange(n), (lo, hi), mode="reflect" if n > 1 else "edge")
    expected = padded[start + lo : start + lo + length]
    np.testing.assert_array_equal(reflect_indices(start, start + length, n), expected)


@given(
    n=st.integers(1, 700),
    extra=st.integers(0, 40),
    depth=st.integers(1, 4),
    padding=st.sampled_from(["valid", "same"]),
)
def test_plan_cores_partition_the_image_on_the_pooling_grid(n, extra, depth, padding):
    config = UNetConfig(depth=depth, padding=padding)
    step = 2**depth
    plan = plan_tiles(config, (n,), halo=default_halo(config) + step * (extra // 10))
    covered = np.zeros(n, int)
    first = None
    for tile in plan.tiles():
        (start, stop), keep, dest = tile.window[0], tile.keep[0], tile.dest[0]
        first = start if first is None else first
        assert (start - first) % step == 0  # every window pools on one grid
        assert stop - start == plan.window[0]
        assert keep.stop <= plan.window[0] - sum(plan.margin[0])
        assert keep.stop - keep.start == dest.stop - dest.start
        covered[dest] += 1
    assert (covered == 1).all()


def test_plan_of_the_paper():
    plan = plan_tiles(UNetConfig(), (1000, 700), tile=572)
    assert plan.window == (572, 572) and plan.stride == (384, 384) and plan.counts == (3, 2)
    assert plan.margin == ((92, 92), (92, 92))


# --- streaming: every kind of source into every kind of output -------------


def _sources(tmp_path, image):
    tifffile = pytest.importorskip("tifffile")
    np.save(tmp_path / "in.npy", image)
    tifffile.imwrite(tmp_path / "in.tif", image)
    tifffile.imwrite(tmp_path / "zip.tif", image, compression="zlib", rowsperstrip=16)
    kinds = {
        "npy": tmp_path / "in.npy",
        "memmap": np.load(tmp_path / "in.npy", mmap_mode="r"),
        "tiff": tmp_path / "in.tif",
        "tiff-compressed": tmp_path / "zip.tif",
    }
    zarr = pytest.importorskip("zarr")
    z = zarr.open_array(tmp_path / "in.zarr", mode="w", shape=image.shape, dtype=image.dtype, chunks=(32, 32))
    z[:] = image
    kinds["zarr-path"], kinds["zarr"] = tmp_path / "in.zarr", z
    return kinds


def _read(path):
    if path.suffix == ".npy":
        return np.load(path)
    if path.suffix == ".zarr":
        import zarr

        return zarr.open_array(path, mode="r")[:]
    import tifffile

    return tifffile.imread(path)


@pytest.mark.parametrize("out_kind", [".npy", ".tif", ".zarr"])
def test_streaming_sources_and_outputs_equal_in_memory(tmp_path, valid64, out_kind):
    image = np.random.default_rng(6).standard_normal((150, 121))
    expected = predict_tiled(valid64, image, 92)
    for name, source in _sources(tmp_path, image).items():
        target = tmp_path / f"out-{name}{out_kind}"
        stats = TilingStats()
        assert predict_tiled(valid64, source, 92, out=target, stats=stats) == target
        np.testing.assert_array_equal(_read(target), expected, err_msg=name)
        assert stats.tiles == stats.plan.total == 9
    labels = predict_tiled(valid64, tmp_path / "in.npy", 92, out=tmp_path / f"labels{out_kind}", labels=True)
    np.testing.assert_array_equal(_read(labels), expected.argmax(axis=0).astype(np.uint8))
    assert not [p for p in os.listdir(tmp_path) if ".partial" in p]


def test_output_array_is_filled_in_place(tmp_path, valid64):
    image = np.random.default_rng(7).standard_normal((1, 90, 70))
    out = np.lib.format.open_memmap(tmp_path / "mine.npy", "w+", np.float64, (2, 90, 70))
    assert predict_tiled(valid64, image, 60, out=out) is out
    np.testing.assert_array_equal(out, predict_tiled(valid64, image[0], 60))


class _Failing:
    """A model that raises after ``after`` tiles: an interrupted run."""

    def __init__(self, model, after):
        self.model, self.config, self.after, self.calls = model, model.config, after, 0

    def __call__(self, x):
        self.calls += 1
        if self.calls > self.after:
            raise KeyboardInterrupt
        return self.model(x)


@pytest.mark.parametrize("suffix", [".npy", ".tif", ".zarr"])
def test_interrupted_run_leaves_no_file_that_looks_finished(tmp_path, valid64, suffix):
    target = tmp_path / f"mask{suffix}"
    with pytest.raises(KeyboardInterrupt):
        predict_tiled(_Failing(valid64, 2), np.zeros((120, 120)), 60, out=target)
    assert os.listdir(tmp_path) == []
    # An existing output survives a failed run untouched.
    predict_tiled(valid64, np.zeros((20, 20)), out=target)
    before = _read(target)
    with pytest.raises(KeyboardInterrupt):
        predict_tiled(_Failing(valid64, 1), np.ones((120, 120)), 60, out=target)
    np.testing.assert_array_equal(_read(target), before)
    assert os.listdir(tmp_path) == [target.name]


def test_progress_is_quiet_without_a_terminal(valid64, capsys):
    image = np.zeros((100, 100))
    predict_tiled(valid64, image, 60)
    assert capsys.readouterr().err == ""
    seen = []
    predict_tiled(valid64, image, 60, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 25) for i in range(1, 26)]


def test_progress_bar_when_asked(valid64, monkeypatch):
    pytest.importorskip("tqdm")
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    predict_tiled(valid64, np.zeros((100, 100)), 60, progress=True)
    assert "25/25" in err.getvalue()


# --- bad input ---------------------------------------------------------------


def test_wrong_channel_count(valid64):
    with pytest.raises(
        ConvlabError, match=r"image must have shape \(1, H, W\) or \(H, W\).*got shape \(3, 40, 40\)"
    ):
        predict_tiled(valid64, np.zeros((3, 40, 40)))


def test_unreadable_and_missing_files(tmp_path, valid64):
    (tmp_path / "bad.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(ConvlabError, match=r"bad\.tif.*cannot be read"):
        predict_tiled(valid64, tmp_path / "bad.tif", out=tmp_path / "out.npy")
    with pytest.raises(ConvlabError, match="does not exist"):
        predict_tiled(valid64, tmp_path / "missing.npy")
    with pytest.raises(ConvlabError, match=r"\.npy, \.tif, \.tiff or \.zarr"):
        predict_tiled(valid64, tmp_path / "bad.tif.txt")
    assert sorted(os.listdir(tmp_path)) == ["bad.tif"]


def test_unwritable_output(tmp_path, valid64):
    with pytest.raises(ConvlabError, match="does not exist"):
        predict_tiled(valid64, np.zeros((30, 30)), out=tmp_path / "no" / "such" / "out.npy")
    with pytest.raises(ConvlabError, match=r"out must end in"):
        predict_tiled(valid64, np.zeros((30, 30)), out=tmp_path / "out.png")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ConvlabError, match="cannot be written"):
            predict_tiled(valid64, np.zeros((30, 30)), out=locked / "out.npy")
    with pytest.raises(ConvlabError, match=r"out must have shape \(2, 30, 30\)"):
        predict_tiled(valid64, np.zeros((30, 30)), out=np.zeros((2, 30, 31)))


def test_bad_tile_and_halo(valid64):
    with pytest.raises(ConvlabError, match=r"tile must be a valid input size.*nearest valid input sizes: 60"):
        predict_tiled(valid64, np.zeros((30, 30)), 61)
    with pytest.raises(ConvlabError, match=r"tile 48 leaves no output core with halo 24.*use tile >= 52"):
        plan_tiles(SAME, (100,), tile=48)
    with pytest.raises(ConvlabError, match=r"halo must be a multiple of 2\*\*depth = 4, got halo=6"):
        predict_tiled(valid64, np.zeros((30, 30)), halo=6)
    with pytest.raises(ConvlabError, match=r"tile must be a multiple of 2\*\*depth = 4.*try 60 or 64"):
        plan_tiles(SAME, (100,), tile=62)


def test_model_without_config():
    with pytest.raises(TypeError, match="model must carry its U-Net configuration"):
        predict_tiled(lambda x: x, np.zeros((30, 30)))
