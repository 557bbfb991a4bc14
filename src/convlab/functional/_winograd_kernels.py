"""Winograd's transformed kernels ``G w G^T``: one GEMM, and a cache keyed by the weight array.

**One GEMM.** ``U = G w G^T`` for every ``(C_out, C_in)`` pair is, with the
kernel flattened, ``U = (G_1 x ... x G_D) w_flat``: a ``(prod(alpha),
prod(k))`` Kronecker matrix times the weight read as ``(prod(k), C_out *
C_in)``, which is the transpose of its own memory layout, so BLAS reads it
in place. An inner dimension of 9 makes it memory-bound, but one pass:
reading the weight and writing ``prod(alpha) / prod(k)`` times as much
(4x for F(4, 3)).

**The cache.** A model's forward pass convolves with the same weight arrays
every time; the cache keeps ``U`` per weight array, found by identity
(``id`` and a weak reference, so a new array with a recycled ``id`` is not
mistaken for the old one) and *validated by content*: NumPy arrays have no
version counter, and a weight changed in place (``w[...] = ...``, an
optimizer step, ``load_state_dict`` into the same buffers) must not reuse a
stale ``U``. The entry keeps a copy of the weight and compares it bit for
bit (``view`` as unsigned integers, so NaNs and signed zeros count) before
every reuse: one read of the weight and its copy, against the transform's
read of the weight and write of four times as much. Entries go when their
weight array dies. The cache holds at most a quarter of
:func:`convlab.get_memory_limit` (copies and ``U``: five times the weights
for 3x3 kernels, 620 MB for the paper's 31-million-weight U-Net); when
full, new kernels are transformed but not kept, rather than evicting old
ones (a forward pass visits its layers in a cycle, where
least-recently-used eviction would miss every time).
"""

from __future__ import annotations

import functools
import threading
import weakref
from dataclasses import dataclass

import numpy as np

from .._limits import get_memory_limit
from . import _threads

__all__ = ["cached_kernel", "clear_kernel_cache", "kernel_cache_bytes", "transformed_kernel"]


def transformed_kernel(w: np.ndarray, g: tuple[np.ndarray, ...], groups: int) -> np.ndarray:
    """``(prod(alpha), groups, C_out/groups, C_in/groups)``: ``G w G^T`` of every kernel, one GEMM.

    >>> g = (np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]),)  # F(2, 2)
    >>> transformed_kernel(np.array([[[2.0, 3.0]]]), g, 1)[:, 0, 0, 0]
    array([2., 5., 3.])
    """
    kernel = w.shape[2:]
    flat = np.ascontiguousarray(w).reshape(-1, int(np.prod(kernel)))
    u = np.matmul(_kronecker(g).astype(w.dtype), flat.T)  # (prod(alpha), C_out * C_in/groups)
    return u.reshape(-1, groups, w.shape[0] // groups, w.shape[1])


def _kronecker(mats: tuple[np.ndarray, ...]) -> np.ndarray:
    """In float64: entries such as 1/24 = 1/4 * 1/6 rounded once, not twice."""
    return functools.reduce(np.kron, [m.astype(np.float64) for m in mats])


@dataclass
class _Entry:
    ref: weakref.ref
    key: tuple
    copy: np.ndarray
    u: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.copy.nbytes + self.u.nbytes


_cache: dict[int, _Entry] = {}
_lock = threading.Lock()


def cached_kernel(w: np.ndarray, g: tuple[np.ndarray, ...], groups: int, tile: int) -> np.ndarray:
    """:func:`transformed_kernel` of ``w``, reused while ``w`` is the same array with the same contents."""
    key = (w.shape, w.dtype.str, groups, tile, tuple(a.shape for a in g))
    with _lock:
        entry = _cache.get(id(w))
    if entry is not None and entry.ref() is w and entry.key == key and _same_bits(entry.copy, w):
        return entry.u
    u = transformed_kernel(w, g, groups)
    u.flags.writeable = False
    with _lock:
        _cache.pop(id(w), None)
        if _total() + w.nbytes + u.nbytes <= get_memory_limit() // 4:
            ref = weakref.ref(w, functools.partial(_forget, id(w)))
            _cache[id(w)] = _Entry(ref, key, w.copy(), u)
    return u


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-equal, compared in blocks of 1 MiB on the pool: no weight-sized temporary, every core reading."""
    if a.shape != b.shape:
        return False
    unsigned = np.dtype(f"u{a.itemsize}")
    a, b = a.view(unsigned).reshape(-1), b.view(unsigned).reshape(-1)
    block = max(1, (1 << 20) // a.itemsize)
    differs = threading.Event()

    def compare(item: tuple[int]) -> None:
        i = item[0]
        if not differs.is_set() and not np.array_equal(a[i : i + block], b[i : i + block]):
            differs.set()

    _threads.parallel(compare, [(i,) for i in range(0, a.size, block)])
    return not differs.is_set()


def _forget(ident: int, ref: weakref.ref) -> None:
    with _lock:
        entry = _cache.get(ident)
        if entry is not None and entry.ref is ref:
            del _cache[ident]


def _total() -> int:
    return sum(entry.nbytes for entry in _cache.values())


def kernel_cache_bytes() -> int:
    """Bytes the cache holds (weight copies and transformed kernels)."""
    with _lock:
        return _total()


def clear_kernel_cache() -> None:
    """Drop every cached transformed kernel."""
    with _lock:
        _cache.clear()
