"""What a convolution does to a block of its output while the block is in cache: bias, then ReLU.

Why: added after the whole convolution, the bias is one more pass over the
output in memory and a following ReLU another; done on each chunk as a
strategy stores it (the per-tap GEMMs' crop copy, im2col's GEMM target) both
cost nothing but the arithmetic. The values are the same bit for bit: the
float sum ``acc + bias`` and ``max(0, .)`` are computed once per element
whichever block holds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._threads import blocks

__all__ = ["Epilogue", "relu_into"]


_ZEROS = 1 << 16  # elements of the shared zero operand; larger arrays go block by block
_zeros: dict[np.dtype, np.ndarray] = {}


def relu_into(array: np.ndarray, source: np.ndarray | None = None) -> None:
    """``array = max(0, source)`` (``source`` defaults to ``array``), as :func:`convlab.functional.relu`.

    ``np.maximum(a, b)`` is ``a > b ? a : b``, NaN from either side: zero
    first keeps ``-0.0`` (torch's ``clamp_min``) and NaN propagates. The
    zero is a read-only array of zeros rather than a scalar: NumPy 2.4's
    ``maximum`` with a broadcast (stride 0) operand runs a loop four times
    slower than with two arrays (13.7 against 3.2 us for 32768 float32).

    >>> a = np.array([-1.0, -0.0, 2.0, np.nan])
    >>> relu_into(a); a
    array([ 0., -0.,  2., nan])
    """
    source = array if source is None else source
    zeros = _zeros.get(array.dtype)
    if zeros is None:
        zeros = np.zeros(_ZEROS, dtype=array.dtype)
        zeros.flags.writeable = False
        _zeros[array.dtype] = zeros
    if array.size <= _ZEROS:
        np.maximum(zeros[: array.size].reshape(array.shape), source, out=array)
        return
    for index in blocks(array.shape, _ZEROS):
        part = array[index]
        np.maximum(zeros[: part.size].reshape(part.shape), source[index], out=part)


@dataclass(frozen=True)
class Epilogue:
    """``out = relu?(block + bias)`` per output block, channels on the block's first axis.

    >>> e = Epilogue(np.array([1.0, -5.0]), relu=True)
    >>> out = np.empty((2, 2))
    >>> e.store(np.array([[1.0, -3.0], [2.0, 3.0]]), out); out
    array([[2., 0.],
           [0., 0.]])
    """

    bias: np.ndarray | None = None
    relu: bool = False

    @property
    def empty(self) -> bool:
        return self.bias is None and not self.relu

    def store(self, block: np.ndarray, target: np.ndarray) -> None:
        """``target[...] = epilogue(block)``: the copy into the output and the epilogue in one pass."""
        if self.bias is not None:
            np.add(block, self.bias.reshape(-1, *(1,) * (block.ndim - 1)), out=target)
        else:
            target[...] = block
        if self.relu:
            relu_into(target)

    def rows(self, block: slice) -> Epilogue:
        """This epilogue for the output channels ``block`` (its slice of the bias).

        >>> Epilogue(np.array([1.0, 2.0, 3.0]), relu=True).rows(slice(1, 3)).bias
        array([2., 3.])
        """
        return Epilogue(None if self.bias is None else self.bias[block], self.relu)

    def apply(self, block: np.ndarray) -> None:
        """The epilogue in place on ``block`` ``(C_out, ...)``."""
        if self.bias is not None:
            block += self.bias.reshape(-1, *(1,) * (block.ndim - 1))
        if self.relu:
            relu_into(block)
