"""Technology scaling ([ref:Stillmaker17]) and memories by organisation ([ref:CACTI7]) against the papers' own
figures, written out here independently of accelsim/energy/models/*.yaml."""
from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.config.hw import load_hw, validate_hw
from accelsim.energy.scaling import area_factor, energy_factor, energy_polynomial, technology_scaling
from accelsim.energy.sram import bank_figures
from accelsim.errors import AccelsimError
from accelsim.graph.builder import GraphBuilder
from accelsim.hw.energy_model import (
    area_mm2,
    energy_table_of,
    leakage_power_mw,
    onchip_energy_pj_per_byte,
    pe_register_bits,
    technology_scaling_of,
)
from accelsim.quant.params import QuantParams
from accelsim.simulate import simulate

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"
Q = QuantParams.per_tensor(0.05, 0)

# Horowitz ISSCC 2014, 45 nm, 0.9 V [ref:Horowitz14]: 8b mult 0.2 pJ + 32b add 0.1 pJ; 8 KB SRAM 10 pJ per 64 b.
HOROWITZ_MAC_PJ = 0.2 + 0.1
HOROWITZ_SRAM_PJ_PER_BYTE = 10 / 8
# LPDDR4X per byte (dram_types table: 7.84 pJ/bit, IDD method + I/O at VDDQ 0.6 V, tools/make_dram_table.py).
LPDDR4X_PJ_PER_BYTE = 8 * 7.84

# Stillmaker & Baas 2017, Table 5 energy coefficients (e, f, g) of E(V) = e V^2 + f V + g: the HP rows used.
TABLE5 = {65: (3.755, -4.398, 1.975), 45: (1.018, -0.3107, 0.1539), 32: (0.8367, -0.4341, 0.1701),
          20: (0.373, -0.1582, 0.04104), 16: (0.2958, -0.1241, 0.03024), 10: (0.2068, -0.09311, 0.02375),
          7: (0.1776, -0.09097, 0.02447)}
NOMINAL_V = {65: 1.1, 45: 1.0, 32: 0.9, 20: 0.9, 16: 0.85, 10: 0.75, 7: 0.7}


def e_poly(node, vdd):
    e, f, g = TABLE5[node]
    return e * vdd * vdd + f * vdd + g


def test_energy_polynomials_reproduce_the_papers_erratum_example():
    # Erratum to §4.2.1: EnergyFactor(HP 32 nm, 0.9 V) = 0.4571, EnergyFactor(65 nm, 1.3 V) = 2.604, so 1 pJ/op at
    # 65 nm, 1.3 V is 0.1755 pJ/op at 32 nm, 0.9 V.
    assert energy_polynomial(32, 0.9) == pytest.approx(0.4571, abs=1e-4)
    assert energy_polynomial(65, 1.3) == pytest.approx(2.604, abs=1e-3)
    assert energy_factor(65, 1.3, 32, 0.9) == pytest.approx(0.1755, abs=1e-4)


def test_area_factors_are_the_papers_table():
    assert area_factor(45, 7) == pytest.approx(0.059)
    assert area_factor(45, 65) == pytest.approx(1.5)
    assert area_factor(65, 45) == pytest.approx(0.66)
    assert area_factor(45, 16) == pytest.approx(0.19)
    assert area_factor(45, 45) == 1.0
    # 28 nm lies between the 32 and 20 nm columns: log-interpolated
    assert 0.21 < area_factor(45, 28) < 0.46


@pytest.mark.parametrize("node", [7, 16, 65])
def test_scaled_mac_and_sram_byte_equal_the_equations_output(node):
    hw = load_hw(CONFIGS / "scalesim_32x32_ws.yaml").with_values({"technology.node_nm": float(node)})
    table = energy_table_of(hw)
    factor = e_poly(node, NOMINAL_V[node]) / e_poly(45, 0.9)       # Horowitz's figures are at 0.9 V
    assert technology_scaling_of(hw, table).energy_factor == pytest.approx(factor)
    row = simulate(conv_graph(), hw).layers.iloc[0]
    assert row["energy_mac_pj"] / row["macs"] == pytest.approx(HOROWITZ_MAC_PJ * factor)
    level = _sram_8kib_64bit(hw)
    read, write = onchip_energy_pj_per_byte(hw, table, level)
    assert read == pytest.approx(HOROWITZ_SRAM_PJ_PER_BYTE * factor)


