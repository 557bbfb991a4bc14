"""The README's GIF is current: scripts/readme_gif.py draws it again, byte for byte."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("PIL.Image")
ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("readme_gif", ROOT / "scripts" / "readme_gif.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_gif_is_regenerated_byte_for_byte(tmp_path):
    script = _script()
    checked_in = script.GIF.read_bytes()
    assert len(checked_in) < 300_000
    assert f"]({script.GIF.relative_to(ROOT).as_posix()})" in (ROOT / "README.md").read_text(encoding="utf-8")
    # The bytes depend on Pillow's encoder and FreeType's glyphs: other versions draw other
    # (equally valid) bytes, so the test extra pins Pillow; another one here is a set-up error.
    assert script.versions() == script.MADE_WITH, (
        f"drawn with {script.MADE_WITH}, this machine has {script.versions()}: "
        f"install the test extra (bash scripts/test) or redraw with scripts/readme_gif.py"
    )
    frames = script.make(tmp_path / "again.gif")
    assert frames == 9 + 36  # 3x3 input pixels scattered, then 6x6 output pixels (the title card not counted)
    assert (tmp_path / "again.gif").read_bytes() == checked_in
