"""Search for the layer parameters that map one size to another."""

from __future__ import annotations

from dataclasses import dataclass

from .._args import as_int, infer_ndim, per_dim
from ._formulas import SizeArg, _conv_transpose_1d, _effective


@dataclass(frozen=True, order=True)
class Solution:
    """One set of layer parameters that maps ``in_size`` to ``out_size``.

    Attributes
    ----------
    kernel_size, stride, padding, dilation : int
        The layer's parameters (symmetric padding, as ``torch.nn.Conv*d`` takes).
    output_padding : int
        Transposed convolutions only; 0 for convolutions.
    unused : int
        Convolutions only: input pixels at the end (after padding) that no
        window reaches, ``(size + 2*padding - dilated_kernel) % stride``. An
        exact tiling has ``unused == 0``.
    """

    kernel_size: int
    stride: int
    padding: int
    dilation: int
    output_padding: int = 0
    unused: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "output_padding": self.output_padding,
            "unused": self.unused,
        }

    def _repr_html_(self) -> str:
        """Jupyter's view: the parameters in a one-row table."""
        from .._html import table

        return table("solution", list(self.as_dict()), [list(self.as_dict().values())])


class Solutions(list):
    """The list :func:`solve` returns; a plain list that Jupyter shows as a table."""

    def _repr_html_(self) -> str:
        from .._html import table

        header = list(Solution(1, 1, 0, 1).as_dict())
        return table(
            f"{len(self)} solutions, simplest first", header, [list(s.as_dict().values()) for s in self]
        )


def _bounds(name: str, pinned: object, upper: object) -> range:
    """The values a parameter may take: the pinned one, or 0/1 up to its bound."""
    low = 0 if name == "padding" else 1
    if pinned is not None:
        return range(as_int(pinned, name, minimum=low), as_int(pinned, name) + 1)
    return range(low, as_int(upper, f"max_{name}", minimum=low) + 1)


def _conv_solutions(n: int, out: int, ks, ss, ps, ds, max_padding_given: bool) -> list[Solution]:
    found = []
    for d in ds:
        for k in ks:
            eff = _effective(k, d)
            for p in ps:
                # A window lying wholly in the padding sees only zeros; unless
                # the user asked for such paddings, they are not solutions.
                if not max_padding_given and p > eff - 1:
                    break
                span = n + 2 * p - eff
                if span < 0:
                    continue
                for s in ss:
                    if span // s + 1 == out:
                        found.append(Solution(k, s, p, d, 0, span % s))
    return sorted(found, key=_order(False))


def _transposed_solutions(n: int, out: int, ks, ss, ps, ds, max_padding_given: bool) -> list[Solution]:
    found = []
    for d in ds:
        for k in ks:
            for p in ps:
                if not max_padding_given and p > _effective(k, d) - 1:
                    break
                for s in ss:
                    op = out - _conv_transpose_1d(n, k, s, p, p, 0, d)
                    if 0 <= op < max(s, d):
                        found.append(Solution(k, s, p, d, op, 0))
    return sorted(found, key=_order(True))


def solve(
    in_size: SizeArg,
    out_size: SizeArg,
    *,
    transposed: bool = False,
    kernel_size: int | None = None,
    stride: int | None = None,
    padding: int | None = None,
    dilation: int | None = None,
    max_kernel_size: int = 16,
    max_stride: int = 16,
    max_padding: int | None = None,
    max_dilation: int = 1,
) -> Solutions:
    """Every layer that maps ``in_size`` to ``out_size`` within the bounds, simplest first.

    Searches kernel sizes ``1..max_kernel_size``, strides ``1..max_stride``,
    dilations ``1..max_dilation`` and symmetric paddings ``0..max_padding``
    (default: up to the dilated kernel minus one, so that no window lies wholly
    in the padding); any of ``kernel_size``, ``stride``, ``padding`` and
    ``dilation`` may be pinned instead. With ``transposed=True`` it searches
    transposed convolutions, each with the ``output_padding`` it needs.

    For tuples of sizes, the solutions are those whose (scalar) parameters fit
    every dimension, as a square kernel does; solve each dimension on its own
    for per-dimension parameters.

    Order, "simplest first": for convolutions exact tilings (no unused input
    pixel) first, then smaller dilation, padding, kernel and stride; for
    transposed convolutions smaller dilation, padding, output_padding, kernel,
    stride.

    Examples
    --------
    >>> solve(768, 128)[0]
    Solution(kernel_size=6, stride=6, padding=0, dilation=1, output_padding=0, unused=0)
    >>> s = solve(12, 24, transposed=True, kernel_size=3)[0]  # what undoes Conv(k3, s2, p1) on 24?
    >>> s.stride, s.padding, s.output_padding
    (2, 1, 1)
    """
    if not isinstance(transposed, bool):
        raise TypeError(f"transposed must be a bool, got {type(transposed).__name__} {transposed!r}")
    ndim = infer_ndim(in_size=in_size, out_size=out_size) or 1
    ins = per_dim(in_size, "in_size", ndim, minimum=1)
    outs = per_dim(out_size, "out_size", ndim, minimum=1)
    ks = _bounds("kernel_size", kernel_size, max_kernel_size)
    ss = _bounds("stride", stride, max_stride)
    ds = _bounds("dilation", dilation, max_dilation)
    largest_eff = _effective(ks[-1], ds[-1])
    ps = _bounds("padding", padding, largest_eff - 1 if max_padding is None else max_padding)
    search = _transposed_solutions if transposed else _conv_solutions
    explicit = padding is not None or max_padding is not None
    per_dimension = [search(n, o, ks, ss, ps, ds, explicit) for n, o in zip(ins, outs)]
    if ndim == 1:
        return Solutions(per_dimension[0])
    unused = [{_params(x): x.unused for x in sols} for sols in per_dimension]
    common = [x for x in per_dimension[0] if all(_params(x) in u for u in unused)]
    # The same parameters may leave different pixels unused per dimension:
    # report the worst, and keep exact tilings in every dimension first.
    merged = [Solution(*_params(x), max(u[_params(x)] for u in unused)) for x in common]
    return Solutions(sorted(merged, key=_order(transposed)))


def _order(transposed: bool):
    if transposed:
        return lambda x: (x.dilation, x.padding, x.output_padding, x.kernel_size, x.stride)
    return lambda x: (x.unused > 0, x.dilation, x.padding, x.kernel_size, x.stride)


def _params(x: Solution) -> tuple[int, int, int, int, int]:
    return (x.kernel_size, x.stride, x.padding, x.dilation, x.output_padding)
