"""Convolution strategy ``direct``: a 1x1 kernel at stride 1 without padding reads the input as it is.

The input of such a convolution already is its im2col matrix, so each chunk
of output positions is one GEMM on a view of the input: no gather, no copy.
"""

from __future__ import annotations

import numpy as np

from ._conv_args import ConvArgs
from ._epilogue import Epilogue
from ._im2col import convolve_chunks

__all__ = ["applies", "run", "run_fused", "workspace"]


def applies(args: ConvArgs) -> bool:
    wins = args.image
    return all(w.kernel == 1 and w.stride == 1 and w.lo == 0 for w in wins) and args.out_shape == tuple(
        w.size for w in wins
    )


def workspace(args: ConvArgs) -> int:
    return 0


def run(args: ConvArgs) -> np.ndarray:
    return run_fused(args, Epilogue())


def run_fused(args: ConvArgs, epilogue: Epilogue) -> np.ndarray:
    x = args.x
    return convolve_chunks(
        args,
        lambda batch, box, sizes, slot, channels=None: x[(batch, slice(None), *box)][:, :, None],
        epilogue,
    )
