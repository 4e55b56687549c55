"""The result of :func:`accelsim.simulate`: a per-layer DataFrame, network totals and provenance metadata.

The columns are defined once, by the typed rows :class:`LayerResult` (one per layer) and :class:`NetworkTotals`:
each field's metadata carries its unit and whether higher is better, and per-level fields (one column per memory
level or area component) are flattened to columns by :func:`flatten`. ``docs/model.md`` §Report holds the table
:func:`column_table_markdown` generates.
"""
from __future__ import annotations

import dataclasses
import json
import math
import operator
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from accelsim.config.hw import HardwareConfig
from accelsim.energy import EnergyTable
from accelsim.hw.energy_model import LayerActivity, area_mm2, layer_energy, leakage_by_component_pj
from accelsim.hw.memory import gb_per_s
from accelsim.hw.unit import peak_macs_per_cycle
from accelsim.mapping import LayerMapping


#: Units of the quantities that add up over repeated passes of a layer (a batch run in sub-batches).
ADDITIVE_UNITS = frozenset({"cycles", "pJ", "bytes", "MACs", "tiles"})


def _col(unit: str, doc: str, *, higher_is_better: bool = False, per_level: tuple[str, ...] = (),
         additive: bool | None = None) -> Any:
    """A result field: ``unit`` ("" for labels), one-line ``doc``, direction, for per-level fields the column
    templates (``{level}`` is replaced by each key of the field's dict), and whether it adds up over repeated
    passes (default: by unit, :data:`ADDITIVE_UNITS`)."""
    return field(metadata={"unit": unit, "doc": doc, "higher_is_better": higher_is_better, "per_level": per_level,
                           "additive": unit in ADDITIVE_UNITS if additive is None else additive})


