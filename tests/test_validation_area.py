"""The die-area reference set (accelsim.validation.area) against its published figures."""
from __future__ import annotations

import pytest

from accelsim.config.hw import load_hw
from accelsim.hw.energy_model import area_mm2, energy_table_of
from accelsim.validation import REFERENCE_SETS, all_comparisons, config_path
from accelsim.validation.area import AREA_BAND, TPU_DIE_MM2, TPU_DIE_SHARE, matrix_unit_placed_mm2

#: Cases outside the ±30 % band today, with what the model lacks (docs/validation.md "Die area"): the model counts
#: datapath cells, PE registers, CACTI arrays and the placement density of the logic (70 % utilization), not
#: control, NoC, flip-flop scratchpads, multi-ported SRAM or floor-plan sizing. Remove a case once a model change
#: brings it into the band (the Matrix Multiply Unit left it when the PEs' second weight register was modelled).
AREA_GAPS = {"eyeriss_v1 core (65 nm)", "tpu_v1 unified_buffer (28 nm)", "tpu_v1 accumulators (28 nm)"}


@pytest.fixture(scope="module")
def rows():
    return {c.case: c for c in all_comparisons(only=("area",))}


def test_area_set_is_registered_with_the_published_figures(rows):
    assert "area" in REFERENCE_SETS
    # Jouppi et al. 2017: die < 331 mm^2; floor plan shares 29 / 24 / 6 %. Chen et al. 2017: core 3.5 x 3.5 mm.
    assert rows["eyeriss_v1 core (65 nm)"].reference == pytest.approx(12.25)
    assert rows["tpu_v1 unified_buffer (28 nm)"].reference == pytest.approx(0.29 * 331)
    assert rows["tpu_v1 mac_array (28 nm)"].reference == pytest.approx(0.24 * 331)
    assert rows["tpu_v1 accumulators (28 nm)"].reference == pytest.approx(0.06 * 331)
    assert all(c.band == AREA_BAND == 0.30 for c in rows.values())


def test_model_areas_are_the_area_model_of_the_shipped_configs(rows):
    eyeriss = load_hw(config_path("eyeriss_v1"))
    tpu = load_hw(config_path("tpu_v1"))
    eyeriss_total = sum(area_mm2(eyeriss, energy_table_of(eyeriss)).values())
    assert rows["eyeriss_v1 core (65 nm)"].model == pytest.approx(eyeriss_total)
    tpu_areas = area_mm2(tpu, energy_table_of(tpu))
    for component in ("unified_buffer", "accumulators"):
        assert rows[f"tpu_v1 {component} (28 nm)"].model == pytest.approx(tpu_areas[component])
    # the Matrix Multiply Unit is the placed PE block: (MAC cells + PE registers) / 0.70 core utilization
    assert rows["tpu_v1 mac_array (28 nm)"].model == pytest.approx(
        (tpu_areas["mac_array"] + tpu_areas["pe_registers"]) / 0.70)
    assert matrix_unit_placed_mm2(tpu_areas) == pytest.approx(rows["tpu_v1 mac_array (28 nm)"].model)
    # the three blocks the floor plan names stay below the die they are part of
    assert sum(rows[f"tpu_v1 {c} (28 nm)"].model for c in TPU_DIE_SHARE) < TPU_DIE_MM2


def test_the_matrix_unit_holds_two_weight_tiles(rows):
    """Jouppi et al. 2017 §2: "one 64 KiB tile of weights plus one for double-buffering": the PE registers of the
    placed Matrix Multiply Unit include the second weight register (16 bits at the widest mode, W16A16), which
    brought the block from 0.69 to 0.73 of its floor-plan share."""
    tpu = load_hw(config_path("tpu_v1"))
    single = tpu.with_values({"compute.systolic.stationary_buffers": 1})
    two, one = (area_mm2(h, energy_table_of(h)) for h in (tpu, single))
    assert two["pe_registers"] == pytest.approx(one["pe_registers"] * (16 + 16 + 32 + 16) / (16 + 16 + 32))
    assert matrix_unit_placed_mm2(one) / (0.24 * TPU_DIE_MM2) == pytest.approx(0.69, abs=0.005)
    assert rows["tpu_v1 mac_array (28 nm)"].ratio == pytest.approx(0.73, abs=0.005)


