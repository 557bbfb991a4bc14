"""``convlab segment``: image preparation, the overlap-tile border, and whole runs on small models."""

from __future__ import annotations

import numpy as np
import pytest

from convlab import shapes
from convlab.cli._segment import fit_channels, normalise, overlap_tile_border, side_by_side, to_mask


def _rules(**changes):
    return {"depth": 2, "kernel_size": 3, "convs_per_level": 2, "padding": "valid", **changes}


def test_normalise_scales_by_the_dtype_range():
    np.testing.assert_array_equal(normalise(np.array([[0, 51, 255]], np.uint8)), np.float32([[0, 0.2, 1]]))
    np.testing.assert_allclose(normalise(np.array([[0, 65535]], np.uint16)), [[0, 1]])
    np.testing.assert_allclose(normalise(np.array([[-32768, 32767]], np.int16)), [[0, 1]])
    np.testing.assert_array_equal(normalise(np.array([[True, False]])), [[1, 0]])
    floats = np.array([[-3.0, 7.5]])
    assert normalise(floats).dtype == np.float32
    np.testing.assert_array_equal(normalise(floats), floats)


def test_standardize_is_per_channel_and_keeps_constant_channels_finite():
    image = np.stack([np.arange(12.0).reshape(3, 4), np.full((3, 4), 5.0)]).astype(np.uint8)
    out = normalise(image, "standardize")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0].mean(), 0, atol=1e-6)
    np.testing.assert_allclose(out[0].std(), 1, rtol=1e-6)
    np.testing.assert_array_equal(out[1], 0)


def test_fit_channels_converts_grey_rgb_and_drops_alpha():
    rgb = np.random.default_rng(0).random((3, 2, 2), dtype=np.float32)
    grey, notes = fit_channels(rgb, 1)
    np.testing.assert_allclose(grey[0], 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2], rtol=1e-6)
    assert "luma" in notes[0]
    rgba = np.concatenate([rgb, np.ones((1, 2, 2), np.float32)])
    same, notes = fit_channels(rgba, 3)
    np.testing.assert_array_equal(same, rgb)
    assert "alpha" in notes[0]
    three, notes = fit_channels(rgb[:1], 3)
    np.testing.assert_array_equal(three, np.repeat(rgb[:1], 3, axis=0))
    kept, notes = fit_channels(rgb, 3)
    assert notes == [] and kept.dtype == np.float32


@pytest.mark.parametrize(("channels", "in_channels"), [(3, 2), (4, 2), (5, 1), (1, 4)])
def test_fit_channels_refuses_what_it_cannot_convert(channels, in_channels):
    with pytest.raises(ValueError, match=f"in_channels={in_channels} but img has {channels} channels"):
        fit_channels(np.zeros((channels, 2, 2), np.float32), in_channels, what="img")


@pytest.mark.parametrize("n", [1, 5, 20, 36, 37, 100])
def test_border_of_an_unpadded_unet_makes_the_output_cover_the_image(n):
    config = _rules()
    ((lo, hi),) = overlap_tile_border((n,), config)
    sizes = shapes.unet_sizes(n + lo + hi, **config)
    margin = sizes.input_size[0] - sizes.output_size[0]
    assert lo == margin // 2  # the paper's overlap-tile border before the first pixel
    assert (
        n <= sizes.output_size[0] < n + 2 ** config["depth"]
    )  # covers, with less than one pooling period over


def test_border_of_the_paper_unet_at_388_is_92_each_side():
    assert overlap_tile_border((388, 389), _rules(depth=4)) == ((92, 92), (92, 107))


def test_padded_unet_gets_no_border_and_refuses_too_small_images():
    assert overlap_tile_border((37, 50), _rules(padding="same")) == ((0, 0), (0, 0))
    with pytest.raises(shapes.UNetSizeError, match=r"img of size 3x50: .*nearest valid input sizes: 4"):
        overlap_tile_border((3, 50), _rules(padding="same", depth=2), what="img")


