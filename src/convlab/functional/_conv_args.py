"""The canonical arguments of the convolution family, validated once at the public boundary.

One record, :class:`ConvArgs`, for convolutions and transposed convolutions:
the checked arrays cast by the call's :class:`NumericPolicy`, one
:class:`convlab.shapes.Window` per spatial dimension, ``groups`` and the
output size. The operators, the strategies of :mod:`._strategies` and the
lowering routes all read it; nothing below re-validates.

Integers go through :mod:`convlab._args`, sizes through :mod:`convlab.shapes`;
this module checks what relates the arrays to each other (ranks, channel
counts, groups, bias) so that nothing deeper fails with a NumPy broadcast
or index error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._args import ConvlabError, Pairs, as_int, describe, is_sequence, padding_pairs, per_dim
from ..shapes import Window, conv_output_size, conv_transpose_output_size, output_padding_for, same_padding
from ._arrays import batched
from ._budget import check_arrays
from ._pad import pad
from ._policy import NumericPolicy, float_policy, real_array

__all__ = [
    "PADDING_MODES",
    "ConvArgs",
    "check_padding_mode",
    "conv_args",
    "conv_padding",
    "pad_by_mode",
    "transpose_args",
]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


@dataclass(frozen=True, eq=False)
class ConvArgs:
    """One convolution or transposed convolution, canonical.

    ``x`` is batched ``(N, C_in, *size)`` (already padded when a non-zero
    ``padding_mode`` asked for it), ``w`` the weight in PyTorch's layout of
    the operator, both C-contiguous in ``policy.compute``. ``windows`` has one
    :class:`Window` per spatial dimension whose ``size`` is the input's.
    """

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    unbatched: bool
    groups: int
    windows: tuple[Window, ...]
    out_shape: tuple[int, ...]
    policy: NumericPolicy
    transposed: bool = False

    @property
    def ndim(self) -> int:
        return len(self.windows)

    @property
    def kernel(self) -> tuple[int, ...]:
        return tuple(win.kernel for win in self.windows)

    @property
    def stride(self) -> tuple[int, ...]:
        return tuple(win.stride for win in self.windows)

    @property
    def dilation(self) -> tuple[int, ...]:
        return tuple(win.dilation for win in self.windows)

    @property
    def pads(self) -> Pairs:
        return tuple(win.padding for win in self.windows)

    @property
    def lo(self) -> tuple[int, ...]:
        return tuple(win.lo for win in self.windows)

    @property
    def output_padding(self) -> tuple[int, ...]:
        return tuple(win.output_padding for win in self.windows)

    @property
    def image(self) -> tuple[Window, ...]:
        """The windows on the image grid: ours, or for a transposed conv those of its forward conv."""
        if not self.transposed:
            return self.windows
        return tuple(
            Window(n, w.kernel, w.stride, w.dilation, w.padding) for n, w in zip(self.out_shape, self.windows)
        )


def conv_args(
    input, weight, bias, stride, padding, dilation, groups, padding_mode, ndim: int, policy=None
) -> ConvArgs:
    """Canonical arguments of ``conv{ndim}d``; ``'same'`` resolved, a non-zero ``padding_mode`` applied.

    ``policy`` (a :class:`NumericPolicy`) is the caller's, e.g. an integer
    operator's; ``None`` resolves the float policy of the operands.
    """
    x, w, b, unbatched, g, policy = _arrays(
        input, weight, bias, groups, ndim, transposed=False, policy=policy
    )
    kernel = w.shape[2:]
    s = per_dim(stride, "stride", ndim, minimum=1)
    d = per_dim(dilation, "dilation", ndim, minimum=1)
    mode = check_padding_mode(padding_mode)
    pairs = conv_padding(padding, x.shape[2:], kernel, s, d)
    out_shape = conv_output_size(x.shape[2:], kernel, s, pairs, d)
    _check_budget(f"conv{ndim}d", x, w.shape[0], pairs, out_shape, policy, f"padding={describe(padding)}")
    if mode != "zeros" and any(p for pair in pairs for p in pair):
        x, pairs = pad_by_mode(x, pairs, mode), ((0, 0),) * ndim
    windows = Window.per_dim(x.shape[2:], kernel, s, d, pairs)
    return ConvArgs(x, w, b, unbatched, g, windows, tuple(out_shape), policy)


def transpose_args(
    input, weight, bias, stride, padding, output_padding, groups, dilation, output_size, ndim: int
):
    """Canonical arguments of ``conv_transpose{ndim}d``; ``output_size`` resolved to ``output_padding``."""
    x, w, b, unbatched, g, policy = _arrays(input, weight, bias, groups, ndim, transposed=True)
    kernel = w.shape[2:]
    s = per_dim(stride, "stride", ndim, minimum=1)
    d = per_dim(dilation, "dilation", ndim, minimum=1)
    pairs = padding_pairs(padding, ndim)
    if pairs == "same":
        raise ConvlabError("padding='same' is defined for convolutions only, got padding='same'")
    if output_size is not None:
        output_padding = _output_padding(
            output_size, output_padding, x.shape[2:], kernel, s, pairs, d, unbatched
        )
    op = per_dim(output_padding, "output_padding", ndim, minimum=0)
    out_shape = conv_transpose_output_size(x.shape[2:], kernel, s, pairs, op, d)
    asked = ", ".join(
        f"{name}={describe(value)}"
        for name, value in (("stride", stride), ("dilation", dilation), ("output_padding", output_padding))
    )
    _check_budget(f"conv_transpose{ndim}d", x, w.shape[1] * g, pairs, out_shape, policy, asked)
    windows = Window.per_dim(x.shape[2:], kernel, s, d, pairs, op)
    return ConvArgs(x, w, b, unbatched, g, windows, tuple(out_shape), policy, transposed=True)


def _check_budget(op: str, x, c_out: int, pairs, out_shape, policy, asked: str) -> None:
    """Refuse before allocating: the padded input (or output box) and the output, in accumulate precision.

    The per-tap chunks and im2col buffers are bounded separately by the
    workspace limit; these two arrays are not, since they grow with the
    user's padding, stride and output_padding.
    """
    n, c_in = x.shape[:2]
    padded = (n, c_in, *(size + lo + hi for size, (lo, hi) in zip(x.shape[2:], pairs)))
    check_arrays(
        f"{op}'s padded input and output ({asked})", policy.accumulate, padded, (n, c_out, *out_shape)
    )


def _output_padding(output_size, output_padding, size, kernel, stride, pairs, dilation, unbatched):
    """The output_padding that ``nn.ConvTranspose*d.forward(x, output_size)`` would pick."""
    ndim = len(size)
    sizes = tuple(output_size) if is_sequence(output_size) else output_size
    if is_sequence(sizes) and len(sizes) == ndim + (1 if unbatched else 2):
        # PyTorch accepts the whole output shape and reads its spatial tail.
        sizes = sizes[len(sizes) - ndim :]
    if is_sequence(sizes) and len(sizes) != ndim:
        raise ConvlabError(
            f"output_size must have {ndim} spatial sizes (or the full output shape), "
            f"got output_size={describe(output_size)}"
        )
    try:
        chosen = per_dim(
            output_padding_for(sizes, size, kernel, stride, pairs, dilation), "output_padding", ndim
        )
    except ConvlabError as err:
        raise ConvlabError(f"output_size={describe(output_size)} cannot be produced: {err}") from None
    given = per_dim(output_padding, "output_padding", ndim, minimum=0)
    if any(given) and given != chosen:
        raise ConvlabError(
            f"output_padding={describe(output_padding)} contradicts output_size={describe(output_size)}, "
            f"which needs output_padding={chosen}; pass one of them"
        )
    return chosen


def _arrays(input, weight, bias, groups, ndim: int, *, transposed: bool, policy=None):
    """Checked arrays in the call's float policy: ``(x, w, b, unbatched, groups, policy)``.

    ``weight`` is ``(C_out, C_in/groups, *k)`` for a convolution and
    ``(C_in, C_out/groups, *k)`` for a transposed one.
    """
    x = real_array(input, "input")
    w = real_array(weight, "weight")
    b = None if bias is None else real_array(bias, "bias")
    g = as_int(groups, "groups", minimum=1)
    x, unbatched = batched(x, ndim)
    if 0 in x.shape[2:]:
        raise ConvlabError(f"input must have non-empty spatial dimensions, got input of shape {x.shape}")
    _check_weight_rank(w, ndim, transposed)
    _check_channels(x, w, b, g, transposed)
    if policy is None:
        policy = float_policy(x, w) if b is None else float_policy(x, w, b)
    x, w = (policy.cast(a, contiguous=True) for a in (x, w))
    return x, w, None if b is None else policy.cast(b), unbatched, g, policy


def _check_channels(x, w, b, g: int, transposed: bool) -> None:
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
