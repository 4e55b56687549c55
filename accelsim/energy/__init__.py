"""Energy and area: named, cited tables shipped as YAML data and pure lookup functions (``accelsim.energy.tables``),
technology scaling between nodes (``accelsim.energy.scaling``) and memories by organisation from a shipped CACTI 7
sweep (``accelsim.energy.sram``)."""
from __future__ import annotations

from accelsim.energy.tables import (
    EnergyTable,
    add_energy_pj,
    builtin_table_names,
    dram_energy_pj_per_byte,
    leakage_clock_mhz,
    leakage_fraction,
    load_energy_table,
    mac_area_um2,
    mac_energy_pj,
    mult_energy_pj,
    register_file_energy_pj_per_byte,
    requant_op_energy_pj,
    sram_area_mm2,
    sram_read_energy_pj_per_byte,
    sram_section_pj_per_byte,
    sram_write_energy_pj_per_byte,
)

__all__ = [
    "EnergyTable",
    "add_energy_pj",
    "builtin_table_names",
    "dram_energy_pj_per_byte",
    "leakage_clock_mhz",
    "leakage_fraction",
    "load_energy_table",
    "mac_area_um2",
    "mac_energy_pj",
    "mult_energy_pj",
    "register_file_energy_pj_per_byte",
    "requant_op_energy_pj",
    "sram_area_mm2",
    "sram_read_energy_pj_per_byte",
    "sram_section_pj_per_byte",
    "sram_write_energy_pj_per_byte",
]
