"""Hypothesis strategies for convolution configurations, and the tolerance rule.

A case is drawn in canonical form (tuples per dimension, padding as the
user passes it plus the ``(lo, hi)`` pairs it means) together with arrays.
Sizes are drawn so that every case is valid; invalid arguments are fuzzed
separately.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from reference_conv import same_pads

EPS32 = float(np.finfo(np.float32).eps)


@dataclass
class Case:
    ndim: int
    x: np.ndarray  # as passed (maybe unbatched)
    w: np.ndarray
    b: np.ndarray | None
    stride: tuple
    dilation: tuple
    groups: int
    padding: object  # the user's form
    pads: tuple  # canonical (lo, hi) pairs
    unbatched: bool
    padding_mode: str = "zeros"
    output_padding: tuple = ()
    output_size: object = None

    @property
    def xb(self) -> np.ndarray:
        return self.x[None] if self.unbatched else self.x

    @property
    def kernel(self) -> tuple:
        return self.w.shape[2:]

    def reduction(self, transposed: bool = False) -> int:
        """Number of products summed into one output value, plus one for the bias."""
        per_group = self.w.shape[0] // self.groups if transposed else self.w.shape[1]
        return per_group * int(np.prod(self.kernel)) + 1


def _padding(draw, ndim: int, allow_strings: bool):
    kind = draw(
        st.sampled_from(
            ["int", "dims", "pairs", "same", "valid"] if allow_strings else ["int", "dims", "pairs"]
        )
    )
    if kind == "int":
        p = draw(st.integers(0, 2))
        return p, ((p, p),) * ndim
    if kind == "dims":
        ps = tuple(draw(st.integers(0, 2)) for _ in range(ndim))
        return ps, tuple((p, p) for p in ps)
    if kind == "pairs":
        pairs = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(ndim))
        return pairs, pairs
    return kind, None


def _arrays(draw, x_shape, w_shape, c_bias, unbatched):
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(c_bias).astype(dtype) if draw(st.booleans()) else None
    return (x[0] if unbatched else x), w, b


def _common(draw, max_ndim: int):
    ndim = draw(st.integers(1, max_ndim))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    depthwise = draw(st.booleans())
    cin_g = 1 if depthwise else draw(st.integers(1, 3))
    cout_g = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    batch = draw(st.sampled_from([None, 1, 2]))
    return ndim, groups, cin_g, cout_g, kernel, stride, dilation, batch


@st.composite
def conv_case(draw, max_ndim: int = 3, max_extra: int = 5, modes: bool = True) -> Case:
    ndim, groups, cin_g, cout_g, kernel, stride, dilation, batch = _common(draw, max_ndim)
    padding, pads = _padding(draw, ndim, allow_strings=True)
    mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"])) if modes else "zeros"
    extra = max_extra if ndim < 3 else 2
    size = []
    for i in range(ndim):
        eff = dilation[i] * (kernel[i] - 1) + 1
        lo, hi = pads[i] if pads is not None else (0, 0)
        size.append(
            max(1, eff - lo - hi, max(lo, hi) + 1 if mode != "zeros" else 1) + draw(st.integers(0, extra))
        )
    if padding == "same":
        pads = same_pads(size, kernel, stride, dilation)
        assume(mode == "zeros" or all(max(p) < n for p, n in zip(pads, size)))
    elif padding == "valid":
        pads = ((0, 0),) * ndim
    x, w, b = _arrays(
        draw,
        (batch or 1, cin_g * groups, *size),
        (cout_g * groups, cin_g, *kernel),
        cout_g * groups,
        batch is None,
    )
    return Case(ndim, x, w, b, stride, dilation, groups, padding, pads, batch is None, padding_mode=mode)


@st.composite
def conv_transpose_case(draw, max_ndim: int = 3, max_extra: int = 4) -> Case:
    ndim, groups, cin_g, cout_g, kernel, stride, dilation, batch = _common(draw, max_ndim)
    padding, pads = _padding(draw, ndim, allow_strings=False)
    extra = max_extra if ndim < 3 else 2
    size = tuple(1 + draw(st.integers(0, extra)) for _ in range(ndim))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    out = tuple(
        (n - 1) * s - lo - hi + d * (k - 1) + op + 1
        for n, k, s, (lo, hi), op, d in zip(size, kernel, stride, pads, output_padding, dilation)
    )
    assume(min(out) >= 1)
    x, w, b = _arrays(
        draw,
        (batch or 1, cin_g * groups, *size),
        (cin_g * groups, cout_g, *kernel),
        cout_g * groups,
        batch is None,
    )
    output_size = draw(st.sampled_from(["no", "spatial", "full"]))
    case = Case(
        ndim, x, w, b, stride, dilation, groups, padding, pads, batch is None, output_padding=output_padding
    )
    if output_size == "spatial":
        case.output_size = out
    elif output_size == "full":
        case.output_size = (*((batch,) if batch else ()), cout_g * groups, *out)
    return case


def assert_close(ours: np.ndarray, exact: np.ndarray, scale: np.ndarray, reduction: int) -> None:
    """``ours`` equals the float64 ``exact`` result within a rigorous rounding bound.

    ``scale`` is the same operator applied to ``|x|``, ``|w|`` and ``|b|``:
    the sum of the magnitudes of the terms of each output. For float64 the
    bound is 1e-10 relative to it. For float32, a sum of ``R`` float32
    products accumulated in float32 in any order (blocked, pairwise or
    sequential, as BLAS does) is off by at most ``gamma_R = R*u/(1 - R*u)``
    times that sum, ``u = eps/2`` (Higham, Accuracy and Stability, 3.1); one
    more term covers the bias. ``(R + 1) * eps`` is that bound with room, and
    the inputs are exact float32 values, so ``exact`` is the true value.
    """
    assert ours.shape == exact.shape, (ours.shape, exact.shape)
    if ours.dtype == np.float64:
        bound = 1e-10 * scale + 1e-300
    else:
        assert ours.dtype == np.float32, ours.dtype
        bound = (reduction + 1) * EPS32 * scale + 1e-30
    error = np.abs(ours.astype(np.float64) - exact)
    worst = np.unravel_index(np.argmax(error - bound), error.shape) if error.size else ()
    assert np.all(error <= bound), f"error {error[worst]} > bound {bound[worst]} at {worst}"
