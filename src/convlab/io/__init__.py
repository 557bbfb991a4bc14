"""Files in and out: network weights and images, written atomically.

Weights: :func:`load_weights` and :func:`save_weights` for ``.safetensors``,
``.npz`` and PyTorch ``.pt``/``.pth`` (read through ``weights_only=True``
only). Images: :func:`read_image` and :func:`write_image` for PNG and TIFF
(Pillow and tifffile, the ``io`` extra, imported when used). Every writer
writes a temporary file and renames it, so no partial file is ever left.
"""

from ._atomic import (
    atomic_group,
    atomic_path,
    discard,
    file_size_limit_as_error,
    removed_on_signals,
    reserve_beside,
    reserve_space,
    write_bytes_atomic,
)
from ._images import IMAGE_SUFFIXES, ImageFileError, read_image, write_image
from ._weights import WeightsFileError, WeightsNote, load_weights, save_weights, strip_wrapper_prefixes

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageFileError",
    "WeightsFileError",
    "WeightsNote",
    "atomic_group",
    "atomic_path",
    "discard",
    "file_size_limit_as_error",
    "load_weights",
    "read_image",
    "removed_on_signals",
    "reserve_beside",
    "reserve_space",
    "save_weights",
    "strip_wrapper_prefixes",
    "write_bytes_atomic",
    "write_image",
]
