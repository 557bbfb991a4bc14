"""Optional dependencies: one import helper, one line telling the user what to install.

convlab's core needs NumPy and SciPy only. Everything else is an extra of
``pyproject.toml`` (``convlab[io]``, ``convlab[viz]``, ...) and is imported
where it is used, through :func:`require`, so that a missing package is one
message naming what was being done, the package, and the command that
installs it, e.g. ``reading cells.png needs Pillow: pip install 'convlab[io]'``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ._args import ConvlabError

__all__ = ["EXTRAS", "MissingDependency", "require"]

# The extras of pyproject.toml, named once here so that every message agrees with it.
EXTRAS = ("io", "viz", "progress", "dask", "onnx", "zarr")
# How messages name a package, where its import name is not its usual name.
_NAMES = {"PIL": "Pillow", "torch": "PyTorch", "dask.distributed": "dask.distributed"}
# What pip installs, for the packages no extra carries.
_PIP = {"torch": "torch", "onnxruntime": "onnxruntime"}


class MissingDependency(ConvlabError, ImportError):
    """An optional package is not installed; the message says how to install it.

    It is a :class:`ConvlabError` (the command line prints it as one line and
    exits with status 2) and an :class:`ImportError` (code that falls back
    when a package is missing keeps catching it).
    """


def require(module: str, extra: str | None, what: str, *, instead: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency` naming ``what`` needed it.

    Parameters
    ----------
    module : str
        The import name, e.g. ``'PIL.Image'`` or ``'tifffile'``.
    extra : str or None
        The convlab extra that installs it (one of :data:`EXTRAS`); ``None``
        for a package no extra carries (PyTorch, onnxruntime), installed by name.
    what : str
        What was being done, in the user's words: ``"reading cells.png"``.
    instead : str, optional
        A way around the package, added in parentheses: ``"or write an .svg file"``.

    Returns
    -------
    module
        The imported module.

    Examples
    --------
    >>> require("json", None, "reading a manifest").__name__
    'json'
    >>> require("no_such_module_xyz", "io", "reading cells.png")
    Traceback (most recent call last):
    ...
    convlab._extras.MissingDependency: reading cells.png needs no_such_module_xyz: pip install 'convlab[io]'
    """
    if extra is not None and extra not in EXTRAS:
        raise ValueError(f"extra must be one of {EXTRAS} or None, got extra={extra!r}")
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        package = _NAMES.get(module, _NAMES.get(top, top))
        install = f"pip install 'convlab[{extra}]'" if extra else f"pip install {_PIP.get(top, top)}"
        message = f"{what} needs {package}: {install}" + (f" ({instead})" if instead else "")
        # A package that is installed but broken fails on one of its own
        # imports: say which, or the advice to install it again looks wrong.
        if err.name is not None and err.name != module and err.name.split(".")[0] != top:
            message += f" (importing it failed: {err})"
        raise MissingDependency(message) from None
