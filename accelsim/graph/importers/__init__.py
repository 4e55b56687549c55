"""Model importers: read a model file into the accelsim graph IR.

``load_tflite`` (``accelsim.graph.importers.tflite``) reads quantized .tflite flatbuffers.
"""
from __future__ import annotations

from accelsim.graph.importers.tflite import load_tflite

__all__ = ["load_tflite"]
