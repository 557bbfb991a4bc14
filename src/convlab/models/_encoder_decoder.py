"""The encoder-decoder data flow shared by every U-Net layout: levels, skips, merges, head.

Each layout only lists its steps (``_plan``); forward, the shape-only trace
and the size contract walk the same plan, so none can drift from what
forward computes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._args import ConvlabError
from ..functional._copy import copy_into
from ..functional._pad import pad
from ..nn import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, Module, TraceRow, run_chain
from ..nn._trace import trace_into
from ..shapes import CropBox, SizeContract, center_crop_box
from ._contract import plan_contract

__all__ = ["Merge", "Plan", "UNetBase"]

Steps = Sequence[tuple[str, Module]]
# Exact types: a subclass may override forward, and then it must run as written.
_TRANSPOSED = (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)


@dataclass(frozen=True)
class Merge:
    """How a decoder level joins its skip: the size rule and the concatenation order.

    ``rule`` is ``'center'`` (the skip is center-cropped by torchvision's rule,
    the paper's unpadded U-Net), ``'floor'`` (cropped from ``(n - t) // 2``, as
    jvanvugt/pytorch-unet slices it) or ``'pad'`` (the up-sampled features are
    zero-padded to the skip's size, the odd pixel at the end, as Pytorch-UNet).
    """

    rule: str
    skip_first: bool

    def window(self, skip: tuple[int, ...], up: tuple[int, ...]) -> tuple[CropBox | None, tuple | None]:
        """``(crop box of the skip, None)`` or ``(None, (lo, hi) pads of the up-sampled features)``."""
        if self.rule == "pad":
            return None, tuple((d // 2, d - d // 2) for d in (s - u for s, u in zip(skip, up)))
        if any(u > s for s, u in zip(skip, up)):
            raise ConvlabError(f"the up-sampled features {up} are larger than the skip {skip}; cannot crop")
        if self.rule == "center":
            return center_crop_box(skip, up), None
        starts = tuple((s - u) // 2 for s, u in zip(skip, up))
        stops = tuple(a + u for a, u in zip(starts, up))
        return CropBox(tuple(skip), tuple(up), ((0, 0),) * len(up), starts, stops), None

    def join(self, skip: np.ndarray, up: Steps, x: np.ndarray) -> np.ndarray:
        """``apply(skip, run(up, x))``, the last up-sampling layer writing into the concatenation.

        When the last step is a transposed convolution whose output needs no
        padding and has the skip's dtype, the concatenation is allocated first,
        the (cropped) skip copied into its half and the up-convolution written
        into the other: no temporary of the up-sampled features and no copy of
        them. The values are those of :meth:`apply` bit for bit.
        """
        x = _run(up[:-1], x)
        last = up[-1][1] if up else None
        # A replaced forward (the golden vectors' recorder) must see the up-sampling as a call.
        plain = type(last) in _TRANSPOSED and "forward" not in last.__dict__
        if not plain or x.ndim != skip.ndim or x.dtype != skip.dtype:
            return self.apply(skip, _run(up[-1:], x))
        shape = last.output_shape(x.shape)
        dtypes = {last.weight.dtype} | ({last.bias.dtype} if last.bias is not None else set())
        if shape[0] != skip.shape[0] or dtypes != {skip.dtype}:
            return self.apply(skip, last(x))
        box, pads = self.window(skip.shape[2:], shape[2:])
        if pads is not None and any(p for pair in pads for p in pair):
            return self.apply(skip, last(x))
        cs, cu = skip.shape[1], shape[1]
        joined = np.empty((skip.shape[0], cs + cu, *shape[2:]), dtype=skip.dtype)
        skip_part, up_part = (
            (slice(0, cs), slice(cs, None)) if self.skip_first else (slice(cu, None), slice(0, cu))
        )
        copy_into(joined[:, skip_part], skip if box is None else skip[(Ellipsis, *box.slices)])
        last.forward_into(x, joined[:, up_part])
        return joined

    def apply(self, skip: np.ndarray, up: np.ndarray) -> np.ndarray:
        box, pads = self.window(skip.shape[2:], up.shape[2:])
        if box is not None:
            skip = skip[(Ellipsis, *box.slices)]
        else:
            up = pad(up, [p for pair in reversed(pads) for p in pair])
        return np.concatenate([skip, up] if self.skip_first else [up, skip], axis=1)

    def shape(self, skip: tuple[int, ...], up: tuple[int, ...]) -> tuple[tuple[int, ...], Any, Any]:
        box, pads = self.window(skip[2:], up[2:])
        spatial = skip[2:] if pads is not None else up[2:]
        return (skip[0], skip[1] + up[1], *spatial), box, pads


@dataclass(frozen=True)
class Plan:
    """A layout's steps: encoder levels (the output of each but the last is a skip),
    decoder levels ``(up steps, merge name, conv steps)`` from the bottom up, and the head."""

    encoder: Sequence[Steps]
    decoder: Sequence[tuple[Steps, str, Steps]]
    head: Steps
    merge: Merge


def _run(steps: Steps, x: np.ndarray) -> np.ndarray:
    return run_chain((module for _, module in steps), x)


class UNetBase(Module):
    """forward and trace of a U-Net described by ``_plan()``; subclasses add ``_check``."""

    in_channels: int
    ndim: int

    def _plan(self) -> Plan:
        raise NotImplementedError

    def _check(self, shape: tuple[int, ...]) -> None:
        """Raise before any compute if ``shape`` cannot go through; default: channels and rank."""
        if len(shape) != self.ndim + 2 or shape[1] != self.in_channels:
            raise ConvlabError(
                f"{type(self).__name__} expects input of shape (N, {self.in_channels}, *{self.ndim} "
                f"spatial sizes), got input of shape {tuple(shape)}"
            )

    @property
    def size_contract(self) -> SizeContract:
        """Valid input sizes, margin, alignment and halo, derived from the plan (see :mod:`convlab.tiling`).

        Computed on first use (a walk of the plan with integers, tens of
        milliseconds) and kept: a model's architecture does not change.

        >>> from convlab.models import UNet
        >>> c = UNet(width=1).size_contract
        >>> c.smallest, c.step, c.margin[0], c.alignment, c.halo
        ((188, 188), (16, 16), (92, 92), (16, 16), (0, 0))
        """
        contract = self.__dict__.get("_size_contract")
        if contract is None:
            contract = plan_contract(self._plan(), self.ndim)
            object.__setattr__(self, "_size_contract", contract)
        return contract

    def forward(self, x: Any) -> np.ndarray:
        """The logits ``(N, classes, *out_spatial)`` of ``x`` ``(N, C_in, *spatial)``.

        ``x`` is converted to the model's dtype (:attr:`dtype`). The whole
        shape path is traced first, so a size that does not fit fails before
        any arithmetic, naming the layer.
        """
        x = np.asarray(x, dtype=self.dtype)
        self.trace(x.shape)
        plan = self._plan()
        skips = []
        for steps in plan.encoder:
            x = _run(steps, x)
            skips.append(x)
        skips.pop()
        for up, _, convs in plan.decoder:
            x = plan.merge.join(skips.pop(), up, x)
            x = _run(convs, x)
        return _run(plan.head, x)

    def _trace(self, name: str, shape: tuple[int, ...], rows: list[TraceRow], itemsize: int) -> tuple:
        self._check(shape)
        plan = self._plan()

        def walk(steps: Steps, shape: tuple) -> tuple:
            for step_name, module in steps:
                full = f"{name}.{step_name}" if name else step_name
                shape = trace_into(module, full, shape, rows, itemsize)
            return shape

        skips = []
        for steps in plan.encoder:
            shape = walk(steps, shape)
            skips.append(shape)
        skips.pop()
        for up, merge_name, convs in plan.decoder:
            shape, box, pads = plan.merge.shape(skips.pop(), walk(up, shape))
            merge_name = f"{name}.{merge_name}" if name else merge_name
            rows.append(TraceRow(merge_name, "Concat", shape, 0, 0, math.prod(shape) * itemsize, box, pads))
            shape = walk(convs, shape)
        return walk(plan.head, shape)
