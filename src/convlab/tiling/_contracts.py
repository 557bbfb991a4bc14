"""What tiling reads from a model: its size contract, and nothing else about its architecture."""

from __future__ import annotations

from ..models import UNet, UNetConfig
from ..shapes import SizeContract

__all__ = ["size_contract_of", "stride_words"]


def size_contract_of(model: object) -> SizeContract:
    """The :class:`~convlab.shapes.SizeContract` of ``model``.

    ``model`` is a SizeContract, or has ``size_contract`` (convlab's models,
    an ONNX model), or is a :class:`~convlab.models.UNetConfig` (the
    contract of its UNet), or wraps a model and carries its ``config`` (a
    UNetConfig), as wrappers written for earlier versions of convlab do.

    >>> from convlab.models import UNetConfig
    >>> size_contract_of(UNetConfig()).margin
    ((92, 92), (92, 92))
    """
    if isinstance(model, SizeContract):
        return model
    for holder in (model, getattr(model, "config", None)):
        if isinstance(holder, UNetConfig):
            return UNet.contract_for(holder)
        contract = getattr(holder, "size_contract", None)
        if contract is not None:
            if not isinstance(contract, SizeContract):
                raise TypeError(
                    f"size_contract must be a convlab.shapes.SizeContract, got {type(contract).__name__}"
                )
            return contract
    raise TypeError(
        "model must carry its U-Net configuration (model.config) or, for any model, its size contract "
        f"(model.size_contract, a convlab.shapes.SizeContract); got {type(model).__name__} with neither"
    )


def stride_words(alignment: int) -> str:
    """``'2**depth = 16'`` for a U-Net's power-of-two total stride, else ``'the total stride 6'``."""
    if alignment > 1 and alignment & (alignment - 1) == 0:
        return f"2**depth = {alignment}"
    return f"the total stride {alignment}"
