"""``convlab shape``'s answer: the working, and where PyTorch differs (strided 'same', output_padding)."""

from __future__ import annotations

import argparse

from .. import shapes
from .._args import padding_pairs
from ._table import WIDTH, fmt, same

__all__ = ["roundtrip_torch", "shape_text", "torch_notes"]

_FORMULAS = {
    "conv": "floor((size + pad_lo + pad_hi - dilation*(kernel_size-1) - 1) / stride) + 1",
    "convtranspose": "(size - 1)*stride - pad_lo - pad_hi + dilation*(kernel_size-1) + output_padding + 1",
    "pool": "floor_or_ceil((size + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1",
}
_CLASSES = {"conv": "Conv", "convtranspose": "ConvTranspose", "pool": "MaxPool"}


def _ndim(out: object) -> int:
    # A bare number is one dimension of the arithmetic; the layer people
    # write is almost always the square 2-D one, with the same numbers.
    return len(out) if isinstance(out, tuple) else 2


def _per_dim(value: object, ndim: int) -> tuple:
    return value if isinstance(value, tuple) and len(value) == ndim else (value,) * ndim


def _call(op: str, out: object, params: dict, **more: object) -> str:
    """``nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)`` for these parameters."""
    ndim = _ndim(out)
    values = {name: _torch_value(value) for name, value in {**params, **more}.items()}
    kernel = values.pop("kernel_size")
    channels = "" if op == "pool" else "in_channels, out_channels, "
    text = f"nn.{_CLASSES[op]}{ndim}d({channels}{fmt_arg(kernel)}"
    # torch's defaults, left out as a person would; a pool's stride defaults to its kernel.
    default = {"stride": kernel if op == "pool" else 1, "padding": 0, "dilation": 1}
    default |= {"output_padding": 0, "ceil_mode": False}
    for name, value in values.items():
        if value != default[name] and value is not None:
            text += f", {name}={fmt_arg(value)}"
    return text + ")"


def _torch_value(value: object) -> object:
    """A per-dimension value as torch takes it: symmetric (p, p) pairs as p, equal entries as one int."""
    if isinstance(value, tuple) and all(isinstance(v, tuple) and v[0] == v[1] for v in value):
        value = tuple(lo for lo, _ in value)
    return value[0] if isinstance(value, tuple) and len(value) == 1 else same(value)


def fmt_arg(value: object) -> str:
    """A value as Python source: 3, (3, 5), 'same'."""
    return repr(value) if isinstance(value, (tuple, str)) else str(value)


def _pads(params: dict, size: object, out: object) -> tuple[tuple[int, int], ...]:
    """The padding as one (lo, hi) pair per dimension of the arithmetic, 'same' resolved."""
    dims = len(out) if isinstance(out, tuple) else 1
    if params["padding"] == "same":
        got = shapes.same_padding(size, params["kernel_size"], params["stride"], params["dilation"])
        return got if isinstance(got[0], tuple) else (got,)
    return padding_pairs(params["padding"], dims)


def _torch_pairs(pairs: tuple[tuple[int, int], ...], out: object) -> tuple[tuple[int, int], ...]:
    return pairs if isinstance(out, tuple) else pairs * _ndim(out)


def _zero_pad(pairs: tuple[tuple[int, int], ...]) -> str:
    # torch's ZeroPadNd takes (left, right, top, bottom, ...): the last dimension first.
    flat = [v for pair in reversed(pairs) for v in pair]
    return f"nn.ZeroPad{len(pairs)}d({tuple(flat)})"


def torch_notes(op: str, args: argparse.Namespace, params: dict, out: object) -> list[str]:
    """Where PyTorch's layer differs from the answer, and what to write in PyTorch instead."""
    if op == "convtranspose":
        return _transpose_notes(args, params, out)
    if op == "pool":
        return [f"PyTorch: {_call(op, out, params, ceil_mode=args.ceil_mode)}"]
    pairs = _pads(params, args.size, out)
    layer = f"torch.nn.Conv{_ndim(out)}d"
    if params["padding"] == "same":
        lines = [
            f"padding 'same' resolves to (lo, hi) = {_pairs(pairs)}: out = ceil(size / stride), the odd "
            "pixel at the end (TensorFlow's 'SAME', ONNX's SAME_UPPER)"
        ]
        if all(s == 1 for s in _per_dim(params["stride"], len(pairs))):
            return [*lines, f"PyTorch agrees (its 'same' also pads the end more): {_call(op, out, params)}"]
        lines.append(f"{layer} refuses padding='same' with stride > 1; write instead:")
    elif any(lo != hi for lo, hi in pairs):
        lines = [f"{layer} pads both sides equally; for lo != hi pad first:"]
    else:
        return [f"PyTorch: {_call(op, out, params)}"]
    if all(lo == hi for lo, hi in pairs):
        symmetric = tuple(lo for lo, _ in pairs)
        padding = symmetric[0] if len(set(symmetric)) == 1 else symmetric
        return [*lines, f"  {_call(op, out, {**params, 'padding': padding})}"]
    conv = _call(op, out, {**params, "padding": 0})
    return [*lines, f"  nn.Sequential({_zero_pad(_torch_pairs(pairs, out))}, {conv})"]


