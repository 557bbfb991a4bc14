"""The receptive field as a range over output pixels: edges and transposed-conv phases see less."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .._args import ConvlabError, infer_ndim, per_dim
from ._receptive import (
    LayerArg,
    _as_layer,
    _canonical_layer,
    _Dim,
    _next_size,
    _reads,
    _through,
    receptive_field,
)

# Work bound: (output pixel, tap) pairs times the machine words of one pixel set.
MAX_FIELD_WORK = 1 << 26


def receptive_field_range(
    layers: Iterable[LayerArg], input_size: int | Sequence[int] | None = None
) -> tuple[int, int] | tuple[tuple[int, int], ...]:
    """The fewest and the most input pixels one output pixel of the chain depends on.

    :func:`receptive_field` gives the largest field, borders ignored. Output
    pixels differ: near an edge part of the window lies in the padding (no
    input pixels there), and after a transposed convolution the outputs of
    different phases read different numbers of inputs. This function traces
    every output pixel of ``input_size`` exactly, through every layer, and
    returns ``(smallest, largest)`` per dimension of the hull (first to last
    input pixel, gaps of dilation included) of the real input pixels each one
    depends on; output pixels that depend on no input pixel at all (only on
    padding and output_padding) are left out. Without ``input_size`` the
    input is unbounded: only the phases count, no edges.

    Parameters
    ----------
    layers : iterable of Layer, str or dict
        As for :func:`receptive_field` (``"c3"``, ``"c3s2p1"``, ``"pool2"``, ``"t2s2"``).
    input_size : int or tuple of int, optional

    Returns
    -------
    (int, int), or one such pair per dimension for tuple sizes

    Notes
    -----
    Each output pixel carries the set of input pixels it depends on as a bit
    set, built layer by layer from the sets of the pixels it reads: exact,
    at a cost of (output pixels x taps x input words) per layer, bounded by
    ``MAX_FIELD_WORK`` (2**26) before any work starts.

    Examples
    --------
    >>> receptive_field_range(["c3p1", "c3p1"], 8)  # the corner pixel sees 3 of the 5
    (3, 5)
    >>> receptive_field_range(["t2s2", "c2"])  # even outputs read 1 input pixel, odd ones 2
    (1, 2)
    """
    parsed = [_as_layer(spec, i) for i, spec in enumerate(layers)]
    full = receptive_field(parsed, input_size)  # validates, and gives the dimensions
    size = full[-1].size
    ndim = len(size) if isinstance(size, tuple) else 1
    sizes = per_dim(input_size, "input_size", ndim) if input_size is not None else (None,) * ndim
    ranges = []
    for dim, n in enumerate(sizes):
        chain = [_canonical_layer(x, i, ndim, n, dim) for i, x in enumerate(parsed)]
        ranges.append(_unbounded(chain) if n is None else _bounded(chain, n))
    return ranges[0] if infer_ndim(input_size=input_size) is None and ndim == 1 else tuple(ranges)


def _unbounded(chain: list[_Dim]) -> tuple[int, int]:
    period = 1
    for x in chain:
        period *= x.s if x.kind == "convtranspose" else 1
    spans = [span for span in (_through(chain, o) for o in range(period)) if span]
    return min(b - a + 1 for a, b in spans), max(b - a + 1 for a, b in spans)


def _bounded(chain: list[_Dim], n: int) -> tuple[int, int]:
    sizes = [n]
    for i, x in enumerate(chain):
        sizes.append(_next_size(x, sizes[-1], i))
    work = sum(out * x.k for out, x in zip(sizes[1:], chain)) * (n // 64 + 1)
    if work > MAX_FIELD_WORK:
        raise ConvlabError(
            f"receptive_field_range would do {work} units of work on input size {n}, more than its bound "
            f"of {MAX_FIELD_WORK}; use a smaller input_size (the range repeats away from the edges)"
        )
    sets = [1 << i for i in range(n)]
    for x, count in zip(chain, sizes[1:]):
        sets = [_union(sets, _reads(x, o)) for o in range(count)]
    fields = [s.bit_length() - (s & -s).bit_length() + 1 for s in sets if s]
    if not fields:
        raise ConvlabError("no output pixel of the chain depends on an input pixel")
    return min(fields), max(fields)


def _union(sets: list[int], indices: list[int]) -> int:
    found = 0
    for i in indices:
        if 0 <= i < len(sets):
            found |= sets[i]
    return found