def test_to_mask_is_argmax_or_the_sign_of_a_single_logit():
    logits = np.array([[[0.1, 2.0]], [[0.5, -1.0]], [[0.2, 3.0]]], np.float32)
    np.testing.assert_array_equal(to_mask(logits), [[1, 2]])
    np.testing.assert_array_equal(to_mask(np.array([[[-0.5, 0.5]]])), [[0, 1]])
    assert to_mask(logits).dtype == np.uint8


def test_side_by_side_shows_the_image_then_the_coloured_classes():
    image = np.full((1, 2, 3), 100, np.uint8)
    mask = np.array([[0, 1, 2], [0, 0, 1]], np.uint8)
    picture = side_by_side(image, mask)
    assert picture.shape == (2, 3 + 4 + 3, 3) and picture.dtype == np.uint8
    np.testing.assert_array_equal(picture[:, :3], 100)
    np.testing.assert_array_equal(picture[0, 7], 100)  # class 0 uncoloured
    np.testing.assert_array_equal(picture[0, 8], np.round((100 + np.array([31, 119, 180])) / 2))
    assert not np.array_equal(picture[0, 8], picture[0, 9])  # classes 1 and 2 differ


@pytest.mark.parametrize(
    ("name", "stored", "channels_first"),
    [
        ("grey.png", np.arange(12, dtype=np.uint8).reshape(3, 4), lambda a: a[np.newaxis]),
        ("rgb.png", np.arange(36, dtype=np.uint8).reshape(3, 4, 3), lambda a: np.moveaxis(a, -1, 0)),
        ("deep.png", np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000, lambda a: a[np.newaxis]),
        ("rgb.tif", np.arange(36, dtype=np.uint8).reshape(3, 4, 3), lambda a: np.moveaxis(a, -1, 0)),
        ("float.tiff", np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), lambda a: a[np.newaxis]),
    ],
)
def test_images_round_trip_channels_first(tmp_path, name, stored, channels_first):
    from convlab.io import read_image, write_image

    write_image(stored, tmp_path / name)
    loaded = read_image(tmp_path / name)
    assert loaded.dtype == stored.dtype
    np.testing.assert_array_equal(loaded, channels_first(stored))
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_tiff_channel_axis_is_moved_first_and_time_series_refused(tmp_path):
    import tifffile

    from convlab.io import ImageFileError, read_image

    data = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(3, 4, 2)
    tifffile.imwrite(tmp_path / "yxc.tif", np.moveaxis(data, -1, 0), metadata={"axes": "CYX"})
    np.testing.assert_array_equal(read_image(tmp_path / "yxc.tif"), np.moveaxis(data, -1, 0))
    tifffile.imwrite(tmp_path / "t.tif", np.zeros((2, 3, 4), np.uint8), metadata={"axes": "TYX"})
    with pytest.raises(ImageFileError, match=r"t\.tif.*axes 'TYX'"):
        read_image(tmp_path / "t.tif")


def test_unreadable_images_and_bad_writes_name_the_path(tmp_path):
    from convlab.io import ImageFileError, read_image, write_image

    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ImageFileError, match=r"cannot read image .*bad\.png"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(ImageFileError, match=r"missing\.tif' does not exist"):
        read_image(tmp_path / "missing.tif")
    with pytest.raises(ImageFileError, match=r"extension '\.jpg' is not one of \.png, \.tif, \.tiff"):
        read_image(tmp_path / "x.jpg")
    with pytest.raises(ImageFileError, match="PNG takes uint8"):
        write_image(np.zeros((2, 2), np.float32), tmp_path / "f.png")
    with pytest.raises(ImageFileError, match=r"\(H, W, 3\).*got shape \(2, 2, 2\)"):
        write_image(np.zeros((2, 2, 2), np.uint8), tmp_path / "f.tif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.png"]


