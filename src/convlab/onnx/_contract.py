"""The size contract of an ONNX graph, derived from its shape-only trace.

- **valid sizes**: the sizes the graph accepts (a shape pass succeeds: every
  merge of a skip agrees, every window fits), scanned per dimension and
  checked to form ``smallest + k*step``;
- **margin**: input size minus output size, split where the receptive field
  of output 0 is centred;
- **alignment**: the largest total stride of any tensor (the deepest level);
- **halo**: how many output pixels at each edge read positions outside the
  input (padding, clamped interpolation), from the exact pixel sets of the
  receptive-field trace, rounded up to a multiple of the alignment;
- **exact**: False
  when a Resize samples relative to the tensor's size (align_corners,
  tf_crop_and_resize) or by a non-integer factor: no halo makes tiles exact.
"""

from __future__ import annotations

import math
from functools import lru_cache

from .._args import ConvlabError
from ..shapes import SizeContract
from ._registry import shape_of
from ._resize_ops import shift_invariant
from ._trace import Spatial, shape_pass

__all__ = ["graph_contract"]

# Sizes scanned for the first valid one; a model needing more has no contract here.
SCAN_LIMIT = 1024


def _base_shape(model) -> tuple[int, int, int]:
    if len(model.graph.inputs) != 1 or len(model.graph.outputs) != 1:
        raise ConvlabError("a size contract needs a graph with one input and one output")
    info = model.graph.inputs[0]
    if info.shape is None or len(info.shape) not in (3, 4, 5):
        raise ConvlabError(
            f"input {info.name!r} must be declared (N, C, *spatial) with 1 to 3 spatial dimensions"
        )
    if info.shape[1] is None:
        raise ConvlabError(f"input {info.name!r} must declare its channel count, got shape {info.shape}")
    fixed = [d for d in info.shape[2:] if d is not None]
    if fixed:
        raise ConvlabError(f"input {info.name!r} has fixed spatial sizes {info.shape}: nothing to tile")
    return info.shape[0] or 1, info.shape[1], len(info.shape) - 2


def _prober(model):
    n, c, ndim = _base_shape(model)
    name, out = model.graph.inputs[0].name, model.graph.outputs[0].name

    @lru_cache(maxsize=4096)
    def probe(sizes: tuple[int, ...]) -> tuple[int, ...] | None:
        try:
            values, _ = shape_pass(model.graph, {name: (n, c, *sizes)})
        except ConvlabError:
            return None
        shape = shape_of(values[out])
        return tuple(shape[2:]) if len(shape) == ndim + 2 and min(shape[2:]) > 0 else None

    return probe, ndim, (n, c)


def _progression(margin_of, limit: int) -> tuple[int, int, int]:
    """smallest, step and margin of the sizes that lose nothing (the least margin)."""
    margins = {s: margin_of(s) for s in range(1, limit)}
    margins = {s: m for s, m in margins.items() if m is not None}
    if not margins:
        raise ConvlabError(f"no input size below {limit} fits the graph: it has no size contract")
    # Sizes a pool or strided layer floors lose pixels: a larger margin.
    least = min(margins.values())
    sizes = [s for s, m in margins.items() if m == least]
    if len(sizes) < 3:
        raise ConvlabError(f"fewer than 3 valid sizes below {limit}: the graph has no size contract")
    smallest, step = sizes[0], sizes[1] - sizes[0]
    if sizes != list(range(smallest, sizes[-1] + 1, step)):
        raise ConvlabError(f"the valid sizes {sizes[:8]}... are not an arithmetic progression")
    return smallest, step, least


def _scan(probe, ndim):
    first = next((n for n in range(1, SCAN_LIMIT) if probe((n,) * ndim) is not None), None)
    if first is None:
        raise ConvlabError(f"no input size up to {SCAN_LIMIT} fits the graph: it has no size contract")
    smallest, step, totals = [], [], []
    for d in range(ndim):

        def margin_of(s, d=d):
            out = probe(tuple(s if i == d else first for i in range(ndim)))
            return None if out is None else s - out[d]

        lo, st, total = _progression(margin_of, 2 * first + 65)
        smallest.append(lo)
        step.append(st)
        totals.append(total)
    return tuple(smallest), tuple(step), tuple(totals)


def _reach(spatial: Spatial, out: str, d: int, n: int, m: int) -> tuple[int, int]:
    """Output pixels at the start and at the end whose pixel sets leave ``[0, n)``."""
    period = spatial.period[out][d]
    low = high = 0
    for r in range(min(period, m)):
        pixels = spatial.pixels(out, d, r)
        first, last = min(pixels), max(pixels)
        if first < 0:
            # Outputs r + k*period read pixel first + k*period: negative while k < -first/period.
            low = max(low, r + period * (-(first // period) - 1) + 1)
        k = -(-(n - last) // period)
        if r + k * period < m:
            high = max(high, m - max(r + k * period, 0))
    return low, high


def graph_contract(model) -> SizeContract:
    """The :class:`~convlab.shapes.SizeContract` of a fully convolutional ONNX graph.

    Raises ConvlabError when the graph has none: several inputs or outputs,
    fixed spatial sizes, an output at another resolution than the input.
    """
    probe, ndim, (n, c) = _prober(model)
    smallest, step, totals = _scan(probe, ndim)
    values, steps = shape_pass(model.graph, {model.graph.inputs[0].name: (n, c, *smallest)})
    spatial = Spatial(model.graph, values, steps, model.graph.inputs[0].name)
    out = model.graph.outputs[0].name
    field = spatial.field(out)
    if field is None or any(j != 1 for j in field[1]):
        raise ConvlabError("the output is not at the input's resolution: the graph has no size contract")
    alignment = tuple(
        math.lcm(*(max(j[d].numerator, 1) for j in spatial.jump.values()), step[d]) for d in range(ndim)
    )
    # Measure the reach on a size where the two edges' influence cannot overlap.
    sizes = tuple(
        s + t * -(-max(0, 4 * f + 2 * a - s) // t) for s, t, f, a in zip(smallest, step, field[0], alignment)
    )
    values, steps = shape_pass(model.graph, {model.graph.inputs[0].name: (n, c, *sizes)})
    spatial = Spatial(model.graph, values, steps, model.graph.inputs[0].name)
    margin, halo = [], []
    for d in range(ndim):
        # Centre of the fields over one period, relative to each output: outputs
        # of one period share their deepest pixels, so output 0 alone is lopsided.
        reach = [
            (min(p) - r, max(p) - r)
            for r in range(spatial.period[out][d])
            if (p := spatial.pixels(out, d, r))
        ]
        centre = (min(a for a, _ in reach) + max(b for _, b in reach)) / 2
        lo = min(max(math.floor(centre), 0), totals[d])
        margin.append((lo, totals[d] - lo))
        reach = max(_reach(spatial, out, d, sizes[d], sizes[d] - totals[d]))
        halo.append(-(-reach // alignment[d]) * alignment[d])
    exact = all(
        shift_invariant(node, ins) for node, ins, _ in steps if node.op_type in ("Resize", "Upsample")
    )
    return SizeContract(smallest, step, tuple(margin), alignment, tuple(halo), exact)
