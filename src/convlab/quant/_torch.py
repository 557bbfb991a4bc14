"""PyTorch's quantized convolution (``torch.ao.nn.quantized.Conv*d``), reproduced bit for bit.

What the engines actually compute on x86-64, found by reading them and held
to them by the tests (input quint8, weight qint8, output quint8):

``'fbgemm'``
    ``acc`` = the exact int32 sum of ``(x - x_zp)(w - w_zp)``, except that
    without AVX512-VNNI (AVX2 machines, or ``FBGEMM_ENABLE_INSTRUCTIONS=AVX2``)
    the kernel multiplies the raw codes with ``vpmaddubsw``, which adds
    adjacent products along K = (kernel tap, input channel), channel fastest,
    into int16 *with saturation* (``int16_pairs=True``). The float bias is
    folded in as ``float32(acc) + float32(bias / (x_scale * w_scale))``, then
    ``y = rint(that * float32(x_scale * w_scale / y_scale)) + y_zp``, all in
    float32, saturated to [0, 255].
``'qnnpack'``
    The bias becomes int32 first, ``rint(bias * float32(1 / (x_scale * w_scale)))``,
    and is added to the exact accumulator; then
    ``y = rint(float32(acc) * float32(x_scale * w_scale / y_scale)) + y_zp``.

``reduce_range`` is not in the kernel: it makes the observers pick 7-bit
activation codes (0..127), so that a pair of products stays below
``2 * 127 * 128 = 32512`` and the int16 saturation above can never happen.
With full 8-bit activations on an AVX2 machine it does, which is what makes
hand-written references disagree with fbgemm (pytorch#63769).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._args import ConvlabError
from ._conv import conv_integer
from ._conv_args import conv_geometry, conv_operands, shifted
from ._params import as_scale
from ._windows import gather

__all__ = ["torch_quantized_conv"]

ENGINES = ("fbgemm", "qnnpack")


def _int16_pair_accumulators(ops, stride, padding, dilation) -> np.ndarray:
    """fbgemm's AVX2 sum: raw-code products added in saturating int16 pairs, then zero points exactly."""
    geom, out_shape, _ = conv_geometry(ops.x.shape[2:], ops.w.shape[2:], stride, padding, dilation)
    xs, _ = shifted(ops, transposed=False)
    n, c_in, g = xs.shape[0], xs.shape[1], ops.groups
    cols = np.empty((n, c_in, geom.taps, *out_shape), np.int64)
    gather(xs, geom, tuple(slice(0, o) for o in out_shape), cols)
    zx = int(ops.x_zero_point)
    cols += zx  # raw codes again, padding included (it holds the zero point)
    cg, og = c_in // g, ops.w.shape[0] // g
    # K = (tap, channel) with the channel fastest, per group; an odd K pairs its last term with 0.
    a = cols.reshape(n, g, cg, geom.taps, -1).transpose(0, 1, 3, 2, 4).reshape(n, g, geom.taps * cg, -1)
    w = ops.w.astype(np.int64).reshape(g, og, cg, geom.taps).transpose(0, 1, 3, 2).reshape(g, og, -1)
    if a.shape[2] % 2:
        a = np.concatenate([a, np.zeros_like(a[:, :, :1])], axis=2)
        w = np.concatenate([w, np.zeros_like(w[:, :, :1])], axis=2)
    pairs = a[:, :, None, 0::2] * w[None, :, :, 0::2, None] + a[:, :, None, 1::2] * w[None, :, :, 1::2, None]
    raw = np.clip(pairs, -(2**15), 2**15 - 1).sum(axis=3).reshape(n, g * og, *out_shape)
    # The zero-point terms are exact: fbgemm subtracts row and column offsets in int32.
    per_channel = (-1, *(1,) * len(out_shape))
    zw = ops.w_zero_point.reshape(per_channel)
    col_sums = ops.w.astype(np.int64).reshape(g * og, -1).sum(axis=1).reshape(per_channel)
    a_sums = a.sum(axis=2)[:, :, None].repeat(og, axis=2).reshape(n, g * og, *out_shape)
    depth = cg * geom.taps
    return raw - zx * col_sums - zw * a_sums + depth * zx * zw