def _run(capsys, *argv):
    from convlab.cli import main

    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def _model(in_channels: int, classes: int = 3, **config):
    from convlab.models import UNet

    model = UNet(width=4, depth=2, in_channels=in_channels, classes=classes, seed=1, **config)
    # A random tiny U-Net's logits barely vary over an image, so one class wins everywhere.
    # Centre each class's logit on a random image and amplify, so that the argmax varies.
    sample = np.random.default_rng(0).random((1, in_channels, 76, 76), dtype=np.float32)
    model.head.bias[...] -= model(sample)[0].mean(axis=(1, 2))
    model.head.weight[...] *= 1000
    model.head.bias[...] *= 1000
    return model


def _direct_mask(model, image: np.ndarray, pads) -> np.ndarray:
    """The mask computed by hand: dtype scaling, reflect padding, forward, crop, argmax."""
    x = image.astype(np.float32) / np.iinfo(image.dtype).max
    x = np.pad(x, ((0, 0), *pads), mode="reflect")
    logits = model(x[np.newaxis])[0]
    return np.argmax(logits[:, : image.shape[1], : image.shape[2]], axis=0).astype(np.uint8)


@pytest.mark.parametrize(
    ("weights", "image_name", "channels", "mask_name"),
    [
        ("w.safetensors", "rgb.png", 3, "mask.png"),
        ("w.npz", "grey.tif", 1, "mask.tif"),
        ("w.pt", "grey.png", 1, "mask.tiff"),
    ],
)
def test_segment_writes_the_argmax_of_the_model_and_a_picture(
    tmp_path, capsys, torch, weights, image_name, channels, mask_name
):
    from convlab.io import read_image, save_weights, write_image

    model = _model(channels)
    save_weights(model.state_dict(), tmp_path / weights)
    rng = np.random.default_rng(2)
    stored = rng.integers(0, 256, (40, 50, 3) if channels == 3 else (40, 50), dtype=np.uint8)
    write_image(stored, tmp_path / image_name)
    status, out, err = _run(
        capsys, "segment", tmp_path / image_name, "--weights", tmp_path / weights, "-o", tmp_path / mask_name
    )
    assert status == 0, err
    assert "network input 80x92" in out
    mask = read_image(tmp_path / mask_name)[0]
    assert mask.dtype == np.uint8 and mask.shape == (40, 50)
    # depth 2: the network consumes 40 pixels; 50 + 40 is not a valid size, 92 is.
    expected = _direct_mask(model, read_image(tmp_path / image_name), ((20, 20), (20, 22)))
    if mask_name.endswith(".png"):  # a PNG mask shows the 3 classes as evenly spread greys
        expected = np.array([0, 128, 255], np.uint8)[expected]
    np.testing.assert_array_equal(mask, expected)
    assert len(np.unique(mask)) > 1
    picture = read_image(tmp_path / (mask_name.split(".")[0] + "_side_by_side.png"))
    assert picture.shape == (3, 40, 50 + 4 + 50) and picture.dtype == np.uint8
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_segment_json_reports_files_and_class_pixels(tmp_path, capsys):
    import json

    from convlab.io import save_weights, write_image

    save_weights({f"module.{k}": v for k, v in _model(1).state_dict().items()}, tmp_path / "w.npz")
    write_image(np.zeros((36, 36), np.uint8), tmp_path / "a.png")
    status, out, err = _run(
        capsys, "segment", tmp_path / "a.png", "-w", tmp_path / "w.npz", "-o", tmp_path / "m.png", "--json"
    )
    assert status == 0, err
    data = json.loads(out)
    assert data["network_input_size"] == [76, 76] and data["mask_shape"] == [36, 36]
    assert sum(data["class_pixels"].values()) == 36 * 36
    assert data["side_by_side"] == str(tmp_path / "m_side_by_side.png")
    assert "note: w.npz: stripped the 'module.' prefix" in err


