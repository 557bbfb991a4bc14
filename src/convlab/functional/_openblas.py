"""The OpenBLAS convlab's GEMMs call, NumPy's own, and which kernels it runs (:func:`describe`).

NumPy's wheels bundle scipy-openblas (64-bit integers, symbols
``scipy_cblas_?gemm64_``) in ``numpy.libs`` (Linux, Windows) or
``numpy/.dylibs`` (macOS). It is built for every x86 core ("DYNAMIC_ARCH")
and picks its kernels once, when it loads, from the CPU or from
``OPENBLAS_CORETYPE``.

Measured on AMD Zen 4 (EPYC family 0x19, AVX-512; 2 cores, float32, a
one-thread BLAS per pool thread, whole conv layers of the paper's U-Net),
where NumPy's OpenBLAS 0.3.31 picks its AVX-512 "SkylakeX" kernels:
``OPENBLAS_CORETYPE=Haswell`` (the AVX2 kernels), set before NumPy loads,
ran the layers 1-8 % faster (64 channels at 570^2 164 -> 154 ms, 128 at
282^2 135 -> 129, 1024 at 30^2 78 -> 74, 1024 -> 512 at 56^2 155 -> 143).
convlab cannot switch NumPy's loaded library; SciPy's bundled OpenBLAS
(0.3.30), loaded by convlab with the Haswell core for its own GEMMs, was
slower instead (64 channels 195 ms, 128 channels 144, 1024 at 30^2 88, the
others equal), so convlab keeps NumPy's and users on Zen 4 may set the
variable themselves. Float results differ in the last bits between BLAS
kernels, as they do between machines; never between thread counts.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Library", "describe", "numpy_library"]


@dataclass(frozen=True)
class Library:
    """NumPy's loaded scipy-openblas: its handle, its file and its symbols' convention (ILP64)."""

    cdll: ctypes.CDLL
    path: Path
    index: type = ctypes.c_int64  # the BLAS integer of NumPy's ILP64 build
    suffix: str = "64_"  # of every symbol

    def function(self, stem: str):
        """The exported function ``stem`` + suffix (``scipy_cblas_sgemm`` ...), or ``None``."""
        return getattr(self.cdll, stem + self.suffix, None)

    def text(self, stem: str) -> str | None:
        """A string the library reports (``scipy_openblas_get_corename``, ``..._get_config``)."""
        function = self.function(stem)
        if function is None:
            return None
        function.argtypes, function.restype = [], ctypes.c_char_p
        value = function()
        return value.decode(errors="replace") if value else None


@functools.cache
def numpy_library() -> Library | None:
    """NumPy's own bundled OpenBLAS (``numpy.libs`` or ``numpy/.dylibs``), or ``None`` (MKL, Accelerate)."""
    numpy_dir = Path(np.__file__).parent
    for folder in (numpy_dir.parent / "numpy.libs", numpy_dir / ".dylibs"):
        for path in sorted(folder.glob("*scipy_openblas64_*")):
            with contextlib.suppress(OSError):
                return Library(ctypes.CDLL(str(path)), path)
    return None


def describe() -> str:
    """Which BLAS convlab's GEMMs run on, for benchmarks and bug reports.

    >>> isinstance(describe(), str)
    True
    """
    library = numpy_library()
    if library is None:
        return "NumPy's BLAS through np.matmul (no scipy-openblas found)"
    core = library.text("scipy_openblas_get_corename") or "unknown core"
    version = " ".join((library.text("scipy_openblas_get_config") or "OpenBLAS").split()[:2])
    return f"NumPy's {version}, core {core} ({library.path.name})"
