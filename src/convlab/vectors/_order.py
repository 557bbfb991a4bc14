"""Element order: the order in which hardware reads a tensor from its memory.

A layout is a loop order over the tensor's axes, outermost first: ``NCHW``
(PyTorch's), ``NHWC``, any other permutation such as ``NCWH``, or a
channel-blocked one such as ``NCHWc8`` where ``C`` counts blocks of 8
channels and ``c`` runs inside a block (channels padded with zeros to a
multiple of the block). Weights ``(O, I, kH, kW)`` use the same letters,
``N`` for ``O`` and ``C`` for ``I``: ``NHWC`` writes them ``OHWI``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .._args import ConvlabError

__all__ = ["Layout", "channels_first", "from_layout", "to_layout"]

_SPATIAL = {0: "", 1: "W", 2: "HW", 3: "DHW"}
_PATTERN = re.compile(r"^([A-Za-z]+?)(\d*)$")


@dataclass(frozen=True)
class Layout:
    """A parsed layout string: its axis letters, outermost first, and the channel block.

    >>> Layout.parse("NCHWc8")
    Layout(letters='NCHWc', block=8)
    """

    letters: str
    block: int = 1

    @classmethod
    def parse(cls, text: str) -> Layout:
        if not isinstance(text, str):
            raise TypeError(f"layout must be a string such as 'NCHW', got {type(text).__name__}")
        match = _PATTERN.match(text)
        letters, digits = (match.group(1), match.group(2)) if match else ("", "")
        block = int(digits) if digits else 1
        base = letters.replace("c", "")
        ok = bool(match) and len(set(letters)) == len(letters) and "N" in base and "C" in base
        ok = ok and base in _candidates(len(base)) and (("c" in letters) == bool(digits)) and block >= 1
        if not ok:
            raise ConvlabError(
                f"layout must be a loop order over N, C and the spatial axes (D, H, W), optionally "
                f"with a channel block such as 'NCHWc8', got layout={text!r}"
            )
        return cls(letters, block)

    @property
    def ndim(self) -> int:
        """The rank of the tensors it orders (the block letter not counted)."""
        return len(self.letters.replace("c", ""))

    def __str__(self) -> str:
        return self.letters + (str(self.block) if "c" in self.letters else "")

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape in this layout's order of a channels-first ``shape`` (channels padded to the block)."""
        sizes = _sizes(self, shape)
        return tuple(sizes[letter] for letter in self.letters)


def channels_first(rank: int) -> str:
    """PyTorch's layout for tensors of ``rank``: ``NCW``, ``NCHW`` or ``NCDHW``.

    >>> channels_first(5)
    'NCDHW'
    """
    if rank not in (3, 4, 5):
        raise ConvlabError(f"tensors of rank 3 to 5 have a layout, got rank {rank}")
    return "NC" + _SPATIAL[rank - 2]


def _candidates(rank: int) -> set[str]:
    from itertools import permutations

    axes = "NC" + _SPATIAL.get(rank - 2, "?" * 9)
    return {"".join(p) for p in permutations(axes)} if rank >= 2 else set()


def _sizes(layout: Layout, shape: tuple[int, ...]) -> dict[str, int]:
    if len(shape) != layout.ndim:
        raise ConvlabError(
            f"layout {layout} orders {layout.ndim}-d tensors, got a tensor of shape {tuple(shape)}"
        )
    sizes = dict(zip("NC" + _SPATIAL[len(shape) - 2], shape))
    if "c" in layout.letters:
        sizes["C"], sizes["c"] = -(-shape[1] // layout.block), layout.block
    return sizes


def _axes(layout: Layout) -> list[int]:
    """Axis of the blocked, channels-first array ``(N, C, *spatial, c)`` for each letter."""
    base = "NC" + _SPATIAL[layout.ndim - 2] + ("c" if "c" in layout.letters else "")
    return [base.index(letter) for letter in layout.letters]


def to_layout(array: np.ndarray, layout: str | Layout) -> np.ndarray:
    """``array`` (channels first) transposed into ``layout``'s order, channels zero-padded to the block.

    Tensors of rank 1 (biases) are returned as they are.

    >>> to_layout(np.arange(6).reshape(1, 3, 1, 2), "NHWC").ravel().tolist()
    [0, 2, 4, 1, 3, 5]
    """
    if array.ndim == 1:
        return array
    layout = layout if isinstance(layout, Layout) else Layout.parse(layout)
    sizes = _sizes(layout, array.shape)
    if "c" in layout.letters:
        n, c, *spatial = array.shape
        padded = np.zeros((n, sizes["C"] * layout.block, *spatial), array.dtype)
        padded[:, :c] = array
        blocked = padded.reshape(n, sizes["C"], layout.block, *spatial)
        array = np.moveaxis(blocked, 2, -1)
    return np.ascontiguousarray(array.transpose(_axes(layout)))


def from_layout(flat: np.ndarray, shape: tuple[int, ...], layout: str | Layout) -> np.ndarray:
    """The channels-first array of ``shape`` from its values in ``layout``'s order (inverse of to_layout).

    >>> from_layout(np.array([0, 2, 4, 1, 3, 5]), (1, 3, 1, 2), "NHWC").ravel().tolist()
    [0, 1, 2, 3, 4, 5]
    """
    shape = tuple(shape)
    if len(shape) <= 1 or layout == "C":  # "C": plain row-major (scalars, vectors, matrices)
        return np.asarray(flat).reshape(shape)
    layout = layout if isinstance(layout, Layout) else Layout.parse(layout)
    ordered = np.asarray(flat).reshape(layout.shape(shape))
    array = ordered.transpose(np.argsort(_axes(layout)))
    if "c" in layout.letters:
        array = np.moveaxis(array, -1, 2)
        n, blocks, block, *spatial = array.shape
        array = array.reshape(n, blocks * block, *spatial)[:, : shape[1]]
    return np.ascontiguousarray(array)
