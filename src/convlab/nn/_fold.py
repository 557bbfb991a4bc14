"""``fold_batch_norm``: BatchNorm folded into the preceding convolution; opt-in, not bit-equal.

onnxruntime folds ``Conv -> BatchNormalization`` at load time: the
normalisation ``y = conv(x) * a + b`` with ``a = gamma / sqrt(var + eps)``
and ``b = beta - mean * a`` is linear per output channel, so it equals one
convolution with weight ``w * a`` (scaled per output channel) and bias
``bias * a + b``. It saves a pass over every BatchNorm output; the price is
that the rounding changes (the product ``w * a`` is rounded once into the
weight instead of once per output), so results differ from PyTorch's eager
result by a few float32 ulps: convlab's default stays bit-equal and folding
is only done when asked.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np

from ._containers import Sequential
from ._conv import _Conv
from ._layers import Identity, _BatchNorm
from ._module import Module, Parameter

__all__ = ["fold_batch_norm"]


def fold_batch_norm(model: Module) -> Module:
    """A copy of ``model`` with every ``Conv -> BatchNorm`` pair of a ``Sequential`` folded into the conv.

    Parameters
    ----------
    model : convlab.nn.Module
        Left unchanged. Only pairs adjacent in a :class:`Sequential` are
        folded (their order there is the order they run in), when the
        BatchNorm normalises the convolution's output channels.

    Returns
    -------
    convlab.nn.Module
        The folded copy: each folded BatchNorm becomes :class:`Identity`, its
        convolution gains the folded weight and a bias. Its ``state_dict``
        therefore differs from the original's; load weights before folding.

    Notes
    -----
    Not bit-equal to PyTorch's eager BatchNorm (which convlab's default
    reproduces exactly): the folded weight is computed in float64 and
    rounded once to the model's dtype, which moves float32 outputs by a few
    ulps. Cost saved: one read and one write of every folded BatchNorm's output.

    Examples
    --------
    >>> from convlab import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2), nn.ReLU())
    >>> [type(m).__name__ for m in fold_batch_norm(net).children()]
    ['Conv2d', 'Identity', 'ReLU']
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a convlab.nn.Module, got {type(model).__name__}")
    folded = copy.deepcopy(model)
    for module in list(folded.modules()):
        if isinstance(module, Sequential):
            _fold_sequential(module)
    return folded


def _fold_sequential(seq: Sequential) -> None:
    children = list(seq.named_children())
    for (_, conv), (name, norm) in itertools.pairwise(children):
        if (
            isinstance(conv, _Conv)
            and isinstance(norm, _BatchNorm)
            and norm.num_features == conv.out_channels
        ):
            _fold_pair(conv, norm)
            seq._modules[name] = Identity()  # in place: setattr would move it to the end of the run order


def _fold_pair(conv: _Conv, norm: _BatchNorm) -> None:
    dtype = conv.weight.dtype
    scale = 1.0 / np.sqrt(norm.running_var.astype(np.float64) + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -norm.running_mean.astype(np.float64) * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    bias = np.zeros(conv.out_channels) if conv.bias is None else conv.bias.astype(np.float64)
    weight = conv.weight.astype(np.float64) * scale.reshape(-1, *(1,) * (conv.weight.ndim - 1))
    # Plain arrays replace registered parameters in place (state_dict order kept).
    conv.weight = weight.astype(dtype)
    folded_bias = (bias * scale + shift).astype(dtype)
    conv.bias = Parameter(folded_bias) if conv.bias is None else folded_bias
