"""``simulate(workload, hw) -> Report``: map every node, time its tile pipeline, price its energy.

Layers run one after another (no inter-layer overlap). Intermediate activations stay in the on-chip activation
level when they fit (:func:`plan_residency`); the others, and the graph's inputs and outputs, go through DRAM.
Per layer: :func:`accelsim.mapping.map_layer` (unit, tiling, traffic), a tile pipeline timed by the simpy event
model (default) or the closed form, and :func:`accelsim.hw.energy_model.layer_energy`.
"""
from __future__ import annotations

import dataclasses
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from accelsim._version import __version__
from accelsim.config.hw import HardwareConfig, load_hw
from accelsim.errors import ModelWarning, UnsupportedError
from accelsim.energy import EnergyTable
from accelsim.graph.ir import Graph, Node
from accelsim.graph.stats import op_label
from accelsim.hw.energy_model import (
    LayerActivity,
    area_mm2,
    energy_table_of,
    layer_energy,
    table_sources,
)
from accelsim.hw.compression import CompressionResult, best_codec, decompression_cycles
from accelsim.hw.layer import LayerShape, layer_shape
from accelsim.hw.memory import activation_level, gb_per_s
from accelsim.mapping import LayerMapping, Residency, map_layer
from accelsim.mapping.assign import FREE_KINDS
from accelsim.mapping.tiling import OBJECTIVES
from accelsim.report import Report
from accelsim.timing import TileRun, TileStep, event_latency_cycles, pipeline_latency_cycles

TIMING_MODELS = ("event", "closed_form")
ENERGY_COMPONENTS = ("mac", "rf", "dram", "scale", "alu", "decompression", "leakage")
#: Share of the activation level that resident activations may occupy; the rest holds the double-buffered tiles.
RESIDENT_FRACTION = 0.5


def simulate(workload: Graph | str | Path, hw: HardwareConfig | str | Path, *, objective: str = "latency",
             timing_model: str = "event", scalesim_compat: bool = False) -> Report:
    """Simulate ``workload`` (a Graph, a workload/model path or a zoo name) on ``hw`` (a config or a YAML path).

    ``objective`` ranks tilings (``latency`` then DRAM bytes, or ``dram_bytes`` then latency);
    ``timing_model`` is ``event`` (simpy) or ``closed_form``; ``scalesim_compat`` reports systolic compute
    cycles as SCALE-Sim does (its one-cycle-per-layer offset). Raises UnsupportedError for an unknown
    ``objective`` or ``timing_model``, MappingError naming the layer when a node cannot run on ``hw``.
    """
    if timing_model not in TIMING_MODELS:
        raise UnsupportedError(f"unknown timing model {timing_model!r}; use one of {', '.join(TIMING_MODELS)}")
    if objective not in OBJECTIVES:
        raise UnsupportedError(f"unknown objective {objective!r}; use one of {', '.join(OBJECTIVES)}")
    if not isinstance(hw, HardwareConfig):
        hw = load_hw(hw)
    graph = workload if isinstance(workload, Graph) else _load_workload(workload)
    graph, synthetic = _weights_for_compression(graph, hw)
    table = energy_table_of(hw)
    sram_levels = [name for name, lv in hw.onchip_levels().items() if lv.kind == "sram"]
    rf_levels = [name for name, lv in hw.onchip_levels().items() if lv.kind == "register_file"]
    plan = plan_residency(graph, hw)
    cache: dict[tuple, tuple] = {}
    rows = []
    for node in graph.nodes:
        layer = layer_shape(graph, node)
        compressed, codec = _compressed_weights(graph, node, layer, hw)
        residency, reserved = plan.residency(graph, node), plan.reserved_bytes[node.name]
        key = (dataclasses.replace(layer, name=""), residency, reserved)
        if compressed is not None or key not in cache:
            mapping = map_layer(layer, hw, compressed, codec, objective, scalesim_compat, residency, reserved)
            latency = _latency_cycles(mapping, hw, timing_model)
            if compressed is None:
                cache[key] = (mapping, latency)
        else:
            mapping, latency = cache[key]
            mapping = dataclasses.replace(mapping, layer=layer)
        rows.append(_layer_row(op_label(graph, node), mapping, latency, hw, table, sram_levels, rf_levels))
    layers = pd.DataFrame(rows)
    totals = _totals(layers, hw, table, sram_levels)
    notes = unused_register_file_notes(layers, hw, rf_levels)
    for note in notes:
        warnings.warn(note, ModelWarning, stacklevel=2)
    metadata = {
        "config_hash": hw.config_hash(), "hw_name": hw.name, "workload_name": graph.name,
        "energy_table": table.name, "energy_table_sources": list(table_sources(table)),
        "accelsim_version": __version__, "synthetic_weights": synthetic, "timing_model": timing_model,
        "objective": objective, "clock_mhz": hw.clock_mhz, "scalesim_compat": scalesim_compat,
        "warnings": notes,
    }
    return Report(layers=layers, totals=totals, metadata=metadata)


