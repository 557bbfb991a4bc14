"""Issue 10, output safety: a full disk, SIGTERM and SIGKILL never leave a finished-looking or half output."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import convlab
from convlab.cli import main
from convlab.io import atomic_group, save_weights, write_bytes_atomic, write_image
from convlab.models import UNet, UNetConfig

tifffile = pytest.importorskip("tifffile")

SRC = str(Path(convlab.__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile_output")
    weights = folder / "unet.safetensors"
    save_weights(UNet(UNetConfig(width=2, depth=2, classes=2), seed=3).state_dict(), weights)
    rng = np.random.default_rng(4)
    tifffile.imwrite(folder / "small.tif", (rng.random((300, 250)) * 255).astype(np.uint8))
    tifffile.imwrite(folder / "large.tif", (rng.random((3000, 3000)) * 255).astype(np.uint8))
    return folder, weights


def _convlab(argv, limit_bytes=None):
    def limit():
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "convlab", *argv],
        env=env,
        preexec_fn=limit,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("suffix", [".npy", ".tif"])
def test_file_size_limit_is_one_line_before_any_tile_and_leaves_nothing(files, tmp_path, suffix):
    folder, weights = files
    out = tmp_path / f"mask{suffix}"
    # The mask is 300 x 250 uint8 = 75,000 bytes plus a header; 20,000 cannot hold it.
    proc = _convlab(
        ["segment", str(folder / "small.tif"), "-w", str(weights), "--tile", "188", "-o", str(out)],
        limit_bytes=20_000,
    )
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, stderr
    assert len(stderr.splitlines()) == 1, stderr
    assert "cannot" in stderr and str(out) in stderr
    assert os.listdir(tmp_path) == []
    assert stdout == ""


def _wait_for_partial(directory: Path, proc, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        partial = [n for n in os.listdir(directory) if ".partial" in n]
        if partial:
            return partial[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("no partial file appeared")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_mid_run_remove_the_temporary(files, tmp_path, sig):
    folder, weights = files
    out = tmp_path / "mask.npy"
    proc = _convlab(
        ["segment", str(folder / "large.tif"), "-w", str(weights), "--tile", "188", "-o", str(out)]
    )
    _wait_for_partial(tmp_path, proc)
    time.sleep(0.5)  # tiles are being computed and written
    assert proc.poll() is None, "the run finished before the signal: make the image larger"
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in stderr
    assert os.listdir(tmp_path) == []


def test_sigkill_leaves_no_complete_looking_output(files, tmp_path):
    folder, weights = files
    out = tmp_path / "mask.tif"
    proc = _convlab(
        ["segment", str(folder / "large.tif"), "-w", str(weights), "--tile", "188", "-o", str(out)]
    )
    partial = _wait_for_partial(tmp_path, proc)
    time.sleep(0.5)
    proc.kill()
    proc.communicate(timeout=60)
    left = os.listdir(tmp_path)
    assert not out.exists()
    # Only the hidden temporary remains, under a name that cannot be taken for the mask.
    assert left == [partial] and partial.startswith(".mask.") and ".partial" in partial


def _segment_files(tmp_path: Path, weights: Path) -> tuple[Path, Path, Path]:
    image = tmp_path / "cells.png"
    write_image((np.random.default_rng(5).random((60, 60)) * 255).astype(np.uint8), image)
    mask = tmp_path / "mask.png"
    return image, mask, tmp_path / "mask_side_by_side.png"


def test_untiled_segment_writes_both_files_or_neither(files, tmp_path, monkeypatch, capsys):
    _, weights = files
    image, mask, side = _segment_files(tmp_path, weights)
    argv = ["segment", str(image), "-w", str(weights), "-o", str(mask)]
    assert main(argv) == 0
    previous_mask, previous_side = mask.read_bytes(), side.read_bytes()
    capsys.readouterr()

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    # The side-by-side picture fails after the new mask is written: the old pair must survive.
    monkeypatch.setattr("convlab.cli._segment.side_by_side", full_disk)
    image.write_bytes(image.read_bytes())
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "No space left on device" in err
    assert mask.read_bytes() == previous_mask and side.read_bytes() == previous_side
    assert sorted(os.listdir(tmp_path)) == ["cells.png", "mask.png", "mask_side_by_side.png"]


def test_atomic_group_renames_only_when_every_file_is_written(tmp_path):
    (tmp_path / "a").write_bytes(b"old a")
    with pytest.raises(RuntimeError), atomic_group():
        write_bytes_atomic(tmp_path / "a", b"new a")
        write_bytes_atomic(tmp_path / "b", b"new b")
        raise RuntimeError("the third output failed")
    assert sorted(os.listdir(tmp_path)) == ["a"] and (tmp_path / "a").read_bytes() == b"old a"
    with atomic_group():
        write_bytes_atomic(tmp_path / "a", b"new a")
        write_bytes_atomic(tmp_path / "b", b"new b")
        assert (tmp_path / "a").read_bytes() == b"old a"  # nothing renamed before the end
    assert (tmp_path / "a").read_bytes() == b"new a" and (tmp_path / "b").read_bytes() == b"new b"
