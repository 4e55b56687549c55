"""Per-layer energy breakdown and per-component area, from a named energy table (``accelsim.energy``).

Every figure is a count (from the compute, mapping and timing models) times a per-event energy from the config
(when it overrides one) or the table named by ``technology.energy_table``. Formulas and sources:
``docs/model.md`` §Energy and §Area.
"""
from __future__ import annotations

from dataclasses import dataclass

from accelsim.config.hw import HardwareConfig, MemoryLevel
from accelsim.energy import (
    EnergyTable,
    add_energy_pj,
    dram_energy_pj_per_byte,
    leakage_fraction,
    load_energy_table,
    mac_area_um2,
    mac_energy_pj,
    register_file_energy_pj_per_byte,
    requant_op_energy_pj,
    sram_area_mm2,
    sram_read_energy_pj_per_byte,
    sram_write_energy_pj_per_byte,
)
from accelsim.hw.compression import decompression_energy_pj
from accelsim.hw.scale_unit import (
    scale_register_bits, scale_register_read_pj_per_op, scale_sets_held, scale_unit_area_um2,
)
from accelsim.hw.unit import multiplier_count, peak_macs_per_cycle

UM2_PER_MM2 = 1e6
#: Table that supplies integer add / multiply figures (requantization, vector ALU, decompression, scale-unit
#: area) when the configured table has only whole-PE figures (the Bit Fusion tables); recorded in the report's
#: ``energy_table_sources``.
INT_OP_FALLBACK_TABLE = "horowitz45"
#: Decompression energy when the config gives none (ASSUMPTION): one 8-bit add (symbol decode / accumulate)
#: and one register-file write per output byte.
DECOMPRESSION_ADDS_PER_BYTE = 1
#: Decompressor area when the config gives none (ASSUMPTION): four 8x8 MAC units' worth of logic per output
#: byte per cycle (a table-driven decoder lane).
DECOMPRESSOR_MACS_PER_BYTE_PER_CYCLE = 4


@dataclass(frozen=True)
class LayerActivity:
    """Event counts of one layer that the energy model prices."""

    macs_issued: int
    weight_bits: int                  # multiplier widths (storage-only weights at their compute width)
    activation_bits: int
    requant_ops: int
    requant_mode: str
    alu_ops: int
    alu_bits: int
    rf_read_bytes: float
    rf_write_bytes: float
    sram_read_bytes: dict[str, float]     # per on-chip SRAM level name
    sram_write_bytes: dict[str, float]
    dram_bytes: float
    decompressed_bytes: float
    latency_cycles: float
    requant_per_channel: bool = False     # the requantized outputs have per-channel scales


@dataclass(frozen=True)
class EnergyBreakdown:
    """Energy of one layer in pJ, by component."""

    mac_pj: float
    rf_pj: float
    sram_pj: dict[str, float]         # per SRAM level name
    dram_pj: float
    scale_pj: float
    alu_pj: float
    decompression_pj: float
    leakage_pj: float

    @property
    def total_pj(self) -> float:
        return (self.mac_pj + self.rf_pj + sum(self.sram_pj.values()) + self.dram_pj + self.scale_pj
                + self.alu_pj + self.decompression_pj + self.leakage_pj)


def energy_table_of(hw: HardwareConfig) -> EnergyTable:
    """The energy table named by ``hw.technology.energy_table``."""
    return load_energy_table(hw.technology.energy_table)


def int_op_table(table: EnergyTable) -> EnergyTable:
    """``table`` if it has integer adder, multiplier and float32 multiplier figures, else
    :data:`INT_OP_FALLBACK_TABLE` (for tables of whole PEs only)."""
    if table.int_add is not None and table.int_mult is not None and table.float32_mult is not None:
        return table
    return load_energy_table(INT_OP_FALLBACK_TABLE)


def int_op_area_table(table: EnergyTable) -> EnergyTable:
    """The table for the area of separate multipliers and adders (scale unit, decompressor): ``table`` unless it
    describes whole PEs (a ``mac`` section, whose areas are per-PE) or lacks operator figures."""
    ops = int_op_table(table)
    return ops if ops.mac is None else load_energy_table(INT_OP_FALLBACK_TABLE)


def table_sources(table: EnergyTable) -> tuple[str, ...]:
    """Every table the model draws figures from: ``table.sources`` plus the integer-op fallback if used."""
    return tuple(dict.fromkeys((*table.sources, *int_op_table(table).sources, *int_op_area_table(table).sources)))


