"""Weight files: round trips, PyTorch checkpoints through weights_only, damage, atomic writes."""

from __future__ import annotations

import json
import struct
import sys
from fractions import Fraction

import numpy as np
import pytest

from convlab import MissingDependency
from convlab.io import WeightsFileError, WeightsNote, load_weights, save_weights

FORMATS = ("safetensors", "npz", "pt", "pth")


def _state() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "down.0.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "down.0.bias": rng.standard_normal(4).astype(np.float64),
        "bn.num_batches_tracked": np.array(7, dtype=np.int64),
        "table": np.arange(6, dtype=np.uint8).reshape(2, 3),
        "mask": np.array([True, False]),
        "strided": rng.standard_normal((3, 4)).astype(np.float32).T,
    }


def _assert_same(loaded: dict, expected: dict, *, ordered: bool = True) -> None:
    assert (list(loaded) if ordered else sorted(loaded)) == (list(expected) if ordered else sorted(expected))
    for name, value in expected.items():
        assert loaded[name].dtype == value.dtype, name
        assert loaded[name].shape == value.shape, name
        np.testing.assert_array_equal(loaded[name], value, err_msg=name)


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip_keeps_names_order_values_and_dtypes(tmp_path, ext, torch):
    state = _state()
    path = tmp_path / f"w.{ext}"
    save_weights(state, path)
    _assert_same(load_weights(path), state)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


@pytest.mark.parametrize("ext", FORMATS)
def test_float16_is_widened_to_float32_with_a_note(tmp_path, ext, torch):
    half = np.array([1.5, -2.25, 65504.0], dtype=np.float16)
    save_weights({"w": half}, tmp_path / f"w.{ext}")
    with pytest.warns(WeightsNote, match="float16 tensors widened to float32"):
        loaded = load_weights(tmp_path / f"w.{ext}")
    assert loaded["w"].dtype == np.float32
    np.testing.assert_array_equal(loaded["w"], half.astype(np.float32))


def test_bfloat16_from_safetensors_and_torch_is_exact_float32(tmp_path, torch):
    from safetensors.torch import save_file

    values = torch.tensor([1.0, -3.5, 2.0**-10, 1e30]).to(torch.bfloat16)
    save_file({"w": values}, str(tmp_path / "w.safetensors"))
    torch.save({"w": values}, tmp_path / "w.pt")
    for name in ("w.safetensors", "w.pt"):
        with pytest.warns(WeightsNote, match="bfloat16"):
            loaded = load_weights(tmp_path / name)["w"]
        assert loaded.dtype == np.float32
        np.testing.assert_array_equal(loaded, values.float().numpy())


def test_safetensors_files_pass_both_ways_with_the_reference_package(tmp_path):
    from safetensors.numpy import load_file, save_file

    state = {k: v for k, v in _state().items() if k != "strided"}
    save_file(state, str(tmp_path / "theirs.safetensors"))
    # The reference writer orders the header by dtype and name, not as given.
    _assert_same(load_weights(tmp_path / "theirs.safetensors"), state, ordered=False)
    save_weights(state, tmp_path / "ours.safetensors")
    theirs = load_file(str(tmp_path / "ours.safetensors"))
    _assert_same({k: theirs[k] for k in state}, state)


@pytest.mark.parametrize("key", ["state_dict", "model_state_dict", "model"])
def test_checkpoint_dicts_are_unwrapped_with_a_note(tmp_path, torch, key):
    weight = torch.arange(6.0).reshape(2, 3)
    torch.save({key: {"conv.weight": weight}, "epoch": 3, "optimizer": {"lr": 0.1}}, tmp_path / "c.pt")
    with pytest.warns(WeightsNote, match=f"under '{key}'"):
        loaded = load_weights(tmp_path / "c.pt")
    assert list(loaded) == ["conv.weight"]
    np.testing.assert_array_equal(loaded["conv.weight"], weight.numpy())


def test_data_parallel_prefix_is_stripped_inside_a_wrapped_checkpoint(tmp_path, torch):
    state = {"module.inc.weight": torch.ones(2), "module.inc.bias": torch.zeros(2)}
    torch.save({"state_dict": state, "epoch": 1}, tmp_path / "c.pth")
    with pytest.warns(WeightsNote) as notes:
        loaded = load_weights(tmp_path / "c.pth")
    assert list(loaded) == ["inc.weight", "inc.bias"]
    text = " ".join(str(n.message) for n in notes)
    assert "'module.' prefix" in text and "under 'state_dict'" in text


def test_prefix_on_only_some_keys_is_kept(tmp_path):
    save_weights({"module.a": np.ones(1), "b": np.ones(1)}, tmp_path / "w.npz")
    assert list(load_weights(tmp_path / "w.npz")) == ["module.a", "b"]


def test_pickled_object_in_a_pt_file_is_refused_by_weights_only(tmp_path, torch):
    torch.save({"w": torch.ones(2), "evil": Fraction(1, 3)}, tmp_path / "obj.pt")
    with pytest.raises(WeightsFileError, match=r"obj\.pt.*refused.*weights_only=True"):
        load_weights(tmp_path / "obj.pt")


