"""The pictures' findings, on pixels and structure: colours, hatching, output_padding, canvas, links."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from convlab.cli import main
from convlab.viz._animate import header, sections
from convlab.viz._compose import gif_scenes
from convlab.viz._layout import problem
from convlab.viz._scene import CELL, HATCH, HIGHLIGHT, HOT, MARGIN, Rect, Text, flatten

PIL = pytest.importorskip("PIL.Image")
SVG = "{http://www.w3.org/2000/svg}"
LEGEND_WORDS = ("window and the output pixel it makes", "an input pixel and its kernel copy")


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


def draw(scene):
    from convlab.viz._raster import draw_scene

    return draw_scene(scene)


def gif_pages(op, size, k, **kw):
    p = problem(op, size, k, kw.pop("stride", 1), kw.pop("padding", 0), 1, kw.pop("output_padding", 0))
    return gif_scenes(header(p), sections(p, **kw))


def steps(path):
    root = ET.parse(path).getroot()
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "step"]


def svg(tmp_path, capsys, *argv):
    path = tmp_path / "a.svg"
    assert main(["animate", *argv, "-o", str(path)]) == 0, capsys.readouterr().err
    return path


def test_legend_swatch_is_the_colour_of_the_window_cells_in_every_view():
    for op, kw in (
        ("conv", {}),
        ("convtranspose", {"view": "scatter"}),
        ("convtranspose", {"view": "zero-insertion"}),
    ):
        scene = gif_pages(op, 3, 3, stride=2, **kw)[0]
        image = draw(scene)
        items = flatten(scene.items)
        # The swatch stands 20 pixels before its words; the window cells carry the 3-pixel highlight edge.
        words = next(t for t in reversed(items) if isinstance(t, Text) and t.text in LEGEND_WORDS)
        swatch = image.getpixel((words.x - 20 + 7, words.y - 1 + 7))
        window = [r for r in items if isinstance(r, Rect) and r.width == 3 and r.kind in ("data", "output")]
        assert window, op
        # Sample a corner inside the edge, away from the centred label.
        cells = {image.getpixel((r.x + 5, r.y + 5)) for r in window}
        assert cells == {swatch} == {rgb(HOT)}, (op, kw)


def test_hatch_never_strikes_through_a_label(tmp_path):
    # padding 2 crops two rows and columns of the scatter canvas: the kernel copies of x1 land there.
    scene = gif_pages("convtranspose", 2, 3, stride=2, padding=2, view="scatter")[0]
    image = draw(scene)
    items = flatten(scene.items)
    crossed = [r for r in items if isinstance(r, Rect) and r.crossed]
    patches = [r for r in items if isinstance(r, Rect) and r.fill == r.outline and r.w < CELL]
    assert crossed and patches
    hatch = rgb(HATCH)
    for patch in patches:
        inside = [
            image.getpixel((x, y))
            for x in range(patch.x, patch.x + patch.w)
            for y in range(patch.y, patch.y + patch.h)
        ]
        assert hatch not in inside
    # The hatch is drawn where no label is: an unlabelled cropped cell shows its diagonal.
    labelled = {(p.x // CELL, p.y // CELL) for p in patches}
    bare = next(r for r in crossed if (r.x // CELL, r.y // CELL) not in labelled)
    diagonal = [image.getpixel((bare.x + 3 + t, bare.y + CELL - 4 - t)) for t in range(CELL - 6)]
    assert diagonal.count(hatch) > CELL // 2


def test_output_padding_is_drawn_and_labelled_in_the_scatter_view(tmp_path, capsys):
    with_op = steps(
        svg(
            tmp_path,
            capsys,
            "convtranspose",
            "3",
            "-k",
            "3",
            "-s",
            "2",
            "-p",
            "1",
            "--op",
            "1",
            "--view",
            "scatter",
        )
    )
    kinds = [r.get("data-kind") for r in with_op[0].iter(f"{SVG}rect")]
    # The 7x7 uncropped canvas: row 0 and column 0 cropped; row 6 and column 6 (11 cells) added
    # by output_padding.
    assert kinds.count("output_padding") == 11 and kinds.count("cropped") == 13
    notes = [t.text for t in with_op[0].iter(f"{SVG}text")]
    assert notes.count("output_padding") == 2  # one beside the row, one under the column
    without = steps(
        svg(tmp_path, capsys, "convtranspose", "3", "-k", "3", "-s", "2", "-p", "1", "--view", "scatter")
    )
    assert "output_padding" not in [r.get("data-kind") for r in without[0].iter(f"{SVG}rect")]
    assert "output_padding" not in [t.text for t in without[0].iter(f"{SVG}text")]


@pytest.mark.parametrize(
    "argv",
    [
        ("conv", "5", "-k", "3", "-s", "2", "-p", "1"),
        ("convtranspose", "3", "-k", "3", "-s", "2", "--op", "1"),
        ("pool", "6", "-k", "2"),
    ],
)
@pytest.mark.parametrize("suffix", [".gif", ".png"])
def test_canvas_ends_a_margin_after_what_is_drawn(tmp_path, capsys, argv, suffix):
    path = tmp_path / f"a{suffix}"
    assert main(["animate", *argv, "-o", str(path)]) == 0
    with PIL.open(path) as image:
        widest = None
        for i in range(getattr(image, "n_frames", 1)):
            image.seek(i)
            frame = image.convert("RGB")
            ink = PIL.eval(frame, lambda v: 255 - v).getbbox()  # the box of every non-white pixel
            widest = (
                ink
                if widest is None
                else (
                    min(widest[0], ink[0]),
                    min(widest[1], ink[1]),
                    max(widest[2], ink[2]),
                    max(widest[3], ink[3]),
                )
            )
        w, h = image.size
    left, top, right, bottom = widest
    # A grid edge ends exactly at the margin; a line of text by its advance, its ink a pixel or two earlier.
    assert left == MARGIN and w - MARGIN - 3 <= right <= w - MARGIN
    # Text is placed by its top; glyphs start a pixel or two lower and end before the 14-pixel box does.
    assert MARGIN <= top <= MARGIN + 4 and h - MARGIN - 4 <= bottom <= h - MARGIN


def test_panel_titles_say_padding_only_when_there_is_some(tmp_path, capsys):
    titles = [t.text for t in steps(svg(tmp_path, capsys, "conv", "5", "-k", "3"))[0].iter(f"{SVG}text")]
    assert "input 5x5" in titles and not any("+ padding" in t for t in titles)
    titles = [
        t.text for t in steps(svg(tmp_path, capsys, "conv", "5", "-k", "3", "-p", "1"))[0].iter(f"{SVG}text")
    ]
    assert "input 5x5 + padding" in titles


def _corners(rects):
    xs = [float(r.get("x")) - 0.5 for r in rects]
    ys = [float(r.get("y")) - 0.5 for r in rects]
    return min(xs), min(ys), max(xs) + CELL - 1, max(ys) + CELL - 1


def test_projection_lines_join_the_window_corners_to_its_output_cell(tmp_path, capsys):
    # conv 5x5, k3, s2, p1 -> 3x3; frame 5 is output (1, 1), whose window reads padded rows/cols 2..4.
    step = steps(svg(tmp_path, capsys, "conv", "5", "-k", "3", "-s", "2", "-p", "1"))[4]
    edged = [
        r for r in step.iter(f"{SVG}rect") if r.get("stroke") == HIGHLIGHT and r.get("stroke-width") == "3"
    ]
    window = [r for r in edged if r.get("data-kind") in ("data", "padding")]
    (out,) = [r for r in edged if r.get("data-kind") == "output"]
    grid = [r for r in step.iter(f"{SVG}rect") if r.get("data-kind") in ("data", "padding")]
    gx, gy = min(float(r.get("x")) for r in grid), min(float(r.get("y")) for r in grid)
    cells = sorted(((float(r.get("y")) - gy) / CELL, (float(r.get("x")) - gx) / CELL) for r in window)
    assert cells == [(r, c) for r in (2, 3, 4) for c in (2, 3, 4)]
    lines = [ln for ln in step.iter(f"{SVG}line") if ln.get("stroke") == HIGHLIGHT]
    ends = sorted(tuple(float(ln.get(a)) for a in ("x1", "y1", "x2", "y2")) for ln in lines)
    _, wt, wr, wb = _corners(window)
    ol, ot, _, ob = _corners([out])
    assert ends == sorted([(wr, wt, ol, ot), (wr, wb, ol, ob)])
    # The output cell is the second row, second column of the 3x3 output grid.
    outputs = [r for r in step.iter(f"{SVG}rect") if r.get("data-kind") == "output"]
    ox, oy = min(float(r.get("x")) for r in outputs), min(float(r.get("y")) for r in outputs)
    assert (float(out.get("x")) - ox, float(out.get("y")) - oy) == (CELL, CELL)
    assert out.get("fill") == HOT == window[4].get("fill")


def test_one_dimensional_links_run_under_the_row(tmp_path, capsys):
    # conv 1-D, 5 inputs, k3: frame 2 is y2, window over inputs 2..4.
    step = steps(svg(tmp_path, capsys, "conv", "5", "-k", "3", "--ndim", "1"))[1]
    edged = [
        r for r in step.iter(f"{SVG}rect") if r.get("stroke") == HIGHLIGHT and r.get("stroke-width") == "3"
    ]
    window = [r for r in edged if r.get("data-kind") == "data"]
    (out,) = [r for r in edged if r.get("data-kind") == "output"]
    wl, _, wr, wb = _corners(window)
    ol, _, orr, ob = _corners([out])
    lines = [ln for ln in step.iter(f"{SVG}line") if ln.get("stroke") == HIGHLIGHT]
    points = [tuple(float(ln.get(a)) for a in ("x1", "y1", "x2", "y2")) for ln in lines]
    down, across, up = (wl + wr) // 2, (ol + orr) // 2, wb + 8
    assert points == [(down, wb, down, up), (down, up, across, up), (across, up, across, ob)]


@pytest.mark.parametrize(
    "args, suffix",
    [(("conv", 40, 3), ".gif"), (("conv", 12, 3), ".png"), (("convtranspose", 8, 3), ".gif")],
)
def test_too_large_pictures_are_refused_before_any_frame_is_built(tmp_path, monkeypatch, args, suffix):
    import convlab.viz._animate as animate_module
    from convlab.viz import PictureTooLarge, animate

    def never(*_, **__):
        raise AssertionError("frames were built")

    monkeypatch.setattr(animate_module, "sections", never)
    stride = 2 if args[0] == "convtranspose" else 1
    with pytest.raises(PictureTooLarge, match="million pixels"):
        animate(*args, tmp_path / f"a{suffix}", stride=stride)
    assert list(tmp_path.iterdir()) == []
