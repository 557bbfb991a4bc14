"""The package's public surface: top-level re-exports, layering, py.typed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import convlab
import convlab.functional as F


def test_functional_is_reexported_at_top_level():
    for name in F.__all__:
        if name.endswith("workspace_limit"):
            continue
        assert getattr(convlab, name) is getattr(F, name), name
    assert set(convlab.__all__) >= {"conv2d", "conv_transpose2d", "unfold", "fold", "shapes", "transforms"}


def test_shapes_imports_without_numpy():
    code = (
        "import sys; sys.modules['numpy'] = None\n"  # any import of numpy now fails
        "import convlab.shapes as s\n"
        "print(s.conv_output_size(24, 3, stride=2, padding=1))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "12"


def test_unknown_attribute_is_an_attribute_error():
    try:
        convlab.conv4d  # noqa: B018
    except AttributeError as err:
        assert "conv4d" in str(err)
    else:
        raise AssertionError("convlab.conv4d should not exist")


def test_py_typed_ships():
    assert (Path(convlab.__file__).parent / "py.typed").is_file()


def test_shapes_does_not_import_the_array_layers():
    for path in (Path(convlab.__file__).parent / "shapes").glob("*.py"):
        text = path.read_text()
        for layer in ("numpy", "functional", "lowering", "nn", "models", "tiling", "cli"):
            assert f"import {layer}" not in text and f"from ..{layer}" not in text, (path.name, layer)
