"""convlab.vectors memory images: round trips, an independent parser, the published formats, errors."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from convlab.vectors import FORMATS, WordSpec, from_layout, pack, read_memory, to_layout, unpack, write_memory

WIDTHS = (1, 4, 8, 12, 16, 24, 32, 64)
SUFFIX = {"readmemh": ".hex", "readmemb": ".bmem", "coe": ".coe", "mif": ".mif", "bin": ".bin", "npy": ".npy"}
LAYOUTS = ("NCHW", "NHWC", "NCWH", "NCHWc4")


def _values(rng, bits: int, signed: bool, size: int) -> np.ndarray:
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if bits == 64 and not signed:
        out = rng.integers(0, 1 << 63, size, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        out[:2] = [0, (1 << 64) - 1]
        return out
    out = rng.integers(lo, hi, size, dtype=np.int64, endpoint=True)
    out[:2] = [lo, hi]  # the extremes always appear
    return out


def _independent_words(path, fmt: str, word_bits: int) -> list[int]:
    """A tiny parser that shares nothing with convlab's: unsigned words as Python ints."""
    if fmt == "npy":
        return [int(w) for w in np.load(path)]
    if fmt == "bin":
        width = next(b for b in (1, 2, 4, 8) if 8 * b >= word_bits)
        data = path.read_bytes()
        code = {1: "B", 2: "H", 4: "I", 8: "Q"}[width]
        return list(struct.unpack(f"<{len(data) // width}{code}", data))
    text = path.read_text()
    if fmt in ("readmemh", "readmemb"):
        lines = [ln for ln in text.splitlines() if ln and not ln.startswith("//")]
        return [int(ln, 16 if fmt == "readmemh" else 2) for ln in lines]
    if fmt == "coe":
        vector = text.split("memory_initialization_vector=")[1].split(";")[0]
        return [int(t.strip(), 16) for t in vector.split(",")]
    body = text.split("CONTENT BEGIN")[1].split("END;")[0]
    return [int(line.split(":")[1].strip(" ;"), 16) for line in body.strip().splitlines()]


def _expected_words(values: np.ndarray, value_bits: int, lanes: int) -> list[int]:
    """Two's complement and lane packing written out with Python integers."""
    raw = [int(v) & ((1 << value_bits) - 1) for v in values.tolist()]
    raw += [0] * (-len(raw) % lanes)
    return [sum(raw[i + k] << (k * value_bits) for k in range(lanes)) for i in range(0, len(raw), lanes)]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("bits,lanes", [(b, k) for b in WIDTHS for k in (1, 2, 4) if b % k == 0])
@pytest.mark.parametrize("signed", [True, False])
def test_round_trip_every_format_width_sign_lanes_layout(tmp_path, fmt, bits, signed, lanes):
    rng = np.random.default_rng(bits * 10 + lanes)
    for layout in LAYOUTS:
        tensor = _values(rng, bits // lanes, signed, 2 * 5 * 3 * 4).reshape(2, 5, 3, 4)
        ordered = to_layout(tensor, layout).reshape(-1)
        path = tmp_path / f"t_{layout}{SUFFIX[fmt]}"
        depth = write_memory(path, ordered, bits, signed=signed, lanes=lanes)
        assert depth == -(-ordered.size // lanes)
        back = read_memory(path, bits, signed=signed, lanes=lanes, count=ordered.size)
        np.testing.assert_array_equal(from_layout(back, tensor.shape, layout), tensor)
        if fmt != "npy" or lanes > 1:
            expected = _expected_words(ordered, bits // lanes, lanes)
            assert _independent_words(path, fmt, bits) == expected


def test_high_first_lanes_put_the_first_value_in_the_high_bits(tmp_path):
    path = tmp_path / "x.hex"
    write_memory(path, [1, 2, 3, -1], 16, lanes=4, high_first=True)
    assert path.read_text().split() == ["123f"]
    np.testing.assert_array_equal(read_memory(path, 16, lanes=4, high_first=True), [1, 2, 3, -1])


def test_float32_is_written_as_ieee_bits(tmp_path):
    x = np.array([1.0, -2.5, np.float32(0.1)], np.float32)
    path = tmp_path / "f.hex"
    write_memory(path, x, 32, signed=False, header="float32")
    words = path.read_text().split("\n", 1)[1].split()
    assert words == ["3f800000", "c0200000", "3dcccccd"]
    back = read_memory(path, 32, signed=False, dtype="float32")
    np.testing.assert_array_equal(back, x)
    assert back.dtype == np.float32


def test_readmemh_literal_with_address_and_big_endian_bin(tmp_path):
    path = tmp_path / "a.mem"
    write_memory(path, [-1, 2, 127], 8, address=0x40, header="layer 0 input")
    assert path.read_text() == "// layer 0 input\n@40\nff\n02\n7f\n"
    binary = tmp_path / "a.bin"
    write_memory(binary, [-2, 258], 12, byteorder="big")
    assert binary.read_bytes() == bytes([0x0F, 0xFE, 0x01, 0x02])
    np.testing.assert_array_equal(read_memory(binary, 12, byteorder="big"), [-2, 258])


@given(
    bits=st.integers(1, 64),
    lanes=st.sampled_from([1, 2, 3, 4, 8]),
    signed=st.booleans(),
    high_first=st.booleans(),
    data=st.data(),
)
def test_pack_unpack_property_against_python_integers(bits, lanes, signed, high_first, data):
    assume(bits % lanes == 0)
    b = bits // lanes
    lo, hi = (-(1 << (b - 1)), (1 << (b - 1)) - 1) if signed else (0, (1 << b) - 1)
    values = data.draw(st.lists(st.integers(lo, hi), min_size=0, max_size=17))
    spec = WordSpec(bits, signed, lanes, high_first)
    array = np.array(values, np.uint64 if (b == 64 and not signed) else np.int64)
    words = pack(array, spec)
    raw = [v & ((1 << b) - 1) for v in values] + [0] * (-len(values) % lanes)
    order = range(lanes - 1, -1, -1) if high_first else range(lanes)
    expected = [
        sum(raw[i + k] << (pos * b) for pos, k in enumerate(order)) for i in range(0, len(raw), lanes)
    ]
    assert [int(w) for w in words] == expected
    assert [int(v) for v in unpack(words, spec, len(values))] == values


def test_3d_and_1d_models_default_to_channels_first(tmp_path):
    from convlab.models import UNet
    from convlab.vectors import load_manifest, read_entry, write_vectors

    for ndim, size in ((3, (8, 8, 8)), (1, (16,))):
        net = UNet(width=2, depth=1, padding="same", ndim=ndim)
        x = np.random.default_rng(ndim).standard_normal((1, 1, *size), dtype=np.float32)
        entries = write_vectors(net, x, tmp_path / str(ndim), fmt="npy")
        assert entries[0].layout == {3: "NCDHW", 1: "NCW"}[ndim]
        _, loaded = load_manifest(tmp_path / str(ndim))
        np.testing.assert_array_equal(read_entry(loaded[-1], tmp_path / str(ndim) / loaded[-1].file), net(x))
