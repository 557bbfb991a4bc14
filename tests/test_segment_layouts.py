"""``convlab segment --tile`` with milesial and jvanvugt checkpoints; the layout registry."""

from __future__ import annotations

import numpy as np
import pytest

from convlab import ConvlabError
from convlab.cli import main
from convlab.io import load_weights, save_weights, strip_wrapper_prefixes
from convlab.models import LAYOUTS, JvanvugtUNet, MilesialUNet, UNet, detect_layout, load_unet
from convlab.models._layout import Layout, LayoutOption
from convlab.models._registry import REGISTRY, layout, option_choices
from convlab.tiling import predict


def _segment(capsys, *argv) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def _whole_mask(model, image: np.ndarray, halo: int) -> np.ndarray:
    """argmax of one pass over the image mirrored by the margin and ``halo``, cropped back (written here)."""
    c = model.size_contract
    pads = []
    for d, n in enumerate(image.shape[1:]):
        lo, hi = c.margin[d]
        size = max(n + lo + hi + 2 * halo, c.smallest[d])
        size += (-(size - c.smallest[d])) % np.lcm(c.step[d], c.alignment[d])
        pads.append((lo + halo, size - n - lo - halo))
    logits = model(np.pad(image, ((0, 0), *pads), mode="reflect")[np.newaxis])[0]
    crop = tuple(slice(halo, halo + n) for n in image.shape[1:])
    return logits[(slice(None), *crop)].argmax(axis=0).astype(np.uint8)


def _vary_classes(model, image: np.ndarray) -> None:
    # A random tiny U-Net's logits barely vary over an image, so one class wins everywhere:
    # centre each class's logit on this image and amplify, so that the argmax varies.
    head = model.last if hasattr(model, "last") else model.outc.conv
    head.bias[...] -= predict(model, image[:, :64, :64])[0].mean(axis=(1, 2))
    head.weight[...] *= 100
    head.bias[...] *= 100


@pytest.mark.parametrize(
    ("make", "weights", "tile", "shape"),
    [
        (lambda: JvanvugtUNet(3, 4, depth=3, wf=1, seed=3, dtype=np.float64), "j.pt", 76, (3, 150, 131)),
        (lambda: MilesialUNet(2, 3, width=1, seed=4, dtype=np.float64), "m.safetensors", 224, (2, 61, 75)),
    ],
)
def test_tiled_segment_of_upstream_checkpoints_equals_the_untiled_mask(
    tmp_path, capsys, torch, make, weights, tile, shape
):
    model = make()
    image = np.random.default_rng(5).random(shape)
    _vary_classes(model, image)
    state = model.state_dict()
    if weights.endswith(".pt"):
        torch.save(
            {"model_state_dict": {f"module.{k}": torch.from_numpy(v) for k, v in state.items()}},
            tmp_path / weights,
        )
    else:
        save_weights(state, tmp_path / weights)
    np.save(tmp_path / "big.npy", image)
    status, out, err = _segment(
        capsys,
        "segment",
        tmp_path / "big.npy",
        "--weights",
        tmp_path / weights,
        "--tile",
        tile,
        "-o",
        tmp_path / "m.npy",
    )
    assert status == 0, err
    assert f"tiles of {tile}x{tile}" in out
    mask = np.load(tmp_path / "m.npy")
    assert mask.shape == shape[1:] and mask.dtype == np.uint8
    halo = model.size_contract.halo[0]
    np.testing.assert_array_equal(mask, _whole_mask(model, image, halo))
    if halo == 0:
        # Unpadded: the untiled pass is the library's whole-image predict, unchanged.
        np.testing.assert_array_equal(mask, predict(model, image)[0].argmax(axis=0))
    assert len(np.unique(mask)) > 1


def test_tiling_an_inexact_model_says_so(tmp_path, capsys):
    save_weights(MilesialUNet(1, 2, bilinear=True, width=1).state_dict(), tmp_path / "b.npz")
    np.save(tmp_path / "img.npy", np.zeros((20, 20)))
    status, _, err = _segment(
        capsys,
        "segment",
        tmp_path / "img.npy",
        "-w",
        tmp_path / "b.npz",
        "--tile",
        "240",
        "-o",
        tmp_path / "m.npy",
    )
    assert status == 0, err
    assert "note: the model interpolates with align_corners=True" in err


