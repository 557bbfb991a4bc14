"""The ``onnx`` package, imported in one place: without it, one line naming the extra to install."""

from __future__ import annotations

from .._extras import require

__all__ = ["numpy_helper", "onnx"]

onnx = require("onnx", "onnx", "running ONNX models")
numpy_helper = require("onnx.numpy_helper", "onnx", "running ONNX models")
