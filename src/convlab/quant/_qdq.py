"""Export a :class:`QuantizedUNet` as an ONNX model onnxruntime runs bit-identically.

The default graph is in operator form (QOperator): ``QuantizeLinear`` on the float
input, ``QLinearConv`` per convolution (ReLU is its saturation at zero point
0), ``MaxPool`` on uint8 codes, ``Slice``/``Pad`` on codes for the skip join,
``com.microsoft.QLinearConcat``, ``DequantizeLinear`` at the end. The
up-convolution (kernel == stride, so every output pixel gets exactly one tap
per input channel) is a 1x1 ``QLinearConv`` to ``C_out * k * k`` channels
followed by ``DepthToSpace`` (CRD): the same int32 accumulators, bias and
float32 requantisation as :func:`qlinear_conv_transpose`, hence the same codes.
onnxruntime has no CPU QLinearConvTranspose, and a float ConvTranspose between
DequantizeLinear and QuantizeLinear is exact only at power-of-two scales.

The QDQ form (``form='qdq'``) puts float Conv/MaxPool/Concat between
DequantizeLinear and QuantizeLinear instead; onnxruntime fuses it back into
the same integer operators from ``ORT_ENABLE_EXTENDED`` on (below that it
runs float32 Conv, and a few codes differ).

The input shape is fixed at export: the crop of each skip depends on it.
"""

from __future__ import annotations

import numpy as np

from .._args import ConvlabError
from .._extras import require
from ._ptq import QNode, QuantizedUNet

__all__ = ["export_onnx", "onnx_model"]

OPSET = 13
FORMS = ("qoperator", "qdq")


def _per(value, n: int) -> tuple[int, ...]:
    """A pooling argument (int or tuple) per spatial dimension."""
    return tuple(value) if isinstance(value, tuple) else (value,) * n


class _Graph:
    """Node and initializer lists with unique names."""

    def __init__(self, form: str):
        onnx = require("onnx", "onnx", "exporting a quantized U-Net to ONNX")
        self.helper, self.numpy_helper, self.form = onnx.helper, onnx.numpy_helper, form
        self.nodes, self.inits, self.names = [], [], set()

    def dq(self, tensor: str, scale: str, zero_point: str, **attrs) -> str:
        """``DequantizeLinear`` of ``tensor`` (once per tensor)."""
        out = f"{tensor}.dq"
        if out not in self.names:
            self.names.add(out)
            self.node("DequantizeLinear", [tensor, scale, zero_point], out, **attrs)
        return out

    def q(self, real: str, scale: str, zero_point: str, out: str) -> str:
        return self.node("QuantizeLinear", [real, scale, zero_point], out)

    def const(self, name: str, value) -> str:
        if name not in self.names:
            self.names.add(name)
            self.inits.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, domain: str = "", **attrs) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=output, domain=domain, **attrs))
        return output


def _qparams(g: _Graph, qnet: QuantizedUNet, t: int) -> tuple[str, str]:
    scale, zero = qnet.qparams[t]
    return g.const(f"t{t}_scale", np.float32(scale)), g.const(f"t{t}_zp", np.uint8(zero))


def _conv(g: _Graph, qnet: QuantizedUNet, q: QNode, out: str, w, w_scale, bias, **attrs) -> str:
    node, name = q.node, q.node.name
    x = [f"t{node.src[0]}", *_qparams(g, qnet, node.src[0])]
    wq = [g.const(f"{name}.w", w), g.const(f"{name}.w_scale", w_scale)]
    wq.append(g.const(f"{name}.w_zp", np.zeros(w_scale.shape, np.int8)))
    y, kernel = _qparams(g, qnet, node.dst), list(w.shape[2:])
    if g.form == "qoperator":
        ins = x + wq + list(y) + ([g.const(f"{name}.bias", bias)] if bias is not None else [])
        return g.node("QLinearConv", ins, out, kernel_shape=kernel, **attrs)
    # QDQ: int32 bias at scale float32(x_scale * w_scale), zero point 0 (onnxruntime's QDQ Conv rule).
    ins = [g.dq(*x), g.dq(*wq, axis=0)]
    if bias is not None:
        b_scale = np.float32(qnet.qparams[node.src[0]][0]) * w_scale.astype(np.float32)
        b = [g.const(f"{name}.bias", bias), g.const(f"{name}.bias_scale", b_scale)]
        ins.append(g.dq(*b, g.const(f"{name}.bias_zp", np.zeros(bias.shape, np.int32)), axis=0))
    real = g.node("Conv", ins, f"{out}.real", kernel_shape=kernel, **attrs)
    return g.q(real, *y, out)


