"""A hardware fused multiply-add over a whole row: NumPy's OpenBLAS ``?axpy``, where it is fused.

``?axpy(n, alpha, x, y)`` computes ``y[i] = alpha * x[i] + y[i]``. OpenBLAS
(``kernel/x86_64/saxpy.c``, ``daxpy.c``) runs it as a vector body of
``n & -32`` (or ``-16``) elements and a scalar tail; where both are compiled
for a core with FMA the whole row is ``fma(alpha, x[i], y[i])``: one
rounding, the operation :mod:`._exact_fma` emulates in about ten NumPy
passes, here in one. Whether it is fused depends on the kernels the library
picked at load (measured on Zen 4: the AVX-512 "SkylakeX" kernels fuse body
and tail; ``OPENBLAS_CORETYPE=Haswell`` fuses the body only, the tail is a
multiply then an add; "Sandybridge" fuses nothing), so nothing is assumed:

**The probe.** Every element of a probe row is a case where the fused and
the unfused results differ. With ``p`` significand bits (24, 53) and
``h = ceil(p/2)`` (12, 27): ``alpha = u = 1 + 2**-h``, ``x = s*u`` and
``y = -s*(1 + 2**(1-h))`` for ``s = +-2**k``. The exact product is
``s*(1 + 2**(1-h) + 2**-2h)``, whose last term is at most half an ulp of
``s`` (``2**-2h <= 2**-p``) and whose rounding (down, or a tie to the even
``1 + 2**(1-h)``) is ``s*(1 + 2**(1-h))``: unfused, the sum is 0; fused, it
is ``s*2**-2h``, a power of two. The probe runs every length from 1 to 100
(every body/tail split of 16 and 32 lanes, and more) and longer rows, at eight
start offsets (no alignment peel can hide), and accepts the routine only if
every element of every row is fused. A kernel's path for an element depends
only on ``n`` and its index, never on the values: an element computed by an
FMA instruction is correctly rounded for all operands, specials and
subnormals included (IEEE 754's fusedMultiplyAdd). So a routine that passes
is exact on this machine for every input, and one that fails is not used.

Two cases the interface short-cuts (``interface/axpy.c``): ``n <= 0`` and
``alpha == 0`` return without touching ``y``. The caller handles
``alpha == 0`` itself (the product ``x * 0`` is exact, so one NumPy
multiply and add is the fused result there).
"""

from __future__ import annotations

import ctypes
import functools
import math
from collections.abc import Callable

import numpy as np

from . import _blas
from ._arrays import thread_arena
from ._epilogue import relu_into
from ._openblas import numpy_library
from ._threads import parallel

__all__ = ["channel_fma", "fused_axpy"]

# Elements per block, measured on a 64 x 512 x 512 BatchNorm+ReLU in place,
# 2 threads (median of 11): 2**13 25 ms, 2**14 18, 2**15 17, 2**16 7.4-10.6,
# 2**17 6.8-10.2, 2**18 6.3-8.3. Each block is a few NumPy calls, each a GIL
# hand-off between the threads; 2**18 float32 (1 MiB in the arena, one
# 512x512 plane) still fits the store's source in a core's L2.
_BLOCK = 1 << 18

_PROBE_LENGTHS = (*range(1, 101), 127, 255, 1000, 4099, 1 << 15)
_PROBE_OFFSETS = 8

Axpy = Callable[[int, float, int, int], None]


@functools.cache
def fused_axpy(dtype: np.dtype) -> Axpy | None:
    """``axpy(n, alpha, x_address, y_address)``: ``y = fma(alpha, x, y)`` over ``n`` contiguous elements.

    ``None`` when NumPy has no scipy-openblas or its kernel for ``dtype``
    (float32 or float64) is not fused on every element (see the module's probe).
    The caller must keep ``alpha != 0`` and ``n > 0`` (the interface skips those).

    >>> axpy = fused_axpy(np.dtype(np.float32))
    >>> axpy is None or callable(axpy)
    True
    """
    dtype = np.dtype(dtype)
    library = numpy_library()
    stem = {np.dtype(np.float32): "scipy_cblas_saxpy", np.dtype(np.float64): "scipy_cblas_daxpy"}.get(dtype)
    function = None if library is None or stem is None else library.function(stem)
    if function is None:
        return None
    scalar = ctypes.c_float if dtype == np.float32 else ctypes.c_double
    index = library.index
    function.argtypes = [index, scalar, ctypes.c_void_p, index, ctypes.c_void_p, index]
    function.restype = None

    def axpy(n: int, alpha: float, x: int, y: int) -> None:
        function(n, alpha, x, 1, y, 1)

    with _blas.single_threaded():  # the probe's long rows would wake OpenBLAS's threads
        return axpy if _fused(axpy, dtype) else None