def test_padded_milesial_weights_need_no_border_and_refuse_tiny_images(tmp_path, capsys, torch):
    from convlab.io import read_image, write_image
    from convlab.models import MilesialUNet

    model = MilesialUNet(3, 2, width=2, seed=3)
    # Pytorch-UNet's train.py saves its mask values next to the tensors.
    state = {k: torch.from_numpy(v) for k, v in model.state_dict().items()}
    torch.save({**state, "mask_values": [0, 1]}, tmp_path / "m.pt")
    image = np.random.default_rng(4).integers(0, 256, (37, 21, 3), dtype=np.uint8)
    write_image(image, tmp_path / "rgb.png")
    status, out, err = _run(
        capsys, "segment", tmp_path / "rgb.png", "-w", tmp_path / "m.pt", "-o", tmp_path / "o.png"
    )
    assert status == 0, err
    assert "network input 37x21" in out
    assert "note: m.pt: entries stored as Python numbers became arrays: mask_values" in err
    expected = _direct_mask(model, np.moveaxis(image, -1, 0), ((0, 0), (0, 0)))
    # Two classes in a PNG mask: 0 and 255.
    np.testing.assert_array_equal(read_image(tmp_path / "o.png")[0], np.array([0, 255], np.uint8)[expected])
    write_image(image[:12], tmp_path / "small.png")
    status, _, err = _run(
        capsys, "segment", tmp_path / "small.png", "-w", tmp_path / "m.pt", "-o", tmp_path / "s.png"
    )
    assert status == 2
    assert (
        err.count("\n") == 1 and "small.png of size 12x21" in err and "nearest valid input sizes: 16" in err
    )
    assert not (tmp_path / "s.png").exists()


def test_layout_options_are_translated_or_refused(tmp_path, capsys):
    from convlab.io import save_weights, write_image
    from convlab.models import JvanvugtUNet, MilesialUNet

    write_image(np.zeros((24, 24), np.uint8), tmp_path / "a.png")
    save_weights(JvanvugtUNet(depth=2, wf=1).state_dict(), tmp_path / "j.npz")
    status, out, err = _run(
        capsys,
        "segment",
        tmp_path / "a.png",
        "-w",
        tmp_path / "j.npz",
        "-o",
        tmp_path / "j.png",
        "--padding",
        "same",
    )
    assert status == 0, err
    assert "network input 24x24" in out
    save_weights(MilesialUNet(1, 2, width=2).state_dict(), tmp_path / "m.npz")
    status, _, err = _run(
        capsys,
        "segment",
        tmp_path / "a.png",
        "-w",
        tmp_path / "m.npz",
        "-o",
        tmp_path / "m.png",
        "--padding",
        "valid",
    )
    assert status == 2 and "milesial weights fix or imply padding" in err


def _refused(tmp_path, capsys, image: str, weights: str, output: str = "out.png") -> str:
    status, out, err = _run(
        capsys, "segment", tmp_path / image, "-w", tmp_path / weights, "-o", tmp_path / output
    )
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("convlab segment: error: ")
    assert not (tmp_path / output).exists()
    assert not (tmp_path / (output.split(".")[0] + "_side_by_side.png")).exists()
    return err


def test_wrong_channels_unreadable_images_and_bad_files_exit_2_leaving_no_output(tmp_path, capsys):
    from convlab.io import save_weights, write_image

    save_weights(_model(2).state_dict(), tmp_path / "w.safetensors")
    write_image(np.zeros((40, 40, 3), np.uint8), tmp_path / "rgb.png")
    assert "in_channels=2 but" in _refused(tmp_path, capsys, "rgb.png", "w.safetensors")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert "cannot read image" in _refused(tmp_path, capsys, "broken.png", "w.safetensors")
    assert "does not exist" in _refused(tmp_path, capsys, "none.tif", "w.safetensors")
    (tmp_path / "bad.npz").write_bytes(b"PK garbage")
    assert "cannot read weights file" in _refused(tmp_path, capsys, "rgb.png", "bad.npz")
    assert "--output must end in .png, .tif, .tiff" in _refused(
        tmp_path, capsys, "rgb.png", "w.safetensors", "o.jpg"
    )
