"""Layers on :mod:`convlab.functional` with PyTorch's names, parameters and state_dict keys.

Inference only: BatchNorm uses its running statistics, Dropout is the
identity. Parameters are NumPy arrays (float32 by default, ``to(np.float64)``
for float64) stored under torch's names, so ``load_state_dict`` takes a torch
``state_dict`` of the same architecture as it is (tensors or arrays).

- :class:`Module`: ``forward`` / ``__call__``, ``named_children``,
  ``named_parameters``, ``state_dict()`` (parameters and buffers, dotted
  names, torch's order), ``load_state_dict(state, strict=True)`` (missing,
  unexpected and mis-shaped keys are errors naming them; ``strict=False``
  returns :class:`IncompatibleKeys`), ``num_parameters``, ``to(dtype)``,
  ``trace(input_shape)`` (shape-only :class:`TraceRow` per layer).
- :class:`Parameter`, :class:`Buffer`: markers that register an array when
  assigned to a module attribute.
- Layers: ``Conv1d/2d/3d``, ``ConvTranspose1d/2d/3d``, ``MaxPool1d/2d/3d``,
  ``AvgPool1d/2d/3d``, ``ReLU``, ``BatchNorm1d/2d/3d``, ``Upsample``,
  ``Dropout``, ``Dropout1d/2d/3d``, ``Identity``; containers ``Sequential``,
  ``ModuleList``.
- :func:`run_chain`: layers in order, a convolution's ReLU and BatchNorm
  fused into its output blocks (bit for bit the same values); what
  ``Sequential`` and the U-Nets run.
- :func:`fold_batch_norm`: an opt-in copy with ``Conv -> BatchNorm`` folded
  into the convolution, as onnxruntime does (faster, not bit-equal).

Examples
--------
>>> import numpy as np
>>> from convlab import nn
>>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
>>> list(net.state_dict())
['0.weight', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked']
>>> net(np.zeros((2, 1, 8, 8), np.float32)).shape
(2, 4, 8, 8)
"""

from ._chain import run_chain
from ._containers import ModuleList, Sequential
from ._conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ._fold import fold_batch_norm
from ._layers import (
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    Identity,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    ReLU,
    Upsample,
)
from ._module import Buffer, IncompatibleKeys, Module, Parameter, StateDictError
from ._trace import Trace, TraceRow

__all__ = [
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "Buffer",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "Identity",
    "IncompatibleKeys",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "Module",
    "ModuleList",
    "Parameter",
    "ReLU",
    "Sequential",
    "StateDictError",
    "Trace",
    "TraceRow",
    "Upsample",
    "fold_batch_norm",
    "run_chain",
]
