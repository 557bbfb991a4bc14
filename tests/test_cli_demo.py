"""``convlab demo``: the header before the progress, and a picture with labels and the tile plan drawn on."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from convlab.cli import main
from convlab.cli._demo import segment_synthetic, write_png
from convlab.cli._demo_picture import demo_picture

GREEN, ORANGE = np.array([44, 160, 44]), np.array([255, 127, 14])


class Terminal:
    """stdout and stderr of one terminal: every write recorded in order, with its stream."""

    def __init__(self):
        self.writes: list[tuple[str, str]] = []

    def stream(self, name: str, tty: bool = True):
        terminal = self

        class Stream:
            encoding = "utf-8"

            def write(self, text: str) -> int:
                terminal.writes.append((name, text))
                return len(text)

            def flush(self) -> None:
                pass

            def isatty(self) -> bool:
                return tty

        return Stream()

    def first(self, needle: str) -> int:
        return next(i for i, (_, text) in enumerate(self.writes) if needle in text)


def _run_on(monkeypatch, tmp_path, tty: bool = True, *extra: str) -> Terminal:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal.stream("out", tty))
    monkeypatch.setattr(sys, "stderr", terminal.stream("err", tty))
    status = main(["demo", "--size", "150", "--tile", "100", "-o", str(tmp_path / "d.png"), *extra])
    monkeypatch.undo()
    assert status == 0, terminal.writes
    return terminal


def test_header_first_then_the_progress_bar_then_the_results(monkeypatch, tmp_path):
    pytest.importorskip("tqdm")
    t = _run_on(monkeypatch, tmp_path)
    bar = [i for i, (name, text) in enumerate(t.writes) if name == "err" and "tile" in text]
    assert bar, "a terminal gets a progress bar"
    header = [t.first(s) for s in ("convlab demo: a U-Net", "  model ", "  tiles ", "  image ", "made in")]
    assert header == sorted(header) and header[-1] < bar[0]
    assert all(t.writes[i][0] == "out" for i in header)
    results = t.first("segmented in")
    assert bar[-1] < results and t.writes[results][0] == "out"
    text = "".join(s for _, s in t.writes[results:])
    assert text.index("segmented in") < text.index("IoU") < text.index("picture")
    assert "9/9" in "".join(text for name, text in t.writes if name == "err")


def test_without_tqdm_a_terminal_gets_a_plain_counter(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    t = _run_on(monkeypatch, tmp_path)
    counts = [text for name, text in t.writes if name == "err" and "tiles" in text]
    assert [c.strip() for c in counts if c.strip()] == [f"tiles     {k}/9" for k in range(1, 10)]
    assert t.first("made in") < t.first("tiles     1/9") < t.first("segmented in")


def test_logs_and_json_get_no_progress(monkeypatch, tmp_path):
    t = _run_on(monkeypatch, tmp_path, False)
    assert [name for name, _ in t.writes] == ["out"] * len(t.writes)
    text = "".join(s for _, s in t.writes)
    assert text.index("convlab demo:") < text.index("made in") < text.index("IoU")
    assert max(len(line) for line in text.splitlines()) <= 100
    t = _run_on(monkeypatch, tmp_path, True, "--json")
    assert [name for name, _ in t.writes] == ["out"] * len(t.writes)
    assert json.loads("".join(s for _, s in t.writes))["tiles"] == 9


def test_the_demo_needs_no_optional_package(monkeypatch, tmp_path, capsys):
    for name in ("PIL", "PIL.Image", "tifffile", "tqdm", "zarr", "dask", "matplotlib"):
        monkeypatch.setitem(sys.modules, name, None)
    assert main(["demo", "--size", "120", "--tile", "188", "-o", str(tmp_path / "d.png")]) == 0
    assert "IoU" in capsys.readouterr().out and (tmp_path / "d.png").stat().st_size > 1000


@pytest.fixture(scope="module")
def picture():
    result = segment_synthetic(300, 188, 0)
    plan = result["stats"].plan
    assert (plan.window, plan.stride, plan.margin, plan.halo) == (
        (188, 188),
        (148, 148),
        ((20, 20),) * 2,
        (0, 0),
    )
    return result, demo_picture(result["image"], result["prediction"], result["truth"], plan)


# The layout, written out: an 8-pixel gap, two caption lines of 18, the 300x300 panels, the legend.
TOP, LEFT = 8 + 2 * 18, [8, 8 + 308, 8 + 2 * 308]


def _panel(canvas: np.ndarray, i: int) -> np.ndarray:
    return canvas[TOP : TOP + 300, LEFT[i] : LEFT[i] + 300].astype(np.int64)


def test_picture_layout_and_ground_truth_panel(picture):
    result, canvas = picture
    assert canvas.shape == (8 + 36 + 300 + 8 + 36 + 8, 3 * 300 + 4 * 8, 3) and canvas.dtype == np.uint8
    np.testing.assert_array_equal(_panel(canvas, 2), 255 * np.repeat(result["truth"][..., None], 3, axis=2))


def _expected_prediction_panel(prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The prediction panel drawn by hand, and the pixels to compare (the dashes are left out)."""
    panel = 255 * np.repeat(prediction[..., None].astype(np.int64), 3, axis=2)
    # The tile whose core holds the centre (150, 150): core [148, 296)², window [128, 316)² clipped to 300.
    ring = np.zeros((300, 300), bool)
    ring[128:300, 128:300] = True
    ring[148:296, 148:296] = False
    panel[ring] = np.round(0.55 * panel[ring] + 0.45 * ORANGE)
    compare = np.ones((300, 300), bool)
    compare[128, :] = compare[:, 128] = False  # the dashed window border
    for a, b in ((0, 148), (148, 296), (296, 300)):  # every core's outline, one pixel inside it
        for c, d in ((0, 148), (148, 296), (296, 300)):
            panel[[a, b - 1], c:d] = GREEN
            panel[a:b, [c, d - 1]] = GREEN
    panel[[148, 149, 294, 295], 148:296] = GREEN  # the highlighted core, two pixels thick
    panel[148:296, [148, 149, 294, 295]] = GREEN
    return panel, compare


