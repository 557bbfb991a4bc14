"""Normalise and validate user arguments, once, at the public boundary.

Every public function of convlab passes its integer arguments through this
module: ints become per-dimension tuples, padding becomes ``((lo, hi), ...)``.
Internal code then trusts those canonical forms and never re-checks them.

This module is pure Python and imports nothing of the package, so that
:mod:`convlab.shapes` stays usable without NumPy.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

__all__ = [
    "MAX_SPATIAL_DIMS",
    "ConvlabError",
    "Pairs",
    "as_int",
    "describe",
    "infer_ndim",
    "is_sequence",
    "padding_pairs",
    "per_dim",
]

MAX_SPATIAL_DIMS = 3

Pairs = tuple[tuple[int, int], ...]


class ConvlabError(ValueError):
    """A value convlab cannot work with; the message names the parameter."""


def describe(value: object) -> str:
    """``repr`` of a user value, short enough for a one-line error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_sequence(value: object) -> bool:
    """A list or tuple (or other non-string sequence) of per-dimension values."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def as_int(value: object, name: str, *, minimum: int | None = None) -> int:
    """One integer; bools, floats and strings are refused with ``TypeError``.

    NumPy integers are accepted through ``__index__``, so ``x.shape[2]`` and
    ``np.int64(3)`` work, while ``3.0`` does not: a float where a size belongs
    is almost always the result of ``/`` where ``//`` was meant.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got bool {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        kind = type(value).__name__
        raise TypeError(f"{name} must be an integer, got {kind} {describe(value)}") from None
    if minimum is not None and number < minimum:
        raise ConvlabError(_bound_message(name, minimum, number))
    return number


def _bound_message(name: str, minimum: int, got: object) -> str:
    words = {0: "non-negative integers", 1: "positive integers"}
    expected = words.get(minimum, f"integers >= {minimum}")
    return f"{name} must be {expected}, got {name}={got!r}"


def infer_ndim(**values: object) -> int | None:
    """The number of spatial dimensions implied by the sequences among ``values``.

    Returns ``None`` when every value is a scalar (or a string such as
    ``'same'``). All sequences must agree in length, and the length must be
    1 to 3.
    """
    found: tuple[str, int] | None = None
    for name, value in values.items():
        if value is None or not is_sequence(value):
            continue
        length = len(value)  # type: ignore[arg-type]
        if not 1 <= length <= MAX_SPATIAL_DIMS:
            hint = " (pass the spatial sizes only, not the (N, C, ...) shape)" if length > 3 else ""
            raise ConvlabError(
                f"{name} must have 1 to {MAX_SPATIAL_DIMS} per-dimension values, "
                f"got {name}={describe(value)} with {length}{hint}"
            )
        if found is None:
            found = (name, length)
        elif found[1] != length:
            raise ConvlabError(
                f"{name} has {length} per-dimension values but {found[0]} has {found[1]}: "
                f"got {name}={describe(value)} and {found[0]}={describe(values[found[0]])}"
            )
    return None if found is None else found[1]


def per_dim(
    value: object, name: str, ndim: int, *, minimum: int | None = None, single: bool = True
) -> tuple[int, ...]:
    """An int or a length-``ndim`` sequence of ints, as a tuple of ``ndim`` ints.

    A one-element sequence stands for every dimension (``single=True``), as
    ATen's ``expand_param_if_needed`` does for conv and pooling parameters:
    ``torch.nn.functional.conv2d(x, w, stride=(2,))`` is ``stride=(2, 2)``.
    ``single=False`` keeps torch's refusal where it has one (unfold, fold).
    """
    if is_sequence(value):
        items = tuple(value)  # type: ignore[arg-type]
        if single and len(items) == 1 and ndim > 1:
            items = items * ndim
        if len(items) != ndim:
            raise ConvlabError(
                f"{name} must be an int or {ndim} ints (one per spatial dimension), "
                f"got {name}={describe(value)} with {len(items)}"
            )
    else:
        items = (value,) * ndim
    bad = next((x for x in items if isinstance(x, bool) or not hasattr(x, "__index__")), None)
    if bad is not None:
        count = "an int" if ndim == 1 else f"an int or {ndim} ints"
        raise TypeError(f"{name} must be {count}, got {type(bad).__name__} in {name}={describe(value)}")
    numbers = tuple(as_int(item, name) for item in items)
    if minimum is not None and any(n < minimum for n in numbers):
        got = numbers[0] if not is_sequence(value) else numbers
        raise ConvlabError(_bound_message(name, minimum, got))
    return numbers


