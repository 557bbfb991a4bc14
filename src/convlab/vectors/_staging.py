"""A vectors directory is built under a hidden name beside its target and renamed into place at the end.

Readers (a testbench, ``convlab diff``) see the previous directory or the
complete new one, never a half-written one: an error, a full disk or an
interrupt part-way through a forward pass leaves the target as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from .._args import ConvlabError
from ..io import discard, reserve_beside
from ._manifest import MANIFEST

__all__ = ["check_space", "check_target", "staged_directory"]


def check_target(target: Path) -> None:
    """``target`` must be new, empty, or a previous vectors directory (the only kind replaced)."""
    if target.exists() and not target.is_dir():
        raise ConvlabError(f"out {str(target)!r} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST).is_file():
        raise ConvlabError(
            f"out {str(target)!r} holds files but no {MANIFEST}: choose a new or empty directory "
            f"(only a previous vectors directory is replaced)"
        )


def check_space(target: Path, needed: int, fewer: str) -> None:
    """Refuse, before anything is written, ``needed`` bytes the disk beside ``target`` cannot hold.

    ``fewer`` names what the caller selects (``layers``, ``nodes``), for the hint.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if needed > free:
        raise ConvlabError(
            f"the vectors need about {needed / 1e9:.1f} GB but {str(target.parent)!r} has "
            f"{free / 1e9:.1f} GB free: choose fewer {fewer} (layers=) or a denser format ('bin')"
        )


@contextlib.contextmanager
def staged_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty hidden directory beside ``target``; on success it replaces ``target`` whole.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "vec"
    >>> with staged_directory(target) as work:
    ...     _ = (work / "manifest.json").write_text("{}")
    >>> sorted(p.name for p in target.iterdir())
    ['manifest.json']
    """
    target = Path(target)
    check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = reserve_beside(target, directory=True, tag="partial")
    try:
        yield work
        if target.exists():
            old = reserve_beside(target, directory=True, tag="old")
            os.replace(target, old)
            os.replace(work, target)
            discard(old)
        else:
            os.replace(work, target)
    except BaseException:
        discard(work)
        raise
