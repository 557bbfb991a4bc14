"""Draw the README's animation: a transposed convolution, scattered, then as zero insertion.

    python scripts/readme_gif.py            # writes docs/img/convtranspose.gif

``convtranspose 3x3 -k 3 -s 2 -p 1 --op 1`` is the layer behind "my
ConvTranspose2d gives 5 instead of 6": the scatter view shows padding
cropping the border and output_padding adding the last row and column back,
a title card, then the same output as a stride-1 convolution of the flipped
kernel over the zero-inserted input.

The bytes are deterministic for one Pillow and FreeType (one fixed palette,
no timestamps, Pillow's bundled font); ``MADE_WITH`` records the versions
that drew the checked-in file, and ``tests/test_viz_readme_gif.py``
regenerates it and asserts it is byte-identical when those versions match.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GIF = ROOT / "docs" / "img" / "convtranspose.gif"
MADE_WITH = {"Pillow": "13.0.0", "freetype2": "2.14.3"}
LAYER = dict(op="convtranspose", size=(3, 3), kernel_size=3, stride=2, padding=1, output_padding=1, fps=1.5)


def versions() -> dict[str, str]:
    """The versions that decide the bytes: Pillow's encoder and FreeType's glyph rendering."""
    import PIL
    from PIL import features

    return {"Pillow": PIL.__version__, "freetype2": str(features.version("freetype2"))}


def make(path: Path) -> int:
    """Write the animation to ``path``; returns its number of frames."""
    from convlab.viz import animate

    layer = dict(LAYER)
    return int(animate(layer.pop("op"), layer.pop("size"), layer.pop("kernel_size"), path, **layer))


def main() -> int:
    GIF.parent.mkdir(parents=True, exist_ok=True)
    frames = make(GIF)
    if versions() != MADE_WITH:
        print(f"note: drawn with {versions()}, MADE_WITH says {MADE_WITH}: update it", file=sys.stderr)
    print(f"wrote {GIF.relative_to(ROOT)}: {frames} frames, {GIF.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
