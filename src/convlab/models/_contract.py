"""The size contract of a U-Net, derived by walking its own plan one spatial dimension at a time.

Every layout (:class:`UNet`, :class:`MilesialUNet`, :class:`JvanvugtUNet`, and
any future one) lists its steps in a :class:`Plan`; this module walks that
plan with integers only and reads off what :mod:`convlab.tiling` needs: the
valid input sizes, the margin per side, the alignment (total stride) and the
halo. Nothing here looks at a layout's name or options: a new layout gets
its contract by writing its plan.

Per dimension, each feature map is followed as a :class:`_Feature`: its size,
where its pixel 0 sits in input coordinates (``offset``) and how many input
pixels one of its pixels spans (``scale``), and its *taint*, the pixels at
each end that differ from whole-image inference because the window ends
there (zero padding, clamped interpolation, pixels that never arrived).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from fractions import Fraction

from .. import nn
from .._args import ConvlabError, per_dim
from ..shapes import (
    SizeContract,
    conv_output_size,
    conv_transpose_output_size,
    pool_output_size,
    same_padding,
)

__all__ = ["NoSizeRule", "plan_contract"]

# Sizes searched for the smallest valid input: far above any U-Net of depth <= 10.
_SEARCH_LIMIT = 1 << 14
# The search walks every size below _SEARCH_LIMIT through every layer; a total
# stride above this (a U-Net deeper than 10 pools) is refused before walking,
# which bounds a contract's cost (about 10 s for depth 10 on one core).
MAX_TOTAL_STRIDE = 1 << 10
_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
# Layers that keep every size and read one pixel per output pixel (Dropout is an Identity).
_POINTWISE = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.ReLU, nn.Identity)


class NoSizeRule(ConvlabError):
    """A layer whose output size does not follow its input's: such a model has no size contract."""


@dataclass(frozen=True)
class _Feature:
    size: int
    offset: Fraction
    scale: Fraction
    taint: tuple[int, int]


@dataclass
class _Walk:
    """What one walk found besides the output: total stride, and whether the result is trustworthy."""

    alignment: Fraction = Fraction(1)
    sizes_only: bool = False  # search mode: sizes and strides only, no offsets or taints
    met: bool = False  # the taints of both ends met somewhere: the halo is not yet the edge's alone
    resamples_by_size: bool = False  # align_corners=True: positions depend on the window's size


@functools.lru_cache(maxsize=1 << 16)
def _window_size(n: int, k: int, s: int, dil: int, lo: int, hi: int, ceil_mode: bool, pool: bool) -> int:
    """The output size of a conv or pool (memoised: the contract walks the same sizes many times)."""
    if pool:
        return pool_output_size(n, k, s, lo, dil, ceil_mode)
    return conv_output_size((n,), (k,), (s,), ((lo, hi),), (dil,))[0]


