"""Notebook display (issue 15 item 5) and the page file itself (item 4) without a browser."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

import pytest

from convlab import shapes
from convlab._args import ConvlabError
from convlab.cli import main
from convlab.viz import Animation, animate, page_html, write_page
from convlab.viz._page import message_templates


class _Cells(HTMLParser):
    """The text of every <td>, row by row."""

    def __init__(self):
        super().__init__()
        self.rows, self._cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag == "td":
            self.rows[-1].append(self._cell)
            self._cell = None


def cells(html: str) -> list[list[str]]:
    parser = _Cells()
    parser.feed(html)
    return [row for row in parser.rows if row]


# ---------------------------------------------------------------- animate returns an int that shows itself


def test_animate_returns_the_frame_count_as_an_int_that_knows_its_svg(tmp_path):
    path = tmp_path / "a.svg"
    frames = animate("conv", 5, 3, path, stride=2, padding=1)
    assert isinstance(frames, int) and isinstance(frames, Animation)
    assert (
        frames == 9 and f"{frames} frames" == "9 frames" and json.dumps({"frames": frames}) == '{"frames": 9}'
    )
    assert frames.path == path
    assert frames._repr_svg_() == path.read_text(encoding="utf-8") == frames._repr_html_()
    assert frames._repr_png_() is None


@pytest.mark.parametrize("suffix, mime", [(".gif", "image/gif"), (".png", "image/png")])
def test_raster_animations_embed_their_own_bytes(tmp_path, suffix, mime):
    pytest.importorskip("PIL")
    path = tmp_path / f"a{suffix}"
    frames = animate("convtranspose", 2, 3, path, stride=2)
    html = frames._repr_html_()
    match = re.fullmatch(
        rf'<img src="data:{mime};base64,([A-Za-z0-9+/=]+)" alt="a{suffix}: \d+ frames">', html
    )
    assert match and base64.b64decode(match.group(1)) == path.read_bytes()
    assert frames._repr_png_() == (path.read_bytes() if suffix == ".png" else None)


# ---------------------------------------------------------------- shapes results as tables


def test_roundtrip_shows_its_sizes():
    r = shapes.roundtrip(24, 3, stride=2, padding=1)
    assert cells(r._repr_html_()) == [
        ["input size", "24"],
        ["after the conv", "12"],
        ["back, output_padding=0", "23"],
        ["output_padding that restores it", "1"],
        ["inputs the conv maps alike", "23..24"],
        ["padding (lo:hi)", "1:1"],
    ]


def test_solutions_are_a_list_and_a_table():
    found = shapes.solve(768, 128)
    assert isinstance(found, list) and isinstance(found, shapes.Solutions)
    rows = cells(found._repr_html_())
    assert len(rows) == min(len(found), 50) + (len(found) > 50)
    assert rows[0] == [str(v) for v in found[0].as_dict().values()] == ["6", "6", "0", "1", "0", "0"]
    assert cells(found[0]._repr_html_()) == [rows[0]]
    assert shapes.solve((24, 24), (12, 12))._repr_html_().count("<tr>") >= 2


def test_solutions_beyond_fifty_are_counted():
    found = shapes.solve(100, 50, max_kernel_size=32, max_stride=4, max_dilation=4)
    assert len(found) > 50
    assert cells(found._repr_html_())[-1] == [f"... {len(found) - 50} more"]


def test_receptive_field_crop_and_unet_tables():
    rf = shapes.receptive_field(["c3", "c3s2p1"], 24)[-1]
    fields = dict(cells(rf._repr_html_()))
    assert (fields["receptive field"], fields["jump"], fields["start"], fields["output size"]) == (
        str(rf.size),
        str(rf.jump),
        str(rf.start),
        str(rf.output_size),
    )
    box = shapes.center_crop_box((7, 6), (4, 4))
    assert cells(box._repr_html_()) == [
        ["image size", "7x6"],
        ["crop size", "4x4"],
        ["zero padding (lo:hi)", "0:0 x 0:0"],
        ["start", "2x1"],
        ["stop", "6x5"],
    ]
    sizes = shapes.unet_sizes((572, 572))
    rows = cells(sizes._repr_html_())
    assert len(rows) == sizes.depth + 1
    # Ronneberger's U-Net: 572 -> 570 -> 568, pooled 284; 388 out.
    assert rows[0][:3] == ["0", "572x572 -> 570x570 -> 568x568", "284x284"]
    assert "U-Net 572x572 -&gt; 388x388 (padding valid)" in sizes._repr_html_()


def test_model_trace_is_a_list_and_a_table():
    from convlab.models import UNet

    rows = UNet().trace((1, 1, 572, 572))
    assert isinstance(rows, list)
    table = cells(rows._repr_html_())
    assert len(table) == len(rows)
    assert table[0][:4] == [rows[0].name, rows[0].layer, "1x64x570x570", str(rows[0].parameters)]
    merge = next(i for i, r in enumerate(rows) if r.crop is not None)
    box = rows[merge].crop
    want = " x ".join(f"{a}:{b}" for a, b in zip(box.start, box.stop))
    assert table[merge][-1] == want and table[-1][2] == "1x2x388x388"


# ---------------------------------------------------------------- the page file


def test_page_is_self_contained_and_small():
    html = page_html("convtranspose", (5, 5), 3, stride=2, padding=1, output_padding=1)
    assert len(html.encode("utf-8")) < 1_000_000
    # Nothing to fetch: no src/href attributes, no URL but the SVG namespace, a CSP that forbids the network.
    assert not re.search(r"\b(src|href)\s*=", html.replace("data:${", ""))
    assert set(re.findall(r"https?://[^\s\"'`]+", html)) == {"http://www.w3.org/2000/svg"}
    assert "default-src 'none'" in html
    data = json.loads(re.search(r"const CONVLAB = (\{.*?\});</script>", html).group(1))
    assert data["defaults"] | {"ceil_mode": False} == {
        "op": "convtranspose",
        "size": "5x5",
        "k": "3",
        "s": "2",
        "p": "1",
        "d": "1",
        "output_padding": "1",
        "groups": "1",
        "channels": "1",
        "out_channels": "1",
        "ceil_mode": False,
        "view": "scatter",
    }
    assert data["messages"] == message_templates()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: shapes.conv_transpose_output_size(12, 3, 2, 1, 5), "output_padding=5"),
        (lambda: shapes.pool_output_size(6, 3, 2, 2), "padding must be at most half"),
        (lambda: shapes.conv_output_size((5, 4), 7), "kernel_size is larger"),
    ],
)
def test_templates_filled_give_convlabs_messages(call, message):
    with pytest.raises(ConvlabError, match=message) as err:
        call()
    templates = message_templates()
    pattern = {k: re.sub(r"\\\{\w+\\\}", ".*", re.escape(t)) for k, t in templates.items()}
    assert any(re.fullmatch(p, str(err.value)) for p in pattern.values())


@pytest.mark.parametrize(
    "args, kwargs, words",
    [
        (("conv", 5, 7), {}, "kernel_size is larger than the padded input in dimension 0"),
        (("pool", 6, 3), {"padding": 2}, "padding must be at most half of kernel_size"),
        (("convtranspose", 5, 3), {"padding": "same"}, "padding='same' is defined for convolutions only"),
        (("conv", (4, 4, 4), 3), {}, "the page draws 2-D layers: size takes one value or two"),
        (("conv", 5, 3), {"channels": 3, "groups": 2}, "in_channels must be divisible by groups"),
        (("max", 5, 3), {}, "op must be one of conv, convtranspose, pool"),
        (("conv", 5, 3), {"view": "both"}, "view must be 'scatter' or 'zero-insertion'"),
    ],
)
def test_write_page_refuses_what_convlab_refuses(tmp_path, args, kwargs, words):
    with pytest.raises(ConvlabError, match=re.escape(words)):
        write_page(tmp_path / "p.html", *args, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_write_page_checks_the_file_name_first(tmp_path):
    with pytest.raises(ConvlabError, match=r"output must end in \.html"):
        write_page(tmp_path / "p.gif")
    with pytest.raises(ConvlabError, match="output directory does not exist"):
        write_page(tmp_path / "no" / "p.html")


@pytest.mark.parametrize(
    "argv, words",
    [
        (("conv", "5", "-k", "7"), "kernel_size is larger than the padded input"),
        (("conv", "5", "-k", "3", "--ndim", "1"), "the interactive page draws 2-D layers"),
        # The grammar refuses a flag that does not apply, with one message for every command.
        (("conv", "5", "-k", "3", "--ceil-mode"), "--ceil-mode applies to pool, not conv"),
        (("pool", "5", "-k", "3", "--groups", "2"), "--groups applies to conv, convtranspose, not pool"),
        (
            ("pool", "5", "-k", "3", "--out-channels", "2"),
            "--groups and --out-channels apply to conv and convtranspose",
        ),
        (("conv", "5", "-k", "3", "-c", "3", "--groups", "2"), "in_channels must be divisible by groups"),
    ],
)
def test_cli_page_refusals_exit_2_and_write_nothing(tmp_path, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    assert main(["animate", *argv, "-o", "p.html"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and words in err and list(tmp_path.iterdir()) == []


def test_cli_page_json(tmp_path, capsys):
    path = tmp_path / "p.html"
    assert main(["animate", "conv", "5", "-k", "3", "-o", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"output": str(path)}
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    "argv, words",
    [
        (("conv", "5", "-k", "3", "--ceil-mode"), "--ceil-mode applies to pool, not conv"),
        (("conv", "5", "-k", "3", "-c", "3", "--groups", "2"), "groups must divide channels"),
        (("conv", "5", "-k", "3", "-c", "9"), "channels must be from 1 to 8"),
        (("conv", "5", "-k", "3", "-c", "2", "--values"), "values are drawn for one channel"),
        (("conv", "5", "-k", "3", "--pool", "avg"), "--pool applies to pool, not conv"),
        (("pool", "5", "-k", "2", "--pool", "avg", "-d", "2"), "average pooling has no dilation"),
        (("pool", "5", "-k", "3", "-p", "0:1"), "pooling pads both sides alike"),
        (("conv", "5", "-k", "3", "--fps", "0"), "fps must be from 0.25 to 50"),
        (("conv", "5", "-k", "3", "--fps", "nan"), "fps must be from 0.25 to 50"),
        (("conv", "5", "-k", "3", "--fps", "51"), "fps must be from 0.25 to 50"),
        (("conv", "5", "-k", "3", "--fps", "2", "-o", "a.png"), "fps applies to .gif animations"),
    ],
)
def test_picture_options_are_checked_before_drawing(tmp_path, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    argv = argv if "-o" in argv else (*argv, "-o", "a.gif")
    assert main(["animate", *argv]) == 2
    assert words in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv, flag",
    [(("--values",), "--values"), (("--fps", "4"), "--fps 4.0"), (("--pool", "avg"), "--pool avg")],
)
def test_picture_only_options_are_refused_for_the_page(tmp_path, capsys, monkeypatch, argv, flag):
    monkeypatch.chdir(tmp_path)
    assert main(["animate", "pool", "5", "-k", "2", *argv, "-o", "a.html"]) == 2
    assert f"{flag} applies to .gif, .png and .svg pictures, not to the .html page" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def _defaults(path) -> dict:
    html = path.read_text(encoding="utf-8")
    return json.loads(re.search(r"const CONVLAB = (\{.*?\});</script>", html).group(1))["defaults"]


def test_cli_page_carries_pool_and_channel_options(tmp_path, capsys):
    pool = tmp_path / "pool.html"
    assert main(["animate", "pool", "7", "-k", "3", "-p", "1", "--ceil-mode", "-o", str(pool)]) == 0
    got = _defaults(pool)
    # No -s: the page's stride box stays empty, which means "the kernel size" for a pool.
    assert (got["op"], got["size"], got["k"], got["s"], got["p"], got["ceil_mode"]) == (
        "pool",
        "7x7",
        "3",
        "",
        "1",
        True,
    )
    conv = tmp_path / "conv.html"
    argv = ["animate", "conv", "6x5", "-k", "3", "-s", "2", "-c", "4", "--out-channels", "6", "--groups", "2"]
    assert main([*argv, "-o", str(conv)]) == 0
    got = _defaults(conv)
    assert (got["channels"], got["out_channels"], got["groups"], got["s"]) == ("4", "6", "2", "2")
