"""``pad``: constant, reflect, replicate and circular padding, as ``torch.nn.functional.pad``.

Every non-constant mode is one gather: per padded dimension an index map from
output positions to input positions, applied at once with ``numpy.ix_``. The
modes differ only in how an index outside ``0..n-1`` is folded back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._args import ConvlabError, as_int, describe, is_sequence
from .._limits import check_memory

__all__ = ["pad"]

_MODES = ("constant", "reflect", "replicate", "circular")


def pad(
    input: np.ndarray, pad: Sequence[int], mode: str = "constant", value: float | None = None
) -> np.ndarray:
    """Pad (or, with negative values, crop) the trailing dimensions of ``input``.

    Parameters
    ----------
    input : array_like, shape ``(*, D_1, ..., D_m)``
        Any numeric array; the dtype is kept (padding is a copy, not arithmetic).
    pad : sequence of int, length ``2*m``
        ``(lo, hi)`` pairs starting from the **last** dimension, as PyTorch:
        ``(left, right, top, bottom, front, back)``. Negative values crop.
    mode : {'constant', 'reflect', 'replicate', 'circular'}
        ``'reflect'`` mirrors without repeating the edge; ``'replicate'``
        repeats the edge; ``'circular'`` wraps around.
    value : float, optional
        Fill value of ``'constant'`` (default 0), cast to the dtype of ``input``.

    Returns
    -------
    numpy.ndarray, shape ``(*, D_1 + lo_1 + hi_1, ..., D_m + lo_m + hi_m)``

    Notes
    -----
    Matches ``torch.nn.functional.pad`` value for value, with two deliberate
    generalisations. PyTorch's non-constant modes accept only 1 to 3 padded
    dimensions of a batched or unbatched ``(N, C, *spatial)`` tensor; here any
    number of trailing dimensions of any array may be padded, as in
    ``'constant'`` mode. And PyTorch's ``'circular'`` with negative padding on
    one side and positive on the other fails (an aliasing error) or reads
    uninitialised memory when the positive side exceeds the cropped size; here
    circular padding crops first, then wraps the cropped array, at most once,
    and refuses a wider pad. ``'reflect'`` and ``'replicate'`` pad first and
    then crop, as PyTorch does. PyTorch's limits are kept: reflect needs each
    pad smaller than the size, circular at most the (cropped) size; reflect and
    replicate need a non-empty result.

    Examples
    --------
    >>> x = np.arange(4.0).reshape(1, 1, 4)
    >>> pad(x, (2, 1), mode="reflect")
    array([[[2., 1., 0., 1., 2., 3., 2.]]])
    >>> pad(x, (1, -2), value=9)
    array([[[9., 0., 1.]]])
    >>> pad(x, (1, 1), mode="circular")
    array([[[3., 0., 1., 2., 3., 0.]]])
    """
    array = _as_array(input)
    pairs = _pad_pairs(pad, array.ndim)
    if not isinstance(mode, str) or mode not in _MODES:
        raise ConvlabError(f"mode must be one of {', '.join(map(repr, _MODES))}, got mode={describe(mode)}")
    _check_size(array, pairs, pad)
    if value is not None:
        _check_value(value)
    if mode == "constant":
        return _pad_constant(array, pairs, 0 if value is None else value)
    if value is not None and value != 0:
        raise ConvlabError(f"value is used by mode='constant' only, got value={value!r} with mode={mode!r}")
    first = array.ndim - len(pairs)
    maps = [_index_map(mode, array.shape[first + i], lo, hi, i, pad) for i, (lo, hi) in enumerate(pairs)]
    if not maps:
        return array.copy()
    return array[(Ellipsis, *np.ix_(*maps))]


def _as_array(value: object) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as err:
        raise TypeError(f"input must be a numeric array, got {type(value).__name__}: {err}") from None
    if array.dtype.kind not in "biufc":
        raise TypeError(f"input must be a numeric array, got dtype {array.dtype}")
    return array


def _pad_pairs(pad: object, ndim: int) -> list[tuple[int, int]]:
    """``(lo, hi)`` per padded dimension, in array order (PyTorch lists the last first)."""
    if not is_sequence(pad):
        raise TypeError(f"pad must be a sequence of ints (lo, hi, ...), got {type(pad).__name__} {pad!r}")
    values = [as_int(v, "pad") for v in pad]  # type: ignore[union-attr]
    if len(values) % 2:
        raise ConvlabError(f"pad must have an even length ((lo, hi) pairs), got pad={describe(pad)}")
    if len(values) > 2 * ndim:
        raise ConvlabError(
            f"pad has {len(values) // 2} (lo, hi) pairs but input has only {ndim} dimensions, "
            f"got pad={describe(pad)}"
        )
    return [(values[i], values[i + 1]) for i in range(len(values) - 2, -1, -2)]


def _check_size(array: np.ndarray, pairs: list[tuple[int, int]], pad: object) -> None:
    """Refuse a result (plus its index maps) larger than the memory limit, before building either."""
    first = array.ndim - len(pairs)
    sizes = [max(array.shape[first + i] + lo + hi, 0) for i, (lo, hi) in enumerate(pairs)]
    result = (*array.shape[:first], *sizes)
    # The non-constant modes also build one int64 index map per padded dimension.
    nbytes = array.dtype.itemsize * math.prod(result) + 8 * sum(sizes)
    check_memory(nbytes, f"pad's result (pad={describe(pad)})")


def _check_value(value: object) -> None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"value must be a real number, got {type(value).__name__} {describe(value)}")


def _pad_constant(array: np.ndarray, pairs: list[tuple[int, int]], value: object) -> np.ndarray:
    first = array.ndim - len(pairs)
    shape, src, dst = list(array.shape), [slice(None)] * array.ndim, [slice(None)] * array.ndim
    for i, (lo, hi) in enumerate(pairs):
        n = array.shape[first + i]
        # PyTorch crops before it pads, so the crops alone must fit in the input.
        keep = n - max(-lo, 0) - max(-hi, 0)
        if keep < 0:
            raise ConvlabError(
                f"pad crops more than the input has in dimension {first + i}: size {n} cropped by "
                f"{max(-lo, 0)} + {max(-hi, 0)}, got pad={[p for pair in pairs[::-1] for p in pair]}"
            )
        shape[first + i] = n + lo + hi
        src[first + i] = slice(max(-lo, 0), max(-lo, 0) + keep)
        dst[first + i] = slice(max(lo, 0), max(lo, 0) + keep)
    out = np.full(shape, value, dtype=array.dtype)
    out[tuple(dst)] = array[tuple(src)]
    return out


def _index_map(mode: str, n: int, lo: int, hi: int, dim: int, pad: object) -> np.ndarray:
    """Input index of every output position along one dimension."""
    if mode == "circular":
        # Crop first, then wrap what is left: periodic extension of the cropped array.
        start, m = max(-lo, 0), n - max(-lo, 0) - max(-hi, 0)
        if m < 0:
            raise ConvlabError(
                f"pad crops more than the input has: ({lo}, {hi}) on a dimension of size {n} in "
                f"padded dimension {dim}, got pad={describe(pad)}"
            )
        if max(lo, hi) > m:
            raise ConvlabError(
                f"circular pad may wrap around at most once: pad ({lo}, {hi}) on a dimension of size {n} "
                f"(cropped to {max(m, 0)}) in the padded dimension {dim} (counted from the first "
                f"padded one), got pad={describe(pad)}"
            )
        return start + (np.arange(-max(lo, 0), m + max(hi, 0)) % max(m, 1))
    if n + lo + hi < 1 or n == 0:
        raise ConvlabError(
            f"{mode} pad must leave at least one element: size {n} + {lo} + {hi} = {n + lo + hi} "
            f"in padded dimension {dim}, got pad={describe(pad)}"
        )
    k = np.arange(-lo, n + hi)
    if mode == "replicate":
        return np.clip(k, 0, n - 1)
    if max(lo, hi) >= n:
        raise ConvlabError(
            f"reflect pad must be smaller than the size of the dimension: pad ({lo}, {hi}) on size {n} "
            f"in padded dimension {dim}, got pad={describe(pad)}"
        )
    k = np.abs(k)
    return np.where(k > n - 1, 2 * (n - 1) - k, k)
