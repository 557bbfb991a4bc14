"""Load and save a network's weights: safetensors, NumPy .npz and PyTorch .pt files."""

from __future__ import annotations

import math
import os
import pickle
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .._args import ConvlabError, describe
from .._extras import require
from .._limits import check_expansion
from ._atomic import atomic_path
from ._safetensors import read_safetensors, safetensors_bytes

__all__ = ["WeightsFileError", "WeightsNote", "load_weights", "save_weights", "strip_wrapper_prefixes"]

_SUFFIXES = {".safetensors": "safetensors", ".npz": "npz", ".pt": "torch", ".pth": "torch"}
# Keys under which training scripts commonly store the state_dict in a checkpoint.
_WRAPPERS = ("state_dict", "model_state_dict", "model")
# Prefixes that wrappers put on every key, and who puts them.
_PREFIXES = {"module.": "nn.DataParallel", "_orig_mod.": "torch.compile"}


class WeightsFileError(ConvlabError):
    """A weights file that cannot be read or written; the message names the path."""


class WeightsNote(UserWarning):
    """What :func:`load_weights` changed on the way: unwrapping, prefixes, widening."""


def _format(path: Path) -> str:
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise WeightsFileError(
            f"weights file {str(path)!r} has the extension {path.suffix or '(none)'!r}; "
            f"expected one of {', '.join(_SUFFIXES)}"
        )
    return kind


def load_weights(path: str | os.PathLike, /) -> dict[str, np.ndarray]:
    """A ``state_dict`` of NumPy arrays from a weights file.

    Parameters
    ----------
    path : str or path-like
        ``.safetensors``, ``.npz`` (read with ``allow_pickle=False``) or
        ``.pt``/``.pth``. PyTorch files are read only through
        ``torch.load(path, map_location='cpu', weights_only=True)``, whose
        restricted unpickler refuses anything but tensors and plain
        containers: convlab never unpickles arbitrary objects.

    Returns
    -------
    dict of str to ndarray
        Parameter names as stored (PyTorch's ``conv1.weight`` style), in file order.

    Raises
    ------
    WeightsFileError
        Unknown extension, missing, truncated or corrupt file, an object other
        than tensors in a PyTorch file, torch missing for a ``.pt`` file; the
        message names the path.

    Notes
    -----
    Issued as :class:`WeightsNote` warnings: a checkpoint dict that holds the
    state_dict under ``'state_dict'``, ``'model_state_dict'`` or ``'model'``
    is unwrapped; a ``module.`` prefix on every key (``nn.DataParallel``) is
    stripped; float16 and bfloat16 tensors are widened to float32, exactly
    (convlab computes in float32).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.safetensors"
    >>> save_weights({"conv.weight": np.ones((2, 1, 3, 3), np.float32)}, path)
    >>> {k: v.shape for k, v in load_weights(path).items()}
    {'conv.weight': (2, 1, 3, 3)}
    """
    path = Path(path)
    kind = _format(path)
    if not path.is_file():
        raise WeightsFileError(f"weights file {str(path)!r} does not exist or is not a file")
    if kind == "torch":  # before the reader's try: a missing package is not a damaged file
        require("torch", None, f"reading {path}", instead="or convert the file to .safetensors or .npz")
    try:
        tensors, notes = _READERS[kind](path)
        tensors, more = _normalise(tensors)
    except ConvlabError as err:
        raise WeightsFileError(f"cannot read weights file {str(path)!r}: {err}") from None
    except OSError as err:
        raise WeightsFileError(f"cannot read weights file {str(path)!r}: {err.strerror or err}") from None
    for note in [*notes, *more]:
        warnings.warn(f"{path.name}: {note}", WeightsNote, stacklevel=2)
    return tensors


def _read_safetensors(path: Path) -> tuple[dict, list[str]]:
    tensors, bf16 = read_safetensors(path)
    for name in bf16:
        # bfloat16 is the top half of a float32: shifting the bits back is exact.
        tensors[name] = (tensors[name].astype(np.uint32) << 16).view(np.float32)
    notes = [f"{len(bf16)} bfloat16 tensors widened to float32"] if bf16 else []
    return tensors, notes


# How zipfile, zlib and np.lib.format report a damaged archive or member.
_NPZ_DAMAGE = (
    *(zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error),
    *(EOFError, ValueError, NotImplementedError),
)