def test_tile_and_halo_take_one_size_per_dimension(tmp_path, capsys):
    model = JvanvugtUNet(1, 2, depth=2, wf=1, padding=True, seed=6, dtype=np.float64)
    save_weights(model.state_dict(), tmp_path / "w.npz")
    np.save(tmp_path / "img.npy", np.random.default_rng(6).random((40, 30)))
    argv = ["segment", tmp_path / "img.npy", "-w", tmp_path / "w.npz", "--padding", "same", "--json"]
    status, out, err = _segment(capsys, *argv, "--tile", "32x24", "--halo", "8x4", "-o", tmp_path / "m.npy")
    assert status == 0, err
    assert '"window": [\n    32,\n    24\n  ]' in out or '"window": [32, 24]' in out
    status, _, err = _segment(capsys, *argv, "--tile", "32x2x4", "-o", tmp_path / "n.npy")
    assert status == 2 and "tile must be an int or 2 ints" in err


# --- the registry ----------------------------------------------------------------------


def test_registry_feeds_load_unet_detect_layout_and_the_cli_choices():
    assert LAYOUTS == tuple(REGISTRY) == ("convlab", "milesial", "jvanvugt")
    assert option_choices() == {"padding": ("valid", "same"), "pooling": ("max", "avg")}
    assert layout("milesial").options == ()
    assert layout("jvanvugt").model_options({"padding": "valid", "pooling": "avg"}) == {
        "padding": False,
        "pooling": "avg",
    }
    with pytest.raises(ConvlabError, match=r"milesial weights fix or imply padding, pooling"):
        layout("milesial").model_options({"padding": "same", "pooling": "max"})
    with pytest.raises(
        ConvlabError, match=r"layout must be 'auto' or one of 'convlab', 'milesial', 'jvanvugt', got 'keras'"
    ):
        layout("keras")
    with pytest.raises(
        ConvlabError, match=r"'bottom\.\*' \(convlab\), 'inc\.double_conv\.\*' \(milesial\), 'down_path\.\*'"
    ):
        detect_layout(["encoder.0.weight"])


def test_a_new_layout_is_one_registry_entry(monkeypatch):
    # A project that renamed convlab's keys: its module would hold this builder and record.
    def build(state, options):
        net = UNet(width=1, depth=1, **{k: v for k, v in options.items() if k != "dtype"})
        return _Renamed(net)

    class _Renamed:
        def __init__(self, net):
            self.net = net

        def load_state_dict(self, state):
            self.net.load_state_dict(
                {k.replace("enc.", "down").replace("mid", "bottom"): v for k, v in state.items()}
            )

    entry = Layout(
        "renamed", marker="enc.", build=build, options=(LayoutOption("padding", ("valid", "same")),)
    )
    monkeypatch.setitem(REGISTRY, "renamed", entry)
    original = UNet(width=1, depth=1, seed=2).state_dict()
    state = {k.replace("down", "enc.").replace("bottom", "mid"): v for k, v in original.items()}
    assert detect_layout(state) == "renamed"
    loaded = load_unet(state, **entry.model_options({"padding": "same"}))
    assert loaded.net.config.padding == "same"
    np.testing.assert_array_equal(
        loaded.net.down0.conv1.weight, UNet(width=1, depth=1, seed=2).down0.conv1.weight
    )
    with pytest.raises(ConvlabError, match="'renamed'"):
        layout("nope")


def test_one_prefix_stripper_for_files_and_load_unet(tmp_path):
    state = UNet(width=1, depth=1).state_dict()
    wrapped = {f"module._orig_mod.{k}": v for k, v in state.items()}
    plain, notes = strip_wrapper_prefixes(wrapped)
    assert list(plain) == list(state)
    assert notes == [
        "stripped the 'module.' prefix (nn.DataParallel) from every key",
        "stripped the '_orig_mod.' prefix (torch.compile) from every key",
    ]
    assert strip_wrapper_prefixes({"module.a": 1, "b": 2}) == ({"module.a": 1, "b": 2}, [])
    assert load_unet(wrapped).config.depth == 1
    save_weights(wrapped, tmp_path / "w.npz")
    with pytest.warns(UserWarning) as caught:
        assert list(load_weights(tmp_path / "w.npz")) == list(state)
    assert [str(w.message) for w in caught] == [f"w.npz: {note}" for note in notes]
