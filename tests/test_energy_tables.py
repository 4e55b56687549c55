"""Energy/area tables: every lookup against its published figure or the closed form of its scaling rule.

The literals below are the sources' own numbers (Horowitz ISSCC 2014, Sze et al. 2017, the Accelergy Aladdin and
CACTI plug-ins, the Bit Fusion artifact's synthesis and CACTI CSVs), written out here, not read from the tables.
"""
from __future__ import annotations

import math
import typing
from pathlib import Path

import pytest
import yaml

from accelsim.config.hw import BUILTIN_ENERGY_TABLES, DramType, load_hw
from accelsim.energy import (
    add_energy_pj,
    builtin_table_names,
    dram_energy_pj_per_byte,
    leakage_fraction,
    load_energy_table,
    mac_area_um2,
    mac_energy_pj,
    mult_energy_pj,
    register_file_energy_pj_per_byte,
    requant_op_energy_pj,
    sram_area_mm2,
    sram_read_energy_pj_per_byte,
    sram_write_energy_pj_per_byte,
)
from accelsim.errors import ConfigError, UnsupportedError

TABLE_DIR = Path(__file__).resolve().parents[1] / "accelsim" / "energy" / "tables"
HW_CONFIGS = sorted((Path(__file__).resolve().parents[1] / "hw_configs").glob("*.yaml"))


@pytest.fixture(scope="module")
def h45():
    return load_energy_table("horowitz45")


@pytest.fixture(scope="module")
def cacti():
    return load_energy_table("cacti45_sram")


# --------------------------------------------------------------------------------------------- the tables
def test_builtin_tables_are_named_cited_and_sourced() -> None:
    names = builtin_table_names()
    assert set(names) == {p.stem for p in TABLE_DIR.glob("*.yaml")}
    assert {"horowitz45", "aladdin40", "bitfusion45", "cacti45_sram", "dram_types"} <= set(names)
    for name in names:
        table = load_energy_table(name)
        assert table.name == name and len(table.citation) > 40
        raw = yaml.safe_load((TABLE_DIR / f"{name}.yaml").read_text())
        for key, section in raw.items():
            if isinstance(section, dict) and "points" in section:
                assert all(p.get("source") and p.get("status") for p in section["points"]), (name, key)


def test_hw_layer_names_the_builtin_technology_tables() -> None:
    """accelsim.config.hw lists the technology tables (it may not import the energy layer): they must exist
    and carry compute figures; every DRAM type the schema allows has an energy figure."""
    for name in BUILTIN_ENERGY_TABLES:
        table = load_energy_table(name)
        assert table.mac is not None or table.int_mult is not None
        assert sram_read_energy_pj_per_byte(table, 64) > 0
    for dram_type in typing.get_args(DramType):
        assert dram_energy_pj_per_byte(dram_type) > 0


