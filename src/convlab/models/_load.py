"""``load_unet``: a U-Net from a state_dict, its layout and hyper-parameters read from the keys and shapes.

The layouts and how each is recognised and built live in :mod:`._registry`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._args import ConvlabError
from ..io import strip_wrapper_prefixes
from ..nn._module import as_numpy
from ._encoder_decoder import UNetBase
from ._registry import LAYOUTS, REGISTRY
from ._registry import layout as registered

__all__ = ["LAYOUTS", "detect_layout", "load_unet"]

# Non-array entries some training scripts add (Pytorch-UNet's train.py adds its mask values).
_EXTRAS = ("mask_values",)


def detect_layout(keys: Any) -> str:
    """The name of the registered layout whose key marker starts one of ``keys``.

    >>> detect_layout(["inc.double_conv.0.weight", "outc.conv.weight"])
    'milesial'
    """
    names = [str(k) for k in keys]
    for entry in REGISTRY.values():
        if any(k.startswith(entry.marker) for k in names):
            return entry.name
    shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
    expected = ", ".join(f"'{e.marker}*' ({e.name})" for e in REGISTRY.values())
    raise ConvlabError(
        f"cannot tell the U-Net layout from the state_dict keys ({shown or 'none'}): expected keys "
        f"starting with {expected}; pass layout= if the keys are renamed"
    )


def _plain(state_dict: Mapping) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """NumPy arrays by key, wrapper prefixes removed; and the non-array extras, set aside."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to arrays, got {type(state_dict).__name__}")
    extras = {k: state_dict[k] for k in _EXTRAS if k in state_dict}
    items, _ = strip_wrapper_prefixes({k: v for k, v in state_dict.items() if k not in extras})
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
    layout : {'auto', 'convlab', 'milesial', 'jvanvugt'} or another registered name
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
    entry = registered(layout)
    floats = [a.dtype for a in state.values() if a.dtype.kind == "f"]
    config.setdefault("dtype", np.float64 if np.float64 in floats else np.float32)
    model = entry.build(state, dict(config))
    model.load_state_dict(state)
    if "mask_values" in extras:
        model.mask_values = extras["mask_values"]
    return model
