"""Where the tiles of an overlap-tile run lie: window sizes, halos, cores.

All sizes come from the model's :class:`~convlab.shapes.SizeContract`; this
module only places them. One spatial dimension at a time, in image
coordinates, ``A`` the contract's alignment (total stride):

- a tile keeps the *core* ``[k*s, min((k+1)*s, n))`` of the output, ``s`` the
  stride (a multiple of ``A``);
- the model reads the *window* ``[k*s - halo - lo, k*s - halo - lo + window)``,
  ``lo`` the network's own left margin (92 for the paper's unpadded U-Net,
  0 for a padded one) and ``halo`` extra context, also a multiple of ``A``;
- the model's output then covers ``[k*s - halo, k*s - halo + window - margin)``
  and the core is its slice ``[halo, halo + core)``.

Every window starts at a multiple of ``A`` from the first one, so every
window pools on the same grid as the whole image: a U-Net is
translation-equivariant only for shifts that are multiples of its total stride.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .._args import ConvlabError, as_int, describe, per_dim
from ..shapes import SizeContract
from ._contracts import size_contract_of, stride_words

__all__ = ["Tile", "TilePlan", "default_halo", "plan_tiles"]

# The default output core per dimension: big enough that the unpadded
# U-Net's margin (184 pixels at depth 4) is not most of the work, small
# enough that a window's feature maps stay in tens of megabytes.
_DEFAULT_CORE = 256


@dataclass(frozen=True)
class Tile:
    """One tile: what to read, what the model returns, what to keep, where it goes.

    ``window`` is ``((start, stop), ...)`` in image coordinates (may reach
    outside the image: those pixels are mirrored in); ``keep`` the slices of
    the model output to keep and ``dest`` the slices of the image they fill.
    """

    index: tuple[int, ...]
    window: tuple[tuple[int, int], ...]
    keep: tuple[slice, ...]
    dest: tuple[slice, ...]


@dataclass(frozen=True)
class TilePlan:
    """The tiling of one image by one U-Net, per spatial dimension.

    ``window`` is the model's input size, ``stride`` the core size, ``halo``
    the extra context on each side and ``margin`` ``(lo, hi)`` the pixels the
    network itself consumes (the contract's ``margin``).
    """

    image: tuple[int, ...]
    window: tuple[int, ...]
    stride: tuple[int, ...]
    halo: tuple[int, ...]
    margin: tuple[tuple[int, int], ...]
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        """The number of tiles."""
        return math.prod(self.counts)

    def tiles(self) -> Iterator[Tile]:
        """The tiles in raster order (last dimension fastest)."""
        for index in itertools.product(*(range(c) for c in self.counts)):
            window, keep, dest = [], [], []
            for k, n, w, s, h, (lo, _) in zip(
                index, self.image, self.window, self.stride, self.halo, self.margin
            ):
                start = k * s
                core = min(s, n - start)
                window.append((start - h - lo, start - h - lo + w))
                keep.append(slice(h, h + core))
                dest.append(slice(start, start + core))
            yield Tile(index, tuple(window), tuple(keep), tuple(dest))


def default_halo(model: object) -> int | tuple[int, ...]:
    """The extra context per side that makes tiled inference equal whole-image inference.

    The contract's ``halo`` (see :attr:`convlab.models.UNet.size_contract`):
    0 for an unpadded U-Net with transposed-convolution up-sampling, because
    every output pixel already sees its whole receptive field inside the
    window (the network's margin *is* the halo); otherwise how far a window's
    edge (zero padding, an interpolation clamped at it) reaches into the
    output, rounded up to a multiple of the alignment so that the windows
    pool on the whole image's grid. One int when every dimension has the
    same halo, else one per dimension.

    Notes
    -----
    Depth 4, kernel 3, 2 padded convs per level: the edge reaches 94 pixels,
    so 96; depth 2: 22, so 24. The unpadded twin's margin per side (92, 20)
    is *not* enough: its pools sit on a grid shifted by its crops.

    Padded U-Net: with this halo the kept cores are *exact*, equal to
    whole-image inference, wherever the whole image's own zero padding is
    farther than the halo; tiles at the image's border see the mirrored
    image where whole-image inference sees zeros. When the contract is not
    ``exact`` (an interpolation with ``align_corners=True``, whose sampling
    positions depend on the window's size) no halo makes tiles exact: the
    result is an approximation.

    >>> from convlab.models import UNetConfig
    >>> default_halo(UNetConfig(depth=4, padding="same"))
    96
    >>> default_halo(UNetConfig(depth=4, padding="valid"))
    0
    """
    halo = size_contract_of(model).halo
    return halo[0] if len(set(halo)) == 1 else halo


def plan_tiles(model: object, image: Sequence[int], tile: object = None, halo: object = None) -> TilePlan:
    """Place the tiles of ``image`` (its spatial size) for a model with a size contract.

    Parameters
    ----------
    model : SizeContract, or a model or UNetConfig with ``size_contract``
        What the sizes come from (:class:`convlab.shapes.SizeContract`).
    image : sequence of int
        The spatial size of the image, e.g. ``(H, W)``.
    tile : int or sequence of int, optional
        The model's input window per dimension: a valid input size on the
        alignment grid (572, 588, ... for the paper's U-Net; a multiple of
        ``2**depth`` for a padded one). Default: the smallest window with a
        core of 256. A window larger than the image needs is shrunk to the
        smallest that covers it in one tile (the result is the same, the
        work less).
    halo : int or sequence of int, optional
        Extra context per side, a multiple of the alignment; default
        :func:`default_halo`.

    Examples
    --------
    >>> from convlab.models import UNetConfig
    >>> plan = plan_tiles(UNetConfig(), (1000, 700), tile=572)
    >>> plan.window, plan.stride, plan.halo, plan.margin, plan.counts
    ((572, 572), (384, 384), (0, 0), ((92, 92), (92, 92)), (3, 2))
    >>> next(plan.tiles()).window
    ((-92, 480), (-92, 480))
    """
    contract = _fit(size_contract_of(model), tuple(as_int(n, "image size", minimum=1) for n in image))
    size = tuple(as_int(n, "image size", minimum=1) for n in image)
    halos = contract.halo if halo is None else per_dim(halo, "halo", len(size), minimum=0)
    for h, a in zip(halos, contract.alignment):
        if h % a:
            raise ConvlabError(f"halo must be a multiple of {stride_words(a)}, got halo={describe(halo)}")
    tiles = (None,) * len(size) if tile is None else per_dim(tile, "tile", len(size), minimum=0)
    dims = [_plan_dim(contract, d, n, t, h) for d, (n, t, h) in enumerate(zip(size, tiles, halos))]
    return TilePlan(
        image=size,
        window=tuple(d[0] for d in dims),
        stride=tuple(d[1] for d in dims),
        halo=tuple(halos),
        margin=contract.margin,
        counts=tuple(-(-n // d[1]) for n, d in zip(size, dims)),
    )


def _fit(contract: SizeContract, size: tuple[int, ...]) -> SizeContract:
    """The contract for an image of ``len(size)`` dimensions.

    A contract whose dimensions all agree (every U-Net here) plans images of
    any rank, e.g. one line of a 2-D network's sizes.
    """
    if len(size) == contract.ndim:
        return contract
    uniform = all(
        len(set(getattr(contract, f))) == 1 for f in ("smallest", "step", "margin", "alignment", "halo")
    )
    if not uniform:
        raise ConvlabError(
            f"image size must have {contract.ndim} entries (the model's spatial dimensions), got {size}"
        )
    n = len(size)
    return SizeContract(
        contract.smallest[:1] * n,
        contract.step[:1] * n,
        contract.margin[:1] * n,
        contract.alignment[:1] * n,
        contract.halo[:1] * n,
        contract.exact,
    )


def _plan_dim(c: SizeContract, d: int, n: int, tile: int | None, halo: int) -> tuple[int, int]:
    """``(window, stride)`` of dimension ``d``."""
    first, align, margin = c.smallest[d], c.alignment[d], sum(c.margin[d])
    # Windows must be valid and start the next one on the alignment grid.
    grid = math.lcm(c.step[d], align)

    def core(window: int) -> int:
        return (window - margin - 2 * halo) // align * align

    smallest = first + max(0, -(-(margin + 2 * halo + align - first) // grid)) * grid
    if tile is None:
        tile = smallest + max(0, -(-(_DEFAULT_CORE - core(smallest)) // grid)) * grid
    else:
        _check_tile(tile, first, grid, align, padded=margin == 0)
        if core(tile) < align:
            raise ConvlabError(
                f"tile {tile} leaves no output core with halo {halo}: the window loses {margin} pixels to "
                f"the network and {2 * halo} to the halo, and the core must hold at least "
                f"{stride_words(align)}; use tile >= {smallest}"
            )
    if core(tile) >= n:
        # One tile covers the dimension: take the smallest window that does.
        tile = min(tile, smallest + max(0, -(-(n - core(smallest)) // grid)) * grid)
    return tile, core(tile)


def _check_tile(tile: int, first: int, grid: int, align: int, padded: bool) -> None:
    if tile >= first and (tile - first) % grid == 0:
        return
    k = (tile - first) // grid
    below, above = first + k * grid, first + max(k + 1, 0) * grid
    near = [m for m in (below, above) if m >= first]
    if padded and first % grid == 0:
        raise ConvlabError(
            f"tile must be a multiple of {stride_words(align)} (the model's alignment), got tile={tile}; "
            f"try {' or '.join(map(str, near))}"
        )
    raise ConvlabError(
        f"tile must be a valid input size of the model ({first} plus multiples of {grid}), got tile={tile}; "
        f"nearest valid input sizes: {' and '.join(map(str, near))}"
    )