def sram_energy_pj_per_byte(table: EnergyTable, level: MemoryLevel) -> tuple[float, float]:
    """(read, write) energy in pJ/byte of an on-chip level: the config's figures if given, else the table's
    register-file figure (register files) or its SRAM curve at ``size_kib``."""
    if level.kind == "register_file":
        default = register_file_energy_pj_per_byte(table)
        read, write = default, default
    else:
        read = sram_read_energy_pj_per_byte(table, level.size_kib)
        write = sram_write_energy_pj_per_byte(table, level.size_kib)
    return (level.read_energy_pj_per_byte if level.read_energy_pj_per_byte is not None else read,
            level.write_energy_pj_per_byte if level.write_energy_pj_per_byte is not None else write)


def dram_pj_per_byte(hw: HardwareConfig) -> float:
    """DRAM energy per byte (read = write): ``8 × energy_pj_per_bit`` if configured, else the ``dram_types`` table."""
    dram = hw.dram
    if dram.energy_pj_per_bit is not None:
        return 8 * dram.energy_pj_per_bit
    return dram_energy_pj_per_byte(dram.dram_type)


def requant_pj_per_op(hw: HardwareConfig, table: EnergyTable, mode: str, per_channel: bool = False) -> float:
    """Energy of one requantization in pJ: ``scale_unit.energy_pj_per_op`` (the whole figure), else the table's
    op count for ``mode`` plus the read of the output's scale set from the unit's registers
    (:func:`accelsim.hw.scale_unit.scale_register_read_pj_per_op`: one set per lane per output with per-channel
    scales, one broadcast set per cycle with a per-tensor scale), at the table's register-file energy."""
    unit = hw.scale_unit
    if unit.energy_pj_per_op is not None:
        return unit.energy_pj_per_op
    register = scale_register_read_pj_per_op(per_channel, unit.lanes, unit.scale_bytes_per_channel,
                                             register_file_energy_pj_per_byte(int_op_table(table)))
    return requant_op_energy_pj(int_op_table(table), mode) + register


def decompression_pj_per_byte(hw: HardwareConfig, table: EnergyTable) -> float:
    """Energy per decompressed byte in pJ: the config's figure, else (ASSUMPTION) one 8-bit add plus one
    register-file write per byte."""
    unit = hw.decompression
    if unit is not None and unit.energy_pj_per_byte is not None:
        return unit.energy_pj_per_byte
    return DECOMPRESSION_ADDS_PER_BYTE * add_energy_pj(int_op_table(table), 8) + register_file_energy_pj_per_byte(table)


def peak_logic_pj_per_cycle(hw: HardwareConfig, table: EnergyTable) -> float:
    """Dynamic MAC-array energy per cycle at full activity in the widest compute mode (pJ/cycle), the base of
    the leakage power."""
    mode = widest_compute_mode(hw)
    peak = peak_macs_per_cycle(hw, mode.weight_bits, mode.activation_bits)
    return peak * mac_energy_pj(table, mode.weight_bits, mode.activation_bits, hw.precision.accumulator_bits)


def leakage_pj(hw: HardwareConfig, table: EnergyTable, latency_cycles: float) -> float:
    """Leakage energy in pJ = leakage power × time. The table's ``fraction`` f is leakage's share of logic
    energy at full activity, so leakage power = f / (1 − f) × peak dynamic logic power (Bit Fusion synthesis:
    total vs dynamic power of its PEs, [ref:BitFusionRepo])."""
    f = leakage_fraction(table)
    return f / (1 - f) * peak_logic_pj_per_cycle(hw, table) * latency_cycles


