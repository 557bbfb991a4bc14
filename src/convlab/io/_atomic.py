"""Write a file under a temporary name in its directory, then rename it into place."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    The temporary file lies in the same directory, so the final
    :func:`os.replace` is a rename within one file system: readers see either
    the old file or the complete new one, never a partial write. When the
    block raises, the temporary file is removed and ``path`` is untouched.

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
    tmp = _reserve(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _reserve(target: Path) -> Path:
    """Create an empty, unused temporary file next to ``target``."""
    while True:
        # A hidden name ending in the target's suffix: writers that choose the
        # format by suffix (Pillow, tifffile) write the right one. os.open with
        # mode 0o666 lets the umask set the permissions, as for a plain open();
        # tempfile.mkstemp would leave the result readable by its owner only.
        tmp = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.tmp{target.suffix}")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return tmp
