"""Requantization (scale) unit: how many rescale operations a layer needs, how long they take, and where they run.

A scale unit is a pipelined vector of ``lanes`` fixed-point multiply-shift-round-clamp lanes that turns int32
accumulators into narrow outputs (TFLite's MultiplyByQuantizedMultiplier, [ref:TFLiteRef]). A unit that
holds one multiplier per tensor cannot requantize a layer with per-channel weight scales; such a layer either falls
back to the SIMD unit or cannot be mapped.

What per-channel scales cost (docs/model.md §2.3): the scale sets a unit loads (:func:`scale_set_loads`), the
set registers it holds (:func:`scale_sets_held`, :func:`scale_register_bits`) and their area
(:func:`scale_unit_area_um2`), the per-output register read (:func:`scale_register_read_pj_per_op`), and for the
SIMD fallback the int32 round trip through SRAM (:func:`accumulator_round_trip_bytes`).
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


# --------------------------------------------------------------------------- per-channel parameters and costs
def scale_sets_held(per_channel_unit: bool, lanes: int, param_sets: int | None) -> int:
    """Scale-set registers of a scale unit: ``param_sets`` (default one per lane) for a per-channel unit, one
    shared set for a per-tensor unit (one multiplier and shift for the whole layer, TFLite per-tensor
    quantization [ref:TFLiteRef])."""
    if not per_channel_unit:
        return 1
    return lanes if param_sets is None else param_sets


def scale_set_loads(per_channel: bool, out_channels: int, outputs: int, tile_out_channels: int, row_tiles: int,
                    channels_outside_rows: bool, sets_held: int, lanes: int) -> int:
    """Scale sets (multiplier + shift) a requantizing unit loads for one layer.

    Per-tensor scales: one set per layer. Per-channel scales (one set per output channel, [ref:TFLiteRef]
    ``per_channel_multiplier`` / ``per_channel_shift``): the unit rescales ``lanes`` channels of an output pixel
    per cycle and takes a tile's outputs one ``lanes``-wide channel group at a time (ASSUMPTION: the order that
    needs fewest loads), so
    - ``out_channels`` loads when the tile's whole channel group fits the set registers and the output-channel
      loop is outside the row loop (the sets stay loaded across the row tiles);
    - ``out_channels × row_tiles`` otherwise (every tile loads each of its channels' sets once);
    - ``outputs`` (one set per output value) when the unit holds fewer sets than the channels it rescales at
      once (``min(lanes, tile_out_channels)``): the registers are swapped within every output pixel.
    """
    if not per_channel:
        return 1
    if sets_held < min(lanes, tile_out_channels):
        return outputs
    if sets_held >= tile_out_channels and channels_outside_rows:
        return out_channels
    return out_channels * max(1, row_tiles)


def scale_register_bits(sets_held: int, scale_bytes_per_set: int) -> int:
    """Storage bits of the scale-set registers: ``sets × 8 × bytes per set`` (one set per lane for a per-channel
    unit, one shared set for a per-tensor unit)."""
    return sets_held * 8 * scale_bytes_per_set


def scale_unit_area_um2(lanes: int, lane_um2: float, register_bits: int, register_um2_per_bit: float) -> float:
    """Scale-unit area in um^2: ``lanes`` requantization lanes (each a 32x32 multiplier and a 32-bit rounding
    adder, the MAC area of the energy table: TFLite's SaturatingRoundingDoublingHighMul is a 32x32 multiply
    [ref:TFLiteRef]) plus the scale-set registers at the table's register-file area per bit."""
    return lanes * lane_um2 + register_bits * register_um2_per_bit


def scale_register_read_pj_per_op(per_channel: bool, lanes: int, scale_bytes_per_set: int,
                                  register_pj_per_byte: float) -> float:
    """Register energy per requantized output in pJ to fetch its scale set: per-channel scales read one set per
    lane per output (``bytes × pJ/B``); a per-tensor set is read once per cycle and broadcast to the ``lanes``
    lanes (``bytes × pJ/B / lanes``)."""
    per_read = scale_bytes_per_set * register_pj_per_byte
    return per_read if per_channel else per_read / lanes


def accumulator_round_trip_bytes(outputs: int, accumulator_bits: int) -> tuple[float, float]:
    """(write, read) bytes of the int32 accumulators a per-tensor array hands to the SIMD unit for per-channel
    requantization: every accumulator is written to the SRAM that holds outputs and read back by the SIMD unit
    (``outputs × accumulator_bits / 8`` each way), in place of the array's own output stage."""
    nbytes = outputs * accumulator_bits / 8
    return nbytes, nbytes
