"""convlab.models against torch re-implementations of the three layouts (tests/torch_unets.py).

The default run uses 2 or 4 base channels at the real spatial sizes (572
unpadded, 512 and odd sizes padded, batch 2); the full-width (64) networks run
under ``-m slow``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from convlab import ConvlabError
from convlab.models import JvanvugtUNet, MilesialUNet, UNet, UNetConfig, detect_layout, load_unet
from convlab.nn import StateDictError
from convlab.shapes import UNetSizeError, unet_sizes

torch = pytest.importorskip("torch")
from torch_unets import ConvlabLayout, JvanvugtLayout, MilesialLayout, randomise_norms  # noqa: E402

TOL = {np.float64: 1e-9, np.float32: 1e-4}


def _compare(reference, model, shape, dtype, seed=0):
    """Copy the torch weights into ``model``, run both on one input; returns (ours, torch's)."""
    randomise_norms(reference)
    model.load_state_dict(reference.state_dict())
    model.to(dtype)
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    reference = reference.double() if dtype == np.float64 else reference.float()
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    got = model(x)
    assert got.dtype == dtype
    assert got.shape == expected.shape == model.output_shape(shape)
    scale = np.abs(expected).max()
    assert scale > 0
    assert np.abs(got - expected).max() <= TOL[dtype] * scale
    return got, expected


CONVLAB_CASES = [
    # (config, input shape, dtype)
    (UNetConfig(width=4, batch_norm=True), (2, 1, 572, 572), np.float64),
    (UNetConfig(width=4), (2, 1, 572, 572), np.float32),
    # seed 003's network (3 -> 6 classes, padded, BatchNorm) at 4 base channels
    (
        UNetConfig(in_channels=3, classes=6, width=4, padding="same", batch_norm=True),
        (2, 3, 512, 512),
        np.float32,
    ),
    (UNetConfig(width=4, padding="same", up_mode="bilinear"), (2, 1, 512, 512), np.float64),
    (UNetConfig(width=4, padding="same", batch_norm=True, pooling="avg"), (2, 1, 501, 517), np.float64),
    (UNetConfig(width=2, depth=2, ndim=3, batch_norm=True), (2, 1, 44, 48, 52), np.float64),
    (
        UNetConfig(in_channels=2, width=2, depth=2, ndim=3, padding="same", up_mode="bilinear"),
        (2, 2, 19, 20, 21),
        np.float64,
    ),
    (
        UNetConfig(width=4, ndim=1, convs_per_level=3, kernel_size=5, up_mode="bilinear"),
        (2, 1, 612),
        np.float64,
    ),
]


@pytest.mark.parametrize(("config", "shape", "dtype"), CONVLAB_CASES)
def test_convlab_layout_equals_torch(config, shape, dtype):
    _compare(ConvlabLayout(config), UNet(config, seed=3), shape, dtype)


MILESIAL_CASES = [
    (dict(n_channels=3, n_classes=2), (2, 3, 512, 512), np.float64),
    (dict(n_channels=3, n_classes=4, bilinear=True), (2, 3, 501, 499), np.float64),
    (dict(n_channels=1, n_classes=2, conv_bias=True), (2, 1, 512, 512), np.float32),
]


@pytest.mark.parametrize(("kwargs", "shape", "dtype"), MILESIAL_CASES)
def test_milesial_layout_equals_torch(kwargs, shape, dtype):
    _compare(MilesialLayout(**kwargs, width=4), MilesialUNet(**kwargs, width=4), shape, dtype)


JVANVUGT_CASES = [
    (dict(wf=2), (2, 1, 572, 572), np.float64),
    (
        dict(wf=2, padding=True, batch_norm=True, up_mode="upsample", pooling="avg"),
        (2, 1, 501, 512),
        np.float64,
    ),
    (dict(wf=2, padding=True, batch_norm=True), (2, 1, 512, 512), np.float32),
]


@pytest.mark.parametrize(("kwargs", "shape", "dtype"), JVANVUGT_CASES)
def test_jvanvugt_layout_equals_torch(kwargs, shape, dtype):
    _compare(JvanvugtLayout(**kwargs), JvanvugtUNet(**kwargs), shape, dtype)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda: (ConvlabLayout(UNetConfig()), UNet(UNetConfig())), (2, 1, 572, 572)),
        (
            lambda: (ConvlabLayout(c := UNetConfig(3, 6, padding="same", batch_norm=True)), UNet(c)),
            (2, 3, 512, 512),
        ),
        (lambda: (MilesialLayout(3, 2), MilesialUNet(3, 2)), (2, 3, 512, 512)),
        (lambda: (MilesialLayout(3, 2, True), MilesialUNet(3, 2, True)), (2, 3, 333, 301)),
        (lambda: (JvanvugtLayout(), JvanvugtUNet()), (2, 1, 572, 572)),
        (lambda: (JvanvugtLayout(padding=True), JvanvugtUNet(padding=True)), (2, 1, 512, 512)),
    ],
)
def test_full_width_equals_torch(make, shape, dtype):
    _compare(*make(), shape, dtype)


