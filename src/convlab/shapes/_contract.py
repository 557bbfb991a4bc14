"""The size contract of a fully convolutional model: what tiling needs to know.

A model (convlab's U-Nets, the upstream layouts, an ONNX graph) derives one
:class:`SizeContract` from its own plan or shape trace; :mod:`convlab.tiling`
consumes nothing else. Per spatial dimension:

- valid input sizes form the progression ``smallest + k*step`` (``k >= 0``);
  a padded U-Net of depth 4 has ``smallest = step = 16`` when it refuses odd
  sizes, ``smallest = step = 1`` when it pads skips to match (milesial), the
  paper's unpadded one ``smallest = 188, step = 16``;
- the output of a valid input ``n`` has size ``n - lo - hi`` with
  ``margin = (lo, hi)``: output pixel ``i`` sits over input pixel ``i + lo``
  (output and input share one resolution; models that resample their output
  have no contract here);
- ``alignment`` is the total stride: the model commutes with shifts that are
  multiples of it, so every tile window must start on that grid;
- ``halo`` is the context beyond the margin that makes a kept core exact
  despite the zero padding at a window's edge (0 for unpadded networks);
- ``exact`` is False when no halo makes kept cores exact: an interpolation
  with ``align_corners=True`` samples at positions that depend on the
  window's size, so tiles only approximate the whole image (``halo`` then
  is that of ``align_corners=False``).

A padded U-Net that pads skips to match (milesial) takes every size from
``2**depth`` up (``step = 1``) but aligns to ``2**depth``; one that crops
instead (jvanvugt's ``padding=True``) loses pixels at sizes off the grid,
so its valid sizes are ``16 + 16k`` at depth 4.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .._args import ConvlabError, as_int

__all__ = ["SizeContract"]


@dataclass(frozen=True)
class SizeContract:
    """Valid sizes, margin, alignment and halo of a model, per spatial dimension.

    Examples
    --------
    The paper's unpadded U-Net (depth 4, two 3×3 convs per level):

    >>> c = SizeContract(smallest=(188, 188), step=(16, 16), margin=((92, 92), (92, 92)),
    ...                  alignment=(16, 16), halo=(0, 0))
    >>> c.output_size((572, 572))
    (388, 388)
    >>> c.nearest_valid((570, 570))
    ((556, 556), (572, 572))
    """

    smallest: tuple[int, ...]
    step: tuple[int, ...]
    margin: tuple[tuple[int, int], ...]
    alignment: tuple[int, ...]
    halo: tuple[int, ...]
    exact: bool = True

    def __post_init__(self) -> None:
        n = len(self.smallest)
        fields = {"step": self.step, "margin": self.margin, "alignment": self.alignment, "halo": self.halo}
        for name, value in fields.items():
            if len(value) != n:
                raise ConvlabError(
                    f"SizeContract.{name} must have one entry per spatial dimension ({n}), got {value!r}"
                )
        if not isinstance(self.exact, bool):
            raise TypeError(f"SizeContract.exact must be a bool, got {type(self.exact).__name__}")
        for d in range(n):
            if self.smallest[d] < 1 or self.step[d] < 1 or self.alignment[d] < 1 or self.halo[d] < 0:
                raise ConvlabError(f"SizeContract entries out of range in dimension {d}: {self!r}")
            lo, hi = self.margin[d]
            if lo < 0 or hi < 0 or lo + hi >= self.smallest[d]:
                raise ConvlabError(
                    f"SizeContract.margin {self.margin[d]} leaves no output for the smallest size "
                    f"{self.smallest[d]} in dimension {d}"
                )

    @property
    def ndim(self) -> int:
        """The number of spatial dimensions."""
        return len(self.smallest)

    def _size(self, size: int | Sequence[int]) -> tuple[int, ...]:
        if isinstance(size, Sequence) and not isinstance(size, str):
            out = tuple(as_int(s, "size") for s in size)
        else:
            out = (as_int(size, "size"),) * self.ndim
        if len(out) != self.ndim:
            raise ConvlabError(
                f"size must have {self.ndim} entries (one per spatial dimension), got {size!r}"
            )
        return out

    def is_valid(self, size: int | Sequence[int]) -> bool:
        """Whether the model accepts ``size`` (an int is broadcast to every dimension)."""
        return all(n >= s and (n - s) % t == 0 for n, s, t in zip(self._size(size), self.smallest, self.step))

    def nearest_valid(self, size: int | Sequence[int]) -> tuple[tuple[int, ...] | None, tuple[int, ...]]:
        """The largest valid size ``<= size`` (None if there is none) and the smallest ``>= size``."""
        below, above = [], []
        for n, s, t in zip(self._size(size), self.smallest, self.step):
            k = (n - s) // t
            below.append(s + k * t if n >= s else None)
            above.append(max(s, s + -(-(n - s) // t) * t))
        return (None if None in below else tuple(below)), tuple(above)

    def output_size(self, size: int | Sequence[int]) -> tuple[int, ...]:
        """The output size for a valid input ``size``; a ConvlabError names the nearest valid ones."""
        sizes = self._size(size)
        if not self.is_valid(sizes):
            below, above = self.nearest_valid(sizes)
            raise ConvlabError(
                f"input size {sizes} is not valid for this model (valid: smallest {self.smallest} "
                f"plus multiples of {self.step}); nearest valid sizes are {below} and {above}"
            )
        return tuple(n - lo - hi for n, (lo, hi) in zip(sizes, self.margin))
