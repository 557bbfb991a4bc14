"""ONNX tensors as NumPy arrays: element types, initializers, bounded external data.

Initializers are decoded from the protobuf's typed fields or raw bytes with
:func:`numpy.frombuffer`; nothing is unpickled. External data is read from
files beside the model only: a location that is absolute or escapes the
model's directory, or an offset/length beyond the file, is refused before a
byte is read.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .._args import ConvlabError
from .._limits import check_memory
from ._proto import numpy_helper, onnx

__all__ = ["MAX_ELEMENTS", "OnnxModelError", "check_elements", "element_dtype", "tensor_to_array"]

# One tensor may hold at most 2**31 elements (8 GiB of float32): a declared
# shape beyond that is a corrupt or hostile model, refused before allocation.
MAX_ELEMENTS = 2**31

_DTYPES = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.DOUBLE: np.float64,
    onnx.TensorProto.INT64: np.int64,
    onnx.TensorProto.INT32: np.int32,
    onnx.TensorProto.INT16: np.int16,
    onnx.TensorProto.INT8: np.int8,
    onnx.TensorProto.UINT8: np.uint8,
    onnx.TensorProto.UINT16: np.uint16,
    onnx.TensorProto.BOOL: np.bool_,
}


class OnnxModelError(ConvlabError):
    """A model convlab cannot run; the message lists every problem found, with node names."""


def element_dtype(elem_type: int, what: str) -> np.dtype:
    """The NumPy dtype of an ONNX element type; float16, strings and 4/8-bit floats are refused."""
    if elem_type not in _DTYPES:
        name = (
            onnx.TensorProto.DataType.Name(elem_type)
            if elem_type in onnx.TensorProto.DataType.values()
            else elem_type
        )
        supported = ", ".join(onnx.TensorProto.DataType.Name(t) for t in _DTYPES)
        raise OnnxModelError(f"{what} has element type {name}; supported: {supported}")
    return np.dtype(_DTYPES[elem_type])


def check_elements(shape: tuple[int, ...], what: str) -> int:
    """The element count of ``shape``; a ConvlabError beyond :data:`MAX_ELEMENTS` or for negative sizes."""
    if any(int(d) < 0 for d in shape):
        raise OnnxModelError(f"{what} has a negative dimension: shape {tuple(shape)}")
    count = math.prod(int(d) for d in shape)
    if count > MAX_ELEMENTS:
        raise OnnxModelError(
            f"{what} declares shape {tuple(shape)}: {count} elements > the bound {MAX_ELEMENTS}"
        )
    return count


def tensor_to_array(tensor: onnx.TensorProto, base_dir: Path | None, what: str) -> np.ndarray:
    """A TensorProto (initializer or Constant value) as a NumPy array, external data resolved."""
    dtype = element_dtype(tensor.data_type, what)
    shape = tuple(tensor.dims)
    count = check_elements(shape, what)
    check_memory(count * dtype.itemsize, what)
    if tensor.data_location != onnx.TensorProto.EXTERNAL:
        array = numpy_helper.to_array(tensor)
        if array.size != count:
            raise OnnxModelError(f"{what} holds {array.size} values, its shape {shape} needs {count}")
        return array.astype(dtype, copy=False).reshape(shape)
    raw = _external_bytes(tensor, base_dir, count * dtype.itemsize, what)
    return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)


def _external_bytes(tensor: onnx.TensorProto, base_dir: Path | None, nbytes: int, what: str) -> bytes:
    info = {entry.key: entry.value for entry in tensor.external_data}
    if base_dir is None:
        raise OnnxModelError(
            f"{what} is stored in external data {info.get('location')!r}: load the model from its path, "
            "or pass base_dir= for bytes or a ModelProto"
        )
    location = info.get("location", "")
    root = base_dir.resolve()
    path = (root / location).resolve()
    if not location or Path(location).is_absolute() or not path.is_relative_to(root):
        raise OnnxModelError(f"{what}: external data location {location!r} must be a file inside {root}")
    if not path.is_file():
        raise OnnxModelError(f"{what}: external data file {path} does not exist")
    offset, length = int(info.get("offset", 0)), int(info.get("length", nbytes))
    size = path.stat().st_size
    if length != nbytes or offset < 0 or offset + length > size:
        raise OnnxModelError(
            f"{what}: external data needs {nbytes} bytes, the model declares offset {offset} and length "
            f"{length} in {path.name}, a file of {size} bytes"
        )
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read(length)
