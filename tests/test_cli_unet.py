"""``convlab unet``: the shape-only trace against PyTorch's counts and brute-force receptive fields."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convlab.cli import main


def run(capsys, *argv):
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def test_paper_unet_at_572_prints_388_the_four_crop_windows_and_torchs_parameter_count(capsys, torch):
    from convlab.models import UNetConfig
    from torch_unets import ConvlabLayout

    status, out, err = run(capsys, "unet", "--input", "572")
    assert status == 0, err
    assert out.startswith("U-Net 572x572 -> 388x388: in_channels 1, classes 2, depth 4, width 64")
    for window in (
        "crop 64 -> 56 at 4..59",
        "crop 136 -> 104 at 16..119",
        "crop 280 -> 200 at 40..239",
        "crop 568 -> 392 at 88..479",
    ):
        assert window in out
    expected = sum(p.numel() for p in ConvlabLayout(UNetConfig()).parameters())
    assert expected == 31_030_658  # 23 conv layers with biases; torch counts the same
    assert f"total: {expected:,} parameters (118.4 MiB float32)" in out
    assert "head          Conv2d           2x388x388" in out
    assert "receptive field: 188..204x188..204 input pixels, depending on the output pixel" in out


def test_json_trace_sums_and_rows(capsys, torch):
    from convlab.models import UNetConfig
    from torch_unets import ConvlabLayout

    status, out, _ = run(capsys, "unet", "--input", "188x204", "--width", "8", "--classes", "3", "--json")
    data = json.loads(out)
    assert status == 0
    assert data["input_size"] == [188, 204] and data["output_size"] == [4, 20]
    rows = data["layers"]
    assert rows[-1]["name"] == "head" and rows[-1]["output_shape"] == [1, 3, 4, 20]
    torch_count = sum(p.numel() for p in ConvlabLayout(UNetConfig(width=8, classes=3)).parameters())
    assert data["totals"]["parameters"] == sum(r["parameters"] for r in rows) == torch_count
    assert data["totals"]["flops"] == sum(r["flops"] for r in rows)
    conv = next(r for r in rows if r["name"] == "down0.conv1")
    assert conv["flops"] == 2 * 8 * 1 * 9 * 186 * 202 and conv["activation_bytes"] == 4 * 8 * 186 * 202
    crops = [r["crop"] for r in rows if r["crop"]]
    assert [c["start"] for c in crops] == [[4, 4], [16, 16], [40, 40], [88, 88]]


def test_flops_match_torch_on_a_forward_of_a_tiny_unet(capsys, torch):
    from torch.utils.flop_counter import FlopCounterMode

    from convlab.models import UNetConfig
    from torch_unets import ConvlabLayout

    status, out, _ = run(capsys, "unet", "--input", "92", "--width", "4", "--depth", "2", "--json")
    assert status == 0
    ours = sum(r["flops"] for r in json.loads(out)["layers"] if r["layer"] in ("Conv2d", "ConvTranspose2d"))
    with FlopCounterMode(display=False) as counter:
        ConvlabLayout(UNetConfig(width=4, depth=2))(torch.zeros(1, 1, 92, 92))
    # torch counts the multiply-adds of convolutions, without the bias additions.
    assert ours == counter.get_total_flops()


def _brute_force_field(depth: int, size: int) -> tuple[int, int]:
    """Narrowest and widest span of inputs that one output of a linear 1-D U-Net depends on."""
    from convlab.models import UNet

    # Positive weights, average pooling and positive inputs keep every ReLU
    # open, so the network is linear with every path present: output o
    # depends on input i exactly when perturbing i changes o.
    model = UNet(width=1, depth=depth, ndim=1, pooling="avg", seed=0, dtype=np.float64)
    for _, array in model.named_parameters():
        np.abs(array, out=array)
    base = np.ones((1, 1, size))
    reference = model(base)[0, 0]
    touched = np.zeros((reference.size, size), bool)
    for i in range(size):
        bumped = base.copy()
        bumped[0, 0, i] += 1
        touched[:, i] = model(bumped)[0, 0] != reference
    spans = [np.flatnonzero(row) for row in touched]
    return min(s[-1] - s[0] + 1 for s in spans), max(s[-1] - s[0] + 1 for s in spans)


@pytest.mark.parametrize(("depth", "size"), [(1, 32), (2, 76), (2, 108)])
def test_receptive_field_equals_a_brute_force_count(capsys, depth, size):
    status, out, _ = run(
        capsys, "unet", "--input", size, "--ndim", "1", "--depth", depth, "--width", "1", "--pooling", "avg"
    )
    assert status == 0
    fewest, most = _brute_force_field(depth, size)
    if fewest == most:
        assert f"receptive field: {most} input pixels for every output pixel" in out
    else:
        assert f"receptive field: {fewest}..{most} input pixels, depending on the output pixel" in out


def test_invalid_size_exits_2_with_one_line_naming_the_layer_and_nearest_sizes(capsys):
    status, out, err = run(capsys, "unet", "--input", "573")
    assert status == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("convlab unet: error: input_size 573")
    assert "at down0.pool the size 569 is odd" in err
    assert "nearest valid input sizes: 572 (below) and 588 (above)" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["572x572x572", "--ndim", "2"], "572x572x572 has 3 per-dimension values but --ndim is 2"),
        (["--input", "572", "--width", "0"], "width must be positive integers"),
        (["--input", "572", "--up", "nearest"], "argument --up: invalid choice"),
        (["--input", "abc"], "sizes must be integers"),
        (["--input", "12", "--padding", "same", "--depth", "4"], "nearest valid input sizes: 16 (above)"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv, message):
    status, _, err = run(capsys, "unet", *argv)
    assert status == 2 and err.count("\n") == 1 and message in err


def test_config_file_then_flags_over_it(tmp_path, capsys):
    path = tmp_path / "unet.json"
    path.write_text(json.dumps({"width": 4, "depth": 2, "padding": "same", "in_channels": 3, "classes": 5}))
    status, out, _ = run(capsys, "unet", "--config", path, "--input", "37x40", "--classes", "7")
    assert status == 0
    assert out.startswith("U-Net 37x40 -> 37x40: in_channels 3, classes 7, depth 2, width 4")
    # 37 pools to 18, then 9; up-sampled back to 18, then 36, padded by one pixel to the skip's 37.
    assert "pad up by (0, 1) x (0, 0)" in out
    path.write_text(json.dumps({"widht": 4}))
    status, _, err = run(capsys, "unet", "--config", path, "--input", "572")
    assert status == 2 and "unknown fields ['widht']" in err
    path.write_text("{width: 4")
    status, _, err = run(capsys, "unet", "--config", path, "--input", "572")
    assert status == 2 and "is not valid JSON" in err
    status, _, err = run(capsys, "unet", "--config", tmp_path / "none.json", "--input", "572")
    assert status == 2 and "cannot read --config" in err


def test_bilinear_receptive_field_is_marked_approximate(capsys):
    status, out, _ = run(
        capsys, "unet", "--input", "64", "--width", "4", "--up", "bilinear", "--padding", "same"
    )
    assert status == 0
    assert "receptive field: about " in out and "4x4 stride-2 transposed conv" in out