@dataclass(frozen=True)
class LayerResult:
    """One row of ``Report.layers`` (field order = column order)."""

    name: str = _col("", "node name")
    kind: str = _col("", "op label as `accelsim info` prints it (`DepthwiseConv2D` for a depthwise convolution)")
    unit: str = _col("", "compute unit that ran it (`systolic`, `simd`, `scale_unit`, `dma`, `none`)")
    requant_unit: str = _col("", "unit that requantized its outputs (`scale_unit`, `simd`, `none`)")
    lowering: str = _col("", "how the unit ran the layer (e.g. `gemm`, `depthwise_block_diagonal`; empty = the "
                         "unit's only way)")
    macs: int = _col("MACs", "multiply-accumulates of the layer")
    weight_bits: int = _col("bits", "weight width")
    activation_bits: int = _col("bits", "input activation width")
    output_bits: int = _col("bits", "output activation width")
    latency_cycles: float = _col("cycles", "time in the network schedule: from the previous layer's end to its "
                                 "own (tile pipeline, minus its load hidden under the previous layer, plus any "
                                 "delay its successor's prefetch caused)")
    prefetch_hidden_cycles: float = _col("cycles", "cycles of its first weight load hidden under the previous "
                                         "layer (net of the delay the prefetch caused there)")
    compute_cycles: float = _col("cycles", "the unit's stall-free busy cycles")
    scale_cycles: float = _col("cycles", "busy cycles of a separate scale unit")
    stall_cycles: float = _col("cycles", "latency - compute cycles (at least 0)")
    utilization: float = _col("fraction", "MACs / (latency x peak MACs per cycle)", higher_is_better=True)
    energy_pj: float = _col("pJ", "total energy of the layer")
    energy_mac_pj: float = _col("pJ", "multipliers")
    energy_rf_pj: float = _col("pJ", "register files")
    energy_sram_pj: dict[str, float] = _col("pJ", "each SRAM level", per_level=("energy_sram_{level}_pj",))
    energy_dram_pj: float = _col("pJ", "DRAM")
    energy_scale_pj: float = _col("pJ", "requantization")
    energy_alu_pj: float = _col("pJ", "vector-ALU element operations")
    energy_decompression_pj: float = _col("pJ", "decompression unit")
    energy_leakage_pj: float = _col("pJ", "leakage over the latency")
    energy_dram_background_pj: float = _col("pJ", "DRAM background and refresh power over the latency")
    dram_read_bytes: float = _col("bytes", "DRAM reads")
    dram_write_bytes: float = _col("bytes", "DRAM writes")
    weight_dram_bytes: float = _col("bytes", "weight fills from DRAM")
    ifmap_dram_bytes: float = _col("bytes", "input fills from DRAM")
    ofmap_dram_bytes: float = _col("bytes", "final outputs + spilled partial sums written to DRAM")
    psum_dram_bytes: float = _col("bytes", "partial sums read back from DRAM")
    params_dram_bytes: float = _col("bytes", "bias and requantization parameters from DRAM")
    scale_param_load_bytes: float = _col("bytes", "scale sets (multiplier + shift) the requantizing unit loads "
                                         "from `scale_unit.params_level` (one per layer if per-tensor)")
    requant_spill_bytes: float = _col("bytes", "int32 accumulators written to and read back from SRAM by the "
                                      "SIMD per-channel fallback (write + read)")
    sram_read_bytes: float = _col("bytes", "reads of all SRAM levels")
    sram_write_bytes: float = _col("bytes", "writes of all SRAM levels")
    rf_read_bytes: float = _col("bytes", "reads of all register-file levels (without one: of the PEs' own "
                                "registers)")
    rf_write_bytes: float = _col("bytes", "writes of all register-file levels (without one: of the PEs' own "
                                 "registers)")
    onchip_bytes: dict[str, tuple[float, float]] = _col(
        "bytes", "(reads, writes) of each on-chip level (register files and SRAMs)",
        per_level=("onchip_{level}_read_bytes", "onchip_{level}_write_bytes"))
    dram_gb_s: float = _col("GB/s", "DRAM bytes / latency")
    arithmetic_intensity_ops_per_byte: float = _col("ops/byte", "2 x MACs / DRAM bytes")
    loop_order: str = _col("", "DRAM-boundary tiling: loop order")
    tile_rows: int = _col("rows", "output rows per tile")
    tile_out_channels: int = _col("channels", "output channels per tile")
    tile_in_channels: int = _col("channels", "input channels per tile")
    num_tiles: int = _col("tiles", "tiles at the DRAM boundary")
    weight_refetch_factor: float = _col("x", "weight DRAM fills / weight bytes")
    weight_stored_bytes: float = _col("bytes", "weight bytes as stored in DRAM (after compression)",
                                      additive=False)
    codec: str = _col("", "weight compression codec (`none` if uncompressed)")


