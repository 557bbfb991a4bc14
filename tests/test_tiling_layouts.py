"""Overlap-tile inference of every layout, and of any object with a size contract, against whole-image passes.

The oracle is written here from the contract's definition, not from
tiling's code: mirror the image by ``lo + P`` before (``P`` the halo), run
the model once on the mirrored image extended to a valid size, and crop
``n`` output pixels from ``P``. With ``P = 0`` (unpadded networks) this is
:func:`convlab.tiling.predict`; with the halo it is what every tile sees,
mirrored pixels at the image's border included, so tiled and whole agree
everywhere, not just in the interior.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from convlab import ConvlabError
from convlab.models import JvanvugtUNet, MilesialUNet, UNet
from convlab.shapes import SizeContract
from convlab.tiling import predict, predict_tiled, size_contract_of


def mirrored_whole(model, image: np.ndarray) -> np.ndarray:
    """The model once over the image mirrored by its margin and halo, cropped back to the image."""
    c = model.size_contract
    pads, crop = [], []
    for d, n in enumerate(image.shape[1:]):
        (lo, hi), halo, grid = c.margin[d], c.halo[d], np.lcm(c.step[d], c.alignment[d])
        size = n + lo + hi + 2 * halo
        size = max(size, c.smallest[d])
        size += (-(size - c.smallest[d])) % grid
        pads.append((lo + halo, size - n - lo - halo))
        crop.append(slice(halo, halo + n))
    padded = np.pad(image, ((0, 0), *pads), mode="reflect")
    return model(padded[np.newaxis])[0][(slice(None), *crop)]


LAYOUTS = {
    # name: (model, image shape (C, H, W), tile)
    "jvanvugt-valid": (
        lambda: JvanvugtUNet(3, 2, depth=3, wf=1, seed=1, dtype=np.float64),
        (3, 301, 77),
        None,
    ),
    "jvanvugt-valid-narrow": (
        lambda: JvanvugtUNet(3, 2, depth=3, wf=1, seed=1, dtype=np.float64),
        (3, 101, 77),
        60,
    ),
    "jvanvugt-padded": (
        lambda: JvanvugtUNet(2, 3, depth=3, wf=1, padding=True, seed=2, dtype=np.float64),
        (2, 97, 83),
        64,
    ),
    "jvanvugt-upsample": (
        lambda: JvanvugtUNet(
            2, 2, depth=3, wf=1, up_mode="upsample", batch_norm=True, seed=3, dtype=np.float64
        ),
        (2, 101, 69),
        76,
    ),
    "milesial": (lambda: MilesialUNet(3, 2, width=1, seed=4, dtype=np.float64), (3, 70, 45), 240),
    "convlab-same-3d": (
        lambda: UNet(width=1, depth=1, ndim=3, padding="same", in_channels=2, seed=5, dtype=np.float64),
        (2, 19, 23, 17),
        24,
    ),
}


@pytest.fixture(scope="module")
def models():
    return {name: make() for name, (make, _, _) in LAYOUTS.items()}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_tiles_equal_the_mirrored_whole_image(models, name):
    model, (_, shape, tile) = models[name], LAYOUTS[name]
    image = np.random.default_rng(len(name)).standard_normal(shape)
    tiled = predict_tiled(model, image, tile)
    expected = mirrored_whole(model, image)
    assert tiled.shape == expected.shape == (model_classes(model), *shape[1:])
    assert np.prod(_counts(model, shape, tile)) > 1
    if sum(model.size_contract.halo) == 0 and tile is None:
        # Unpadded, default-size tiles: every conv of a window is lowered as the whole image's,
        # so each output is the same sum in the same order.
        np.testing.assert_array_equal(tiled, expected)
        np.testing.assert_array_equal(tiled, predict(model, image)[0])
    else:
        np.testing.assert_allclose(tiled, expected, rtol=0, atol=1e-13 * np.abs(expected).max())


def model_classes(model) -> int:
    return getattr(model, "n_classes", None) or model.config.classes


def _counts(model, shape, tile):
    from convlab.tiling import plan_tiles

    return plan_tiles(model, shape[1:], tile).counts


def test_padded_interior_equals_the_plain_whole_image_pass(models):
    # Away from the border by more than the halo, tiles equal the model on the image itself (zero-padded).
    model = models["milesial"]
    image = np.random.default_rng(7).standard_normal((3, 224, 240))
    whole = model(image[np.newaxis])[0]
    tiled = predict_tiled(model, image, 240)
    h = model.size_contract.halo[0]
    inner = (slice(None), slice(h, -h), slice(h, -h))
    np.testing.assert_array_equal(tiled[inner], whole[inner])


def test_interpolation_by_size_is_flagged_inexact():
    model = MilesialUNet(1, 2, bilinear=True, width=1)
    assert model.size_contract.exact is False
    assert UNet(width=1, depth=1, up_mode="bilinear").size_contract.exact is False
    assert JvanvugtUNet(depth=2, wf=0, up_mode="upsample").size_contract.exact is True


class Bare:
    """Any model: a size contract and __call__, no config, no in_channels."""

    def __init__(self, model, contract=None):
        self.model, self.size_contract = model, contract or model.size_contract

    def __call__(self, x):
        return self.model(x)


def test_any_object_with_a_contract_tiles_the_same(models):
    model = models["jvanvugt-padded"]
    image = np.random.default_rng(8).standard_normal((2, 97, 83))
    np.testing.assert_array_equal(predict_tiled(Bare(model), image, 64), predict_tiled(model, image, 64))
    assert size_contract_of(Bare(model)) is model.size_contract


def test_the_cli_scaling_wrapper_passes_on_a_bare_model(models):
    from convlab.cli._tiled import ScaledModel

    model = models["jvanvugt-padded"]
    image = np.random.default_rng(12).integers(0, 256, (2, 70, 66)).astype(np.float64)
    scaled = ScaledModel(Bare(model), 0.0, 1 / 255)
    assert scaled.in_channels is None and scaled.size_contract is model.size_contract
    np.testing.assert_array_equal(
        predict_tiled(scaled, image, 56), predict_tiled(model, image * (1 / 255), 56)
    )


def test_a_contract_that_lies_is_caught_at_the_first_tile(models):
    model = models["jvanvugt-valid"]
    c = model.size_contract
    wrong = SizeContract(c.smallest, c.step, ((10, 10), (10, 10)), c.alignment, c.halo)
    with pytest.raises(ConvlabError, match=r"promises spatial size .*does model\.size_contract describe"):
        predict_tiled(Bare(model, wrong), np.zeros((3, 60, 60)))
    with pytest.raises(TypeError, match=r"size_contract must be a convlab\.shapes\.SizeContract"):
        predict_tiled(Bare(model, "188"), np.zeros((3, 60, 60)))


def test_channels_come_from_the_first_tile_into_files(tmp_path, models):
    model = models["jvanvugt-padded"]
    image = np.random.default_rng(9).standard_normal((2, 70, 66))
    expected = predict_tiled(model, image, 56)
    out = predict_tiled(Bare(model), image, 56, out=tmp_path / "o.npy")
    np.testing.assert_array_equal(np.load(out), expected)
    labels = predict_tiled(Bare(model), image, 56, out=tmp_path / "l.npy", labels=True)
    np.testing.assert_array_equal(np.load(labels), expected.argmax(axis=0))
    assert sorted(os.listdir(tmp_path)) == ["l.npy", "o.npy"]


def test_image_rank_must_match_the_model(models):
    with pytest.raises(ConvlabError, match=r"image must have shape \(2, H, W\)"):
        predict_tiled(models["jvanvugt-padded"], np.zeros((2, 8, 8, 8)))
    with pytest.raises(ConvlabError, match=r"image must have shape \(C, H, W\) or \(H, W\)"):
        predict_tiled(Bare(models["jvanvugt-padded"]), np.zeros((2, 2, 8, 8)))


def test_whole_image_refuses_what_a_padded_model_cannot_take(models):
    from convlab.shapes import UNetSizeError

    with pytest.raises(UNetSizeError, match=r"img of size 12x40: .*nearest valid input sizes: 16 \(above\)"):
        predict(models["milesial"], np.zeros((3, 12, 40)), what="img")
    # jvanvugt's padded net takes multiples of 2**(depth-1) only: mirrored up to the next, cropped back.
    out, given = predict(models["jvanvugt-padded"], np.ones((2, 9, 13)))
    assert out.shape == (3, 9, 13) and given == (12, 16)


# --- on a Dask cluster ---------------------------------------------------------------


def test_every_layout_on_a_dask_cluster_equals_in_process(models):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None, silence_logs=40
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        for name in ("jvanvugt-valid-narrow", "jvanvugt-upsample", "milesial"):
            model, (_, shape, tile) = models[name], LAYOUTS[name]
            image = np.random.default_rng(11).standard_normal(shape)
            expected = predict_tiled(model, image, tile)
            np.testing.assert_array_equal(predict_tiled(model, image, tile, scheduler=client), expected)
            np.testing.assert_array_equal(predict_tiled(Bare(model), image, tile, scheduler=client), expected)


# --- error branches of planning from a contract ----------------------------------------


def test_planning_errors_name_the_contract():
    from convlab.tiling import plan_tiles

    odd = SizeContract((12, 12), (6, 6), ((0, 0), (0, 0)), (6, 6), (6, 6))
    with pytest.raises(ConvlabError, match=r"halo must be a multiple of the total stride 6, got halo=4"):
        plan_tiles(odd, (50, 50), halo=4)
    with pytest.raises(ConvlabError, match=r"tile must be a multiple of the total stride 6 .*try 36 or 42"):
        plan_tiles(odd, (50, 50), tile=40)
    skewed = SizeContract((12, 16), (6, 16), ((0, 0), (0, 0)), (6, 16), (6, 16))
    with pytest.raises(ConvlabError, match=r"image size must have 2 entries .*got \(50,\)"):
        plan_tiles(skewed, (50,))
    # One uniform contract plans an image of any rank.
    assert plan_tiles(odd, (50,), tile=36).window == (36,)
    with pytest.raises(TypeError, match="tile must be an int or 2 ints"):
        plan_tiles(odd, (50, 50), tile=36.0)


def test_output_errors_come_before_any_tile(tmp_path, models):
    model = Bare(models["jvanvugt-padded"])
    with pytest.raises(TypeError, match="out must be None, a path or an array, got int"):
        predict_tiled(model, np.zeros((2, 40, 40)), out=5)
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(ConvlabError, match=r"is a directory"):
        predict_tiled(model, np.zeros((2, 40, 40)), out=tmp_path / "d.npy")


def test_a_plan_no_size_goes_through_is_refused():
    from convlab import nn as cnn
    from convlab.models._contract import plan_contract
    from convlab.models._encoder_decoder import Merge, Plan

    # Up-sampling x3 after a x2 pool: the up-sampled features never fit the skip.
    plan = Plan(
        [[("c", cnn.Conv1d(1, 1, 1))], [("p", cnn.MaxPool1d(2))]],
        [([("u", cnn.Upsample(scale_factor=3))], "m", [])],
        [],
        Merge("center", skip_first=True),
    )
    with pytest.raises(ConvlabError, match="no input size below 16384 goes through this network"):
        plan_contract(plan, 1)
