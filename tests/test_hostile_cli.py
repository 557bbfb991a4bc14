"""Issue 10, command line: every hostile reproduction is one line on stderr and exit 2, before the work."""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

import convlab
from convlab.cli import main

DIGITS_5000 = "5" * 5000
HUGE = str(2**62)


def run(capsys, *argv):
    try:
        status = main(list(argv))
    except SystemExit as exc:  # argparse refuses an argument by exiting 2
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


# (argv, a word the one-line message must contain)
REPRODUCTIONS = [
    (("unet", "--input", "572", "--width", "100000"), "width=100000"),
    (("unet", "--input", "572", "--classes", HUGE), f"classes={HUGE}"),
    (("unet", "--input", "572", "--depth", "100000"), "depth must be at most 64"),
    (("unet", "--input", "572", "--convs", "100000"), "convs_per_level must be at most 1024"),
    (("overlap", "-k", "3", "--size", "100000x100000"), "output pixel"),
    (("explain", "conv", "1" + "0" * 30, "-k", "3"), "size"),
    (("explain", "conv", "4", "-k", "3", "--seed", "-1"), "--seed"),
    (("explain", "convtranspose", "2000x2000", "-k", "3"), "4096 pixels"),
    (("explain", "convtranspose", "4", "-k", "3", "-s", "1" + "0" * 30), "stride"),
    (("rf", "c3s" + DIGITS_5000), "layer"),
    (("rf", "c3s10000000000"), "at most 10000"),
    (("unet-sizes", "572", "--depth", "40"), "nearest valid input sizes: 13194139533308"),
    (("unet-sizes", "572", "--depth", "100"), "--depth"),
    (("unet-sizes", "572", "--convs", "1000000"), "--convs"),
    (("solve", "768", "128", "--max-padding", str(2**40)), "--max-padding"),
    (("solve", "768", "128", "--max-kernel-size", HUGE), "--max-kernel-size"),
    (("solve", "768", "128", "--max-stride", HUGE), "--max-stride"),
    (("solve", "768", "128", "--max-dilation", HUGE), "--max-dilation"),
    (("demo", "--size", "100000"), "demo --size 100000"),
    # issue 15's positional sizes keep the same bounds
    (("unet", "572", "--width", "100000"), "width=100000"),
    (("overlap", "100000x100000", "-k", "3"), "output pixel"),
    (("animate", "conv", "1" + "0" * 30, "-k", "3", "-o", "a.gif"), "too large for animate"),
    (("animate", "convt", "5", "-k", "3", "-s", HUGE, "-o", "a.gif"), "too large for animate"),
]


@pytest.mark.parametrize(("argv", "word"), REPRODUCTIONS, ids=[" ".join(a)[:40] for a, _ in REPRODUCTIONS])
def test_each_reproduction_is_one_line_and_exit_2_at_once(capsys, argv, word):
    start = time.perf_counter()
    with convlab.memory_limit(1 << 30):
        status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert word in lines[0]
    assert "Traceback" not in err
    # Refused before the work: generous bound, the point is "not minutes".
    assert time.perf_counter() - start < 20


def test_demo_into_a_missing_directory_is_one_line(capsys, tmp_path):
    status, _, err = run(capsys, "demo", "--size", "64", "--tile", "60", "-o", str(tmp_path / "no" / "d.png"))
    assert status == 2
    assert len(err.splitlines()) == 1
    # Checked before the image is made and segmented, not when the picture is written.
    assert f"the directory {str(tmp_path / 'no')!r} does not exist" in err


def test_demo_into_a_read_only_directory_is_one_line(capsys):
    # sysfs refuses new files even to root (CI runs as root, where chmod 555 would not stop it).
    status, _, err = run(capsys, "demo", "--size", "64", "--tile", "60", "-o", "/sys/convlab-demo.png")
    assert status == 2
    assert err.splitlines() == [err.strip()]
    assert "Permission denied" in err
    assert not os.path.exists("/sys/convlab-demo.png")