def test_the_accumulators_are_256_rams_of_one_word_per_cycle():
    """Jouppi et al. 2017 Figure 4: "one location of each of 256 accumulator RAMs" per cycle: 256 banks of
    4096 x 32-bit words, each accessed 32 bits wide (1024 B/cycle over 256 banks)."""
    from accelsim.energy.sram import bank_figures
    from accelsim.hw.energy_model import access_bits_of, sram_model_scaling_of

    tpu = load_hw(config_path("tpu_v1"))
    acc = tpu.memories["accumulators"]
    assert (acc.banks, access_bits_of(acc), acc.size_kib / acc.banks) == (256, 32, 16)
    expected = 256 * bank_figures(16, 32).area_mm2 * sram_model_scaling_of(tpu).area_factor
    assert area_mm2(tpu, energy_table_of(tpu))["accumulators"] == pytest.approx(expected)


def test_modelled_blocks_never_exceed_the_silicon_they_are_part_of(rows):
    """The model leaves out blocks (control, NoC, clocking, I/O) and placement density, so a ratio above the band's
    top would mean it counts something twice."""
    for case, c in rows.items():
        assert c.ratio <= 1 + AREA_BAND, (case, c.ratio)


@pytest.mark.parametrize("case", ["eyeriss_v1 core (65 nm)", "tpu_v1 unified_buffer (28 nm)",
                                  "tpu_v1 mac_array (28 nm)", "tpu_v1 accumulators (28 nm)"])
def test_area_band(rows, case):
    if case in AREA_GAPS:
        pytest.xfail("known gap, see AREA_GAPS")
    assert rows[case].within_band, rows[case].ratio


def test_area_gaps_are_still_gaps(rows):
    assert all(not rows[case].within_band for case in AREA_GAPS), \
        {case: round(rows[case].ratio, 3) for case in AREA_GAPS if rows[case].within_band}


def test_placement_moves_every_logic_case_toward_silicon_and_leaves_memories(rows):
    """Adding placement density (issue #11 part A) raises the Eyeriss core and the Matrix Multiply Unit above their
    cell-only figures (before: 0.12 and 0.37, docs/validation.md) and leaves the SRAM-only cases as they were."""
    assert rows["eyeriss_v1 core (65 nm)"].ratio > 0.12 * 1.05
    assert rows["tpu_v1 mac_array (28 nm)"].ratio > 0.37 * 1.5
    tpu = load_hw(config_path("tpu_v1"))
    assert rows["tpu_v1 unified_buffer (28 nm)"].model == pytest.approx(
        area_mm2(tpu, energy_table_of(tpu))["unified_buffer"])


def test_no_chip_independent_density_factor_brings_eyeriss_into_the_band():
    """docs/validation.md "Die area": with one standard-cell utilization u and one SRAM floor-plan factor f for all
    chips, keeping the TPU's Matrix Multiply Unit and Unified Buffer at most 1.3x their floor-plan shares bounds the
    Eyeriss core to 0.46 of its published area: its gap is blocks the model lacks, not a density it gets wrong."""
    from accelsim.hw.energy_model import cell_area_mm2

    eyeriss, tpu = (load_hw(config_path(n)) for n in ("eyeriss_v1", "tpu_v1"))
    e, t = cell_area_mm2(eyeriss, energy_table_of(eyeriss)), cell_area_mm2(tpu, energy_table_of(tpu))
    u_min = (t["mac_array"] + t["pe_registers"]) / ((1 + AREA_BAND) * TPU_DIE_SHARE["mac_array"] * TPU_DIE_MM2)
    f_max = (1 + AREA_BAND) * TPU_DIE_SHARE["unified_buffer"] * TPU_DIE_MM2 / t["unified_buffer"]
    memories = set(eyeriss.onchip_levels())
    eyeriss_max = (sum(v for k, v in e.items() if k in memories) * f_max
                   + sum(v for k, v in e.items() if k not in memories) / u_min)
    assert u_min == pytest.approx(0.39, abs=0.01) and f_max == pytest.approx(4.3, abs=0.05)
    assert eyeriss_max / 12.25 == pytest.approx(0.46, abs=0.01)
    assert eyeriss_max / 12.25 < 1 - AREA_BAND