@pytest.mark.parametrize("path", HW_CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_has_energies_for_its_modes(path: Path) -> None:
    hw = load_hw(path)
    table = load_energy_table(hw.technology.energy_table)
    for mode in hw.precision.compute_modes():
        assert mac_energy_pj(table, mode.weight_bits, mode.activation_bits, hw.precision.accumulator_bits) > 0
    for level in hw.onchip_levels().values():
        assert sram_read_energy_pj_per_byte(table, level.size_kib) > 0
    assert requant_op_energy_pj(table, hw.scale_unit.rounding) > 0


# ------------------------------------------------------------------------------------ Horowitz ISSCC 2014
def test_horowitz_arithmetic_figures(h45) -> None:
    assert [add_energy_pj(h45, b) for b in (8, 16, 32)] == [0.03, 0.05, 0.1]
    assert mult_energy_pj(h45, 8, 8) == 0.2 and mult_energy_pj(h45, 32, 32) == 3.1
    assert h45.float32_add.energy_pj == 0.9 and h45.float32_mult.energy_pj == 3.7
    # int8 MAC: 0.2 + 0.03 = 0.23 pJ; 0.3 pJ with a 32-bit accumulator add ([ref:Horowitz14]).
    assert mac_energy_pj(h45, 8, 8, 8) == pytest.approx(0.23)
    assert mac_energy_pj(h45, 8, 8, 32) == pytest.approx(0.3)
    assert h45.sources[0] == "horowitz45"


def test_horowitz_scaling_rules_match_sze_ratios(h45) -> None:
    """Sze et al. 2017 §7.1.1: 8b vs 32b add 3.3x less energy / 3.8x less area; mult 15.5x / 12.4x;
    8b mult vs 32b float mult 18.5x. Untabulated widths follow 0.2 pJ x w x a / 64 and 0.03 pJ x b / 8."""
    assert add_energy_pj(h45, 32) / add_energy_pj(h45, 8) == pytest.approx(3.3, abs=0.05)
    assert mult_energy_pj(h45, 32, 32) / mult_energy_pj(h45, 8, 8) == pytest.approx(15.5)
    assert h45.float32_mult.energy_pj / mult_energy_pj(h45, 8, 8) == pytest.approx(18.5)
    assert mac_area_um2(h45, 32, 32, 32) / mac_area_um2(h45, 8, 8, 8) == pytest.approx((3495 + 137) / (282 + 36))
    assert 137 / 36 == pytest.approx(3.8, abs=0.01) and 3495 / 282 == pytest.approx(12.4, abs=0.01)
    assert mult_energy_pj(h45, 4, 4) == pytest.approx(0.05)  # "0.05 pJ for 4x4"
    assert mult_energy_pj(h45, 16, 16) == pytest.approx(0.2 * 256 / 64)
    assert mult_energy_pj(h45, 4, 8) == pytest.approx(0.2 * 32 / 64)
    assert add_energy_pj(h45, 24) == pytest.approx(0.03 * 24 / 8)
    assert mac_area_um2(h45, 8, 8, 32) == pytest.approx(282 + 137)
    assert mac_area_um2(h45, 4, 8, 16) == pytest.approx(282 * 32 / 64 + 67)


def test_horowitz_sram_dram_and_borrowed_sections(h45) -> None:
    # 8 KB, 64-bit read = 10 pJ = 0.16 pJ/bit; no write figure: writes cost a read.
    assert sram_read_energy_pj_per_byte(h45, 8) == pytest.approx(10 / 8)
    assert sram_write_energy_pj_per_byte(h45, 8) == pytest.approx(10 / 8)
    # Rule: size^0.475 away from 8 KB, the exponent of Horowitz's 8 KB -> 1 MB points (0.16 -> 1.6 pJ/bit).
    assert h45.sram.extrapolation_exponent == pytest.approx(math.log(1.6 / 0.16) / math.log(1024 / 8), abs=1e-3)
    assert sram_read_energy_pj_per_byte(h45, 1024) == pytest.approx(1.6 * 8, rel=0.03)  # 1.6 pJ/bit
    # Register file from aladdin40 (0.009 pJ/bit), leakage from bitfusion45.
    assert register_file_energy_pj_per_byte(h45) == pytest.approx(0.009 * 8)
    assert leakage_fraction(h45) == pytest.approx(257700 / 1885200, abs=1e-3)
    assert h45.register_file.from_table == "aladdin40" and h45.leakage.from_table == "bitfusion45"
    assert set(h45.sources) == {"horowitz45", "aladdin40", "bitfusion45", "cacti45_sram"}


def test_horowitz_sram_rule_agrees_with_cacti(h45, cacti) -> None:
    """Horowitz's 8 KB figure (0.16 pJ/bit) is the same order as CACTI's 0.20; extrapolated to 128 B it lands
    on CACTI's 128 B read (0.68 pJ per 32 bits)."""
    assert sram_read_energy_pj_per_byte(cacti, 8) / sram_read_energy_pj_per_byte(h45, 8) == pytest.approx(
        0.20 / 0.16, rel=0.03)
    assert sram_read_energy_pj_per_byte(h45, 0.125) == pytest.approx(0.68 / 4, rel=0.03)


# ---------------------------------------------------------------------------------------------- Aladdin 40 nm
def test_aladdin_intmac_matches_the_plugin() -> None:
    """Accelergy Aladdin plug-in, 5 ns rows: int8 intmac 0.561 pJ, int16 2.20 pJ (adder linear, mult (w/32)^2)."""
    table = load_energy_table("aladdin40")
    assert mac_energy_pj(table, 8, 8, 8) == pytest.approx(0.561, abs=5e-4)
    assert mac_energy_pj(table, 16, 16, 16) == pytest.approx(2.20, abs=5e-3)
    assert add_energy_pj(table, 8) == pytest.approx(0.0214, abs=1e-4)
    assert mult_energy_pj(table, 8, 8) == pytest.approx(0.539, abs=1e-3)
    assert register_file_energy_pj_per_byte(table) == pytest.approx(0.072)  # 8-bit register: 0.072 pJ
    assert mac_area_um2(table, 32, 32, 32) == pytest.approx(6350 + 278)  # library plug-in areas
    assert leakage_fraction(table) == pytest.approx((0.0023 + 0.08) / (0.0023 + 0.08 + 0.21 + 12.68), abs=1e-4)
    assert requant_op_energy_pj(table, "float32") == pytest.approx(24.4 + 2 * 0.0857)


# ------------------------------------------------------------------------------------------- Bit Fusion PEs
@pytest.mark.parametrize(
    "bits, pj_per_mac, area_um2",
    [(2, 0.044, 81), (4, 0.093, 192), (8, 0.236, 511), (16, 0.717, 1679)],
)
def test_bitfusion_fixed_pe_figures(bits: int, pj_per_mac: float, area_um2: float) -> None:
    """[ref:BitFusionRepo] systolic_array_synth.csv: pJ/MAC and um^2 per fixed-precision PE at 45 nm."""
    table = load_energy_table("bitfusion45")
    assert mac_energy_pj(table, bits, bits, 32) == pytest.approx(pj_per_mac, abs=1e-3)
    assert mac_area_um2(table, bits, bits) == pytest.approx(area_um2, abs=1)


def test_bitfusion_fixed_pe_mixed_width_and_growth() -> None:
    table = load_energy_table("bitfusion45")
    e = {b: mac_energy_pj(table, b, b, 32) for b in (2, 4, 8, 16)}
    assert [round(e[4] / e[2], 1), round(e[8] / e[4], 1), round(e[16] / e[8], 1)] == [2.1, 2.5, 3.0]
    assert mac_energy_pj(table, 4, 8, 32) == pytest.approx(math.sqrt(e[4] * e[8]))
    with pytest.raises(UnsupportedError, match="bitfusion45.*W3A8"):
        mac_energy_pj(table, 3, 8, 32)


def test_bitfusion_fusion_unit_energy_per_mac() -> None:
    """One Fusion Unit: 0.578 pJ per cycle doing 64 / (w x a) MACs: 0.578 / 0.144 / 0.036 pJ per MAC at
    8 / 4 / 2 bits, and 0.578 x w x a / 64 for every 2/4/8-bit pair."""
    table = load_energy_table("bitfusion45_fusion_unit")
    assert [round(mac_energy_pj(table, b, b, 32), 3) for b in (8, 4, 2)] == [0.578, 0.144, 0.036]
    for w in (2, 4, 8):
        for a in (2, 4, 8):
            assert mac_energy_pj(table, w, a, 32) == pytest.approx(0.578 * w * a / 64, rel=2e-3)
            assert mac_area_um2(table, w, a) == pytest.approx(1735, abs=1)
    assert leakage_fraction(table) == pytest.approx(949240 / 4622800, abs=1e-3)


# --------------------------------------------------------------------------------------------- CACTI SRAM
CACTI_POINTS = [  # size KiB, read pJ, write pJ per 32-bit access ([ref:BitFusionRepo] cacti_sweep.csv)
    (0.125, 0.68, 0.93), (0.5, 1.06, 2.34), (1, 1.13, 3.30), (2, 1.90, 3.64), (4, 3.43, 4.31), (8, 6.39, 5.56),
    (16, 9.98, 8.42),
]


@pytest.mark.parametrize("size_kib, read_pj, write_pj", CACTI_POINTS)
def test_cacti_points(cacti, size_kib: float, read_pj: float, write_pj: float) -> None:
    assert sram_read_energy_pj_per_byte(cacti, size_kib) == pytest.approx(read_pj / 4, abs=0.005 / 4)
    assert sram_write_energy_pj_per_byte(cacti, size_kib) == pytest.approx(write_pj / 4, abs=0.006 / 4)


def test_cacti_interpolation_and_extrapolation(cacti) -> None:
    # Between points: power law through the neighbours, here 1 KB (1.13) and 2 KB (1.90) at 1.5 KB.
    expected = 1.13 / 4 * 1.5 ** (math.log(1.90 / 1.13) / math.log(2))
    assert sram_read_energy_pj_per_byte(cacti, 1.5) == pytest.approx(expected, rel=0.005)
    # Above 16 KB: x (size / 16)^0.475.
    assert sram_read_energy_pj_per_byte(cacti, 256) == pytest.approx(9.98 / 4 * 16**0.475, rel=0.002)
    # Monotone in size.
    sizes = [0.0625, 0.125, 0.3, 1, 3, 8, 16, 100, 4096]
    values = [sram_read_energy_pj_per_byte(cacti, s) for s in sizes]
    assert values == sorted(values)
    with pytest.raises(UnsupportedError):
        sram_read_energy_pj_per_byte(cacti, 0)


def test_cacti_sram_area(cacti) -> None:
    """cacti_sweep.csv area_mm^2: 16 KB 0.1086, 1 KB 0.00882; linear in capacity beyond 16 KB."""
    assert sram_area_mm2(cacti, 16) == pytest.approx(0.108577)
    assert sram_area_mm2(cacti, 1) == pytest.approx(0.00882362, rel=1e-3)
    assert sram_area_mm2(cacti, 1024) == pytest.approx(0.108577 * 64)
    assert sram_area_mm2(load_energy_table("horowitz45"), 16) == sram_area_mm2(cacti, 16)
    with pytest.raises(UnsupportedError, match="cacti45_sram.*integer multiplier"):
        mac_energy_pj(cacti, 8, 8, 32)


# ------------------------------------------------------------------------------------------------------ DRAM
def test_dram_energy_by_type_and_unknown_type() -> None:
    """Access energy per byte is 8 x the table's pJ/bit (read = write); the derivation of every figure is checked
    in tests/test_dram_energy.py (IDD method on datasheet currents [ref:MicronTN4101])."""
    for dram_type in typing.get_args(DramType):
        table = load_energy_table("dram_types")
        assert dram_energy_pj_per_byte(dram_type) == 8 * table.dram_types[dram_type].energy_pj_per_bit
    # Ordering the physics fixes: stacked (HBM2) < LPDDR4X < LPDDR4 < LPDDR3 < DDR4 < DDR3 < LPDDR2 < LPDDR-333
    # per bit (lower voltages, shorter lines and higher pin rates amortise the same standby currents better).
    order = ["hbm2", "lpddr4x", "lpddr4", "lpddr3", "ddr4", "ddr3", "lpddr2", "lpddr"]
    values = [dram_energy_pj_per_byte(t) for t in order]
    assert values == sorted(values)
    with pytest.raises(UnsupportedError, match="ddr9.*lpddr4"):
        dram_energy_pj_per_byte("ddr9")


# ---------------------------------------------------------------------------------------- requantization
def test_requant_energy_closed_forms(h45) -> None:
    """32x32 multiply + shift + adds + clamp (shift, compare costed as a 32-bit add); float: fp32 mult + clamp."""
    assert requant_op_energy_pj(h45, "fixed_point") == pytest.approx(3.1 + 5 * 0.1)
    assert requant_op_energy_pj(h45, "fixed_point_single_round") == pytest.approx(3.1 + 4 * 0.1)
    assert requant_op_energy_pj(h45, "fixed_point_int64") == pytest.approx(0.2 * 32 * 16 / 64 + 4 * 0.1)
    assert requant_op_energy_pj(h45, "float32") == pytest.approx(3.7 + 2 * 0.1)
    assert requant_op_energy_pj(h45, "float32_recip") == pytest.approx(3.7 + 2 * 0.1)
    with pytest.raises(UnsupportedError, match="half_up"):
        requant_op_energy_pj(h45, "half_up")


# ----------------------------------------------------------------------------------------------- user tables
def test_user_table_with_borrowed_sections(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({
        "name": "mine", "citation": "my own synthesis, 2025", "node_nm": 28,
        "mac": {"points": [{"weight_bits": 8, "activation_bits": 8, "energy_pj": 0.1, "status": "published",
                            "source": "synthesis report"}]},
        "sram": {"from_table": "cacti45_sram"},
    }))
    table = load_energy_table(path)
    assert mac_energy_pj(table, 8, 8, 32) == 0.1
    assert sram_read_energy_pj_per_byte(table, 16) == pytest.approx(9.98 / 4, rel=1e-3)
    assert table.sources == ("mine", "cacti45_sram")
    with pytest.raises(UnsupportedError, match="'mine' has no register file"):
        register_file_energy_pj_per_byte(table)


@pytest.mark.parametrize("data, key_path", [
    ({"name": "x", "node_nm": 45}, "citation"),
    ({"name": "x", "citation": "c", "node_nm": 45, "sram": {"from_table": "nowhere"}}, "sram.from_table"),
    ({"name": "x", "citation": "c", "node_nm": 45, "leakge": {"fraction": 0.1}}, "leakge"),
    ({"name": "x", "citation": "c", "node_nm": 45, "leakage": {"fraction": 1.5, "status": "published",
                                                               "source": "s"}}, "leakage.fraction"),
    ({"name": "x", "citation": "c", "node_nm": 45, "int_add": {
        "reference_bits": 16, "scaling_source": "s",
        "points": [{"bits": 8, "energy_pj": 0.03, "status": "published", "source": "s"}]}}, "int_add"),
])
def test_user_table_errors_name_file_and_key(tmp_path: Path, data: dict, key_path: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_energy_table(path)
    assert info.value.file == str(path) and info.value.key_path == key_path
    assert str(path) in str(info.value)


def test_unknown_table_name() -> None:
    with pytest.raises(ConfigError, match="horowitz45"):
        load_energy_table("horowitz99")


@pytest.mark.parametrize("old, new, key, expected", [
    ("{bits: 8, energy_pj: 0.03,", "{bits: 8, energy_pj: .inf,", "energy_pj", "finite number"),
    ("{bits: 8, energy_pj: 0.03,", "{bits: 8, energy_pj: 1e300,", "energy_pj", "less than or equal to 1000000"),
    ("{bits: 8, energy_pj: 0.03,", "{bits: true, energy_pj: 0.03,", "bits", "valid integer"),
])
def test_a_user_table_with_absurd_values_is_refused(tmp_path, old, new, key, expected) -> None:
    """A table given by path is validated like a hardware config: finite, bounded energies, strict integers."""
    text = (Path(load_energy_table.__code__.co_filename).parent / "tables" / "horowitz45.yaml").read_text()
    assert old in text
    path = tmp_path / "mine.yaml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_energy_table(path)
    assert str(path) in str(info.value) and key in info.value.key_path and expected in str(info.value)
