"""Post-training quantisation of U-Nets: calibration values, the integer run against naive references,
the ONNX export bit-equal in onnxruntime, and the error branches."""

import numpy as np
import pytest

import convlab.functional as F
from convlab import ConvlabError
from convlab.data import demo_unet, synthetic_cells
from convlab.models import JvanvugtUNet, MilesialUNet, UNet
from convlab.quant import (
    RangeObserver,
    activation_qparams,
    onnx_model,
    quantize_unet,
    weight_qparams,
)

ort = pytest.importorskip("onnxruntime")


# ------------------------------------------------ naive references (independent of convlab.quant)
def requant(acc, bias, xs, ws, ys, yz):
    """ONNX QLinearConv's output rule as onnxruntime computes it: float32 scale, float32 product, rint."""
    scale = (np.float32(xs) * ws.astype(np.float32)).astype(np.float32) / np.float32(ys)
    shape = (1, -1) + (1,) * (acc.ndim - 2)
    total = (acc + (0 if bias is None else bias.astype(np.int64).reshape(shape))).astype(np.float32)
    y = np.rint(total * scale.astype(np.float32).reshape(shape)) + int(yz)
    return np.clip(y, 0, 255).astype(np.uint8)


def naive_conv(x, xz, w, pads, stride):
    """Integer cross-correlation of ``x - xz`` (padding is the zero point) with int8 weights, in int64."""
    (t, b), (left, r) = pads
    xp = np.pad(x.astype(np.int64) - int(xz), ((0, 0), (0, 0), (t, b), (left, r)))
    co, _, kh, kw = w.shape
    oh = (xp.shape[2] - kh) // stride[0] + 1
    ow = (xp.shape[3] - kw) // stride[1] + 1
    acc = np.zeros((x.shape[0], co, oh, ow), np.int64)
    for u in range(kh):
        for v in range(kw):
            patch = xp[:, :, u : u + stride[0] * oh : stride[0], v : v + stride[1] * ow : stride[1]]
            acc += np.einsum("ncij,oc->noij", patch, w[:, :, u, v].astype(np.int64))
    return acc


def naive_upconv(x, xz, w, s):
    """Transposed conv with kernel == stride: each output pixel gets one tap per input channel."""
    n, _, h, wd = x.shape
    acc = np.zeros((n, w.shape[1], h * s, wd * s), np.int64)
    for u in range(s):
        for v in range(s):
            acc[:, :, u::s, v::s] = np.einsum("ncij,co->noij", x.astype(np.int64) - int(xz), w[:, :, u, v])
    return acc


def requant_codes(x, xs, xz, ys, yz):
    """DequantizeLinear then QuantizeLinear in float32 (QLinearConcat on a part of another scale)."""
    real = (x.astype(np.int32) - int(xz)).astype(np.float32) * np.float32(xs)
    return np.clip(np.rint(real / np.float32(ys)) + int(yz), 0, 255).astype(np.uint8)