def _read_npz(path: Path) -> tuple[dict, list[str]]:
    # Read member by member through zipfile rather than np.load, so that every
    # header is checked against the bytes its member really holds (a header
    # may declare (2**40,)) and the archive's unpacked total against the file
    # (a deflate bomb) before anything is allocated.
    if path.read_bytes()[:6] == b"\x93NUMPY":
        raise ConvlabError("the file is a single .npy array, not an .npz archive of named arrays")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            for info in infos:
                if not info.filename.endswith(".npy"):
                    raise ConvlabError(f"member {info.filename!r} is not an .npy array")
            declared = sum(info.file_size for info in infos)
            check_expansion(declared, path.stat().st_size, f"the {len(infos)} arrays of the archive")
            return {info.filename[:-4]: _npz_member(archive, info) for info in infos}, []
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        ValueError,
        NotImplementedError,
    ) as err:
        if isinstance(err, ConvlabError):
            raise
        # ValueError also covers object arrays, which would need pickle.
        raise ConvlabError(f"not a readable .npz archive ({err})") from None


def _npz_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    name = info.filename[:-4]
    with archive.open(info) as file:
        version = np.lib.format.read_magic(file)
        if version not in ((1, 0), (2, 0)):
            raise ConvlabError(f"array {name!r} has .npy format version {version}, expected 1.0 or 2.0")
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else (np.lib.format.read_array_header_2_0)
        )
        shape, _, dtype = read_header(file)
        if dtype.hasobject:
            raise ConvlabError(f"array {name!r} holds Python objects, which would need pickle: refused")
        if math.prod(shape) * dtype.itemsize > info.file_size:
            raise ConvlabError(
                f"array {name!r} declares shape {shape} of {dtype} but its member holds only "
                f"{info.file_size} bytes"
            )
    with archive.open(info) as file:
        return np.lib.format.read_array(file, allow_pickle=False)


def _read_torch(path: Path) -> tuple[dict, list[str]]:
    import torch  # load_weights has required it

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConvlabError(
            f"refused: it holds objects other than tensors and plain containers, which "
            f"torch.load(weights_only=True) does not unpickle ({first})"
        ) from None
    except Exception as err:  # torch reports damage as RuntimeError, EOFError, zip errors, ...
        raise ConvlabError(f"torch.load failed: {type(err).__name__}: {err}") from None
    state, notes = _unwrap(loaded)
    budget = _Budget(path.stat().st_size)
    arrays, plain = {}, []
    for name, value in state.items():
        if not isinstance(name, str):
            raise ConvlabError(f"the state_dict has the key {describe(name)}; keys must be strings")
        if isinstance(value, torch.Tensor):
            arrays[name] = _torch_array(name, value.detach(), torch, budget)
        else:
            arrays[name] = _plain_numbers(name, value)
            plain.append(name)
    bf16 = sum(isinstance(v, torch.Tensor) and v.dtype == torch.bfloat16 for v in state.values())
    if bf16:
        notes.append(f"{bf16} bfloat16 tensors widened to float32")
    if plain:
        notes.append(f"entries stored as Python numbers became arrays: {', '.join(plain)}")
    return arrays, notes


class _Budget:
    """What the tensors of one file have materialised so far, against the file's size."""

    def __init__(self, file_bytes: int):
        self.file_bytes, self.used = file_bytes, 0

    def take(self, nbytes: int, name: str) -> None:
        self.used += nbytes
        check_expansion(self.used, self.file_bytes, f"the tensors up to {name!r}")


_TORCH_DTYPES = (
    *("float16", "bfloat16", "float32", "float64", "bool"),
    *("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"),
)


def _torch_array(name: str, tensor, torch, budget: _Budget) -> np.ndarray:
    # Expanded (stride-0) views, views sharing one storage and exotic layouts
    # are checked before .numpy() copies anything.
    if tensor.layout != torch.strided:
        raise ConvlabError(f"tensor {name!r} has layout {tensor.layout}; only dense tensors are read")
    if tensor.is_quantized:
        raise ConvlabError(f"tensor {name!r} is a quantized tensor ({tensor.dtype}); store it dequantized")
    if str(tensor.dtype).removeprefix("torch.") not in _TORCH_DTYPES:
        raise ConvlabError(
            f"tensor {name!r} has dtype {tensor.dtype}, which convlab cannot read "
            f"(readable: {', '.join(_TORCH_DTYPES)})"
        )
    widened = 4 if tensor.dtype == torch.bfloat16 else tensor.element_size()
    budget.take(tensor.numel() * widened, name)
    # NumPy has no bfloat16; widening to float32 is exact.
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy().copy()


def _plain_numbers(name: str, value: object) -> np.ndarray:
    # Training scripts store small values next to the tensors (Pytorch-UNet
    # its mask_values list); a number or a flat list of numbers is kept,
    # anything else (nested or self-referring containers included) refused.
    flat = value if isinstance(value, (list, tuple)) and len(value) <= 1 << 16 else [value]
    if not all(isinstance(v, (bool, int, float)) for v in flat):
        raise ConvlabError(f"entry {name!r} is {describe(value)}, neither a tensor nor numbers")
    try:
        return np.asarray(value)
    except OverflowError:
        raise ConvlabError(f"entry {name!r} holds an integer too large for 64 bits") from None


