"""``load_unet``: a U-Net from a state_dict, its layout and hyper-parameters read from the keys and shapes."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._args import ConvlabError
from ..nn._module import as_numpy
from ._config import UNetConfig
from ._flow import UNetBase
from ._jvanvugt import JvanvugtUNet
from ._milesial import MilesialUNet
from ._unet import UNet

__all__ = ["LAYOUTS", "detect_layout", "load_unet"]

LAYOUTS = ("convlab", "milesial", "jvanvugt")
# Wrappers that prefix every key: DataParallel/DistributedDataParallel, torch.compile.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# Non-array entries some training scripts add (Pytorch-UNet's train.py adds its mask values).
_EXTRAS = ("mask_values",)
_MARKERS = {"milesial": "inc.double_conv.", "jvanvugt": "down_path.", "convlab": "bottom."}


def detect_layout(keys: Any) -> str:
    """``'convlab'``, ``'milesial'`` or ``'jvanvugt'`` from state_dict keys.

    >>> detect_layout(["inc.double_conv.0.weight", "outc.conv.weight"])
    'milesial'
    """
    names = list(keys)
    for layout, marker in _MARKERS.items():
        if any(str(k).startswith(marker) for k in names):
            return layout
    shown = ", ".join(map(str, names[:4])) + (", ..." if len(names) > 4 else "")
    expected = ", ".join(f"'{m}*' ({layout})" for layout, m in _MARKERS.items())
    raise ConvlabError(
        f"cannot tell the U-Net layout from the state_dict keys ({shown or 'none'}): expected keys "
        f"starting with {expected}; pass layout= if the keys are renamed"
    )


def _count(state: Mapping, pattern: str, start: int = 0) -> int:
    return next(i for i in itertools.count(start) if pattern.format(i) not in state) - start


def _need(state: Mapping, key: str, layout: str) -> np.ndarray:
    if key not in state:
        raise ConvlabError(f"the state_dict has no {key!r}, which every {layout} U-Net has")
    return state[key]


def _convlab(state: Mapping, config: dict) -> UNet:
    depth = _count(state, "down{}.conv1.weight")
    bottom = _need(state, "bottom.conv1.weight", "convlab")
    first = state["down0.conv1.weight"] if depth else bottom
    inferred = {
        "in_channels": first.shape[1],
        "classes": _need(state, "head.weight", "convlab").shape[0],
        "depth": depth,
        "width": bottom.shape[0] >> depth,
        "convs_per_level": _count(state, "bottom.conv{}.weight", start=1),
        "kernel_size": bottom.shape[2],
        "batch_norm": "bottom.norm1.running_mean" in state,
        "up_mode": "bilinear" if any(k.endswith(".reduce.weight") for k in state) else "transpose",
        "ndim": bottom.ndim - 2,
    }
    dtype = config.pop("dtype")
    return UNet(dataclasses.replace(UNetConfig(**inferred), **config), dtype=dtype)


def _milesial(state: Mapping, config: dict) -> MilesialUNet:
    first = _need(state, "inc.double_conv.0.weight", "milesial")
    inferred = {
        "n_channels": first.shape[1],
        "n_classes": _need(state, "outc.conv.weight", "milesial").shape[0],
        "bilinear": "up1.up.weight" not in state,
        "width": first.shape[0],
        "conv_bias": "inc.double_conv.0.bias" in state,
    }
    return MilesialUNet(**{**inferred, **config})


def _jvanvugt(state: Mapping, config: dict) -> JvanvugtUNet:
    first = _need(state, "down_path.0.block.0.weight", "jvanvugt")
    wf = round(math.log2(first.shape[0]))
    if 2**wf != first.shape[0]:
        raise ConvlabError(
            f"jvanvugt U-Nets have 2**wf channels on the first level, got {first.shape[0]} "
            "(down_path.0.block.0.weight)"
        )
    inferred = {
        "in_channels": first.shape[1],
        "n_classes": _need(state, "last.weight", "jvanvugt").shape[0],
        "depth": _count(state, "down_path.{}.block.0.weight"),
        "wf": wf,
        "batch_norm": "down_path.0.block.2.running_mean" in state,
        "up_mode": "upsample" if "up_path.0.up.1.weight" in state else "upconv",
    }
    return JvanvugtUNet(**{**inferred, **config})


_BUILDERS = {"convlab": _convlab, "milesial": _milesial, "jvanvugt": _jvanvugt}


def _plain(state_dict: Mapping) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """NumPy arrays by key, wrapper prefixes removed; and the non-array extras, set aside."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to arrays, got {type(state_dict).__name__}")
    extras = {k: state_dict[k] for k in _EXTRAS if k in state_dict}
    items = {str(k): v for k, v in state_dict.items() if k not in extras}
    for prefix in _WRAPPER_PREFIXES:
        if items and all(k.startswith(prefix) for k in items):
            items = {k[len(prefix) :]: v for k, v in items.items()}
    return {k: as_numpy(v, f"state_dict[{k!r}]") for k, v in items.items()}, extras


def load_unet(state_dict: Mapping[str, Any], layout: str = "auto", **config: Any) -> UNetBase:
    """A U-Net with the weights of ``state_dict`` loaded, its architecture inferred from the keys.

    Parameters
    ----------
    state_dict : mapping of str to array_like or torch tensors
        As ``torch.load`` returns it for these projects' checkpoints. A
        ``module.`` or ``_orig_mod.`` prefix on every key (DataParallel,
        torch.compile) is removed; Pytorch-UNet's ``mask_values`` entry is set
        aside as the model's ``mask_values`` attribute.
    layout : {'auto', 'convlab', 'milesial', 'jvanvugt'}
        ``'auto'`` tells them apart by their keys (:func:`detect_layout`).
    **config
        Hyper-parameters the weights cannot tell, or overrides of inferred
        ones: ``padding`` and ``pooling`` of convlab's :class:`UNetConfig` (then
        ``'valid'``, ``'max'`` unless given) and of :class:`JvanvugtUNet`
        (``False``, ``'max'``); ``dtype`` (default: float64 if the weights
        are, else float32).

    Returns
    -------
    UNet, MilesialUNet or JvanvugtUNet
        Inferred: channels, classes, width, depth, convs per level, kernel
        size, batch norm, up-sampling mode, ``ndim`` (convlab); ``bilinear``
        and conv bias (milesial).

    Raises
    ------
    StateDictError
        If the weights do not fit the inferred network (keys listed).

    Examples
    --------
    >>> from convlab.models import UNet
    >>> state = UNet(width=4, depth=2, batch_norm=True).state_dict()
    >>> net = load_unet(state)
    >>> net.config.width, net.config.depth, net.config.batch_norm
    (4, 2, True)
    """
    state, extras = _plain(state_dict)
    if layout == "auto":
        layout = detect_layout(state)
    if layout not in _BUILDERS:
        raise ConvlabError(f"layout must be 'auto' or one of {', '.join(map(repr, LAYOUTS))}, got {layout!r}")
    floats = [a.dtype for a in state.values() if a.dtype.kind == "f"]
    config.setdefault("dtype", np.float64 if np.float64 in floats else np.float32)
    model = _BUILDERS[layout](state, dict(config))
    model.load_state_dict(state)
    if "mask_values" in extras:
        model.mask_values = extras["mask_values"]
    return model
