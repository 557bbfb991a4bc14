"""What :func:`convlab.viz.animate` returns: the frame count, shown inline by Jupyter."""

from __future__ import annotations

import base64
import os
from pathlib import Path

_MIME = {".gif": "image/gif", ".png": "image/png"}


class Animation(int):
    """The number of frames drawn (an ``int``), which also knows its file.

    Existing callers keep an int (``frames == 9``, ``f"{frames} frames"``,
    JSON); in a notebook the picture displays itself: SVG inline, GIF and PNG
    as an embedded image.

    Examples
    --------
    >>> a = Animation(9, "conv.gif")
    >>> a == 9, a + 1, a.path.name
    (True, 10, 'conv.gif')
    """

    path: Path

    def __new__(cls, frames: int, path: str | os.PathLike) -> Animation:
        self = super().__new__(cls, frames)
        self.path = Path(path)
        return self

    def _repr_html_(self) -> str:
        data = self.path.read_bytes()
        suffix = self.path.suffix.lower()
        if suffix == ".svg":
            return data.decode("utf-8")
        encoded = base64.b64encode(data).decode("ascii")
        return f'<img src="data:{_MIME[suffix]};base64,{encoded}" alt="{self.path.name}: {int(self)} frames">'

    def _repr_png_(self) -> bytes | None:
        # Jupyter prefers the richest representation it can show; PNG files give theirs directly.
        return self.path.read_bytes() if self.path.suffix.lower() == ".png" else None

    def _repr_svg_(self) -> str | None:
        return self.path.read_text(encoding="utf-8") if self.path.suffix.lower() == ".svg" else None
