"""The report's columns are defined once by LayerResult / NetworkTotals: the DataFrame, the totals, the sweep's
objectives and the docs' column table all follow them."""
from __future__ import annotations

import ast
import dataclasses
import re
import warnings
from pathlib import Path

import pytest

from accelsim.config.hw import load_hw
from accelsim.report import LAYER_COLUMNS, LayerResult, NetworkTotals, column_table_markdown, flatten
from accelsim.simulate import simulate
from accelsim.sweep.spec import HIGHER_IS_BETTER, TOTALS_METRICS, minimized

ROOT = Path(__file__).resolve().parents[1]


def _expected_columns(cls: type, levels: dict[str, list[str]]) -> list[str]:
    """Columns of ``cls`` for a config, spelled out independently of report.flatten."""
    out = []
    for f in dataclasses.fields(cls):
        if f.name == "energy_sram_pj":
            out += [f"energy_sram_{n}_pj" for n in levels["sram"]]
        elif f.name == "onchip_bytes":
            for n in levels["onchip"]:
                out += [f"onchip_{n}_read_bytes", f"onchip_{n}_write_bytes"]
        elif f.name == "area_by_component_mm2":
            out += [f"area_{n}_mm2" for n in levels["area"]]
        elif f.name == "energy_leakage_by_component_pj":        # every area component leaks but the placement
            out += [f"energy_leakage_{n}_pj" for n in levels["area"]  # space (routing, filler: accelsim.energy.area)
                    if n != "logic_placement"]
        else:
            out.append(f.name)
    return out


@pytest.mark.parametrize("config", ["nvdla_small", "hvx_690"])
def test_report_columns_are_the_dataclass_fields(config):
    hw = load_hw(ROOT / "hw_configs" / f"{config}.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = simulate("squeezenet_1.1", hw)
    onchip = hw.onchip_levels()
    sram = [n for n, lv in onchip.items() if lv.kind == "sram"]
    rf = [n for n, lv in onchip.items() if lv.kind == "register_file"]
    areas = [c[len("area_"):-len("_mm2")] for c in report.totals if re.fullmatch(r"area_.+_mm2", c)]
    levels = {"sram": sram, "onchip": rf + sram, "area": areas}
    assert list(report.layers.columns) == _expected_columns(LayerResult, levels)
    assert list(report.totals) == _expected_columns(NetworkTotals, levels)
    assert not any(c.startswith(f"sram_{n}_") for n in onchip for c in report.layers.columns)
    assert config != "hvx_690" or rf == ["vrf"]
    # The SRAM totals are the sums of the per-level columns of the SRAM levels only (register files apart).
    for direction in ("read", "write"):
        per_level = sum(report.layers[f"onchip_{n}_{direction}_bytes"] for n in sram)
        assert (report.layers[f"sram_{direction}_bytes"] == per_level).all()
        if rf:
            rf_sum = sum(report.layers[f"onchip_{n}_{direction}_bytes"] for n in rf)
            assert (report.layers[f"rf_{direction}_bytes"] == rf_sum).all()
        else:       # no register-file level: the systolic PEs' own registers
            assert report.layers[f"rf_{direction}_bytes"].sum() > 0
    assert report.totals["area_mm2"] == pytest.approx(sum(report.totals[f"area_{a}_mm2"] for a in areas))


def test_flatten_expands_per_level_fields_in_order():
    values = {f.name: 0 for f in dataclasses.fields(NetworkTotals)}
    values.update(energy_sram_pj={"a": 1.0, "b": 2.0}, area_by_component_mm2={"mac_array": 3.0},
                  energy_leakage_by_component_pj={"mac_array": 4.0})
    flat = flatten(NetworkTotals(**values))
    assert flat["energy_sram_a_pj"] == 1.0 and flat["energy_sram_b_pj"] == 2.0 and flat["area_mac_array_mm2"] == 3.0
    assert flat["energy_leakage_mac_array_pj"] == 4.0
    keys = list(flat)
    assert keys.index("energy_rf_pj") < keys.index("energy_sram_a_pj") < keys.index("energy_dram_pj")
    assert "energy_sram_pj" not in flat and "area_by_component_mm2" not in flat


def test_layer_columns_and_objectives_follow_the_dataclasses():
    assert "onchip_bytes" not in LAYER_COLUMNS and "codec" == LAYER_COLUMNS[-1]
    fields = {f.name: f for f in dataclasses.fields(NetworkTotals)}
    assert set(TOTALS_METRICS) <= set(fields)
    assert HIGHER_IS_BETTER == {"peak_macs_per_cycle", "utilization"}
    assert not minimized("utilization") and minimized("latency_cycles") and minimized("energy_dram_pj")
    for f in (*dataclasses.fields(LayerResult), *dataclasses.fields(NetworkTotals)):
        unit = f.metadata["unit"]
        suffix = {"pJ": "_pj", "bytes": "_bytes", "cycles": "_cycles", "mm²": "_mm2", "GB/s": "_gb_s", "ms": "_ms"}
        if unit in suffix:                          # the unit is in the name too (house rule)
            assert f.name.endswith(suffix[unit]), f.name


def test_docs_column_table_is_current():
    text = (ROOT / "docs" / "model.md").read_text()
    match = re.search(r"<!-- report-columns:begin \(generated\) -->\n(.*?)<!-- report-columns:end -->", text, re.S)
    assert match, "docs/model.md lost its generated report-column table"
    assert match.group(1) == column_table_markdown(), \
        "regenerate the table with accelsim.report.column_table_markdown()"


def test_no_module_imports_the_package_root():
    offenders = []
    for path in (ROOT / "accelsim").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "accelsim" and node.level == 0:
                offenders.append(str(path.relative_to(ROOT)))
            if isinstance(node, ast.Import) and any(a.name == "accelsim" for a in node.names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_result_units_come_from_the_field_metadata():
    from accelsim.plots import axis_label
    from accelsim.report import result_unit

    assert result_unit("energy_sram_vtcm_pj") == "pJ" and result_unit("onchip_vrf_write_bytes") == "bytes"
    assert result_unit("area_mac_array_mm2") == "mm²" and result_unit("utilization") == "fraction"
    assert result_unit("codec") == "" and result_unit("memories.vtcm.size_kib") is None
    assert axis_label("onchip_vrf_read_bytes") == "onchip vrf read [MiB]"
    assert axis_label("peak_macs_per_cycle") == "peak [MAC/cycle]"