@dataclass(frozen=True)
class _Window:
    """A conv or pool in one dimension: output j reads inputs ``j*s - lo .. j*s - lo + dil*(k-1)``."""

    k: int
    s: int
    dil: int
    padding: object  # (lo, hi), or 'same' (resolved per size: it depends on it for strides > 1)
    ceil_mode: bool = False
    pool: bool = False

    def __call__(self, f: _Feature, walk: _Walk) -> _Feature:
        k, s, dil = self.k, self.s, self.dil
        lo, hi = same_padding(f.size, k, s, dil) if self.padding == "same" else self.padding
        m = _window_size(f.size, k, s, dil, lo, hi, self.ceil_mode, self.pool)
        walk.alignment = max(walk.alignment, f.scale * s)
        if walk.sizes_only:
            return _Feature(m, f.offset, f.scale * s, f.taint)
        reach, (left, right) = dil * (k - 1), f.taint
        taint = (
            min(m, max(0, -(-(left + lo) // s))),
            min(m, max(0, m - -(-(f.size - right + lo - reach) // s))),
        )
        return _Feature(m, f.offset + f.scale * (Fraction(reach, 2) - lo), f.scale * s, taint)


@dataclass(frozen=True)
class _Transposed:
    """A transposed conv in one dimension: input i feeds outputs ``i*s - lo + t*dil``, ``t < k``."""

    k: int
    s: int
    dil: int
    lo: int
    output_padding: int

    def __call__(self, f: _Feature, walk: _Walk) -> _Feature:
        k, s, dil, lo = self.k, self.s, self.dil, self.lo
        m = conv_transpose_output_size(f.size, k, s, lo, self.output_padding, dil)
        if walk.sizes_only:
            return _Feature(m, f.offset, f.scale / s, f.taint)
        reach, (left, right) = dil * (k - 1), f.taint
        taint = (
            min(m, max(0, s * (left - 1) + reach - lo + 1)),
            min(m, max(0, m - (s * (f.size - right) - lo))),
        )
        scale = f.scale / s
        return _Feature(m, f.offset - scale * (Fraction(reach, 2) - lo), scale, taint)


def _reads(mode: str, n: int, factor: Fraction, j: int) -> tuple[int, int]:
    """The first and last input pixel output ``j`` of an interpolation reads (outside [0, n): clamped).

    align_corners=True is read as False: its positions depend on the window's
    size, so no halo is exact and the one of align_corners=False is the
    approximation (the contract says ``exact=False``).
    """
    if mode in ("nearest", "nearest-exact"):
        first = math.floor((j + (mode == "nearest-exact") * Fraction(1, 2)) / factor)
        return first, first
    x = (j + Fraction(1, 2)) / factor - Fraction(1, 2)
    width = 2 if mode == "bicubic" else 1
    return (math.floor(x) - (width - 1) if x >= 0 else -1), math.ceil(x) + (width - 1)


@dataclass(frozen=True)
class _Resample:
    """An Upsample by a scale factor in one dimension."""

    factor: Fraction
    mode: str
    by_size: bool  # align_corners=True: sampling positions depend on the size

    def __call__(self, f: _Feature, walk: _Walk) -> _Feature:
        n, factor = f.size, self.factor
        m = math.floor(n * factor)
        if m < 1:
            raise ConvlabError(f"empty output of an Upsample from size {n}")
        walk.resamples_by_size |= self.by_size
        scale = f.scale / factor
        if walk.sizes_only:
            return _Feature(m, f.offset, scale, f.taint)
        left = right = 0
        while left < m and _reads(self.mode, n, factor, left)[0] < f.taint[0]:
            left += 1
        while right < m and _reads(self.mode, n, factor, m - 1 - right)[1] >= n - f.taint[1]:
            right += 1
        return _Feature(m, f.offset - f.scale * (factor - 1) / (2 * factor), scale, (left, right))


def _conv_op(module, d: int):
    k, s, dil = module.kernel_size[d], module.stride[d], module.dilation[d]
    if isinstance(module, _TRANSPOSED):
        lo = per_dim(module.padding, "padding", len(module.kernel_size))[d]
        return _Transposed(k, s, dil, lo, module.output_padding[d])
    if isinstance(module.padding, str):
        return _Window(k, s, dil, "same" if module.padding == "same" else (0, 0))
    p = module.padding[d]
    return _Window(k, s, dil, (p, p))


def _pool_op(module, d: int, nd: int):
    k = per_dim(module.kernel_size, "kernel_size", nd)[d]
    s = per_dim(module.kernel_size if module.stride is None else module.stride, "stride", nd)[d]
    p = per_dim(module.padding, "padding", nd)[d]
    dil = per_dim(getattr(module, "dilation", 1), "dilation", nd)[d]
    return _Window(k, s, dil, (p, p), bool(module.ceil_mode), pool=True)


def _upsample_op(name: str, module: nn.Upsample, d: int):
    if module.scale_factor is None:
        raise NoSizeRule(f"layer {name} (Upsample) has a fixed output size, which ignores the input size")
    scales = module.scale_factor if isinstance(module.scale_factor, (tuple, list)) else [module.scale_factor]
    factor = Fraction(scales[d] if len(scales) > 1 else scales[0]).limit_denominator(1 << 20)
    by_size = bool(module.align_corners) and module.mode not in ("nearest", "nearest-exact")
    return _Resample(factor, module.mode, by_size)


def compile_steps(steps, d: int, ndim: int) -> list:
    """The one-dimensional operations of ``(name, module)`` steps in dimension ``d`` of ``ndim``, in order."""
    ops = []
    for name, module in steps:
        children = list(module.named_children())
        if children:
            ops += compile_steps([(f"{name}.{c}", m) for c, m in children], d, ndim)
        elif isinstance(module, _CONVS + _TRANSPOSED):
            ops.append(_conv_op(module, d))
        elif isinstance(module, _POOLS):
            ops.append(_pool_op(module, d, ndim))
        elif isinstance(module, nn.Upsample):
            ops.append(_upsample_op(name, module, d))
        elif not isinstance(module, _POINTWISE):
            raise NoSizeRule(f"layer {name} ({type(module).__name__}) has no size rule for a size contract")
    return ops


def _walk_ops(ops, f: _Feature, walk: _Walk) -> _Feature:
    for op in ops:
        f = op(f, walk)
        walk.met |= sum(f.taint) >= f.size
    return f


def _merge(merge, skip: _Feature, up: _Feature, sizes_only: bool) -> _Feature:
    if skip.scale != up.scale:
        raise ConvlabError(f"a skip at scale {skip.scale} meets up-sampled features at scale {up.scale}")
    box, pads = merge.window((skip.size,), (up.size,))
    if sizes_only:
        return up if box is not None else replace(skip, taint=up.taint)
    if box is not None:
        start = box.start[0]
        after = skip.size - start - up.size
        taint = (max(up.taint[0], skip.taint[0] - start), max(up.taint[1], skip.taint[1] - after))
        return replace(up, taint=taint)
    (lo, hi), (left, right) = pads[0], up.taint
    taint = (
        max(skip.taint[0], left + lo if left or lo else 0),
        max(skip.taint[1], right + hi if right or hi else 0),
    )
    return _Feature(skip.size, up.offset - up.scale * lo, up.scale, taint)


@dataclass(frozen=True)
class _Compiled:
    """A plan's steps as one-dimensional operations of one dimension."""

    encoder: list
    decoder: list
    head: list
    merge: object


def _compile(plan, d: int, ndim: int) -> _Compiled:
    decoder = [(compile_steps(up, d, ndim), compile_steps(convs, d, ndim)) for up, _, convs in plan.decoder]
    encoder = [compile_steps(steps, d, ndim) for steps in plan.encoder]
    return _Compiled(encoder, decoder, compile_steps(plan.head, d, ndim), plan.merge)


def _run(plan: _Compiled, n: int, sizes_only: bool = False) -> tuple[_Feature, _Walk] | None:
    """The output feature of input size ``n``, or None if ``n`` does not go through."""
    walk = _Walk(sizes_only=sizes_only)
    f = _Feature(n, Fraction(0), Fraction(1), (0, 0))
    try:
        skips = []
        for ops in plan.encoder:
            f = _walk_ops(ops, f, walk)
            skips.append(f)
        skips.pop()
        for up, convs in plan.decoder:
            f = _merge(plan.merge, skips.pop(), _walk_ops(up, f, walk), sizes_only)
            walk.met |= sum(f.taint) >= f.size
            f = _walk_ops(convs, f, walk)
        f = _walk_ops(plan.head, f, walk)
    except ConvlabError:
        return None
    return f, walk


def _dim_contract(plan: _Compiled, d: int) -> tuple[int, int, tuple[int, int], int, int, bool]:
    """``(smallest, step, (lo, hi), alignment, halo, exact)`` of dimension ``d``."""
    stride = math.prod(op.s for ops in plan.encoder for op in ops if isinstance(op, _Window))
    if stride > MAX_TOTAL_STRIDE:
        raise ConvlabError(
            f"the encoder's total stride is {stride} in dimension {d}; size contracts (tiling) are "
            f"derived for total strides up to {MAX_TOTAL_STRIDE} (a U-Net of depth <= 10)"
        )
    n0 = next((n for n in range(1, _SEARCH_LIMIT) if _run(plan, n, True) is not None), None)
    if n0 is None:
        raise ConvlabError(f"no input size below {_SEARCH_LIMIT} goes through this network (dimension {d})")
    first, walk = _run(plan, n0, True)
    if first.scale != 1:
        raise NoSizeRule(
            f"the output's resolution differs from the input's by {first.scale} in dimension {d}"
        )
    alignment = walk.alignment
    if alignment.denominator != 1:
        raise NoSizeRule(f"the total stride {alignment} of dimension {d} is not an integer")
    period = int(alignment)
    # Valid: the network takes n and loses exactly the margin. Sizes that
    # run but lose more (a pool flooring an odd size, the pixel cropped
    # away later) are not: their output is not n - margin.
    losses = {}
    for n in range(n0, n0 + 3 * period + 1):
        found = _run(plan, n, True)
        if found is not None:
            losses[n] = n - found[0].size
    margin = min(losses.values())
    valid = [n for n, loss in losses.items() if loss == margin]
    smallest = valid[0]
    step = math.gcd(*(n - smallest for n in valid[1:]))
    if not step or any(
        (n in valid) != ((n - smallest) % step == 0) for n in range(smallest, n0 + 3 * period)
    ):
        raise NoSizeRule(f"the valid sizes of dimension {d} are not a progression: {valid}")
    out, walk = _run(plan, smallest)
    # Even kernels centre output pixels between input pixels: the margin's
    # split only has to be the same for every window, so it is floored.
    lo = math.floor(out.offset)
    halo = _halo(plan, d, smallest, step, period)
    return smallest, step, (lo, margin - lo), period, halo, not walk.resamples_by_size


def _halo(plan, d: int, smallest: int, step: int, period: int) -> int:
    """The output pixels a window's edge changes, rounded up to the alignment.

    Measured at a size large enough that the two edges' reaches never meet.
    """
    n = smallest + step * -(-8 * period // step)
    for _ in range(12):
        out, walk = _run(plan, n)
        if not walk.met:
            reach = max(out.taint)
            return -(-reach // period) * period
        n += n - smallest
    raise ConvlabError(f"the edge's reach in dimension {d} does not settle; no halo found")


def plan_contract(plan, ndim: int) -> SizeContract:
    """The :class:`~convlab.shapes.SizeContract` of a U-Net's :class:`Plan` with ``ndim`` spatial dimensions.

    Valid sizes: those the plan takes while losing exactly the margin. The
    margin's ``lo`` is where output pixel 0 sits in the input. Alignment:
    the largest stride any feature map has relative to the input. Halo: how
    far a window's edge changes the output, in pixels, rounded up to the
    alignment so that windows stay on the whole image's pooling grid.
    """
    compiled = [_compile(plan, d, ndim) for d in range(ndim)]
    dims = []
    for d, ops in enumerate(compiled):
        # Isotropic networks (all of convlab's) walk once, not once per dimension.
        same = next((dims[e] for e in range(d) if compiled[e] == ops), None)
        dims.append(same or _dim_contract(ops, d))
    return SizeContract(
        smallest=tuple(x[0] for x in dims),
        step=tuple(x[1] for x in dims),
        margin=tuple(x[2] for x in dims),
        alignment=tuple(x[3] for x in dims),
        halo=tuple(x[4] for x in dims),
        exact=all(x[5] for x in dims),
    )
