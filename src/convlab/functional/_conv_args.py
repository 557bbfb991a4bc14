"""Validation of the array arguments of convolutions, once, at the public boundary.

Integers go through :mod:`convlab._args`, sizes through :mod:`convlab.shapes`;
this module checks what relates the arrays to each other (ranks, channel
counts, groups, bias) so that nothing deeper fails with a NumPy broadcast
or index error.
"""

from __future__ import annotations

import numpy as np

from .._args import ConvlabError, as_int, padding_pairs
from ..shapes import same_padding
from ._arrays import as_float_array, batched, result_dtype
from ._pad import pad

__all__ = ["PADDING_MODES", "ConvArrays", "check_padding_mode", "conv_arrays", "conv_padding", "pad_by_mode"]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

# (input (N, C, *spatial), weight, bias or None, was the input unbatched)
ConvArrays = tuple[np.ndarray, np.ndarray, "np.ndarray | None", bool]


def conv_arrays(
    input: object, weight: object, bias: object, groups: object, ndim: int, *, transposed: bool
) -> tuple[ConvArrays, int]:
    """Checked, C-contiguous arrays in the common dtype, and ``groups`` as an int.

    ``weight`` is ``(C_out, C_in/groups, *k)`` for a convolution and
    ``(C_in, C_out/groups, *k)`` for a transposed one.
    """
    x = as_float_array(input, "input")
    w = as_float_array(weight, "weight")
    b = None if bias is None else as_float_array(bias, "bias")
    g = as_int(groups, "groups", minimum=1)
    x, unbatched = batched(x, ndim)
    if 0 in x.shape[2:]:
        raise ConvlabError(f"input must have non-empty spatial dimensions, got input of shape {x.shape}")
    _check_weight_rank(w, ndim, transposed)
    c_in = x.shape[1]
    per_group_in = w.shape[0] // g if transposed else w.shape[1]
    c_out = w.shape[1] * g if transposed else w.shape[0]
    if c_in % g:
        raise ConvlabError(
            f"groups must divide the input channels, got groups={g} for input of shape {x.shape}"
        )
    if (w.shape[0] if transposed else c_out) % g:
        what = "input" if transposed else "output"
        raise ConvlabError(
            f"groups must divide the {what} channels weight.shape[0] = {w.shape[0]}, "
            f"got groups={g} for weight of shape {w.shape}"
        )
    if (w.shape[0] if transposed else per_group_in * g) != c_in:
        rule = "weight.shape[0]" if transposed else f"weight.shape[1] * groups = {w.shape[1]} * {g}"
        raise ConvlabError(
            f"input has {c_in} channels but weight expects {rule} = "
            f"{w.shape[0] if transposed else per_group_in * g}: got input of shape {x.shape}, "
            f"weight of shape {w.shape}, groups={g}"
        )
    if b is not None and b.shape != (c_out,):
        raise ConvlabError(
            f"bias must have shape ({c_out},) (one per output channel), got bias of shape {b.shape}"
        )
    dtype = result_dtype(x, w) if b is None else result_dtype(x, w, b)
    x, w = (np.ascontiguousarray(a, dtype=dtype) for a in (x, w))
    return (x, w, None if b is None else b.astype(dtype, copy=False), unbatched), g


def _check_weight_rank(w: np.ndarray, ndim: int, transposed: bool) -> None:
    kernel = ", ".join(("kD", "kH", "kW")[3 - ndim :])
    layout = "C_in, C_out/groups" if transposed else "C_out, C_in/groups"
    if w.ndim != ndim + 2:
        raise ConvlabError(
            f"weight must have shape ({layout}, {kernel}) for {ndim} spatial dimension"
            f"{'s' if ndim > 1 else ''}, got weight of shape {w.shape}"
        )
    if 0 in w.shape:
        raise ConvlabError(f"weight must not have an empty dimension, got weight of shape {w.shape}")


def conv_padding(
    padding: object, spatial: tuple[int, ...], kernel: tuple[int, ...], stride, dilation
) -> tuple[tuple[int, int], ...]:
    """``((lo, hi), ...)`` from any accepted ``padding``; ``'same'`` resolved per size (SAME_UPPER)."""
    pairs = padding_pairs(padding, len(spatial))
    if pairs == "same":
        pairs = same_padding(spatial, kernel, stride, dilation)
    return pairs  # type: ignore[return-value]


def check_padding_mode(padding_mode: object) -> str:
    if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
        raise ConvlabError(
            f"padding_mode must be one of {', '.join(map(repr, PADDING_MODES))}, "
            f"got padding_mode={padding_mode!r}"
        )
    return padding_mode


def pad_by_mode(x: np.ndarray, pairs: tuple[tuple[int, int], ...], padding_mode: str) -> np.ndarray:
    """``x`` padded explicitly with a non-zero ``padding_mode``, as ``nn.Conv*d`` does before it convolves."""
    for dim, ((lo, hi), n) in enumerate(zip(pairs, x.shape[2:])):
        # PyTorch's limits: reflect never repeats the edge, circular wraps at most once.
        if (padding_mode == "reflect" and max(lo, hi) >= n) or (
            padding_mode == "circular" and max(lo, hi) > n
        ):
            bound = "smaller than" if padding_mode == "reflect" else "at most"
            raise ConvlabError(
                f"padding must be {bound} the input size with padding_mode={padding_mode!r}: "
                f"padding ({lo}, {hi}) on size {n} in spatial dimension {dim}, input of shape {x.shape}"
            )
    flat = [p for pair in reversed(pairs) for p in pair]
    return pad(x, flat, mode=padding_mode)
