"""A mapped layer's DRAM-boundary tile pipeline and its latency under either timing model."""
from __future__ import annotations

from typing import Literal, get_args

from accelsim.config.hw import HardwareConfig
from accelsim.hw.compression import decompression_cycles
from accelsim.mapping import LayerMapping
from accelsim.timing.closed_form import TileRun, TileStep, pipeline_latency_cycles
from accelsim.timing.events import event_latency_cycles

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
    first_load = min(tiling.first_tile_load_bytes, tiling.fill_bytes)
    first = TileStep(first_load / bpc, compute, scale, store)
    if n == 1:
        return (TileRun(1, TileStep(tiling.fill_bytes / bpc, compute, scale, store)),)
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
