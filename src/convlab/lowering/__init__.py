"""The explicit, slow-but-clear formulations of convolution, each equal to :mod:`convlab.functional`.

Every route takes the arguments of its ``convlab.functional`` operator, in
the same order with the same defaults, for 1 to 3 spatial dimensions (read
off the weight's rank), with batch, channels, groups, bias, stride, zero
padding (``(lo, hi)`` pairs; ``'same'`` for convolutions), dilation and
``output_padding``. They refuse what the fast operators refuse, with the
same messages.

Convolution, ``weight`` ``(C_out, C_in/groups, *k)``::

    conv_matrix(input_shape, weight, stride=1, padding=0, dilation=1, groups=1)
        -> scipy.sparse.csr_matrix M, conv(x)[n].ravel() == M @ x[n].ravel()
    conv_by_matrix(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1)
    conv_by_unfold(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1)
    conv_by_winograd(..., *, tile=2, return_transforms=False)
        -> out, or (out, per-axis WinogradTransform(m, r, points, A_T, G, B_T))
    winograd_transform(m, r=3)             F(m, r)'s matrices in exact rationals

Transposed convolution, ``weight`` ``(C_in, C_out/groups, *k)``, arguments
``(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
dilation=1)``::

    conv_transpose_by_matrix(...)          M.T of the matching convolution
    conv_transpose_by_zero_insertion(...)  zeros between pixels, flipped kernel
    zero_insertion_parts(...)              -> ZeroInsertionParts (what that convolves)
    conv_transpose_by_scatter(...)         each input pixel adds pixel * kernel
    conv_transpose_by_phases(..., return_phases=False)
        -> out, or (out, list[Phase]): prod(stride) stride-1 sub-convolutions

Examples
--------
>>> import numpy as np
>>> from convlab import lowering
>>> x = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
>>> lowering.conv_transpose_by_scatter(x, x, padding=1)
array([[[[4.]]]])
"""

from ._matrix import conv_by_matrix, conv_matrix, conv_transpose_by_matrix
from ._phases import Phase, conv_transpose_by_phases
from ._scatter import conv_transpose_by_scatter
from ._unfold_matmul import conv_by_unfold
from ._winograd import WinogradTransform, conv_by_winograd, winograd_transform
from ._zero_insertion import ZeroInsertionParts, conv_transpose_by_zero_insertion, zero_insertion_parts

__all__ = [
    "Phase",
    "WinogradTransform",
    "ZeroInsertionParts",
    "conv_by_matrix",
    "conv_by_unfold",
    "conv_by_winograd",
    "conv_matrix",
    "conv_transpose_by_matrix",
    "conv_transpose_by_phases",
    "conv_transpose_by_scatter",
    "conv_transpose_by_zero_insertion",
    "winograd_transform",
    "zero_insertion_parts",
]