def _transpose_notes(args: argparse.Namespace, params: dict, out: object) -> list[str]:
    k, st, pad, d = params["kernel_size"], params["stride"], params["padding"], params["dilation"]
    pairs = _pads(params, args.size, out)
    if any(lo != hi for lo, hi in pairs):
        return [
            f"torch.nn.ConvTranspose{_ndim(out)}d crops both sides equally; for lo != hi use padding=0 "
            f"and crop {_pairs(pairs)} (lo, hi) off the output"
        ]
    reach = shapes.transpose_output_sizes(args.size, k, st, pad, d)
    ranges = reach if isinstance(reach, tuple) else (reach,)
    if all(len(r) == 1 for r in ranges):
        return [f"PyTorch: {_call('convtranspose', out, params, output_padding=args.output_padding)}"]
    lines = [f"output_padding 0..{max(len(r) for r in ranges) - 1} reaches {fmt(same(reach))}"]
    if shapes.conv_input_sizes(args.size, k, st, pad, d) == reach:
        lines[0] += (
            f": a Conv with these numbers maps each of {fmt(same(reach))} to {fmt(same(args.size))}, "
            "and output_padding picks which one comes back"
        )
    lines.append("in PyTorch:")
    outs = [(out, args.output_padding)]
    outs += [(t, shapes.output_padding_for(t, args.size, k, st, pad, d)) for t in _targets(ranges, out)]
    for target, op in outs:
        code = f"  {_call('convtranspose', out, params, output_padding=op)}"
        comment = f"  # {fmt(target)}"
        lines += [code + comment] if len(code + comment) <= WIDTH else [comment, code]
    size = list(_per_dim(_last(ranges), _ndim(out)))
    return [*lines, f"  # or output_padding=0 and call layer(x, output_size={size})"]


def _targets(ranges: tuple[range, ...], out: object) -> list:
    """Every reachable size other than ``out``, dimension by dimension (the neighbours of the answer)."""
    outs = out if isinstance(out, tuple) else (out,)
    others = []
    for i in range(max(len(r) for r in ranges)):
        size = tuple(r[min(i, len(r) - 1)] for r in ranges)
        if size != outs:
            others.append(size if isinstance(out, tuple) else size[0])
    return others


def _last(ranges: tuple[range, ...]) -> object:
    sizes = tuple(r[-1] for r in ranges)
    return sizes if len(sizes) > 1 else sizes[0]


def shape_text(op: str, args: argparse.Namespace, params: dict, out: object, working: list[str]) -> str:
    """The whole answer of ``convlab shape``: the layer, the working, the size, PyTorch's view."""
    shown = {**params, "stride": "kernel_size" if params["stride"] is None else params["stride"]}
    if op == "convtranspose":
        shown["output_padding"] = args.output_padding
    layer = ", ".join(f"{name} {_header_value(value)}" for name, value in shown.items())
    lines = [f"{op}: size {fmt(args.size)}, {layer}"]
    lines.append(f"  out = {_FORMULAS[op]}")
    lines += [f"  dim {dim}: {line}" for dim, line in enumerate(working)]
    lines.append(f"output size: {fmt(out)}")
    if op == "conv":
        lines += _floor_note(args, params, out)
    lines += torch_notes(op, args, params, out)
    return "\n".join(lines)


def _header_value(value: object) -> str:
    """A layer value once when every dimension has the same (the size line says 24x24); (lo, hi) pairs
    as pairs."""
    if isinstance(value, str):
        return value
    compact = _torch_value(value)
    if isinstance(compact, tuple) and compact and isinstance(compact[0], tuple):
        return _pairs(compact)
    if isinstance(value, tuple) and value and isinstance(value[0], tuple) and compact == value[0]:
        return f"({compact[0]}, {compact[1]})"
    return fmt(compact)


def _floor_note(args: argparse.Namespace, params: dict, out: object) -> list[str]:
    sizes = shapes.conv_input_sizes(out, **params)
    ranges = sizes if isinstance(sizes, tuple) else (sizes,)
    if all(len(r) == 1 for r in ranges):
        return []
    return [f"input sizes {fmt(same(sizes))} all give {fmt(same(out))}: the floor drops the remainder"]


def _pairs(pairs: tuple[tuple[int, int], ...]) -> str:
    """``((1, 1), (1, 1))`` as ``(1, 1)`` (every dimension alike), else ``(0, 1) x (1, 1)``."""
    one = same(pairs)
    return f"({one[0]}, {one[1]})" if isinstance(one[0], int) else fmt(pairs)


def roundtrip_torch(r: shapes.Roundtrip, params: dict) -> list[str]:
    """The conv and the transposed conv that restores ``r.size``, as PyTorch lines."""
    pairs, out = r.padding, r.size
    if any(lo != hi for lo, hi in pairs):
        return [f"  (padding (lo, hi) = {_pairs(pairs)}: torch pads both sides equally; see convlab shape)"]
    layer = {**params, "padding": pairs}
    size = list(_per_dim(r.size, _ndim(out)))
    down = _call("conv", out, layer)
    up = _call("convtranspose", out, layer, output_padding=r.output_padding).replace(
        "(in_channels, out_channels", "(out_channels, in_channels"
    )
    return [
        "in PyTorch:",
        f"  down = {down}",
        f"  up = {up}",
        f"  # or output_padding=0 and call up(y, output_size={size})",
    ]
