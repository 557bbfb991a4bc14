"""The one coordinate map of every windowed operator, per spatial dimension.

A convolution, a pooling, ``unfold``/``fold`` and (as the adjoint) a
transposed convolution all relate two grids along each spatial dimension:
the *image* (``size`` positions, with ``lo`` padding before and ``hi`` after)
and the *windows*. Window ``y`` and kernel tap ``t`` touch image position::

    x = y * stride + t * dilation - lo

(PyTorch's ``Convolution.cpp``/``im2col.h`` indexing, which ONNX's ``Conv``
and ``ConvTranspose`` specifications repeat). Positions outside ``0..size-1``
are padding. :meth:`Window.index` is the only place in convlab that writes
this map; the fast operators read it as strided slices
(:meth:`Window.tap_slices`), the sparse conv matrix as index arrays, the
receptive field and the pictures as integers.

A transposed convolution with input size ``n`` scatters its input pixel
``y`` through the same map onto an image of :attr:`Window.transpose_output`
positions; :meth:`Window.forward` is the convolution it is the adjoint of.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

from .._args import ConvlabError, as_int, describe, is_sequence
from ._formulas import conv_output_size, conv_transpose_output_size, pool_output_size

__all__ = ["Phase1d", "TapSlice", "Window"]


class TapSlice(NamedTuple):
    """One tap's reads for a run of windows: ``image[image_slice]`` pairs with ``windows[window_slice]``."""

    image: slice
    windows: slice


class Phase1d(NamedTuple):
    """One stride phase of a transposed convolution along one dimension.

    Its outputs are ``offset, offset + stride, ...`` (``size`` of them); they
    receive only ``taps`` (descending), and equal a stride-1 convolution of the
    input with those taps, padded by ``padding`` (negative crops), dilated by
    ``dilation``.
    """

    residue: int
    offset: int
    size: int
    taps: tuple[int, ...]
    padding: tuple[int, int]
    dilation: int


