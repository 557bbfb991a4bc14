"""Oracles of the quantized operators: onnxruntime / onnx.reference single-node models and naive loops.

The naive references work on Python ints one output element at a time, with
padding checked per index: nothing of convlab is reused.
"""

from __future__ import annotations

import itertools

import numpy as np

_ONNX_TYPES = {
    "int8": 3,
    "uint8": 2,
    "int16": 5,
    "uint16": 4,
    "int32": 6,
    "int64": 7,
    "float32": 1,
    "float64": 11,
}


def onnx_model(op, inputs, attrs, out_type, domain="", opset=21):
    """A one-node model over ``inputs`` (name -> array or None for an absent optional input)."""
    from onnx import helper, numpy_helper

    names = [name if value is not None else "" for name, value in inputs]
    feeds = [(n, v) for n, v in inputs if v is not None]
    node = helper.make_node(op, names, ["y"], domain=domain, **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info(n, _ONNX_TYPES[np.asarray(v).dtype.name], np.shape(v))
            for n, v in feeds
        ],
        [helper.make_tensor_value_info("y", _ONNX_TYPES[out_type], None)],
    )
    opsets = [helper.make_opsetid("", opset)]
    if domain:
        opsets.append(helper.make_opsetid(domain, 1))
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 10
    del numpy_helper
    return model, {n: np.asarray(v) for n, v in feeds}


def run_ort(model, feeds, threads=1):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def run_reference(model, feeds):
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model).run(None, feeds)[0]


def conv_attrs(kernel, stride, pads, dilation, groups, auto_pad=None):
    attrs = {
        "kernel_shape": list(kernel),
        "strides": list(stride),
        "dilations": list(dilation),
        "group": groups,
    }
    if auto_pad:
        attrs["auto_pad"] = auto_pad
    else:
        attrs["pads"] = [lo for lo, _ in pads] + [hi for _, hi in pads]
    return attrs


QLINEAR_CONV_INPUTS = (
    *("x", "x_scale", "x_zero_point", "w", "w_scale", "w_zero_point"),
    *("y_scale", "y_zero_point", "bias"),
)


def qlinear_conv_node(c) -> tuple[list, dict, str]:
    """``(inputs, attributes, output type)`` of the QLinearConv node for one generated configuration ``c``."""
    attrs = conv_attrs(c["w"].shape[2:], c["stride"], c["pairs"], c["dilation"], c["groups"], c["auto_pad"])
    return [(n, c[n]) for n in QLINEAR_CONV_INPUTS], attrs, c["x"].dtype.name


def naive_conv_integer(x, w, zx, zw, stride, pairs, dilation, groups):
    """``(N, C_out, *out)`` Python-int sums of ``(x - zx)(w - zw)``, padding holding ``zx``."""
    x, w = np.asarray(x, dtype=object), np.asarray(w, dtype=object)
    n, _, *size = x.shape
    c_out, cg, *kernel = w.shape
    zw = np.broadcast_to(np.asarray(zw, dtype=object).reshape(-1), (c_out,))
    out = [
        (s + lo + hi - d * (k - 1) - 1) // st + 1
        for s, k, st, (lo, hi), d in zip(size, kernel, stride, pairs, dilation)
    ]
    y = np.zeros((n, c_out, *out), dtype=object)
    for b, o in itertools.product(range(n), range(c_out)):
        group = o // (c_out // groups)
        for pos in itertools.product(*map(range, out)):
            total = 0
            for c, taps in itertools.product(range(cg), itertools.product(*map(range, kernel))):
                idx = [
                    p * st + t * d - lo for p, t, st, d, (lo, _) in zip(pos, taps, stride, dilation, pairs)
                ]
                if all(0 <= i < s for i, s in zip(idx, size)):
                    total += (int(x[(b, group * cg + c, *idx)]) - int(zx)) * (
                        int(w[(o, c, *taps)]) - int(zw[o])
                    )
            y[(b, o, *pos)] = total
    return y


def naive_requantize(acc, scale, zero_point, lo, hi):
    """ONNX's rule in float32 one element at a time: float32(acc) * scale, half to even, add, clip."""
    out = np.empty(np.shape(acc), dtype=np.int64)
    for idx in np.ndindex(*np.shape(acc)):
        value = np.float32(np.float32(int(acc[idx])) * np.float32(scale[idx]))
        out[idx] = min(max(int(np.rint(value)) + int(zero_point), lo), hi)
    return out


def naive_conv_transpose_integer(x, w, zx, zw, stride, pairs, output_padding, dilation, groups):
    """Scatter form: input pixel ``i`` and tap ``t`` add into output ``i*stride + t*dilation - lo``."""
    x, w = np.asarray(x, dtype=object), np.asarray(w, dtype=object)
    n, c_in, *size = x.shape
    _, cg_out, *kernel = w.shape
    zw = np.broadcast_to(np.asarray(zw, dtype=object).reshape(-1), (cg_out,))
    out = [
        (s - 1) * st - lo - hi + d * (k - 1) + op + 1
        for s, k, st, (lo, hi), op, d in zip(size, kernel, stride, pairs, output_padding, dilation)
    ]
    y = np.zeros((n, cg_out * groups, *out), dtype=object)
    cg_in = c_in // groups
    for b, c in itertools.product(range(n), range(c_in)):
        group = c // cg_in
        for pos in itertools.product(*map(range, size)):
            value = int(x[(b, c, *pos)]) - int(zx)
            for j, taps in itertools.product(range(cg_out), itertools.product(*map(range, kernel))):
                idx = [
                    p * st + t * d - lo for p, t, st, d, (lo, _) in zip(pos, taps, stride, dilation, pairs)
                ]
                if all(0 <= i < o for i, o in zip(idx, out)):
                    y[(b, group * cg_out + j, *idx)] += value * (int(w[(c, j, *taps)]) - int(zw[j]))
    return y