def test_28nm_is_interpolated_between_32_and_20_nm():
    s = technology_scaling(45, 0.9, 28, None)
    expected = (2 / 3 * e_poly(32, 0.9) + 1 / 3 * e_poly(20, 0.9)) / e_poly(45, 0.9)
    assert s.to_vdd_v == pytest.approx(0.9)
    assert s.energy_factor == pytest.approx(expected)


@pytest.mark.parametrize("node", [None, 45.0])
def test_at_45nm_mac_and_sram_byte_are_horowitz(node):
    hw = load_hw(CONFIGS / "scalesim_32x32_ws.yaml").with_values({"technology.node_nm": node})
    table = energy_table_of(hw)
    s = technology_scaling_of(hw, table)
    assert (s.energy_factor, s.leakage_power_factor, s.area_factor) == (1.0, 1.0, 1.0)
    row = simulate(conv_graph(), hw).layers.iloc[0]
    assert row["energy_mac_pj"] / row["macs"] == pytest.approx(HOROWITZ_MAC_PJ)
    read, write = onchip_energy_pj_per_byte(hw, table, _sram_8kib_64bit(hw))
    assert (read, write) == (pytest.approx(HOROWITZ_SRAM_PJ_PER_BYTE), pytest.approx(HOROWITZ_SRAM_PJ_PER_BYTE))


def test_the_supply_voltage_enters_the_energy_factor():
    hw = load_hw(CONFIGS / "eyeriss_v1.yaml")
    s = technology_scaling_of(hw, energy_table_of(hw))
    assert s.to_vdd_v == 1.0
    assert s.energy_factor == pytest.approx(e_poly(65, 1.0) / e_poly(45, 0.9))


def test_report_records_the_scaling():
    hw = load_hw(CONFIGS / "tpu_v1.yaml")
    meta = simulate(conv_graph(), hw).metadata["technology_scaling"]
    assert meta["from_node_nm"] == 45 and meta["to_node_nm"] == 28
    assert "Stillmaker" in meta["source"]
    assert {"energy_factor", "leakage_power_factor", "area_factor", "from_vdd_v", "to_vdd_v"} <= set(meta)


def test_a_node_outside_the_equations_is_a_clear_error():
    hw = load_hw(CONFIGS / "tpu_v1.yaml").with_values({"technology.node_nm": 3.0})
    with pytest.raises(AccelsimError, match="outside the scaling equations"):
        simulate(conv_graph(), hw)


# ----------------------------------------------------------------------------------------- memories by organisation
def test_cacti_node_ratios_agree_with_the_scaling_equations():
    # Held-out check: the CACTI sweep's own 32 and 65 nm energies (not used by the model) against the equations
    # at nominal supplies, for small, medium and large arrays: within 30 %.
    for node in (32, 65):
        factor = e_poly(node, NOMINAL_V[node]) / e_poly(45, NOMINAL_V[45])
        for kib in (1, 64, 4096):
            ratio = bank_figures(kib, 64, node).read_energy_pj / bank_figures(kib, 64, 45).read_energy_pj
            assert ratio == pytest.approx(factor, rel=0.30), (node, kib, ratio, factor)


def test_a_24mib_banked_buffer_costs_far_less_per_byte_than_lpddr4x():
    hw = load_hw(CONFIGS / "tpu_v1.yaml").with_values({"technology.node_nm": None})     # priced at 45 nm
    table = energy_table_of(hw)
    ub = hw.memories["unified_buffer"]
    one_bank, _ = onchip_energy_pj_per_byte(hw, table, ub)
    banked, _ = onchip_energy_pj_per_byte(hw, table, ub.model_copy(update={"banks": 32}))
    assert one_bank < LPDDR4X_PJ_PER_BYTE
    assert banked < one_bank / 2
    assert banked < LPDDR4X_PJ_PER_BYTE / 4


def test_energy_per_byte_grows_with_bank_size_and_area_with_capacity():
    small, large = bank_figures(4, 64), bank_figures(4096, 64)
    assert large.read_pj_per_byte > 4 * small.read_pj_per_byte
    assert 500 < large.area_mm2 / small.area_mm2 < 2000          # ~ capacity ratio 1024
    assert large.leakage_mw > 500 * small.leakage_mw