def test_seed_003_shapes_at_full_width():
    # Seed 003: the padded U-Net with BatchNorm, 8 x 3 x 512 x 512 in, 6 classes out (shape only:
    # its real forward at batch 8 and width 64 takes minutes; the width-4 forward is compared above).
    config = UNetConfig(in_channels=3, classes=6, padding="same", batch_norm=True)
    net = UNet(config)
    rows = net.trace((8, 3, 512, 512))
    assert rows[-1].output_shape == (8, 6, 512, 512)
    assert (
        net.num_parameters == sum(p.numel() for p in ConvlabLayout(config).parameters()) == 31_037_958
    )  # as seed 003's own torch code counts
    assert sum(r.parameters for r in rows) == net.num_parameters
    assert [r.pad for r in rows if r.layer == "Concat"] == [((0, 0), (0, 0))] * 4


def test_paper_unet_trace():
    rows = {r.name: r for r in UNet().trace((1, 1, 572, 572))}
    assert rows["head"].output_shape == (1, 2, 388, 388)
    assert UNet().num_parameters == 31_030_658  # the paper's network, as torch counts it
    crop = rows["up0.merge"].crop
    assert (crop.start, crop.stop) == ((88, 88), (480, 480))
    assert rows["up0.merge"].output_shape == (1, 128, 392, 392)
    sizes = unet_sizes((572, 572))
    assert [rows[f"up{i}.merge"].crop for i in range(4)] == [lv.skip_crop for lv in sizes.levels[:4]]
    # 2 * MACs: the first conv is 64 filters of 3x3 over 570x570 outputs.
    assert rows["down0.conv1"].flops == 2 * 64 * 570 * 570 * 9
    assert rows["up3.upconv"].flops == 2 * 1024 * 28 * 28 * 512 * 4
    assert rows["down0.conv1"].activation_bytes == 64 * 570 * 570 * 4
    assert rows["down0.pool"].flops == 0


def test_trace_names_are_state_dict_prefixes():
    for net in (UNet(width=2, batch_norm=True), MilesialUNet(1, 2, True, width=2), JvanvugtUNet(wf=1)):
        keys = net.state_dict().keys()
        shape = (1, net.in_channels, 572, 572)
        with_params = [r.name for r in net.trace(shape) if r.parameters]
        assert {k.rsplit(".", 1)[0] for k in keys} >= set(with_params)
        assert {k.rsplit(".", 1)[0] for k in keys if not k.endswith(("running_mean", "running_var"))} >= set(
            with_params
        )
        assert sum(r.parameters for r in net.trace(shape)) == net.num_parameters


