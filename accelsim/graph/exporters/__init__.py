"""Model exporters: write an accelsim graph for a peer runtime.

``export_tflite`` (``accelsim.graph.exporters.tflite``) writes a .tflite flatbuffer for LiteRT;
``export_onnx_qlinear`` (``accelsim.graph.exporters.onnx_qlinear``) writes an ONNX QOperator graph for
onnxruntime. Imported lazily so that using one does not import the other's dependencies.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "export_tflite": "accelsim.graph.exporters.tflite",
    "export_onnx_qlinear": "accelsim.graph.exporters.onnx_qlinear",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'accelsim.graph.exporters' has no attribute {name!r}")
