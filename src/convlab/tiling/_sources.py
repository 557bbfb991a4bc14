"""Images read window by window: arrays, memory maps, .npy, TIFF and zarr.

A source reads the box ``((start, stop), ...)`` of its spatial dimensions,
all channels, and mirrors the pixels that lie outside the image (reflect
padding, the edge pixel not repeated: the overlap-tile strategy of the U-Net
paper). Only the bounding box of the mirrored indices is read, never more
than the window's size per dimension.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .._args import ConvlabError
from .._extras import require
from .._limits import check_memory
from ._tiff_segments import read_page_box

__all__ = ["ArraySource", "MappedSource", "Source", "open_source", "reflect_indices"]


def reflect_indices(start: int, stop: int, n: int) -> np.ndarray:
    """The source indices of ``start..stop-1`` for an axis of ``n`` pixels, mirrored outside.

    Period ``2 (n - 1)``: the same rule as ``numpy.pad(mode='reflect')`` for
    any pad width, so windows far outside a small image are still defined.

    >>> reflect_indices(-3, 7, 5).tolist()
    [3, 2, 1, 0, 1, 2, 3, 4, 3, 2]
    """
    index = np.arange(start, stop)
    if n == 1:
        return np.zeros_like(index)
    period = 2 * (n - 1)
    index %= period
    return np.where(index >= n, period - index, index)


class Source:
    """An image of shape ``(C, *spatial)``, read one window at a time.

    Subclasses implement :meth:`read_box`, a plain in-bounds read. Sources
    that read from a file by name are ``remote``: a Dask worker can open them
    itself; the others are read by the client and the window shipped.
    """

    remote = False

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, channels_first: bool):
        # A source without a channel axis gets one here, so the rest of the
        # code sees (C, *spatial) always.
        self.shape = shape if channels_first else (1, *shape)
        self.dtype = np.dtype(dtype)
        self._channels_first = channels_first

    def read_box(self, box: tuple[slice, ...]) -> np.ndarray:
        """The in-bounds ``box`` (spatial slices), shape ``(C, *box)``."""
        raise NotImplementedError

    def read(self, window: tuple[tuple[int, int], ...]) -> np.ndarray:
        """The window (spatial ``(start, stop)`` pairs, may reach outside), mirrored at the edges."""
        index = [reflect_indices(a, b, n) for (a, b), n in zip(window, self.shape[1:])]
        box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in index)
        block = self.read_box(box)
        for axis, (i, s) in enumerate(zip(index, box), start=1):
            if len(i) != s.stop - s.start or i[0] != s.start:
                block = np.take(block, i - s.start, axis=axis)
        return block

    def _lift(self, block: np.ndarray) -> np.ndarray:
        return block if self._channels_first else block[np.newaxis]

    def _box(self, box: tuple[slice, ...]) -> tuple[slice, ...]:
        return box if not self._channels_first else (slice(None), *box)


class ArraySource(Source):
    """Any array with ``shape``, ``dtype`` and slicing: ndarray, zarr, h5py."""

    def __init__(self, array, channels_first: bool):
        super().__init__(tuple(array.shape), array.dtype, channels_first)
        self._array = array

    def read_box(self, box):
        return self._lift(np.asarray(self._array[self._box(box)]))


class MappedSource(Source):
    """A raw array in a file (.npy, uncompressed TIFF), mapped anew for each read.

    A mapping kept open would add every page read so far to the process's
    resident memory (file pages stay mapped until unmapped, and count in
    RSS); mapping per window keeps the peak to a window's pages, the page
    cache holding the rest where the kernel sees fit.
    """

    remote = True

    def __init__(self, filename, offset: int, shape, dtype, order: str, channels_first: bool):
        super().__init__(tuple(shape), dtype, channels_first)
        self.filename, self.offset, self.order = os.fspath(filename), int(offset), order
        self._file_shape = tuple(shape)

    def read_box(self, box):
        mapped = np.memmap(self.filename, self.dtype, "r", self.offset, self._file_shape, self.order)
        try:
            return self._lift(np.array(mapped[self._box(box)]))
        finally:
            mapped._mmap.close()  # type: ignore[attr-defined]
            del mapped


class TiffSource(Source):
    """A compressed or tiled TIFF: only the strips or tiles a window touches are decoded.

    Through tifffile's zarr store when zarr is installed; without it,
    through tifffile's segment access (:func:`read_page_box`) for one-page
    images, and otherwise the whole series per window, refused by the
    memory limit when it does not fit.
    """

    remote = True

    def __init__(self, path: str, series, channels_first: bool):
        super().__init__(tuple(series.shape), series.dtype, channels_first)
        self.path = path
        self._store = None

    def __getstate__(self):
        return {**self.__dict__, "_store": None}

    def read_box(self, box):
        # Required again here: a Dask worker may run in another environment.
        tifffile = require("tifffile", "io", f"reading {self.path}")
        try:
            import zarr
        except ImportError:
            block = read_page_box(self.path, self._box(box))
            if block is not None:
                return self._lift(block)
            # A layout the segment reader does not cover: the whole series, bounded.
            check_memory(
                math.prod(self.shape) * self.dtype.itemsize,
                f"decoding the whole TIFF {self.path!r} for one window "
                "(pip install 'convlab[zarr]' reads it by strips)",
            )
            return self._lift(np.asarray(tifffile.imread(self.path)[self._box(box)]))
        if self._store is None:
            self._store = zarr.open(tifffile.imread(self.path, aszarr=True), mode="r")
        return self._lift(np.asarray(self._store[self._box(box)]))


def _from_memmap(array: np.memmap, channels_first: bool) -> Source:
    import mmap

    if isinstance(array.base, mmap.mmap) and array.filename and array.flags.forc:
        order = "C" if array.flags.c_contiguous else "F"
        return MappedSource(array.filename, array.offset, array.shape, array.dtype, order, channels_first)
    return ArraySource(array, channels_first)


def _open_path(path: Path, ndim: int) -> Source:
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".tif", ".tiff", ".zarr"):
        raise ConvlabError(
            f"image must be a .npy, .tif, .tiff or .zarr path or an array, got {os.fspath(path)!r}"
        )
    if not path.exists():
        raise ConvlabError(f"image {os.fspath(path)!r} does not exist")
    # Before the reader's try: a missing package is not an unreadable file.
    reader = _reader(suffix, f"reading {os.fspath(path)}")
    try:
        if suffix == ".npy":
            array = np.load(path, mmap_mode="r")
            return _from_memmap(array, _channels_first(array.shape, ndim))
        if suffix in (".tif", ".tiff"):
            return _open_tiff(path, ndim, reader)
        if suffix == ".zarr":
            array = reader.open_array(path, mode="r")
            return ArraySource(array, _channels_first(array.shape, ndim))
    except (OSError, ValueError, KeyError) as err:
        raise ConvlabError(f"image {os.fspath(path)!r} cannot be read: {err}") from None
    raise ConvlabError(
        f"image must be a .npy, .tif, .tiff or .zarr path or an array, got {os.fspath(path)!r}"
    )


def _reader(suffix: str, what: str):
    """tifffile for TIFF (the ``io`` extra), zarr for .zarr (the ``zarr`` extra), None for .npy."""
    if suffix in (".tif", ".tiff"):
        return require("tifffile", "io", what)
    return require("zarr", "zarr", what) if suffix == ".zarr" else None


def _open_tiff(path: Path, ndim: int, tifffile) -> Source:
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        first = _channels_first(series.shape, ndim)
    try:
        mapped = tifffile.memmap(path, mode="r")
    except ValueError:
        # Compressed, tiled or scattered pages: no single raw block to map.
        return TiffSource(os.fspath(path), series, first)
    return _from_memmap(mapped, first)


def _channels_first(shape: tuple[int, ...], ndim: int) -> bool:
    # (C, *spatial) has one axis more than the model's spatial rank; an image
    # without it is one channel.
    return len(shape) == ndim + 1


def open_source(image, channels: int | None, ndim: int) -> Source:
    """A :class:`Source` for ``image``: an array, np.memmap, zarr array or a .npy/.tif/.zarr path.

    ``image`` is ``(C, *spatial)`` or, for one channel, ``(*spatial)``; the
    channel count must be ``channels`` (any, if None) and the spatial rank ``ndim``.

    Notes
    -----
    Memory: a window's bytes for memory maps, .npy and uncompressed TIFF;
    the strips or tiles a window touches for compressed TIFF (with zarr
    installed, else the whole image per window) and for zarr arrays.
    """
    if isinstance(image, (str, os.PathLike)):
        source = _open_path(Path(image), ndim)
    elif isinstance(image, np.memmap):
        source = _from_memmap(image, _channels_first(image.shape, ndim))
    elif hasattr(image, "shape") and hasattr(image, "dtype") and hasattr(image, "__getitem__"):
        source = ArraySource(image, _channels_first(tuple(image.shape), ndim))
    else:
        source = ArraySource(np.asarray(image), _channels_first(np.shape(image), ndim))
    _check_shape(source, channels, ndim)
    return source


def _check_shape(source: Source, channels: int | None, ndim: int) -> None:
    spatial = ("L", "H, W", "D, H, W")[ndim - 1]
    expected = f"({channels or 'C'}, {spatial})" + (f" or ({spatial})" if channels in (1, None) else "")
    if len(source.shape) != ndim + 1 or source.shape[0] != (channels or source.shape[0]):
        shape = source.shape if source._channels_first else source.shape[1:]
        takes = channels or "any number of"
        raise ConvlabError(
            f"image must have shape {expected}, channels first (the model takes {takes} "
            f"channel(s)), got shape {tuple(shape)}"
        )
    if not np.issubdtype(source.dtype, np.number) or np.issubdtype(source.dtype, np.complexfloating):
        raise ConvlabError(f"image must hold real numbers, got dtype {source.dtype}")