@dataclass(frozen=True)
class Window:
    """One spatial dimension of a windowed operator, canonical and validated.

    Parameters
    ----------
    size : int or None
        Input positions (of a convolution or pooling; for a transposed
        convolution, its input). ``None`` is an unbounded line: only the
        coordinate map is defined (receptive fields of size-free chains).
    kernel : int
    stride, dilation : int
    padding : int or (lo, hi)
    output_padding : int
        Transposed convolutions only: positions added after the output.
    ceil_mode : bool
        Pooling only: a last partial window that starts inside the input or
        the padding before it counts.

    Examples
    --------
    >>> w = Window(5, 3, stride=2, padding=1)
    >>> w.conv_output, w.reads(0), w.reads(2)
    (3, (0, 1), (3, 4))
    >>> w.index(1, 0), Window(3, 3, stride=2, padding=1, output_padding=1).transpose_output
    (1, 6)
    """

    size: int | None
    kernel: int
    stride: int = 1
    dilation: int = 1
    padding: tuple[int, int] = (0, 0)
    output_padding: int = 0
    ceil_mode: bool = False

    def __post_init__(self) -> None:
        if _canonical(self):
            return  # the operators build Windows from values _args already checked: skip the work
        if self.size is not None:
            object.__setattr__(self, "size", as_int(self.size, "size", minimum=1))
        for name in ("kernel", "stride", "dilation"):
            object.__setattr__(self, name, as_int(getattr(self, name), name, minimum=1))
        object.__setattr__(self, "padding", _pair(self.padding))
        object.__setattr__(self, "output_padding", as_int(self.output_padding, "output_padding", minimum=0))
        if not isinstance(self.ceil_mode, bool):
            raise TypeError(f"ceil_mode must be a bool, got {describe(self.ceil_mode)}")

    @property
    def lo(self) -> int:
        return self.padding[0]

    @property
    def hi(self) -> int:
        return self.padding[1]

    @property
    def span(self) -> int:
        """Input positions from the first tap to the last: ``dilation*(kernel - 1) + 1``."""
        return self.dilation * (self.kernel - 1) + 1

    def index(self, y, t):
        """Image position of window ``y``, tap ``t``; ints or broadcasting integer arrays.

        Negative or ``>= size`` results are padding.
        """
        return y * self.stride + t * self.dilation - self.lo

    def window_of(self, x: int, t: int) -> int | None:
        """The window whose tap ``t`` lands on image position ``x``, or ``None`` between windows."""
        y, rest = divmod(x - self.index(0, t), self.stride)
        return None if rest else y

    def reads(self, y: int) -> tuple[int, ...]:
        """The input positions window ``y`` reads, in tap order; padding left out."""
        inside = (self.index(y, t) for t in range(self.kernel))
        return tuple(x for x in inside if 0 <= x < self._bounded())

    def written_by(self, i: int) -> tuple[int, ...]:
        """The outputs of the transposed convolution that its input ``i`` adds into, in tap order."""
        out = self.transpose_output
        return tuple(x for x in (self.index(i, t) for t in range(self.kernel)) if 0 <= x < out)

    @property
    def conv_output(self) -> int:
        """Windows of a convolution: :func:`convlab.shapes.conv_output_size`."""
        return conv_output_size(*self._dims())[0]

    @property
    def pool_output(self) -> int:
        """Windows of a pooling: :func:`convlab.shapes.pool_output_size`, with ``ceil_mode``."""
        return pool_output_size(*self._dims(), ceil_mode=self.ceil_mode)[0]

    @property
    def transpose_output(self) -> int:
        """Output of the transposed convolution: :func:`convlab.shapes.conv_transpose_output_size`."""
        size, kernel, stride, padding, dilation = self._dims()
        return conv_transpose_output_size(size, kernel, stride, padding, (self.output_padding,), dilation)[0]

    def _dims(self) -> tuple[tuple, ...]:
        """(size, kernel, stride, padding, dilation) as one-dimensional arguments of the formulas."""
        return (self._bounded(),), (self.kernel,), (self.stride,), (self.padding,), (self.dilation,)

    def forward(self) -> Window:
        """The convolution whose adjoint this transposed convolution is: its input is our output."""
        return Window(self.transpose_output, self.kernel, self.stride, self.dilation, self.padding)

    # Cached: the chunks of every sample ask for the same runs of windows again.
    @functools.lru_cache(maxsize=1024)  # noqa: B019 - Windows are small, frozen and shared
    def tap_slices(self, start: int = 0, stop: int | None = None) -> tuple[TapSlice | None, ...]:
        """Per tap: the image slice read by windows ``start..stop-1`` and their slice from ``start``.

        ``None`` for a tap whose every window of the run lands in padding.
        ``stop`` defaults to :attr:`conv_output` (or :attr:`pool_output`
        with ``ceil_mode``).
        """
        n, s = self._bounded(), self.stride
        if stop is None:
            stop = self.pool_output if self.ceil_mode else self.conv_output
        result: list[TapSlice | None] = []
        for t in range(self.kernel):
            base = self.index(0, t)
            # 0 <= index(y, t) <= n - 1  <=>  ceil(-base / s) <= y <= floor((n - 1 - base) / s)
            first, last = max(start, -(base // s)), min(stop, (n - 1 - base) // s + 1)
            if first >= last:
                result.append(None)
                continue
            x0 = self.index(first, t)
            result.append(
                TapSlice(slice(x0, x0 + (last - first - 1) * s + 1, s), slice(first - start, last - start))
            )
        return tuple(result)

    @property
    def stuffed_padding(self) -> tuple[int, int]:
        """Padding of the zero-inserted input that turns the transposed conv into a stride-1 conv.

        ``(span - 1 - lo, span - 1 - hi + output_padding)``; negative crops.
        """
        return self.span - 1 - self.lo, self.span - 1 - self.hi + self.output_padding

    def phase(self, offset: int) -> Phase1d:
        """The stride phase of the transposed convolution whose first output is ``offset``.

        Output ``o = index(i, t)`` gives ``(o + lo) mod s = (d*t) mod s``; with
        ``d*t = r + m_t*s`` and ``o = offset + j*s`` the input is
        ``i = j + (offset + lo - r)/s - m_t``: a stride-1 convolution in ``j``
        whose taps are ``d/gcd(d, s)`` apart and flipped.
        """
        n, k, s, d, lo = self._bounded(), self.kernel, self.stride, self.dilation, self.lo
        r = (offset + lo) % s
        size = max(0, -(-(self.transpose_output - offset) // s))
        taps = tuple(t for t in reversed(range(k)) if (d * t) % s == r)
        dil = d // math.gcd(d, s)
        if not taps:
            return Phase1d(r, offset, size, taps, (0, 0), dil)
        # The first sub-kernel tap (largest t) has the largest m_t.
        pad_lo = (d * taps[0] - r) // s - (offset + lo - r) // s
        return Phase1d(r, offset, size, taps, (pad_lo, size - n - pad_lo + dil * (len(taps) - 1)), dil)

    def _bounded(self) -> int:
        if self.size is None:
            raise ConvlabError("this Window has size=None (an unbounded line): it has no output size")
        return self.size

    @classmethod
    def per_dim(cls, size, kernel, stride, dilation, padding, output_padding=None, ceil_mode=False):
        """One :class:`Window` per spatial dimension from canonical per-dimension tuples."""
        ops = output_padding or (0,) * len(kernel)
        return tuple(
            cls(*fields, ceil_mode=ceil_mode) for fields in zip(size, kernel, stride, dilation, padding, ops)
        )


def _canonical(w: Window) -> bool:
    """Whether every field already has its canonical type and range (plain ints, a pair, a bool)."""
    ints = (w.kernel, w.stride, w.dilation)
    pad = w.padding
    return (
        (w.size is None or (type(w.size) is int and w.size >= 1))
        and all(type(v) is int and v >= 1 for v in ints)
        and type(pad) is tuple
        and len(pad) == 2
        and all(type(v) is int and v >= 0 for v in pad)
        and type(w.output_padding) is int
        and w.output_padding >= 0
        and type(w.ceil_mode) is bool
    )


def _pair(padding: object) -> tuple[int, int]:
    if is_sequence(padding):
        items = tuple(padding)  # type: ignore[arg-type]
        if len(items) != 2:
            raise ConvlabError(f"padding must be an int or a (lo, hi) pair, got padding={describe(padding)}")
    else:
        items = (padding, padding)
    lo, hi = (as_int(v, "padding", minimum=0) for v in items)
    return lo, hi
