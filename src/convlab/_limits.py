"""The resource policy: how much memory one request may ask for, in one place.

Every function that would allocate memory in proportion to a number the user
(or a file) supplies checks the bytes first with :func:`check_memory` and
refuses with a :class:`ResourceError` that names what asked, the bound and how
to raise it. Files are also bounded relative to their own size
(:func:`check_expansion`): a 2 MB file that unpacks to 2 GB is a bomb, not a
checkpoint.

The limits are :class:`contextvars.ContextVar` values, so ``with
memory_limit(...)`` in one thread (a Dask worker) leaves the others alone. The
default memory limit is half the machine's physical memory, or the
environment variable ``CONVLAB_MEMORY_LIMIT`` (bytes, or with a ``K``, ``M``,
``G`` or ``T`` suffix, powers of 1024).

Pure Python: importing this module needs no NumPy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ._args import ConvlabError, as_int

__all__ = [
    "ResourceError",
    "check_expansion",
    "check_memory",
    "expansion_limit",
    "format_bytes",
    "get_expansion_limit",
    "get_memory_limit",
    "memory_limit",
]

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_MEMORY: ContextVar[int | None] = ContextVar("convlab_memory_limit", default=None)
# A weights file may materialise this many times its own size, plus a floor
# for tiny files: numbers stored uncompressed never exceed 1x, tied weights
# 2x, np.savez_compressed of real weights about 1.1x.
_EXPANSION: ContextVar[int] = ContextVar("convlab_expansion_limit", default=16)
_EXPANSION_FLOOR = 16 << 20


class ResourceError(ConvlabError):
    """A request for more memory than the resource policy allows."""


def format_bytes(n: int) -> str:
    """``1536`` → ``'1.5 KiB'``: sizes in error messages."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _parse(text: str) -> int:
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = text[-1:] if text[-1:] in _UNITS else ""
    try:
        value = float(text[: len(text) - len(unit)]) * _UNITS[unit]
    except ValueError:
        raise ConvlabError(
            f"CONVLAB_MEMORY_LIMIT must be a byte count like 8G or 500M, got {text!r}"
        ) from None
    if not 0 < value < 1 << 62:
        raise ConvlabError(f"CONVLAB_MEMORY_LIMIT must be positive, got {text!r}")
    return int(value)


def _physical_half() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def get_memory_limit() -> int:
    """The bytes one request may allocate in the current context."""
    limit = _MEMORY.get()
    if limit is not None:
        return limit
    env = os.environ.get("CONVLAB_MEMORY_LIMIT")
    return _parse(env) if env else _physical_half()


@contextmanager
def memory_limit(nbytes: int | None) -> Iterator[None]:
    """Run a block with another memory limit (``None``: back to the default).

    >>> import convlab
    >>> with convlab.memory_limit(1 << 20):
    ...     convlab.get_memory_limit()
    1048576
    """
    if nbytes is not None:
        nbytes = as_int(nbytes, "memory_limit", minimum=1)
    token = _MEMORY.set(nbytes)
    try:
        yield
    finally:
        _MEMORY.reset(token)


def get_expansion_limit() -> int:
    """How many times its own size a file may unpack to in the current context."""
    return _EXPANSION.get()


@contextmanager
def expansion_limit(ratio: int) -> Iterator[None]:
    """Run a block with another file expansion bound (default 16)."""
    token = _EXPANSION.set(as_int(ratio, "expansion_limit", minimum=1))
    try:
        yield
    finally:
        _EXPANSION.reset(token)


def check_memory(nbytes: int, what: str) -> None:
    """Refuse ``what`` if it would take more than the memory limit.

    ``what`` names the request in the user's terms, e.g. ``"conv2d's padded
    input (padding=1048576)"``.
    """
    limit = get_memory_limit()
    if nbytes > limit:
        raise ResourceError(
            f"{what} would take {format_bytes(nbytes)}, more than convlab's memory limit of "
            f"{format_bytes(limit)}; raise it with `with convlab.memory_limit(nbytes):` or the "
            f"CONVLAB_MEMORY_LIMIT environment variable"
        )


def check_expansion(nbytes: int, file_bytes: int, what: str) -> None:
    """Refuse a file whose contents would unpack to ``nbytes`` from ``file_bytes``."""
    ratio = get_expansion_limit()
    if nbytes > ratio * file_bytes + _EXPANSION_FLOOR:
        raise ResourceError(
            f"{what} would unpack to {format_bytes(nbytes)} from a {format_bytes(file_bytes)} file, "
            f"more than {ratio}x its size (a compression bomb or broadcast tensors?); if the file is "
            f"trusted, raise the bound with `with convlab.expansion_limit(ratio):`"
        )
    check_memory(nbytes, what)
