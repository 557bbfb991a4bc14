"""Outputs written tile by tile: arrays, and .npy, TIFF and zarr files under a temporary name.

A file output is written to a hidden temporary name next to the target
(:func:`convlab.io.reserve_beside`, the temporary files of every convlab
writer) and renamed onto it by :meth:`Sink.commit`, after the last tile: a run that
fails or is interrupted never leaves a file that looks finished.
:meth:`Sink.abort` removes the temporary file (a killed process leaves it
behind, under a name that does not look like the output).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np

from .._args import ConvlabError, describe
from .._extras import require
from ..io import discard, file_size_limit_as_error, reserve_beside, reserve_space

__all__ = ["ArraySink", "DeferredSink", "MappedFileSink", "Sink", "ZarrSink", "check_out", "open_sink"]

_SUFFIXES = (".npy", ".tif", ".tiff", ".zarr")


class Sink:
    """Where the kept cores of the tiles go; ``dest`` are spatial slices."""

    def write(self, dest: tuple[slice, ...], block: np.ndarray) -> None:
        raise NotImplementedError

    def commit(self):
        """Finish the output; returns the array or the final path."""
        raise NotImplementedError

    def abort(self) -> None:
        """Drop a partial output (nothing for arrays the caller owns)."""


class ArraySink(Sink):
    """An array the caller gave (or a new in-memory one); written in place, no rename."""

    def __init__(self, array):
        self.array = array

    def write(self, dest, block):
        self.array[(Ellipsis, *dest)] = block

    def commit(self):
        if isinstance(self.array, np.memmap):
            self.array.flush()
        return self.array


def _temporary(target: Path, directory: bool = False) -> Path:
    """An unused hidden name next to ``target``, created (empty) so that the output is known writable."""
    if not target.parent.is_dir():
        raise ConvlabError(
            f"out {os.fspath(target)!r}: the directory {os.fspath(target.parent)!r} does not exist"
        )
    try:
        return reserve_beside(target, directory=directory, tag="partial")
    except OSError as err:
        raise ConvlabError(f"out {os.fspath(target)!r} cannot be written: {err.strerror}") from None


class MappedFileSink(Sink):
    """A .npy or uncompressed TIFF file, its header written first, its data through short-lived maps.

    Each write maps the file, fills the tile's pixels and unmaps: dirty pages
    then belong to the page cache, not to this process's resident memory.
    """

    def __init__(self, target: Path, shape: tuple[int, ...], dtype: np.dtype):
        self.target, self.shape, self.dtype = target, shape, np.dtype(dtype)
        self.tmp = _temporary(target)
        try:
            with file_size_limit_as_error():
                self.offset = self._create()
            # Every block of the file now, so that a full disk is this clean
            # error and not a SIGBUS through the map in the middle of the run.
            size = max(os.path.getsize(self.tmp), self.offset + self.dtype.itemsize * math.prod(shape))
            reserve_space(self.tmp, size, f"out {os.fspath(target)!r}")
        except OSError as err:
            self.abort()
            raise ConvlabError(
                f"out {os.fspath(target)!r} cannot be written: {err.strerror or err}"
            ) from None
        except BaseException:
            self.abort()
            raise

    def _create(self) -> int:
        if self.target.suffix.lower() == ".npy":
            mapped = np.lib.format.open_memmap(self.tmp, "w+", self.dtype, self.shape)
        else:
            tifffile = _writer(".tif", f"writing {os.fspath(self.target)}")
            big = self.dtype.itemsize * int(np.prod(self.shape)) > 2**32 - 2**25
            mapped = tifffile.memmap(
                self.tmp, shape=self.shape, dtype=self.dtype, photometric="minisblack", bigtiff=big
            )
        offset = mapped.offset
        mapped._mmap.close()  # type: ignore[attr-defined]
        return offset

    def write(self, dest, block):
        mapped = np.memmap(self.tmp, self.dtype, "r+", self.offset, self.shape)
        try:
            # No msync per tile: unmapping leaves the dirty pages to the page
            # cache, and commit syncs the file once.
            mapped[(Ellipsis, *dest)] = block
        finally:
            mapped._mmap.close()  # type: ignore[attr-defined]

    def commit(self):
        fd = os.open(self.tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.tmp, self.target)
        return self.target

    def abort(self):
        discard(self.tmp)


class ZarrSink(Sink):
    """A zarr directory store, chunked like the tiles, written under a temporary name."""

    def __init__(self, target: Path, shape: tuple[int, ...], dtype: np.dtype, chunks: tuple[int, ...]):
        zarr = _writer(".zarr", f"writing {os.fspath(target)}")
        if target.exists() and not _is_zarr(target):
            raise ConvlabError(f"out {os.fspath(target)!r} exists and is not a zarr store; not replacing it")
        self.target, self.tmp = target, _temporary(target, directory=True)
        try:
            self.array = zarr.open_array(self.tmp, mode="w", shape=shape, dtype=dtype, chunks=chunks)
        except BaseException:
            self.abort()
            raise

    def write(self, dest, block):
        self.array[(Ellipsis, *dest)] = block

    def commit(self):
        if self.target.exists():
            shutil.rmtree(self.target)
        os.replace(self.tmp, self.target)
        return self.target

    def abort(self):
        discard(self.tmp)


def _is_zarr(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in ("zarr.json", ".zarray", ".zgroup"))


def check_out(out) -> None:
    """Refuse, before any work, an output path that can never be written (suffix, directory)."""
    if not isinstance(out, (str, os.PathLike)):
        if out is not None and not (hasattr(out, "shape") and hasattr(out, "__setitem__")):
            raise TypeError(f"out must be None, a path or an array, got {type(out).__name__} {describe(out)}")
        return
    target = Path(out)
    suffix = target.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ConvlabError(f"out must end in {', '.join(_SUFFIXES)}, got out={os.fspath(out)!r}")
    if target.is_dir() and suffix != ".zarr":
        raise ConvlabError(f"out {os.fspath(out)!r} is a directory")
    if not target.parent.is_dir():
        raise ConvlabError(
            f"out {os.fspath(target)!r}: the directory {os.fspath(target.parent)!r} does not exist"
        )
    _writer(suffix, f"writing {os.fspath(target)}")


def _writer(suffix: str, what: str):
    """tifffile for TIFF (the ``io`` extra), zarr for .zarr (the ``zarr`` extra), None for .npy."""
    if suffix in (".tif", ".tiff"):
        return require("tifffile", "io", what)
    return require("zarr", "zarr", what) if suffix == ".zarr" else None


class DeferredSink(Sink):
    """A sink opened at the first block, when the model's output channels are known.

    A model's size contract says nothing of its channels: the first tile
    does. ``labels`` outputs are ``image``-shaped with the blocks' dtype;
    logits ``(channels, *image)`` in ``dtype``, chunked like the cores.
    """

    def __init__(self, out, image: tuple[int, ...], core: tuple[int, ...], dtype: np.dtype, labels: bool):
        check_out(out)
        self.out, self.image, self.core, self.dtype, self.labels = out, image, core, dtype, labels
        self.sink: Sink | None = None
        self._fresh = True
        if labels:
            # Labels are uint8 and image-shaped: the file (and its disk space)
            # can be had before the first tile is computed.
            self.sink = open_sink(out, image, np.dtype(np.uint8), core)

    def write(self, dest, block):
        if self.labels and self.sink is not None and block.dtype != np.uint8 and self._fresh:
            # More than 256 classes: int32 labels; nothing was written yet.
            self.sink.abort()
            self.sink = None
        self._fresh = False
        if self.sink is None:
            if self.labels:
                spec = (self.image, block.dtype, self.core)
            else:
                channels = block.shape[0]
                spec = ((channels, *self.image), self.dtype, (channels, *self.core))
            self.sink = open_sink(self.out, *spec)
        self.sink.write(dest, block)

    def commit(self):
        return self.sink.commit()

    def abort(self):
        if self.sink is not None:
            self.sink.abort()


def open_sink(out, shape: tuple[int, ...], dtype: np.dtype, chunks: tuple[int, ...]) -> Sink:
    """A :class:`Sink` for ``out``: None (a new array), an array to fill, or a .npy/.tif/.zarr path."""
    if out is None:
        return ArraySink(np.empty(shape, dtype))
    if isinstance(out, (str, os.PathLike)):
        target = Path(out)
        suffix = target.suffix.lower()
        if suffix not in _SUFFIXES:
            raise ConvlabError(f"out must end in {', '.join(_SUFFIXES)}, got out={os.fspath(out)!r}")
        if target.is_dir() and suffix != ".zarr":
            raise ConvlabError(f"out {os.fspath(out)!r} is a directory")
        if suffix == ".zarr":
            return ZarrSink(target, shape, dtype, chunks)
        return MappedFileSink(target, shape, dtype)
    if not (hasattr(out, "shape") and hasattr(out, "__setitem__")):
        raise TypeError(f"out must be None, a path or an array, got {type(out).__name__} {describe(out)}")
    if tuple(out.shape) != tuple(shape):
        raise ConvlabError(f"out must have shape {tuple(shape)}, got shape {tuple(out.shape)}")
    return ArraySink(out)
