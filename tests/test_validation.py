"""accelsim validate: the shipped Vela figures equal a live run of Vela 5.2.0 on the same exported models, and
the printed ratios are accelsim's own simulation over those figures."""
from __future__ import annotations

import json

import pytest

from accelsim.cli.main import main
from accelsim.config.hw import load_hw
from accelsim.graph.exporters.tflite import export_tflite
from accelsim.graph.synthetic import synthesize_weights
from accelsim.simulate import simulate
from accelsim.validation import (
    VELA_CASES, VELA_FIELDS, VELA_VERSION, config_path, run_vela, vela_comparisons, vela_installed_version,
    vela_shipped_references,
)
from accelsim.workloads import load_workload


def test_the_test_line_installs_the_vela_version_the_references_came_from():
    assert vela_installed_version() == VELA_VERSION


@pytest.mark.parametrize("network, config, accelerator", VELA_CASES)
def test_shipped_references_equal_a_live_vela_run(network, config, accelerator):
    live = run_vela(export_tflite(synthesize_weights(load_workload(network))), accelerator)
    shipped = vela_shipped_references()[f"{network} @ {config}"]
    assert set(shipped) == set(VELA_FIELDS)
    assert live == shipped


def test_validate_prints_model_reference_and_ratio(tmp_path, capsys):
    out = tmp_path / "v.json"
    assert main(["validate", "--shipped", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    rows = json.loads(out.read_text())
    vela_cases = {f"{network} @ {config}" for network, config, _ in VELA_CASES}
    assert len([r for r in rows if r["case"] in vela_cases]) == 3 * len(VELA_CASES)
    refs = vela_shipped_references()
    network, config, _ = VELA_CASES[1]
    report = simulate(synthesize_weights(load_workload(network)), load_hw(config_path(config)))
    want_cycles = report.totals["latency_cycles"] / refs[f"{network} @ {config}"]["cycles_total"]
    row = next(r for r in rows if r["case"] == f"{network} @ {config}" and r["quantity"] == "total cycles")
    assert row["ratio"] == pytest.approx(want_cycles, rel=1e-12)
    assert f"{want_cycles:.2f}" in text and "Arm Vela 5.2.0" in text and "shipped figures" in text


def test_live_and_shipped_comparisons_agree():
    live, shipped = vela_comparisons(live=True), vela_comparisons(live=False)
    assert [(c.case, c.quantity, c.model, c.reference) for c in live] == \
        [(c.case, c.quantity, c.model, c.reference) for c in shipped]
