"""A U-Net's plan lowered to a flat list of quantisable nodes, and its float evaluation.

Each node reads tensors by number (0 is the network input) and writes one new
tensor. BatchNorm is folded into the convolution before it (inference form:
running statistics), a ReLU becomes a flag on the node it follows, the skip
join of a decoder level is one ``concat`` node. Anything else (bilinear
up-sampling, average pooling, a transposed convolution whose kernel differs
from its stride, a BatchNorm after a ReLU) is refused by name: the integer
U-Net covers what it can run exactly and export.

Layers are recognised by their class names (``Conv2d``, ``ReLU``, ...), not
imported: ``quant`` sits below ``nn``/``models`` in the package's layers. A
``Sequential`` is walked in order, and so is a wrapper with one child and no
parameters of its own (milesial's ``DoubleConv``); :func:`check_lowering`
then proves on data that the walk computes what the model computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import functional as F
from .._args import ConvlabError

__all__ = ["Node", "check_lowering", "crop_or_pad", "float_node", "lower_unet"]


def _kind(module) -> str:
    """'Conv', 'ConvTranspose', 'MaxPool', 'BatchNorm', 'ReLU', 'Sequential', 'wrapper' or the class name."""
    name = type(module).__name__
    for prefix in ("ConvTranspose", "Conv", "MaxPool", "BatchNorm"):
        if name.startswith(prefix) and name[len(prefix) :] in ("1d", "2d", "3d"):
            return prefix
    if name in ("ReLU", "Sequential"):
        return name
    children = list(module.named_children()) if hasattr(module, "named_children") else []
    own = getattr(module, "_parameters", {})
    return "wrapper" if len(children) == 1 and not any(v is not None for v in own.values()) else name


@dataclass
class Node:
    """One step: ``op`` in {'conv', 'conv_transpose', 'max_pool', 'concat'}; float weights (BN folded)."""

    name: str
    op: str
    src: tuple[int, ...]
    dst: int
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    relu: bool = False
    attrs: dict = field(default_factory=dict)


def _pairs(module) -> tuple[tuple[int, int], ...]:
    """The module's padding as ``(lo, hi)`` pairs; 'same' puts the odd pixel last, as torch."""
    k, d = module.kernel_size, module.dilation
    if module.padding == "same":
        return tuple((d_ * (k_ - 1) // 2, d_ * (k_ - 1) - d_ * (k_ - 1) // 2) for k_, d_ in zip(k, d))
    if module.padding == "valid":
        return ((0, 0),) * len(k)
    return tuple((p, p) for p in module.padding)


def _conv_node(name: str, m, src: int, dst: int) -> Node:
    if getattr(m, "padding_mode", "zeros") != "zeros":
        raise ConvlabError(f"{name}: padding_mode must be 'zeros' to quantise, got {m.padding_mode!r}")
    w = np.asarray(m.weight, np.float64)
    b = None if m.bias is None else np.asarray(m.bias, np.float64)
    attrs = {
        "stride": tuple(m.stride),
        "padding": _pairs(m),
        "dilation": tuple(m.dilation),
        "groups": m.groups,
    }
    return Node(name, "conv", (src,), dst, w, b, attrs=attrs)


def _transpose_node(name: str, m, src: int, dst: int) -> Node:
    k, s = tuple(m.kernel_size), tuple(m.stride)
    plain = all(p == 0 for p in m.padding) and all(p == 0 for p in m.output_padding)
    if k != s or not plain or any(d != 1 for d in m.dilation) or m.groups != 1:
        raise ConvlabError(
            f"{name}: only a transposed convolution with kernel == stride, no padding, dilation 1 and "
            f"groups 1 is quantised (it exports as QLinearConv + DepthToSpace), got kernel {k}, stride {s}"
        )
    b = None if m.bias is None else np.asarray(m.bias, np.float64)
    return Node(name, "conv_transpose", (src,), dst, np.asarray(m.weight, np.float64), b, attrs={"stride": s})


def _fold(name: str, last: Node | None, bn, t: int) -> None:
    if last is None or last.dst != t or last.op != "conv" or last.relu:
        raise ConvlabError(f"{name}: a BatchNorm is folded only directly after a convolution")
    scale = np.asarray(bn.weight if bn.affine else 1.0, np.float64) / np.sqrt(
        np.asarray(bn.running_var, np.float64) + bn.eps
    )
    shift = np.asarray(bn.bias if bn.affine else 0.0, np.float64) - np.asarray(bn.running_mean) * scale
    last.weight = last.weight * scale.reshape((-1,) + (1,) * (last.weight.ndim - 1))
    last.bias = shift if last.bias is None else last.bias * scale + shift


def _step(nodes: list[Node], name: str, m, t: int) -> int:
    last, dst, kind = (nodes[-1] if nodes else None), len(nodes) + 1, _kind(m)
    if kind in ("Sequential", "wrapper"):
        for child_name, child in m.named_children():
            t = _step(nodes, f"{name}.{child_name}", child, t)
        return t
    if kind == "Conv":
        nodes.append(_conv_node(name, m, t, dst))
    elif kind == "ConvTranspose":
        nodes.append(_transpose_node(name, m, t, dst))
    elif kind == "MaxPool":
        if m.ceil_mode or m.return_indices:
            raise ConvlabError(f"{name}: max pooling with ceil_mode or return_indices is not quantised")
        k = m.kernel_size
        attrs = {"kernel": k, "stride": m.stride or k, "padding": m.padding, "dilation": m.dilation}
        nodes.append(Node(name, "max_pool", (t,), dst, attrs=attrs))
    elif kind == "BatchNorm":
        _fold(name, last, m, t)
        return t
    elif kind == "ReLU":
        if last is None or last.dst != t or last.op not in ("conv", "conv_transpose"):
            raise ConvlabError(f"{name}: a ReLU is folded only directly after a convolution")
        last.relu = True
        return t
    else:
        raise ConvlabError(f"{name}: {kind} has no integer form in the quantised U-Net")
    return dst


def lower_unet(model) -> tuple[list[Node], object]:
    """``(nodes, merge)`` of a convlab U-Net (any layout built on ``UNetBase``).

    >>> from convlab.models import UNet
    >>> nodes, merge = lower_unet(UNet(width=2, depth=1, padding="same"))
    >>> [(n.name, n.op, n.src, n.relu) for n in nodes][5:7], merge.rule
    ([('up0.upconv', 'conv_transpose', (5,), False), ('up0.merge', 'concat', (2, 6), False)], 'pad')
    """
    if not hasattr(model, "_plan"):
        raise ConvlabError(f"model must be a convlab U-Net (convlab.models), got {type(model).__name__}")
    plan, nodes, skips, t = model._plan(), [], [], 0

    def run(steps, t):
        for name, module in steps:
            t = _step(nodes, name, module, t)
        return t

    for steps in plan.encoder:
        t = run(steps, t)
        skips.append(t)
    skips.pop()
    for up, merge_name, convs in plan.decoder:
        t = run(up, t)
        nodes.append(Node(merge_name, "concat", (skips.pop(), t), len(nodes) + 1))
        t = run(convs, nodes[-1].dst)
    run(plan.head, t)
    return nodes, plan.merge


def crop_or_pad(merge, skip: np.ndarray, up: np.ndarray, fill=0) -> tuple[np.ndarray, np.ndarray]:
    """The skip cropped or the up-sampled tensor padded (with ``fill``) as ``merge`` joins them."""
    box, pads = merge.window(skip.shape[2:], up.shape[2:])
    if box is not None:
        return skip[(Ellipsis, *box.slices)], up
    return skip, np.pad(up, ((0, 0), (0, 0), *pads), constant_values=fill)


def float_node(node: Node, merge, x: list[np.ndarray]) -> np.ndarray:
    """The float64 output of ``node`` given its inputs (the reference quantisation is measured against)."""
    n = x[0].ndim - 2
    a = node.attrs
    if node.op == "conv":
        conv = (F.conv1d, F.conv2d, F.conv3d)[n - 1]
        y = conv(x[0], node.weight, node.bias, a["stride"], a["padding"], a["dilation"], a["groups"])
    elif node.op == "conv_transpose":
        conv_t = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[n - 1]
        y = conv_t(x[0], node.weight, node.bias, a["stride"])
    elif node.op == "max_pool":
        pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[n - 1]
        y = pool(x[0], a["kernel"], a["stride"], a["padding"], a["dilation"])
    else:
        skip, up = crop_or_pad(merge, x[0], x[1])
        y = np.concatenate([skip, up] if merge.skip_first else [up, skip], axis=1)
    return np.maximum(y, 0.0) if node.relu else y


def check_lowering(model, nodes: list[Node], merge, tensors: list[np.ndarray]) -> None:
    """Refuse a lowering whose float output is not the model's own (a forward doing more than its children).

    ``tensors`` are the lowered network's float64 tensors for some input
    ``tensors[0]``; float32 rounding and BatchNorm folding stay far below
    the 1e-3 relative bound.
    """
    expected = np.asarray(model(tensors[0].astype(model.dtype)), np.float64)
    got = tensors[-1]
    worst = float(np.abs(got - expected).max()) if got.shape == expected.shape else np.inf
    if worst > 1e-3 * max(float(np.abs(expected).max()), 1.0):
        raise ConvlabError(
            f"the layers found in {type(model).__name__} ({nodes[0].name}, ...) do not "
            f"compute what its forward computes (max difference {worst:.3g}): it is not quantised"
        )
