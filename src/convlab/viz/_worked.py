"""The numbers of a worked example, and every route to them, from :mod:`convlab.lowering`.

One function per operator builds the data (small integers, or seeded random
integers), the reference result from :mod:`convlab.functional`, the pieces a
person would write out by hand, and the results of every equivalent
formulation, so that the text can show that they agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import functional as F
from .. import lowering, shapes, transforms
from .._args import ConvlabError, infer_ndim, per_dim
from ._numbering import counting


@dataclass
class Worked:
    """A worked example: named arrays to print, and ``(route, max |difference|)`` pairs."""

    op: str
    ndim: int
    arrays: dict[str, np.ndarray]
    matrix: object = None
    routes: list[tuple[str, float]] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def _data(shape: tuple[int, ...], seed: int | None, offset: int) -> np.ndarray:
    # Small integers keep every product and sum exact in float64, so "agree"
    # means difference 0, and a person can check a value by hand; counted from
    # 1 as the pictures are (from 0, x1 = w1 = 0 zero the first products).
    if seed is None:
        return counting(shape)
    rng = np.random.default_rng([seed, offset])
    return rng.integers(-4, 5, size=shape).astype(np.float64)


def _ndim(**named) -> int:
    ndim = infer_ndim(**named) or 2
    if ndim == 3:
        raise ConvlabError("explain prints 1-D or 2-D examples; got 3 spatial dimensions")
    return ndim


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b))) if a.shape == b.shape else math.inf


def conv_example(size, kernel_size, stride, padding, dilation, channels, seed) -> Worked:
    """conv: the input, the kernel, the matrix with one row per window, four routes."""
    ndim = _ndim(size=size, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation)
    n = per_dim(size, "size", ndim, minimum=1)
    k = per_dim(kernel_size, "kernel_size", ndim, minimum=1)
    x = _data((1, channels, *n), seed, 0)
    w = _data((channels, channels, *k), seed, 1)
    conv = (F.conv1d, F.conv2d)[ndim - 1]
    opts = dict(stride=stride, padding=padding, dilation=dilation)
    y = conv(x, w, **opts)
    m = lowering.conv_matrix(x.shape[1:], w, **opts)
    worked = Worked("conv", ndim, {"x": x[0], "w": w, "y": y[0]}, m)
    worked.routes = [
        ("matrix M @ x (lowering.conv_by_matrix)", _diff(lowering.conv_by_matrix(x, w, **opts), y)),
        ("unfold + matmul (lowering.conv_by_unfold)", _diff(lowering.conv_by_unfold(x, w, **opts), y)),
        ("M applied here, row by row", _diff((m @ x[0].ravel()).reshape(y.shape), y)),
    ]
    return worked


def transpose_matrix(out_shape: tuple[int, ...], w: np.ndarray, n: tuple[int, ...], opts: dict):
    """``M.T``, ``M`` the matrix of the convolution from the output shape back to the input.

    When ``output_padding >= stride`` (possible with dilation) that
    convolution has windows past the input's end; their rows are dropped.
    """
    conv_opts = {key: opts[key] for key in ("stride", "padding", "dilation")}
    m = lowering.conv_matrix(out_shape, w, **conv_opts)
    windows = shapes.conv_output_size(out_shape[1:], w.shape[2:], **conv_opts)
    windows = windows if isinstance(windows, tuple) else (windows,)
    if windows != n:
        grid = np.arange(m.shape[0]).reshape(w.shape[0], *windows)
        keep = grid[(slice(None), *(slice(0, size) for size in n))].ravel()
        m = m[keep]
    return m.T.tocsr()


def convtranspose_example(
    size, kernel_size, stride, padding, dilation, output_padding, channels, seed
) -> Worked:
    """convtranspose: M.T, the zero-inserted input with the flipped kernel, the scatter, five routes."""
    named = dict(size=size, kernel_size=kernel_size, stride=stride, dilation=dilation)
    ndim = _ndim(padding=padding, output_padding=output_padding, **named)
    n = per_dim(size, "size", ndim, minimum=1)
    k = per_dim(kernel_size, "kernel_size", ndim, minimum=1)
    x = _data((1, channels, *n), seed, 0)
    w = _data((channels, channels, *k), seed, 1)
    opts = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    y = (F.conv_transpose1d, F.conv_transpose2d)[ndim - 1](x, w, **opts)
    m = transpose_matrix(y.shape[1:], w, n, opts)
    parts = lowering.zero_insertion_parts(x, w, **opts)
    phases_out, phases = lowering.conv_transpose_by_phases(x, w, **opts, return_phases=True)
    worked = Worked("convtranspose", ndim, {"x": x[0], "w": w, "y": y[0]}, m)
    worked.arrays["stuffed"] = parts.input[0]
    worked.arrays["flipped"] = parts.weight
    worked.extra = {"stuffed_padding": parts.padding, "phases": phases}
    worked.routes = [
        (
            "M.T @ x (lowering.conv_transpose_by_matrix)",
            _diff(lowering.conv_transpose_by_matrix(x, w, **opts), y),
        ),
        (
            "zero-insertion + flipped kernel (lowering.conv_transpose_by_zero_insertion)",
            _diff(lowering.conv_transpose_by_zero_insertion(x, w, **opts), y),
        ),
        ("scatter-add of kernel copies (lowering.conv_transpose_by_scatter)",
         _diff(lowering.conv_transpose_by_scatter(x, w, **opts), y)),
        (f"{len(phases)} stride phases (lowering.conv_transpose_by_phases)", _diff(phases_out, y)),
        ("M.T applied here, column by column", _diff((m @ x[0].ravel()).reshape(y.shape), y)),
    ]  # fmt: skip
    return worked


def unfold_example(size, kernel_size, stride, padding, dilation, channels, seed) -> Worked:
    """unfold: the columns (one per window), and conv = weights @ columns."""
    worked = conv_example(size, kernel_size, stride, padding, dilation, channels, seed)
    x, w, y = worked.arrays["x"], worked.arrays["w"], worked.arrays["y"]
    opts = dict(stride=stride, padding=padding, dilation=dilation)
    cols = F.unfold(x[None], w.shape[2:], **opts)[0]
    worked.op = "unfold"
    worked.arrays["columns"] = cols
    product = (w.reshape(w.shape[0], -1) @ cols).reshape(y.shape)
    worked.routes.insert(0, ("w.reshape(C_out, -1) @ unfold(x), here", _diff(product, y)))
    return worked


def crop_example(size, output_size, channels, seed) -> Worked:
    """crop: torchvision's center-crop box on numbered pixels, and the crop two ways."""
    ndim = _ndim(size=size, output_size=output_size)
    box = shapes.center_crop_box(per_dim(size, "size", ndim), per_dim(output_size, "output_size", ndim))
    x = _data((channels, *box.size), seed, 0)
    cropped = transforms.center_crop(x, box.output_size)
    padded = np.pad(x, ((0, 0), *box.pad))
    by_box = padded[(slice(None), *box.slices)]
    worked = Worked("crop", ndim, {"x": x, "y": cropped}, extra={"box": box})
    worked.routes = [("pad by box.pad, slice box.start:box.stop", _diff(by_box, cropped))]
    return worked