def test_padded_trace_pads_match_shapes():
    config = UNetConfig(width=2, padding="same")
    rows = [r for r in UNet(config).trace((1, 1, 101, 75)) if r.layer == "Concat"]
    levels = unet_sizes((101, 75), padding="same").levels
    assert [r.pad for r in rows] == [lv.skip_pad for lv in reversed(levels[:4])]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: MilesialLayout(3, 5, True, width=8, conv_bias=True), dict(bilinear=True, n_classes=5)),
        (lambda: MilesialLayout(1, 2, width=4), dict(bilinear=False, n_channels=1)),
        (lambda: JvanvugtLayout(2, 3, depth=3, wf=3, batch_norm=True, up_mode="upsample"), dict(depth=3)),
        (lambda: JvanvugtLayout(wf=1), dict(depth=5, up_mode="upconv")),
        (lambda: ConvlabLayout(UNetConfig(width=4, depth=2, batch_norm=True, up_mode="bilinear")), {}),
        (lambda: ConvlabLayout(UNetConfig(width=2, depth=0, ndim=3, convs_per_level=3, kernel_size=5)), {}),
    ],
)
def test_load_unet_infers_the_architecture(make, expected):
    reference = randomise_norms(make())
    state = reference.state_dict()
    net = load_unet(state)
    assert list(net.state_dict()) == list(state)
    for key, value in state.items():
        np.testing.assert_array_equal(net.state_dict()[key], value.numpy())
    for name, value in expected.items():
        assert getattr(net, name) == value
    if isinstance(reference, ConvlabLayout):
        assert net.config == reference.cfg


def test_load_unet_forward_and_wrappers():
    reference = randomise_norms(MilesialLayout(1, 2, width=2)).double()
    state = {f"module.{k}": v for k, v in reference.state_dict().items()}
    state["mask_values"] = [0, 255]
    net = load_unet(state)
    assert net.dtype == np.float64 and net.mask_values == [0, 255]
    x = np.random.default_rng(1).standard_normal((1, 1, 48, 40))
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(net(x), expected, rtol=0, atol=1e-12 * np.abs(expected).max())


def test_load_unet_config_overrides_and_errors():
    state = UNet(width=2, depth=2).state_dict()
    assert load_unet(state, padding="same", pooling="avg").config.padding == "same"
    assert load_unet(state, layout="convlab").config.depth == 2
    assert load_unet(JvanvugtUNet(wf=1, depth=2).state_dict(), padding=True).padding is True
    with pytest.raises(ConvlabError, match="cannot tell the U-Net layout"):
        load_unet({"encoder.weight": np.ones(2)})
    with pytest.raises(ConvlabError, match="layout must be"):
        load_unet(state, layout="keras")
    with pytest.raises(ConvlabError, match=r"no 'head.weight'"):
        load_unet({k: v for k, v in state.items() if not k.startswith("head")})
    with pytest.raises(ConvlabError, match="2\\*\\*wf channels"):
        load_unet({"down_path.0.block.0.weight": np.ones((6, 1, 3, 3)), "last.weight": np.ones((2, 6, 1, 1))})
    with pytest.raises(StateDictError, match="missing keys"):
        load_unet({k: v for k, v in state.items() if k != "up0.conv2.bias"})
    with pytest.raises(TypeError, match="mapping"):
        load_unet([1, 2])
    assert detect_layout(["down_path.0.block.0.weight"]) == "jvanvugt"


def test_valid_size_error_before_compute():
    # A 200000 x 200000 input exists only as a broadcast view: the error must come from the trace.
    huge = np.broadcast_to(np.float32(0), (1, 1, 200_001, 200_001))
    with pytest.raises(UNetSizeError, match=r"down0\.pool.*nearest valid input sizes") as info:
        UNet()(huge)
    assert info.value.layer == "down0.pool"
    with pytest.raises(UNetSizeError, match="572 \\(below\\) and 588 \\(above\\)"):
        UNet().trace((1, 1, 573, 572))


