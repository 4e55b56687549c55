"""Requantization (scale) unit: how many rescale operations a layer needs, how long they take, and where they run.

A scale unit is a pipelined vector of ``lanes`` fixed-point multiply-shift-round-clamp lanes that turns int32
accumulators into narrow outputs (TFLite's MultiplyByQuantizedMultiplier, [ref:TFLiteRef]). A unit that
holds one multiplier per tensor cannot requantize a layer with per-channel weight scales; such a layer either falls
back to the SIMD unit or cannot be mapped.
"""
from __future__ import annotations

import math
from typing import get_args

from accelsim.config.hw import ScaleFallback
from accelsim.errors import MappingError, UnsupportedError
from accelsim.hw.layer import LayerShape

FALLBACKS: tuple[str, ...] = get_args(ScaleFallback)


def requant_ops(layer: LayerShape) -> int:
    """Rescale operations (one fixed-point multiply + rounding shift each) the layer's outputs need: outputs × the
    op's ``requant_per_output`` (its cost descriptor in the op registry; UnsupportedError for an unknown op).

    One per output for Conv2D, FullyConnected, Concat, AvgPool and GlobalAveragePool (the average's divide is a
    rescale); Add rescales each input and then the sum (TFLite ADD, [ref:TFLiteRef]): ``inputs + 1`` per
    output. Ops that keep their input's quantization (MaxPool, Reshape, ...) need none.
    """
    return layer.outputs * layer.cost.requant_per_output(layer)


def scale_unit_cycles(outputs: int, lanes: int, pipeline_latency_cycles: int) -> int:
    """Cycles to requantize ``outputs`` values: ``ceil(outputs / lanes) + pipeline_latency_cycles`` (0 if none)."""
    if lanes <= 0:
        raise ValueError(f"scale unit lanes must be positive, got {lanes}")
    if outputs <= 0:
        return 0
    return math.ceil(outputs / lanes) + pipeline_latency_cycles


def check_per_channel_support(layer: LayerShape, per_channel_supported: bool, fallback: str) -> str:
    """Where the layer's requantization runs: ``"scale_unit"`` or ``"simd"``.

    A layer with per-channel weight scales on a per-tensor-only scale unit runs on the SIMD unit when
    ``fallback == "simd"``; with ``fallback == "none"`` it cannot be mapped and this raises MappingError.
    """
    if fallback not in FALLBACKS:
        raise UnsupportedError(f"unknown scale_unit.fallback {fallback!r}; supported: {', '.join(FALLBACKS)}")
    if not (layer.needs_requant and layer.per_channel) or per_channel_supported:
        return "scale_unit"
    if fallback == "simd":
        return "simd"
    raise MappingError(
        f"layer {layer.name!r} ({layer.kind}) has per-channel weight scales ({layer.out_channels} multipliers) but "
        f"the scale unit holds one multiplier per tensor and has no fallback; set `scale_unit.per_channel: true` "
        f"or `scale_unit.fallback: simd` in the hardware config, or quantize the weights per tensor"
    )