def _unwrap(loaded: object) -> tuple[Mapping, list[str]]:
    notes, seen = [], set()
    while isinstance(loaded, Mapping):
        if id(loaded) in seen:
            raise ConvlabError("the checkpoint dict contains itself (a cycle of state_dict entries)")
        seen.add(id(loaded))
        key = next((k for k in _WRAPPERS if isinstance(loaded.get(k), Mapping)), None)
        if key is None:
            return loaded, notes
        others = sorted(str(k) for k in loaded if k != key)
        notes.append(f"took the state_dict under {key!r} of a checkpoint dict (other keys: {others})")
        loaded = loaded[key]
    raise ConvlabError(f"the file holds {type(loaded).__name__}, not a dict of tensors (a state_dict)")


def strip_wrapper_prefixes(state: Mapping[str, object]) -> tuple[dict[str, object], list[str]]:
    """``state`` without the prefix a wrapper put on every key, and a note per prefix removed.

    ``module.`` (``nn.DataParallel``, ``DistributedDataParallel``) and
    ``_orig_mod.`` (``torch.compile``), in any nesting: a compiled model
    wrapped in DataParallel has both.

    >>> strip_wrapper_prefixes({"module._orig_mod.conv.weight": 1})
    ({'conv.weight': 1}, ["stripped the 'module.' prefix (nn.DataParallel) from every key", \
"stripped the '_orig_mod.' prefix (torch.compile) from every key"])
    """
    items, notes = {str(k): v for k, v in state.items()}, []
    stripped = True
    while stripped and items:
        stripped = False
        for prefix, wrapper in _PREFIXES.items():
            if all(k.startswith(prefix) for k in items):
                items = {k[len(prefix) :]: v for k, v in items.items()}
                notes.append(f"stripped the {prefix!r} prefix ({wrapper}) from every key")
                stripped = True
    return items, notes


def _normalise(tensors: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
    if not tensors:
        raise ConvlabError("it holds no tensors")
    tensors, notes = strip_wrapper_prefixes(tensors)
    halves = [name for name, value in tensors.items() if value.dtype == np.float16]
    for name in halves:
        tensors[name] = tensors[name].astype(np.float32)
    if halves:
        notes.append(f"{len(halves)} float16 tensors widened to float32")
    return tensors, notes


def save_weights(state_dict: Mapping[str, np.ndarray], path: str | os.PathLike, /) -> None:
    """Write a ``state_dict`` to ``path``; the format follows the extension.

    Parameters
    ----------
    state_dict : mapping of str to array_like
        Parameter names and values; values are stored with their dtype.
    path : str or path-like
        ``.safetensors``, ``.npz`` or ``.pt``/``.pth`` (the last needs
        PyTorch; it is written with ``torch.save`` and readable with
        ``weights_only=True``).

    Raises
    ------
    WeightsFileError
        Unknown extension, a name that is not a string, a value that is not
        numeric, or a directory that cannot be written; the message names it.

    Notes
    -----
    The file is written under a temporary name in the same directory and
    renamed into place: an interrupted write never leaves a partial file.
    """
    path = Path(path)
    kind = _format(path)
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise WeightsFileError(f"state_dict keys must be strings, got {describe(name)}")
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise WeightsFileError(f"state_dict[{name!r}] must be numeric, got dtype {array.dtype}")
        arrays[name] = array
    if kind == "torch":
        require("torch", None, f"writing {path}", instead="or write .safetensors or .npz")
    try:
        with atomic_path(path) as tmp:
            _WRITERS[kind](arrays, tmp)
    except ConvlabError as err:
        raise WeightsFileError(f"cannot write weights file {str(path)!r}: {err}") from None
    except OSError as err:
        raise WeightsFileError(f"cannot write weights file {str(path)!r}: {err.strerror or err}") from None


def _write_npz(arrays: dict[str, np.ndarray], tmp: Path) -> None:
    # A file object, not a name: np.savez appends ".npz" to names lacking it.
    with open(tmp, "wb") as file:
        np.savez(file, **arrays)


def _write_torch(arrays: dict[str, np.ndarray], tmp: Path) -> None:
    import torch  # save_weights has required it

    torch.save({name: torch.from_numpy(np.array(a, order="C")) for name, a in arrays.items()}, tmp)


_READERS = {"safetensors": _read_safetensors, "npz": _read_npz, "torch": _read_torch}


def _write_safetensors(arrays: dict[str, np.ndarray], tmp: Path) -> None:
    tmp.write_bytes(safetensors_bytes(arrays))


_WRITERS = {"safetensors": _write_safetensors, "npz": _write_npz, "torch": _write_torch}