@dataclass(frozen=True)
class NetworkTotals:
    """``Report.totals`` (field order = key order)."""

    latency_cycles: float = _col("cycles", "sum of layer latencies (network latency with inter-layer prefetch)")
    prefetch_hidden_cycles: float = _col("cycles", "sum of layer prefetch-hidden cycles (latency without "
                                         "prefetch = latency + this)")
    latency_ms: float = _col("ms", "latency at the config's clock (accelerator only)")
    framework_overhead_ms: float = _col("ms", "inference-framework time outside the accelerator (config `framework`: "
                                        "per inference + per op the accelerator runs)")
    end_to_end_latency_ms: float = _col("ms", "latency_ms + framework_overhead_ms (what an application measures)")
    compute_cycles: float = _col("cycles", "sum of layer compute cycles")
    stall_cycles: float = _col("cycles", "sum of layer stall cycles")
    energy_pj: float = _col("pJ", "total energy")
    energy_mac_pj: float = _col("pJ", "multipliers")
    energy_rf_pj: float = _col("pJ", "register files")
    energy_sram_pj: dict[str, float] = _col("pJ", "each SRAM level", per_level=("energy_sram_{level}_pj",))
    energy_dram_pj: float = _col("pJ", "DRAM")
    energy_scale_pj: float = _col("pJ", "requantization")
    energy_alu_pj: float = _col("pJ", "vector-ALU element operations")
    energy_decompression_pj: float = _col("pJ", "decompression unit")
    energy_leakage_pj: float = _col("pJ", "leakage")
    energy_dram_background_pj: float = _col("pJ", "DRAM background and refresh power")
    energy_leakage_by_component_pj: dict[str, float] = _col(
        "pJ", "leakage of each component (MAC array, each on-chip level, scale unit, decompressor); sums to "
        "`energy_leakage_pj`", per_level=("energy_leakage_{level}_pj",))
    dram_read_bytes: float = _col("bytes", "DRAM reads")
    dram_write_bytes: float = _col("bytes", "DRAM writes")
    dram_avg_gb_s: float = _col("GB/s", "DRAM bytes / latency")
    dram_peak_gb_s: float = _col("GB/s", "busiest layer's DRAM bandwidth")
    sram_read_bytes: float = _col("bytes", "reads of all SRAM levels")
    sram_write_bytes: float = _col("bytes", "writes of all SRAM levels")
    area_mm2: float = _col("mm²", "total area")
    area_by_component_mm2: dict[str, float] = _col("mm²", "area of each component (MAC array, each on-chip "
                                                    "level, scale unit, decompressor)", per_level=("area_{level}_mm2",))
    macs: int = _col("MACs", "multiply-accumulates of the network")
    peak_macs_per_cycle: float = _col("MACs/cycle", "peak rate in the mode with the most MACs",
                                      higher_is_better=True)
    utilization: float = _col("fraction", "MACs / (latency x peak MACs per cycle)", higher_is_better=True)


def flatten(result: LayerResult | NetworkTotals) -> dict[str, Any]:
    """The result as a flat dict of columns: per-level fields become one column per level (and template)."""
    values = result.__dict__
    row: dict[str, Any] = {}
    for names, get, templates in _layout(type(result)):
        if names:                                   # a run of plain fields, copied at C speed
            row.update(zip(names, get(values)))
            continue
        for level, value in values[get].items():
            columns = _level_columns(templates, level)
            if len(columns) == 1:
                row[columns[0]] = value
            else:
                row.update(zip(columns, value))
    return row


def repeated(result: LayerResult, passes: int) -> LayerResult:
    """The row of a layer run ``passes`` times (a batch in sub-batches): additive fields (cycles, energies, bytes,
    MACs, tiles; per-level ones too) multiplied, ratios and labels unchanged."""
    changes = {}
    for f in dataclasses.fields(result):
        if not f.metadata["additive"]:
            continue
        value = getattr(result, f.name)
        if isinstance(value, dict):
            value = {k: tuple(x * passes for x in v) if isinstance(v, tuple) else v * passes for k, v in value.items()}
        else:
            value = value * passes
        changes[f.name] = value
    return dataclasses.replace(result, **changes)


def results_frame(results: list[LayerResult]) -> pd.DataFrame:
    """The per-layer DataFrame of ``results`` (columns as :func:`flatten` names them; every row of one report
    has the same levels)."""
    rows = [flatten(result) for result in results]
    return pd.DataFrame([list(row.values()) for row in rows], columns=list(rows[0]) if rows else None)


@cache
def _layout(cls: type) -> tuple[tuple[tuple[str, ...], Any, tuple[str, ...]], ...]:
    """Runs of plain fields (names, their getter, ()) and per-level fields ((), field name, templates)."""
    steps: list[tuple[tuple[str, ...], Any, tuple[str, ...]]] = []
    run: list[str] = []
    for f in dataclasses.fields(cls):
        if not f.metadata["per_level"]:
            run.append(f.name)
            continue
        if run:
            steps.append((tuple(run), _getter(run), ()))
            run = []
        steps.append(((), f.name, f.metadata["per_level"]))
    if run:
        steps.append((tuple(run), _getter(run), ()))
    return tuple(steps)


def _getter(names: list[str]) -> Any:
    """``values -> tuple of values[name]`` for ``names`` (a tuple even for one name)."""
    get = operator.itemgetter(*names)
    return get if len(names) > 1 else (lambda values: (get(values),))