# ------------------------------------------------------------------------------------------------- residency
@dataclass(frozen=True)
class ResidencyPlan:
    """Which activation tensors stay in the on-chip activation level between layers, and how many bytes of it
    resident tensors hold while each node runs."""

    resident: frozenset[str]              # tensor names
    reserved_bytes: dict[str, float]      # node name -> bytes held by live resident tensors
    inputs_of: dict[str, tuple[str, ...]]  # node name -> its activation inputs
    output_of: dict[str, str]

    def residency(self, graph: Graph, node: Node) -> Residency:
        """The node's :class:`Residency`: the byte share of its activation inputs not held on chip, and
        whether its output stays on chip."""
        ins = self.inputs_of[node.name]
        total = sum(graph.tensors[t].storage_bytes for t in ins)
        from_dram = sum(graph.tensors[t].storage_bytes for t in ins if t not in self.resident)
        return Residency(from_dram / total if total else 1.0, self.output_of[node.name] in self.resident)


def plan_residency(graph: Graph, hw: HardwareConfig) -> ResidencyPlan:
    """Greedy first-fit in execution order: an intermediate activation stays on chip when it and the resident
    tensors live at the same time fit in :data:`RESIDENT_FRACTION` of the activation level
    (:func:`accelsim.hw.memory.activation_level`); graph inputs and outputs always go through DRAM. Reshape
    and Flatten outputs are views of their input (same residency, no bytes)."""
    level = activation_level(hw)
    budget = RESIDENT_FRACTION * hw.memories[level].size_bytes if level is not None else 0.0
    order = {n.name: i for i, n in enumerate(graph.nodes)}
    alias: dict[str, str] = {}
    for n in graph.nodes:
        if n.kind in FREE_KINDS:
            alias[n.outputs[0]] = alias.get(n.inputs[0], n.inputs[0])
    last_use: dict[str, int] = {}
    for n in graph.nodes:
        for t in n.inputs:
            base = alias.get(t, t)
            last_use[base] = max(last_use.get(base, -1), order[n.name])
    for t in graph.outputs:
        last_use[alias.get(t, t)] = len(graph.nodes)
    outputs = {alias.get(t, t) for t in graph.outputs}
    resident: set[str] = set()
    reserved: dict[str, float] = {}
    live: dict[str, tuple[int, float]] = {}        # tensor -> (last use, bytes)
    for i, n in enumerate(graph.nodes):
        live = {t: v for t, v in live.items() if v[0] >= i}
        out = n.outputs[0]
        if n.kind not in FREE_KINDS and out not in outputs and level is not None:
            size = graph.tensors[out].storage_bytes
            if sum(v[1] for v in live.values()) + size <= budget:
                resident.add(out)
                live[out] = (last_use.get(out, i), size)
        reserved[n.name] = sum(v[1] for v in live.values())
    for view, base in alias.items():
        if base in resident:
            resident.add(view)
    inputs_of = {n.name: tuple(t for t in n.inputs if not graph.tensors[t].is_constant) for n in graph.nodes}
    return ResidencyPlan(frozenset(resident), reserved, inputs_of, {n.name: n.outputs[0] for n in graph.nodes})


# ------------------------------------------------------------------------------------------------- inputs
def _load_workload(path: str | Path) -> Graph:
    from accelsim.workloads import load_workload

    return load_workload(path)


#: Synthesized-weight graph of each shape-only graph, kept while the original lives (a sweep simulates one
#: workload on many configs: synthesize once).
_SYNTHESIZED: weakref.WeakKeyDictionary[Graph, Graph] = weakref.WeakKeyDictionary()
#: Best-codec result per weight tensor (by identity) and (storage bits, codecs), kept while the tensor lives.
_COMPRESSED: weakref.WeakKeyDictionary[object, dict[tuple[int, tuple[str, ...]], CompressionResult]] = (
    weakref.WeakKeyDictionary())


def _weights_for_compression(graph: Graph, hw: HardwareConfig) -> tuple[Graph, bool]:
    """The graph with weight values when a decompression unit needs them (synthesized if shape-only, once per
    graph)."""
    synthetic = bool(graph.metadata.get("synthetic_weights", False))
    if hw.decompression is None:
        return graph, synthetic
    shape_only = any(graph.tensors[n.inputs[1]].data is None for n in graph.nodes
                     if n.kind in ("Conv2D", "FullyConnected"))
    if shape_only:
        from accelsim.graph.synthetic import synthesize_weights

        synthesized = _SYNTHESIZED.get(graph)
        if synthesized is None:
            synthesized = _SYNTHESIZED[graph] = synthesize_weights(graph, seed=0)
        return synthesized, True
    return graph, synthetic


