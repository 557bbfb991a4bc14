"""``copy_into``: a large array copy on convlab's pool, for the copies a view cannot serve.

NumPy copies on one thread. A U-Net's skip join copies the (cropped) skip
into its half of the concatenation, 64 x 568 x 568 floats in the paper's
first level, into freshly allocated memory whose page faults the copying
thread also pays; blocks on the pool share both between the cores.
"""

from __future__ import annotations

import numpy as np

from .._args import ConvlabError
from ._threads import blocks, parallel

__all__ = ["copy_into"]

_BLOCK = 1 << 18  # elements per task: 1 MiB of float32
_SERIAL_BELOW = 1 << 20  # elements: below this a hand-off to the pool costs more than the copy


def copy_into(target: np.ndarray, source: np.ndarray) -> None:
    """``target[...] = source`` for arrays (or views) of one shape, in blocks on the pool when large.

    Each element is copied once whatever the threads, so the result is
    ``np.copyto``'s.

    >>> target = np.zeros((2, 3))
    >>> copy_into(target, np.arange(6.0).reshape(2, 3)); target
    array([[0., 1., 2.],
           [3., 4., 5.]])
    """
    if target.shape != source.shape:
        raise ConvlabError(f"internal: copy_into needs one shape, got {target.shape} and {source.shape}")
    if target.size < _SERIAL_BELOW:
        np.copyto(target, source)
        return
    parallel(lambda index: np.copyto(target[index], source[index]), blocks(target.shape, _BLOCK))
