"""The stride-phase (sub-pixel) decomposition of a transposed convolution.

Per dimension, input pixel ``i`` and tap ``t`` reach output ``o =
Window.index(i, t)`` (:class:`convlab.shapes.Window`, which holds the
per-dimension algebra below), so ``(o + lo) mod s = (d*t) mod s``: the outputs
of residue ``r`` receive only the taps with ``d*t = r (mod s)``, and every
other tap would multiply a zero inserted between input pixels. Writing ``d*t =
r + m_t*s`` and ``o = offset + j*s`` (``offset`` the first output of residue
``r``), the input pixel is ``i = j + (offset + lo - r)/s - m_t``: a stride-1
convolution in ``j``. Consecutive taps of the residue are ``s/gcd(d, s)``
apart, so their ``m_t`` are ``d/gcd(d, s)`` apart: that is the
sub-convolution's dilation, and since ``i`` falls as ``t`` grows, its kernel
is the taps flipped.

``prod(stride)`` such convolutions, one per combination of residues, tile the
output: each output pixel belongs to exactly one.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .._args import ConvlabError, Pairs, describe
from ..functional._conv import IntArg
from ._setup import CONV, ConvArgs, finish, swap_groups, transpose_setup, window

__all__ = ["MAX_PHASES", "Phase", "conv_transpose_by_phases"]

# Each phase is a Python-level convolution call: 65536 of them already take
# seconds, and a stride of 10**7 would never finish.
MAX_PHASES = 1 << 16


@dataclass(frozen=True, eq=False)
class Phase:
    """One stride phase: an ordinary stride-1 convolution producing every ``stride``-th output pixel.

    ``out[..., offset + j*stride] = conv(x, weight, padding=padding,
    dilation=dilation, groups=groups)[..., j]`` per dimension, for ``j`` in
    ``0..size-1`` (a negative padding crops the input).

    Attributes
    ----------
    residue : tuple of int
        ``(o + lo) mod stride`` of this phase's outputs ``o``, per dimension.
    offset : tuple of int
        First output index of the phase, per dimension.
    size : tuple of int
        Number of output pixels of the phase per dimension; 0 when the output
        is shorter than the stride.
    taps : tuple of tuple of int
        Per dimension, the indices into the transposed convolution's kernel
        that the phase uses, in the order of ``weight``'s axis (descending).
        Empty when no tap reaches the phase (its outputs are the bias alone).
    weight : numpy.ndarray, shape ``(C_out, C_in/groups, *map(len, taps))``
        The sub-kernel in the ordinary convolution layout (output channels
        first, taps flipped), ready for ``conv1d/2d/3d``.
    padding : tuple of (lo, hi) per dimension
        Zero padding of the original input; negative values crop. Meaningful
        only when the phase is not :attr:`empty`.
    dilation : tuple of int
        ``dilation / gcd(dilation, stride)`` per dimension.
    groups : int
    """

    residue: tuple[int, ...]
    offset: tuple[int, ...]
    size: tuple[int, ...]
    taps: tuple[tuple[int, ...], ...]
    weight: np.ndarray
    padding: Pairs
    dilation: tuple[int, ...]
    groups: int

    @property
    def empty(self) -> bool:
        """Whether the phase computes nothing: no output pixels or no taps."""
        return 0 in self.size or any(not t for t in self.taps)


def _phases(setup: ConvArgs) -> list[Phase]:
    w_conv = swap_groups(setup.w, setup.groups)
    per_axis = [[win.phase(offset) for offset in range(win.stride)] for win in setup.windows]
    phases = []
    for axes in itertools.product(*per_axis):
        residue, offset, size, taps, pads, dil = (tuple(field) for field in zip(*axes))
        index = np.ix_(*(np.array(t, dtype=np.intp) for t in taps))
        weight = np.ascontiguousarray(w_conv[(slice(None), slice(None), *index)])
        phases.append(Phase(residue, offset, size, taps, weight, pads, dil, setup.groups))
    return phases


def conv_transpose_by_phases(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntArg = 1,
    padding: IntArg = 0,
    output_padding: IntArg = 0,
    groups: int = 1,
    dilation: IntArg = 1,
    return_phases: bool = False,
) -> np.ndarray | tuple[np.ndarray, list[Phase]]:
    """Transposed convolution as ``prod(stride)`` stride-1 convolutions whose outputs interleave.

    Parameters
    ----------
    input : array_like, shape ``(N, C_in, *size)`` or ``(C_in, *size)``
    weight : array_like, shape ``(C_in, C_out/groups, *k)``
    bias : array_like, shape ``(C_out,)``, optional
    stride, padding, output_padding, groups, dilation
        As :func:`convlab.functional.conv_transpose2d` (``(lo, hi)`` pairs accepted).
    return_phases : bool
        Also return the list of :class:`Phase` descriptions, offsets in C order.

    Returns
    -------
    numpy.ndarray, shape ``(N, C_out, *out)`` (no ``N`` if unbatched)
        Followed by ``list[Phase]`` of length ``prod(stride)`` if ``return_phases``.

    Notes
    -----
    One stride-1 convolution per phase: ``prod(stride)`` is bounded by
    ``MAX_PHASES`` (65536), beyond which the call is refused.

    No multiplication touches an inserted zero: the phases together use
    each kernel tap once per input pixel, ``1/prod(stride)`` of the work of
    :func:`conv_transpose_by_zero_insertion`. A kernel of size ``k`` splits
    into sub-kernels of ``ceil(k / stride)`` or ``floor(k / stride)`` taps
    (for dilation 1); ``k = 2, stride = 2`` gives four 1x1 convolutions.

    Examples
    --------
    >>> x = np.array([[[1.0, 2.0]]])
    >>> out, phases = conv_transpose_by_phases(x, np.array([[[1.0, 10.0, 100.0]]]), stride=2,
    ...                                        return_phases=True)
    >>> out
    array([[[  1.,  10., 102.,  20., 200.]]])
    >>> [(p.offset, p.taps, p.weight.ravel().tolist()) for p in phases]
    [((0,), ((2, 0),), [100.0, 1.0]), ((1,), ((1,),), [10.0])]
    """
    setup = transpose_setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    if not isinstance(return_phases, bool):
        raise TypeError(
            f"return_phases must be a bool, got {type(return_phases).__name__} {describe(return_phases)}"
        )
    count = math.prod(setup.stride)
    if count > MAX_PHASES:
        raise ConvlabError(
            f"conv_transpose_by_phases splits into prod(stride) = {count} phases, more than its bound "
            f"of {MAX_PHASES}; got stride={describe(stride)} (conv_transpose_by_matrix or "
            "convlab.functional.conv_transpose*d compute the same without one convolution per phase)"
        )
    x = setup.x
    out = np.zeros((x.shape[0], setup.w.shape[1] * setup.groups, *setup.out_shape), dtype=x.dtype)
    phases = _phases(setup)
    for phase in phases:
        if phase.empty:
            continue
        lo = tuple(p for p, _ in phase.padding)
        sub = window(x, lo, tuple(n + a + b for n, (a, b) in zip(x.shape[2:], phase.padding)))
        part = CONV[setup.ndim](sub, phase.weight, None, 1, 0, phase.dilation, phase.groups)
        out[(Ellipsis, *(slice(o, None, s) for o, s in zip(phase.offset, setup.stride)))] = part
    result = finish(out, setup)
    return (result, phases) if return_phases else result
