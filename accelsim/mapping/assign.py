"""Op -> unit assignment, precision-mode checks and the compute cost of one layer on its unit.

Assignment rule (explicit, documented in ``docs/model.md`` §Mapping):

=====================================  ======================================================================
layer                                  unit
=====================================  ======================================================================
Conv2D (not depthwise), FullyConnected  systolic array if the config has one, else the SIMD unit (vrmpy loop)
depthwise Conv2D                        SIMD unit if the config has one (an array wastes all but one column on
                                        a depthwise GEMM), else the systolic array (one GEMM per channel)
Add, AvgPool, MaxPool, GlobalAvgPool,   SIMD unit (vector ALU) if present, else the scale unit's post-processing
Concat (with rescale), Pad              lanes (as NVDLA's SDP / Gemmini's pooling engine do)
Concat without rescale                  DMA only (a copy: costed as traffic, no compute)
Reshape, Flatten                        free views: no cycles, no traffic
requantization                          the scale unit; on the SIMD unit when ``scale_unit.shared_with_simd``
                                        (HVX) or the per-tensor unit falls back for per-channel layers
=====================================  ======================================================================
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from accelsim.config.hw import HardwareConfig, PrecisionMode, SimdUnit
from accelsim.errors import MappingError, UnsupportedError
from accelsim.graph.ops import MAC_OPS, VIEW_OPS
from accelsim.hw.layer import LayerShape
from accelsim.hw.memory import staging_chain
from accelsim.hw.scale_unit import (
    accumulator_round_trip_bytes, check_per_channel_support, requant_ops, scale_unit_cycles,
)
from accelsim.hw.simd import InstructionCounts, output_counts, resource_bound_packets, word_lanes
from accelsim.hw.unit import ComputeUnitModel, WorkContext, compute_units

#: Free views (no cycles, no traffic) and MAC ops among the built-in ops (accelsim.graph.ops); the cost path
#: asks each layer's cost descriptor (``layer.cost.is_view``, ``layer.is_mac``), so ops registered later count.
FREE_KINDS = VIEW_OPS
MAC_KINDS = MAC_OPS


@dataclass(frozen=True)
class ComputeCost:
    """Compute-side cost of one layer on its unit (cycles are compute-unit cycles, stall-free)."""

    unit: str                         # systolic | simd | scale_unit | dma | none
    requant_unit: str                 # scale_unit | simd | none
    compute_cycles: float             # busy cycles of ``unit`` (includes requantization when it runs there)
    scale_cycles: float               # busy cycles of a separate scale unit (0 when requant runs on the SIMD)
    macs: int
    macs_issued: int                  # MACs the multipliers perform, including SIMD lane/tap padding
    peak_macs_per_cycle: float        # of the unit in this precision mode (0 for non-MAC units)
    requant_ops: int
    alu_ops: int                      # vector-ALU element operations (non-MAC work, requant adds excluded)
    stream_read_bytes: dict[str, float]   # innermost SRAM -> datapath bytes per operand (weights, inputs, outputs =
                                          # partial sums read back)
    stream_write_bytes: float         # datapath -> buffer level bytes (outputs, partial sums)
    operand_read_bytes: float         # register-file reads by instructions (SIMD: 2 sources per op, 1 per store)
    operand_write_bytes: float        # register-file writes (SIMD: 1 per op and per load)
    channel_granule: int              # output-channel tile multiple (array columns / SIMD lanes)
    reduction_granule: int            # input-channel tile multiple
    compute_weight_bits: int          # multiplier width (storage-only weights are unpacked to it)
    lowering: str = ""                # how the unit runs the layer (UnitWork.lowering)
    requant_spill_bytes: float = 0.0  # int32 accumulators written to and read back from SRAM for the SIMD
                                      # per-channel fallback (write + read; included in the stream bytes)


#: Op classes of the assignment policy (:func:`op_class`).
OpClass = Literal["dense_mac", "depthwise_mac", "elementwise", "pooling", "concat_copy", "layout"]
#: Assignment policy as data: op class -> unit kinds in order of preference; a layer runs on the first kind the
#: config has whose model supports it (:data:`accelsim.hw.unit.UNIT_MODELS`). The scale unit's lanes, ``dma``
#: and ``none`` exist on every config.
UNIT_PREFERENCE: dict[str, tuple[str, ...]] = {
    "dense_mac": ("mac_engine", "systolic", "simd"),
    "depthwise_mac": ("mac_engine", "simd", "systolic"),   # an array wastes all but one column on a depthwise GEMM
    "elementwise": ("simd", "mac_engine", "scale_unit"),   # the NPU's output unit runs Add / rescales (Ethos-U)
    "pooling": ("simd", "mac_engine", "scale_unit"),
    "concat_copy": ("dma",),
    "layout": ("none",),
}
_POOLING_KINDS = ("MaxPool", "AvgPool", "GlobalAveragePool")


def op_class(layer: LayerShape) -> str:
    """The layer's class in :data:`UNIT_PREFERENCE`; a LUT activation fused into its producer
    (:attr:`LayerShape.lut_fused`) runs no pass of its own, as a view."""
    if layer.cost.is_view or layer.lut_fused:
        return "layout"
    if layer.is_mac:
        grouped = layer.groups > 1                  # depthwise or grouped convolution
        return "depthwise_mac" if grouped else "dense_mac"
    if layer.kind == "Concat" and requant_ops(layer) == 0:
        return "concat_copy"
    return "pooling" if layer.kind in _POOLING_KINDS else "elementwise"


def assign_unit(layer: LayerShape, hw: HardwareConfig, units: dict[str, ComputeUnitModel] | None = None) -> str:
    """The unit that executes ``layer``: the first kind of its class's :data:`UNIT_PREFERENCE` that ``hw`` has
    and that supports the layer (``units``: the config's :func:`accelsim.hw.unit.compute_units`)."""
    units = compute_units(hw) if units is None else units
    for kind in UNIT_PREFERENCE[op_class(layer)]:
        unit = units.get(kind)
        if unit is not None and unit.supports(layer, None):
            return kind
    raise MappingError(f"layer {layer.name!r} ({layer.kind}): hardware {hw.name!r} has none of the units "
                       f"{', '.join(UNIT_PREFERENCE[op_class(layer)])}")


def precision_mode(layer: LayerShape, hw: HardwareConfig) -> PrecisionMode | None:
    """The config's mode for a MAC layer's (weight, activation) bits (:meth:`HardwareConfig.mode`); MappingError
    naming the layer and the supported modes otherwise. Non-MAC layers need a mode with their activation width
    (None = no mode used)."""
    if layer.is_mac:
        try:
            return hw.mode(layer.weight_bits, layer.activation_bits)
        except UnsupportedError as error:
            raise MappingError(
                f"layer {layer.name!r} ({layer.kind}) needs weight bits {layer.weight_bits}, activation bits "
                f"{layer.activation_bits}: {error}") from error
    if layer.cost.is_view:
        return None
    modes = hw.precision.modes
    if not any(m.activation_bits == layer.activation_bits for m in modes):
        raise MappingError(
            f"layer {layer.name!r} ({layer.kind}) has {layer.activation_bits}-bit activations, but hardware "
            f"{hw.name!r} supports only {', '.join(m.key for m in modes)}")
    return None


def element_ops(layer: LayerShape) -> int:
    """Vector-ALU element operations of a non-MAC op (requantization excluded; 0 for MAC layers and views):
    outputs × the op's ``alu_ops_per_output`` (its cost descriptor; UnsupportedError for an unknown op)."""
    return layer.outputs * layer.cost.alu_ops_per_output(layer)


def compute_cost(layer: LayerShape, hw: HardwareConfig, scalesim_compat: bool = False) -> ComputeCost:
    """Unit, cycles and datapath traffic of ``layer`` on ``hw`` (raises MappingError when it cannot map).

    Systolic layers use :func:`accelsim.hw.systolic.systolic_timing` (SCALE-Sim folds; with ``scalesim_compat``
    its reported cycle count); SIMD layers :func:`accelsim.hw.simd.simd_timing` (resource-bound VLIW packets).
    """
    units = compute_units(hw)
    unit = assign_unit(layer, hw, units)
    mode = precision_mode(layer, hw)
    n_requant = requant_ops(layer)
    requant_unit = "none"
    if n_requant and unit != "none":
        if hw.scale_unit.shared_with_simd:       # requantization is SIMD code: any scale granularity works
            requant_unit = "simd"
        else:
            requant_unit = check_per_channel_support(layer, hw.scale_unit.per_channel, hw.scale_unit.fallback)
            if unit == "scale_unit" or getattr(units[unit], "requantizes", False):
                requant_unit = unit               # the unit's own output stage rescales (its cycles include it)
    context = WorkContext(scalesim_compat=scalesim_compat, requant_on_unit=requant_unit == unit,
                          element_ops=element_ops(layer))
    work = units[unit].work(layer, mode, context)
    if unit == "simd" and requant_unit == "scale_unit":
        # A SIMD layer with a separate scale unit: its code may requantize itself (as it must when the unit cannot
        # take the layer's scales) or hand int32 vectors to the scale unit; the faster of the two is taken.
        own = units[unit].work(layer, mode, dataclasses.replace(context, requant_on_unit=True))
        handed = max(work.cycles, stream_port_cycles(work.reads, work.writes, hw),
                     float(scale_unit_cycles(n_requant, hw.scale_unit.lanes, hw.scale_unit.pipeline_latency_cycles)))
        if max(own.cycles, stream_port_cycles(own.reads, own.writes, hw)) < handed:
            work, requant_unit = own, unit
    cycles = work.cycles
    scale_cycles = 0.0
    if requant_unit == "scale_unit":
        scale_cycles = float(scale_unit_cycles(n_requant, hw.scale_unit.lanes, hw.scale_unit.pipeline_latency_cycles))
        if unit == "scale_unit":          # the op itself runs on the scale unit: one busy resource
            cycles, scale_cycles = cycles + scale_cycles, 0.0
    reads, writes, spill = work.reads, work.writes, 0.0
    rf_reads, rf_writes = work.rf_reads, work.rf_writes
    if requant_unit == "simd" and unit != "simd":
        # Per-channel fallback: the array's int32 accumulators leave through its output path, go to SRAM and
        # come back to the SIMD unit, which requantizes them (its only work while the layer runs).
        scale_cycles = fallback_requant_cycles(layer.outputs, layer.out_channels, layer.output_bits, hw)
        spill_write, spill_read = accumulator_round_trip_bytes(layer.outputs, hw.precision.accumulator_bits)
        reads = {**reads, "outputs": reads["outputs"] + spill_read}
        writes, spill = writes + spill_write, spill_write + spill_read
        simd = hw.compute.simd
        rf_read, rf_write = simd_register_bytes(
            fallback_requant_counts(layer.outputs, layer.out_channels, layer.output_bits, simd), simd.vector_bits)
        rf_reads, rf_writes = rf_reads + rf_read, rf_writes + rf_write
    executed = hw.precision.compute_mode_for(mode) if mode is not None else None
    return ComputeCost(
        unit=unit, requant_unit=requant_unit, compute_cycles=cycles, scale_cycles=scale_cycles,
        macs=layer.macs, macs_issued=work.macs_issued, peak_macs_per_cycle=work.peak, requant_ops=n_requant,
        alu_ops=work.alu_ops, stream_read_bytes=reads, stream_write_bytes=writes,
        operand_read_bytes=rf_reads, operand_write_bytes=rf_writes,
        channel_granule=work.channel_granule, reduction_granule=work.reduction_granule,
        compute_weight_bits=executed.weight_bits if executed is not None else 0, lowering=work.lowering,
        requant_spill_bytes=spill,
    )


#: Vectors of requantization constants the SIMD unit loads per group of ``word_lanes`` output channels: one of
#: multipliers and one of shifts (the per-channel form of the HVX requantization sequence, [ref:QEMUHexagon]).
SIMD_PARAM_VECTORS_PER_GROUP = 2


def stream_port_cycles(reads: dict[str, float], writes: float, hw: HardwareConfig) -> float:
    """Cycles the busiest SRAM port needs for a unit's datapath stream alone: each operand's reads at its innermost
    staging level, the writes at the outputs' (``bytes / bytes_per_cycle``; the port bound of docs/model.md §3.1
    without the tile fills, which do not depend on where the layer is requantized)."""
    per_level: dict[str, float] = {}
    for operand, nbytes in reads.items():
        level = staging_chain(hw, operand)[0]
        per_level[level] = per_level.get(level, 0.0) + nbytes
    out = staging_chain(hw, "outputs")[0]
    per_level[out] = per_level.get(out, 0.0) + writes
    levels = hw.onchip_levels()
    return max((nbytes / levels[name].bytes_per_cycle for name, nbytes in per_level.items()
                if levels[name].kind == "sram"), default=0.0)


def fallback_requant_counts(outputs: int, out_channels: int, output_bits: int, simd: SimdUnit) -> InstructionCounts:
    """SIMD instructions that requantize ``outputs`` int32 accumulators of a per-tensor array: one load per int32
    result vector, the SIMD model's requantize-pack-store sequence (:func:`accelsim.hw.simd.output_counts`), and
    :data:`SIMD_PARAM_VECTORS_PER_GROUP` vector loads per ``vector_bits / 32`` output channels."""
    lanes = word_lanes(simd.vector_bits)
    vectors = -(-outputs // lanes)
    groups = -(-out_channels // lanes)
    return output_counts(vectors, outputs, output_bits, simd.vector_bits, True) + InstructionCounts(
        loads=vectors + SIMD_PARAM_VECTORS_PER_GROUP * groups)


def fallback_requant_cycles(outputs: int, out_channels: int, output_bits: int, hw: HardwareConfig) -> float:
    """Busy cycles of the per-channel fallback's requantization stage: the longer of
    - the array's output path: its int32 accumulators leave at the scale unit's ``lanes`` per cycle, bypassing
      the per-tensor scaling (Gemmini's ``mvout`` of full-width accumulators passes the same output row port,
      [ref:GemminiRepo]) — :func:`~accelsim.hw.scale_unit.scale_unit_cycles`, what the native path takes;
    - the SIMD unit's requantization code (:func:`fallback_requant_counts`), packed into VLIW packets by
      :func:`accelsim.hw.simd.resource_bound_packets` and split evenly over the contexts.
    The two overlap tile by tile (the stage is their maximum), so the fallback's stage is never shorter than
    the native scale unit's; its SRAM round trip is charged as traffic (``requant_spill_bytes``)."""
    unit, simd = hw.scale_unit, hw.compute.simd
    drain = float(scale_unit_cycles(outputs, unit.lanes, unit.pipeline_latency_cycles))
    counts = fallback_requant_counts(outputs, out_channels, output_bits, simd)
    return max(drain, resource_bound_packets(counts, simd) / simd.contexts)


def simd_register_bytes(counts: InstructionCounts, vector_bits: int) -> tuple[float, float]:
    """(read, write) vector register-file bytes of SIMD instructions, the SIMD unit model's convention
    (:class:`accelsim.hw.unit.SimdModel`, docs/model.md §6): every computing instruction reads two source
    registers and writes one, a load writes one, a store reads one."""
    vector_bytes = vector_bits / 8
    computing = counts.multiplies + counts.shifts + counts.permutes + counts.alu
    return (2 * computing + counts.stores) * vector_bytes, (computing + counts.loads) * vector_bytes
