"""Deliberately naive loop references of the convolution family, for the tests only.

Plain Python loops over output pixels and kernel taps, written from the
definitions and nothing else: no im2col, no strided views, no BLAS. They take
canonical arguments only (per-dimension tuples, padding as ``(lo, hi)`` pairs,
batched ``(N, C, *spatial)`` arrays) and compute in float64.

Definitions (per spatial dimension, ``x`` the image, ``y`` the window):
image position = y * stride + tap * dilation - lo.
"""

from __future__ import annotations

import itertools

import numpy as np


def _positions(shape):
    return itertools.product(*(range(n) for n in shape))


def _window_sizes(size, kernel, stride, pads, dilation):
    return tuple(
        (n + lo + hi - d * (k - 1) - 1) // s + 1
        for n, k, s, (lo, hi), d in zip(size, kernel, stride, pads, dilation)
    )


def _image_index(y, t, stride, dilation, pads):
    return tuple(yi * s + ti * d - lo for yi, ti, s, d, (lo, _) in zip(y, t, stride, dilation, pads))


def _inside(index, size):
    return all(0 <= i < n for i, n in zip(index, size))


def conv(x, w, b, stride, pads, dilation, groups):
    """``out[n, o, y] = b[o] + sum_{c in group(o), t} w[o, c, t] * x[n, c, y*s + t*d - lo]``."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    n_batch = x.shape[0]
    c_out, c_per_group = w.shape[:2]
    size, kernel = x.shape[2:], w.shape[2:]
    out_shape = _window_sizes(size, kernel, stride, pads, dilation)
    out = np.zeros((n_batch, c_out, *out_shape))
    out_per_group = c_out // groups
    for n, o in itertools.product(range(n_batch), range(c_out)):
        first = (o // out_per_group) * c_per_group
        for y in _positions(out_shape):
            total = 0.0 if b is None else float(b[o])
            for c, t in itertools.product(range(c_per_group), _positions(kernel)):
                index = _image_index(y, t, stride, dilation, pads)
                if _inside(index, size):
                    total += w[(o, c, *t)] * x[(n, first + c, *index)]
            out[(n, o, *y)] = total
    return out


def conv_transpose(x, w, b, stride, pads, output_padding, dilation, groups):
    """Scatter every input pixel times the kernel: ``out[n, o, y*s + t*d - lo] += x[n, c, y] w[c, o', t]``."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    n_batch, c_in = x.shape[:2]
    out_per_group = w.shape[1]
    size, kernel = x.shape[2:], w.shape[2:]
    out_shape = tuple(
        (n - 1) * s - lo - hi + d * (k - 1) + op + 1
        for n, k, s, (lo, hi), op, d in zip(size, kernel, stride, pads, output_padding, dilation)
    )
    out = np.zeros((n_batch, out_per_group * groups, *out_shape))
    in_per_group = c_in // groups
    for n, c in itertools.product(range(n_batch), range(c_in)):
        group = c // in_per_group
        for y in _positions(size):
            for o, t in itertools.product(range(out_per_group), _positions(kernel)):
                index = _image_index(y, t, stride, dilation, pads)
                if _inside(index, out_shape):
                    out[(n, group * out_per_group + o, *index)] += x[(n, c, *y)] * w[(c, o, *t)]
    if b is not None:
        out += np.asarray(b, np.float64).reshape(-1, *(1,) * len(size))
    return out


def unfold(x, kernel, dilation, pads, stride):
    """``cols[n, c*K + t, l] = x[n, c, y_l*s + t*d - lo]`` (0 outside), K = prod(kernel)."""
    x = np.asarray(x, np.float64)
    n_batch, channels = x.shape[:2]
    size = x.shape[2:]
    out_shape = _window_sizes(size, kernel, stride, pads, dilation)
    taps = list(_positions(kernel))
    windows = list(_positions(out_shape))
    cols = np.zeros((n_batch, channels * len(taps), len(windows)))
    for n, c in itertools.product(range(n_batch), range(channels)):
        for ti, t in enumerate(taps):
            for li, y in enumerate(windows):
                index = _image_index(y, t, stride, dilation, pads)
                if _inside(index, size):
                    cols[n, c * len(taps) + ti, li] = x[(n, c, *index)]
    return cols


def fold(cols, output_size, kernel, dilation, pads, stride):
    """The adjoint of :func:`unfold`: ``out[n, c, y_l*s + t*d - lo] += cols[n, c*K + t, l]``."""
    cols = np.asarray(cols, np.float64)
    n_batch, rows, _ = cols.shape
    taps = list(_positions(kernel))
    channels = rows // len(taps)
    windows = list(_positions(_window_sizes(output_size, kernel, stride, pads, dilation)))
    out = np.zeros((n_batch, channels, *output_size))
    for n, c in itertools.product(range(n_batch), range(channels)):
        for ti, t in enumerate(taps):
            for li, y in enumerate(windows):
                index = _image_index(y, t, stride, dilation, pads)
                if _inside(index, output_size):
                    out[(n, c, *index)] += cols[n, c * len(taps) + ti, li]
    return out


def same_pads(size, kernel, stride, dilation):
    """SAME_UPPER written out again: ceil(n/s) outputs, odd padding pixel at the end."""
    pads = []
    for n, k, s, d in zip(size, kernel, stride, dilation):
        total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)