def torch_quantized_conv(
    x: ArrayLike,
    x_scale: float,
    x_zero_point: int,
    w: ArrayLike,
    w_scale: ArrayLike,
    w_zero_point: ArrayLike,
    bias: ArrayLike | None,
    y_scale: float,
    y_zero_point: int,
    *,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
    engine: str = "fbgemm",
    int16_pairs: bool = False,
) -> np.ndarray:
    """The quint8 codes ``torch.ao.nn.quantized.Conv{1,2,3}d`` returns on ``engine``.

    Parameters
    ----------
    x : array_like of uint8, shape ``(N, C_in, *spatial)``
        ``xq.int_repr()``.
    x_scale, x_zero_point : float, int
        ``xq.q_scale()``, ``xq.q_zero_point()``.
    w : array_like of int8, shape ``(C_out, C_in/groups, *kernel)``
        ``wq.int_repr()``.
    w_scale, w_zero_point : float/int or array_like, shape ``(C_out,)``
        Per tensor or per channel (``wq.q_per_channel_scales()``).
    bias : array_like of float32, shape ``(C_out,)``, or None
    y_scale, y_zero_point : float, int
        The module's ``scale`` and ``zero_point``.
    stride, padding, dilation, groups
        As the module (padding: ints or pairs; it holds ``x_zero_point``).
    engine : {'fbgemm', 'qnnpack'}
        ``torch.backends.quantized.engine``.
    int16_pairs : bool
        fbgemm without AVX512-VNNI: saturate each pair of products to int16.

    Returns
    -------
    numpy.ndarray of uint8, shape ``(N, C_out, *out)``

    Notes
    -----
    The recipes are in this module's docstring. ``int16_pairs`` materialises
    ``C_out * K/2`` products per output position: meant for layers of test size.

    Examples
    --------
    >>> x = np.full((1, 64, 1, 1), 255, np.uint8)
    >>> w = np.full((1, 64, 1, 1), 127, np.int8)
    >>> args = (x, 1.0, 0, w, 1.0, 0, None, 2.0**13, 0)
    >>> torch_quantized_conv(*args).item(), torch_quantized_conv(*args, int16_pairs=True).item()
    (253, 128)
    """
    if engine not in ENGINES:
        raise ConvlabError(f"engine must be one of {ENGINES}, got engine={engine!r}")
    if int16_pairs and engine != "fbgemm":
        raise ConvlabError("int16_pairs applies to engine='fbgemm' only (QNNPACK accumulates in int32)")
    ops = conv_operands(x, w, x_zero_point, w_zero_point, groups, transposed=False)
    if ops.x.dtype != np.uint8 or ops.w.dtype != np.int8:
        raise ConvlabError(
            f"x must be uint8 (quint8) and w int8 (qint8), got {ops.x.dtype} and {ops.w.dtype}"
        )
    c_out = ops.w.shape[0]
    sx, sy = (np.float32(as_scale(v, n).reshape(())) for v, n in ((x_scale, "x_scale"), (y_scale, "y_scale")))
    sw = np.broadcast_to(as_scale(w_scale, "w_scale").astype(np.float32).reshape(-1), (c_out,))
    if int16_pairs:
        acc = _int16_pair_accumulators(ops, stride, padding, dilation)
    else:
        acc = conv_integer(ops.x, ops.w, x_zero_point, w_zero_point, stride=stride, padding=padding,
                           dilation=dilation, groups=groups).astype(np.int64)  # fmt: skip
    shape = (-1, *(1,) * (acc.ndim - 2))
    act_times_w = sx * sw
    multiplier = (act_times_w / sy).reshape(shape)
    b = None if bias is None else np.asarray(bias, np.float32).reshape(-1)
    if b is not None and b.shape != (c_out,):
        raise ConvlabError(f"bias must have shape ({c_out},), got shape {np.shape(bias)}")
    if engine == "fbgemm":
        value = acc.astype(np.float32)
        if b is not None:
            value = value + (b / act_times_w).reshape(shape)
    else:
        if b is not None:
            acc = acc + np.rint(b * (np.float32(1) / act_times_w)).astype(np.int64).reshape(shape)
        value = acc.astype(np.float32)
    y = np.rint(value * multiplier) + np.float32(int(y_zero_point))
    return np.clip(y, 0, 255).astype(np.uint8)