def test_every_component_leaks_and_leakage_scales_with_the_node():
    hw45 = load_hw(CONFIGS / "gemmini_default.yaml")
    hw7 = hw45.with_values({"technology.node_nm": 7.0})
    l45, l7 = leakage_power_mw(hw45, energy_table_of(hw45)), leakage_power_mw(hw7, energy_table_of(hw7))
    # every cell / array component leaks; the placement space of the logic (routing, filler) does not
    assert set(l45) == set(area_mm2(hw45, energy_table_of(hw45))) - {"logic_placement"}
    assert all(v > 0 for v in l45.values())
    p45, p7 = technology_scaling(45, 1.0, 7, None), technology_scaling(45, 0.9, 7, None)
    assert l7["scratchpad"] == pytest.approx(l45["scratchpad"] * p45.leakage_power_factor)
    assert l7["mac_array"] == pytest.approx(l45["mac_array"] * p7.leakage_power_factor)


def test_areas_scale_with_the_node():
    hw45 = load_hw(CONFIGS / "gemmini_default.yaml")
    hw16 = hw45.with_values({"technology.node_nm": 16.0})
    a45, a16 = area_mm2(hw45, energy_table_of(hw45)), area_mm2(hw16, energy_table_of(hw16))
    for name in a45:
        assert a16[name] == pytest.approx(a45[name] * 0.19), name


def test_systolic_pe_registers_are_charged_without_a_register_file_level():
    # tpu_v1 has no register-file level: each MAC's register traffic is priced at Aladdin's 0.009 pJ/bit register
    # [ref:AccelergyPlugins] scaled to 28 nm.
    hw = load_hw(CONFIGS / "tpu_v1.yaml")
    row = simulate(conv_graph(), hw).layers.iloc[0]
    factor = technology_scaling_of(hw, energy_table_of(hw)).energy_factor
    assert row["rf_read_bytes"] > 0
    assert row["energy_rf_pj"] == pytest.approx((row["rf_read_bytes"] + row["rf_write_bytes"]) * 0.072 * factor)


def _sram_8kib_64bit(hw):
    return hw.memories["ifmap_sram"].model_copy(update={"size_kib": 8.0, "banks": 1, "access_bits": 64,
                                                        "read_energy_pj_per_byte": None,
                                                        "write_energy_pj_per_byte": None})


def conv_graph():
    b = GraphBuilder("g")
    x = b.input("x", (1, 28, 28, 64), "int8", Q)
    w = b.constant("w", None, "int8", QuantParams.per_tensor(0.01), shape=(128, 3, 3, 64))
    return b.build([b.conv2d(x, w, None, Q, padding="SAME", name="conv")])


def test_access_bits_is_a_checked_config_key():
    data = load_hw(CONFIGS / "gemmini_default.yaml").model_dump(mode="python")
    data["memories"]["scratchpad"]["access_bits"] = 4
    with pytest.raises(AccelsimError, match="access_bits"):
        validate_hw(data, "x.yaml")


def test_sweep_points_are_returned_exactly_and_ports_cost_more():
    # An exact sweep point (read straight from the shipped YAML) comes back unchanged: 45 nm, 8 KiB, 64-bit port.
    import yaml

    from accelsim.energy import sram

    path = Path(sram.__file__).parent / "models" / "cacti7_sram.yaml"
    rows = yaml.safe_load(path.read_text())["points"]
    row = next(r for r in rows if (r["node_nm"], r["size_kib"], r["access_bits"], r["ports"]) == (45, 8, 64, 1))
    f = bank_figures(8, 64)
    assert (f.read_energy_pj, f.write_energy_pj, f.leakage_mw, f.area_mm2) == pytest.approx(
        (row["read_energy_pj"], row["write_energy_pj"], row["leakage_mw"], row["area_mm2"]))
    assert {r["node_nm"] for r in rows} == {22, 32, 45, 65, 90}
    # a read port plus a write port: more area, energy and leakage than one read-write port
    one, two = bank_figures(64, 64), bank_figures(64, 64, 45, 2)
    assert two.area_mm2 > 1.3 * one.area_mm2 and two.read_energy_pj > one.read_energy_pj
    assert two.leakage_mw > one.leakage_mw
    hw = load_hw(CONFIGS / "gemmini_default.yaml")
    dual = hw.with_values({"memories.scratchpad.ports": 2})
    assert area_mm2(dual, energy_table_of(dual))["scratchpad"] > area_mm2(hw, energy_table_of(hw))["scratchpad"]