def _compressed_weights(graph: Graph, node: Node, layer: LayerShape, hw: HardwareConfig) -> tuple[float | None, str]:
    """(compressed bytes, codec) of the node's weights with the best configured codec
    (:func:`accelsim.hw.compression.best_codec`, memoized per weight tensor), or (None, "none") without a
    decompression unit or a saving."""
    if hw.decompression is None or not layer.has_weights:
        return None, "none"
    tensor = graph.tensors[node.inputs[1]]
    results = _COMPRESSED.setdefault(tensor, {})
    key = (layer.weight_bits, tuple(hw.decompression.codecs))
    best = results.get(key)
    if best is None:
        best = results[key] = best_codec(np.asarray(tensor.data), layer.weight_bits, hw.decompression.codecs)
    if best.compressed_bytes >= layer.weight_bytes:
        return None, "none"
    return float(best.compressed_bytes), best.codec


# ------------------------------------------------------------------------------------------------- timing
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


def _latency_cycles(mapping: LayerMapping, hw: HardwareConfig, timing_model: str) -> float:
    runs = tile_runs(mapping, hw)
    if not runs:
        return 0.0
    return event_latency_cycles(runs) if timing_model == "event" else pipeline_latency_cycles(runs)


# ------------------------------------------------------------------------------------------------- rows
def unused_register_file_notes(layers: pd.DataFrame, hw: HardwareConfig, rf_levels: list[str]) -> list[str]:
    """One note per register-file level that no layer read or wrote: it counts in the area, but its energy and
    traffic are 0 because only the SIMD unit's instructions are charged to register files so far."""
    units = sorted(set(layers["unit"]) - {"none", "dma"})
    notes = []
    for name in rf_levels:
        if layers[f"sram_{name}_read_bytes"].sum() + layers[f"sram_{name}_write_bytes"].sum() == 0:
            notes.append(
                f"hardware {hw.name!r}: register-file level {name!r} is counted in the area but reports zero "
                f"energy and traffic: nothing in the model uses a register file on the unit(s) that ran this "
                f"workload ({', '.join(units) or 'none'}) yet (only SIMD instructions are charged to it)")
    return notes


