"""torch_quantized_conv against torch.ao.nn.quantized.Conv2d on fbgemm (VNNI and AVX2 kernels) and qnnpack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convlab.quant import conv_integer, torch_quantized_conv

pytest.importorskip("torch")
WORKER = Path(__file__).with_name("torch_qconv_worker.py")


def _cases(seed: int, count: int, *, full_range: bool = True) -> list[dict]:
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(count):
        groups = int(rng.choice([1, 1, 2]))
        cin, cout = groups * int(rng.integers(1, 24)), groups * int(rng.integers(1, 5))
        k = int(rng.choice([1, 3]))
        hi = 256 if full_range else 128  # reduce_range: 7-bit activation codes
        x = rng.integers(0, hi, (1, cin, int(rng.integers(k, 9)), int(rng.integers(k, 9)))).astype(np.uint8)
        w = rng.choice([-128, 127, -127, 100], (cout, cin // groups, k, k)) if rng.random() < 0.5 else None
        w = (rng.integers(-128, 128, (cout, cin // groups, k, k)) if w is None else w).astype(np.int8)
        per_channel = bool(rng.integers(0, 2))
        sw = (
            rng.choice([0.01, 0.003, 0.02, 0.0007], cout).astype(np.float32)
            if per_channel
            else np.float32(0.01)
        )
        bias = rng.normal(0, 2, cout).astype(np.float32) if rng.random() < 0.6 else np.zeros(0, np.float32)
        cases.append(
            {
                "x": x,
                "w": w,
                "sx": np.float32(rng.choice([0.02, 0.1, 0.0037])),
                "zx": np.int64(rng.integers(0, hi)),
                "sw": sw,
                "bias": bias,
                "sy": np.float32(rng.choice([0.05, 0.3, 0.7, 4.0, 40.0])),
                "zy": np.int64(rng.integers(0, 256)),
                "stride": np.int64(rng.integers(1, 3)),
                "padding": np.int64(rng.integers(0, 2)),
                "groups": np.int64(groups),
            }
        )
    return cases


def _torch(cases, engine, tmp_path, env=None):
    source, target = tmp_path / "cases.npz", tmp_path / "out.npz"
    flat = {f"c{i}_{k}": v for i, c in enumerate(cases) for k, v in c.items()}
    np.savez(source, count=len(cases), **flat)
    subprocess.run([sys.executable, str(WORKER), str(source), str(target), engine],
                   check=True, env={**os.environ, **(env or {})}, capture_output=True)  # fmt: skip
    out = np.load(target)
    return [out[f"y{i}"] for i in range(len(cases))]


def _ours(c, engine, int16_pairs=False):
    return torch_quantized_conv(
        c["x"], c["sx"], c["zx"], c["w"], c["sw"], 0, None if c["bias"].size == 0 else c["bias"],
        c["sy"], c["zy"], stride=int(c["stride"]), padding=int(c["padding"]), groups=int(c["groups"]),
        engine=engine, int16_pairs=int16_pairs,
    )  # fmt: skip


@pytest.fixture(scope="module")
def avx2(tmp_path_factory):
    """fbgemm restricted to its AVX2 kernels, in one subprocess for every case of this module."""
    cases = {"any": _cases(2, 40), "reduced": _cases(3, 20, full_range=False), "issue": [_issue_case()]}
    flat = [c for group in cases.values() for c in group]
    out = iter(
        _torch(flat, "fbgemm", tmp_path_factory.mktemp("avx2"), {"FBGEMM_ENABLE_INSTRUCTIONS": "AVX2"})
    )
    return {name: [(c, next(out)) for c in group] for name, group in cases.items()}


@pytest.mark.parametrize("engine", ["fbgemm", "qnnpack"])
def test_recipe_equals_torch_bit_for_bit(engine):
    from torch_qconv_worker import run

    for c in _cases(1, 60):
        np.testing.assert_array_equal(_ours(c, engine), run(c, engine))


def test_fbgemm_avx2_kernels_saturate_pairs_in_int16_and_the_recipe_follows(avx2):
    saturated = 0
    for c, expected in avx2["any"]:
        np.testing.assert_array_equal(_ours(c, "fbgemm", int16_pairs=True), expected)
        saturated += int((_ours(c, "fbgemm") != expected).any())
    assert saturated > 0  # the cases do reach the int16 limit, so the emulation is exercised


def test_reduce_range_codes_never_saturate(avx2):
    for c, expected in avx2["reduced"]:
        np.testing.assert_array_equal(_ours(c, "fbgemm"), expected)
        np.testing.assert_array_equal(_ours(c, "fbgemm", int16_pairs=True), expected)


def _issue_case() -> dict:
    rng = np.random.default_rng(63769)
    x = rng.integers(0, 256, (1, 64, 12, 12)).astype(np.uint8)
    w = rng.integers(-128, 128, (8, 64, 3, 3)).astype(np.int8)
    return {
        "x": x,
        "w": w,
        "sx": np.float32(0.0078),
        "zx": np.int64(3),
        "sw": np.float32(0.004),
        "bias": np.zeros(0, np.float32),
        "sy": np.float32(0.37),
        "zy": np.int64(120),
        "stride": np.int64(1),
        "padding": np.int64(0),
        "groups": np.int64(1),
    }


def test_pytorch_63769_hand_written_reference_vs_the_recipe(avx2):
    """The issue's reference: MAC of the int_repr's, then one float64 rescale. fbgemm disagrees with it.

    On an AVX2 machine most of the difference is the int16 saturation of
    vpmaddubsw (full-range activations, no reduce_range); the rest, on any
    machine, is fbgemm's float32 order of scaling. The recipe has neither gap.
    """
    c, avx2_codes = avx2["issue"][0]
    acc = conv_integer(c["x"], c["w"], 3, 0).astype(np.float64)
    hand = np.clip(np.rint(acc * (0.0078 * 0.004 / 0.37)) + 120, 0, 255)
    assert (hand != avx2_codes).sum() > 0
    np.testing.assert_array_equal(_ours(c, "fbgemm", int16_pairs=True), avx2_codes)
