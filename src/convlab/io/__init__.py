"""Files in and out: network weights and images, written atomically.

Weights: :func:`load_weights` and :func:`save_weights` for ``.safetensors``,
``.npz`` and PyTorch ``.pt``/``.pth`` (read through ``weights_only=True``
only). Images: :func:`read_image` and :func:`write_image` for PNG and TIFF
(Pillow and tifffile, the ``io`` extra, imported when used). Every writer
writes a temporary file and renames it, so no partial file is ever left.
"""

from ._atomic import atomic_path, discard, reserve_beside, write_bytes_atomic
from ._images import IMAGE_SUFFIXES, ImageFileError, read_image, write_image
from ._weights import WeightsFileError, WeightsNote, load_weights, save_weights, strip_wrapper_prefixes

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageFileError",
    "WeightsFileError",
    "WeightsNote",
    "atomic_path",
    "discard",
    "load_weights",
    "read_image",
    "reserve_beside",
    "save_weights",
    "strip_wrapper_prefixes",
    "write_bytes_atomic",
    "write_image",
]