def _fused(axpy: Axpy, dtype: np.dtype) -> bool:
    """Whether ``axpy`` rounds once on every element of every probe row (the module's argument)."""
    half = (np.finfo(dtype).nmant + 2) // 2  # ceil(p/2): 12 for float32, 27 for float64
    u = 1 + 2.0**-half
    longest = max(_PROBE_LENGTHS) + _PROBE_OFFSETS
    scale = np.ldexp(np.where(np.arange(longest) % 2, -1.0, 1.0), np.arange(longest) % 41 - 20)
    x_all = (scale * u).astype(dtype)
    y_all = (-scale * (1 + 2.0 ** (1 - half))).astype(dtype)
    expected = (scale * 2.0 ** (-2 * half)).astype(dtype)
    y = y_all.copy()
    x_address, y_address, size = x_all.ctypes.data, y.ctypes.data, dtype.itemsize
    for offset in range(_PROBE_OFFSETS):
        for n in _PROBE_LENGTHS:
            part = slice(offset, offset + n)
            axpy(n, u, x_address + offset * size, y_address + offset * size)
            if not np.array_equal(y[part], expected[part]):
                return False
            y[part] = y_all[part]
    return True


def channel_fma(
    axpy: Axpy, x: np.ndarray, alpha: np.ndarray, beta: np.ndarray, out: np.ndarray, *, relu: bool
) -> None:
    """``out[n, c, ...] = fma(x[n, c, ...], alpha[c], beta[c])``, then ``max(0, .)`` if ``relu``.

    ``axpy`` is :func:`fused_axpy`'s routine for the dtype; ``x`` and ``out``
    are C-contiguous arrays of one shape ``(N, C, ...)`` and that dtype
    (``out`` may be ``x``), ``alpha`` and ``beta`` of shape ``(C,)``. Blocks
    of rows run on the pool (see :class:`_Block`).

    >>> x = np.array([[[1 + 2.0**-12]]], dtype=np.float32)
    >>> axpy = fused_axpy(x.dtype)
    >>> if axpy is not None:
    ...     channel_fma(axpy, x, x[0, 0], np.float32([-1.0]), x, relu=False)
    ...     assert x[0, 0, 0] == 2.0**-11 + 2.0**-24  # one rounding: a multiply then an add gives 2**-11
    """
    rows, inner = x.shape[0] * x.shape[1], math.prod(x.shape[2:])
    source, target = x.reshape(rows, inner), out.reshape(rows, inner)
    channel = np.tile(np.arange(x.shape[1]), x.shape[0])
    coefficients = [(float(alpha[c]), x.dtype.type(beta[c])) for c in channel]
    step = max(1, _BLOCK // max(inner, 1))  # whole rows per block when rows are short
    items = [
        (r, min(r + step, rows), c, min(c + _BLOCK, inner))
        for r in range(0, rows, step)
        for c in range(0, inner, _BLOCK)
    ]
    block = _Block(axpy, source, target, coefficients, relu)
    # One-thread BLAS: OpenBLAS threads an axpy of more than 10000 elements itself.
    with _blas.single_threaded():
        parallel(block, items)


class _Block:
    """One block ``(first row, last row, first column, last column)`` of :func:`channel_fma`.

    The block is computed into a buffer of this thread's arena and stored
    from there, through the ReLU when there is one: three NumPy calls and a
    ``fill`` per row, and ``x`` may be ``out`` (``axpy`` reads the whole
    block before the store writes it).
    """

    def __init__(self, axpy: Axpy, source: np.ndarray, target: np.ndarray, coefficients: list, relu: bool):
        self.axpy, self.coefficients, self.relu = axpy, coefficients, relu
        self.source, self.target = source, target
        self.address = source.ctypes.data

    def __call__(self, item: tuple[int, int, int, int]) -> None:
        first, last, start, stop = item
        src, dst = self.source[first:last, start:stop], self.target[first:last, start:stop]
        size, inner = self.source.itemsize, self.source.shape[1]
        block = thread_arena(src.nbytes)[: src.nbytes].view(src.dtype).reshape(src.shape)
        at, n = block.ctypes.data, stop - start
        for i in range(last - first):
            alpha, beta = self.coefficients[first + i]
            if alpha == 0:  # the interface skips alpha == 0; x * 0 is exact, so mul + add is the fused value
                with np.errstate(invalid="ignore"):  # inf * 0 is NaN, silently, as in torch
                    np.add(np.multiply(src[i], alpha), beta, out=block[i])
                continue
            block[i].fill(beta)
            self.axpy(n, alpha, self.address + ((first + i) * inner + start) * size, at + i * n * size)
        if self.relu:
            relu_into(dst, block)
        else:
            np.copyto(dst, block)
