"""Whole-image inference of a model with a size contract: the overlap-tile border, then one pass.

:func:`predict` is what :func:`predict_tiled` is checked against, and what
``convlab segment`` runs on images that fit in memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from .._limits import check_memory
from ..models import UNetConfig
from ..shapes import SizeContract, UNetSizeError
from ._contracts import size_contract_of

__all__ = ["overlap_tile_border", "predict"]


def _contract(model: object) -> SizeContract:
    if isinstance(model, Mapping):
        # The unet_sizes arguments of convlab's own U-Net.
        return size_contract_of(UNetConfig(**model))
    return size_contract_of(model)


def _refuse(spatial: tuple[int, ...], c: SizeContract, what: str) -> UNetSizeError:
    d = next(d for d, n in enumerate(spatial) if not c.is_valid([n] * c.ndim))
    below, above = c.nearest_valid([spatial[d]] * c.ndim)
    near = " and ".join(
        f"{m[d]} ({side})" for m, side in ((below, "below"), (above, "above")) if m is not None
    )
    sizes = "x".join(map(str, spatial))
    return UNetSizeError(
        f"{what} of size {sizes}: the model takes sizes {c.smallest[d]} plus multiples of {c.step[d]} "
        f"in dimension {d}, got {spatial[d]}; nearest valid input sizes: {near}",
        "input",
        spatial[d],
        None if below is None else below[d],
        above[d],
    )


def overlap_tile_border(spatial: Sequence[int], model: object, *, what: str = "the image") -> tuple:
    """Per dimension ``(lo, hi)`` mirror padding, so that the network's output covers the image.

    Unpadded network (the paper's overlap-tile strategy, Ronneberger et al.
    2015, Fig. 2): it consumes ``margin = (lo, hi)`` pixels, the same for
    every valid input size, so the image is mirrored by ``lo`` before its
    first pixel; after its last by the rest up to the nearest valid input
    size, whose surplus output is cropped off. Padded network (no margin):
    no border at the start; an image smaller than the smallest valid size is
    refused, one between valid sizes (a padded network that crops its skips,
    such as jvanvugt's, takes multiples of ``2**depth`` only) is mirrored at
    its end up to the next valid size, as the unpadded one is.

    Parameters
    ----------
    spatial : sequence of int
        The image's spatial size.
    model : SizeContract, a model or UNetConfig with ``size_contract``, or a mapping
        A mapping holds :func:`convlab.shapes.unet_sizes` arguments of
        convlab's own U-Net (``depth``, ``kernel_size``, ``convs_per_level``,
        ``padding``).

    Raises
    ------
    UNetSizeError
        A padded network and an image size it cannot take, with the nearest valid sizes.

    Examples
    --------
    >>> from convlab.models import UNetConfig
    >>> overlap_tile_border((388, 389), UNetConfig())
    ((92, 92), (92, 107))
    """
    c, spatial = _contract(model), tuple(spatial)
    if any(n < s for n, s in zip(spatial, c.smallest)) and not any(lo or hi for lo, hi in c.margin):
        raise _refuse(spatial, c, what)
    pads = []
    for d, n in enumerate(spatial):
        lo, hi = c.margin[d]
        _, size = c.nearest_valid([n + lo + hi] * c.ndim)
        pads.append((lo, size[d] - n - lo))
    return tuple(pads)


def _row_bytes(row) -> int:
    """A trace row's activation bytes: convlab's rows say it, ONNX rows give shapes (float32 assumed)."""
    if hasattr(row, "activation_bytes"):
        return row.activation_bytes
    return 4 * sum(math.prod(shape) for shape in getattr(row, "output_shapes", ()))


def _check_forward(model, shape: tuple[int, ...], what: str) -> None:
    """Refuse a whole-image pass whose feature maps exceed the memory limit, before computing.

    The estimate, from the model's shape-only trace (models without one are
    not checked): three times the largest feature map, for the largest
    layer's input, output and GEMM workspace (ONNX rows: float32 assumed).
    """
    trace = getattr(model, "trace", None)
    if trace is None:
        return
    largest = max((_row_bytes(row) for row in trace(shape)), default=0)
    check_memory(
        3 * largest,
        f"the whole-image forward pass of {what} (network input {'x'.join(map(str, shape[2:]))}; "
        f"in tiles it fits: convlab segment --tile 572, or convlab.tiling.predict_tiled)",
    )


def predict(model, x: np.ndarray, *, what: str = "the image") -> tuple[np.ndarray, tuple[int, ...]]:
    """The model's output ``(classes, *spatial)`` over the image ``(C, *spatial)``, in one pass.

    The image is mirrored by :func:`overlap_tile_border`, run through
    ``model`` as a batch of one, and the output cropped to the image.
    Returns the output and the size the network was given.

    >>> from convlab.models import UNet
    >>> out, given = predict(UNet(width=1, depth=1), np.zeros((1, 5, 7)))
    >>> out.shape, given
    ((2, 5, 7), (22, 24))
    """
    pads = overlap_tile_border(x.shape[1:], model, what=what)
    _check_forward(model, (1, x.shape[0], *(n + lo + hi for n, (lo, hi) in zip(x.shape[1:], pads))), what)
    # NumPy's 'reflect' (no edge repeat, PyTorch's rule) also mirrors more
    # than the image's width, by reflecting repeatedly.
    padded = np.pad(x, ((0, 0), *pads), mode="reflect") if any(lo or hi for lo, hi in pads) else x
    out = model(padded[np.newaxis])[0]
    return out[(slice(None), *(slice(0, n) for n in x.shape[1:]))], padded.shape[1:]