def padding_pairs(padding: object, ndim: int, name: str = "padding", *, single: bool = True) -> Pairs | str:
    """Padding as ``((lo, hi), ...)``, one pair per spatial dimension.

    Accepts an int (same on both sides of every dimension), one int per
    dimension (same on both sides), one ``(lo, hi)`` pair per dimension (ints
    and pairs may be mixed), or the strings ``'valid'`` (no padding) and
    ``'same'``. ``'same'`` depends on the sizes, so it is returned as the
    string for the caller to resolve with :func:`convlab.shapes.same_padding`.
    A one-element sequence of an int stands for every dimension when
    ``single`` (torch's rule for conv and pooling; see :func:`per_dim`).
    """
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * ndim
        if padding == "same":
            return "same"
        raise ConvlabError(f"{name} must be an int, a tuple, 'valid' or 'same', got {name}={padding!r}")
    if not is_sequence(padding):
        p = _padding_int(padding, name, padding)
        return ((p, p),) * ndim
    items = tuple(padding)  # type: ignore[arg-type]
    if single and len(items) == 1 and ndim > 1 and not is_sequence(items[0]):
        items = items * ndim
    if len(items) != ndim:
        raise ConvlabError(
            f"{name} must be an int, {ndim} ints or {ndim} (lo, hi) pairs "
            f"(one per spatial dimension), got {name}={describe(padding)} with {len(items)}"
        )
    pairs = []
    for item in items:
        if is_sequence(item):
            if len(item) != 2:  # type: ignore[arg-type]
                raise ConvlabError(
                    f"{name} pairs must be (lo, hi), got {describe(item)} in {name}={describe(padding)}"
                )
            lo, hi = (_padding_int(v, name, padding) for v in item)  # type: ignore[union-attr]
            pairs.append((lo, hi))
        else:
            p = _padding_int(item, name, padding)
            pairs.append((p, p))
    return tuple(pairs)


def _padding_int(value: object, name: str, whole: object) -> int:
    try:
        number = as_int(value, name)
    except TypeError:
        raise TypeError(
            f"{name} must be an int, a tuple of ints or (lo, hi) pairs, 'valid' or 'same', "
            f"got {name}={describe(whole)}"
        ) from None
    if number < 0:
        raise ConvlabError(f"{name} must be non-negative integers, got {name}={describe(whole)}")
    return number


# --- per-dimension values written as text (command lines, config strings) ---------------
# Appended by the model/tiling work (issue 9 part B); the numeric-policy work edits the
# top of this module.

_TEXT_EXAMPLES = {"sizes": "24 or 572x572", "padding": "1, 1x2, 0:1, 0:1x1:1, same or valid"}


def _text_int(text: str, what: str, whole: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConvlabError(f"{what} must be integers like {_TEXT_EXAMPLES[what]}, got {whole!r}") from None


def _text_parts(text: str) -> list[str]:
    # 'x' between dimensions (572x572); ',' is accepted too (572,572).
    return text.strip().replace(",", "x").split("x")


def sizes_from_text(text: str) -> int | tuple[int, ...]:
    """``'24'`` -> 24; ``'572x572'`` or ``'572,572'`` -> ``(572, 572)``: an int or one per dimension.

    >>> sizes_from_text("572x380"), sizes_from_text(" 24 ")
    ((572, 380), 24)
    """
    values = tuple(_text_int(part, "sizes", text) for part in _text_parts(text))
    return values[0] if len(values) == 1 else values


def padding_from_text(text: str) -> int | str | tuple:
    """``'1'``, ``'1x2'`` (per dimension), ``'0:1'`` (lo:hi), ``'0:1x1:1'``, ``'same'`` or ``'valid'``.

    >>> padding_from_text("0:1x2"), padding_from_text("0:1"), padding_from_text("same")
    (((0, 1), 2), ((0, 1),), 'same')
    """
    if text.strip() in ("same", "valid"):
        return text.strip()
    values: list = []
    for part in _text_parts(text):
        if ":" in part:
            lo, _, hi = part.partition(":")
            values.append((_text_int(lo, "padding", text), _text_int(hi, "padding", text)))
        else:
            values.append(_text_int(part, "padding", text))
    if len(values) == 1:
        return values[0] if isinstance(values[0], int) else (values[0],)
    return tuple(values)