def test_input_shape_errors():
    with pytest.raises(ConvlabError, match=r"expects input of shape \(N, 3"):
        UNet(in_channels=3, width=2)(np.zeros((1, 1, 572, 572)))
    with pytest.raises(ConvlabError, match="expects input of shape"):
        UNet(width=2).trace((1, 572, 572))
    with pytest.raises(ConvlabError, match=r"at layer down4\.maxpool_conv\.0 \(MaxPool2d\)"):
        MilesialUNet(1, 2, width=2)(np.zeros((1, 1, 12, 12)))
    with pytest.raises(ConvlabError, match=r"at layer down_path\.4\.block\.0 \(Conv2d\)"):
        JvanvugtUNet(wf=1).trace((1, 1, 100, 100))
    with pytest.raises(ConvlabError, match="input_shape must be a tuple"):
        UNet(width=2).trace(572)


def test_unet_state_dict_layout_and_errors():
    net = UNet(width=2, depth=1, batch_norm=True, up_mode="bilinear")
    keys = list(net.state_dict())
    assert keys[:6] == [
        "down0.conv1.weight",
        "down0.norm1.weight",
        "down0.norm1.bias",
        "down0.norm1.running_mean",
        "down0.norm1.running_var",
        "down0.norm1.num_batches_tracked",
    ]
    assert "up0.reduce.weight" in keys and keys[-2:] == ["head.weight", "head.bias"]
    state = dict(net.state_dict())
    del state["bottom.conv2.weight"]
    state["bottom.conv9.weight"] = np.ones(3)
    state["up0.reduce.weight"] = np.ones((2, 4, 3, 3))
    with pytest.raises(StateDictError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "missing keys (1): bottom.conv2.weight" in message
    assert "unexpected keys (1): bottom.conv9.weight" in message
    assert "size mismatch for up0.reduce.weight in layer up0.reduce (Conv2d)" in message
    assert "expected shape (2, 4, 1, 1), found (2, 4, 3, 3)" in message


def test_seed_and_dtype():
    a, b, c = UNet(width=2, depth=1), UNet(width=2, depth=1), UNet(width=2, depth=1, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not np.array_equal(a.head.weight, c.head.weight)
    assert not np.array_equal(
        a.down0.conv1.weight[0], a.down0.conv2.weight[0, :1]
    )  # one generator, many draws
    assert UNet(width=2, depth=1, dtype=np.float64).dtype == np.float64
    assert a.dtype == np.float32 and a(np.zeros((1, 1, 20, 20))).dtype == np.float32


@pytest.mark.parametrize(
    ("field", "value", "error", "match"),
    [
        ("padding", "full", ConvlabError, "padding must be 'valid' or 'same', got padding='full'"),
        ("pooling", "min", ConvlabError, "pooling must be 'max' or 'avg'"),
        ("up_mode", "nearest", ConvlabError, "up_mode must be 'transpose' or 'bilinear'"),
        ("ndim", 4, ConvlabError, "ndim must be 1, 2 or 3"),
        ("depth", -1, ConvlabError, "depth must be non-negative"),
        ("width", 0, ConvlabError, "width must be positive"),
        ("classes", 2.0, TypeError, "classes must be an integer"),
        ("batch_norm", 1, TypeError, "batch_norm must be a bool"),
    ],
)
def test_config_validation(field, value, error, match):
    with pytest.raises(error, match=match):
        UNetConfig(**{field: value})


def test_config_is_frozen_and_overridable():
    config = UNetConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.width = 8  # type: ignore[misc]
    assert UNet(config, width=2).config.width == 2
    with pytest.raises(TypeError, match="config must be a UNetConfig"):
        UNet({"width": 2})


def test_foreign_constructor_errors():
    with pytest.raises(ConvlabError, match="up_mode must be 'upconv' or 'upsample'"):
        JvanvugtUNet(up_mode="transpose")
    with pytest.raises(ConvlabError, match="pooling must be 'max' or 'avg'"):
        JvanvugtUNet(pooling="lp")
    with pytest.raises(ConvlabError, match="n_channels must be positive"):
        MilesialUNet(0, 2)
