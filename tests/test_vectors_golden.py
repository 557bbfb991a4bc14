"""Golden vectors of a U-Net, manifest schema, diff on injected faults, published .coe/.mif, errors."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import torch

from convlab.cli import main
from convlab.models import UNet
from convlab.vectors import (
    Encoded,
    conv_reads,
    conv_transpose_reads,
    crop_reads,
    diff,
    line_buffer,
    load_manifest,
    read_entry,
    read_memory,
    skip_windows,
    to_layout,
    write_memory,
    write_vectors,
)


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    net = UNet(width=4, depth=2, padding="same", classes=3)
    x = np.random.default_rng(1).standard_normal((1, 1, 16, 16), dtype=np.float32)
    out = tmp_path_factory.mktemp("golden")
    write_vectors(net, x, out, layout="NHWC", meta={"note": "test"})
    return net, x, out


def test_manifest_schema_and_every_file_reads_back(golden):
    net, x, out = golden
    meta, entries = load_manifest(out)
    assert meta == {"schema": "convlab.vectors/1", "note": "test"}
    raw = json.loads((out / "manifest.json").read_text())["entries"][0]
    assert set(raw) == {
        "layer", "op", "tensor", "file", "fmt", "shape", "tensor_shape", "layout", "word_bits", "value_bits",
        "lanes", "high_first", "signed", "byteorder", "number", "count", "depth", "address",
    }  # fmt: skip
    assert raw["shape"] == [1, 16, 16, 1] and raw["layout"] == "NHWC" and raw["number"] == {"kind": "float32"}
    state = net.state_dict()
    for e in entries:
        array = read_entry(e, out / e.file)
        if e.tensor in ("weight", "bias"):
            np.testing.assert_array_equal(array, state[f"{e.layer}.{e.tensor}"])
    head = next(e for e in entries if (e.layer, e.tensor) == ("head", "output"))
    np.testing.assert_array_equal(read_entry(head, out / head.file), net(x))
    first = entries[0]
    np.testing.assert_array_equal(read_entry(first, out / first.file), x)


def _inject(golden_dir, dump_dir, layer, tensor, edit):
    _, entries = load_manifest(golden_dir)
    e = next(e for e in entries if (e.layer, e.tensor) == (layer, tensor))
    values = read_entry(e, golden_dir / e.file)
    edit(values)
    stem = e.file.rsplit(".", 1)[0]
    write_memory(dump_dir / f"{stem}.bin", to_layout(values, e.layout), 32, signed=False)
    return e


def test_diff_names_layer_channel_pixel_and_ulps(golden, tmp_path, capsys):
    _, _, out = golden

    def edit(v):
        v[0, 2, 5, 9] = np.nextafter(v[0, 2, 5, 9], np.float32(np.inf), dtype=np.float32)
        v[0, 2, 6, 9] += 1.0

    _inject(out, tmp_path, "up0.conv1", "output", edit)
    report = diff(out, tmp_path)
    first = report.first
    assert (first.entry.layer, first.first, first.mismatches) == ("up0.conv1", (0, 2, 5, 9), 2)
    assert first.max_lsb > 1 and first.where[0] == "channel 2 only of 4"
    assert diff(out, tmp_path, tolerance=first.max_lsb).equal
    assert main(["diff", str(out), str(tmp_path)]) == 1
    assert "first: n=0, c=2, y=5, x=9" in capsys.readouterr().out


def test_diff_map_says_left_edge_and_one_channel(golden, tmp_path, capsys):
    _, _, out = golden

    def edit(v):
        v[0, 3, :, 0] += 0.5

    _inject(out, tmp_path, "down0.conv2", "output", edit)
    assert main(["diff", str(out), str(tmp_path)]) == 1
    text = capsys.readouterr().out
    assert "channel 3 only of 4" in text and "left edge only" in text and "#" + "." * 15 in text


def test_diff_of_a_copy_is_equal_and_bad_dumps_exit_2(golden, tmp_path, capsys):
    _, _, out = golden
    dump = tmp_path / "dump"
    shutil.copytree(out, dump)
    assert main(["diff", str(out), str(dump)]) == 0
    shape_lie = json.loads((dump / "manifest.json").read_text())
    shape_lie["entries"][0]["tensor_shape"] = [1, 1, 8, 8]
    shape_lie["entries"][0]["shape"] = [1, 8, 8, 1]
    shape_lie["entries"][0]["count"] = 64
    (dump / "manifest.json").write_text(json.dumps(shape_lie))
    assert main(["diff", str(out), str(dump)]) == 2
    assert "shape [1, 1, 8, 8], golden: [1, 1, 16, 16]" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["diff", str(out), str(empty)]) == 2
    assert main(["diff", str(empty), str(out)]) == 2


def test_value_that_does_not_fit_names_tensor_value_and_index(tmp_path):
    net = UNet(width=2, depth=1, padding="same")

    def int8(layer, tensor, array):
        return Encoded(np.round(array * 1000).astype(np.int64), {"kind": "int", "scale": 1e-3}, True, 8)

    with pytest.raises(
        ValueError, match=r"layer down0.conv1 input: values\[0\] = .* does not fit a signed 8-bit"
    ):
        write_vectors(net, np.full((1, 1, 4, 4), 0.5, np.float32), tmp_path, encoder=int8)
    with pytest.raises(ValueError, match=r"word_bits=16 .* 32-bit"):
        write_vectors(net, np.zeros((1, 1, 4, 4), np.float32), tmp_path, word_bits=16)
    with pytest.raises(ValueError, match="fmt must be one of"):
        write_vectors(net, np.zeros((1, 1, 4, 4), np.float32), tmp_path, fmt="vhdl")


def test_cli_vectors_demo_is_reproducible_from_the_seed(tmp_path, capsys):
    for name in ("a", "b"):
        argv = ["vectors", "demo", "--input", "44", "--seed", "3", "--out", str(tmp_path / name), "--json"]
        assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["layers"] == 25 and summary["files"] == 76
    for f in (tmp_path / "a").iterdir():
        if f.name != "manifest.json":
            assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes()
    meta, entries = load_manifest(tmp_path / "a")
    assert meta["seed"] == 3 and meta["input_shape"] == [1, 1, 44, 44]
    x = np.random.default_rng(3).standard_normal((1, 1, 44, 44), dtype=np.float32)
    np.testing.assert_array_equal(read_entry(entries[0], tmp_path / "a" / entries[0].file), x)
    with pytest.raises(SystemExit, match="2"):
        main(["vectors", "demo", "--input", "44", "--out", str(tmp_path / "c"), "--format", "vhd"])
    assert main(["vectors", "nothere.pt", "--input", "44", "--out", str(tmp_path / "d")]) == 2
    assert main(["vectors", "demo", "--input", "missing.png", "--out", str(tmp_path / "d")]) == 2
    assert "--input 'missing.png': no such file" in capsys.readouterr().err


def test_published_coe_and_mif_examples(tmp_path):
    coe = tmp_path / "x.coe"
    # Xilinx AR# 9639's example, and UG896's comma form with comments after semicolons.
    coe.write_text(
        "; 4 bits x 11\nmemory_initialization_radix = 16;\nmemory_initialization_vector = 23f4 721 11ff;\n"
    )
    assert read_memory(coe, 16, signed=False).tolist() == [0x23F4, 0x721, 0x11FF]
    coe.write_text("MEMORY_INITIALIZATION_RADIX=10; radix\nMEMORY_INITIALIZATION_VECTOR=\n5,\n-3,\n200;\n")
    assert read_memory(coe, 8).tolist() == [5, -3, -56]
    mif = tmp_path / "x.mif"
    mif.write_text(
        "% multiple-line comment\nmultiple-line comment %\n-- single-line comment\n"
        "DEPTH = 8; -- words\nWIDTH = 8;\nADDRESS_RADIX = HEX;\nDATA_RADIX = BIN;\n"
        "CONTENT -- start\nBEGIN\n00 : 00000001; -- address : data\n01 : 00000010 00000011;\n"
        "[3..6] : 11111111;\n7 : 10000000;\nEND;\n"
    )
    assert read_memory(mif, 8).tolist() == [1, 2, 3, -1, -1, -1, -1, -128]
    mif.write_text("WIDTH=12;DEPTH=4;ADDRESS_RADIX=UNS;DATA_RADIX=DEC;CONTENT BEGIN [0..3] : -5 7; END;")
    assert read_memory(mif, 12).tolist() == [-5, 7, -5, 7]
    with pytest.raises(ValueError, match="WIDTH=12, expected word_bits=8"):
        read_memory(mif, 8)


def test_memory_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot tell the memory format"):
        write_memory(tmp_path / "x.txt", [1], 8)
    with pytest.raises(ValueError, match=r"values\[1\] = 256 does not fit a unsigned 8-bit"):
        write_memory(tmp_path / "x.hex", [1, 256], 8, signed=False)
    with pytest.raises(ValueError, match="word_bits must be 1 to 64"):
        write_memory(tmp_path / "x.hex", [1], 65)
    with pytest.raises(ValueError, match="lanes must be a positive divisor"):
        write_memory(tmp_path / "x.hex", [1], 12, lanes=5)
    (tmp_path / "u.hex").write_text("01\nxx\n")
    with pytest.raises(ValueError, match="word 1 is undefined"):
        read_memory(tmp_path / "u.hex", 8)
    (tmp_path / "g.hex").write_text("@0\n01\n@5\n02\n")
    with pytest.raises(ValueError, match="no word at address 0x1"):
        read_memory(tmp_path / "g.hex", 8)
    with pytest.raises(ValueError, match="count must be 0 to"):
        read_memory(tmp_path / "g.hex", 8, count=1 << 40)
    (tmp_path / "odd.bin").write_bytes(b"\x01\x02\x03")
    with pytest.raises(ValueError, match="not a multiple of the 2-byte word"):
        read_memory(tmp_path / "odd.bin", 16)


def _naive_conv_reads(shape, k, s, p):
    _, c, h, w = shape
    out = []
    for y in range((h + 2 * p - k) // s + 1):
        for x in range((w + 2 * p - k) // s + 1):
            row = []
            for ch in range(c):
                for ky in range(k):
                    for kx in range(k):
                        iy, ix = y * s + ky - p, x * s + kx - p
                        row.append(ch * h * w + iy * w + ix if 0 <= iy < h and 0 <= ix < w else -1)
            out.append(row)
    return np.array(out)


@pytest.mark.parametrize(
    "shape,k,s,p", [((1, 2, 5, 6), 3, 1, 1), ((1, 3, 7, 7), 3, 2, 0), ((1, 1, 6, 4), 2, 2, 1)]
)
def test_conv_reads_equal_naive_loops_and_compute_torch_conv(shape, k, s, p):
    table = conv_reads(shape, k, stride=s, padding=p)
    np.testing.assert_array_equal(table.reshape(-1, shape[1] * k * k), _naive_conv_reads(shape, k, s, p))
    x = np.random.default_rng(0).standard_normal(shape)
    w = np.random.default_rng(1).standard_normal((4, shape[1], k, k))
    flat = np.append(x.reshape(-1), 0.0)  # address -1 reads the appended zero: padding
    gathered = flat[table].reshape(*table.shape[:2], -1) @ w.reshape(4, -1).T
    want = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), stride=s, padding=p)[0].numpy()
    np.testing.assert_allclose(np.moveaxis(gathered, -1, 0), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k,s,p,d,op", [(2, 2, 0, 1, 0), (3, 2, 1, 1, 1), (4, 3, 1, 2, 2)])
def test_conv_transpose_reads_gather_torch_conv_transpose(k, s, p, d, op):
    x = np.random.default_rng(2).standard_normal((1, 2, 4, 5))
    w = np.random.default_rng(3).standard_normal((2, 3, k, k))
    table = conv_transpose_reads(
        x.shape, k, stride=s, padding=p, output_padding=op, dilation=d, layout="NHWC"
    )
    flat = np.append(to_layout(x, "NHWC").reshape(-1), 0.0)
    gathered = np.einsum("yxckl,cokl->oyx", flat[table], w)
    want = torch.nn.functional.conv_transpose2d(
        torch.tensor(x), torch.tensor(w), stride=s, padding=p, output_padding=op, dilation=d
    )
    np.testing.assert_allclose(gathered, want[0].numpy(), rtol=1e-12, atol=1e-12)


def test_crop_reads_skip_ranges_and_line_buffer():
    x = np.arange(2 * 9 * 7).reshape(1, 2, 9, 7)
    table = crop_reads(x.shape, (4, 4))
    want = x[0, :, 2:6, 2:6]  # torchvision: top = round((9 - 4) / 2) = 2, left = round(1.5) = 2
    np.testing.assert_array_equal(np.moveaxis(x.reshape(-1)[table], -1, 0), want)
    assert line_buffer((1, 64, 572, 572), 3, dilation=2) == 2 * 2 * 572 * 64
    assert line_buffer((1, 8, 10, 10), 4, stride=2, transposed=True) == 1 * 10 * 8
    net = UNet(width=4, depth=2)
    for layout in ("NCHW", "NHWC", "NCHWc4", "NCWH", "HWNC"):
        for window in skip_windows(net, (1, 1, 44, 44), layout):
            skip = np.arange(np.prod(window["skip_shape"])).reshape(window["skip_shape"])
            ordered = to_layout(skip, layout).reshape(-1)
            box = tuple(slice(a, b) for a, b in zip(window["start"], window["stop"]))
            picked = ordered[window["range"].addresses()]
            assert sorted(picked.tolist()) == sorted(skip[(Ellipsis, *box)].reshape(-1).tolist())
    with pytest.raises(ValueError, match="pads 2 channels to its block"):
        skip_windows(UNet(width=2, depth=1), (1, 1, 20, 20), "NCHWc4")


def test_disk_space_is_checked_before_anything_is_written(tmp_path, monkeypatch):
    import collections

    import convlab.vectors._staging as golden_module

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(golden_module.shutil, "disk_usage", lambda path: usage(10**6, 0, 1000))
    with pytest.raises(ValueError, match=r"need about .* GB but .* free: choose fewer layers"):
        write_vectors(UNet(width=2, depth=1, padding="same"), np.zeros((1, 1, 8, 8), np.float32), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_memory_map_lanes_and_a_dump_with_addresses(tmp_path, capsys):
    net = UNet(width=2, depth=1, padding="same")
    x = np.random.default_rng(5).standard_normal((1, 1, 6, 6), dtype=np.float32)
    memory_map = {"head:output": 0x100, "down0.conv1:weight": 0x20}
    entries = write_vectors(
        net, x, tmp_path / "g", word_bits=64, lanes=2, high_first=True, memory_map=memory_map
    )
    head = next(e for e in entries if (e.layer, e.tensor) == ("head", "output"))
    assert (head.address, head.depth, head.count) == (0x100, 36, 72)
    assert "@100\n" in (tmp_path / "g" / head.file).read_text()
    np.testing.assert_array_equal(read_entry(head, tmp_path / "g" / head.file), net(x))
    # A simulator's $writememh-style dump of the same memory: comments, an @ address, one bad word.
    values = net(x).copy()
    values[0, 1, 4, 2] = -values[0, 1, 4, 2]
    (tmp_path / "d").mkdir()
    dump = tmp_path / "d" / head.file.replace(".hex", ".mem")
    write_memory(dump, values, 64, signed=False, lanes=2, high_first=True, address=0x100, header="dump")
    assert main(["diff", str(tmp_path / "g"), str(tmp_path / "d")]) == 1
    text = capsys.readouterr().out
    assert "head output: 1 of 72 values differ" in text
    assert f"first: n=0, c=1, y=4, x=2 (word {0x100 + (36 + 4 * 6 + 2) // 2})" in text


def test_addresses_command(capsys):
    assert (
        main(["addresses", "conv", "--input", "1x2x5x5", "-k", "3", "-p", "1", "--at", "0x0", "--json"]) == 0
    )
    body = json.loads(capsys.readouterr().out)
    assert body["line_buffer"] == 2 * 5 * 2 and body["shape"] == [5, 5, 2, 3, 3]
    assert body["reads"][1] == [[-1, -1, -1], [-1, 25, 26], [-1, 30, 31]]
    assert main(["addresses", "unet", "--input", "572", "--json"]) == 0
    windows = json.loads(capsys.readouterr().out)
    # The paper's U-Net: the top skip 568 x 568 is cropped to 392 from (88, 88).
    assert windows[-1]["start"] == [88, 88] and windows[-1]["stop"] == [480, 480]
    assert windows[-1]["range"] == {
        "start": 88 * 568 + 88,
        "run": 392,
        "loops": [[64, 568 * 568], [392, 568]],
    }
    assert main(["addresses", "crop", "--input", "1x1x4x4"]) == 2
    assert "needs --crop" in capsys.readouterr().err


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("word_bits", "32", "word_bits='32'"),
        ("shape", [1, -16, 16, 1], "shape=[1, -16, 16, 1]"),
        ("signed", 1, "signed=1"),
        ("number", {"scale": 1}, "number="),
        ("file", "../../etc/passwd", "file='../../etc/passwd'"),
        ("fmt", "vhdl", "fmt='vhdl'"),
        ("count", 7, "count 7 is not the product"),
    ],
)
def test_a_broken_manifest_is_refused_naming_the_field(golden, tmp_path, field, value, message):
    _, _, out = golden
    body = json.loads((out / "manifest.json").read_text())
    body["entries"][0][field] = value
    (tmp_path / "manifest.json").write_text(json.dumps(body))
    with pytest.raises(ValueError, match=re.escape(message)):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a convlab vectors manifest"):
        load_manifest(tmp_path)


def test_work_is_bounded_before_allocating(tmp_path, capsys):
    mif = tmp_path / "bomb.mif"
    mif.write_text("WIDTH=8; DEPTH=1000000000000; CONTENT BEGIN 0 : 01; END;")
    with pytest.raises(ValueError, match="DEPTH=1000000000000 would unpack"):
        read_memory(mif, 8)
    with pytest.raises(ValueError, match=r"an address table of .* entries would take"):
        conv_reads((1, 512, 20000, 20000), 3)
    assert main(["vectors", "demo", "--input", "100000000x100000000", "--out", str(tmp_path / "v")]) == 2
    assert "a generated input of shape (1, 1, 100000000, 100000000) would take" in capsys.readouterr().err
    assert not (tmp_path / "v").exists()


@pytest.mark.parametrize("suffix", [".mem", ".bmem", ".coe", ".mif", ".bin", ".npy"])
def test_a_dump_in_any_format_is_compared_with_hex_golden(golden, tmp_path, suffix):
    _, _, out = golden
    _, entries = load_manifest(out)
    e = next(e for e in entries if (e.layer, e.tensor) == ("up0.conv2", "output"))
    values = to_layout(read_entry(e, out / e.file), e.layout).reshape(-1)
    stem = e.file.rsplit(".", 1)[0]
    write_memory(tmp_path / f"{stem}{suffix}", values.view(np.uint32), 32, signed=False)
    report = diff(out, tmp_path)
    assert [(t.entry.layer, t.mismatches) for t in report.compared] == [("up0.conv2", 0)]
    assert len(report.missing) == len(entries) - 1


def test_where_the_mismatches_lie():
    from convlab.vectors._where import describe_mismatches, mismatch_map, ranges

    mask = np.zeros((1, 4, 32, 32), bool)
    mask[0, 1:3, 8:12, 20:24] = True
    assert describe_mismatches(mask) == [
        "channels 1-2 (2 of 4)",
        "rows 8-11 of 32; columns 20-23 of 32",
        "one block: rows 8-11, columns 20-23 (2% of the image; a tile?)",
    ]
    # At most 16 x 48 cells: 32 rows become 16 cells of 2 rows, the 32 columns stay.
    assert len(mismatch_map(mask)) == 16 and mismatch_map(mask)[4] == "." * 20 + "####" + "." * 8
    mask[:] = False
    mask[0, 0, [0, 31], :] = True
    assert describe_mismatches(mask)[1:] == [
        "rows 0, 31 of 32; columns 0-31 of 32",
        "top, bottom edges only (padding?)",
    ]
    mask[0, 0] = True
    assert describe_mismatches(mask)[-1] == "nearly everywhere"
    assert describe_mismatches(np.array([0, 1, 1, 0, 1], bool)) == ["indices 1-2, 4 of 5"]
    assert ranges(np.arange(0, 40, 2), limit=2) == "0, 2, ... (20 runs)"


def test_layer_selection_and_memory_map_typos(tmp_path):
    net = UNet(width=2, depth=1, padding="same")
    x = np.zeros((1, 1, 4, 4), np.float32)
    entries = write_vectors(net, x, tmp_path / "a", layers=["down0.conv*", "head"])
    assert sorted({e.layer for e in entries}) == ["down0.conv1", "down0.conv2", "head"]
    assert "forward" not in net.head.__dict__  # the hooks are gone
    with pytest.raises(ValueError, match="matches no layer"):
        write_vectors(net, x, tmp_path / "b", layers=["nope*"])
    with pytest.raises(ValueError, match="memory_map names no tensor of the model: head:outptu"):
        write_vectors(net, x, tmp_path / "c", memory_map={"head:outptu": 0})
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_cli_vectors_of_a_milesial_checkpoint_with_batch_norm_and_bilinear(tmp_path, capsys):
    from convlab.io import save_weights
    from convlab.models import MilesialUNet

    net = MilesialUNet(1, 2, bilinear=True, width=4)
    save_weights(net.state_dict(), tmp_path / "m.safetensors")
    x = np.random.default_rng(9).standard_normal((1, 1, 32, 32), dtype=np.float32)
    np.save(tmp_path / "x.npy", x[0, 0])  # a 2-D image: the command adds N and C
    argv = ["vectors", str(tmp_path / "m.safetensors"), "--input", str(tmp_path / "x.npy"), "--out"]
    assert main([*argv, str(tmp_path / "v"), "--format", "npy"]) == 0
    meta, entries = load_manifest(tmp_path / "v")
    assert meta["input"] == str(tmp_path / "x.npy") and "seed" not in meta
    ops = {e.op for e in entries}
    assert {"Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Upsample"} <= ops
    assert {"running_mean", "running_var"} <= {e.tensor for e in entries if e.op == "BatchNorm2d"}
    last = entries[-1]
    assert last.tensor == "output"
    np.testing.assert_array_equal(read_entry(last, tmp_path / "v" / last.file), net(x))


def test_unet_and_explain_crop_show_addresses(capsys):
    assert main(["unet", "--input", "572", "--addresses"]) == 0
    text = capsys.readouterr().out
    assert (
        "up0.merge: skip [1, 64, 568, 568] crop pixels (88, 88)..(479, 479) -> words from 50072, runs of 392"
        in text
    )
    assert main(["unet", "--input", "572", "--json"]) == 0
    assert "addresses" not in json.loads(capsys.readouterr().out)  # unchanged unless asked
    assert main(["unet", "--input", "64", "--padding", "same", "--addresses", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["addresses"][-1]["pad_up"] == [[0, 0], [0, 0]]
    # 9 x 7 cropped to 4 x 4: torchvision starts at round(2.5) = 2 and round(1.5) = 2.
    assert main(["explain", "crop", "9x7", "--crop", "4", "-c", "2", "--addresses", "NHWC"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("words from 32, runs of 8, repeated 4 @ +14")
    assert main(["explain", "crop", "9x7", "--crop", "4", "--addresses", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["addresses"] == {"start": 16, "run": 4, "loops": [[4, 7]]}
    assert main(["explain", "conv", "4", "-k", "3", "--addresses"]) == 2
    assert "--addresses applies to crop, not conv" in capsys.readouterr().err  # the grammar's one message


def test_a_dump_that_ends_early_is_compared_as_far_as_it_goes(golden, tmp_path, capsys):
    _, _, out = golden
    _, entries = load_manifest(out)
    e = next(e for e in entries if (e.layer, e.tensor) == ("head", "output"))
    lines = (out / e.file).read_text().splitlines()
    (tmp_path / e.file).write_text("\n".join(lines[: 1 + 700]) + "\n")  # header comment + 700 of 768 words
    assert main(["diff", str(out), str(tmp_path)]) == 1
    text = capsys.readouterr().out
    assert "head output: 68 of 768 values differ" in text
    assert "the dump ends after 700 of 768 words" in text and "golden" in text and "x (undefined)" in text
    # The fixture is NHWC with 3 channels: word 700 is pixel 233 = row 14, column 9, channel 1.
    assert "first: n=0, c=1, y=14, x=9 (word 700)" in text


def test_skip_corners_equal_the_seed_coordinate_generator(capsys):
    # seeds/000: start = (in - 1) // 2 - (out - 2) // 2, corners (start, start) and (start + out - 1, ...),
    # valid for even sizes, for the paper's four copy-and-crop layers.
    seed = {568: 392, 280: 200, 136: 104, 64: 56}
    windows = skip_windows(UNet(width=1), (1, 1, 572, 572))
    for w in windows:
        size, out = w["skip_shape"][-1], w["stop"][0] - w["start"][0]
        start = (size - 1) // 2 - (out - 2) // 2
        assert seed[size] == out and w["start"] == [start, start] and w["last"] == [start + out - 1] * 2
    assert main(["addresses", "unet", "--input", "572"]) == 0
    assert "crop pixels (88, 88)..(479, 479) -> words from 50072" in capsys.readouterr().out


def test_a_failure_part_way_leaves_the_previous_directory_whole(tmp_path):
    net = UNet(width=2, depth=1, padding="same")
    x = np.random.default_rng(2).standard_normal((1, 1, 8, 8), dtype=np.float32)
    out = tmp_path / "vec"
    before = write_vectors(net, x, out, fmt="bin")
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    seen = []

    def fails_at_the_sixth(layer, tensor, array):
        seen.append(tensor)
        if len(seen) == 6:
            raise ValueError(f"no room for {layer} {tensor}")
        return Encoded(array, {"kind": "float32"}, False, 32)

    with pytest.raises(ValueError, match="no room for"):
        write_vectors(net, x, out, fmt="readmemh", encoder=fails_at_the_sixth)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files and load_manifest(out)[1] == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vec"]  # no hidden partial directory
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match=r"holds files but no manifest.json"):
        write_vectors(net, x, tmp_path / "mine")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