def layer_energy(hw: HardwareConfig, table: EnergyTable, act: LayerActivity) -> EnergyBreakdown:
    """Energy of one layer by component (pJ)."""
    acc_bits = hw.precision.accumulator_bits
    mac = act.macs_issued * mac_energy_pj(table, act.weight_bits, act.activation_bits, acc_bits) \
        if act.macs_issued else 0.0
    rf = 0.0
    rf_level = next((lv for lv in hw.memories.values() if lv.kind == "register_file"), None)
    if rf_level is not None and (act.rf_read_bytes or act.rf_write_bytes):
        read, write = sram_energy_pj_per_byte(table, rf_level)
        rf = act.rf_read_bytes * read + act.rf_write_bytes * write
    sram = {}
    for name, level in hw.memories.items():
        if level.kind != "sram":
            continue
        read, write = sram_energy_pj_per_byte(table, level)
        sram[name] = act.sram_read_bytes.get(name, 0.0) * read + act.sram_write_bytes.get(name, 0.0) * write
    dram = act.dram_bytes * dram_pj_per_byte(hw)
    scale = (act.requant_ops * requant_pj_per_op(hw, table, act.requant_mode, act.requant_per_channel)
             if act.requant_ops else 0.0)
    alu = act.alu_ops * add_energy_pj(int_op_table(table), act.alu_bits) if act.alu_ops else 0.0
    decompression = (decompression_energy_pj(act.decompressed_bytes, decompression_pj_per_byte(hw, table))
                     if act.decompressed_bytes else 0.0)
    leak = leakage_pj(hw, table, act.latency_cycles)
    return EnergyBreakdown(mac, rf, sram, dram, scale, alu, decompression, leak)


# ------------------------------------------------------------------------------------------------------- area
def widest_compute_mode(hw: HardwareConfig):
    """The compute mode with the widest multiplier (largest weight_bits × activation_bits): the PE must do it."""
    return max(hw.precision.compute_modes(), key=lambda m: (m.weight_bits * m.activation_bits, m.throughput))


def area_mm2(hw: HardwareConfig, table: EnergyTable) -> dict[str, float]:
    """Area per component in mm^2: ``mac_array`` (MAC area of the widest mode × MAC units), each on-chip level
    (config ``area_mm2`` or the table's SRAM curve; register files at the table's per-bit area when it has one),
    ``scale_unit`` (config, else :func:`scale_unit_area_mm2`), ``decompressor`` (config, else the assumption above)."""
    mode = widest_compute_mode(hw)
    acc = hw.precision.accumulator_bits
    areas = {"mac_array": multiplier_count(hw) * mac_area_um2(table, mode.weight_bits, mode.activation_bits, acc)
             / UM2_PER_MM2}
    for name, level in hw.onchip_levels().items():
        if level.area_mm2 is not None:
            areas[name] = level.area_mm2
        elif level.kind == "register_file" and table.register_file is not None \
                and table.register_file.area_um2_per_bit is not None:
            areas[name] = level.size_bytes * 8 * table.register_file.area_um2_per_bit / UM2_PER_MM2
        else:
            areas[name] = sram_area_mm2(table, level.size_kib)
    unit = hw.scale_unit
    if unit.area_mm2 is not None:
        areas["scale_unit"] = unit.area_mm2
    elif unit.shared_with_simd:
        areas["scale_unit"] = 0.0          # requantization runs on the SIMD multipliers
    else:
        areas["scale_unit"] = scale_unit_area_mm2(hw, table)
    dec = hw.decompression
    if dec is not None:
        areas["decompressor"] = dec.area_mm2 if dec.area_mm2 is not None else (
            DECOMPRESSOR_MACS_PER_BYTE_PER_CYCLE * dec.output_bytes_per_cycle
            * mac_area_um2(int_op_area_table(table), 8, 8, 8) / UM2_PER_MM2)
    return areas


def scale_unit_area_mm2(hw: HardwareConfig, table: EnergyTable) -> float:
    """Area of a separate scale unit in mm^2 (:func:`accelsim.hw.scale_unit.scale_unit_area_um2`): ``lanes`` ×
    a 32x32 MAC of the operator table plus its scale-set registers (``param_sets``, default one per lane, for a
    per-channel unit; one set for a per-tensor unit) at the register-file area per bit of the table (or of
    :data:`INT_OP_FALLBACK_TABLE` when it has none)."""
    unit = hw.scale_unit
    ops = int_op_area_table(table)
    rf = table.register_file if table.register_file is not None and table.register_file.area_um2_per_bit \
        is not None else load_energy_table(INT_OP_FALLBACK_TABLE).register_file
    bits = scale_register_bits(scale_sets_held(unit.per_channel, unit.lanes, unit.param_sets),
                               unit.scale_bytes_per_channel)
    return scale_unit_area_um2(unit.lanes, mac_area_um2(ops, 32, 32, 32), bits, rf.area_um2_per_bit) / UM2_PER_MM2
