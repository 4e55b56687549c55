"""Model exporters: write an accelsim graph for a peer runtime.

``export_tflite`` (``accelsim.graph.exporters.tflite``) writes a .tflite flatbuffer for LiteRT;
``export_onnx_qlinear`` (``accelsim.graph.exporters.onnx_qlinear``) writes an ONNX QOperator graph for
onnxruntime. Each exporter is a handler table keyed by accelsim op kind (``TFLITE_EXPORTERS``,
``ONNX_QLINEAR_EXPORTERS``, read-only); :func:`register_exporter_handler` adds an entry. Imported lazily so that
using one does not import the other's dependencies.
"""
from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any, Literal

_EXPORTS = {
    "export_tflite": "accelsim.graph.exporters.tflite",
    "TFLITE_EXPORTERS": "accelsim.graph.exporters.tflite",
    "export_onnx_qlinear": "accelsim.graph.exporters.onnx_qlinear",
    "ONNX_QLINEAR_EXPORTERS": "accelsim.graph.exporters.onnx_qlinear",
}

#: Export formats and the module-level registration function of each.
ExportFormat = Literal["tflite", "onnx_qlinear"]
_REGISTER = {
    "tflite": ("accelsim.graph.exporters.tflite", "register_tflite_exporter"),
    "onnx_qlinear": ("accelsim.graph.exporters.onnx_qlinear", "register_onnx_qlinear_exporter"),
}

__all__ = [*_EXPORTS, "register_exporter_handler"]


def register_exporter_handler(format: ExportFormat, kind: str, handler: Callable[..., Any], *,
                              replace: bool = False) -> None:
    """Register ``handler(writer, node)`` as the ``format`` exporter of accelsim op kind ``kind``.

    TFLite handlers write operators through the writer and return nothing; ONNX QLinear handlers return the name
    of the ONNX value holding the node's output. An existing entry is replaced only with ``replace=True``.
    """
    if format not in _REGISTER:
        from accelsim.errors import UnsupportedError

        raise UnsupportedError(f"unknown export format {format!r}; supported: {', '.join(_REGISTER)}")
    module, name = _REGISTER[format]
    getattr(import_module(module), name)(kind, handler, replace=replace)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'accelsim.graph.exporters' has no attribute {name!r}")
