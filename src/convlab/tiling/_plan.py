"""Where the tiles of an overlap-tile run lie: window sizes, halos, cores.

All sizes come from :func:`convlab.shapes.unet_sizes`; this module only
places them. One spatial dimension at a time, in image coordinates:

- a tile keeps the *core* ``[k*s, min((k+1)*s, n))`` of the output, ``s`` the
  stride (a multiple of ``2**depth``);
- the model reads the *window* ``[k*s - halo - lo, k*s - halo - lo + window)``,
  ``lo`` the network's own left margin (``(in - out) // 2`` for an unpadded
  U-Net, 0 for a padded one) and ``halo`` extra context, also a multiple of
  ``2**depth``;
- the model's output then covers ``[k*s - halo, k*s - halo + window - margin)``
  and the core is its slice ``[halo, halo + core)``.

Every window starts at a multiple of ``2**depth`` from the first one, so
every window pools on the same grid as the whole image: a U-Net is
translation-equivariant only for shifts that are multiples of ``2**depth``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .._args import ConvlabError, as_int, describe, is_sequence
from ..shapes import UNetSizeError, unet_sizes

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
    network itself consumes (``in - out`` of :func:`convlab.shapes.unet_sizes`).
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


def _config_value(config: object, name: str, default: object) -> object:
    return getattr(config, name, default)


def _unet_args(config: object) -> dict:
    return {
        "depth": _config_value(config, "depth", 4),
        "kernel_size": _config_value(config, "kernel_size", 3),
        "convs_per_level": _config_value(config, "convs_per_level", 2),
        "padding": _config_value(config, "padding", "valid"),
    }


def default_halo(config: object) -> int:
    """The extra context per side that makes tiled inference equal whole-image inference.

    Unpadded U-Net with transposed-convolution up-sampling: 0, because every
    output pixel already sees its whole receptive field inside the window
    (the network's margin *is* the halo). Otherwise: the depth, in input
    pixels, to which the window's edge (zero padding, or an interpolation
    reading past it) can reach into the output, rounded up to a multiple of
    ``2**depth`` so that the windows pool on the whole image's grid.

    Notes
    -----
    The reach ``e`` (pixels from the edge that differ), level by level: each
    conv adds ``kernel_size // 2``; a 2×2 pool halves it, rounding up (a
    pooling cell with one touched pixel is touched); an up-sampling doubles
    it (plus one for interpolation, which reads a neighbour); a skip joins
    with its own reach. Depth 4, kernel 3, 2 convs: 94 pixels, so 96;
    depth 2: 22, so 24. The unpadded twin's margin per side (92, 20) is *not*
    enough: its pools sit on a grid shifted by its crops.

    Padded U-Net: with this halo the kept cores are *exact*, equal to
    whole-image inference, wherever the whole image's own zero padding is
    farther than the halo; tiles at the image's border see the mirrored
    image where whole-image inference sees zeros. With ``up_mode='bilinear'``
    (``align_corners=True``, whose sampling positions depend on the window's
    size) no halo makes tiles exact: the result is an approximation.

    >>> from types import SimpleNamespace
    >>> default_halo(SimpleNamespace(depth=4, padding="same"))
    96
    >>> default_halo(SimpleNamespace(depth=4, padding="valid"))
    0
    """
    args = _unet_args(config)
    interpolates = not _transposed_up(config)
    if args["padding"] == "valid" and not interpolates:
        return 0
    per_level = args["convs_per_level"] * (args["kernel_size"] // 2)
    reach, skips = 0, []
    for _ in range(args["depth"]):
        reach += per_level
        skips.append(reach)
        reach = -(-reach // 2)
    reach += per_level
    for skip in reversed(skips):
        reach = max(2 * reach + interpolates, skip) + per_level
    step = 2 ** args["depth"]
    return -(-reach // step) * step


def _transposed_up(config: object) -> bool:
    mode = str(_config_value(config, "up_mode", "transpose")).lower()
    return "transpose" in mode or mode in ("convt", "deconv")


def _smallest_valid(args: dict) -> int:
    try:
        unet_sizes(1, **args)
    except UNetSizeError as err:
        return err.above
    return 1


def _per_dim(value: object, name: str, ndim: int) -> tuple[int, ...]:
    if is_sequence(value):
        values = tuple(as_int(v, name, minimum=0) for v in value)  # type: ignore[union-attr]
        if len(values) != ndim:
            raise ConvlabError(f"{name} must be an int or {ndim} ints, got {name}={describe(value)}")
        return values
    return (as_int(value, name, minimum=0),) * ndim


def plan_tiles(config: object, image: Sequence[int], tile: object = None, halo: object = None) -> TilePlan:
    """Place the tiles of ``image`` (its spatial size) for a U-Net of ``config``.

    Parameters
    ----------
    config : UNetConfig or any object with ``depth``, ``kernel_size``, ``convs_per_level``, ``padding``
        Missing attributes take the paper's values (4, 3, 2, ``'valid'``).
    image : sequence of int
        The spatial size of the image, e.g. ``(H, W)``.
    tile : int or sequence of int, optional
        The model's input window per dimension: a valid input size of the
        unpadded U-Net (572, 588, ... at depth 4), a multiple of ``2**depth``
        for a padded one. Default: the smallest window with a core of 256.
        A window larger than the image needs is shrunk to the smallest that
        covers it in one tile (the result is the same, the work less).
    halo : int or sequence of int, optional
        Extra context per side, a multiple of ``2**depth``; default
        :func:`default_halo`.

    Examples
    --------
    >>> plan = plan_tiles(None, (1000, 700), tile=572)
    >>> plan.window, plan.stride, plan.halo, plan.margin, plan.counts
    ((572, 572), (384, 384), (0, 0), ((92, 92), (92, 92)), (3, 2))
    >>> next(plan.tiles()).window
    ((-92, 480), (-92, 480))
    """
    args = _unet_args(config)
    size = tuple(as_int(n, "image size", minimum=1) for n in image)
    step = 2 ** args["depth"]
    halos = _per_dim(default_halo(config) if halo is None else halo, "halo", len(size))
    if any(h % step for h in halos):
        raise ConvlabError(f"halo must be a multiple of 2**depth = {step}, got halo={describe(halo)}")
    tiles = (None,) * len(size) if tile is None else _per_dim(tile, "tile", len(size))
    dims = [_plan_dim(n, t, h, args) for n, t, h in zip(size, tiles, halos)]
    return TilePlan(
        image=size,
        window=tuple(d[0] for d in dims),
        stride=tuple(d[1] for d in dims),
        halo=halos,
        margin=tuple(d[2] for d in dims),
        counts=tuple(-(-n // d[1]) for n, d in zip(size, dims)),
    )


def _plan_dim(n: int, tile: int | None, halo: int, args: dict) -> tuple[int, int, tuple[int, int]]:
    """``(window, stride, (lo, hi))`` of one dimension."""
    step = 2 ** args["depth"]
    first = _smallest_valid(args) if args["padding"] == "valid" else step
    margin = first - unet_sizes(first, **args).output_size[0]

    def core(window: int) -> int:
        return (window - margin - 2 * halo) // step * step

    smallest = first + max(0, -(-(margin + 2 * halo + step - first) // step)) * step
    if tile is None:
        tile = smallest + max(0, -(-(_DEFAULT_CORE - core(smallest)) // step)) * step
    else:
        _check_tile(tile, first, step, args)
        if core(tile) < step:
            raise ConvlabError(
                f"tile {tile} leaves no output core with halo {halo}: the window loses {margin} pixels to "
                f"the network and {2 * halo} to the halo, and the core must hold at least 2**depth = {step}; "
                f"use tile >= {smallest}"
            )
    if core(tile) >= n:
        # One tile covers the dimension: take the smallest window that does.
        tile = min(tile, smallest + max(0, -(-(n - core(smallest)) // step)) * step)
    # In an unpadded U-Net with odd kernels the crops are centred, so output
    # pixel j sits over input pixel j + margin/2; the split only has to be the
    # same for every window and for the whole image, which it is.
    return tile, core(tile), (margin // 2, margin - margin // 2)


def _check_tile(tile: int, first: int, step: int, args: dict) -> None:
    if args["padding"] == "valid":
        try:
            unet_sizes(tile, **args)
        except UNetSizeError as err:
            raise ConvlabError(f"tile must be a valid input size of the U-Net: {err}") from None
    elif tile % step or tile < first:
        below, above = tile // step * step, -(-tile // step) * step
        near = " or ".join(str(m) for m in (below, above) if m >= first)
        raise ConvlabError(
            f"tile must be a multiple of 2**depth = {step} for a padded U-Net, got tile={tile}; try {near}"
        )