@cache
def _level_columns(templates: tuple[str, ...], level: str) -> tuple[str, ...]:
    return tuple(template.format(level=level) for template in templates)


def column_specs(cls: type) -> tuple[tuple[str, str, str, bool], ...]:
    """(column or template, unit, doc, higher is better) of each field of ``cls``; per-level fields give their
    templates (``energy_sram_<level>_pj``)."""
    specs = []
    for f in dataclasses.fields(cls):
        m = f.metadata
        for name in m["per_level"] or (f.name,):
            specs.append((name.replace("{level}", "<level>"), m["unit"], m["doc"], m["higher_is_better"]))
    return tuple(specs)


def fixed_columns(cls: type) -> tuple[str, ...]:
    """The columns of ``cls`` every report has (per-level columns left out)."""
    return tuple(f.name for f in dataclasses.fields(cls) if not f.metadata["per_level"])


def higher_is_better(cls: type) -> frozenset[str]:
    """Columns of ``cls`` where more is better (every other is minimized as an objective)."""
    return frozenset(f.name for f in dataclasses.fields(cls) if f.metadata["higher_is_better"])


@cache
def _units_by_pattern() -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(re.escape(name).replace("<level>", ".+") + "$"), unit)
                 for cls in (LayerResult, NetworkTotals) for name, unit, _, _ in column_specs(cls))


def result_unit(column: str) -> str | None:
    """The unit of a report column or total (``pJ``, ``bytes``, ...; "" for labels); None if ``column`` is
    not one."""
    return next((unit for pattern, unit in _units_by_pattern() if pattern.match(column)), None)


def column_table_markdown() -> str:
    """The Markdown column tables of ``docs/model.md`` §Report, generated from the two result dataclasses."""
    parts = []
    for title, cls in (("`Report.layers` (one row per node)", LayerResult),
                       ("`Report.totals`", NetworkTotals)):
        lines = [f"{title}:", "", "| column | unit | meaning |", "|---|---|---|"]
        lines += [f"| `{name}` | {unit} | {doc} |" for name, unit, doc, _ in column_specs(cls)]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


