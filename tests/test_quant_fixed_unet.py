"""Per-layer format tables and the fixed-point U-Net against a reference walk built from naive loops."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from _fixed_reference import loop_conv, loop_conv_transpose, reference_code
from convlab._args import ConvlabError
from convlab.models import UNet
from convlab.quant import (
    FixedPoint,
    FormatTable,
    LayerFormats,
    calibrate_formats,
    fixed_unet,
    unet_layer_names,
)


def _codes(values, fmt):
    flat = [reference_code(Fraction(float(v)), fmt) for v in np.ravel(values)]
    return np.array(flat, dtype=np.int64).reshape(np.shape(values))


def _convert(codes, src, dst):
    flat = [reference_code(Fraction(int(c)) / Fraction(2) ** src.frac_bits, dst) for c in codes.ravel()]
    return np.array(flat, dtype=np.int64).reshape(codes.shape)


def _reference_unet(model, x, table):
    """convlab's depth-1 valid U-Net written out step by step with the tests' own loops."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in model.state_dict().items()}
    one, pad0 = (1, 1), ((0, 0), (0, 0))

    def conv(name, xq, xf, relu=True):
        f = table.for_layer(name)
        w, b = _codes(p[f"{name}.weight"], f.weight), _codes(p[f"{name}.bias"], f.bias)
        y = loop_conv(xq, xf, w, f.weight, b, f.bias, f.output, f.accumulator, one, pad0, one, 1)
        return (np.maximum(y, 0) if relu else y), f.output

    xq, xf = _codes(x, table.input), table.input
    for j in (1, 2):
        xq, xf = conv(f"down0.conv{j}", xq, xf)
    skip, skip_f = xq, xf
    n, c, h, w = xq.shape
    xq = xq.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
    for j in (1, 2):
        xq, xf = conv(f"bottom.conv{j}", xq, xf)
    f = table.for_layer("up0.upconv")
    wt, bt = _codes(p["up0.upconv.weight"], f.weight), _codes(p["up0.upconv.bias"], f.bias)
    up = loop_conv_transpose(
        xq, xf, wt, f.weight, bt, f.bias, f.output, f.accumulator, (2, 2), (0, 0), (0, 0), one, 1
    )
    top, left = (round((s - u) / 2.0) for s, u in zip(skip.shape[2:], up.shape[2:]))  # torchvision
    crop = skip[:, :, top : top + up.shape[2], left : left + up.shape[3]]
    merged_f = table.for_layer("up0.merge").output
    xq = np.concatenate([_convert(crop, skip_f, merged_f), _convert(up, f.output, merged_f)], axis=1)
    xf = merged_f
    for j in (1, 2):
        xq, xf = conv(f"up0.conv{j}", xq, xf)
    return conv("head", xq, xf, relu=False)[0]


def test_fixed_unet_matches_reference_walk():
    model = UNet(width=2, depth=1, padding="valid", seed=3)
    x = np.random.default_rng(0).uniform(-1.5, 1.5, (1, 1, 20, 20))
    sat = dict(rounding="rnd_conv", overflow="sat")
    table = FormatTable.from_dict(
        {
            "input": "ap_fixed<8,2,AP_RND>",
            "default": {
                "weight": FixedPoint(8, 7, **sat),
                "bias": "ap_fixed<8,1>",
                "output": FixedPoint(10, 6, **sat),
            },
            "layers": {
                "down0.conv2": {"accumulator": "ap_fixed<14,4,AP_TRN,AP_SAT>"},  # rounds products, saturates
                "bottom.conv1": {"accumulator": "ap_fixed<20,6>"},  # wraps: one GEMM
                "up0.upconv": {"output": "ap_fixed<9,3,AP_RND_INF,AP_SAT_SYM>"},
                "up0.merge": {"output": "ap_fixed<9,4,AP_RND_CONV,AP_WRAP,1>"},
                "head": {"output": "ap_fixed<12,5>", "weight": "ap_fixed<6,1,AP_RND_ZERO>"},
            },
        }
    )
    codes, layers = fixed_unet(model, x, table, keep=True)
    np.testing.assert_array_equal(codes, _reference_unet(model, x, table))
    routes = {r.name: r.route for r in layers}
    assert routes["down0.conv2"] == "sequential" and routes["bottom.conv1"] == "float64"
    assert routes["up0.merge"] is None and [r.name for r in layers] == [n for n in unet_layer_names(model)]
    assert layers[-1].codes is not None and np.array_equal(layers[-1].codes, codes)


