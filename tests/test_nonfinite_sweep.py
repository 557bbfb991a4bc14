"""NaN and +-inf inputs propagate silently, as PyTorch and onnxruntime propagate them, with their values.

Every public functional operator, every lowering, and every ONNX operator convlab
runs on floats is fed arrays holding NaN, +inf and -inf with NumPy's warnings
turned into errors; the values are compared with torch (functional) and
onnxruntime (ONNX) on the non-finite pattern exactly and on the finite values
to rounding. Winograd's slabs run on the pool: silent only if pool threads see
the caller's errstate (a contextvar).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import convlab.functional as F
import convlab.lowering as L

KINDS = ("nan", "inf", "-inf", "mixed")


def poisoned(shape, kind, seed=0, dtype=np.float32):
    """Normal values with every third (mixed: a pattern of all three) replaced by a non-finite."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    if kind == "mixed":
        flat[0::4], flat[1::4], flat[2::5] = np.inf, -np.inf, np.nan
    else:
        flat[::3] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[kind]
    return x


def silent(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with every warning an error (so none can escape unnoticed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


def assert_same_values(ours, theirs, rtol=1e-5):
    """The same NaN, +inf and -inf positions; the finite values equal to rounding."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_array_equal(np.isposinf(ours), np.isposinf(theirs))
    np.testing.assert_array_equal(np.isneginf(ours), np.isneginf(theirs))
    finite = np.isfinite(theirs)
    scale = max(1.0, float(np.abs(theirs[finite]).max(initial=0.0)))
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=rtol, atol=rtol * scale)


def _t(torch, a):
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a))


# ---------------------------------------------------------------- functional


def _functional_cases(nd, kind, channels):
    """(name, convlab call, torch call) triples on one poisoned input of ``channels`` channels."""
    size = 9 if nd < 3 else 6
    x = poisoned((2, channels, *(size,) * nd), kind, seed=nd)
    w = np.random.default_rng(1).standard_normal((8, channels, *(3,) * nd)).astype(np.float32)
    wt = np.random.default_rng(2).standard_normal((channels, 8, *(3,) * nd)).astype(np.float32)
    b = np.arange(8, dtype=np.float32)
    mean, var = (
        np.linspace(-1, 1, channels, dtype=np.float32),
        np.linspace(0.5, 2, channels, dtype=np.float32),
    )
    linear = {1: "linear", 2: "bilinear", 3: "trilinear"}[nd]
    c = f"conv{nd}d"
    ct, mp, ap = f"conv_transpose{nd}d", f"max_pool{nd}d", f"avg_pool{nd}d"
    return [
        (c, lambda G: getattr(G, c)(x, w, b, padding=1), None),
        (c + " stride/dilation", lambda G: getattr(G, c)(x, w, stride=2, padding=2, dilation=2), None),
        (c + " 1x1", lambda G: getattr(G, c)(x, w[(Ellipsis, *(slice(0, 1),) * nd)].copy()), None),
        (c + " groups", lambda G: getattr(G, c)(x, w[:, : channels // 2].copy(), groups=2, padding=1), None),
        (ct, lambda G: getattr(G, ct)(x, wt, b, stride=2, padding=1, output_padding=1), None),
        (ct + " stride 1", lambda G: getattr(G, ct)(x, wt, padding=1), None),
        (mp, lambda G: getattr(G, mp)(x, 3, stride=2, padding=1, ceil_mode=True), None),
        (mp + " indices", lambda G: getattr(G, mp)(x, 2, return_indices=True)[0], None),
        (ap, lambda G: getattr(G, ap)(x, 3, stride=2, padding=1, count_include_pad=False), None),
        (ap + " ceil", lambda G: getattr(G, ap)(x, 2, ceil_mode=True), None),
        ("batch_norm", lambda G: G.batch_norm(x, mean, var, var, mean, eps=1e-5), None),
        ("relu", lambda G: G.relu(x), None),
        ("pad reflect", lambda G: G.pad(x, [1, 2] * nd, mode="reflect"), None),
        ("pad constant", lambda G: G.pad(x, [1, 2] * nd, value=0.5), None),
        ("interpolate nearest", lambda G: G.interpolate(x, scale_factor=2, mode="nearest"), None),
        (linear, lambda G: G.interpolate(x, scale_factor=2, mode=linear, align_corners=False), None),
        (linear + " down", lambda G: G.interpolate(x, size=(4,) * nd, mode=linear, align_corners=True), None),
    ]


def _torch_namespace(torch, kind):
    """torch.nn.functional with numpy in and out, for the cases' lambdas."""
    tf = torch.nn.functional

    class Torch:
        def __getattr__(self, name):
            fn = getattr(tf, name)

            def call(*args, **kwargs):
                args = [_t(torch, a) if isinstance(a, np.ndarray) else a for a in args]
                kwargs = {k: _t(torch, v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
                if name == "batch_norm":  # torch's order: input, mean, var, weight, bias
                    return fn(*args, training=False, **kwargs).numpy()
                out = fn(*args, **kwargs)
                return tuple(o.numpy() for o in out) if isinstance(out, tuple) else out.numpy()

            return call

    return Torch()


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("channels", [4, 24])
def test_functional_operators_propagate_nonfinite_values_as_torch_without_warnings(torch, nd, kind, channels):
    # 4 channels take the im2col route, 24 the per-tap (wide) and 1x1 (direct) routes.
    tns = _torch_namespace(torch, kind)
    for name, ours, _ in _functional_cases(nd, kind, channels):
        got = silent(ours, F)
        assert_same_values(got, ours(tns)), name


@pytest.mark.parametrize("kind", KINDS)
def test_winograd_and_every_lowering_propagate_nonfinite_values_without_warnings(torch, kind):
    x = poisoned((1, 4, 7, 7), kind)
    w = np.random.default_rng(1).standard_normal((3, 4, 3, 3)).astype(np.float32)
    wt = np.random.default_rng(2).standard_normal((4, 3, 3, 3)).astype(np.float32)
    conv = torch.nn.functional.conv2d(_t(torch, x), _t(torch, w), padding=1).numpy()
    convt = torch.nn.functional.conv_transpose2d(_t(torch, x), _t(torch, wt), stride=2).numpy()
    for name, got in (
        ("winograd", silent(F.conv2d, x, w, padding=1, algorithm="winograd")),
        ("conv_by_winograd", silent(L.conv_by_winograd, x, w, padding=1)),
        ("conv_by_unfold", silent(L.conv_by_unfold, x, w, padding=1)),
        ("conv_by_matrix", silent(L.conv_by_matrix, x, w, padding=1)),
    ):
        if name == "conv_by_winograd":
            # The lowering shows Winograd's own arithmetic: its transforms mix an inf
            # with its neighbours (inf - inf = NaN), so only "non-finite where torch is" holds.
            np.testing.assert_array_equal(np.isfinite(got), np.isfinite(conv))
            continue
        assert_same_values(got, conv), name
    for name, fn in (
        ("scatter", L.conv_transpose_by_scatter),
        ("zero insertion", L.conv_transpose_by_zero_insertion),
        ("phases", L.conv_transpose_by_phases),
        ("matrix", L.conv_transpose_by_matrix),
    ):
        assert_same_values(silent(fn, x, wt, stride=2), convt), name


def test_unfold_and_fold_carry_nonfinite_values_without_warnings(torch):
    x = poisoned((2, 3, 6, 6), "mixed")
    cols = silent(F.unfold, x, 2, padding=1)
    np.testing.assert_array_equal(cols, torch.nn.functional.unfold(_t(torch, x), 2, padding=1).numpy())
    back = silent(F.fold, cols, (6, 6), 2, padding=1)
    assert_same_values(back, torch.nn.functional.fold(_t(torch, cols), (6, 6), 2, padding=1).numpy())


def test_overflow_to_inf_is_silent_as_in_torch(torch):
    # Finite inputs whose products and sums overflow float32 (all terms of one sign per
    # output, so the summation order cannot matter): +-inf, as torch.
    x = np.full((1, 1, 5, 5), 3e38, np.float32)
    w = np.full((2, 1, 3, 3), 2.0, np.float32)
    w[1] = -2.0
    got = silent(F.conv2d, x, w, padding=1)
    assert_same_values(got, torch.nn.functional.conv2d(_t(torch, x), _t(torch, w), padding=1).numpy())
    assert np.isposinf(got[0, 0]).all() and np.isneginf(got[0, 1]).all()
    got = silent(F.avg_pool2d, x, 2)
    np.testing.assert_array_equal(got, torch.nn.functional.avg_pool2d(_t(torch, x), 2).numpy())


# ---------------------------------------------------------------- ONNX


def _onnx_cases():
    from test_onnx_ops import CASES

    x4 = np.zeros((1, 4, 6, 6), np.float32)
    w = np.random.default_rng(3).standard_normal((3, 4, 3, 3)).astype(np.float32)
    wt = np.random.default_rng(4).standard_normal((4, 2, 3, 3)).astype(np.float32)
    f32, i64 = np.float32, np.int64
    scales = np.array([1, 1, 2, 1.5], f32)
    cases = [(op, inputs, attrs, {}) for op, inputs, attrs, _ in CASES if op not in ("Shape", "Gather")]
    for op in ("Add", "Sub", "Mul", "Div"):
        cases.append((op, {"x": x4, "y2": x4[:, :1]}, {}, {}))
    cases += [
        ("Conv", {"x": x4, "w": w}, {"pads": [1, 1, 1, 1]}, {}),
        ("ConvTranspose", {"x": x4, "w": wt}, {"strides": [2, 2], "pads": [1, 1, 0, 0]}, {}),
        ("MaxPool", {"x": x4}, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, {}),
        ("AveragePool", {"x": x4}, {"kernel_shape": [3, 3], "pads": [1, 0, 2, 1], "ceil_mode": 1}, {}),
        ("AveragePool", {"x": x4}, {"kernel_shape": [2, 2], "dilations": [2, 3], "pads": [1, 1, 1, 1]}, {}),
        (
            "LpPool",
            {"x": x4},
            {"kernel_shape": [2, 2], "dilations": [2, 1], "pads": [1, 1, 0, 0], "p": 3},
            {"opset": 18},
        ),
        ("GlobalAveragePool", {"x": x4}, {}, {}),
        ("GlobalMaxPool", {"x": x4}, {}, {}),
        ("DepthToSpace", {"x": x4}, {"blocksize": 2}, {}),
        ("Pad", {"x": x4, "p": np.array([0, 0, 1, 2, 0, 0, 2, 1], i64)}, {"mode": "reflect"}, {}),
        ("Pad", {"x": x4, "p": np.array([0, 0, 1, 2, 0, 0, 2, 1], i64), "v": np.array(np.nan, f32)}, {}, {}),
        ("Pad", {"x": x4, "p": np.array([0, 0, 1, 2, 0, 0, 2, 1], i64)}, {"mode": "edge"}, {}),
        ("CenterCropPad", {"x": x4, "s": np.array([4, 9], i64)}, {"axes": [2, 3]}, {}),
        ("QuantizeLinear", {"x": x4, "s": np.array(0.05, f32), "z": np.array(3, np.uint8)}, {}, {}),
        ("QuantizeLinear", {"x": x4, "s": np.array(0.05, f32), "z": np.array(-3, np.int8)}, {}, {}),
        ("Dropout", {"x": x4}, {}, {}),
    ]
    for mode, extra in (
        ("nearest", {}),
        ("linear", {}),
        ("linear", {"coordinate_transformation_mode": "align_corners"}),
    ):
        resize = {"x": x4, "r": None, "s": scales}
        cases.append(("Resize", resize, {"mode": mode, **extra}, {"opset": 19}))
    cols = np.zeros((1, 4 * 4, 9), np.float32)
    shape_in = {"x": cols, "i": np.array([4, 4], i64), "b": np.array([2, 2], i64)}
    cases.append(("Col2Im", shape_in, {}, {"opset": 18}))
    return cases


def _onnx_ids():
    return [f"{i}-{case[0]}" for i, case in enumerate(_onnx_cases())]


@pytest.mark.parametrize("index", range(len(_onnx_ids())), ids=_onnx_ids())
@pytest.mark.parametrize("kind", KINDS)
def test_onnx_operators_propagate_nonfinite_values_as_onnxruntime_without_warnings(index, kind):
    pytest.importorskip("onnxruntime")
    import convlab.onnx as co
    from onnx_cases import ort_run, single_node

    op, inputs, attrs, options = _onnx_cases()[index]
    feeds = [n for n in inputs if n in ("x", "y2")]
    values = dict(inputs)
    for n, name in enumerate(feeds):
        values[name] = poisoned(inputs[name].shape, kind, seed=n) * 4
    model = single_node(op, values, feeds=feeds, **options, **attrs)
    fed = {n: values[n] for n in feeds}
    if op == "QuantizeLinear" and kind in ("nan", "mixed"):
        # NaN has no integer code: refused by name (onnxruntime returns whatever its
        # float-to-int conversion makes of it, 0 on x86).
        with pytest.raises(ValueError, match="x must not contain NaN"):
            co.load(model).run(fed)
        return
    ours = silent(co.load(model).run, fed)
    theirs = ort_run(model, fed, ["y"])[0]
    if op in ("MaxPool", "GlobalMaxPool") and kind in ("nan", "mixed"):
        # onnxruntime has no NaN rule for max pooling (see test_max_pool_nan_follows_torch):
        # convlab takes torch's, NaN wins.
        theirs = _torch_max_pool(op, fed["x"], attrs)
    if theirs.dtype.kind == "f":
        assert_same_values(ours["y"], theirs)
    else:
        np.testing.assert_array_equal(ours["y"], theirs)


def _torch_max_pool(op, x, attrs):
    import torch

    t = torch.from_numpy(x)
    if op == "GlobalMaxPool":
        return torch.amax(t, dim=(2, 3), keepdim=True).numpy()
    pad = attrs["pads"][0]
    return torch.nn.functional.max_pool2d(t, attrs["kernel_shape"], attrs["strides"], pad).numpy()


def test_max_pool_nan_follows_torch_where_onnxruntime_has_no_rule(torch):
    import convlab.onnx as co
    from onnx_cases import ort_run, single_node

    x = np.array([[[np.nan, 1, 1, np.nan, np.nan, 2, 3]]], np.float32)
    model = single_node("MaxPool", {"x": x}, kernel_shape=[2], strides=[1])
    got = silent(co.load(model), x)
    np.testing.assert_array_equal(got, torch.nn.functional.max_pool1d(torch.from_numpy(x), 2, 1).numpy())
    np.testing.assert_array_equal(got, [[[np.nan, 1, np.nan, np.nan, np.nan, 3]]])
    # onnxruntime's MLAS kernel drops NaN (an all-NaN window gives -FLT_MAX); its kernel
    # with the Indices output keeps a NaN only where it is the window's first tap.
    np.testing.assert_array_equal(ort_run(model, {"x": x})[0], [[[1, 1, 1, -np.finfo(np.float32).max, 2, 3]]])
    with_indices = single_node("MaxPool", {"x": x}, outputs=("y", "i"), kernel_shape=[2], strides=[1])
    np.testing.assert_array_equal(ort_run(with_indices, {"x": x})[0], [[[np.nan, 1, 1, np.nan, np.nan, 3]]])


def test_clip_without_a_bound_clamps_infinities_to_the_finite_limits_as_the_spec():
    import convlab.onnx as co
    from onnx_cases import ort_run, single_node

    x = np.array([-np.inf, -1.0, np.nan, 2.0, np.inf], np.float32)
    big = np.finfo(np.float32).max
    model = single_node("Clip", {"x": x, "lo": None, "hi": np.array(1.5, np.float32)})
    np.testing.assert_array_equal(co.load(model)(x), [-big, -1.0, np.nan, 1.5, 1.5])
    np.testing.assert_array_equal(ort_run(model, {"x": x})[0], co.load(model)(x))
    model = single_node("Clip", {"x": x}, opset=6, min=-0.5)
    np.testing.assert_array_equal(co.load(model)(x), [-0.5, -0.5, np.nan, 2.0, big])


def test_resize_linear_keeps_an_inf_on_the_clamped_border_as_onnxruntime():
    import convlab.onnx as co
    from onnx_cases import ort_run, single_node

    x = np.array([[[[1.0, 2.0, np.inf]]]], np.float32)
    scales = np.array([1, 1, 1, 2], np.float32)
    model = single_node("Resize", {"x": x, "r": None, "s": scales}, mode="linear")
    got = silent(co.load(model), x)
    # half_pixel: the last output's coordinate 2.25 clamps to the last pixel: inf, not inf * 0 = NaN.
    np.testing.assert_array_equal(got, [[[[1.0, 1.25, 1.75, np.inf, np.inf, np.inf]]]])
    np.testing.assert_array_equal(got, ort_run(model, {"x": x})[0])


# ---------------------------------------------------------------- quant


@pytest.mark.parametrize("kind", ["nan", "inf", "-inf"])
def test_quantisation_refuses_nan_by_name_and_saturates_infinities(kind):
    import convlab.quant as Q

    x = poisoned((1, 2, 4, 4), kind)
    if kind == "nan":
        with pytest.raises(ValueError, match="x must not contain NaN"):
            Q.quantize_linear(x, np.float32(0.1), np.uint8(3))
    else:
        codes = silent(Q.quantize_linear, x, np.float32(0.1), np.int8(0))
        np.testing.assert_array_equal(codes[np.isinf(x)], 127 if kind == "inf" else -128)
    with pytest.raises(ValueError, match=r"x must be finite, got (nan|inf|-inf) \(HLS has no NaN or inf\)"):
        Q.FixedPoint(8, 4).quantize(x)
    with pytest.raises(ValueError, match=r"w must be finite to have int8 scales, got 11 NaN/inf"):
        Q.weight_qparams(x[0], 0)
    with pytest.raises(ValueError, match=r"lo and hi must be finite, got lo=(nan|inf|-inf), hi=1.0"):
        Q.activation_qparams(x.reshape(-1)[0], 1.0)


@pytest.mark.parametrize("up_mode", ["transpose", "bilinear"])
def test_a_unet_runs_nan_and_inf_inputs_silently(up_mode):
    from convlab.models import UNet, UNetConfig

    net = UNet(UNetConfig(width=4, padding="same", batch_norm=True, up_mode=up_mode, pooling="avg"))
    x = np.random.default_rng(0).standard_normal((1, 1, 32, 32)).astype(np.float32)
    x[0, 0, ::7, ::5] = np.nan
    # Every output's receptive field holds a NaN, and NaN survives every layer (max, ReLU).
    assert np.isnan(silent(net, x)).all()
    x[0, 0, ::7, ::5] = np.inf
    assert not np.isfinite(silent(net, x)).all()