# ------------------------------------------------------------------------------------------------- rows
def layer_result(kind: str, mapping: LayerMapping, latency: float, hw: HardwareConfig, table: EnergyTable,
                 sram_levels: list[str], rf_levels: list[str], prefetch_hidden_cycles: float = 0.0) -> LayerResult:
    """The :class:`LayerResult` of one mapped layer: timing, energy by component, traffic, tiling; ``kind`` is
    the node's :func:`accelsim.graph.stats.op_label`; ``latency`` its time in the network schedule, of which
    ``prefetch_hidden_cycles`` were saved by loading its weights under the previous layer."""
    layer, cost, tiling = mapping.layer, mapping.cost, mapping.dram
    dram_bytes = mapping.dram_read_bytes + mapping.dram_write_bytes
    activity = LayerActivity(
        macs_issued=cost.macs_issued, weight_bits=cost.compute_weight_bits, activation_bits=layer.activation_bits,
        requant_ops=cost.requant_ops, requant_mode=hw.scale_unit.rounding, alu_ops=cost.alu_ops,
        alu_bits=max(layer.activation_bits, 8),
        rf_read_bytes=sum(mapping.sram_read_bytes[n] for n in rf_levels) if rf_levels else cost.operand_read_bytes,
        rf_write_bytes=(sum(mapping.sram_write_bytes[n] for n in rf_levels) if rf_levels
                        else cost.operand_write_bytes),
        sram_read_bytes=mapping.sram_read_bytes, sram_write_bytes=mapping.sram_write_bytes,
        dram_bytes=dram_bytes, decompressed_bytes=mapping.decompressed_bytes, latency_cycles=latency,
        requant_per_channel=layer.per_channel,
    )
    energy = layer_energy(hw, table, activity)
    peak = cost.peak_macs_per_cycle
    return LayerResult(
        name=layer.name, kind=kind, unit=cost.unit, requant_unit=cost.requant_unit, lowering=cost.lowering,
        macs=layer.macs, weight_bits=layer.weight_bits, activation_bits=layer.activation_bits,
        output_bits=layer.output_bits, latency_cycles=latency, prefetch_hidden_cycles=prefetch_hidden_cycles,
        compute_cycles=cost.compute_cycles,
        scale_cycles=cost.scale_cycles, stall_cycles=max(0.0, latency - cost.compute_cycles),
        utilization=layer.macs / (latency * peak) if latency and peak else 0.0,
        energy_pj=energy.total_pj, energy_mac_pj=energy.mac_pj, energy_rf_pj=energy.rf_pj,
        energy_sram_pj={name: energy.sram_pj[name] for name in sram_levels},
        energy_dram_pj=energy.dram_pj, energy_scale_pj=energy.scale_pj, energy_alu_pj=energy.alu_pj,
        energy_decompression_pj=energy.decompression_pj, energy_leakage_pj=energy.leakage_pj,
        energy_dram_background_pj=energy.dram_background_pj,
        dram_read_bytes=mapping.dram_read_bytes, dram_write_bytes=mapping.dram_write_bytes,
        weight_dram_bytes=tiling.weight_fill_bytes if tiling else 0.0,
        ifmap_dram_bytes=tiling.ifmap_fill_bytes if tiling else 0.0,
        ofmap_dram_bytes=tiling.ofmap_drain_bytes if tiling else 0.0,
        psum_dram_bytes=tiling.psum_fill_bytes if tiling else 0.0,
        params_dram_bytes=tiling.params_fill_bytes if tiling else 0.0,
        scale_param_load_bytes=mapping.scale_param_load_bytes, requant_spill_bytes=cost.requant_spill_bytes,
        sram_read_bytes=sum(mapping.sram_read_bytes[n] for n in sram_levels),
        sram_write_bytes=sum(mapping.sram_write_bytes[n] for n in sram_levels),
        rf_read_bytes=activity.rf_read_bytes, rf_write_bytes=activity.rf_write_bytes,
        onchip_bytes={name: (mapping.sram_read_bytes[name], mapping.sram_write_bytes[name])
                      for name in (*rf_levels, *sram_levels)},
        dram_gb_s=gb_per_s(dram_bytes, latency, hw.clock_mhz),
        arithmetic_intensity_ops_per_byte=2 * layer.macs / dram_bytes if dram_bytes else 0.0,
        loop_order=tiling.loop_order if tiling else "",
        tile_rows=tiling.tile_rows if tiling else 0,
        tile_out_channels=tiling.tile_out_channels if tiling else 0,
        tile_in_channels=tiling.tile_in_channels if tiling else 0,
        num_tiles=tiling.num_tiles if tiling else 0,
        weight_refetch_factor=tiling.weight_refetch_factor if tiling and layer.has_weights else 0.0,
        weight_stored_bytes=mapping.weight_stored_bytes, codec=mapping.codec,
    )


def framework_ops(layers: pd.DataFrame) -> int:
    """Ops the framework dispatches to the accelerator: layers that ran on a unit (unit not ``none``) with time."""
    return int(((layers["unit"] != "none") & (layers["latency_cycles"] > 0)).sum())


