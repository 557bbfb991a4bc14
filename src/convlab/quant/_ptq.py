"""Post-training quantisation of a float convlab U-Net and its integer forward pass.

Scheme (what :func:`quantize_unet` builds and :meth:`QuantizedUNet.run` computes):

- activations: uint8, one ``(scale, zero_point)`` per tensor, calibrated on
  the float network's activations (:class:`RangeObserver`); a ReLU is folded
  into its convolution: the output range starts at 0, so the zero point is 0
  and QLinearConv's saturation at code 0 *is* the ReLU;
- weights: int8 symmetric, one scale per output channel; bias int32 at scale
  ``float32(x_scale * w_scale[c])`` (rounded half to even, saturated);
- convolution: :func:`qlinear_conv`; up-convolution: :func:`qlinear_conv_transpose`;
  max pooling on codes (:func:`max_pool`, exact: the map is monotonic);
- skip join: the skip's codes are center-cropped (or the up-sampled codes
  padded with their zero point), then :func:`qlinear_concat` requantises each
  part to the concat's own calibrated scale (no shared scale is imposed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .._args import ConvlabError
from ._conv import qlinear_conv
from ._conv_transpose import qlinear_conv_transpose
from ._elementwise import qlinear_concat
from ._linear import dequantize_linear, quantize_linear
from ._pool import max_pool
from ._ptq_calibrate import RangeObserver, activation_qparams, weight_qparams
from ._ptq_program import Node, check_lowering, crop_or_pad, float_node, lower_unet

__all__ = ["QLayer", "QuantizedUNet", "quantize_unet"]


@dataclass(frozen=True)
class QLayer:
    """One integer layer as it ran: codes in, weights, int32 bias, codes out, with their scales.

    ``x`` is a list of input code arrays (two for 'concat'), ``x_scale`` and
    ``x_zero_point`` lists to match; ``w``/``w_scale``/``w_zero_point``/``bias``
    are None for pooling and concat. ``attrs``: stride, padding pairs, ...
    """

    name: str
    op: str
    x: list
    x_scale: list
    x_zero_point: list
    w: np.ndarray | None
    w_scale: np.ndarray | None
    w_zero_point: np.ndarray | None
    bias: np.ndarray | None
    y: np.ndarray
    y_scale: np.float32
    y_zero_point: np.uint8
    attrs: dict = field(default_factory=dict)


@dataclass
class QNode:
    """A lowered node with its integer parameters (weights int8, bias int32)."""

    node: Node
    w: np.ndarray | None = None
    w_scale: np.ndarray | None = None
    bias: np.ndarray | None = None


def _int_bias(bias: np.ndarray | None, x_scale: np.float32, w_scale: np.ndarray) -> np.ndarray | None:
    if bias is None:
        return None
    step = (np.float32(x_scale) * w_scale.astype(np.float32)).astype(np.float64)
    return np.clip(np.rint(bias / step), -(2**31), 2**31 - 1).astype(np.int32)


class QuantizedUNet:
    """An int8/uint8 U-Net: the lowered nodes, integer weights and one ``(scale, zp)`` per tensor.

    Build it with :func:`quantize_unet`. ``qnet(x)`` returns the dequantised
    logits of a float input; :meth:`run` the output codes and, if asked, every
    layer's :class:`QLayer`.

    Examples
    --------
    >>> from convlab.models import UNet
    >>> net = UNet(width=2, depth=1, padding="same", seed=1)
    >>> qnet = quantize_unet(net, [np.random.default_rng(0).random((1, 1, 16, 16))])
    >>> qnet(np.zeros((1, 1, 16, 16))).shape
    (1, 2, 16, 16)
    """

    def __init__(self, qnodes: list[QNode], merge, qparams: list, ndim: int, in_channels: int):
        self.qnodes, self.merge, self.qparams = qnodes, merge, qparams
        self.ndim, self.in_channels = ndim, in_channels

    def quantize_input(self, x) -> np.ndarray:
        """The input's uint8 codes (float32 division, as onnxruntime's QuantizeLinear)."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != self.ndim + 2 or x.shape[1] != self.in_channels:
            raise ConvlabError(
                f"x must have shape (N, {self.in_channels}, *{self.ndim} sizes), got {tuple(x.shape)}"
            )
        scale, zero = self.qparams[0]
        return quantize_linear(x, scale, zero)

    def run(self, x, *, record: bool = False) -> tuple[np.ndarray, list[QLayer]]:
        """``(output codes, layers)``: the integer forward pass of float input ``x``.

        ``layers`` lists a :class:`QLayer` per node when ``record`` is true, else is empty.
        """
        codes = [self.quantize_input(x)]
        layers = []
        for q in self.qnodes:
            y = self._apply(q, [codes[i] for i in q.node.src])
            codes.append(y)
            if record:
                layers.append(self._layer(q, [codes[i] for i in q.node.src], y))
        return codes[-1], layers

    def __call__(self, x) -> np.ndarray:
        y, _ = self.run(x)
        scale, zero = self.qparams[-1]
        return dequantize_linear(y, scale, zero)

    def _apply(self, q: QNode, x: list[np.ndarray]) -> np.ndarray:
        node, a = q.node, q.node.attrs
        (xs, xz), (ys, yz) = self.qparams[node.src[0]], self.qparams[node.dst]
        wz = None if q.w is None else np.zeros(q.w_scale.shape, np.int8)
        if node.op == "conv":
            y = qlinear_conv(
                x[0],
                xs,
                xz,
                q.w,
                q.w_scale,
                wz,
                ys,
                yz,
                q.bias,
                stride=a["stride"],
                padding=a["padding"],
                dilation=a["dilation"],
                groups=a["groups"],
            )
        elif node.op == "conv_transpose":
            y = qlinear_conv_transpose(x[0], xs, xz, q.w, q.w_scale, wz, ys, yz, q.bias, stride=a["stride"])
        elif node.op == "max_pool":
            return max_pool(x[0], a["kernel"], a["stride"], a["padding"], a["dilation"])
        else:
            skip, up = crop_or_pad(self.merge, x[0], x[1], fill=self.qparams[node.src[1]][1])
            parts = [(skip, *self.qparams[node.src[0]]), (up, *self.qparams[node.src[1]])]
            return qlinear_concat(ys, yz, parts if self.merge.skip_first else parts[::-1], axis=1)
        # Never taken with calibrated ranges (a ReLU output's zero point is 0); kept exact for any zp.
        return np.maximum(y, yz) if node.relu else y

    def _layer(self, q: QNode, x: list[np.ndarray], y: np.ndarray) -> QLayer:
        node = q.node
        scales = [self.qparams[i] for i in node.src]
        ys, yz = self.qparams[node.dst]
        wz = None if q.w is None else np.zeros(q.w_scale.shape, np.int8)
        attrs = dict(node.attrs, relu=node.relu)
        return QLayer(
            node.name,
            node.op,
            x,
            [s for s, _ in scales],
            [z for _, z in scales],
            q.w,
            q.w_scale,
            wz,
            q.bias,
            y,
            ys,
            yz,
            attrs,
        )

    def float_run(self, x) -> list[np.ndarray]:
        """Every tensor of the float (BN-folded) network, input first: the reference of the error report."""
        ts = [np.asarray(x, np.float64)]
        for q in self.qnodes:
            ts.append(float_node(q.node, self.merge, [ts[i] for i in q.node.src]))
        return ts


