"""Search for the layer parameters that map one size to another."""

from __future__ import annotations

from dataclasses import dataclass

from .._args import ConvlabError, as_int, infer_ndim, per_dim
from ._formulas import SizeArg, _conv_transpose_1d, _effective

# Bounds by construction: each (kernel, stride, dilation) costs one closed form
# for the paddings, and every solution is a Python object.
MAX_COMBINATIONS = 1 << 20
MAX_SOLUTIONS = 1 << 20
# Solution.form's designs, most common first; '' (none of them) last.
_FORMS = ("k = s", "k = 2s, p = s/2", "centred", "")


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

    @property
    def dropped(self) -> int:
        """Input pixels no window reads that are real, not padding (0 for transposed convs).

        The unused pixels lie at the end of the padded input, so the last
        ``padding`` of them are zeros that nothing misses.

        >>> Solution(3, 2, 1, 1, 0, unused=1).dropped  # Conv(k3, s2, p1) on 64: only padding unused
        0
        """
        return max(0, self.unused - self.padding)

    @property
    def form(self) -> str:
        """The common design this layer follows, or ``''``.

        ``'k = s'`` tiles the input (patchify down, no-overlap up-sampling);
        ``'k = 2s, p = s/2'`` overlaps every pixel equally (DCGAN's 4x4
        stride 2, padding 1); ``'centred'`` has ``p = (k - 1)/2`` for an odd
        kernel at least as wide as the stride (ResNet's 3x3 stride 2,
        padding 1, and its transpose with ``output_padding = s - 1``).

        >>> Solution(4, 2, 1, 1).form
        'k = 2s, p = s/2'
        """
        k, s, p = self.kernel_size, self.stride, self.padding
        if self.dilation != 1:
            return ""
        if k == s and p == 0:
            return "k = s"
        if k == 2 * s and 2 * p == s:
            return "k = 2s, p = s/2"
        if k % 2 and k >= s and 2 * p == k - 1 and self.output_padding in (0, s - 1):
            return "centred"
        return ""

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


def _padding_range(twice_lo: int, twice_hi: int, ps: range, limit: int | None) -> range:
    """The paddings ``p`` of ``ps`` (and ``<= limit``) with ``twice_lo <= 2*p <= twice_hi``."""
    low = max(ps.start, -(-twice_lo // 2))
    high = min(ps.stop - 1, twice_hi // 2, ps.stop - 1 if limit is None else limit)
    return range(low, max(high + 1, low))


def _conv_solutions(n: int, out: int, ks, ss, ps, ds, max_padding_given: bool) -> list[Solution]:
    found = []
    for d, k, s in _combinations(ks, ss, ds):
        eff = _effective(k, d)
        # floor((n + 2p - eff) / s) = out - 1 solved for p: a closed form, so
        # even max_padding=2**40 costs one range per (kernel, stride, dilation).
        # A window lying wholly in the padding sees only zeros; unless the user
        # asked for such paddings (max_padding), they are not solutions.
        first = (out - 1) * s + eff - n
        paddings = _padding_range(first, first + s - 1, ps, None if max_padding_given else eff - 1)
        _count(found, paddings)
        found += [Solution(k, s, p, d, 0, (n + 2 * p - eff) % s) for p in paddings]
    return sorted(found, key=_order(False))


def _transposed_solutions(n: int, out: int, ks, ss, ps, ds, max_padding_given: bool) -> list[Solution]:
    found = []
    for d, k, s in _combinations(ks, ss, ds):
        # output_padding = out - ((n-1)s - 2p + d(k-1) + 1) must lie in 0..max(s, d)-1.
        base = _conv_transpose_1d(n, k, s, 0, 0, 0, d)
        limit = None if max_padding_given else _effective(k, d) - 1
        paddings = _padding_range(base - out, base - out + max(s, d) - 1, ps, limit)
        _count(found, paddings)
        found += [Solution(k, s, p, d, out - base + 2 * p, 0) for p in paddings]
    return sorted(found, key=_order(True))


def _combinations(ks: range, ss: range, ds: range):
    count = len(ks) * len(ss) * len(ds)
    if count > MAX_COMBINATIONS:
        raise ConvlabError(
            f"solve would search {count} (kernel_size, stride, dilation) combinations, more than its bound "
            f"of {MAX_COMBINATIONS}: kernel sizes {_span(ks)}, strides {_span(ss)}, dilations {_span(ds)}; "
            "pin one of kernel_size/stride/dilation or lower max_kernel_size/max_stride/max_dilation"
        )
    return ((d, k, s) for d in ds for k in ks for s in ss)


def _count(found: list, more: range) -> None:
    if len(found) + len(more) > MAX_SOLUTIONS:
        raise ConvlabError(
            f"solve found more than its bound of {MAX_SOLUTIONS} solutions; pin padding or lower "
            "max_padding (each stride admits up to stride/2 paddings)"
        )


def _span(values: range) -> str:
    return f"{values.start}..{values.stop - 1}"


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

    Bounded by construction: the paddings of each (kernel, stride, dilation)
    come from a closed form, at most ``MAX_COMBINATIONS`` (2**20) such
    triples are searched and at most ``MAX_SOLUTIONS`` (2**20) solutions
    returned; beyond either the call is refused with a ``ConvlabError``.

    For tuples of sizes, the solutions are those whose (scalar) parameters fit
    every dimension, as a square kernel does; solve each dimension on its own
    for per-dimension parameters.

    Notes
    -----
    Order, most common practice first. Convolutions: those that read every
    real input pixel (``dropped == 0``; unused pixels of the padding lose
    nothing), then no dilation, then the common designs of
    :attr:`Solution.form` (``k = s`` tilings, ``k = 2s`` with ``p = s/2``,
    centred odd kernels), then small kernels, strides and paddings.
    Transposed convolutions: no dilation, the common designs, no
    output_padding, then small kernels, strides and paddings. So
    ``solve(12, 24, transposed=True)`` starts with ``k2 s2`` and ``k4 s2 p1``,
    and ``k13 s1`` comes long after.

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
    # Common practice first (see solve's Notes); the parameters break ties, so
    # the order is total and the same on every run.
    if transposed:
        return lambda x: (x.dilation, _FORMS.index(x.form), x.output_padding > 0, *_plain(x))
    return lambda x: (x.dropped > 0, x.dilation, _FORMS.index(x.form), *_plain(x))


def _plain(x: Solution) -> tuple[int, int, int, int]:
    """Small kernels, then strides, paddings and output paddings, smallest first."""
    return (x.kernel_size, x.stride, x.padding, x.output_padding)


def _params(x: Solution) -> tuple[int, int, int, int, int]:
    return (x.kernel_size, x.stride, x.padding, x.dilation, x.output_padding)
