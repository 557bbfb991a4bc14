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


# ---------------------------------------------------------------- mutation fuzz over crafted files


class _Marker:
    """A pickle payload that would create a file if anything ever unpickled it."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _valid_files(tmp_path, torch) -> dict[str, bytes]:
    from convlab.io import save_weights

    rng = np.random.default_rng(0)
    state = {
        "conv.weight": rng.normal(size=(4, 2, 3, 3)).astype(np.float32),
        "conv.bias": rng.normal(size=4),
        "bn.num_batches_tracked": np.array(3, np.int64),
    }
    files = {}
    for suffix in (".safetensors", ".npz", ".pt"):
        path = tmp_path / f"valid{suffix}"
        save_weights(state, path)
        files[suffix] = path.read_bytes()
    compressed = io.BytesIO()
    np.savez_compressed(compressed, **state)
    files[".npz-deflate"] = compressed.getvalue()
    return files


def _pickle_bomb(base: bytes, marker) -> bytes:
    # The torch zip with its data.pkl replaced by a payload that would run code.
    source, out = zipfile.ZipFile(io.BytesIO(base)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("data.pkl"):
                data = pickle.dumps({"w": _Marker(marker)}, protocol=2)
            target.writestr(info, data)
    return out.getvalue()


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    kind = rng.integers(5)
    buf = bytearray(data)
    if kind == 0:  # truncated
        return bytes(buf[: rng.integers(len(buf))])
    if kind == 1:  # a few bytes flipped anywhere
        for at in rng.integers(len(buf), size=rng.integers(1, 9)):
            buf[at] ^= int(rng.integers(1, 256))
        return bytes(buf)
    if kind == 2:  # a huge or wrong length field at the start (safetensors' header size, zip magic)
        buf[:8] = int(rng.integers(0, 2**63)).to_bytes(8, "little")
        return bytes(buf)
    if kind == 3:  # random bytes inserted
        at = int(rng.integers(len(buf)))
        return bytes(buf[:at]) + rng.bytes(int(rng.integers(1, 64))) + bytes(buf[at:])
    return bytes(buf[: len(buf) // 2]) + bytes(buf)  # spliced with itself


def _crafted(tmp_path, torch, count: int, seed: int):
    marker = tmp_path / "CODE-RAN"
    files = _valid_files(tmp_path, torch)
    rng = np.random.default_rng(seed)
    yield ".pt", _pickle_bomb(files[".pt"], marker)
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w") as archive:
        archive.writestr("w.npy", _npy_bytes((1,), "|O", pickle.dumps(np.array([_Marker(marker)], object))))
    yield ".npz", npz.getvalue()
    names = sorted(files)
    for _ in range(count - 2):
        key = names[int(rng.integers(len(names)))]
        yield key.split("-")[0], _mutate(files[key], rng)


def _fuzz_files(tmp_path, torch, count: int, seed: int) -> dict[str, int]:
    outcomes = {"read": 0, "refused": 0}
    for i, (suffix, data) in enumerate(_crafted(tmp_path, torch, count, seed)):
        path = tmp_path / f"crafted{i}{suffix}"
        path.write_bytes(data)
        start = time.monotonic()
        try:
            loaded = load_weights(path)
        except WeightsFileError as err:
            assert path.name in str(err)
            outcomes["refused"] += 1
        else:
            assert all(isinstance(v, np.ndarray) and v.dtype != object for v in loaded.values())
            outcomes["read"] += 1
        assert time.monotonic() - start < 10, f"file {i} took too long"
        assert not (tmp_path / "CODE-RAN").exists(), f"file {i} ran code"
    return outcomes


def test_crafted_files_are_read_or_refused_never_run(tmp_path, torch):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcomes = _fuzz_files(tmp_path, torch, 150, seed=1)
    assert sum(outcomes.values()) == 150 and outcomes["refused"] > 100


@pytest.mark.slow
def test_crafted_files_thousands(tmp_path, torch):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcomes = _fuzz_files(tmp_path, torch, 2000, seed=2)
    print(f"\ncrafted weight files: {outcomes}")
    assert sum(outcomes.values()) == 2000