def network_totals(layers: pd.DataFrame, hw: HardwareConfig, table: EnergyTable,
                   sram_levels: list[str]) -> NetworkTotals:
    """Network totals: sums over layers, bandwidths, area per component, peak rate and utilization. The peak is
    that of the precision mode with the most MACs (:func:`accelsim.hw.unit.peak_macs_per_cycle`)."""
    latency = float(layers["latency_cycles"].sum())
    dram_read, dram_write = float(layers["dram_read_bytes"].sum()), float(layers["dram_write_bytes"].sum())
    macs = int(layers["macs"].sum())
    mac_rows = layers[layers["macs"] > 0]
    if len(mac_rows):
        by_mode = mac_rows.groupby(["weight_bits", "activation_bits"])["macs"].sum()
        w_bits, a_bits = by_mode.idxmax()
        peak = peak_macs_per_cycle(hw, int(w_bits), int(a_bits))
    else:
        peak = peak_macs_per_cycle(hw, hw.precision.modes[0].weight_bits, hw.precision.modes[0].activation_bits)
    busy = layers[layers["latency_cycles"] > 0]
    areas = area_mm2(hw, table)

    def total(column: str) -> float:
        return float(layers[column].sum())

    latency_ms = latency / (hw.clock_mhz * 1e3)
    framework_ms = hw.framework.overhead_us(framework_ops(layers) if hw.framework.per_op_us else 0) / 1e3
    return NetworkTotals(
        latency_cycles=latency, prefetch_hidden_cycles=total("prefetch_hidden_cycles"),
        latency_ms=latency_ms, framework_overhead_ms=framework_ms, end_to_end_latency_ms=latency_ms + framework_ms,
        compute_cycles=total("compute_cycles"), stall_cycles=total("stall_cycles"), energy_pj=total("energy_pj"),
        energy_mac_pj=total("energy_mac_pj"), energy_rf_pj=total("energy_rf_pj"),
        energy_sram_pj={n: total(f"energy_sram_{n}_pj") for n in sram_levels},
        energy_dram_pj=total("energy_dram_pj"), energy_scale_pj=total("energy_scale_pj"),
        energy_alu_pj=total("energy_alu_pj"), energy_decompression_pj=total("energy_decompression_pj"),
        energy_leakage_pj=total("energy_leakage_pj"), energy_dram_background_pj=total("energy_dram_background_pj"),
        energy_leakage_by_component_pj=leakage_by_component_pj(hw, table, latency),
        dram_read_bytes=dram_read, dram_write_bytes=dram_write,
        dram_avg_gb_s=gb_per_s(dram_read + dram_write, latency, hw.clock_mhz),
        dram_peak_gb_s=float(busy["dram_gb_s"].max()) if len(busy) else 0.0,
        sram_read_bytes=total("sram_read_bytes"), sram_write_bytes=total("sram_write_bytes"),
        area_mm2=float(sum(areas.values())), area_by_component_mm2={n: float(v) for n, v in areas.items()},
        macs=macs, peak_macs_per_cycle=float(peak),
        utilization=macs / (latency * peak) if latency and peak else 0.0,
    )


def _scaling_line(scaling: dict[str, Any] | None) -> str:
    """One summary line of ``metadata["technology_scaling"]``."""
    if not scaling:
        return "not recorded"
    return (f"{scaling['from_node_nm']:g} nm, {scaling['from_vdd_v']:.2f} V -> {scaling['to_node_nm']:g} nm, "
            f"{scaling['to_vdd_v']:.2f} V: energy x{scaling['energy_factor']:.3f}, leakage power "
            f"x{scaling['leakage_power_factor']:.3f}, area x{scaling['area_factor']:.3f} (Stillmaker & Baas 2017)")


def unused_register_file_notes(layers: pd.DataFrame, hw: HardwareConfig, rf_levels: list[str]) -> list[str]:
    """One note per register-file level that no layer read or wrote: it counts in the area, but its energy and
    traffic are 0 because no layer ran on a unit that charges register files (SIMD instructions, systolic PEs)."""
    units = sorted(set(layers["unit"]) - {"none", "dma"})
    notes = []
    for name in rf_levels:
        if layers[f"onchip_{name}_read_bytes"].sum() + layers[f"onchip_{name}_write_bytes"].sum() == 0:
            notes.append(
                f"hardware {hw.name!r}: register-file level {name!r} is counted in the area but reports zero "
                f"energy and traffic: nothing in the model uses a register file on the unit(s) that ran this "
                f"workload ({', '.join(units) or 'none'}) (SIMD instructions and systolic PEs are charged to it)")
    return notes


#: Per-layer columns every report has (plus the per-level columns of :class:`LayerResult`).
LAYER_COLUMNS = fixed_columns(LayerResult)