def _emit_conv(g, qnet, q: QNode) -> None:
    a = q.node.attrs
    pads = [p[0] for p in a["padding"]] + [p[1] for p in a["padding"]]
    _conv(
        g,
        qnet,
        q,
        f"t{q.node.dst}",
        q.w,
        q.w_scale,
        q.bias,
        strides=list(a["stride"]),
        pads=pads,
        dilations=list(a["dilation"]),
        group=a["groups"],
    )


def _emit_upconv(g, qnet, q: QNode) -> None:
    c_in, c_out, *k = q.w.shape
    if len(set(k)) != 1:
        raise ConvlabError(
            f"{q.node.name}: DepthToSpace needs a square up-convolution kernel, got {tuple(k)}"
        )
    taps = int(np.prod(k))
    # Output channel (co, i, j) of the 1x1 conv is tap (i, j) of channel co: DepthToSpace's CRD order.
    w = q.w.transpose(1, *range(2, q.w.ndim), 0).reshape(c_out * taps, c_in, *([1] * len(k)))
    bias = None if q.bias is None else np.repeat(q.bias, taps)
    inner = _conv(
        g, qnet, q, f"{q.node.name}.taps", np.ascontiguousarray(w), np.repeat(q.w_scale, taps), bias
    )
    g.node("DepthToSpace", [inner], f"t{q.node.dst}", blocksize=k[0], mode="CRD")


def _emit_pool(g, qnet, q: QNode) -> None:
    a, n = q.node.attrs, qnet.ndim

    def per(v):
        return list(_per(v, n))

    pads = per(a["padding"]) * 2
    src, dst = f"t{q.node.src[0]}", f"t{q.node.dst}"
    if g.form == "qdq":
        src, dst = g.dq(src, *_qparams(g, qnet, q.node.src[0])), f"{dst}.real"
    g.node(
        "MaxPool",
        [src],
        dst,
        kernel_shape=per(a["kernel"]),
        strides=per(a["stride"]),
        pads=pads,
        dilations=per(a["dilation"]),
    )
    if g.form == "qdq":
        g.q(dst, *_qparams(g, qnet, q.node.dst), f"t{q.node.dst}")


def _emit_concat(g, qnet, q: QNode, shapes: dict) -> None:
    skip_t, up_t = q.node.src
    box, pads = qnet.merge.window(shapes[skip_t][2:], shapes[up_t][2:])
    skip, up, name = f"t{skip_t}", f"t{up_t}", q.node.name
    axes = list(range(2, 2 + qnet.ndim))
    if box is not None:
        starts = g.const(f"{name}.starts", np.array([s.start for s in box.slices], np.int64))
        stops = g.const(f"{name}.stops", np.array([s.stop for s in box.slices], np.int64))
        skip = g.node(
            "Slice", [skip, starts, stops, g.const(f"{name}.axes", np.array(axes, np.int64))], f"{name}.skip"
        )
    elif any(p for pair in pads for p in pair):
        flat = [0, 0] + [p[0] for p in pads] + [0, 0] + [p[1] for p in pads]
        zp = _qparams(g, qnet, up_t)[1]
        up = g.node("Pad", [up, g.const(f"{name}.pads", np.array(flat, np.int64)), zp], f"{name}.up")
    parts = [(skip, skip_t), (up, up_t)]
    parts = [
        (tensor, *_qparams(g, qnet, t)) for tensor, t in (parts if qnet.merge.skip_first else parts[::-1])
    ]
    y = _qparams(g, qnet, q.node.dst)
    if g.form == "qdq":
        real = g.node("Concat", [g.dq(*part) for part in parts], f"t{q.node.dst}.real", axis=1)
        g.q(real, *y, f"t{q.node.dst}")
        return
    ins = list(y) + [name for part in parts for name in part]
    g.node("QLinearConcat", ins, f"t{q.node.dst}", domain="com.microsoft", axis=1)


