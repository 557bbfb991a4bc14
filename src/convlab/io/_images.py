"""PNG and TIFF images in and out, as channels-first arrays."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .._args import ConvlabError
from .._extras import require
from .._limits import check_memory
from ._atomic import atomic_path

__all__ = ["IMAGE_SUFFIXES", "ImageFileError", "read_image", "write_image"]

_PNG = (".png",)
_TIFF = (".tif", ".tiff")
IMAGE_SUFFIXES = _PNG + _TIFF
# Pillow's 16-bit grey modes: PNG stores at most 16 bits per sample, so these
# are unsigned 16-bit data whatever integer type Pillow hands out.
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I")


class ImageFileError(ConvlabError):
    """An image file that cannot be read or written; the message names the path."""


def _kind(path: Path, verb: str) -> str:
    suffix = path.suffix.lower()
    if suffix in _PNG:
        return "png"
    if suffix in _TIFF:
        return "tiff"
    raise ImageFileError(
        f"cannot {verb} image {str(path)!r}: the extension {path.suffix or '(none)'!r} is not one of "
        f"{', '.join(IMAGE_SUFFIXES)}"
    )


def read_image(path: str | os.PathLike, /) -> np.ndarray:
    """An image as a channels-first array ``(C, *spatial)`` in its stored dtype.

    PNG through Pillow: grey gives ``(1, H, W)``, RGB ``(3, H, W)``, RGBA
    ``(4, H, W)``, palette images are expanded to RGB(A). TIFF through
    tifffile: the first series, its ``C``/``S`` (sample) axis first and
    other axes of length one dropped; ``ZYX`` stacks give ``(1, D, H, W)``.

    Raises
    ------
    ImageFileError
        Unknown extension, missing or undecodable file, axes other than
        channels and space (time series, several pages of different sizes);
        the message names the path.
    """
    path = Path(path)
    kind = _kind(path, "read")
    if not path.is_file():
        raise ImageFileError(f"image {str(path)!r} does not exist or is not a file")
    # Imported before the decoder's try: a missing package is not a damaged file.
    codec = _codec(kind, f"reading {path}")
    try:
        return _read_png(path, codec) if kind == "png" else _read_tiff(path, codec)
    except ConvlabError as err:
        raise ImageFileError(f"cannot read image {str(path)!r}: {err}") from None
    except Exception as err:  # decoders report damage in many exception types
        raise ImageFileError(f"cannot read image {str(path)!r}: {type(err).__name__}: {err}") from None


def _codec(kind: str, what: str):
    """Pillow's ``Image`` module for PNG, ``tifffile`` for TIFF (both in the ``io`` extra)."""
    return require("PIL.Image", "io", what) if kind == "png" else require("tifffile", "io", what)


def _read_png(path: Path, Image) -> np.ndarray:
    with Image.open(path) as image:
        if image.format != "PNG":
            raise ConvlabError(f"the file is a {image.format} image, not a PNG")
        bands = 4 if image.mode == "P" else len(image.getbands())
        _check_decoded(image.size[0] * image.size[1] * bands * (2 if image.mode in _SIXTEEN_BIT else 1))
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
        data = np.asarray(image)
    if mode in _SIXTEEN_BIT:
        data = data.astype(np.uint16)
    return data[np.newaxis] if data.ndim == 2 else np.moveaxis(data, -1, 0)


def _check_decoded(nbytes: int) -> None:
    # Checked from the header, before the decoder allocates: a 140 KB PNG may
    # declare 12000x12000 pixels.
    check_memory(nbytes, "decoding the whole image (read it in tiles: convlab segment --tile)")


def _read_tiff(path: Path, tifffile) -> np.ndarray:
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        _check_decoded(math.prod(series.shape) * series.dtype.itemsize)
        data, axes = series.asarray(), series.axes
    keep = [i for i, a in enumerate(axes) if a in "CSYX" or data.shape[i] > 1]
    data = data.reshape([data.shape[i] for i in keep])
    axes = "".join(axes[i] for i in keep)
    if set(axes) - set("CSZYX") or "Y" not in axes or "X" not in axes:
        raise ConvlabError(f"the image has axes {axes!r}; expected Y and X, optionally Z and C or S")
    channels = [i for i, a in enumerate(axes) if a in "CS"]
    if len(channels) > 1:
        raise ConvlabError(f"the image has axes {axes!r} with more than one channel axis")
    order = channels + [i for i, a in enumerate(axes) if a in "ZYX"]
    data = np.transpose(data, order)
    return data if channels else data[np.newaxis]


def write_image(array: np.ndarray, path: str | os.PathLike, /) -> None:
    """Write a ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` image as PNG or TIFF by extension.

    PNG takes uint8 (or grey uint16); TIFF any NumPy dtype. The file is
    written under a temporary name and renamed into place.

    Raises
    ------
    ImageFileError
        Unknown extension, a shape or dtype the format cannot hold, or a
        directory that cannot be written; the message names the path.
    """
    path = Path(path)
    kind = _kind(path, "write")
    array = np.asarray(array)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageFileError(
            f"cannot write image {str(path)!r}: the array must be (H, W), (H, W, 3) or (H, W, 4), "
            f"got shape {array.shape}"
        )
    if kind == "png" and not (array.dtype == np.uint8 or (array.dtype == np.uint16 and array.ndim == 2)):
        raise ImageFileError(
            f"cannot write image {str(path)!r}: PNG takes uint8 (or grey uint16), got {array.dtype}"
        )
    codec = _codec(kind, f"writing {path}")
    try:
        with atomic_path(path) as tmp:
            if kind == "png":
                codec.fromarray(array).save(tmp, format="PNG")
            else:
                codec.imwrite(tmp, array, photometric="rgb" if array.ndim == 3 else "minisblack")
    except OSError as err:
        raise ImageFileError(f"cannot write image {str(path)!r}: {err.strerror or err}") from None