def _images(images: Iterable, ndim: int, in_channels: int) -> list[np.ndarray]:
    out = []
    for i, image in enumerate(images):
        a = np.asarray(image, dtype=np.float64)
        if a.ndim != ndim + 2 or a.shape[1] != in_channels:
            raise ConvlabError(
                f"images[{i}] must have shape (N, {in_channels}, *{ndim} sizes), got {tuple(a.shape)}"
            )
        out.append(a)
    if not out:
        raise ConvlabError("images must hold at least one calibration image")
    return out


def quantize_unet(
    model, images: Iterable, *, method: str = "minmax", percentile: float = 99.99
) -> QuantizedUNet:
    """Post-training quantisation of a float convlab U-Net, calibrated on ``images``.

    Parameters
    ----------
    model : convlab U-Net (``convlab.models``: UNet or a layout ``load_unet`` builds)
        Conv, BatchNorm (folded), ReLU, MaxPool, ConvTranspose with kernel == stride.
    images : iterable of array_like, each ``(N, C_in, *spatial)``
        Calibration inputs, run through the float network.
    method : {'minmax', 'percentile'}
    percentile : float in [50, 100]
        For 'percentile': each tensor's range is the mean over images of its
        ``100 - p`` and ``p`` percentiles.

    Returns
    -------
    QuantizedUNet

    Examples
    --------
    >>> from convlab.models import UNet
    >>> qnet = quantize_unet(UNet(width=2, depth=1, padding="same"), [np.ones((1, 1, 8, 8))])
    >>> [q.node.op for q in qnet.qnodes]
    ['conv', 'conv', 'max_pool', 'conv', 'conv', 'conv_transpose', 'concat', 'conv', 'conv', 'conv']
    """
    nodes, merge = lower_unet(model)
    images = _images(images, model.ndim, model.in_channels)
    for image in images:
        model.trace(image.shape)  # a size the network cannot take fails here, naming the layer
    observers = [RangeObserver(method, percentile) for _ in range(len(nodes) + 1)]
    for k, image in enumerate(images):
        ts = [image]
        for node in nodes:
            ts.append(float_node(node, merge, [ts[i] for i in node.src]))
        if k == 0:
            check_lowering(model, nodes, merge, ts)
        for obs, t in zip(observers, ts):
            obs.update(t)
    qparams = [activation_qparams(*obs.range()) for obs in observers]
    for node in nodes:
        if node.op == "max_pool":  # pooling codes is exact only at its input's scale
            qparams[node.dst] = qparams[node.src[0]]
    qnodes = []
    for node in nodes:
        if node.weight is None:
            qnodes.append(QNode(node))
            continue
        w, w_scale = weight_qparams(node.weight, axis=1 if node.op == "conv_transpose" else 0)
        bias = _int_bias(node.bias, qparams[node.src[0]][0], w_scale)
        qnodes.append(QNode(node, w, w_scale, bias))
    return QuantizedUNet(qnodes, merge, qparams, model.ndim, model.in_channels)
