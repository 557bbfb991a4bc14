"""A real consumer of convlab's files: Icarus Verilog reads the $readmemh vectors of a fixed-point
conv layer, computes it in tests/rtl/conv3x3.v, writes $writememh, and `convlab diff` judges it."""

from __future__ import annotations

import shutil
import subprocess
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from convlab import conv2d
from convlab.cli import main
from convlab.nn import Module, Parameter, Sequential
from convlab.vectors import Encoded, diff, write_vectors

RTL = Path(__file__).parent / "rtl" / "conv3x3.v"
H = W = 8
SHIFT = 4


class FixedConv(Module):
    """int8 x int8 + int32 bias, accumulated exactly, rounded half up by 2**SHIFT, saturated to int8."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray):
        super().__init__()
        self.weight = Parameter(weight.astype(np.float64))
        self.bias = Parameter(bias.astype(np.float64))

    def forward(self, x: np.ndarray) -> np.ndarray:
        acc = conv2d(x, self.weight, self.bias, padding=1).astype(np.int64)  # exact: |acc| < 2**53
        return np.clip((acc + (1 << (SHIFT - 1))) >> SHIFT, -128, 127).astype(np.float64)


def fixed_encoder(layer: str, tensor: str, array: np.ndarray) -> Encoded:
    bits = 32 if tensor == "bias" else 8
    return Encoded(array.astype(np.int64), {"kind": "fixed", "frac_bits": 0}, True, bits)


def naive(x, w, b, *, sign_fault=False, pad_fault=False):
    """The hardware's loops in Python, faults included (NaN where Verilog reads x)."""
    img = (x[0, 0] % 256 if sign_fault else x[0, 0]).astype(float).reshape(-1)
    img = np.concatenate([img, [np.nan] * W])  # past the end of the memory: undefined
    out = np.zeros((1, w.shape[0], H, W))
    for o in range(w.shape[0]):
        for y in range(H):
            for xx in range(W):
                acc = float(b[o])
                for ky in range(3):
                    for kx in range(3):
                        iy, ix = y + ky - 1, xx + kx - 1
                        if 0 <= iy < H and 0 <= ix < (W + 1 if pad_fault else W):
                            acc += img[iy * W + ix] * w[o, 0, ky, kx]
                out[0, o, y, xx] = acc if np.isnan(acc) else min(127, max(-128, (int(acc) + 8) >> SHIFT))
    return out


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    rng = np.random.default_rng(14)
    x = rng.integers(-128, 128, (1, 1, H, W)).astype(np.float64)
    w = rng.integers(-128, 128, (2, 1, 3, 3))
    b = rng.integers(-3000, 3000, 2)
    model = Sequential(OrderedDict(conv=FixedConv(w, b)))
    out = tmp_path_factory.mktemp("golden")
    entries = write_vectors(model, x, out, encoder=fixed_encoder)
    return out, entries, (x, w, b)


def _simulate(golden_dir: Path, dump_dir: Path, *defines: str) -> None:
    for tool in ("iverilog", "vvp"):
        if shutil.which(tool) is None:
            pytest.fail(
                f"{tool} is not installed: scripts/test installs Icarus Verilog (apt-get install iverilog)"
            )
    binary = dump_dir / "tb.vvp"
    subprocess.run(
        ["iverilog", "-g2005", *(f"-D{d}" for d in defines), "-o", str(binary), str(RTL)], check=True
    )
    files = {t: golden_dir / f"{i:03d}_conv_{t}.hex" for i, t in enumerate(("input", "weight", "bias"))}
    plusargs = [f"+{t}={p}" for t, p in files.items()] + [f"+output={dump_dir / '003_conv_output.hex'}"]
    subprocess.run(["vvp", "-n", str(binary), *plusargs], check=True, capture_output=True)


def test_golden_layer_equals_the_naive_loops(golden):
    _, entries, (x, w, b) = golden
    assert [e.file for e in entries] == [
        f"{i:03d}_conv_{t}.hex" for i, t in enumerate(["input", "weight", "bias", "output"])
    ]
    model_out = Sequential(OrderedDict(conv=FixedConv(w, b)))(x)
    np.testing.assert_array_equal(model_out, naive(x, w, b))


def test_iverilog_reads_the_vectors_and_diff_reports_equal(golden, tmp_path, capsys):
    golden_dir, _, _ = golden
    _simulate(golden_dir, tmp_path)
    assert (tmp_path / "003_conv_output.hex").read_text().startswith("//")  # Icarus's own comment line
    assert main(["diff", str(golden_dir), str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "conv output: equal (128 values)" in text and text.rstrip().endswith("EQUAL")


def _first_fault(golden, faulty) -> tuple[int, int, int]:
    """First differing value in the output memory's (NCHW) order: (channel, row, column)."""
    bad = ~np.isclose(golden, faulty) | np.isnan(faulty)
    _, c, y, x = np.unravel_index(np.flatnonzero(bad)[0], bad.shape)
    return int(c), int(y), int(x)


@pytest.mark.parametrize("fault", ["FAULT_SIGN", "FAULT_PAD"])
def test_diff_names_the_first_wrong_pixel_of_a_faulty_rtl(golden, tmp_path, fault, capsys):
    golden_dir, _, (x, w, b) = golden
    _simulate(golden_dir, tmp_path, fault)
    faulty = naive(x, w, b, sign_fault=fault == "FAULT_SIGN", pad_fault=fault == "FAULT_PAD")
    c, y, xx = _first_fault(naive(x, w, b), faulty)
    report = diff(golden_dir, tmp_path)
    first = report.first
    assert first is not None and (first.entry.layer, first.entry.tensor) == ("conv", "output")
    assert first.first == (0, c, y, xx)
    expected_bad = (~np.isclose(naive(x, w, b), faulty) | np.isnan(faulty)).sum()
    assert first.mismatches == expected_bad
    assert main(["diff", str(golden_dir), str(tmp_path)]) == 1
    text = capsys.readouterr().out
    assert f"first: n=0, c={c}, y={y}, x={xx}" in text
    if fault == "FAULT_PAD":
        # Only the last column reads past the row: the map must say "right edge".
        assert "right edge only" in text
        assert "x (undefined)" in text or "columns 7 of 8" in text