def test_bounds_leave_ordinary_commands_alone(capsys):
    assert run(capsys, "explain", "conv", "32", "-k", "3", "--seed", "1")[0] == 0
    assert run(capsys, "solve", "768", "128", "--max-kernel-size", "64", "--max-dilation", "2")[0] == 0
    assert run(capsys, "unet-sizes", "64", "--padding", "same", "--depth", "6", "--convs", "1024")[0] == 0


def test_unet_sizes_depth_40_names_the_closed_form_neighbour(capsys):
    # Valid sizes of a valid U-Net: 2**depth * m + 4 * (2**depth - 1) (2 convs of 3 lose 4 per level);
    # the first with every decoder size >= 1 is m = 9 for depth 40: 2**40 * 9 + 4 * (2**40 - 1) + ...
    status, _, err = run(capsys, "unet-sizes", "572", "--depth", "40")
    p = 2**40
    smallest = next(p * m + 4 * (p - 1) for m in range(1, 100) if _naive_fits(p * m + 4 * (p - 1), 40))
    assert status == 2
    assert f"nearest valid input sizes: {smallest} (above)" in err


def _naive_fits(n: int, depth: int, k: int = 3, convs: int = 2) -> bool:
    sizes = []
    for _ in range(depth):
        for _ in range(convs):
            n -= k - 1
            if n < 1:
                return False
        if n % 2 or n < 2:
            return False
        sizes.append(n)
        n //= 2
    for _ in range(convs):
        n -= k - 1
        if n < 1:
            return False
    for _ in range(depth):
        n = 2 * n
        for _ in range(convs):
            n -= k - 1
            if n < 1:
                return False
    return True


# ---- the fuzz: sub-commands x hostile values, in-process, each invocation time-bounded ----

_VALUES = [
    "0", "-1", "1", "3", "7", "64", "65", "4097", HUGE, "1" + "0" * 30, DIGITS_5000[:30], "abc", "",
    "1.5", "nan", "3x0", "0x3", "4x4", "100000x100000", "2x2x2x2", "same", "valid", "0:1", "-1:2", "x",
]  # fmt: skip
_LAYERS = [
    "c3",
    "c3s2p1",
    "pool2",
    "t2s2",
    "c0",
    "t0",
    "c3s" + DIGITS_5000[:50],
    "c10000",
    "zz",
    "p",
    "c3d10000",
]
_COMMANDS = {
    "shape": (["conv", "convt", "convtranspose", "pool"], ["-k", "-s", "-p", "-d", "--op", "--ndim"]),
    "roundtrip": ([], ["-k", "-s", "-p", "-d", "--ndim"]),
    "solve": ([], ["--max-kernel-size", "--max-stride", "--max-padding", "--max-dilation", "--limit",
                   "-k", "-s", "-p", "-d", "--op", "--ndim"]),
    "unet-sizes": ([], ["--depth", "-k", "-p", "--convs", "--ndim"]),
    "explain": (["conv", "convtranspose", "unfold", "crop"], ["-k", "-s", "-p", "-d", "--op", "-c", "--seed",
                                                             "--crop", "--ndim"]),
    "overlap": ([], ["-k", "-s", "-p", "-d", "--op", "--ndim", "--size"]),
    "unet": ([], ["--depth", "--width", "--convs", "--classes", "-k", "--in-channels", "--ndim"]),
    "rf": ([], ["--input"]),
}  # fmt: skip
# The size is positional (issue 15): always for these, sometimes for overlap (default 5).
_SIZED = ("shape", "roundtrip", "explain", "unet-sizes", "unet")


def _invocation(rng: random.Random) -> list[str]:
    command = rng.choice(sorted(_COMMANDS))
    ops, options = _COMMANDS[command]
    argv = [command]
    if ops:
        argv.append(rng.choice(ops))
    if command == "rf":
        argv += rng.sample(_LAYERS, rng.randint(1, 3))
    elif command in _SIZED or (command == "overlap" and rng.random() < 0.7):
        argv.append(rng.choice([*_VALUES[:6], "4", "5x5", "572", *_VALUES[6:]]))
    elif command == "solve":
        argv += [rng.choice(["768", "5", "0", HUGE]), rng.choice(["128", "3", "-1", "4096"])]
    for option in rng.sample(options, rng.randint(0, min(3, len(options)))):
        argv += [option, rng.choice(_VALUES)]
    if command in ("shape", "roundtrip", "overlap") and "-k" not in argv:
        argv += ["-k", rng.choice(["3", "2x2", "0", HUGE])]
    if rng.random() < 0.2:
        argv.append("--json")
    return argv