#: Columns of :meth:`Report.summary_table` with their printed headers.
SUMMARY_COLUMNS = {
    "name": "layer", "kind": "kind", "unit": "unit", "macs": "MACs", "latency_cycles": "latency [cyc]",
    "compute_cycles": "compute [cyc]", "stall_cycles": "stall [cyc]", "utilization": "util",
    "energy_pj": "energy [nJ]", "dram_read_bytes": "DRAM rd [KiB]", "dram_write_bytes": "DRAM wr [KiB]",
}


@dataclass(frozen=True, eq=False)
class Report:
    """Simulation result: ``layers`` (one row per graph node), ``totals`` and ``metadata``."""

    layers: pd.DataFrame
    totals: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: ``{"metadata", "totals", "layers": [row dicts]}``."""
        rows = [{k: _plain(v) for k, v in row.items()} for row in self.layers.to_dict(orient="records")]
        return {"metadata": {k: _plain(v) for k, v in self.metadata.items()},
                "totals": {k: _plain(v) for k, v in self.totals.items()}, "layers": rows}

    def json_text(self) -> str:
        """:meth:`to_dict` as indented JSON text (ends with a newline)."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def csv_text(self) -> str:
        """The per-layer table as CSV text (one row per node, columns as in ``layers``)."""
        return self.layers.to_csv(index=False)

    def to_json(self, path: str | Path) -> None:
        """Write :meth:`json_text` to ``path``."""
        Path(path).write_text(self.json_text())

    def to_csv(self, path: str | Path) -> None:
        """Write :meth:`csv_text` to ``path``."""
        Path(path).write_text(self.csv_text())

    def summary_table(self) -> str:
        """A fixed-width per-layer table followed by the totals, units in the headers."""
        df = self.layers[list(SUMMARY_COLUMNS)].copy()
        df["energy_pj"] = df["energy_pj"] / 1e3
        df["dram_read_bytes"] = df["dram_read_bytes"] / 1024
        df["dram_write_bytes"] = df["dram_write_bytes"] / 1024
        df = df.rename(columns=SUMMARY_COLUMNS)
        table = df.to_string(index=False, float_format=lambda v: f"{v:,.2f}")
        t = self.totals
        lines = [
            table, "",
            f"hardware {self.metadata.get('hw_name')} ({self.metadata.get('config_hash')}), workload "
            f"{self.metadata.get('workload_name')}, energy table {self.metadata.get('energy_table')}, "
            f"timing {self.metadata.get('timing_model')}, weights "
            f"{'synthetic' if self.metadata.get('synthetic_weights') else 'not synthetic'}",
            *([f"float model    {self.metadata['float_model']}"] if self.metadata.get("float_model") else []),
            f"latency        {t['latency_cycles']:,.0f} cycles = {t['latency_ms']:.4f} ms",
            *([f"framework      {t['framework_overhead_ms']:.4f} ms; end to end {t['end_to_end_latency_ms']:.4f} ms"]
              if t.get("framework_overhead_ms") else []),
            f"energy         {t['energy_pj'] / 1e6:,.4f} uJ  (MAC {t['energy_mac_pj'] / 1e6:,.4f}, "
            f"DRAM {t['energy_dram_pj'] / 1e6:,.4f} + background {t['energy_dram_background_pj'] / 1e6:,.4f}, "
            f"leakage {t['energy_leakage_pj'] / 1e6:,.4f})",
            f"technology     {_scaling_line(self.metadata.get('technology_scaling'))}",
            f"DRAM           {t['dram_read_bytes'] / 2**20:,.3f} MiB read, {t['dram_write_bytes'] / 2**20:,.3f} MiB "
            f"written; avg {t['dram_avg_gb_s']:.2f} GB/s, peak {t['dram_peak_gb_s']:.2f} GB/s",
            f"MACs           {t['macs']:,.0f}; peak {t['peak_macs_per_cycle']:,.0f} MAC/cycle; "
            f"utilization {t['utilization']:.3f}",
            f"area           {t['area_mm2']:.3f} mm2",
        ]
        return "\n".join(lines)


def _plain(value: Any) -> Any:
    """numpy scalars -> Python numbers; NaN -> None (valid JSON)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
