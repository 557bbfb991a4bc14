"""torchvision's center-crop rule as integer arithmetic."""

from __future__ import annotations

from dataclasses import dataclass

from .._args import infer_ndim, per_dim
from ._formulas import SizeArg


@dataclass(frozen=True)
class CropBox:
    """Where a center crop takes its pixels, per spatial dimension.

    Attributes
    ----------
    size : tuple of int
        The image size before cropping.
    output_size : tuple of int
        The crop size.
    pad : tuple of (int, int)
        Zero padding ``(lo, hi)`` applied first, where the crop is larger than
        the image; ``(0, 0)`` elsewhere.
    start, stop : tuple of int
        The crop window ``start:stop`` in the padded image; ``stop - start``
        equals ``output_size``. ``stop - 1`` is the last row/column taken.
    """

    size: tuple[int, ...]
    output_size: tuple[int, ...]
    pad: tuple[tuple[int, int], ...]
    start: tuple[int, ...]
    stop: tuple[int, ...]

    def _repr_html_(self) -> str:
        """Jupyter's view: the crop window in a small table."""
        from .._html import record

        fields = [
            ("image size", self.size),
            ("crop size", self.output_size),
            ("zero padding (lo:hi)", self.pad),
        ]
        return record("center crop", [*fields, ("start", self.start), ("stop", self.stop)])

    @property
    def slices(self) -> tuple[slice, ...]:
        """``start:stop`` slices, to index the padded image with."""
        return tuple(slice(a, b) for a, b in zip(self.start, self.stop))

    @property
    def padded(self) -> bool:
        """Whether the crop is larger than the image in some dimension."""
        return any(lo or hi for lo, hi in self.pad)


def center_crop_box(size: SizeArg, output_size: SizeArg) -> CropBox:
    """The window ``torchvision.transforms.functional.center_crop`` takes.

    torchvision's rule, per dimension: where the crop is larger than the
    image, zero-pad first by ``(diff // 2, (diff + 1) // 2)`` (the odd pixel at
    the end); then start at ``int(round((size - output_size) / 2))``. Python's
    ``round`` is round-half-even, so a difference of 3 starts at 2, 5 at 2 and
    7 at 4: the extra pixel is left before the crop or after it depending on
    the parity of the half-difference. torchvision crops the last two
    dimensions; this function takes any 1 to 3.

    Parameters
    ----------
    size : int or tuple of int
        The spatial size of the image, e.g. ``(H, W)``.
    output_size : int or tuple of int
        The crop size; an int means the same in every dimension of ``size``.

    Examples
    --------
    >>> box = center_crop_box((568, 568), (392, 392))
    >>> box.start, box.stop
    ((88, 88), (480, 480))
    >>> center_crop_box(7, 4).start
    (2,)
    >>> center_crop_box(3, 6).pad
    ((1, 2),)
    """
    ndim = infer_ndim(size=size, output_size=output_size) or 1
    image = per_dim(size, "size", ndim, minimum=1)
    crop = per_dim(output_size, "output_size", ndim, minimum=1)
    pads, starts = [], []
    for n, c in zip(image, crop):
        diff = c - n
        pad = (diff // 2, (diff + 1) // 2) if diff > 0 else (0, 0)
        padded = n + pad[0] + pad[1]
        pads.append(pad)
        starts.append(round((padded - c) / 2))
    stops = tuple(a + c for a, c in zip(starts, crop))
    return CropBox(image, crop, tuple(pads), tuple(starts), stops)