def _shapes(qnet: QuantizedUNet, input_shape: tuple[int, ...]) -> dict[int, tuple[int, ...]]:
    """Every tensor's shape, by the size formulas (no arithmetic on data)."""
    shapes = {0: tuple(input_shape)}
    for q in qnet.qnodes:
        node, a = q.node, q.node.attrs
        x = shapes[node.src[0]]
        if node.op == "concat":
            shapes[node.dst] = qnet.merge.shape(x, shapes[node.src[1]])[0]
            continue
        if node.op == "conv_transpose":
            sizes = tuple(n * s for n, s in zip(x[2:], a["stride"]))
            shapes[node.dst] = (x[0], q.w.shape[1], *sizes)
            continue

        def per(v):
            return _per(v, qnet.ndim)

        if node.op == "conv":
            k, pads, c = q.w.shape[2:], [lo + hi for lo, hi in a["padding"]], q.w.shape[0]
        else:
            k, pads, c = per(a["kernel"]), [2 * p for p in per(a["padding"])], x[1]
        sizes = tuple(
            (n + p - d * (kk - 1) - 1) // s + 1
            for n, p, d, kk, s in zip(x[2:], pads, per(a["dilation"]), k, per(a["stride"]))
        )
        if min(sizes) < 1:
            raise ConvlabError(f"input shape {tuple(input_shape)} is too small for layer {node.name}")
        shapes[node.dst] = (x[0], c, *sizes)
    return shapes


def onnx_model(qnet: QuantizedUNet, input_shape, *, form: str = "qoperator"):
    """The ``onnx.ModelProto`` of ``qnet`` for float32 input of ``input_shape`` ``(N, C, H, W)``.

    ``form='qoperator'`` (default) writes QLinearConv/QLinearConcat nodes:
    bit-equal to :meth:`QuantizedUNet.run` at every onnxruntime optimisation
    level. ``form='qdq'`` writes float Conv/MaxPool/Concat between
    DequantizeLinear and QuantizeLinear (the QDQ format of onnxruntime's
    quantisation tool): bit-equal only when onnxruntime fuses them back into
    integer operators (``ORT_ENABLE_BASIC`` and above); with
    ``ORT_DISABLE_ALL`` its float Conv rounds differently.

    Outputs: ``codes`` (the last layer's uint8 codes) and ``logits`` (dequantised, float32).

    >>> from convlab.models import UNet
    >>> from convlab.quant import quantize_unet
    >>> qnet = quantize_unet(UNet(width=2, depth=1, padding="same"), [np.ones((1, 1, 8, 8))])
    >>> [o.name for o in onnx_model(qnet, (1, 1, 8, 8)).graph.output]
    ['codes', 'logits']
    """
    onnx = require("onnx", "onnx", "exporting a quantized U-Net to ONNX")
    TensorProto, checker, helper = onnx.TensorProto, onnx.checker, onnx.helper
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 4 or qnet.ndim != 2 or shape[1] != qnet.in_channels or min(shape) < 1:
        raise ConvlabError(
            f"input_shape must be (N, {qnet.in_channels}, H, W) of a 2-D U-Net, got {input_shape!r} "
            f"for a {qnet.ndim}-D U-Net"
        )
    if form not in FORMS:
        raise ConvlabError(f"form must be one of {FORMS}, got {form!r}")
    shapes, g = _shapes(qnet, shape), _Graph(form)
    g.node("QuantizeLinear", ["input", *_qparams(g, qnet, 0)], "t0")
    emit = {"conv": _emit_conv, "conv_transpose": _emit_upconv, "max_pool": _emit_pool}
    for q in qnet.qnodes:
        if q.node.op == "concat":
            _emit_concat(g, qnet, q, shapes)
        else:
            emit[q.node.op](g, qnet, q)
    last = len(qnet.qnodes)
    g.node("Identity", [f"t{last}"], "codes")
    g.node("DequantizeLinear", ["codes", *_qparams(g, qnet, last)], "logits")
    out = shapes[last]
    graph = helper.make_graph(
        g.nodes,
        "convlab_unet_int8",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(shape))],
        [
            helper.make_tensor_value_info("codes", TensorProto.UINT8, list(out)),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, list(out)),
        ],
        g.inits,
    )
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="convlab")
    checker.check_model(model)
    return model


def export_onnx(qnet: QuantizedUNet, path, input_shape, *, form: str = "qoperator") -> None:
    """Write :func:`onnx_model` to ``path`` (atomically: a failed write leaves no partial file).

    >>> import tempfile, pathlib
    >>> from convlab.models import UNet
    >>> from convlab.quant import quantize_unet
    >>> qnet = quantize_unet(UNet(width=2, depth=1, padding="same"), [np.ones((1, 1, 8, 8))])
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "u.onnx"
    >>> export_onnx(qnet, path, (1, 1, 8, 8), form="qdq"); path.stat().st_size > 0
    True
    """
    from ..io import atomic_path

    model = onnx_model(qnet, input_shape, form=form)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(model.SerializeToString())
