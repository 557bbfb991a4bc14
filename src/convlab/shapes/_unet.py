"""Feature sizes, skip crops and valid input sizes of a U-Net."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .._args import ConvlabError, as_int, describe, infer_ndim, per_dim
from ._crop import CropBox, center_crop_box
from ._formulas import SizeArg, _conv_1d, _same_1d

_PADDINGS = ("valid", "same")
# Stated caps (issue 10): a U-Net deeper than 64 pools needs inputs above
# 2**64 pixels a side; 1024 convs per level keeps a trace's tuples bounded.
MAX_DEPTH = 64
MAX_CONVS = 1024
# unet_valid_sizes lists at most this many sizes.
_LIST_LIMIT = 1 << 20


class UNetSizeError(ConvlabError):
    """An input size the U-Net cannot take; names the layer that breaks.

    Attributes ``layer``, ``size`` (the offending size there), ``below`` and
    ``above`` (the nearest valid input sizes, ``None`` where there is none).
    """

    def __init__(self, message: str, layer: str, size: int, below=None, above=None):
        super().__init__(message)
        self.layer, self.size, self.below, self.above = layer, size, below, above


@dataclass(frozen=True)
class UNetLevel:
    """One resolution level of a U-Net, sizes per spatial dimension.

    ``encoder`` holds the level's input then the size after each conv;
    ``pooled`` the size after the 2×2 pool below it (None at the bottom);
    ``up`` the size of the up-sampled decoder features arriving at this level
    and ``skip`` how the encoder output is matched to them: a center-crop box
    (unpadded U-Net) or ``skip_pad``, the ``(lo, hi)`` zero padding of the
    up-sampled features (padded U-Net, odd sizes); ``decoder`` the size after
    each decoder conv. The bottom level has no up, skip or decoder.
    """

    level: int
    encoder: tuple[tuple[int, ...], ...]
    pooled: tuple[int, ...] | None
    up: tuple[int, ...] | None
    skip_crop: CropBox | None
    skip_pad: tuple[tuple[int, int], ...] | None
    decoder: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class UNetSizes:
    """The sizes through a U-Net for one input size (tuples, one entry per dimension)."""

    input_size: tuple[int, ...]
    output_size: tuple[int, ...]
    levels: tuple[UNetLevel, ...]
    depth: int
    kernel_size: int
    convs_per_level: int
    padding: str
    smallest_valid: int
    valid_below: tuple[int | None, ...]
    valid_above: tuple[int, ...]

    def _repr_html_(self) -> str:
        """Jupyter's view: one row per level (added by h8 for issue 15 item 5)."""
        from .. import _html

        rows = [
            [
                lv.level,
                " -> ".join(map(_html.text, lv.encoder)),
                lv.pooled,
                lv.up,
                lv.skip_crop and lv.skip_crop.start,
                lv.skip_pad,
                " -> ".join(map(_html.text, lv.decoder)),
            ]
            for lv in self.levels
        ]
        caption = (
            f"U-Net {_html.text(self.input_size)} -> {_html.text(self.output_size)} (padding {self.padding})"
        )
        return _html.table(
            caption, ["level", "encoder", "pooled", "up", "crop start", "skip pad", "decoder"], rows
        )


def _convs(n: int, k: int, count: int, padding: str, where: str) -> list[int]:
    sizes = [n]
    for j in range(count):
        lo, hi = (0, 0) if padding == "valid" else _same_1d(n, k, 1, 1)
        if n + lo + hi < k:
            raise _broken(f"{where}.conv{j + 1}", n, f"the size {n} is smaller than the kernel {k}")
        n = _conv_1d(n, k, 1, lo, hi, 1, 0)
        sizes.append(n)
    return sizes


def _broken(layer: str, size: int, why: str) -> UNetSizeError:
    return UNetSizeError(f"at {layer} {why}", layer, size)


