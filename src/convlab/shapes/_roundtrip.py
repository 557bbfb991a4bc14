"""Why a transposed convolution does not undo a convolution's shape."""

from __future__ import annotations

from dataclasses import dataclass

from ._formulas import (
    PaddingArg,
    SizeArg,
    _canonical,
    _out,
    conv_input_sizes,
    conv_output_size,
    conv_transpose_output_size,
    output_padding_for,
)


@dataclass(frozen=True)
class Roundtrip:
    """A convolution followed by the transposed convolution with the same parameters.

    Attributes
    ----------
    size : int or tuple
        The input size.
    conv_size : int or tuple
        After the convolution.
    back_size : int or tuple
        After the transposed convolution with ``output_padding=0``.
    output_padding : int or tuple
        The ``output_padding`` that gives ``size`` back.
    same_conv_size : range or tuple of range
        Every input size the convolution maps to ``conv_size``: the transposed
        convolution cannot tell them apart, hence ``output_padding``.
    padding : tuple of (int, int)
        The padding used by both, resolved (``'same'`` becomes its pairs).
    """

    size: int | tuple[int, ...]
    conv_size: int | tuple[int, ...]
    back_size: int | tuple[int, ...]
    output_padding: int | tuple[int, ...]
    same_conv_size: range | tuple[range, ...]
    padding: tuple[tuple[int, int], ...]

    def _repr_html_(self) -> str:
        """Jupyter's view: the sizes of the round trip in a small table."""
        from .._html import record

        return record(
            "conv then transposed conv",
            [
                ("input size", self.size),
                ("after the conv", self.conv_size),
                ("back, output_padding=0", self.back_size),
                ("output_padding that restores it", self.output_padding),
                ("inputs the conv maps alike", self.same_conv_size),
                ("padding (lo:hi)", self.padding),
            ],
        )


def roundtrip(
    size: SizeArg,
    kernel_size: SizeArg,
    stride: SizeArg = 1,
    padding: PaddingArg = 0,
    dilation: SizeArg = 1,
) -> Roundtrip:
    """Conv then transposed conv with the same parameters: the size you get back.

    Examples
    --------
    >>> r = roundtrip(24, 3, stride=2, padding=1)
    >>> r.conv_size, r.back_size, r.output_padding, r.same_conv_size
    (12, 23, 1, range(23, 25))
    >>> roundtrip(25, 3, stride=2, padding=1).output_padding
    0
    """
    c = _canonical(size, kernel_size, stride, padding, dilation, same_ok=True)
    # 'same' resolves to asymmetric pairs; the transposed convolution uses
    # exactly those, which makes it restore the size with output_padding 0.
    pads = c.padding
    mid = conv_output_size(c.size, c.kernel, c.stride, pads, c.dilation)
    back = conv_transpose_output_size(mid, c.kernel, c.stride, pads, 0, c.dilation)
    fix = output_padding_for(c.size, mid, c.kernel, c.stride, pads, c.dilation)
    same = conv_input_sizes(mid, c.kernel, c.stride, pads, c.dilation)
    return Roundtrip(
        _out(c.size, c.scalar),
        _out(mid, c.scalar),
        _out(back, c.scalar),
        _out(fix, c.scalar),
        _out(same, c.scalar),
        pads,
    )