def naive_layer(layer, rule, skip_first=True):
    x, xs, xz = layer.x, layer.x_scale, layer.x_zero_point
    a = layer.attrs
    if layer.op == "conv":
        acc = naive_conv(x[0], xz[0], layer.w, a["padding"], a["stride"])
        return requant(acc, layer.bias, xs[0], layer.w_scale, layer.y_scale, layer.y_zero_point)
    if layer.op == "conv_transpose":
        acc = naive_upconv(x[0], xz[0], layer.w, a["stride"][0])
        return requant(acc, layer.bias, xs[0], layer.w_scale, layer.y_scale, layer.y_zero_point)
    if layer.op == "max_pool":
        n, c, h, w = x[0].shape
        k = a["kernel"]
        return x[0][:, :, : h // k * k, : w // k * k].reshape(n, c, h // k, k, w // k, k).max(axis=(3, 5))
    skip, up = x
    dh, dw = skip.shape[2] - up.shape[2], skip.shape[3] - up.shape[3]
    if rule in ("center", "floor"):  # torchvision's center_crop; jvanvugt's (n - t) // 2 slice
        top, left = (round(dh / 2.0), round(dw / 2.0)) if rule == "center" else (dh // 2, dw // 2)
        skip = skip[:, :, top : top + up.shape[2], left : left + up.shape[3]]
    else:
        pads = ((0, 0), (0, 0), (dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2))
        up = np.pad(up, pads, constant_values=int(xz[1]))
    parts = [requant_codes(p, s, z, layer.y_scale, layer.y_zero_point) for p, s, z in zip((skip, up), xs, xz)]
    return np.concatenate(parts if skip_first else parts[::-1], axis=1)


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def demo():
    images = [synthetic_cells(188, seed=s)[0][None, None] for s in (1, 2)]
    model = demo_unet()
    return model, quantize_unet(model, images), synthetic_cells(188, seed=7)[0][None, None]


def small_bn_net():
    return UNet(width=4, depth=2, padding="same", batch_norm=True, seed=3)


# ---------------------------------------------------------------- calibration on known data
def test_minmax_range_over_images():
    obs = RangeObserver("minmax")
    obs.update(np.array([-1.0, 2.0]))
    obs.update(np.array([0.5, 3.0]))
    assert obs.range() == (-1.0, 3.0)


def test_percentile_range_is_mean_of_per_image_percentiles():
    obs = RangeObserver("percentile", 99.0)
    obs.update(np.arange(101.0))  # percentiles 1 and 99
    obs.update(np.arange(101.0) * 3)  # 3 and 297
    assert obs.range() == (2.0, 198.0)


def test_activation_qparams_values():
    assert activation_qparams(0.0, 2.55) == (np.float32(0.01), 0)
    scale, zero = activation_qparams(-1.0, 1.0)
    # the zero point is rounded against the float32 scale: 1 / float32(2/255) = 127.49999 -> 127
    assert scale == np.float32(2 / 255) and zero == 127
    assert activation_qparams(0.5, 2.0)[1] == 0  # the range is widened to hold 0
    assert activation_qparams(0.0, 0.0) == (np.float32(1.0), 0)


def test_weight_qparams_per_output_channel():
    w = np.array([[[[0.5, -1.27]]], [[[0.0, 0.0]]], [[[0.02, 0.005]]]], np.float32)
    codes, scale = weight_qparams(w, axis=0)
    assert scale.tolist() == [np.float32(0.01), 1.0, np.float32(0.02 / 127)]
    assert codes[:, 0, 0].tolist() == [[50, -127], [0, 0], [127, 32]]  # 0.005 / (0.02/127) = 31.75
    assert codes.dtype == np.int8


def test_calibrated_scales_are_what_the_float_net_shows(demo):
    _, qnet, _ = demo
    images = [synthetic_cells(188, seed=s)[0][None, None] for s in (1, 2)]
    lo = min(float(i.min()) for i in images)
    hi = max(float(i.max()) for i in images)
    assert qnet.qparams[0] == activation_qparams(lo, hi)
    # every conv followed by a ReLU has zero point 0: saturation at code 0 is the ReLU
    for q in qnet.qnodes:
        if q.node.relu:
            assert qnet.qparams[q.node.dst][1] == 0


# ---------------------------------------------------------------- integer run vs naive references
@pytest.mark.parametrize("which", ["demo", "bn_same_odd"])
def test_every_layer_equals_the_naive_integer_reference(demo, which):
    if which == "demo":
        _, qnet, x = demo
    else:
        rng = np.random.default_rng(4)
        qnet = quantize_unet(small_bn_net(), [rng.random((2, 1, 30, 30)) * 2 - 0.5])
        x = rng.random((2, 1, 30, 30)) * 2 - 0.5  # 30 -> 15 -> 7: the 'pad' merge pads 14 to 15
    codes, layers = qnet.run(x, record=True)
    assert [q.node.name for q in qnet.qnodes] == [layer.name for layer in layers]
    rule = qnet.merge.rule
    for layer in layers:
        np.testing.assert_array_equal(naive_layer(layer, rule), layer.y, err_msg=layer.name)
    # and chained: each layer's inputs are exactly the earlier layers' outputs
    for q, layer in zip(qnet.qnodes, layers):
        for t, xin in zip(q.node.src, layer.x):
            if t:
                np.testing.assert_array_equal(layers[t - 1].y, xin)
    np.testing.assert_array_equal(codes, layers[-1].y)


def test_dequantize_float_quantize_reference(demo):
    """DQ -> float64 op -> Q: pooling equal; conv within 1 code (the float32 requantisation rounds)."""
    _, qnet, x = demo
    _, layers = qnet.run(x, record=True)
    for layer in layers:
        real = [
            (xi.astype(np.float64) - int(z)) * float(s)
            for xi, s, z in zip(layer.x, layer.x_scale, layer.x_zero_point)
        ]
        if layer.op == "conv":
            w = layer.w.astype(np.float64) * layer.w_scale.astype(np.float64)[:, None, None, None]
            b = (
                layer.bias.astype(np.float64)
                * np.float32(layer.x_scale[0])
                * layer.w_scale.astype(np.float32)
            )
            y = F.conv2d(real[0], w, b.astype(np.float64), layer.attrs["stride"], layer.attrs["padding"])
            q = np.clip(np.rint(y / float(layer.y_scale)) + int(layer.y_zero_point), 0, 255)
            diff = np.abs(q - layer.y.astype(np.int64))
            assert diff.max() <= 1, layer.name
            assert np.mean(diff) < 0.01, layer.name
        elif layer.op == "max_pool":
            pooled = naive_layer(layer, qnet.merge.rule)
            np.testing.assert_array_equal(pooled, layer.y)


def test_integer_output_tracks_the_float_net(demo):
    model, qnet, x = demo
    floats = model(x)
    ints = qnet(x)
    assert np.abs(ints - floats).max() < 0.1 * np.abs(floats).max()
    assert (ints.argmax(1) == floats.argmax(1)).mean() > 0.99


def test_layer_record_types(demo):
    _, qnet, x = demo
    _, layers = qnet.run(x[:, :, :188, :188], record=True)
    conv = layers[0]
    assert conv.op == "conv" and conv.w.dtype == np.int8 and conv.bias.dtype == np.int32
    assert conv.y.dtype == np.uint8 and conv.x[0].dtype == np.uint8 and conv.attrs["relu"]
    assert [layer.op for layer in layers].count("concat") == 2
    assert qnet.run(x)[1] == []


# ---------------------------------------------------------------- ONNX export, bit-equal in onnxruntime
def _session(model, level):
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


LEVELS = [ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_ALL]


@pytest.mark.parametrize("level", LEVELS, ids=["disable_all", "enable_all"])
def test_export_bit_equal_demo(demo, level):
    _, qnet, x = demo
    codes, _ = qnet.run(x)
    got_codes, got_logits = _session(onnx_model(qnet, x.shape), level).run(
        None, {"input": x.astype(np.float32)}
    )
    np.testing.assert_array_equal(got_codes, codes)
    np.testing.assert_array_equal(got_logits, qnet(x))


@pytest.mark.parametrize("level", LEVELS, ids=["disable_all", "enable_all"])
@pytest.mark.parametrize("method", ["minmax", "percentile"])
def test_export_bit_equal_bn_pad_merge(level, method):
    rng = np.random.default_rng(11)
    qnet = quantize_unet(small_bn_net(), [rng.normal(size=(1, 1, 30, 30))], method=method, percentile=99.0)
    x = rng.normal(size=(2, 1, 30, 30)).astype(np.float32) * 1.5  # beyond the calibration range: saturates
    got, _ = _session(onnx_model(qnet, x.shape), level).run(None, {"input": x})
    np.testing.assert_array_equal(got, qnet.run(x)[0])


QDQ_FUSED = [ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, ort.GraphOptimizationLevel.ORT_ENABLE_ALL]


@pytest.mark.parametrize("level", QDQ_FUSED, ids=["extended", "all"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_qdq_form_bit_equal_once_onnxruntime_fuses_it(level, seed):
    """DQ -> Conv -> Q becomes QLinearConv at ORT_ENABLE_EXTENDED: then every code equals convlab's."""
    rng = np.random.default_rng(seed)
    net = UNet(
        width=3 + seed, depth=2, padding=("same", "valid", "same")[seed], batch_norm=seed == 2, seed=seed
    )
    shape = (2, 1, 30, 30) if seed != 1 else (1, 1, 44, 44)
    qnet = quantize_unet(net, [rng.normal(size=shape)])
    x = (rng.normal(size=shape) * 1.3).astype(np.float32)
    model = onnx_model(qnet, shape, form="qdq")
    assert {"Conv", "Concat", "MaxPool"} <= {n.op_type for n in model.graph.node}
    got = _session(model, level).run(["codes"], {"input": x})[0]
    np.testing.assert_array_equal(got, qnet.run(x)[0])


LAYOUT_NETS = {
    "milesial-bn-odd": (lambda: MilesialUNet(1, 2, width=4, seed=1), (1, 1, 37, 37)),  # pad merge, BN folded
    "jvanvugt-valid": (
        lambda: JvanvugtUNet(depth=2, wf=2, padding=False, seed=2),
        (1, 1, 44, 44),
    ),  # floor crop
}


@pytest.mark.parametrize("which", sorted(LAYOUT_NETS))
def test_other_layouts_naive_and_bit_equal(which):
    build, shape = LAYOUT_NETS[which]
    rng = np.random.default_rng(8)
    net = build()
    qnet = quantize_unet(net, [rng.normal(size=shape)])
    x = rng.normal(size=shape).astype(np.float32)
    codes, layers = qnet.run(x, record=True)
    merge = (qnet.merge.rule, qnet.merge.skip_first)
    for layer in layers:
        np.testing.assert_array_equal(naive_layer(layer, *merge), layer.y, err_msg=layer.name)
    for form in ("qoperator", "qdq"):
        got = _session(onnx_model(qnet, shape, form=form), LEVELS[1]).run(["codes"], {"input": x})[0]
        np.testing.assert_array_equal(got, codes)


def test_export_file_round_trip(tmp_path):
    from convlab.quant import export_onnx

    net = UNet(width=2, depth=1, padding="same", seed=5)
    qnet = quantize_unet(net, [np.linspace(-1, 1, 64).reshape(1, 1, 8, 8)])
    path = tmp_path / "u.onnx"
    export_onnx(qnet, path, (1, 1, 8, 8))
    x = np.linspace(1, -1, 64, dtype=np.float32).reshape(1, 1, 8, 8)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["codes"], {"input": x})[0]
    np.testing.assert_array_equal(got, qnet.run(x)[0])


# ---------------------------------------------------------------- error branches
def test_bad_calibration_arguments():
    net = UNet(width=2, depth=1, padding="same")
    img = [np.zeros((1, 1, 8, 8))]
    with pytest.raises(ConvlabError, match="method must be one of"):
        quantize_unet(net, img, method="kl")
    with pytest.raises(ConvlabError, match="percentile must be a number in"):
        quantize_unet(net, img, method="percentile", percentile=20)
    with pytest.raises(ConvlabError, match="at least one calibration image"):
        quantize_unet(net, [])
    with pytest.raises(ConvlabError, match=r"images\[0\] must have shape \(N, 1"):
        quantize_unet(net, [np.zeros((1, 3, 8, 8))])
    with pytest.raises(ConvlabError, match="finite"):
        quantize_unet(net, [np.full((1, 1, 8, 8), np.nan)])


def test_layers_without_an_integer_form_are_named():
    with pytest.raises(ConvlabError, match=r"up1\.upsample: Upsample has no integer form"):
        quantize_unet(UNet(width=2, depth=2, padding="same", up_mode="bilinear"), [np.zeros((1, 1, 8, 8))])
    with pytest.raises(ConvlabError, match="AvgPool2d has no integer form"):
        quantize_unet(UNet(width=2, depth=1, padding="same", pooling="avg"), [np.zeros((1, 1, 8, 8))])
    with pytest.raises(
        ConvlabError, match=r"down_path\.0\.block\.2: a BatchNorm is folded only directly after"
    ):
        quantize_unet(JvanvugtUNet(depth=2, wf=2, padding=True, batch_norm=True), [np.zeros((1, 1, 16, 16))])
    with pytest.raises(ConvlabError, match="model must be a convlab U-Net"):
        quantize_unet(object(), [np.zeros((1, 1, 8, 8))])


def test_a_forward_doing_more_than_its_children_is_refused():
    net = MilesialUNet(1, 2, width=2, seed=0)
    conv = net.outc.conv
    object.__setattr__(net.outc, "forward", lambda x: conv(x) * 2.0)  # the walk cannot see this
    with pytest.raises(ConvlabError, match="do not compute what its forward computes"):
        quantize_unet(net, [np.random.default_rng(0).normal(size=(1, 1, 16, 16))])


def test_run_and_export_refuse_bad_shapes():
    qnet = quantize_unet(UNet(width=2, depth=1, padding="same"), [np.zeros((1, 1, 8, 8))])
    with pytest.raises(ConvlabError, match=r"x must have shape \(N, 1"):
        qnet.run(np.zeros((1, 2, 8, 8)))
    with pytest.raises(ConvlabError, match=r"input_shape must be \(N, 1, H, W\)"):
        onnx_model(qnet, (1, 1, 8))
    with pytest.raises(ConvlabError, match="form must be one of"):
        onnx_model(qnet, (1, 1, 8, 8), form="qdq2")
    with pytest.raises(ConvlabError, match="too small for layer"):
        onnx_model(qnet, (1, 1, 1, 1))
    q3 = quantize_unet(UNet(width=1, depth=1, padding="same", ndim=3), [np.zeros((1, 1, 4, 4, 4))])
    with pytest.raises(ConvlabError, match="of a 2-D U-Net"):
        onnx_model(q3, (1, 1, 4, 4, 4))
