"""Placement density of standard-cell logic (accelsim.energy.area) and its place in the area model."""
from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.config.hw import load_hw
from accelsim.energy.area import STD_CELL_UTILIZATION, placed_logic_area_mm2, placement_overhead_mm2
from accelsim.errors import UnsupportedError
from accelsim.hw.energy_model import (
    area_mm2,
    cell_area_mm2,
    energy_table_of,
    leakage_power_mw,
    mac_array_leakage_mw,
    placed_logic_components,
)
from accelsim.validation import config_path


def test_utilization_is_the_cited_convention():
    # [ref:PDUtil]: standard cells take about 70 % of the rows, about 30 % is left for routing.
    assert STD_CELL_UTILIZATION == 0.70


def test_placed_area_closed_form():
    assert placed_logic_area_mm2(0.7) == pytest.approx(1.0)
    assert placed_logic_area_mm2(2.0, 0.5) == pytest.approx(4.0)
    assert placed_logic_area_mm2(3.0, 1.0) == pytest.approx(3.0)       # full rows add nothing
    assert placement_overhead_mm2(0.7) == pytest.approx(0.3)
    assert placement_overhead_mm2(0.0) == 0.0


@pytest.mark.parametrize("utilization", [0.0, -0.1, 1.01])
def test_bad_utilization_is_a_clear_error(utilization):
    with pytest.raises(UnsupportedError, match="utilization"):
        placed_logic_area_mm2(1.0, utilization)


def test_negative_cell_area_is_a_clear_error():
    with pytest.raises(UnsupportedError, match="cell area"):
        placement_overhead_mm2(-1.0)


SHIPPED = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "hw_configs").glob("*.yaml"))


@pytest.mark.parametrize("name", SHIPPED)
def test_area_is_cells_plus_placement_of_the_logic(name):
    hw = load_hw(config_path(name))
    table = energy_table_of(hw)
    cells = cell_area_mm2(hw, table)
    areas = area_mm2(hw, table)
    assert {k: v for k, v in areas.items() if k != "logic_placement"} == cells
    levels = set(hw.onchip_levels())
    given = {"scale_unit": hw.scale_unit.area_mm2 is not None,
             "decompressor": hw.decompression is not None and hw.decompression.area_mm2 is not None}
    logic = [k for k in cells if k not in levels and not given.get(k, False)]
    assert set(placed_logic_components(hw, cells)) == set(logic)
    logic_cells = sum(cells[k] for k in logic)
    # closed form: rows at 70 % utilization hold the cells, the rest is routing / clock buffers / filler
    assert areas["logic_placement"] == pytest.approx(logic_cells / 0.7 - logic_cells)
    assert areas["logic_placement"] > 0


def test_a_config_given_logic_area_is_taken_as_placed():
    hw = load_hw(config_path("tpu_v1"))
    given = hw.model_copy(update={"scale_unit": hw.scale_unit.model_copy(update={"area_mm2": 5.0})})
    table = energy_table_of(hw)
    cells = cell_area_mm2(given, table)
    assert cells["scale_unit"] == 5.0
    assert "scale_unit" not in placed_logic_components(given, cells)
    expected = (cells["mac_array"] + cells["pe_registers"]) * (1 / 0.7 - 1)
    assert area_mm2(given, table)["logic_placement"] == pytest.approx(expected)


def test_placement_space_does_not_leak():
    """Leakage is priced on cell areas: routing space and filler add no leakage component (energy unchanged)."""
    hw = load_hw(config_path("tpu_v1"))
    table = energy_table_of(hw)
    leak = leakage_power_mw(hw, table)
    cells = cell_area_mm2(hw, table)
    assert "logic_placement" not in leak
    assert set(leak) == set(cells)
    density = mac_array_leakage_mw(hw, table) / cells["mac_array"]
    assert leak["pe_registers"] == pytest.approx(density * cells["pe_registers"])
    assert leak["scale_unit"] == pytest.approx(density * cells["scale_unit"])