class _Hang(BaseException):
    pass


def _alarm(signum, frame):
    raise _Hang


def fuzz_cli(capsys, count: int, seed: int, seconds: int = 20) -> dict:
    """Run ``count`` invocations; returns the tally. A hang is an invocation over ``seconds``."""
    rng = random.Random(seed)
    tally = {"invocations": 0, "ok": 0, "refused": 0, "hangs": [], "tracebacks": [], "multi_line": []}
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for _ in range(count):
            argv = _invocation(rng)
            tally["invocations"] += 1
            signal.alarm(seconds)
            try:
                with convlab.memory_limit(256 << 20):
                    status = main(argv)
            except _Hang:
                tally["hangs"].append(argv)
                capsys.readouterr()
                continue
            except SystemExit as exc:  # argparse --help never appears; a parse error exits 2
                status = exc.code
            finally:
                signal.alarm(0)
            _, err = capsys.readouterr()
            if status == 0:
                tally["ok"] += 1
            elif status == 2 and "Traceback" not in err:
                tally["refused"] += 1
                if len(err.strip().splitlines()) != 1:
                    tally["multi_line"].append((argv, err))
            else:
                tally["tracebacks"].append((argv, status, err[-500:]))
    finally:
        signal.signal(signal.SIGALRM, previous)
    return tally


def _check(tally: dict) -> None:
    assert tally["hangs"] == []
    assert tally["tracebacks"] == []
    assert tally["multi_line"] == []
    # The generator must exercise both outcomes, or the fuzz proves nothing.
    assert tally["ok"] > 0 and tally["refused"] > 0


def test_cli_fuzz_default(capsys):
    _check(fuzz_cli(capsys, 300, seed=10))


@pytest.mark.slow
def test_cli_fuzz_slow(capsys):
    tally = fuzz_cli(capsys, 2000, seed=1010)
    print({k: (v if isinstance(v, int) else len(v)) for k, v in tally.items()})
    _check(tally)


def test_an_image_too_large_for_one_pass_suggests_tile(capsys, tmp_path):
    import numpy as np

    from convlab.io import save_weights, write_image
    from convlab.models import UNet, UNetConfig

    weights, image = tmp_path / "w.safetensors", tmp_path / "cells.png"
    save_weights(UNet(UNetConfig(depth=2, width=8)).state_dict(), weights)
    write_image(np.zeros((600, 600), np.uint8), image)
    argv = ["segment", str(image), "-w", str(weights), "-o", str(tmp_path / "mask.png")]
    # 600x600 decodes in 360 KB but its feature maps take ~67 MiB: refused before computing.
    with convlab.memory_limit(50 << 20):
        status, _, err = run(capsys, *argv)
    assert status == 2
    assert len(err.splitlines()) == 1
    assert "--tile" in err and "forward pass of" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells.png", "w.safetensors"]


def test_an_unreachable_scheduler_is_one_line_within_dasks_connect_timeout(capsys, tmp_path):
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    import numpy as np

    from convlab.io import save_weights, write_image
    from convlab.models import UNet, UNetConfig

    weights, image = tmp_path / "w.safetensors", tmp_path / "cells.tif"
    save_weights(UNet(UNetConfig(depth=1, width=1)).state_dict(), weights)
    write_image(np.zeros((100, 100), np.uint8), image)
    argv = ["segment", str(image), "-w", str(weights), "--tile", "188", "-o", str(tmp_path / "m.tif")]
    start = time.perf_counter()
    # The stated timeout is Dask's own connect timeout (30 s by default), here set to 2 s.
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        status, _, err = run(capsys, *argv, "--scheduler", "tcp://127.0.0.1:1")
    assert status == 2
    assert len(err.splitlines()) == 1 and "cannot be reached" in err
    assert time.perf_counter() - start < 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells.tif", "w.safetensors"]
