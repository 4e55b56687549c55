"""Per-layer energy breakdown and per-component area, from a named energy table (``accelsim.energy``).

Every figure is a count (from the compute, mapping and timing models) times a per-event energy from the config
(when it overrides one) or the table named by ``technology.energy_table``. Formulas and sources:
``docs/model.md`` §Energy and §Area.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

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
)
from accelsim.energy.area import placement_overhead_mm2
from accelsim.energy.scaling import TechnologyScaling, technology_scaling
from accelsim.energy.sram import REFERENCE_NODE_NM, SramFigures, bank_figures, default_access_bits
from accelsim.energy.tables import (
    SramSection,
    dram_background_mw_per_gb_s,
    leakage_clock_mhz,
    sram_section_pj_per_byte,
)
from accelsim.errors import UnsupportedError
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
    leakage_by_component_pj: dict[str, float] = field(default_factory=dict)   # sums to leakage_pj
    dram_background_pj: float = 0.0

    @property
    def total_pj(self) -> float:
        return (self.mac_pj + self.rf_pj + sum(self.sram_pj.values()) + self.dram_pj + self.scale_pj
                + self.alu_pj + self.decompression_pj + self.leakage_pj + self.dram_background_pj)


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


#: Capacity (KiB) at which a table's own SRAM figure anchors the organisation model (Horowitz's 8 KB read).
SRAM_ANCHOR_KIB = 8.0


def technology_scaling_of(hw: HardwareConfig, table: EnergyTable) -> TechnologyScaling:
    """Factors from ``table``'s node and supply to the design's ``technology.node_nm`` / ``vdd_v``
    ([ref:Stillmaker17]; all 1 when the config gives no node)."""
    if table.node_nm is None:
        raise UnsupportedError(f"energy table {table.name!r} has no node_nm to scale from")
    return technology_scaling(float(table.node_nm), table.vdd_v, hw.technology.node_nm, hw.technology.vdd_v)


def sram_model_scaling_of(hw: HardwareConfig) -> TechnologyScaling:
    """Factors from the CACTI sweep's node (45 nm, nominal supply) to the design's node, for SRAM leakage and
    area (the design's own node when it states none: all 1)."""
    node = hw.technology.node_nm if hw.technology.node_nm is not None else REFERENCE_NODE_NM
    return technology_scaling(float(REFERENCE_NODE_NM), None, node, hw.technology.vdd_v)


def access_bits_of(level: MemoryLevel) -> int:
    """Bits one access of one bank moves: ``access_bits``, else the bank's share of ``bytes_per_cycle``."""
    return level.access_bits if level.access_bits is not None else default_access_bits(level.bytes_per_cycle,
                                                                                          level.banks)


def bank_of(level: MemoryLevel) -> SramFigures:
    """CACTI 7 figures (45 nm) of one bank of an on-chip level: ``size_kib / banks`` at :func:`access_bits_of`
    with the level's ``ports``."""
    return bank_figures(level.size_kib / level.banks, access_bits_of(level), REFERENCE_NODE_NM, level.ports)


@lru_cache(maxsize=None)
def _anchor_ratios(section: SramSection) -> tuple[float, float]:
    """(read, write) ratio of a table's own SRAM energy per byte at :data:`SRAM_ANCHOR_KIB` to CACTI's for the
    same capacity and the access width of the table's point nearest that capacity."""
    point = min(section.points, key=lambda p: abs(math.log(p.size_kib / SRAM_ANCHOR_KIB)))
    cacti = bank_figures(SRAM_ANCHOR_KIB, point.access_bits)
    return (sram_section_pj_per_byte(section, SRAM_ANCHOR_KIB) / cacti.read_pj_per_byte,
            sram_section_pj_per_byte(section, SRAM_ANCHOR_KIB, write=True) / cacti.write_pj_per_byte)


def sram_energy_pj_per_byte(table: EnergyTable, level: MemoryLevel) -> tuple[float, float]:
    """(read, write) energy in pJ/byte of an on-chip level (register file or SRAM) at the table's node, by
    organisation: CACTI 7's energy per byte of one bank (``size / banks`` accessed ``access_bits`` wide) times the
    ratio of the table's own SRAM figure to CACTI's at the anchor (8 KiB, the table's width), so an 8 KiB SRAM
    with the table's port width costs exactly the table's figure ([ref:Horowitz14] 10 pJ per 64-bit read) and
    other organisations follow CACTI's shape ([ref:CACTI7]). The config's figures win when given."""
    read_ratio, write_ratio = _anchor_ratios(_require_sram(table))
    bank = bank_of(level)
    read, write = bank.read_pj_per_byte * read_ratio, bank.write_pj_per_byte * write_ratio
    return (level.read_energy_pj_per_byte if level.read_energy_pj_per_byte is not None else read,
            level.write_energy_pj_per_byte if level.write_energy_pj_per_byte is not None else write)


def onchip_energy_pj_per_byte(hw: HardwareConfig, table: EnergyTable, level: MemoryLevel) -> tuple[float, float]:
    """(read, write) pJ/byte of an on-chip level at the design's node: :func:`sram_energy_pj_per_byte` times the
    node's energy factor; a figure the config gives is at the design's node already and is not scaled."""
    read, write = sram_energy_pj_per_byte(table, level)
    f = technology_scaling_of(hw, table).energy_factor
    return (read if level.read_energy_pj_per_byte is not None else read * f,
            write if level.write_energy_pj_per_byte is not None else write * f)


def _require_sram(table: EnergyTable) -> SramSection:
    if table.sram is None:
        raise UnsupportedError(f"energy table {table.name!r} has no SRAM energy figures")
    return table.sram


def dram_pj_per_byte(hw: HardwareConfig) -> float:
    """DRAM access energy per byte (read = write; background power excluded): ``8 × energy_pj_per_bit`` if
    configured, else the ``dram_types`` table (activate + read/write core + I/O per bit, IDD-current method on
    datasheet currents, [ref:MicronTN4101]; docs/energy-tables.md §DRAM)."""
    dram = hw.dram
    if dram.energy_pj_per_bit is not None:
        return 8 * dram.energy_pj_per_bit
    return dram_energy_pj_per_byte(dram.dram_type)


def dram_background_mw(hw: HardwareConfig) -> float:
    """Background plus refresh power of the DRAM in mW: ``background_mw`` if configured, else the ``dram_types``
    table's mW per GB/s (one device's active standby IDD3N and refresh IDD5 power over its peak bandwidth,
    [ref:MicronTN4101] on [ref:DRAMPower] / [ref:Li18] currents) x ``bandwidth_gb_s`` (as many devices as the
    bandwidth needs: an ASSUMPTION); 0 for a type a user table has no figure for or a config without
    ``dram_type``."""
    dram = hw.dram
    if dram.background_mw is not None:
        return dram.background_mw
    if dram.dram_type is None:
        return 0.0
    per_gb_s = dram_background_mw_per_gb_s(dram.dram_type)
    return per_gb_s * dram.bandwidth_gb_s if per_gb_s is not None else 0.0


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
    """Dynamic MAC-array energy per cycle at full activity in the widest compute mode (pJ/cycle, at the table's
    node), the base of the logic leakage power."""
    mode = widest_compute_mode(hw)
    peak = peak_macs_per_cycle(hw, mode.weight_bits, mode.activation_bits)
    return peak * mac_energy_pj(table, mode.weight_bits, mode.activation_bits, hw.precision.accumulator_bits)


def mac_array_leakage_mw(hw: HardwareConfig, table: EnergyTable) -> float:
    """Leakage power of the MAC array in mW at the design's node. The table's ``fraction`` f is leakage's share
    of logic power at full activity at its characterisation clock (Bit Fusion synthesis, 500 MHz:
    [ref:BitFusionRepo]), so leakage = f / (1 - f) x peak dynamic energy per cycle x that clock (the design's
    clock when the table states none), times the node's leakage-power factor ([ref:Stillmaker17])."""
    f = leakage_fraction(table)
    clock = leakage_clock_mhz(table) or hw.clock_mhz
    return (f / (1 - f) * peak_logic_pj_per_cycle(hw, table) * clock * 1e-3
            * technology_scaling_of(hw, table).leakage_power_factor)


def leakage_power_mw(hw: HardwareConfig, table: EnergyTable) -> dict[str, float]:
    """Leakage power of every component in mW at the design's node: the MAC array (:func:`mac_array_leakage_mw`);
    each on-chip level = banks x CACTI 7's leakage of one bank (ITRS-LOP cells, 45 nm, [ref:CACTI7]) x the node's
    leakage-power factor; the other logic (PE registers, scale unit, decompressor) at the MAC array's leakage per
    mm^2 times its cell area (:func:`cell_area_mm2`)."""
    areas = cell_area_mm2(hw, table)
    mac_mw = mac_array_leakage_mw(hw, table)
    density = mac_mw / areas["mac_array"] if areas.get("mac_array") else 0.0
    sram_factor = sram_model_scaling_of(hw).leakage_power_factor
    out: dict[str, float] = {}
    levels = hw.onchip_levels()
    for name, area in areas.items():
        if name == "mac_array":
            out[name] = mac_mw
        elif name in levels:
            level = levels[name]
            out[name] = level.banks * bank_of(level).leakage_mw * sram_factor
        else:
            out[name] = density * area
    return out


def _leakage_mw_cached(hw: HardwareConfig, table: EnergyTable) -> dict[str, float]:
    """:func:`leakage_power_mw` memoised on the (immutable) config and table objects (a few most recent pairs)."""
    key = (id(hw), id(table))
    entry = _LEAKAGE_CACHE.get(key)
    if entry is None or entry[0] is not hw or entry[1] is not table:
        if len(_LEAKAGE_CACHE) >= 16:
            _LEAKAGE_CACHE.pop(next(iter(_LEAKAGE_CACHE)))
        entry = _LEAKAGE_CACHE[key] = (hw, table, leakage_power_mw(hw, table))
    return entry[2]


_LEAKAGE_CACHE: dict[tuple[int, int], tuple[HardwareConfig, EnergyTable, dict[str, float]]] = {}


def leakage_by_component_pj(hw: HardwareConfig, table: EnergyTable, latency_cycles: float) -> dict[str, float]:
    """Leakage energy of every component in pJ over ``latency_cycles`` at the config's clock:
    power (mW) x cycles / clock (MHz) x 1e3."""
    return {name: mw * latency_cycles / hw.clock_mhz * 1e3 for name, mw in _leakage_mw_cached(hw, table).items()}


def leakage_pj(hw: HardwareConfig, table: EnergyTable, latency_cycles: float) -> float:
    """Leakage energy in pJ over ``latency_cycles``: the sum of :func:`leakage_by_component_pj`."""
    return sum(leakage_by_component_pj(hw, table, latency_cycles).values())


def layer_energy(hw: HardwareConfig, table: EnergyTable, act: LayerActivity) -> EnergyBreakdown:
    """Energy of one layer by component (pJ) at the design's node: table figures times the node's energy factor
    ([ref:Stillmaker17]); figures the config gives are used as they are. Register-file bytes are priced by the
    config's register-file level (its organisation, :func:`onchip_energy_pj_per_byte`) or, without one, as the
    PEs' own pipeline registers at the table's per-bit register energy."""
    acc_bits = hw.precision.accumulator_bits
    f = technology_scaling_of(hw, table).energy_factor
    mac = act.macs_issued * mac_energy_pj(table, act.weight_bits, act.activation_bits, acc_bits) * f \
        if act.macs_issued else 0.0
    rf = 0.0
    if act.rf_read_bytes or act.rf_write_bytes:
        rf_level = next((lv for lv in hw.memories.values() if lv.kind == "register_file"), None)
        if rf_level is not None:
            read, write = onchip_energy_pj_per_byte(hw, table, rf_level)
        else:
            read = write = register_file_energy_pj_per_byte(table) * f
        rf = act.rf_read_bytes * read + act.rf_write_bytes * write
    sram = {}
    for name, level in hw.memories.items():
        if level.kind != "sram":
            continue
        read, write = onchip_energy_pj_per_byte(hw, table, level)
        sram[name] = act.sram_read_bytes.get(name, 0.0) * read + act.sram_write_bytes.get(name, 0.0) * write
    dram = act.dram_bytes * dram_pj_per_byte(hw)
    scale = (act.requant_ops * requant_pj_per_op(hw, table, act.requant_mode, act.requant_per_channel)
             if act.requant_ops else 0.0)
    if hw.scale_unit.energy_pj_per_op is None:
        scale *= f
    alu = act.alu_ops * add_energy_pj(int_op_table(table), act.alu_bits) * f if act.alu_ops else 0.0
    decompression = (decompression_energy_pj(act.decompressed_bytes, decompression_pj_per_byte(hw, table))
                     if act.decompressed_bytes else 0.0)
    if hw.decompression is None or hw.decompression.energy_pj_per_byte is None:
        decompression *= f
    leak = leakage_by_component_pj(hw, table, act.latency_cycles)
    background = dram_background_mw(hw) * act.latency_cycles / hw.clock_mhz * 1e3
    return EnergyBreakdown(mac, rf, sram, dram, scale, alu, decompression, sum(leak.values()), leak, background)


# ------------------------------------------------------------------------------------------------------- area
def widest_compute_mode(hw: HardwareConfig):
    """The compute mode with the widest multiplier (largest weight_bits × activation_bits): the PE must do it."""
    return max(hw.precision.compute_modes(), key=lambda m: (m.weight_bits * m.activation_bits, m.throughput))


def pe_register_bits(hw: HardwareConfig, table: EnergyTable) -> int:
    """Pipeline-register bits of one systolic PE that no memory level and no PE figure accounts for: the weight,
    the input and the partial sum each PE latches ([ref:Chen16] §III), at the widest mode's widths, plus the
    second register of a double-buffered stationary operand (``stationary_buffers: 2``: weights for ws, inputs for
    is; [ref:Jouppi17] §2); 0 without a systolic array, when the config has a register-file level (its scratchpads
    are that level) or when the table prices whole PEs (their synthesized area includes the registers)."""
    array = hw.compute.systolic
    if array is None or table.mac is not None or any(lv.kind == "register_file" for lv in hw.memories.values()):
        return 0
    mode = widest_compute_mode(hw)
    stationary_bits = mode.weight_bits if array.dataflow == "ws" else mode.activation_bits
    return (mode.weight_bits + mode.activation_bits + hw.precision.accumulator_bits
            + (array.stationary_buffers - 1) * stationary_bits)


def area_mm2(hw: HardwareConfig, table: EnergyTable) -> dict[str, float]:
    """Area per component in mm^2 at the design's node: the cell and array areas of :func:`cell_area_mm2` plus
    ``logic_placement``, the row area that placing the table-derived standard-cell logic leaves to routing,
    clock buffers and filler (:func:`logic_placement_mm2`, [ref:PDUtil])."""
    cells = cell_area_mm2(hw, table)
    return {**cells, "logic_placement": logic_placement_mm2(hw, cells)}


def placed_logic_components(hw: HardwareConfig, cells: dict[str, float]) -> tuple[str, ...]:
    """The components of ``cells`` (:func:`cell_area_mm2`) that are standard-cell logic sized from the table:
    MAC array, PE registers, and the scale unit and decompressor unless the config gives their area (a given
    area is taken as a placed block). On-chip levels are hard macros and excluded."""
    given = config_given_logic_areas(hw)
    levels = hw.onchip_levels()
    return tuple(name for name in cells if name not in levels and not given.get(name, False))


def config_given_logic_areas(hw: HardwareConfig) -> dict[str, bool]:
    """Whether the config gives the area of each optional logic component itself (``scale_unit``,
    ``decompressor``): such an area is used as it is, neither node-scaled nor placed."""
    return {"scale_unit": hw.scale_unit.area_mm2 is not None,
            "decompressor": hw.decompression is not None and hw.decompression.area_mm2 is not None}


def logic_placement_mm2(hw: HardwareConfig, cells: dict[str, float]) -> float:
    """Placement overhead in mm^2 of the standard-cell logic among ``cells`` (:func:`placed_logic_components`):
    its cell area / core utilization minus the cells (:func:`accelsim.energy.area.placement_overhead_mm2`,
    utilization 0.70 [ref:PDUtil])."""
    return placement_overhead_mm2(sum(cells[name] for name in placed_logic_components(hw, cells)))


def cell_area_mm2(hw: HardwareConfig, table: EnergyTable) -> dict[str, float]:
    """Cell and array area per component in mm^2 at the design's node, before placement: ``mac_array`` (MAC
    area of the widest mode × MAC units), ``pe_registers`` (systolic PEs × :func:`pe_register_bits` × the
    table's register area per bit, when nonzero), each on-chip level (config ``area_mm2`` or by organisation),
    ``scale_unit`` (config, else :func:`scale_unit_area_mm2`), ``decompressor`` (config, else the assumption
    above). Leakage (:func:`leakage_power_mw`) is priced on these areas: routing space and filler do not leak
    like logic."""
    mode = widest_compute_mode(hw)
    acc = hw.precision.accumulator_bits
    areas = {"mac_array": multiplier_count(hw) * mac_area_um2(table, mode.weight_bits, mode.activation_bits, acc)
             / UM2_PER_MM2}
    register_bits = pe_register_bits(hw, table)
    if register_bits and table.register_file is not None and table.register_file.area_um2_per_bit is not None:
        areas["pe_registers"] = (hw.compute.systolic.pe_count * register_bits
                                 * table.register_file.area_um2_per_bit / UM2_PER_MM2)
    sram_area_factor = sram_model_scaling_of(hw).area_factor
    for name, level in hw.onchip_levels().items():
        if level.area_mm2 is not None:
            areas[name] = level.area_mm2
        else:           # by organisation, at the design's node: banks x one CACTI bank [ref:CACTI7]
            areas[name] = level.banks * bank_of(level).area_mm2 * sram_area_factor
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
    return logic_at_design_node(hw, table, areas)


def logic_at_design_node(hw: HardwareConfig, table: EnergyTable, areas: dict[str, float]) -> dict[str, float]:
    """``areas`` with every logic component computed from the table (not given by the config) scaled by the
    node's area factor ([ref:Stillmaker17]); on-chip levels are already at the design's node."""
    factor = technology_scaling_of(hw, table).area_factor
    given = config_given_logic_areas(hw)
    levels = hw.onchip_levels()
    return {name: area if name in levels or given.get(name, False) else area * factor
            for name, area in areas.items()}


def scale_unit_area_mm2(hw: HardwareConfig, table: EnergyTable) -> float:
    """Area of a separate scale unit in mm^2 at the table's node (:func:`area_mm2` scales it; formula:
    :func:`accelsim.hw.scale_unit.scale_unit_area_um2`): ``lanes`` ×
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
