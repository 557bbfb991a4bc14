"""A progress bar for long tiled runs: tqdm on a terminal, silence elsewhere."""

from __future__ import annotations

import sys
from collections.abc import Callable

from .._extras import require

__all__ = ["Progress", "make_progress"]


class Progress:
    """Counts finished tiles; draws a tqdm bar or calls a callback with ``(done, total)``."""

    def __init__(self, total: int, bar=None, callback: Callable[[int, int], object] | None = None):
        self.total, self.done, self._bar, self._callback = total, 0, bar, callback

    def update(self) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)
        if self._callback is not None:
            self._callback(self.done, self.total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def make_progress(progress: object, total: int, description: str = "tiles") -> Progress:
    """A :class:`Progress` for ``predict_tiled(progress=...)``.

    ``None`` draws a bar only when stderr is a terminal (and tqdm is
    installed): logs, pipes and CI stay clean. ``True`` draws one anyway
    (tqdm required), ``False`` never; a callable is called with
    ``(done, total)`` after every tile.
    """
    if callable(progress):
        return Progress(total, callback=progress)
    if progress is None:
        isatty = getattr(sys.stderr, "isatty", None)
        if not (isatty and isatty()):
            return Progress(total)
        try:
            from tqdm import tqdm
        except ImportError:
            return Progress(total)
    elif progress is True:
        tqdm = require("tqdm", "progress", "progress=True (a progress bar)").tqdm
    elif progress is False:
        return Progress(total)
    else:
        raise TypeError(f"progress must be None, a bool or a callable, got {type(progress).__name__}")
    return Progress(total, bar=tqdm(total=total, unit="tile", desc=description, file=sys.stderr))
