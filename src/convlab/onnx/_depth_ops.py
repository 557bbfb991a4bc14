"""DepthToSpace: channels rearranged into blocks of pixels (the sub-pixel up-sampling step).

convlab's own int8 U-Net export writes each up-convolution (kernel = stride)
as a 1x1 QLinearConv followed by DepthToSpace in CRD order; exporters emit it
for PixelShuffle. For an input ``(N, C, H, W)`` and block ``b`` the output is
``(N, C/b², H·b, W·b)``; output pixel ``(i, j)`` reads input pixel
``(i // b, j // b)`` of channel ``c·b² + (i % b)·b + j % b`` (CRD) or
``((i % b)·b + j % b)·C/b² + c`` (DCR, the default).
"""

from __future__ import annotations

from fractions import Fraction

from .._args import ConvlabError
from ._registry import MAX_OPSET, Meta, OpSpec, dtype_of, index_map, register, shape_of

_MODES = ("DCR", "CRD")


def _geometry(node, inputs) -> tuple[int, int, int, int, int, str]:
    shape = shape_of(inputs[0])
    if len(shape) != 4:
        raise ConvlabError(f"DepthToSpace takes a 4-D (N, C, H, W) input, got shape {shape}")
    b = int(node.attr("blocksize", 0))
    n, c, h, w = shape
    if b < 1 or c % (b * b):
        raise ConvlabError(f"blocksize={b} must be positive and b² must divide the {c} input channels")
    return n, c // (b * b), h, w, b, str(node.attr("mode", "DCR"))


def _run(node, inputs):
    n, c, h, w, b, mode = _geometry(node, inputs)
    x = inputs[0]
    if mode == "DCR":
        blocks = x.reshape(n, b, b, c, h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        blocks = x.reshape(n, c, b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return (blocks.reshape(n, c, h * b, w * b),)


def _shape(node, inputs):
    n, c, h, w, b, _ = _geometry(node, inputs)
    return (Meta((n, c, h * b, w * b), dtype_of(inputs[0])),)


def _check(node) -> list[str]:
    mode = node.attr("mode", "DCR")
    return [] if mode in _MODES else [f"{node.label()}: mode={mode!r} is not one of {', '.join(_MODES)}"]


def _window(node, inputs, outputs):
    b = _geometry(node, inputs)[4]
    return {0: [index_map(lambda o: [o // b], Fraction(1, b)) for _ in range(2)]}


register(
    "DepthToSpace",
    OpSpec(_run, _shape, ("blocksize", "mode"), (1, MAX_OPSET), _check, window=_window),
)
