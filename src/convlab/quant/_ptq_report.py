"""How far a :class:`QuantizedUNet` is from its float network, layer by layer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._linear import dequantize_linear
from ._ptq import QuantizedUNet

__all__ = ["LayerError", "layer_errors"]


@dataclass(frozen=True)
class LayerError:
    """Float-vs-integer error of one layer's output (the integer run end to end, not re-seeded per layer).

    ``max_abs`` and ``rms`` are in the tensor's real units; ``max_steps`` is
    ``max_abs / scale``, the error in quantisation steps: rounding alone
    gives 0.5, the inherited error of the input and of the weights adds to
    it, and a value beyond the calibrated range saturates (tens of steps).
    """

    name: str
    op: str
    scale: float
    zero_point: int
    max_abs: float
    rms: float
    max_steps: float


def layer_errors(qnet: QuantizedUNet, x) -> list[LayerError]:
    """One :class:`LayerError` per node, comparing ``qnet.run(x)`` with the float (BN-folded) network.

    >>> from convlab.models import UNet
    >>> from convlab.quant import quantize_unet
    >>> x = np.linspace(0, 1, 64).reshape(1, 1, 8, 8)
    >>> qnet = quantize_unet(UNet(width=2, depth=1, padding="same", seed=2), [x])
    >>> rows = layer_errors(qnet, x)
    >>> [(r.name, r.op) for r in rows[:3]]
    [('down0.conv1', 'conv'), ('down0.conv2', 'conv'), ('down0.pool', 'max_pool')]
    """
    floats = qnet.float_run(x)
    _, layers = qnet.run(x, record=True)
    rows = []
    for q, layer, ref in zip(qnet.qnodes, layers, floats[1:]):
        real = dequantize_linear(layer.y, layer.y_scale, layer.y_zero_point).astype(np.float64)
        diff = np.abs(real - ref)
        worst = float(diff.max())
        scale = float(layer.y_scale)
        rows.append(
            LayerError(
                q.node.name,
                q.node.op,
                scale,
                int(layer.y_zero_point),
                worst,
                float(np.sqrt(np.mean(diff**2))),
                worst / scale,
            )
        )
    return rows
