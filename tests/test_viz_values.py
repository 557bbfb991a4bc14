"""Values, pooling, channels, title card and frame timing of the pictures, against PyTorch and naive loops."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from convlab.cli import main
from convlab.viz._animate import sections
from convlab.viz._layout import problem
from convlab.viz._values import short

torch = pytest.importorskip("torch")
PIL = pytest.importorskip("PIL.Image")


def _frames(p, **kw):
    return [f for s in sections(p, **kw) for f in s.frames]


def _counting(shape):
    # 1, 2, 3, ... row by row, written out here rather than taken from the code under test.
    return np.array(range(1, int(np.prod(shape)) + 1), dtype=np.float64).reshape(shape)


def _naive_conv(x, w, stride, pad):
    xp = np.pad(x, pad)
    (kh, kw), (sh, sw) = w.shape, stride
    rows, cols = (xp.shape[0] - kh) // sh + 1, (xp.shape[1] - kw) // sw + 1
    out = np.zeros((rows, cols))
    for r, c, i, j in itertools.product(range(rows), range(cols), range(kh), range(kw)):
        out[r, c] += xp[r * sh + i, c * sw + j] * w[i, j]
    return out


@pytest.mark.parametrize("size, k, stride, pad", [((4, 4), (3, 3), (1, 1), 1), ((5, 4), (3, 2), (2, 1), 0)])
def test_conv_values_are_torchs_outputs_and_the_window_shows_the_products(size, k, stride, pad):
    p = problem("conv", size, k, stride, pad)
    frames = _frames(p, values=True)
    x, w = _counting(size), _counting(k)
    want = torch.nn.functional.conv2d(
        torch.tensor(x)[None, None], torch.tensor(w)[None, None], stride=stride, padding=pad
    )[0, 0].numpy()
    np.testing.assert_array_equal(want, _naive_conv(x, w, stride, ((pad, pad), (pad, pad))))
    out = frames[-1].panels[1]
    assert {rc: out.labels[rc] for rc in np.ndindex(*want.shape)} == {
        rc: short(v) for rc, v in np.ndenumerate(want)
    }
    # First frame: the window's cells read x * w, padding 0; the caption sums the data terms.
    first = frames[0].panels[0]
    products = sorted(first.labels[cell] for cell in first.window)
    expect = [
        short(x[i - pad, j - pad] * w[i, j]) if 0 <= i - pad < size[0] and 0 <= j - pad < size[1] else "0"
        for i in range(k[0])
        for j in range(k[1])
    ]
    assert products == sorted(expect)
    assert frames[0].caption.endswith(
        f"= {short(want[0, 0])}" + (" (padding and zeros add 0)" if pad else "")
    )


def test_transposed_values_agree_with_torch_in_both_views():
    p = problem("convtranspose", (2, 3), 3, 2, 1, 1, 1)
    x, w = torch.tensor(_counting((2, 3)))[None, None], torch.tensor(_counting((3, 3)))[None, None]
    want = torch.nn.functional.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)[0, 0].numpy()
    scatter, zero = sections(p, "both", values=True)
    final = zero.frames[-1].panels[1].labels
    assert {rc: final[rc] for rc in np.ndindex(*want.shape)} == {
        rc: short(v) for rc, v in np.ndenumerate(want)
    }
    # Every scatter frame writes x * w on its kernel copy: their sum, cropped by padding 1, is the output.
    sums: dict = {}
    for f in scatter.frames:
        for cell in f.panels[1].window:
            sums[cell] = sums.get(cell, 0.0) + float(f.panels[1].labels[cell])
    assert {rc: sums.get((rc[0] + 1, rc[1] + 1), 0.0) for rc in np.ndindex(*want.shape)} == dict(
        np.ndenumerate(want)
    )
    # The running sums shown before the last copy lands, plus that copy, are the same sums.
    last = scatter.frames[-1].panels[1]
    shown = {cell: float(v) for cell, v in last.labels.items() if cell not in last.window}
    assert all(shown[cell] == sums[cell] for cell in shown)


@pytest.mark.parametrize(
    "mode, size, k, stride, pad, ceil",
    [
        ("max", (4, 5), 2, 2, 1, True),
        ("max", (5, 5), 3, 2, 1, False),
        ("avg", (4, 5), 3, 2, 1, True),
        ("avg", (6, 6), 2, 2, 0, False),
    ],
)
def test_pooling_frames_pick_the_max_or_take_the_mean_as_torch_does(mode, size, k, stride, pad, ceil):
    p = problem("pool", size, k, stride, pad, ceil_mode=ceil)
    frames = _frames(p, pool_mode=mode)
    n = int(np.prod(size))
    # The input is a permutation of 1..N, read back from the picture's own labels of the data cells.
    grid = frames[0].panels[0]
    data = sorted((rc, float(v)) for rc, v in grid.labels.items() if grid.kinds[rc[0]][rc[1]] == "data")
    assert sorted(v for _, v in data) == list(range(1, n + 1))
    xin = torch.tensor([v for _, v in data]).reshape(1, 1, *size)
    pool = torch.nn.functional.max_pool2d if mode == "max" else torch.nn.functional.avg_pool2d
    want = pool(xin, k, stride, pad, ceil_mode=ceil)[0, 0].numpy()
    assert len(frames) == want.size  # one frame per output pixel
    final = frames[-1].panels[1].labels
    assert {rc: final[rc] for rc in np.ndindex(*want.shape)} == {
        rc: short(v) for rc, v in np.ndenumerate(want)
    }
    for f, v in zip(frames, want.ravel()):
        if mode == "max":
            (picked,) = f.panels[0].picked
            assert float(f.panels[0].labels[picked]) == v and picked in f.panels[0].window
        else:
            total = sum(
                float(f.panels[0].labels[cell]) for cell in f.panels[0].window if f.panels[0].labels.get(cell)
            )
            divisor = int(f.caption.split(" / ")[1].split(" ")[0])
            assert total / divisor == pytest.approx(v, rel=1e-12)


def test_names_count_from_one():
    conv = _frames(problem("conv", 3, 2))
    assert sorted(conv[0].panels[0].labels.values()) == ["w1", "w2", "w3", "w4"]
    assert conv[0].panels[1].labels == {(0, 0): "y1"} and conv[-1].panels[1].labels == {(1, 1): "y4"}
    scatter = _frames(problem("convtranspose", 2, 2), view="scatter")
    assert scatter[0].panels[0].labels == {(0, 0): "x1"} and scatter[-1].caption.startswith("x4 times")


def test_channels_and_groups_are_stacked_planes_with_the_groups_active():
    p = problem("conv", 4, 3, channels=(4, 2, 2))
    frames = _frames(p)
    assert len(frames) == 2 * 4  # two output channels of 2x2 pixels
    for f in frames[:4]:
        assert (
            f.panels[0].planes == (0, 0, 1, 1) and f.panels[0].active == {0, 1} and f.panels[1].active == {0}
        )
    for f in frames[4:]:
        assert f.panels[0].active == {2, 3} and f.panels[1].active == {1}
        assert f.caption.startswith("output channel 2 (group 2: input channels 3-4)")
    scatter = _frames(problem("convtranspose", 2, 2, channels=(2, 4, 2)), view="scatter")
    assert (
        len(scatter) == 2 * 4 and scatter[4].panels[1].active == {2, 3} and scatter[4].panels[0].active == {1}
    )


def test_planes_are_drawn_behind_the_input(tmp_path, capsys):
    import xml.etree.ElementTree as ET

    path = tmp_path / "g.svg"
    assert main(["animate", "conv", "4", "-k", "3", "-c", "4", "--groups", "2", "-o", str(path)]) == 0
    svg = "{http://www.w3.org/2000/svg}"
    step = next(g for g in ET.parse(path).getroot().iter(f"{svg}g") if g.get("class") == "step")
    fills = [r.get("fill") for r in step.iter(f"{svg}rect") if not r.get("data-kind")]
    # Three planes behind the input (channels 2-4), three behind the output; group 1 blue, group 2 green.
    assert fills.count("#dbe9f6") == 1 + 1 and fills.count("#d9f0d3") == 2 + 2


def test_title_card_and_frame_durations(tmp_path, capsys):
    path = tmp_path / "t.gif"
    assert main(["animate", "convtranspose", "2", "-k", "3", "-s", "2", "--fps", "4", "-o", str(path)]) == 0
    (scatter, zero) = sections(problem("convtranspose", 2, 3, 2))
    assert (
        zero.card and "insert stride - 1 = 1 zero between input pixels" in zero.card[1] and not scatter.card
    )
    durations = []
    with PIL.open(path) as image:
        for i in range(image.n_frames):
            image.seek(i)
            durations.append(image.info["duration"])
    # 4 scatter frames, the card (held 3x), 25 zero-insertion frames, the last held 3x: 250 ms at 4 fps.
    assert durations == [250] * 4 + [750] + [250] * 24 + [750]


@pytest.mark.parametrize(
    "fps, error", [("2", TypeError), (True, TypeError), (0.2, ValueError), (float("inf"), ValueError)]
)
def test_fps_is_a_bounded_number(fps, error):
    from convlab.viz._output import frame_duration

    with pytest.raises(error, match="fps"):
        frame_duration(fps)
    # GIF durations are whole centiseconds, and no shorter than 20 ms.
    assert [frame_duration(f) for f in (0.25, 1, 1.5, 3, 50)] == [4000, 1000, 670, 330, 20]


def _torch_output(op, size, k, s, pads, d, opad, x, mode, ceil):
    """The oracle: PyTorch, with asymmetric padding by explicit pad / crop around it."""
    F, nd = torch.nn.functional, len(size)
    x = torch.tensor(x, dtype=torch.float64).reshape(1, 1, *size)
    w = torch.tensor(_counting(k)).reshape(1, 1, *k)
    if op == "conv":
        xp = F.pad(x, [v for pair in reversed(pads) for v in pair])
        return (F.conv1d if nd == 1 else F.conv2d)(xp, w, stride=s, dilation=d)[0, 0].numpy()
    if op == "pool":
        pool = {"max": (F.max_pool1d, F.max_pool2d), "avg": (F.avg_pool1d, F.avg_pool2d)}[mode][nd - 1]
        extra = {"dilation": d} if mode == "max" else {}
        pad = [lo for lo, _ in pads]
        return pool(x, k, s, pad, ceil_mode=ceil, **extra)[0, 0].numpy()
    convt = F.conv_transpose1d if nd == 1 else F.conv_transpose2d
    full = convt(x, w, stride=s, dilation=d)[0, 0].numpy()
    # Crop `lo` at the start; the end is cropped by `hi`, then extended by output_padding (zeros past the
    # full output).
    out = [n + op_ - lo - hi for n, op_, (lo, hi) in zip(full.shape, opad, pads)]
    grown = np.pad(full, [(0, max(0, o + lo - n)) for o, n, (lo, _) in zip(out, full.shape, pads)])
    return grown[tuple(slice(lo, lo + o) for o, (lo, _) in zip(out, pads))]


def test_random_layers_show_torchs_outputs():
    """200 layers: 1-D and 2-D, asymmetric padding, dilation, output_padding, ceil_mode, max and avg."""
    import random

    rng, checked = random.Random(15), 0
    while checked < 200:
        op, nd = rng.choice(["conv", "convtranspose", "pool"]), rng.choice([1, 2])
        size = tuple(rng.randint(1, 6) for _ in range(nd))
        k = tuple(rng.randint(1, 4) for _ in range(nd))
        s = tuple(rng.randint(1, 3) for _ in range(nd))
        mode, ceil = rng.choice(["max", "avg"]), op == "pool" and rng.random() < 0.5
        d = tuple(rng.randint(1, 2) for _ in range(nd)) if not (op == "pool" and mode == "avg") else (1,) * nd
        if op == "pool":
            pads = tuple((p, p) for p in (rng.randint(0, kk // 2) for kk in k))
        else:
            pads = tuple((rng.randint(0, 2), rng.randint(0, 2)) for _ in range(nd))
        opad = (
            tuple(rng.randint(0, min(a, b) - 1) for a, b in zip(s, d)) if op == "convtranspose" else (0,) * nd
        )
        try:
            p = problem(op, size, k, s, pads, d, opad, ceil_mode=ceil)
        except ValueError:
            continue  # padding larger than the layer allows: refused, as PyTorch refuses it
        frames = [f for sec in sections(p, "zero-insertion", values=True, pool_mode=mode) for f in sec.frames]
        grid = frames[0].panels[0]
        data = sorted((rc, float(v)) for rc, v in grid.labels.items() if grid.kinds[rc[0]][rc[1]] == "data")
        x = [v for _, v in data] if op == "pool" else _counting(size)
        want = _torch_output(op, size, k, s, pads, d, opad, x, mode, ceil).reshape(p.out)
        labels = frames[-1].panels[1].labels
        assert {rc: labels[rc] for rc in np.ndindex(*p.out)} == {
            rc: short(v) for rc, v in np.ndenumerate(want)
        }, p
        checked += 1


def test_a_window_on_another_groups_front_plane_is_outlined_not_filled(tmp_path, capsys):
    import xml.etree.ElementTree as ET

    from convlab.viz._scene import HIGHLIGHT, HOT

    path = tmp_path / "g.svg"
    assert (
        main(
            [
                "animate",
                "conv",
                "4",
                "-k",
                "3",
                "-c",
                "4",
                "--out-channels",
                "2",
                "--groups",
                "2",
                "-o",
                str(path),
            ]
        )
        == 0
    )
    svg = "{http://www.w3.org/2000/svg}"
    steps = [g for g in ET.parse(path).getroot().iter(f"{svg}g") if g.get("class") == "step"]
    for index, front_active in ((0, True), (4, False)):  # y1 of output channel 1 (group 1), then of channel 2
        rects = list(steps[index].iter(f"{svg}rect"))
        hot = [r for r in rects if r.get("data-kind") == "data" and r.get("fill") == HOT]
        outline = [
            r
            for r in rects
            if (r.get("fill"), r.get("stroke"), r.get("stroke-width"), r.get("width"))
            == ("none", HIGHLIGHT, "2", "89")
        ]
        # The 3x3 window is 90 pixels wide (an SVG rect's width is w - 1); 1-pixel boxes are back planes'.
        assert (len(hot), len(outline)) == ((9, 0) if front_active else (0, 1))


def test_pooling_reads_one_channel_per_output_channel():
    frames = _frames(problem("pool", 4, 2, None, channels=(3, None, 1)), pool_mode="max")
    assert len(frames) == 3 * 4
    for o in range(3):
        for f in frames[4 * o : 4 * o + 4]:
            assert f.panels[0].active == {o} == f.panels[1].active and f.panels[0].planes == (0, 1, 2)
            assert f.caption.startswith(f"channel {o + 1}: y")