def test_systolic_pe_registers_take_area_unless_a_level_or_the_pe_figure_holds_them():
    # scalesim_32x32_ws (45 nm, W8A8, 32-bit accumulators): 1024 PEs x (8 + 8 + 32) bits x Aladdin's 5.98 um^2
    # per register bit [ref:AccelergyPlugins]
    hw = load_hw(CONFIGS / "scalesim_32x32_ws.yaml")
    assert area_mm2(hw, energy_table_of(hw))["pe_registers"] == pytest.approx(1024 * 48 * 5.98 / 1e6)
    for config in ("eyeriss_v1", "bitfusion", "hvx_690"):   # spads are a level / Bit Fusion PEs / no array
        hw = load_hw(CONFIGS / f"{config}.yaml")
        assert "pe_registers" not in area_mm2(hw, energy_table_of(hw)), config


def test_a_double_buffered_stationary_operand_adds_its_register():
    # a second stationary register per PE ([ref:Jouppi17] §2): + 8 weight bits (ws) or + 8 input bits (is) in W8A8
    hw = load_hw(CONFIGS / "scalesim_32x32_ws.yaml")
    double = hw.with_values({"compute.systolic.stationary_buffers": 2})
    assert area_mm2(double, energy_table_of(double))["pe_registers"] == pytest.approx(1024 * 56 * 5.98 / 1e6)
    tpu = load_hw(CONFIGS / "tpu_v1.yaml")                  # W16A16 widest mode: 16 + 16 + 32 + 16 bits
    assert tpu.compute.systolic.stationary_buffers == 2
    assert pe_register_bits(tpu, energy_table_of(tpu)) == 16 + 16 + 32 + 16
    wide = hw.with_values({"compute.systolic.dataflow": "is", "compute.systolic.stationary_buffers": 2,
                           "precision.accumulator_bits": 40,
                           "precision.modes": [{"weight_bits": 8, "activation_bits": 16, "throughput": 1.0}]})
    assert pe_register_bits(wide, energy_table_of(wide)) == 8 + 16 + 40 + 16    # the stationary inputs: 16 bits


# Micron datasheet currents as DRAMPower ships them [ref:DRAMPower]: DDR3-1600 x8 (IDD3N 45 mA, IDD5 170 mA, 1.5 V,
# tRFC 88 / tREFI 6240 clocks, 1.6 GB/s per device).
DDR3_BACKGROUND_MW_PER_GB_S = (45 * 1.5 + (170 - 45) * 1.5 * 88 / 6240) / 1.6


def test_dram_background_power_is_reported_apart_and_added_to_the_total():
    from accelsim.energy.tables import dram_background_mw_per_gb_s

    assert dram_background_mw_per_gb_s("ddr3") == pytest.approx(DDR3_BACKGROUND_MW_PER_GB_S, rel=1e-3)
    # DRAMsim3 HBM2 channel [ref:Li18]: 1.2 V x IDD3N 55 mA + refresh 1.2 x (250 - 55) x 260 / 3900, over 32 GB/s.
    assert dram_background_mw_per_gb_s("hbm2") == pytest.approx((1.2 * 55 + 1.2 * 195 * 260 / 3900) / 32, rel=1e-3)
    hw = load_hw(CONFIGS / "tpu_v1.yaml")                                   # DDR3, 34 GB/s, 700 MHz
    report = simulate(conv_graph(), hw)
    row = report.layers.iloc[0]
    seconds = row["latency_cycles"] / (hw.clock_mhz * 1e6)
    expected_pj = dram_background_mw_per_gb_s("ddr3") * 34 * 1e-3 * seconds * 1e12
    assert row["energy_dram_background_pj"] == pytest.approx(expected_pj)
    assert report.totals["energy_dram_background_pj"] == pytest.approx(report.layers["energy_dram_background_pj"].sum())
    own = simulate(conv_graph(), hw.with_values({"memories.dram.background_mw": 100.0})).layers.iloc[0]
    assert own["energy_dram_background_pj"] == pytest.approx(100e-3 * seconds * 1e12)
    assert own["energy_pj"] - row["energy_pj"] == pytest.approx(own["energy_dram_background_pj"] - expected_pj)
