"""Image transforms of torchvision that a U-Net pipeline needs: the center crop."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._args import ConvlabError, as_int, describe, is_sequence
from .functional._pad import pad
from .shapes import center_crop_box

__all__ = ["center_crop"]


def center_crop(img: np.ndarray, output_size: int | Sequence[int]) -> np.ndarray:
    """Crop the center of the trailing dimensions, as ``torchvision.transforms.functional.center_crop``.

    Parameters
    ----------
    img : array_like, shape ``(*, H, W)`` (or ``(*, L)``, ``(*, D, H, W)``)
        Any dtype; it is kept (a crop is not arithmetic).
    output_size : int or sequence of 1 to 3 ints
        An int crops the last two dimensions to a square, as torchvision; a
        sequence crops the last ``len(output_size)`` dimensions.

    Returns
    -------
    numpy.ndarray, shape ``(*, *output_size)``
        A view of ``img`` when the crop fits inside it, a new array when it
        needed padding.

    Notes
    -----
    torchvision's rule, computed by :func:`convlab.shapes.center_crop_box`:
    where the crop is larger than the image, zero padding
    ``(diff // 2, (diff + 1) // 2)`` comes first (the odd pixel at the end,
    bottom, right); then the crop starts at ``int(round((size - out) / 2))``,
    Python's round-half-even. One deliberate difference: torchvision reads a
    one-element ``output_size`` as a square over the last two dimensions;
    here it crops the last dimension only, so that 1-d signals can be cropped.

    Examples
    --------
    >>> x = np.arange(25).reshape(5, 5)
    >>> center_crop(x, 2)  # round((5 - 2) / 2) = round(1.5) = 2
    array([[12, 13],
           [17, 18]])
    >>> center_crop(np.ones((1, 2, 2), dtype=np.uint8), (3, 4))[0]
    array([[0, 1, 1, 0],
           [0, 1, 1, 0],
           [0, 0, 0, 0]], dtype=uint8)
    """
    try:
        array = np.asarray(img)
    except (ValueError, TypeError) as err:
        raise TypeError(f"img must be a numeric array, got {type(img).__name__}: {err}") from None
    if array.dtype.kind not in "biufc":
        raise TypeError(f"img must be a numeric array, got dtype {array.dtype}")
    if is_sequence(output_size):
        crop = tuple(as_int(v, "output_size", minimum=1) for v in output_size)  # type: ignore[union-attr]
        if not 1 <= len(crop) <= 3:
            raise ConvlabError(f"output_size must have 1 to 3 sizes, got output_size={describe(output_size)}")
    else:
        side = as_int(output_size, "output_size", minimum=1)
        crop = (side, side)
    if array.ndim < len(crop) or 0 in array.shape[array.ndim - len(crop) :]:
        raise ConvlabError(
            f"img must have {len(crop)} non-empty trailing dimensions to crop to output_size="
            f"{describe(output_size)}, got img of shape {array.shape}"
        )
    box = center_crop_box(array.shape[array.ndim - len(crop) :], crop)
    if box.padded:
        array = pad(array, [p for pair in reversed(box.pad) for p in pair])
    return array[(Ellipsis, *box.slices)]