def test_fine_formats_follow_the_float_model():
    model = UNet(width=4, depth=2, padding="same", seed=1)
    x = np.random.default_rng(1).uniform(0, 1, (2, 1, 16, 16))
    fine = FixedPoint(48, 30, rounding="rnd_conv")
    table = FormatTable(fine, LayerFormats(fine, fine, None, fine))
    codes, _ = fixed_unet(model, x, table)
    # Every rounding is at most 2**-31, a few hundred of them accumulate through the net.
    np.testing.assert_allclose(fine.to_float(codes), model.astype(np.float64)(x), rtol=0, atol=2**-20)


def test_calibration_fits_every_peak():
    model = UNet(width=2, depth=1, padding="valid", seed=0)
    x = np.random.default_rng(2).uniform(0, 1, (1, 1, 24, 24))
    table = calibrate_formats(model, x, 10)
    assert str(table.input) == "ap_fixed<10,1,AP_RND_CONV,AP_SAT>"  # max < 1: sign bit only
    for name in unet_layer_names(model):
        fmt = table.for_layer(name)
        assert fmt.output.word_bits == 10 and fmt.accumulator is None
        w = model.state_dict().get(f"{name}.weight")
        if w is not None:
            peak = float(np.abs(w).max())
            assert (
                fmt.weight.max >= peak * (1 - 2**-9) and fmt.weight.max / 2 < peak
            )  # the least I that holds it
    codes, layers = fixed_unet(model, x, table)
    assert codes.shape == (1, 2, 8, 8) and len(layers) == len(unet_layer_names(model))


def test_table_json_round_trip(tmp_path):
    table = FormatTable.from_dict(
        {
            "input": {"word_bits": 9, "frac_bits": 8, "signed": False},
            "layers": {"head": {"accumulator": "ap_fixed<24,8>"}},
        }
    )
    path = tmp_path / "formats.json"
    path.write_text(json.dumps(table.to_dict()))
    again = FormatTable.from_json(path)
    assert again == table
    assert (
        str(again.input) == "ap_ufixed<9,1>" and str(again.for_layer("head").accumulator) == "ap_fixed<24,8>"
    )
    assert (
        again.for_layer("down0.conv1") == LayerFormats()
    )  # hls4ml's ap_fixed<16,6>, full-precision accumulator


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        (
            {"defaults": {}},
            ConvlabError,
            "spec keys must be input, default, layers; got unknown \\['defaults'\\]",
        ),
        ({"layers": []}, TypeError, "spec\\['layers'\\] must be a mapping"),
        ({"layers": {"head": {"acc": None}}}, ConvlabError, "layers\\['head'\\] keys must be among"),
        (
            {"layers": {"head": {"output": 16}}},
            TypeError,
            "layers\\['head'\\]\\['output'\\] must be an HLS spelling",
        ),
        ({"default": {"output": {"bits": 8}}}, ConvlabError, "default\\['output'\\]: .*unexpected keyword"),
        ({"input": "ap_fixed<8>"}, ConvlabError, "spelling must look like"),
        ([], TypeError, "spec must be a mapping"),
    ],
)
def test_table_errors(spec, error, match):
    with pytest.raises(error, match=match):
        FormatTable.from_dict(spec)


def test_run_errors(tmp_path):
    model = UNet(width=2, depth=1, padding="same")
    with pytest.raises(ConvlabError, match=r"format table names unknown layers \['down0\.conv0'\]"):
        fixed_unet(model, np.zeros((1, 1, 8, 8)), {"layers": {"down0.conv0": {}}})
    with pytest.raises(ConvlabError, match="batch_norm=False, up_mode='transpose', pooling='max'"):
        fixed_unet(UNet(width=2, depth=1, batch_norm=True), np.zeros((1, 1, 8, 8)), {})
    with pytest.raises(TypeError, match=r"model must be a convlab\.models\.UNet"):
        fixed_unet(object(), np.zeros((1, 1, 8, 8)), {})
    with pytest.raises(ValueError, match="down0"):
        fixed_unet(UNet(width=2, depth=1), np.zeros((1, 1, 9, 9)), {})
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConvlabError, match="is not valid JSON"):
        FormatTable.from_json(bad)
    with pytest.raises(TypeError, match=r"LayerFormats\.output must be a FixedPoint"):
        LayerFormats(output="ap_fixed<8,4>")
