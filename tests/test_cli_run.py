"""`accelsim run` through the real CLI entry point: YAML mode and SCALE-Sim (.cfg + .csv) mode."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from accelsim.cli.main import main
from accelsim.report import LAYER_COLUMNS

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"


# SCALE-Sim's bundled 32x32 WS config and its Inc5b_3x3 test layer ([ref:ScaleSim] gives its compute cycles:
# M = 25, K = 1728, N = 384 -> 54 x 12 = 648 folds x (2·32 + 32 + 25 − 2 = 119) − 1 = 77,111).
SCALESIM_CFG = """\
[general]
run_name = scale_example_run_32x32_ws

[architecture_presets]
ArrayHeight:    32
ArrayWidth:     32
IfmapSramSzkB:   64
FilterSramSzkB:  64
OfmapSramSzkB:   64
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 10
Dataflow : ws
MemoryBanks:   1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""
SCALESIM_TOPOLOGY = """\
Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Inc5b_3x3, 7, 7, 3, 3, 192, 384, 1,
"""


def test_run_yaml_config_on_a_zoo_network_writes_json_and_csv(tmp_path, capsys):
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    code = main(["run", str(CONFIGS / "hvx_690.yaml"), "mobilenet_v2", "--json", str(out_json),
                 "--csv", str(out_csv)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "latency [cyc]" in printed and "energy [nJ]" in printed and "ms" in printed
    data = json.loads(out_json.read_text())
    assert set(data) == {"metadata", "totals", "layers"}
    assert set(LAYER_COLUMNS) <= set(data["layers"][0])
    for key in ("latency_cycles", "latency_ms", "energy_pj", "dram_read_bytes", "dram_write_bytes",
                "dram_avg_gb_s", "dram_peak_gb_s", "area_mm2", "macs", "peak_macs_per_cycle", "utilization"):
        assert key in data["totals"]
    assert data["metadata"]["hw_name"] == "hvx_690"
    assert data["metadata"]["timing_model"] == "event"
    with out_csv.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(data["layers"])
    assert set(LAYER_COLUMNS) <= set(rows[0])
    assert sum(float(r["latency_cycles"]) for r in rows) == pytest.approx(data["totals"]["latency_cycles"])


def test_run_scalesim_cfg_and_topology_reports_scalesim_compute_cycles(tmp_path):
    cfg, topo, out = tmp_path / "scale.cfg", tmp_path / "topology.csv", tmp_path / "r.json"
    cfg.write_text(SCALESIM_CFG)
    topo.write_text(SCALESIM_TOPOLOGY)
    assert main(["run", str(cfg), str(topo), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    layer = data["layers"][0]
    assert layer["name"] == "Inc5b_3x3"
    assert layer["compute_cycles"] == 648 * 119 - 1
    assert layer["stall_cycles"] == layer["latency_cycles"] - layer["compute_cycles"]
    assert layer["stall_cycles"] >= 0
    assert data["metadata"]["scalesim_compat"] is True


def test_run_closed_form_timing_flag(tmp_path):
    out = tmp_path / "r.json"
    assert main(["run", str(CONFIGS / "scalesim_32x32_ws.yaml"), "mobilenet_v2", "--timing", "closed_form",
                 "--json", str(out)]) == 0
    assert json.loads(out.read_text())["metadata"]["timing_model"] == "closed_form"


def test_mapping_error_exits_2_with_a_message(capsys):
    # gemmini_default's scale unit is per-tensor without fallback; the zoo's MobileNet-v2 is per-channel.
    assert main(["run", str(CONFIGS / "gemmini_default.yaml"), "mobilenet_v2"]) == 2
    err = capsys.readouterr().err
    assert "per-channel" in err and "Traceback" not in err


def test_run_scalesim_topology_on_a_yaml_config(tmp_path):
    topo, out = tmp_path / "topology.csv", tmp_path / "r.csv"
    topo.write_text(SCALESIM_TOPOLOGY)
    assert main(["run", str(CONFIGS / "scalesim_32x32_ws.yaml"), str(topo), "--csv", str(out)]) == 0
    with out.open() as f:
        (row,) = list(csv.DictReader(f))
    # accelsim's own count (no SCALE-Sim off-by-one): 648 folds x 119 cycles
    assert row["name"] == "Inc5b_3x3" and float(row["compute_cycles"]) == 648 * 119


# ---------------------------------------------------------------------------------------------- stdout outputs
def in_process_report():
    from accelsim.simulate import simulate
    from accelsim.workloads import load_workload

    return simulate(load_workload("mobilenet_v2"), CONFIGS / "hvx_690.yaml")


def test_json_dash_writes_the_report_to_stdout_and_the_table_to_stderr(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(CONFIGS / "hvx_690.yaml"), "mobilenet_v2", "--json", "-"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)                     # stdout is exactly one JSON document
    assert not (tmp_path / "-").exists()
    assert "latency [cyc]" in captured.err and "wrote" not in captured.err
    report = in_process_report()
    assert data["totals"] == json.loads(report.json_text())["totals"]
    assert data["totals"]["latency_cycles"] == report.totals["latency_cycles"]
    assert [row["name"] for row in data["layers"]] == report.layers["name"].tolist()
    assert [row["kind"] for row in data["layers"]] == report.layers["kind"].tolist()
    assert [row["energy_pj"] for row in data["layers"]] == report.layers["energy_pj"].tolist()


def test_csv_dash_writes_the_layer_table_to_stdout(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out_json = tmp_path / "r.json"
    assert main(["run", str(CONFIGS / "hvx_690.yaml"), "mobilenet_v2", "--csv", "-", "--json", str(out_json)]) == 0
    captured = capsys.readouterr()
    rows = list(csv.DictReader(captured.out.splitlines()))
    assert not (tmp_path / "-").exists() and out_json.exists()
    assert f"wrote {out_json}" in captured.err and "latency [cyc]" in captured.err
    layers = in_process_report().layers
    assert [r["name"] for r in rows] == layers["name"].tolist()
    assert list(rows[0]) == list(layers.columns)
    assert [float(r["latency_cycles"]) for r in rows] == layers["latency_cycles"].tolist()
    assert [int(r["macs"]) for r in rows] == layers["macs"].tolist()


def test_quiet_prints_only_the_data(tmp_path, capsys):
    assert main(["run", str(CONFIGS / "hvx_690.yaml"), "mobilenet_v2", "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    out_json = tmp_path / "r.json"
    assert main(["run", str(CONFIGS / "hvx_690.yaml"), "mobilenet_v2", "-q", "--json", str(out_json)]) == 0
    assert capsys.readouterr() == ("", "")
    assert json.loads(out_json.read_text())["metadata"]["hw_name"] == "hvx_690"
    assert main(["run", str(CONFIGS / "hvx_690.yaml"), "mobilenet_v2", "-q", "--csv", "-"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.startswith("name,kind,unit")


def test_both_outputs_on_stdout_or_an_unwritable_file_exit_2(tmp_path, capsys):
    assert main(["run", str(CONFIGS / "hvx_690.yaml"), "mobilenet_v2", "--json", "-", "--csv", "-"]) == 2
    err = capsys.readouterr().err
    assert "both write to stdout" in err and "Traceback" not in err
    missing = tmp_path / "no_such_dir" / "r.json"
    assert main(["run", str(CONFIGS / "hvx_690.yaml"), "mobilenet_v2", "-q", "--json", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {missing}" in err and "Traceback" not in err


def test_model_warnings_go_to_stderr_even_when_quiet(capsys, tmp_path):
    # a workload without MAC layers leaves Eyeriss's PE scratchpads unused: a model warning
    from accelsim.workloads.export_yaml import spec_to_yaml
    from accelsim.workloads.zoo import NetSpecBuilder

    net = NetSpecBuilder("pool_only", (1, 8, 8, 16), "one max pool")
    net.layer("maxpool", "pool", kernel=2, stride=2, padding="valid")
    workload = tmp_path / "pool_only.yaml"
    workload.write_text(spec_to_yaml(net.spec()))
    args = ["run", str(CONFIGS / "eyeriss_v1.yaml"), str(workload), "--quant", "per_channel=false",
            "--quant", "weight_bits=16", "--quant", "activation_bits=16"]
    assert main([*args, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("accelsim run: warning:") and "'pe_spads'" in line
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "'pe_spads'" in captured.err and "latency [cyc]" in captured.out and "pe_spads" not in captured.out


def test_quant_values_are_read_by_the_bounded_yaml_loader(capsys):
    """A --quant value is YAML read like a file's: a tag (here a Python object constructor) is refused by name,
    exit 2 without a traceback."""
    code = main(["run", str(CONFIGS / "hvx_690.yaml"), "squeezenet_1.1", "--quant",
                 "weight_bits=!!python/object/apply:os.system [echo]"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "--quant weight_bits" in err and "python/object/apply" in err and "tags" in err


def test_batch_and_sub_batch_flags(tmp_path, capsys):
    whole, split = tmp_path / "whole.json", tmp_path / "split.json"
    args = ["run", str(CONFIGS / "tpu_v1.yaml"), "resnet_18", "--quant", "per_channel=false", "--batch", "4", "-q"]
    assert main(args + ["--json", str(whole)]) == 0
    assert main(args + ["--sub-batch", "2", "--json", str(split)]) == 0
    w, s = json.loads(whole.read_text()), json.loads(split.read_text())
    assert (w["metadata"]["batch"], w["metadata"]["sub_batch"], s["metadata"]["sub_batch"]) == (4, 4, 2)
    one = json.loads((tmp_path / "one.json").read_text()) if main(
        ["run", str(CONFIGS / "tpu_v1.yaml"), "resnet_18", "--quant", "per_channel=false", "-q", "--json",
         str(tmp_path / "one.json")]) == 0 else None
    assert w["totals"]["macs"] == s["totals"]["macs"] == 4 * one["totals"]["macs"]
    assert main(args + ["--sub-batch", "3"]) == 2
    assert "divisor of the batch size 4" in capsys.readouterr().err