def test_prediction_panel_shows_cores_and_the_cropped_ring(picture):
    result, canvas = picture
    expected, compare = _expected_prediction_panel(result["prediction"])
    got = _panel(canvas, 1)
    np.testing.assert_array_equal(got[compare], expected[compare])
    # The dashes of the window's border are orange, alternating with the panel beneath.
    assert (got[128, 140:300] == ORANGE).all(axis=1).sum() >= 60


def test_input_panel_has_the_same_overlay(picture):
    _, canvas = picture
    got = _panel(canvas, 0)
    assert (got[147, :] == GREEN).all() and (got[:, 296] == GREEN).all()
    # Inside the ring, orange dominates red over blue whatever the grey beneath (0.45 of 255 vs 14).
    ring = got[300 - 1 - 2, 130:146]
    assert (ring[:, 0] - ring[:, 2] >= int(0.45 * (255 - 14))).all()


def test_panels_are_labelled_and_the_legend_is_drawn(picture):
    _, canvas = picture
    for x in LEFT:
        title = canvas[8 : 8 + 18, x : x + 300]
        note = canvas[8 + 18 : TOP, x : x + 300]
        assert (title < 128).any(axis=2).sum() > 40 and (note < 200).any(axis=2).sum() > 40
    legend = canvas[TOP + 300 + 8 :, :]
    assert (legend == GREEN).all(axis=2).sum() > 40  # the kept-core swatch
    assert (legend == ORANGE).all(axis=2).sum() > 10  # the dashed cropped-away swatch
    assert (legend < 128).all(axis=2).sum() > 200  # the text
    assert (canvas[:8] == 255).all() and (canvas[:, :8] == 255).all()


def test_rgb_png_is_read_back_exactly(tmp_path, picture):
    Image = pytest.importorskip("PIL.Image")
    _, canvas = picture
    write_png(tmp_path / "p.png", canvas)
    with Image.open(tmp_path / "p.png") as png:
        assert png.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(png), canvas)
