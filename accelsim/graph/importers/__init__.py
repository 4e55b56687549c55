"""Model importers: read a model file into the accelsim graph IR.

``load_tflite`` (``accelsim.graph.importers.tflite``) reads quantized .tflite flatbuffers; ``load_onnx``
(``accelsim.graph.importers.onnx``, imported on demand) reads float and quantized ONNX models. Both dispatch
through handler tables keyed by operator (``TFLITE_HANDLERS``, ``ONNX_HANDLERS``; ``register_tflite_handler``,
``register_onnx_handler`` add entries).
"""
from __future__ import annotations

from accelsim.graph.importers.tflite import load_tflite

__all__ = ["load_tflite"]
