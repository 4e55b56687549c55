"""A mapped layer's DRAM-boundary tile pipeline, its latency under either timing model, and what the network
timing (:mod:`accelsim.timing.network`) needs to prefetch its weights under the previous layer."""
from __future__ import annotations

from typing import Literal, get_args

from accelsim.config.hw import HardwareConfig
from accelsim.hw.compression import decompression_cycles
from accelsim.hw.memory import activation_level, staging_chain
from accelsim.mapping import LayerMapping
from accelsim.mapping import operand_bytes as mapping_operand_bytes
from accelsim.timing.closed_form import TileRun, TileStep, pipeline_latency_cycles
from accelsim.timing.events import event_latency_cycles
from accelsim.timing.network import LayerPipeline

TimingModel = Literal["event", "closed_form"]
TIMING_MODELS: tuple[str, ...] = get_args(TimingModel)


def tile_runs(mapping: LayerMapping, hw: HardwareConfig) -> tuple[TileRun, ...]:
    """The layer's DRAM-boundary tile pipeline: a first tile (it loads its whole working set) and ``n − 1``
    steady tiles sharing the remaining loads; stores spread evenly. The compute stage of a tile is the busiest
    of: the unit's compute cycles, each on-chip level's port (reads + writes / bytes_per_cycle) and the
    decompressor, divided evenly over the tiles."""
    tiling = mapping.dram
    if tiling is None:
        return ()
    bpc = hw.dram_bytes_per_cycle
    n = tiling.num_tiles
    busy = max(mapping.cost.compute_cycles, onchip_port_cycles(mapping, hw),
               layer_decompression_cycles(mapping, hw))
    compute, scale = busy / n, mapping.cost.scale_cycles / n
    store = tiling.drain_bytes / n / bpc
    first_load = first_load_bytes(mapping)
    first = TileStep(first_load / bpc, compute, scale, store)
    if n == 1:
        return (TileRun(1, first),)
    steady = TileStep((tiling.fill_bytes - first_load) / (n - 1) / bpc, compute, scale, store)
    return (TileRun(1, first), TileRun(n - 1, steady))


def onchip_port_cycles(mapping: LayerMapping, hw: HardwareConfig) -> float:
    """Cycles the busiest SRAM level needs for its reads and writes at ``bytes_per_cycle``. Register files are
    priced but not a timing bound: the compute models' issue limits (VLIW resources, array wiring) bound them."""
    return max(((mapping.sram_read_bytes[name] + mapping.sram_write_bytes[name]) / lv.bytes_per_cycle
                for name, lv in hw.onchip_levels().items() if lv.kind == "sram"), default=0.0)


def layer_decompression_cycles(mapping: LayerMapping, hw: HardwareConfig) -> float:
    """Cycles of the decompression unit (:func:`accelsim.hw.compression.decompression_cycles`)."""
    if not mapping.decompressed_bytes or hw.decompression is None:
        return 0.0
    return float(decompression_cycles(mapping.decompressed_bytes, hw.decompression.output_bytes_per_cycle))


def latency_cycles(mapping: LayerMapping, hw: HardwareConfig, timing_model: TimingModel) -> float:
    """The layer's latency: its :func:`tile_runs` timed by the simpy event model or the closed form."""
    runs = tile_runs(mapping, hw)
    if not runs:
        return 0.0
    return event_latency_cycles(runs) if timing_model == "event" else pipeline_latency_cycles(runs)


def first_load_bytes(mapping: LayerMapping) -> float:
    """Bytes the first DRAM tile loads before it can start: its working set (all fills for a single tile)."""
    tiling = mapping.dram
    if tiling is None:
        return 0.0
    return tiling.fill_bytes if tiling.num_tiles == 1 else min(tiling.first_tile_load_bytes, tiling.fill_bytes)


def first_tile_weight_bytes(mapping: LayerMapping, hw: HardwareConfig) -> float:
    """Weight and bias/scale bytes of the first DRAM tile (they do not depend on the previous layer): the
    tile's output channels x the weights per output channel (taps x input channels per group) x the tile's share
    of the input channels (all for depthwise) at the stored (compressed) width, plus its
    channels' parameters (widths of :func:`accelsim.mapping.operand_bytes`); at most the first tile's load."""
    tiling, layer = mapping.dram, mapping.layer
    if tiling is None or not layer.has_weights:
        return 0.0
    ratio = mapping.weight_stored_bytes / layer.weight_bytes if layer.weight_bytes else 1.0
    widths = mapping_operand_bytes(layer, hw, ratio)
    k = min(tiling.tile_out_channels, layer.out_channels)
    c_share = 1.0 if layer.is_depthwise else min(tiling.tile_in_channels, layer.in_channels) / layer.in_channels
    per_channel = layer.weight_count / layer.out_channels          # taps x input channels per output channel
    weights = k * per_channel * c_share * widths.weight + k * widths.params_per_channel
    return min(weights, first_load_bytes(mapping))


def weight_level(hw: HardwareConfig) -> str | None:
    """The on-chip level DRAM weight loads land in (the outermost staging level of weights), or None."""
    chain = staging_chain(hw, "weights")
    return chain[-1] if chain else None


def weight_room_bytes(mapping: LayerMapping, hw: HardwareConfig, reserved_bytes: float = 0.0) -> float:
    """Bytes of the weight level free while the layer runs: its size minus the layer's tile buffers in it
    (``Tiling.tile_bytes_per_level``, two sets when the layer has more than one tile: double buffering) minus
    ``reserved_bytes`` of resident activations when the weight level is also the activation level."""
    level = weight_level(hw)
    if level is None:
        return 0.0
    used = 0.0
    if mapping.dram is not None:
        used = mapping.dram.tile_bytes_per_level.get(level, 0.0) * min(2, mapping.dram.num_tiles)
    if level == activation_level(hw):
        used += reserved_bytes
    return max(0.0, hw.memories[level].size_bytes - used)


def layer_pipeline(mapping: LayerMapping, hw: HardwareConfig, reserved_bytes: float = 0.0) -> LayerPipeline:
    """The layer as :mod:`accelsim.timing.network` times it: its :func:`tile_runs`, its prefetchable first-tile
    weight load (:func:`first_tile_weight_bytes`) and the room it leaves for its successor's
    (:func:`weight_room_bytes`), both in DRAM cycles."""
    bpc = hw.dram_bytes_per_cycle
    return LayerPipeline(tile_runs(mapping, hw), first_tile_weight_bytes(mapping, hw) / bpc,
                         weight_room_bytes(mapping, hw, reserved_bytes) / bpc)
