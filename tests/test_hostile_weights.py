"""Crafted weight files: cycles, expansion and deflate bombs, lying headers, odd tensors.

Every file here is small; each must be refused quickly with a WeightsFileError
that names the file and says what is wrong, or read correctly. None may run
code, hang, or allocate what its headers merely claim.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import time
import zipfile

import numpy as np
import pytest

import convlab
from convlab.io import WeightsFileError, load_weights


def _refused(path, pattern: str) -> WeightsFileError:
    start = time.monotonic()
    with pytest.raises(WeightsFileError, match=pattern) as info:
        load_weights(path)
    assert time.monotonic() - start < 30
    assert path.name in str(info.value)
    return info.value


def _npy_bytes(shape, dtype="<f4", payload: bytes = b"") -> bytes:
    header = {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue() + payload


def test_pt_dict_that_contains_itself_is_a_cycle(tmp_path, torch):
    d: dict = {}
    d["state_dict"] = d
    path = tmp_path / "cycle.pt"
    torch.save(d, path)
    assert path.stat().st_size < 4096
    _refused(path, r"contains itself")


def test_pt_expanded_view_is_refused_before_materialising(tmp_path, torch):
    path = tmp_path / "expand.pt"
    torch.save({"w": torch.ones(1).expand(2**30)}, path)
    assert path.stat().st_size < 4096
    _refused(path, r"'w'.*unpack to 4\.0 GiB.*expansion_limit")


def test_pt_many_views_of_one_storage_add_up(tmp_path, torch):
    base = torch.zeros(1 << 16)  # 256 KiB stored once
    path = tmp_path / "views.pt"
    torch.save({f"v{i}": base for i in range(400)}, path)  # 100 MiB if each were copied
    _refused(path, r"unpack to")
    with convlab.expansion_limit(1000):
        assert len(load_weights(path)) == 400


def test_pt_with_integer_keys_names_the_key(tmp_path, torch):
    path = tmp_path / "intkeys.pt"
    torch.save({0: torch.ones(2)}, path)
    _refused(path, r"key 0; keys must be strings")


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda t: t.ones(2, 2).to_sparse(), r"layout torch.sparse_coo"),
        (lambda t: t.quantize_per_tensor(t.ones(2), 0.1, 0, t.qint8), r"quantized tensor"),
        (lambda t: t.ones(2).to(t.float8_e4m3fn), r"dtype torch.float8_e4m3fn.*readable"),
        (lambda t: t.ones(2, dtype=t.complex64), r"dtype torch.complex64"),
    ],
)
def test_pt_tensors_convlab_cannot_hold_name_file_and_tensor(tmp_path, torch, make, pattern):
    path = tmp_path / "odd.pt"
    torch.save({"layer.weight": make(torch)}, path)
    _refused(path, r"'layer\.weight'.*" + pattern)


@pytest.mark.parametrize("value", [[[1, 2]], {"a": 1}, "text", [1, "x"]])
def test_pt_plain_entries_must_be_numbers(tmp_path, torch, value):
    path = tmp_path / "plain.pt"
    torch.save({"w": torch.ones(1), "extra": value}, path)
    _refused(path, r"entry 'extra' is .* neither a tensor nor numbers")


def test_pt_self_referring_list_is_refused(tmp_path, torch):
    loop: list = [1]
    loop.append(loop)
    path = tmp_path / "looplist.pt"
    torch.save({"w": torch.ones(1), "extra": loop}, path)
    _refused(path, r"neither a tensor nor numbers")


def test_npz_deflate_bomb_is_refused_from_the_directory(tmp_path):
    path = tmp_path / "bomb.npz"
    zeros = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        member = archive.open("w.npy", "w", force_zip64=True)
        member.write(_npy_bytes((1 << 26,)))
        for _ in range(1 << 8):  # 256 MiB of zeros, about 256 KiB deflated
            member.write(zeros)
        member.close()
    assert path.stat().st_size < 2 << 20
    _refused(path, r"unpack to 256\.0 MiB")


def test_npz_header_declaring_more_than_the_member_holds(tmp_path):
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", _npy_bytes((2**40,), payload=bytes(64)))
    _refused(path, r"'w' declares shape \(1099511627776,\) of float32 but its member holds only")


def test_npz_member_that_is_not_npy(tmp_path):
    path = tmp_path / "other.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", _npy_bytes((1,), payload=bytes(4)))
        archive.writestr("notes.txt", b"hello")
    _refused(path, r"member 'notes.txt' is not an \.npy array")


def test_bare_npy_renamed_npz(tmp_path):
    path = tmp_path / "single.npz"
    np.save(tmp_path / "single.npy", np.ones(3))
    (tmp_path / "single.npy").rename(path)
    _refused(path, r"single \.npy array")


def test_npz_with_pickled_member_is_refused_without_unpickling(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('ran code')",))

    path = tmp_path / "pickle.npz"
    payload = pickle.dumps(np.array([Boom()], dtype=object))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", _npy_bytes((1,), "|O", payload))
    _refused(path, r"'w' holds Python objects")


def test_npz_sane_archive_still_loads(tmp_path):
    path = tmp_path / "ok.npz"
    np.savez_compressed(path, a=np.arange(6.0).reshape(2, 3), b=np.zeros(4, np.int8))
    loaded = load_weights(path)
    np.testing.assert_array_equal(loaded["a"], np.arange(6.0).reshape(2, 3))
    assert loaded["b"].dtype == np.int8


def _safetensors(header: bytes, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + data


def test_safetensors_deeply_nested_header_is_not_parsed(tmp_path):
    path = tmp_path / "deep.safetensors"
    path.write_bytes(_safetensors(b"[" * 200_000))
    _refused(path, r"nests deeper than 8 levels")


def test_safetensors_nesting_inside_strings_does_not_count(tmp_path):
    name = '[[[[[[[[[[{{{{{{{{{\\"x'
    header = json.dumps({name: {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path = tmp_path / "strings.safetensors"
    path.write_bytes(_safetensors(header, np.float32(2.5).tobytes()))
    assert load_weights(path)[name] == np.float32(2.5)


def test_safetensors_dtype_that_is_a_list(tmp_path):
    header = json.dumps({"w": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}}).encode()
    path = tmp_path / "listdtype.safetensors"
    path.write_bytes(_safetensors(header, bytes(4)))
    _refused(path, r"tensor 'w' has dtype \['F32'\], which convlab cannot read")


def test_limits_are_per_context_and_validated():
    default = convlab.get_memory_limit()
    with convlab.memory_limit(123):
        assert convlab.get_memory_limit() == 123
        with convlab.memory_limit(None):
            assert convlab.get_memory_limit() == default
    assert convlab.get_memory_limit() == default
    with pytest.raises(convlab.ConvlabError, match=r"memory_limit must be positive integers, got .*=0"):
        convlab.memory_limit(0).__enter__()
    with pytest.raises(TypeError, match="expansion_limit must be an integer"):
        convlab.expansion_limit(2.5).__enter__()


def test_memory_limit_from_the_environment(monkeypatch):
    monkeypatch.setenv("CONVLAB_MEMORY_LIMIT", "1.5G")
    assert convlab.get_memory_limit() == 3 << 29
    monkeypatch.setenv("CONVLAB_MEMORY_LIMIT", "lots")
    with pytest.raises(convlab.ConvlabError, match="CONVLAB_MEMORY_LIMIT must be a byte count"):
        convlab.get_memory_limit()


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_images_are_bounded_from_their_header_before_decoding(tmp_path, suffix):
    from convlab.io import ImageFileError, read_image, write_image

    path = tmp_path / f"big{suffix}"
    write_image(np.zeros((300, 200), np.uint8), path)
    pattern = r"big.*decoding the whole image.*--tile.*memory limit"
    with convlab.memory_limit(300 * 200 - 1), pytest.raises(ImageFileError, match=pattern):
        read_image(path)
    with convlab.memory_limit(300 * 200):
        assert read_image(path).shape == (1, 300, 200)