def _layer_row(kind: str, mapping: LayerMapping, latency: float, hw: HardwareConfig, table: EnergyTable,
               sram_levels: list[str], rf_levels: list[str]) -> dict[str, object]:
    """One row of ``Report.layers``: timing, energy by component, traffic, tiling; ``kind`` is the node's
    :func:`accelsim.graph.stats.op_label` (``DepthwiseConv2D`` for depthwise convolutions)."""
    layer, cost, tiling = mapping.layer, mapping.cost, mapping.dram
    dram_bytes = mapping.dram_read_bytes + mapping.dram_write_bytes
    activity = LayerActivity(
        macs_issued=cost.macs_issued, weight_bits=cost.compute_weight_bits, activation_bits=layer.activation_bits,
        requant_ops=cost.requant_ops, requant_mode=hw.scale_unit.rounding, alu_ops=cost.alu_ops,
        alu_bits=max(layer.activation_bits, 8),
        rf_read_bytes=sum(mapping.sram_read_bytes[n] for n in rf_levels),
        rf_write_bytes=sum(mapping.sram_write_bytes[n] for n in rf_levels),
        sram_read_bytes=mapping.sram_read_bytes, sram_write_bytes=mapping.sram_write_bytes,
        dram_bytes=dram_bytes, decompressed_bytes=mapping.decompressed_bytes, latency_cycles=latency,
    )
    energy = layer_energy(hw, table, activity)
    peak = cost.peak_macs_per_cycle
    row = {
        "name": layer.name, "kind": kind, "unit": cost.unit, "requant_unit": cost.requant_unit,
        "macs": layer.macs, "weight_bits": layer.weight_bits, "activation_bits": layer.activation_bits,
        "output_bits": layer.output_bits, "latency_cycles": latency, "compute_cycles": cost.compute_cycles,
        "scale_cycles": cost.scale_cycles, "stall_cycles": max(0.0, latency - cost.compute_cycles),
        "utilization": layer.macs / (latency * peak) if latency and peak else 0.0,
        "energy_pj": energy.total_pj, "energy_mac_pj": energy.mac_pj, "energy_rf_pj": energy.rf_pj,
    }
    for name in sram_levels:
        row[f"energy_sram_{name}_pj"] = energy.sram_pj[name]
    row.update({
        "energy_dram_pj": energy.dram_pj, "energy_scale_pj": energy.scale_pj, "energy_alu_pj": energy.alu_pj,
        "energy_decompression_pj": energy.decompression_pj, "energy_leakage_pj": energy.leakage_pj,
        "dram_read_bytes": mapping.dram_read_bytes, "dram_write_bytes": mapping.dram_write_bytes,
        "weight_dram_bytes": tiling.weight_fill_bytes if tiling else 0.0,
        "ifmap_dram_bytes": tiling.ifmap_fill_bytes if tiling else 0.0,
        "ofmap_dram_bytes": tiling.ofmap_drain_bytes if tiling else 0.0,
        "psum_dram_bytes": tiling.psum_fill_bytes if tiling else 0.0,
        "params_dram_bytes": tiling.params_fill_bytes if tiling else 0.0,
        "sram_read_bytes": sum(mapping.sram_read_bytes[n] for n in sram_levels),
        "sram_write_bytes": sum(mapping.sram_write_bytes[n] for n in sram_levels),
        "rf_read_bytes": activity.rf_read_bytes, "rf_write_bytes": activity.rf_write_bytes,
    })
    for name in (*rf_levels, *sram_levels):
        row[f"sram_{name}_read_bytes"] = mapping.sram_read_bytes[name]
        row[f"sram_{name}_write_bytes"] = mapping.sram_write_bytes[name]
    row.update({
        "dram_gb_s": gb_per_s(dram_bytes, latency, hw.clock_mhz),
        "arithmetic_intensity_ops_per_byte": 2 * layer.macs / dram_bytes if dram_bytes else 0.0,
        "loop_order": tiling.loop_order if tiling else "",
        "tile_rows": tiling.tile_rows if tiling else 0,
        "tile_out_channels": tiling.tile_out_channels if tiling else 0,
        "tile_in_channels": tiling.tile_in_channels if tiling else 0,
        "num_tiles": tiling.num_tiles if tiling else 0,
        "weight_refetch_factor": tiling.weight_refetch_factor if tiling and layer.has_weights else 0.0,
        "weight_stored_bytes": mapping.weight_stored_bytes, "codec": mapping.codec,
    })
    return row


def _totals(layers: pd.DataFrame, hw: HardwareConfig, table: EnergyTable, sram_levels: list[str]) -> dict[str, float]:
    """Network totals: sums over layers, bandwidths, area per component, peak rate and utilization."""
    latency = float(layers["latency_cycles"].sum())
    dram_read, dram_write = float(layers["dram_read_bytes"].sum()), float(layers["dram_write_bytes"].sum())
    macs = int(layers["macs"].sum())
    mac_rows = layers[layers["macs"] > 0]
    if len(mac_rows):
        by_mode = mac_rows.groupby(["weight_bits", "activation_bits"])["macs"].sum()
        w_bits, a_bits = by_mode.idxmax()
        peak = hw.peak_macs_per_cycle(int(w_bits), int(a_bits))
    else:
        peak = hw.peak_macs_per_cycle(hw.precision.modes[0].weight_bits, hw.precision.modes[0].activation_bits)
    totals: dict[str, float] = {
        "latency_cycles": latency, "latency_ms": latency / (hw.clock_mhz * 1e3),
        "compute_cycles": float(layers["compute_cycles"].sum()), "stall_cycles": float(layers["stall_cycles"].sum()),
        "energy_pj": float(layers["energy_pj"].sum()),
    }
    for component in ("mac", "rf", *(f"sram_{n}" for n in sram_levels), *ENERGY_COMPONENTS[2:]):
        totals[f"energy_{component}_pj"] = float(layers[f"energy_{component}_pj"].sum())
    busy = layers[layers["latency_cycles"] > 0]
    totals.update({
        "dram_read_bytes": dram_read, "dram_write_bytes": dram_write,
        "dram_avg_gb_s": gb_per_s(dram_read + dram_write, latency, hw.clock_mhz),
        "dram_peak_gb_s": float(busy["dram_gb_s"].max()) if len(busy) else 0.0,
        "sram_read_bytes": float(layers["sram_read_bytes"].sum()),
        "sram_write_bytes": float(layers["sram_write_bytes"].sum()),
    })
    areas = area_mm2(hw, table)
    totals["area_mm2"] = float(sum(areas.values()))
    for name, value in areas.items():
        totals[f"area_{name}_mm2"] = float(value)
    totals.update({"macs": macs, "peak_macs_per_cycle": float(peak),
                   "utilization": macs / (latency * peak) if latency and peak else 0.0})
    return totals
