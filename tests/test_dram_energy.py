"""DRAM energy per bit and background power by type (``dram_types`` table, ``tools/make_dram_table.py``).

The closed forms below are written out independently of the generator: Micron TN-41-01's IDD-current method
[ref:MicronTN4101] on the datasheet currents (as DRAMPower's memspecs [ref:DRAMPower] and DRAMsim3's configs
[ref:Li18] ship them, the literals copied from those files), and the I/O formula of docs/energy-tables.md §DRAM.
The cross-checks use data the derivation does not use: LPDDR4's VDDQ read current, and published totals.
"""
from __future__ import annotations

import importlib.util
import sys
import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

from accelsim.config.hw import DramType, load_hw
from accelsim.energy import dram_energy_pj_per_byte
from accelsim.energy.tables import DramFigure, dram_background_mw_per_gb_s, dram_figure
from accelsim.hw.energy_model import dram_background_mw, dram_pj_per_byte

ROOT = Path(__file__).resolve().parents[1]
HIT = 0.5        # row-buffer hit rate (the table's stated assumption)


def _ddr3_expected() -> dict[str, float]:
    """Micron 1Gb DDR3-1600 x8 (MICRON_1Gb_DDR3-1600_8bit_G): VDD 1.5 V, IDD0 70, IDD2N 45, IDD3N 45, IDD4R 140,
    IDD4W 145, IDD5 170 mA; tCK 1.25 ns, tRC 38, tRAS 28, tRFC 88, tREFI 6240 clocks; x8, BL8 in 4 clocks."""
    v, tck = 1.5, 1.25
    e_act = v * (70 * 38 * tck - 45 * 28 * tck - 45 * 10 * tck)          # pJ per activation (mA x ns x V)
    burst_ns, bits = 4 * tck, 8 * 8
    e_rw = v * ((140 - 45) + (145 - 45)) / 2 * burst_ns                   # mean of read and write, pJ per burst
    # SSTL_15: (VDDQ/2)^2 / (Ron 34 + Rtt 60) per pin on every bit at 1.6 Gb/s; 0.5 x 3 pF x VDDQ^2 charging.
    io = (0.75 ** 2 / 94 * 1e3) / 1.6 + 0.5 * 3.0 * 1.5 ** 2
    standby, refresh = v * 45, v * (170 - 45) * 88 / 6240                 # mW
    return {"activate": (1 - HIT) * e_act / bits, "read_write": e_rw / bits, "io": io,
            "background_mw_per_gb_s": (standby + refresh) / 1.6}


def test_ddr3_recomputed_from_the_micron_currents() -> None:
    exp = _ddr3_expected()
    fig = dram_figure("ddr3")
    assert fig.activate_pj_per_bit == pytest.approx(exp["activate"], abs=1e-3)      # 13.9 pJ/bit
    assert fig.read_write_pj_per_bit == pytest.approx(exp["read_write"], abs=1e-3)  # 11.4 pJ/bit
    assert fig.io_pj_per_bit == pytest.approx(exp["io"], abs=1e-3)                  # 7.1 pJ/bit
    total = exp["activate"] + exp["read_write"] + exp["io"]
    assert dram_energy_pj_per_byte("ddr3") == pytest.approx(8 * total, rel=1e-4)
    assert fig.background_mw_per_gb_s == pytest.approx(exp["background_mw_per_gb_s"], rel=1e-4)
    assert fig.status == "derived" and "MICRON_1Gb_DDR3-1600_8bit_G" in fig.source


def test_hbm2_recomputed_from_the_dramsim3_currents() -> None:
    """DRAMsim3 HBM2_8Gb_x128: VDD 1.2 V, IDD0 65, IDD2N 40, IDD3N 55, IDD4R 390, IDD4W 500, IDD5AB 250 mA; tCK 1 ns,
    tRAS 34 + tRP 14 = tRC 48, tRFC 260, tREFI 3900; x128, BL4 in 2 clocks (2 Gb/s per pin, 32 GB/s)."""
    e_act = 1.2 * (65 * 48 - 55 * 34 - 40 * 14)
    e_rw = 1.2 * ((390 - 55) + (500 - 55)) / 2 * 2
    io = 0.5 * 0.5 * 1.2 ** 2                                             # unterminated, 0.5 pF interposer
    expected = (1 - HIT) * e_act / 512 + e_rw / 512 + io
    assert dram_energy_pj_per_byte("hbm2") / 8 == pytest.approx(expected, rel=1e-3)
    background = (1.2 * 55 + 1.2 * (250 - 55) * 260 / 3900) / 32
    assert dram_background_mw_per_gb_s("hbm2") == pytest.approx(background, rel=1e-3)
    assert dram_figure("hbm2").status == "unconfirmed"                    # tool values, no named datasheet


