"""Energy and area model against published per-event figures (docs/references.md) and closed-form counts."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accelsim.config.hw import load_hw, validate_hw
from accelsim.graph.builder import GraphBuilder
from accelsim.hw.energy_model import (
    area_mm2,
    energy_table_of,
    leakage_by_component_pj,
    leakage_pj,
    multiplier_count,
)
from accelsim.quant.params import QuantParams
from accelsim.simulate import simulate

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"
Q = QuantParams.per_tensor(0.05, 0)

# Horowitz ISSCC 2014, 45 nm [ref:Horowitz14]: 8b mult 0.2 pJ / 282 um2, 32b add 0.1 pJ / 137 um2.
HOROWITZ_MAC_W8A8_ACC32_PJ = 0.2 + 0.1
HOROWITZ_MAC_W8A8_ACC32_UM2 = 282 + 137
# LPDDR4 access energy: IDD method on Micron 6Gb LPDDR4-3200 currents [ref:MicronTN4101] [ref:DRAMPower],
# 2.353 activate + 4.565 read/write + 3.101 I/O = 10.019 pJ/bit (tools/make_dram_table.py; recomputed from the
# currents in tests/test_dram_energy.py).
LPDDR4_PJ_PER_BYTE = 8 * 10.019
# Bit Fusion fixed 8-bit 4x4 array synthesis: leakage 257.7 uW of 1885.2 uW total ([ref:BitFusionRepo]).
BITFUSION_LEAKAGE_FRACTION = 257700 / 1885200


def conv_graph(h=28, c=64, k=128, kernel=3, per_channel=False):
    b = GraphBuilder("g")
    x = b.input("x", (1, h, h, c), "int8", Q)
    wq = QuantParams.per_channel(np.full(k, 0.01), 0, axis=0) if per_channel else QuantParams.per_tensor(0.01)
    w = b.constant("w", None, "int8", wq, shape=(k, kernel, kernel, c))
    y = b.conv2d(x, w, None, Q, padding="SAME", name="conv")
    return b.build([y])


def scalesim_ws():
    return load_hw(CONFIGS / "scalesim_32x32_ws.yaml")


def test_mac_energy_is_macs_times_the_horowitz_mac():
    report = simulate(conv_graph(), scalesim_ws())
    row = report.layers.iloc[0]
    assert row["macs"] == 28 * 28 * 128 * 9 * 64
    assert row["energy_mac_pj"] == pytest.approx(row["macs"] * HOROWITZ_MAC_W8A8_ACC32_PJ)


def test_dram_energy_is_bytes_times_lpddr4_energy():
    report = simulate(conv_graph(), scalesim_ws())
    row = report.layers.iloc[0]
    assert row["energy_dram_pj"] == pytest.approx(
        (row["dram_read_bytes"] + row["dram_write_bytes"]) * LPDDR4_PJ_PER_BYTE)


def test_configured_sram_energy_overrides_the_table():
    data = scalesim_ws().model_dump(mode="python")
    data["memories"]["ifmap_sram"]["read_energy_pj_per_byte"] = 1.5
    data["memories"]["ifmap_sram"]["write_energy_pj_per_byte"] = 2.5
    hw = validate_hw(data, "")
    row = simulate(conv_graph(), hw).layers.iloc[0]
    assert row["energy_sram_ifmap_sram_pj"] == pytest.approx(
        1.5 * row["onchip_ifmap_sram_read_bytes"] + 2.5 * row["onchip_ifmap_sram_write_bytes"])


def test_leakage_is_power_times_time_from_the_leakage_share():
    hw = scalesim_ws()
    table = energy_table_of(hw)
    assert table.leakage.fraction == pytest.approx(BITFUSION_LEAKAGE_FRACTION, abs=5e-4)
    f = table.leakage.fraction
    # at full activity at Bit Fusion's 500 MHz, leakage is share f of the array's power: f/(1-f) x 1024 MACs x
    # 0.3 pJ x 500 MHz; over 1000 cycles of the config's 1000 MHz clock (1 us)
    mac_mw = f / (1 - f) * 1024 * HOROWITZ_MAC_W8A8_ACC32_PJ * 500 * 1e-3
    parts = leakage_by_component_pj(hw, table, 1000.0)
    assert parts["mac_array"] == pytest.approx(mac_mw * 1e-3 * 1e-6 * 1e12)
    assert set(parts) == {"mac_array", "pe_registers", "ifmap_sram", "filter_sram", "ofmap_sram", "scale_unit"}
    assert all(v > 0 for v in parts.values())
    assert leakage_pj(hw, table, 1000.0) == pytest.approx(sum(parts.values()))
    report = simulate(conv_graph(), hw)
    row = report.layers.iloc[0]
    assert row["energy_leakage_pj"] == pytest.approx(leakage_pj(hw, table, row["latency_cycles"]))
    assert sum(report.totals[f"energy_leakage_{name}_pj"] for name in parts) == \
        pytest.approx(report.totals["energy_leakage_pj"])


@pytest.mark.parametrize("config", ["hvx_690", "scalesim_32x32_ws", "nvdla_small", "ethos_u55_256"])
def test_energy_components_sum_to_the_total(config):
    report = simulate(conv_graph(), load_hw(CONFIGS / f"{config}.yaml"))
    components = [c for c in report.layers.columns if c.startswith("energy_") and c != "energy_pj"]
    assert {"energy_mac_pj", "energy_rf_pj", "energy_dram_pj", "energy_scale_pj", "energy_alu_pj",
            "energy_decompression_pj", "energy_leakage_pj"} <= set(components)
    np.testing.assert_allclose(report.layers[components].sum(axis=1), report.layers["energy_pj"], rtol=1e-12)
    total_components = [k for k in report.totals if k.startswith("energy_") and k != "energy_pj"
                        and not (k.startswith("energy_leakage_") and k != "energy_leakage_pj")]
    assert sum(report.totals[k] for k in total_components) == pytest.approx(report.totals["energy_pj"])
    assert all(report.layers[c].ge(0).all() for c in components)


def test_mac_array_area_is_pe_count_times_the_horowitz_mac_area():
    hw = scalesim_ws()
    areas = area_mm2(hw, energy_table_of(hw))
    assert multiplier_count(hw) == 32 * 32
    assert areas["mac_array"] == pytest.approx(1024 * HOROWITZ_MAC_W8A8_ACC32_UM2 / 1e6)
    report = simulate(conv_graph(), hw)
    assert report.totals["area_mm2"] == pytest.approx(sum(areas.values()))
    assert report.totals["area_mac_array_mm2"] == pytest.approx(areas["mac_array"])


def test_hvx_multipliers_are_contexts_times_vrmpy_macs():
    # 4 contexts x 256 8x8 MACs per packet (vrmpy, [ref:QEMUHexagon])
    assert multiplier_count(load_hw(CONFIGS / "hvx_690.yaml")) == 4 * 256


@pytest.mark.parametrize("weight_bits, activation_bits, pj_per_mac", [
    (8, 8, 0.2 + 0.1),
    # [ref:Sze17] (Sze et al. 2017 scaling of Horowitz): E_mult = 0.2 pJ · w·a / 64, plus the 32-bit add
    (8, 16, 0.2 * 8 * 16 / 64 + 0.1),
    (16, 16, 0.2 * 16 * 16 / 64 + 0.1),
])
def test_mac_energy_follows_the_precision_mode(weight_bits, activation_bits, pj_per_mac):
    dtype = {8: "int8", 16: "int16"}
    b = GraphBuilder("g")
    x = b.input("x", (1, 14, 14, 64), dtype[activation_bits], Q)
    w = b.constant("w", None, dtype[weight_bits], QuantParams.per_tensor(0.01), shape=(64, 3, 3, 64))
    y = b.conv2d(x, w, None, Q, padding="SAME", name="conv")
    row = simulate(b.build([y]), load_hw(CONFIGS / "tpu_v1.yaml")).layers.iloc[0]
    assert row["energy_mac_pj"] / row["macs"] == pytest.approx(pj_per_mac * TPU_28NM_ENERGY_FACTOR)


def _energy_poly(e, f, g, vdd):
    return e * vdd**2 + f * vdd + g


# tpu_v1 is at 28 nm: Stillmaker & Baas 2017 [ref:Stillmaker17] Table 5 energy polynomials, HP 32 nm
# (0.8367, -0.4341, 0.1701) and HP 20 nm (0.373, -0.1582, 0.04104) at 0.9 V, a third of the way from 32 to 20
# nm, over HP 45 nm (1.018, -0.3107, 0.1539) at Horowitz's 0.9 V.
TPU_28NM_ENERGY_FACTOR = ((2 / 3 * _energy_poly(0.8367, -0.4341, 0.1701, 0.9)
                           + 1 / 3 * _energy_poly(0.373, -0.1582, 0.04104, 0.9))
                          / _energy_poly(1.018, -0.3107, 0.1539, 0.9))


def test_storage_only_int4_weights_multiply_at_8_bits():
    hvx = load_hw(CONFIGS / "hvx_690.yaml")
    rows = {bits: simulate(conv_graph_bits(bits), hvx).layers.iloc[0] for bits in (4, 8)}
    assert rows[4]["energy_mac_pj"] == pytest.approx(rows[8]["energy_mac_pj"])
    assert rows[4]["compute_cycles"] > rows[8]["compute_cycles"]        # plus the unpacking cycles


def conv_graph_bits(weight_bits):
    b = GraphBuilder("g")
    x = b.input("x", (1, 28, 28, 64), "int8", Q)
    w = b.constant("w", None, {4: "int4", 8: "int8"}[weight_bits], QuantParams.per_tensor(0.01),
                   shape=(128, 3, 3, 64))
    return b.build([b.conv2d(x, w, None, Q, padding="SAME", name="conv")])
