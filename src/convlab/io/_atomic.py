"""Write a file under a temporary name in its directory, then rename it into place.

The one implementation behind every writer of convlab: weights and images
(:func:`atomic_path`), pictures (:func:`write_bytes_atomic`), and the
outputs of tiled inference, which are filled tile by tile and renamed
after the last (:func:`reserve_beside`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

from .._args import ConvlabError

__all__ = [
    "atomic_group",
    "atomic_path",
    "discard",
    "file_size_limit_as_error",
    "removed_on_signals",
    "reserve_beside",
    "reserve_space",
    "write_bytes_atomic",
]

# The renames an atomic_group defers until all its files are written.
_GROUP: ContextVar[list | None] = ContextVar("convlab_atomic_group", default=None)


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
    group = _GROUP.get()
    try:
        yield tmp
        if group is None:
            os.replace(tmp, target)
        else:
            group.append((tmp, target))
    except BaseException:
        discard(tmp)
        raise


@contextlib.contextmanager
def atomic_group() -> Iterator[None]:
    """Rename every :func:`atomic_path` file of the block only when all of them are written.

    Both or neither: a failure anywhere in the block removes every
    temporary file and leaves the previous outputs as they were. The renames
    themselves run back to back at the end (each atomic; they are in the
    targets' own directories, so they fail only if a directory vanishes).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_group():
    ...     write_bytes_atomic(d / "a", b"1"); write_bytes_atomic(d / "b", b"2")
    >>> sorted(p.name for p in d.iterdir())
    ['a', 'b']
    """
    done: list = []
    token = _GROUP.set(done)
    try:
        yield
    except BaseException:
        for tmp, _ in done:
            discard(tmp)
        raise
    finally:
        _GROUP.reset(token)
    for tmp, target in done:
        os.replace(tmp, target)


@contextlib.contextmanager
def file_size_limit_as_error() -> Iterator[None]:
    """Within the block, writing past RLIMIT_FSIZE raises OSError(EFBIG) instead of killing the process."""
    # Past RLIMIT_FSIZE the kernel sends SIGXFSZ, whose default action kills
    # the process; ignored, the write fails with EFBIG, which we can report.
    if not hasattr(signal, "SIGXFSZ") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGXFSZ, previous)


def reserve_space(path: str | os.PathLike, nbytes: int, what: str) -> None:
    """Allocate ``nbytes`` of ``path`` on disk now, so that a full disk fails here, not mid-write.

    ``os.posix_fallocate`` where the file system supports it; elsewhere the
    last byte is written and the size checked (the blocks may then still be
    sparse). A full disk, a quota or a file-size limit raise
    :class:`~convlab.ConvlabError` naming ``what`` and the size.
    """
    fd = os.open(path, os.O_RDWR)
    try:
        with file_size_limit_as_error():
            try:
                os.posix_fallocate(fd, 0, nbytes)
            except AttributeError:
                _write_last_byte(fd, nbytes)
            except OSError as err:
                if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise _no_space(err, nbytes, what) from None
                _write_last_byte(fd, nbytes)
    except OSError as err:
        raise _no_space(err, nbytes, what) from None
    finally:
        os.close(fd)


def _write_last_byte(fd: int, nbytes: int) -> None:
    if os.fstat(fd).st_size < nbytes:
        os.pwrite(fd, b"\0", nbytes - 1)
    if os.fstat(fd).st_size < nbytes:
        raise OSError(errno.ENOSPC, "the file could not be extended")


def _no_space(err: OSError, nbytes: int, what: str) -> ConvlabError:
    from .._limits import format_bytes

    return ConvlabError(
        f"{what}: cannot reserve {format_bytes(nbytes)} on disk ({err.strerror or err}); "
        f"free space or choose another directory"
    )


class _Terminated(SystemExit):
    """SIGTERM turned into an exception, so that ``finally``/``except`` blocks clean up."""


@contextlib.contextmanager
def removed_on_signals() -> Iterator[None]:
    """Let SIGTERM (and SIGINT) unwind the block as exceptions, so its temporary files are removed.

    SIGINT already raises KeyboardInterrupt; SIGTERM's default kills the
    process without unwinding. The handler is installed only for the block
    and only in the main thread (signals cannot be handled elsewhere), and
    the previous one is restored after. SIGKILL cannot be caught: a killed
    run leaves a hidden ``.name.*.partial`` file, never a finished-looking one.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise _Terminated(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_path`.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
    >>> write_bytes_atomic(target, b"ok"); target.read_bytes()
    b'ok'
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
