"""The interactive page in headless Chromium: its sizes, formulas, messages and torch lines are convlab's.

One browser session drives every configuration (navigating per configuration).
A missing chromium or chromedriver fails these tests: the page's arithmetic is
only checked here.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import tempfile
from pathlib import Path
from urllib.parse import urlencode

import pytest

from convlab import shapes
from convlab._args import ConvlabError
from convlab.cli import main
from convlab.cli._parse import padding_arg, size_arg
from convlab.nn import Conv2d
from convlab.viz._page import message_templates, write_page

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CONFIGS = 520
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READ = """return [document.getElementById('output-size').textContent,
  document.getElementById('error').textContent,
  Array.from(document.querySelectorAll('#formula .work')).map(e => e.textContent),
  document.getElementById('torch').textContent];"""


@pytest.fixture(scope="module")
def browser():
    for path in (CHROMIUM, DRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is required for the page's browser test (scripts/test installs it)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tempfile.mkdtemp(prefix='convlab-chromium-')}"):
        options.add_argument(flag)
    options.add_argument("--window-size=1400,1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The page computes in inline scripts at the end of <body>, done before readyState is interactive.
    options.page_load_strategy = "eager"
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    return write_page(tmp_path_factory.mktemp("page") / "page.html", "conv", 5, 3)


def _open(browser, page: Path, query: dict | None = None) -> list:
    browser.get(page.as_uri() + ("?" + urlencode(query) if query else ""))
    return browser.execute_script(READ)


# ---------------------------------------------------------------- the oracle: convlab in Python


def _python_args(q: dict) -> dict:
    """The Python values a page query stands for (a bare size is HxW; one lo:hi pair is both dims)."""
    # Parsed in the page's order (`convlab animate OP SIZE -k -s -p -d --op`): the first bad one speaks.
    size = size_arg(q["size"])
    a = {"size": size if isinstance(size, tuple) else (size, size), "kernel_size": size_arg(q["k"])}
    a["stride"] = size_arg(q["s"]) if q["s"] else None
    padding = padding_arg(q["p"])
    a["padding"] = padding * 2 if isinstance(padding, tuple) and len(padding) == 1 else padding
    a["dilation"] = size_arg(q["d"])
    a["output_padding"] = size_arg(q["output_padding"])
    return a


def oracle(q: dict) -> tuple[str, str, list[str]]:
    """(output size 'HxW', error message, size_working lines) as convlab computes them."""
    try:
        a = _python_args(q)
        if q["op"] != "pool":
            # nn's layers check channels and groups before any size.
            Conv2d(int(q["channels"]), int(q["out_channels"]), 1, groups=int(q["groups"]))
        stride = a["stride"]
        if q["op"] == "conv":
            out = shapes.conv_output_size(
                a["size"], a["kernel_size"], stride or 1, a["padding"], a["dilation"]
            )
        elif q["op"] == "convtranspose":
            args = (
                a["size"],
                a["kernel_size"],
                stride or 1,
                a["padding"],
                a["output_padding"],
                a["dilation"],
            )
            out = shapes.conv_transpose_output_size(*args)
        else:
            ceil = q.get("ceil_mode") == "1"
            out = shapes.pool_output_size(
                a["size"], a["kernel_size"], stride, a["padding"], a["dilation"], ceil
            )
        work = shapes.size_working(
            q["op"],
            a["size"],
            a["kernel_size"],
            stride,
            a["padding"],
            a["dilation"],
            a["output_padding"] if q["op"] == "convtranspose" else 0,
            q.get("ceil_mode") == "1",
        )
    except (ConvlabError, argparse.ArgumentTypeError) as err:
        return "", str(err), []
    return "x".join(map(str, out)), "", list(work)


def _dims(rng: random.Random, low: int, high: int) -> str:
    a = rng.randint(low, high)
    return str(a) if rng.random() < 0.6 else f"{a}x{rng.randint(low, high)}"


def _padding(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:
        return str(rng.randint(0, 3))
    if kind < 0.45:
        return f"{rng.randint(0, 2)}:{rng.randint(0, 2)}"
    if kind < 0.6:
        return f"{rng.randint(0, 2)}:{rng.randint(0, 3)}x{rng.randint(0, 2)}"
    if kind < 0.7:
        return f"{rng.randint(0, 2)}x{rng.randint(0, 3)}"
    if kind < 0.9:
        return rng.choice(["same", "valid"])
    return rng.choice(["-1", "1:-2", "a", "1x", "0:1:2"])


def configurations(count: int, seed: int = 15) -> list[dict]:
    """Seeded layers over every control, about half of them invalid in some way."""
    rng = random.Random(seed)
    configs = []
    for _ in range(count):
        op = rng.choice(["conv", "convtranspose", "pool"])
        q = {
            "op": op,
            "size": _dims(rng, 2, 9),
            "k": _dims(rng, 1, 5) if rng.random() < 0.97 else rng.choice(["", "3y", "0"]),
            "s": _dims(rng, 1, 4) if op != "pool" or rng.random() < 0.6 else "",
            "p": _padding(rng),
            "d": _dims(rng, 1, 3) if rng.random() < 0.97 else "0",
            "output_padding": (_dims(rng, 0, 3) if rng.random() < 0.97 else "-1")
            if op == "convtranspose"
            else "0",
            "channels": str(rng.randint(1, 6)),
            "out_channels": str(rng.randint(1, 6)),
            "groups": str(rng.choice([1, 1, 1, 2, 3])),
        }
        g = int(q["groups"])
        if rng.random() < 0.85:
            q.update(channels=str(g * rng.randint(1, 3)), out_channels=str(g * rng.randint(1, 3)))
        if op == "convtranspose" and rng.random() < 0.1:
            q.update(p=str(rng.randint(3, 9)), output_padding="0")  # more than the transposed conv's output
        if op == "pool":
            q.update(groups="1", out_channels=q["channels"])
            if rng.random() < 0.5:
                q["ceil_mode"] = "1"
        elif rng.random() < 0.03:
            q["channels"] = "0"
        configs.append(q)
    return configs


# ---------------------------------------------------------------- tests


def _kind(message: str, templates: dict[str, str]) -> str:
    """The template a message was made from; the one with the most literal text wins."""
    literal = {key: len(re.sub(r"\{\w+\}", "", t)) for key, t in templates.items()}
    for key, template in sorted(templates.items(), key=lambda item: -literal[item[0]]):
        pattern = re.sub(r"\\\{\w+\\\}", ".*", re.escape(template))
        if re.fullmatch(pattern, message):
            return key
    return message


def test_page_sizes_formulas_and_messages_are_convlabs(browser, page):
    valid, invalid, torch_lines, kinds = 0, 0, [], set()
    templates = message_templates()
    for q in configurations(CONFIGS):
        size, error, work, torch_text = _open(browser, page, q)
        want = oracle(q)
        assert (size, error, work) == want, q
        if want[1]:
            invalid += 1
            kinds.add(_kind(want[1], templates))
        else:
            valid += 1
            torch_lines.append((q, torch_text))
    # Both halves are exercised: the sizes and the refusals.
    assert valid >= 150 and invalid >= 150, (valid, invalid)
    # ... and every message convlab can give for a layer.
    assert kinds == set(templates), kinds ^ set(templates)
    assert browser.get_log("browser") == []
    _torch_lines_build_the_layer(torch_lines)


def _torch_lines_build_the_layer(cases: list) -> None:
    torch = pytest.importorskip("torch")
    for q, text in cases:
        out = oracle(q)[0].split("x")
        size = size_arg(q["size"])
        h, w = size if isinstance(size, tuple) else (size, size)
        namespace = {"nn": torch.nn, "x": torch.zeros(1, int(q["channels"]), h, w)}
        exec(text, namespace)
        channels = int(q["channels"] if q["op"] == "pool" else q["out_channels"])
        assert tuple(namespace["y"].shape) == (1, channels, int(out[0]), int(out[1])), (q, text)


def test_url_query_takes_the_clis_names_and_defaults(browser, page):
    query = {
        "op": "convtranspose",
        "size": "5x5",
        "k": "3",
        "s": "2",
        "p": "1",
        "d": "1",
        "output_padding": "1",
    }
    assert _open(browser, page, query)[0] == "10x10"
    # Long names work too, and what the query leaves out takes the CLI's defaults (stride 1, padding 0).
    assert _open(browser, page, {"op": "conv", "size": "7x9", "kernel_size": "3"})[0] == "5x7"
    # Pooling's stride defaults to the kernel, as in PyTorch.
    assert _open(browser, page, {"op": "pool", "size": "9", "k": "2"})[0] == "4x4"
    assert _open(browser, page, {"op": "pool", "size": "9", "k": "2", "ceil_mode": "1"})[0] == "5x5"


def test_page_opens_on_the_layer_it_was_written_for(browser, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [
        "animate",
        "convtranspose",
        "6x4",
        "-k",
        "3",
        "-s",
        "2",
        "-p",
        "0:1x1:1",
        "--op",
        "1",
        "-o",
        "t.html",
    ]
    assert main(argv) == 0
    assert "wrote t.html" in capsys.readouterr().out
    size, error, work, torch_text = _open(browser, tmp_path / "t.html")
    # rows (6-1)*2 - 0 - 1 + 2 + 1 + 1 = 13, cols (4-1)*2 - 2 + 2 + 1 + 1 = 8
    assert (size, error) == ("13x8", "")
    assert work == list(shapes.size_working("convtranspose", (6, 4), 3, 2, ((0, 1), (1, 1)), 1, 1))
    # torch crops lo = hi: the layer takes min(lo, hi) per dimension and the rest is cropped by hand.
    assert "nn.ConvTranspose2d(1, 1, kernel_size=3, stride=2, padding=(0, 1), output_padding=1)" in torch_text
    assert "y = layer(x)[:, :, 0:13, 0:8]" in torch_text


def test_three_dimensions_are_refused_by_the_page_with_its_own_message(browser, page):
    size, error, _, _ = _open(browser, page, {"op": "conv", "size": "4x4x4", "k": "3"})
    assert (
        size == "" and error == "the page draws 2-D layers: size takes one value or two like 3x5, got '4x4x4'"
    )


def test_step_and_play_move_the_frame(browser, page):
    from selenium.webdriver.common.by import By

    _open(browser, page, {"op": "conv", "size": "5", "k": "3", "s": "2", "p": "1"})
    frame = browser.find_element(By.ID, "frame")
    assert frame.text == "1 / 9"
    browser.find_element(By.ID, "next").click()
    browser.find_element(By.ID, "next").click()
    assert frame.text == "3 / 9"
    assert "output y3 (row 1, col 3)" in browser.find_element(By.ID, "step-text").text
    browser.find_element(By.ID, "prev").click()
    assert frame.text == "2 / 9"
    # Nine output cells, the current one marked; the 3x3 window of orange cells.
    assert len(browser.find_elements(By.CSS_SELECTOR, "#picture rect.out")) == 9
    assert len(browser.find_elements(By.CSS_SELECTOR, "#picture rect.now")) == 1
    assert len(browser.find_elements(By.CSS_SELECTOR, "#picture rect.win")) == 9
    # The conv matrix: 9 output rows x 25 input columns, 4 + 6 + 4 + ... taps = 49 entries for k3 s2 p1 on 5.
    assert len(browser.find_elements(By.CSS_SELECTOR, "#matrix rect.m")) == 9 * 25
    assert len(browser.find_elements(By.CSS_SELECTOR, "#matrix rect.hit")) == 7 * 7


def test_editing_a_control_updates_size_and_url(browser, page):
    from selenium.webdriver.common.by import By

    _open(browser, page, {"op": "conv", "size": "8", "k": "3"})
    box = browser.find_element(By.ID, "s")
    box.clear()
    box.send_keys("2")
    assert browser.find_element(By.ID, "output-size").text == "3x3"
    assert "s=2" in browser.current_url


def test_screenshot_is_a_png(browser, page, tmp_path):
    _open(
        browser,
        page,
        {"op": "convtranspose", "size": "3", "k": "3", "s": "2", "p": "1", "output_padding": "1"},
    )
    path = tmp_path / "page.png"
    assert browser.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