def test_plain_numbers_become_arrays_and_other_entries_are_refused(tmp_path, torch):
    torch.save({"w": torch.ones(2), "mask_values": [0, 255]}, tmp_path / "numbers.pt")
    with pytest.warns(WeightsNote, match="Python numbers became arrays: mask_values"):
        loaded = load_weights(tmp_path / "numbers.pt")
    np.testing.assert_array_equal(loaded["mask_values"], [0, 255])
    torch.save({"w": torch.ones(2), "name": "unet"}, tmp_path / "mixed.pt")
    with pytest.raises(
        WeightsFileError, match=r"mixed\.pt.*entry 'name' is 'unet', neither a tensor nor numbers"
    ):
        load_weights(tmp_path / "mixed.pt")
    torch.save(torch.ones(2), tmp_path / "bare.pt")
    with pytest.raises(WeightsFileError, match=r"bare\.pt.*holds Tensor, not a dict of tensors"):
        load_weights(tmp_path / "bare.pt")


def test_missing_torch_is_a_clear_error(tmp_path, monkeypatch, torch):
    torch.save({"w": torch.ones(2)}, tmp_path / "w.pt")
    monkeypatch.setitem(sys.modules, "torch", None)
    missing = r"needs PyTorch: pip install torch \(or "
    with pytest.raises(MissingDependency, match=r"^reading \S*w\.pt " + missing + "convert"):
        load_weights(tmp_path / "w.pt")
    with pytest.raises(MissingDependency, match=r"^writing \S*v\.pt " + missing + r"write \.safetensors"):
        save_weights({"w": np.ones(2)}, tmp_path / "v.pt")
    assert not (tmp_path / "v.pt").exists()


def test_object_arrays_in_npz_are_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", w=np.array([Fraction(1, 3)], dtype=object))
    with pytest.raises(WeightsFileError, match=r"obj\.npz.*Python objects.*pickle"):
        load_weights(tmp_path / "obj.npz")


@pytest.mark.parametrize("ext", FORMATS)
def test_truncated_files_name_the_path(tmp_path, ext, torch):
    path = tmp_path / f"w.{ext}"
    save_weights(_state(), path)
    data = path.read_bytes()
    for cut in (len(data) // 2, 5, 0):
        path.write_bytes(data[:cut])
        with pytest.raises(WeightsFileError, match=rf"cannot read weights file .*w\.{ext}"):
            load_weights(path)


def _safetensors(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


@pytest.mark.parametrize(
    ("header", "data", "message"),
    [
        ({"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, b"\0\0", "dtype 'F8_E4M3'"),
        ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4, "do not hold shape"),
        ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8, "4 bytes after"),
        ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, "non-negative"),
        ({"w": {"dtype": "F32", "shape": [1]}}, b"\0" * 4, "needs dtype, shape and data_offsets"),
        (
            {
                "a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
                "b": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]},
            },
            b"\0" * 3,
            "hole or an overlap",
        ),
    ],
)
def test_malformed_safetensors_headers_are_refused(tmp_path, header, data, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(_safetensors(header, data))
    with pytest.raises(WeightsFileError, match=message):
        load_weights(path)


def test_header_that_is_not_json_or_too_long(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", 4) + b"{no}")
    with pytest.raises(WeightsFileError, match="not valid JSON"):
        load_weights(path)
    path.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    with pytest.raises(WeightsFileError, match="exceeds the file"):
        load_weights(path)


def test_unknown_extension_and_missing_file(tmp_path):
    with pytest.raises(WeightsFileError, match=r"extension '\.h5'.*\.safetensors, \.npz, \.pt, \.pth"):
        load_weights(tmp_path / "w.h5")
    with pytest.raises(WeightsFileError, match=r"extension '\.bin'"):
        save_weights({"w": np.ones(1)}, tmp_path / "w.bin")
    with pytest.raises(WeightsFileError, match=r"missing\.npz' does not exist"):
        load_weights(tmp_path / "missing.npz")
    with pytest.raises(WeightsFileError, match=r"cannot write weights file .*nowhere"):
        save_weights({"w": np.ones(1)}, tmp_path / "nowhere" / "w.npz")


def test_bad_state_dicts_are_refused_before_writing(tmp_path):
    with pytest.raises(WeightsFileError, match="keys must be strings, got 3"):
        save_weights({3: np.ones(1)}, tmp_path / "w.npz")
    with pytest.raises(WeightsFileError, match=r"state_dict\['w'\] must be numeric, got dtype <U1"):
        save_weights({"w": np.array(["a"])}, tmp_path / "w.npz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ext", ["safetensors", "npz"])
def test_interrupted_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch, ext):
    from convlab.io import _weights

    path = tmp_path / f"w.{ext}"
    save_weights({"old": np.zeros(1)}, path)

    def interrupted(arrays, tmp):
        tmp.write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setitem(_weights._WRITERS, "safetensors" if ext == "safetensors" else "npz", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_weights({"new": np.ones(1)}, path)
    with pytest.raises(KeyboardInterrupt):
        save_weights({"new": np.ones(1)}, tmp_path / f"fresh.{ext}")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert list(load_weights(path)) == ["old"]
