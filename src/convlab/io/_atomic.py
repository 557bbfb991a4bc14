"""Write a file under a temporary name in its directory, then rename it into place.

The one implementation behind every writer of convlab: weights and images
(:func:`atomic_path`), pictures (:func:`write_bytes_atomic`), and the
outputs of tiled inference, which are filled tile by tile and renamed
after the last (:func:`reserve_beside`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "discard", "reserve_beside", "write_bytes_atomic"]


def reserve_beside(target: str | os.PathLike, *, directory: bool = False, tag: str = "tmp") -> Path:
    """Create an empty, unused hidden file (or directory) next to ``target``; return its path.

    The name is ``.{stem}.{random}.{tag}{suffix}``: hidden, never mistaken
    for a finished output, and ending in the target's suffix, so that
    writers choosing the format by suffix (Pillow, tifffile, zarr) write the
    right one. It lies in the target's directory, so the final
    :func:`os.replace` is a rename within one file system. OSError (a missing
    or read-only directory) propagates.

    >>> import tempfile, pathlib
    >>> tmp = reserve_beside(pathlib.Path(tempfile.mkdtemp()) / "mask.tif", tag="partial")
    >>> tmp.name.startswith(".mask.") and tmp.name.endswith(".partial.tif"), tmp.exists()
    (True, True)
    """
    target = Path(target)
    while True:
        tmp = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.{tag}{target.suffix}")
        try:
            if directory:
                tmp.mkdir()
            else:
                # Mode 0o666 lets the umask set the permissions, as for a plain
                # open(); tempfile.mkstemp would leave the file readable by its owner only.
                os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return tmp


def discard(path: str | os.PathLike) -> None:
    """Remove a temporary file or directory if it is there."""
    path = Path(path)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    Readers see either the old file or the complete new one, never a
    partial write. When the block raises, the temporary file is removed and
    ``path`` is untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    target = Path(path)
    tmp = reserve_beside(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        discard(tmp)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_path`.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
    >>> write_bytes_atomic(target, b"ok"); target.read_bytes()
    b'ok'
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
