"""convlab.io's one temporary-file-then-rename machinery, shared by every writer of convlab."""

from __future__ import annotations

import os

import pytest

from convlab.io import atomic_path, discard, reserve_beside, write_bytes_atomic


def test_reserved_names_are_hidden_unique_and_keep_the_suffix(tmp_path):
    names = {reserve_beside(tmp_path / "mask.tif", tag="partial").name for _ in range(20)}
    assert len(names) == 20
    assert all(n.startswith(".mask.") and n.endswith(".partial.tif") for n in names)
    folder = reserve_beside(tmp_path / "out.zarr", directory=True)
    assert folder.is_dir() and folder.name.endswith(".tmp.zarr")
    (folder / "chunk").write_bytes(b"x")
    discard(folder)
    discard(folder)  # twice is fine
    assert not folder.exists()


def test_reserved_file_follows_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        mode = reserve_beside(tmp_path / "a.npy").stat().st_mode & 0o777
    finally:
        os.umask(old)
    assert mode == 0o644  # not mkstemp's 0o600


def test_a_failed_block_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "w.bin"
    write_bytes_atomic(target, b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["w.bin"]


def test_a_missing_directory_is_an_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_bytes_atomic(tmp_path / "no" / "such.bin", b"x")