def test_lpddr4_io_formula_against_the_datasheet_vddq_read_current() -> None:
    """Held-out check: Micron's LPDDR4-3200 IDD4RQ (VDDQ current during reads) is 150 mA at 1.1 V; over one
    16-bit x BL16 burst (8 clocks of 0.625 ns) that is 1.1 x 150 x 5 / 256 = 3.22 pJ/bit of interface energy,
    a figure the derivation does not use. The model's I/O term (LVSTL termination + line charging) within 30 %."""
    measured = 1.1 * 150 * 5.0 / 256
    model = dram_figure("lpddr4").io_pj_per_bit
    assert model == pytest.approx(measured, rel=0.30)


@pytest.mark.parametrize("dram_type, published_pj_per_bit", [
    ("ddr3", 640 / 32),   # Horowitz ISSCC 2014: 640 pJ per 32-bit DRAM read [ref:Horowitz14]
    ("lpddr", 40),        # Malladi et al. ISCA 2012, via the Accelergy plug-in [ref:AccelergyPlugins]
    ("lpddr2", 40),       # the same figure: Malladi et al. compare DDR3 with LPDDR2
    ("lpddr4", 8),        # Accelergy plug-in "public data" [ref:AccelergyPlugins]
    ("gddr5", 14),        # O'Connor et al. MICRO 2017, via the Accelergy plug-in
    ("hbm2", 3.9),        # O'Connor et al. MICRO 2017, via the Accelergy plug-in
])
def test_derived_access_energy_within_2x_of_published_totals(dram_type: str, published_pj_per_bit: float) -> None:
    """The published totals are not inputs of the derivation; each is a different system and access pattern, so
    the check is a factor 2, not a fit."""
    ratio = dram_energy_pj_per_byte(dram_type) / 8 / published_pj_per_bit
    assert 0.5 <= ratio <= 2.0, ratio


def test_every_type_has_access_components_and_background() -> None:
    for dram_type in typing.get_args(DramType):
        fig = dram_figure(dram_type)
        assert fig.background_mw_per_gb_s is not None and fig.background_mw_per_gb_s > 0, dram_type
        assert fig.background_status is not None and fig.background_source, dram_type
        assert fig.activate_pj_per_bit is not None and fig.read_write_pj_per_bit is not None, dram_type
        if fig.io_pj_per_bit is not None:
            assert fig.energy_pj_per_bit == pytest.approx(
                fig.activate_pj_per_bit + fig.read_write_pj_per_bit + fig.io_pj_per_bit, abs=2e-3), dram_type
        else:   # HMC: SerDes links are not derivable by the I/O formula; the total is published
            assert fig.status == "published" and "not derived" in fig.source, dram_type


def test_lpddr4x_differs_from_lpddr4_only_in_the_interface() -> None:
    x, four = dram_figure("lpddr4x"), dram_figure("lpddr4")
    assert (x.activate_pj_per_bit, x.read_write_pj_per_bit) == (four.activate_pj_per_bit, four.read_write_pj_per_bit)
    # POD at VDDQ 0.6 vs 1.1 V: both terms scale with VDDQ^2.
    assert x.io_pj_per_bit / four.io_pj_per_bit == pytest.approx((0.6 / 1.1) ** 2, rel=1e-2)


def test_components_that_do_not_add_up_are_rejected() -> None:
    with pytest.raises(ValidationError, match="not activate"):
        DramFigure(energy_pj_per_bit=10, status="derived", source="x", activate_pj_per_bit=1,
                   read_write_pj_per_bit=1, io_pj_per_bit=1)


def test_ddr4_config_and_overrides() -> None:
    hw = load_hw(ROOT / "hw_configs" / "tpu_v1.yaml").with_values({"memories.dram.dram_type": "ddr4"})
    assert dram_pj_per_byte(hw) == pytest.approx(8 * dram_figure("ddr4").energy_pj_per_bit)
    assert dram_background_mw(hw) == pytest.approx(dram_figure("ddr4").background_mw_per_gb_s * 34)
    own = hw.with_values({"memories.dram.energy_pj_per_bit": 5.0, "memories.dram.background_mw": 250.0})
    assert (dram_pj_per_byte(own), dram_background_mw(own)) == (40.0, 250.0)


def test_the_shipped_table_is_the_generator_output() -> None:
    spec = importlib.util.spec_from_file_location("make_dram_table", ROOT / "tools" / "make_dram_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_dram_table"] = module      # dataclasses resolve string annotations through sys.modules
    try:
        spec.loader.exec_module(module)
        rendered = module.render()
    finally:
        del sys.modules["make_dram_table"]
    shipped = (ROOT / "accelsim" / "energy" / "tables" / "dram_types.yaml").read_text(encoding="utf-8")
    assert rendered == shipped
