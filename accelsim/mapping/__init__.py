"""Mapping of one layer onto a hardware config: unit, precision, tiling at every staging boundary, and the
bytes read and written at every memory level.

``map_layer(layer, hw)`` combines :mod:`accelsim.mapping.assign` (unit and compute cost) and
:mod:`accelsim.mapping.tiling` (tile search per boundary) into a :class:`LayerMapping`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from accelsim.config.hw import HardwareConfig
from accelsim.hw.layer import LayerShape
from accelsim.hw.memory import OPERANDS, MemorySystem, memory_system, staging_chain, staging_depths
from accelsim.hw.scale_unit import scale_set_loads, scale_sets_held
from accelsim.hw.simd import word_lanes
from accelsim.mapping.assign import ComputeCost, assign_unit, compute_cost, precision_mode
from accelsim.hw.unit import BlockStreaming, compute_units
from accelsim.mapping.tiling import (
    LOOP_ORDERS, OperandBytes, Residency, Tiling, is_vector_product, search_tiling, streamed_tiling,
    weights_buffered,
)

__all__ = ["LayerMapping", "Residency", "Tiling", "assign_unit", "boundary_widths", "compute_cost",
           "encode_dram_activations", "group_slice", "map_layer", "precision_mode", "repeat_tiling",
           "search_tiling", "unit_streaming"]


@dataclass(frozen=True)
class LayerMapping:
    """Everything the timing and energy models need about one layer on one config."""

    layer: LayerShape
    cost: ComputeCost
    tilings: tuple[Tiling, ...]            # one per staging depth (0 = DRAM boundary); empty for free ops
    weight_stored_bytes: float             # weight bytes as stored in DRAM (after compression)
    codec: str                             # compression codec of the weights ("none" if uncompressed)
    sram_read_bytes: dict[str, float]      # per on-chip level (SRAMs and register files)
    sram_write_bytes: dict[str, float]
    decompressed_bytes: float              # bytes produced by the decompression unit
    scale_param_load_bytes: float = 0.0    # scale sets the requantizing unit loads (read at params_level)

    @property
    def dram(self) -> Tiling | None:
        return self.tilings[0] if self.tilings else None

    @property
    def dram_read_bytes(self) -> float:
        return self.dram.fill_bytes if self.dram else 0.0

    @property
    def dram_write_bytes(self) -> float:
        return self.dram.drain_bytes if self.dram else 0.0


def operand_bytes(layer: LayerShape, hw: HardwareConfig, compression_ratio: float = 1.0) -> OperandBytes:
    """Bytes per element of each operand: weights at their stored width × compression ratio; per-channel
    requantization parameters add ``scale_unit.scale_bytes_per_channel`` per output channel to the bias."""
    params = layer.bias_bits / 8 + (hw.scale_unit.scale_bytes_per_channel if layer.per_channel else 0)
    return OperandBytes(weight=layer.weight_bits / 8 * compression_ratio, activation=layer.activation_bits / 8,
                        output=layer.output_bits / 8, accumulator=hw.precision.accumulator_bits / 8,
                        params_per_channel=params if layer.has_weights else 0.0)


def boundary_widths(widths: OperandBytes, hw: HardwareConfig, mem: MemorySystem) -> OperandBytes:
    """``widths`` with the partial-sum width of the level holding this boundary's partial sums when the config
    sets one (memory key ``psum_bits``; otherwise the accumulator width)."""
    level = mem.psum_buffer
    bits = hw.memories[level].psum_bits if level is not None else None
    return widths if bits is None else dataclasses.replace(widths, accumulator=bits / 8)


def map_layer(layer: LayerShape, hw: HardwareConfig, compressed_weight_bytes: float | None = None,
              codec: str = "none", objective: str = "latency", scalesim_compat: bool = False,
              residency: Residency = Residency(), reserved_bytes: float = 0.0,
              raw_input_share: float = 0.0) -> LayerMapping:
    """Map ``layer`` onto ``hw``: unit and compute cost, a tiling per staging depth, per-level traffic.

    ``compressed_weight_bytes`` (from :mod:`accelsim.hw.compression` when the config has a decompression unit)
    shrinks the weights' DRAM and SRAM traffic; they are decompressed between the innermost SRAM and the
    datapath. ``residency`` says which activations stay in the activation level instead of DRAM;
    ``reserved_bytes`` of that level are taken by resident activations. With an activation codec at the DRAM
    level (``activation_stored_ratio`` < 1) the DRAM-side activation bytes are the encoded ones
    (:func:`encode_dram_activations`); ``raw_input_share`` of the layer's activation-input bytes are network
    inputs, stored raw. Raises MappingError (naming the layer) when the layer cannot be mapped.
    """
    cost = compute_cost(layer, hw, scalesim_compat)
    reads: dict[str, float] = {name: 0.0 for name in hw.onchip_levels()}
    writes: dict[str, float] = dict(reads)
    if cost.unit == "none":
        return LayerMapping(layer, cost, (), 0.0, "none", reads, writes, 0.0)
    ratio = 1.0
    if compressed_weight_bytes is not None and layer.weight_bytes:
        ratio = compressed_weight_bytes / layer.weight_bytes
    widths = operand_bytes(layer, hw, ratio)
    innermost = {op: staging_chain(hw, op)[0] for op in OPERANDS}
    streaming = unit_streaming(layer, hw, cost.unit)
    if streaming is not None:
        tilings = _streamed_tilings(layer, hw, widths, streaming, cost.compute_cycles, residency, reserved_bytes,
                                    innermost, reads, writes, raw_input_share)
    else:
        tiled, groups = group_slice(layer)
        tilings = []
        for depth in range(staging_depths(hw)):
            mem = memory_system(hw, depth, reserved_bytes=reserved_bytes if depth == 0 else 0.0)
            tiling = search_tiling(tiled, mem, boundary_widths(widths, hw, mem), cost.compute_cycles / groups,
                                   cost.channel_granule, cost.reduction_granule, objective,
                                   residency if depth == 0 else Residency())
            tiling = repeat_tiling(tiling, groups)
            _charge_boundary(mem, tiling, reads, writes)       # on chip: decoded bytes
            if depth == 0:
                tiling = encode_dram_activations(tiling, hw.dram.activation_stored_ratio, raw_input_share)
            tilings.append(tiling)
    use = min(t.array_use for t in tilings)
    if use < 1.0:
        # Tiles narrower than the unit's granule (only when no granule-wide tile fits) leave part of it idle.
        cost = dataclasses.replace(cost, compute_cycles=cost.compute_cycles / use,
                                   lowering=f"{cost.lowering}, {use:.0%} of the array" if cost.lowering else
                                   f"{use:.0%} of the array")
    # The datapath reads operands from (and writes results to) each operand's innermost staging level.
    for operand in OPERANDS:
        reads[innermost[operand]] += cost.stream_read_bytes[operand]
    writes[innermost["outputs"]] += cost.stream_write_bytes
    rf = next((name for name, lv in hw.onchip_levels().items() if lv.kind == "register_file"), None)
    if rf is not None and rf not in innermost.values():
        reads[rf] += cost.operand_read_bytes
        writes[rf] += cost.operand_write_bytes
    decompressed = layer.weight_bytes if (hw.decompression is not None and ratio != 1.0) else 0.0
    param_loads = scale_param_load_bytes(layer, hw, cost, tilings[-1])
    if param_loads:
        reads[hw.scale_unit.params_level or innermost["weights"]] += param_loads
    return LayerMapping(layer, cost, tuple(tilings), layer.weight_bytes * ratio, codec,
                        reads, writes, decompressed, param_loads)


def scale_param_load_bytes(layer: LayerShape, hw: HardwareConfig, cost: ComputeCost, tiling: Tiling) -> float:
    """Bytes of scale sets (multiplier + shift, ``scale_unit.scale_bytes_per_channel`` each) the unit that
    requantizes a MAC layer loads from ``scale_unit.params_level`` (default: the innermost level holding weights),
    with the innermost-boundary ``tiling``'s channel groups and loop order
    (:func:`accelsim.hw.scale_unit.scale_set_loads`). The unit holds ``scale_unit.param_sets`` sets (per-channel
    unit; default one per lane) or one (per-tensor unit); a SIMD unit that requantizes holds one vector's worth
    (``vector_bits / 32``). Bias is not included: it is added to the accumulator with the weights' parameters
    (``params_dram_bytes``)."""
    if not layer.is_mac or cost.requant_unit == "none":
        return 0.0
    unit = hw.scale_unit
    if cost.requant_unit == "simd":
        sets = lanes = word_lanes(hw.compute.simd.vector_bits)
    else:
        sets, lanes = scale_sets_held(unit.per_channel, unit.lanes, unit.param_sets), unit.lanes
    tk = max(1, min(tiling.tile_out_channels, layer.out_channels))
    k_trips = -(-layer.out_channels // tk)
    if tiling.loop_order in LOOP_ORDERS:
        order = LOOP_ORDERS[tiling.loop_order]
        row_tiles = -(-layer.batch // max(1, tiling.tile_images)) * -(-layer.out_h // max(1, tiling.tile_rows))
        outside = order.index("K") < order.index("R")
    else:                                           # a unit's block streaming: every block reloads its group
        row_tiles, outside = max(1, tiling.num_tiles // k_trips), False
    loads = scale_set_loads(layer.per_channel, layer.out_channels, layer.outputs, tk, row_tiles, outside, sets,
                            lanes)
    return float(loads * unit.scale_bytes_per_channel)


def group_slice(layer: LayerShape) -> tuple[LayerShape, int]:
    """``(one group, groups)`` of a grouped convolution that is not depthwise (AlexNet's two-GPU split): each group
    reads only its own ``C/groups`` input channels, so the tiler maps one group and the groups run one after
    another (Krizhevsky et al., NIPS 2012 §3.5 [ref:Krizhevsky12]: each half of the kernels sees only its half of
    the channels). Other layers: ``(layer, 1)``."""
    g = layer.groups
    if g <= 1 or layer.is_depthwise:
        return layer, 1
    return dataclasses.replace(layer, in_channels=layer.in_channels // g, out_channels=layer.out_channels // g,
                               groups=1), g


def repeat_tiling(tiling: Tiling, times: int) -> Tiling:
    """``tiling`` run ``times`` times in a row (one per group of :func:`group_slice`): bytes and tiles scale;
    footprints, refetch factor and the first tile's load do not."""
    if times == 1:
        return tiling
    return dataclasses.replace(
        tiling, num_tiles=tiling.num_tiles * times, weight_fill_bytes=tiling.weight_fill_bytes * times,
        ifmap_fill_bytes=tiling.ifmap_fill_bytes * times, ofmap_drain_bytes=tiling.ofmap_drain_bytes * times,
        psum_fill_bytes=tiling.psum_fill_bytes * times, params_fill_bytes=tiling.params_fill_bytes * times,
        psum_spill_bytes=tiling.psum_spill_bytes * times)


def encode_dram_activations(tiling: Tiling, stored_ratio: float, raw_input_share: float = 0.0) -> Tiling:
    """The DRAM-boundary ``tiling`` with its activation bytes as the DRAM level stores them: input fills and
    final output drains times ``stored_ratio`` (an activation codec at the DRAM interface, e.g. Eyeriss's
    run-length coding of every fmap but the network input: Chen et al., JSSC 2017 §IV-B [ref:Chen17]), except the
    ``raw_input_share`` of the input bytes that are network inputs (written raw by the host). Weights, their
    parameters and spilled partial sums are not encoded. The tile footprints on chip stay decoded."""
    if stored_ratio == 1.0:
        return tiling
    ifmap = tiling.ifmap_fill_bytes * (raw_input_share + (1.0 - raw_input_share) * stored_ratio)
    final = (tiling.ofmap_drain_bytes - tiling.psum_spill_bytes) * stored_ratio
    return dataclasses.replace(tiling, ifmap_fill_bytes=ifmap, ofmap_drain_bytes=final + tiling.psum_spill_bytes)


def unit_streaming(layer: LayerShape, hw: HardwareConfig, unit: str) -> BlockStreaming | None:
    """The access pattern the layer's unit declares at the memory holding its operands (a unit model's
    ``streaming(layer, mode)``, e.g. the Ethos-U MAC engine's block streaming), or None: the tile search decides."""
    declare = getattr(compute_units(hw).get(unit), "streaming", None)
    return declare(layer, precision_mode(layer, hw)) if declare is not None else None


def _streamed_tilings(layer: LayerShape, hw: HardwareConfig, widths: OperandBytes, streaming: BlockStreaming,
                      compute_cycles: float, residency: Residency, reserved_bytes: float,
                      innermost: dict[str, str], reads: dict[str, float], writes: dict[str, float],
                      graph_input_share: float = 0.0) -> list[Tiling]:
    """A tiling per staging depth that honours the unit's block streaming (:func:`streamed_tiling`), with the
    weight-buffering decision (:func:`weights_buffered`) taken at the off-chip boundary; charges every level.
    Traffic that bypasses the outer level (streamed weights, inputs and outputs that live off chip) lands in,
    and leaves from, the operand's innermost level. ``graph_input_share``: the share of the input bytes that are
    network inputs, stored channel-interleaved (NHWC) and read off chip in whole bursts of the DRAM level's
    ``burst_bytes``."""
    depths = staging_depths(hw)
    mem0 = memory_system(hw, 0, reserved_bytes=reserved_bytes)
    burst = hw.dram.burst_bytes
    streamed = streamed_tiling(layer, mem0, widths, streaming, residency, False, depths == 1, graph_input_share,
                               burst)
    other = streamed.fill_bytes + streamed.drain_bytes - streamed.weight_fill_bytes
    weight = layer.weight_count * widths.weight if layer.has_weights else 0.0
    buffered = depths > 1 and weights_buffered(weight, streaming.weight_reads, other,
                                               mem0.source_bytes_per_cycle, compute_cycles, hw.weight_buffering,
                                               is_vector_product(layer), residency.follows_layer)
    tilings = []
    for depth in range(depths):
        mem = mem0 if depth == 0 else memory_system(hw, depth)
        tiling = streamed_tiling(layer, mem, widths, streaming, residency, buffered, depth == depths - 1,
                                 graph_input_share, burst)
        tilings.append(tiling)
        if depth:
            _charge_boundary(mem, tiling, reads, writes)
            continue
        weight_level = mem.buffer_of["weights"] if buffered else innermost["weights"]
        landing = ((weight_level, tiling.weight_fill_bytes + tiling.params_fill_bytes),
                   (innermost["inputs"], tiling.ifmap_fill_bytes))
        for level, nbytes in landing:
            if level is not None and nbytes:
                writes[level] += nbytes
        if tiling.drain_bytes:
            reads[innermost["outputs"]] += tiling.drain_bytes
    return tilings


def _charge_boundary(mem: MemorySystem, tiling: Tiling, reads: dict[str, float],
                     writes: dict[str, float]) -> None:
    """Add one boundary's fills (source read, buffer write) and drains (buffer read, source write). Spilled
    partial sums leave from, and return to, the level that holds them (:attr:`MemorySystem.psum_buffer`)."""
    source = mem.source_name
    psum_level = mem.psum_buffer
    fills = ((mem.buffer_of["weights"], tiling.weight_fill_bytes + tiling.params_fill_bytes),
             (mem.buffer_of["inputs"], tiling.ifmap_fill_bytes), (psum_level, tiling.psum_fill_bytes))
    drains = ((mem.buffer_of["outputs"], tiling.drain_bytes - tiling.psum_spill_bytes),
              (psum_level, tiling.psum_spill_bytes))
    for buffer, nbytes in fills:
        if buffer is None or not nbytes:
            continue
        writes[buffer] += nbytes
        if source in reads:
            reads[source] += nbytes
    for buffer, nbytes in drains:
        if buffer is None or not nbytes:
            continue
        reads[buffer] += nbytes
        if source in writes:
            writes[source] += nbytes