def _trace_1d(n: int, depth: int, k: int, convs: int, padding: str) -> list[dict]:
    """Per level (top first) the sizes of one dimension; raises UNetSizeError."""
    levels = []
    for i in range(depth + 1):
        where = f"down{i}" if i < depth else "bottom"
        encoder = _convs(n, k, convs, padding, where)
        n = encoder[-1]
        pooled = None
        if i < depth:
            if padding == "valid" and n % 2:
                raise _broken(
                    f"down{i}.pool", n, f"the size {n} is odd, so the 2x2 max-pool would drop a pixel"
                )
            if n < 2:
                raise _broken(f"down{i}.pool", n, f"the size {n} is too small to pool")
            n = pooled = n // 2
        levels.append({"encoder": encoder, "pooled": pooled})
    for i in reversed(range(depth)):
        skip, up = levels[i]["encoder"][-1], 2 * n
        if padding == "valid":
            levels[i].update(up=up, crop=center_crop_box(skip, up), pad=None)
        else:
            # Padded U-Nets (Pytorch-UNet) pad the up-sampled features to the
            # skip's size, the odd pixel at the end; sizes differ only when odd.
            levels[i].update(up=up, crop=None, pad=((skip - up) // 2, skip - up - (skip - up) // 2))
            up = skip
        levels[i]["decoder"] = _convs(up, k, convs, padding, f"up{i}")
        n = levels[i]["decoder"][-1]
    return levels


def _fits(n: int, config: tuple) -> bool:
    """Whether input size ``n`` goes through: :func:`_trace_1d` in O(depth), no lists.

    A valid conv loses ``k - 1`` per conv and fails once a size drops below
    1; a 'same' conv keeps the size; the checks are exactly _trace_1d's.
    """
    depth, k, convs, padding = config
    loss = convs * (k - 1) if padding == "valid" else 0
    for _ in range(depth):
        n -= loss
        if n < 2 or (padding == "valid" and n % 2):
            return False
        n //= 2
    n -= loss
    if n < 1:
        return False
    for _ in range(depth):
        n = 2 * n - loss
        if n < 1:
            return False
    return True


def _progression(config: tuple) -> tuple[int, int]:
    """``(period, offset)``: the sizes that survive every pool are ``offset + period*m``.

    Valid padding: each level maps ``n = 2*n' + loss`` one to one, so the
    input is ``2**depth * n_bottom + loss*(2**depth - 1)``. 'same' pools
    floor any size, so every integer is a candidate.
    """
    depth, k, convs, padding = config
    if padding == "same":
        return 1, 0
    period = 1 << depth
    return period, (convs * (k - 1) * (period - 1)) % period


def _smallest(config: tuple) -> int:
    # Fitting is monotone along the progression (every size grows with n),
    # so a doubling then a bisection finds the first member: O(depth**2).
    period, offset = _progression(config)
    lo, hi = 0, 1
    while not _fits(offset + period * hi, config):
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _fits(offset + period * mid, config) else (mid, hi)
    return offset + period * hi


def _neighbours(n: int, config: tuple) -> tuple[int | None, int]:
    """The nearest valid sizes strictly below and above ``n`` (below: None if none)."""
    period, offset = _progression(config)
    smallest = _smallest(config)
    below = offset + period * ((n - 1 - offset) // period)
    above = offset + period * ((n - offset) // period + 1)
    return (below if below >= smallest else None), max(above, smallest)


def capped(value: object, name: str, minimum: int, maximum: int) -> int:
    """An integer in ``minimum..maximum``; the message states the cap."""
    number = as_int(value, name, minimum=minimum)
    if number > maximum:
        raise ConvlabError(f"{name} must be at most {maximum}, got {name}={number}")
    return number


def unet_valid_sizes(start: int, stop: int, **config) -> list[int]:
    """The input sizes in ``start..stop-1`` that a U-Net takes (see :func:`unet_sizes`).

    >>> unet_valid_sizes(560, 600)
    [572, 588]
    """
    cfg = _config(**config)
    first = max(as_int(start, "start", minimum=1), _smallest(cfg))
    last = as_int(stop, "stop")
    period, offset = _progression(cfg)
    begin = offset + period * -(-(first - offset) // period)
    if (last - begin) // period > _LIST_LIMIT:
        raise ConvlabError(
            f"unet_valid_sizes would list more than {_LIST_LIMIT} sizes from start={start} to "
            f"stop={stop}; ask for a shorter range"
        )
    return list(range(begin, last, period)) if last > begin else []


def _config(depth: int = 4, kernel_size: int = 3, convs_per_level: int = 2, padding: str = "valid") -> tuple:
    if not isinstance(padding, str):
        raise TypeError(
            f"padding must be 'valid' or 'same', got {type(padding).__name__} {describe(padding)}"
        )
    if padding not in _PADDINGS:
        raise ConvlabError(f"padding must be 'valid' or 'same', got padding={padding!r}")
    return (
        capped(depth, "depth", 0, MAX_DEPTH),
        as_int(kernel_size, "kernel_size", minimum=1),
        capped(convs_per_level, "convs_per_level", 1, MAX_CONVS),
        padding,
    )


def unet_sizes(
    input_size: SizeArg,
    *,
    depth: int = 4,
    kernel_size: int = 3,
    convs_per_level: int = 2,
    padding: str = "valid",
) -> UNetSizes:
    """Every feature size of a U-Net, the skip crops, and the valid input sizes.

    The network of Ronneberger et al. (2015): per level ``convs_per_level``
    convolutions of ``kernel_size`` (stride 1), a 2×2 max-pool between levels
    (``depth`` of them), 2×2 up-convolutions (or ×2 up-sampling) on the way up,
    each concatenated with the encoder features of its level. With
    ``padding='valid'`` (the paper) the encoder features are center-cropped to
    the decoder's size, and every size before a pool must be even. With
    ``'same'`` (padded U-Nets) sizes only halve, and odd sizes are matched by
    zero-padding the up-sampled features.

    Raises
    ------
    UNetSizeError
        If ``input_size`` does not fit; the message names the first layer
        that breaks and the nearest valid sizes.

    Examples
    --------
    >>> u = unet_sizes(572)
    >>> u.output_size, u.levels[0].skip_crop.start, u.levels[0].skip_crop.stop
    ((388,), (88,), (480,))
    >>> [lv.encoder[-1][0] for lv in u.levels[:4]], [lv.up[0] for lv in u.levels[:4]]
    ([568, 280, 136, 64], [392, 200, 104, 56])
    """
    config = _config(depth, kernel_size, convs_per_level, padding)
    sizes = per_dim(input_size, "input_size", infer_ndim(input_size=input_size) or 1, minimum=1)
    traces = []
    for dim, n in enumerate(sizes):
        try:
            traces.append(_trace_1d(n, *config))
        except UNetSizeError as err:
            raise _explain(err, n, dim, len(sizes), config) from None
    neighbours = [_neighbours(n, config) for n in sizes]
    return UNetSizes(
        input_size=sizes,
        output_size=tuple(
            t[0]["decoder"][-1] if t[0].get("decoder") else t[0]["encoder"][-1] for t in traces
        ),
        levels=tuple(_level(i, [t[i] for t in traces]) for i in range(config[0] + 1)),
        depth=config[0],
        kernel_size=config[1],
        convs_per_level=config[2],
        padding=padding,
        smallest_valid=_smallest(config),
        valid_below=tuple(b for b, _ in neighbours),
        valid_above=tuple(a for _, a in neighbours),
    )


def _explain(err: UNetSizeError, n: int, dim: int, ndim: int, config: tuple) -> UNetSizeError:
    below, above = _neighbours(n, config)
    depth, k, convs, padding = config
    where = f" in dimension {dim}" if ndim > 1 else ""
    options = " and ".join(f"{m} ({side})" for m, side in ((below, "below"), (above, "above")) if m)
    message = (
        f"input_size {n}{where} does not fit this U-Net (depth {depth}, kernel {k}, {convs} convs per "
        f"level, padding '{padding}'): {err}; nearest valid input sizes: {options or 'none'}"
    )
    return UNetSizeError(message, err.layer, err.size, below, above)


def _level(i: int, per_dim_levels: Sequence[dict]) -> UNetLevel:
    def column(key: str):
        values = [lv.get(key) for lv in per_dim_levels]
        return None if values[0] is None else tuple(values)

    def rows(key: str):
        lists = [lv.get(key) or [] for lv in per_dim_levels]
        return tuple(zip(*lists))

    crops = column("crop")
    pads = column("pad")
    crop = (
        None
        if crops is None
        else CropBox(
            tuple(c.size[0] for c in crops),
            tuple(c.output_size[0] for c in crops),
            tuple(c.pad[0] for c in crops),
            tuple(c.start[0] for c in crops),
            tuple(c.stop[0] for c in crops),
        )
    )
    return UNetLevel(i, rows("encoder"), column("pooled"), column("up"), crop, pads, rows("decoder"))
