"""Running sweeps in process: stored totals and per-layer rows equal a direct accelsim.simulate of the same
config, MAC counts equal the closed form, a failing point is recorded and the sweep goes on, restarts run only
the missing points, per-layer quant overrides reach the graph."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import accelsim
from accelsim.analysis import load_layers, load_meta, load_results
from accelsim.config.hw import load_hw
from accelsim.sweep import load_spec, run_sweep
from accelsim.sweep.store import StoreError
from accelsim.workloads.yaml_format import build_graph, parse_workload

REPO = Path(__file__).resolve().parents[1]
GEMMINI = REPO / "hw_configs" / "gemmini_default.yaml"
HVX = REPO / "hw_configs" / "hvx_690.yaml"
TINY = {
    "name": "tiny", "input_shape": [1, 16, 16, 8],
    "layers": [
        {"name": "conv1", "op": "conv", "out_channels": 16, "kernel": 3, "activation": "relu"},
        {"name": "dw1", "op": "depthwise", "kernel": 3},
        {"name": "pw1", "op": "conv", "out_channels": 32, "kernel": 1},
        {"name": "pool", "op": "gap"},
        {"name": "head", "op": "fc", "out_channels": 10},
    ],
}
# Closed-form MACs of TINY (SAME padding, stride 1: 16 x 16 output positions).
TINY_MACS = 16 * 16 * 16 * (3 * 3 * 8) + 16 * 16 * 16 * 9 + 16 * 16 * 32 * 16 + 32 * 10


def write_spec(folder: Path, parameters: dict, base: Path = GEMMINI, **extra) -> Path:
    (folder / "tiny.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False))
    data = {"name": "run", "base": str(base), "workloads": ["tiny.yaml"], "parameters": parameters, **extra}
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def tiny_graph(quant: dict):
    return build_graph(parse_workload({**TINY, "quant": quant}, "tiny"), "tiny")


@pytest.fixture(scope="module")
def gemmini_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gemmini")
    spec = load_spec(write_spec(folder, {"grid": {"compute.systolic.rows": [8, 16],
                                                  "quant.per_channel": [False, True]}}))
    summary = run_sweep(spec, folder / "out", workers=0)
    return spec, summary, folder / "out"


def test_failing_point_is_recorded_and_the_sweep_goes_on(gemmini_run):
    spec, summary, out = gemmini_run
    df = load_results(out)
    assert summary.evaluated == 4 and len(df) == 4
    # Gemmini's scale unit holds one multiplier per tensor: per-channel weights cannot run on it.
    failed = df[df["quant.per_channel"]]
    assert (failed["status"] == "error").all() and summary.errors == 2
    assert failed["error"].str.contains("MappingError").all() and failed["error"].str.contains("per-channel").all()
    assert failed["latency_ms"].isna().all()
    ok = df[~df["quant.per_channel"]]
    assert (ok["status"] == "ok").all() and (ok["latency_ms"] > 0).all()


def test_stored_results_equal_direct_simulate(gemmini_run):
    spec, _, out = gemmini_run
    df = load_results(out)
    base = load_hw(GEMMINI)
    graph = tiny_graph({"per_channel": False})
    for _, row in df[df["status"] == "ok"].iterrows():
        hw = base.with_values({"compute.systolic.rows": int(row["compute.systolic.rows"])})
        report = accelsim.simulate(graph, hw)
        assert row["config_hash"] == hw.config_hash()
        for key, value in report.totals.items():
            assert row[key] == pytest.approx(value, rel=1e-12), key
        assert row["macs"] == TINY_MACS
        assert row["energy_table"] == report.metadata["energy_table"]
        assert row["accelsim_version"] == accelsim.__version__ and not row["synthetic_weights"]
        assert row["dram_bytes_per_cycle"] == pytest.approx(16.0)   # 16 GB/s at 1000 MHz
        layers = load_layers(out, row["point_id"])
        expected = report.layers
        assert list(layers["name"]) == list(expected["name"])
        for col in ("macs", "latency_cycles", "energy_pj", "dram_read_bytes", "arithmetic_intensity_ops_per_byte"):
            np.testing.assert_allclose(layers[col].astype(float), expected[col].astype(float), rtol=1e-12)
        assert layers["latency_cycles"].sum() == pytest.approx(row["latency_cycles"])


def test_results_keep_parameter_types_and_meta(gemmini_run):
    spec, _, out = gemmini_run
    df = load_results(out)
    assert df["compute.systolic.rows"].tolist() == [8, 8, 16, 16]
    assert pd.api.types.is_integer_dtype(df["compute.systolic.rows"])
    assert pd.api.types.is_bool_dtype(df["quant.per_channel"])
    assert df["point_index"].tolist() == [0, 1, 2, 3]
    assert df["point_id"].tolist() == [p.point_id for p in spec.points]
    meta = load_meta(out)
    assert meta["parameters"] == ["compute.systolic.rows", "quant.per_channel"]
    assert meta["objectives"] == list(spec.objectives)


def test_restart_runs_only_missing_points(tmp_path):
    spec = load_spec(write_spec(tmp_path, {"grid": {"compute.systolic.rows": [8, 16]}}, quant={"per_channel": False}))
    first = run_sweep(spec, tmp_path / "out", workers=0)
    assert (first.evaluated, first.already_done) == (2, 0)
    again = run_sweep(spec, tmp_path / "out", workers=0)
    assert (again.evaluated, again.already_done) == (0, 2)
    wider = load_spec(write_spec(tmp_path, {"grid": {"compute.systolic.rows": [8, 16, 32]}},
                                 quant={"per_channel": False}))
    third = run_sweep(wider, tmp_path / "out", workers=0)
    assert (third.evaluated, third.already_done) == (1, 2)
    df = load_results(tmp_path / "out")
    assert sorted(df["compute.systolic.rows"]) == [8, 16, 32] and df["point_id"].is_unique
    other = load_spec(write_spec(tmp_path, {"grid": {"compute.systolic.rows": [8]}},
                                 quant={"per_channel": False, "weight_bits": 16}))
    with pytest.raises(StoreError, match="another --out"):
        run_sweep(other, tmp_path / "out", workers=0)


def test_per_layer_quant_override_reaches_the_graph(tmp_path):
    spec = load_spec(write_spec(tmp_path, {"grid": {"quant.overrides.pw1.weight_bits": [4, 8]}}, base=HVX))
    run_sweep(spec, tmp_path / "out", workers=0)
    df = load_results(tmp_path / "out")
    assert (df["status"] == "ok").all()
    stored = {}
    for _, row in df.iterrows():
        layers = load_layers(tmp_path / "out", row["point_id"]).set_index("name")
        bits = row["quant.overrides.pw1.weight_bits"]
        assert layers.loc["pw1", "weight_bits"] == bits
        assert layers.loc["conv1", "weight_bits"] == 8 and layers.loc["head", "weight_bits"] == 8
        stored[bits] = layers.loc["pw1", "weight_stored_bytes"]
    # pw1 weights: 32 x 1 x 1 x 16 values; int4 packs two per byte.
    assert stored[8] == 32 * 16 and stored[4] == math.ceil(32 * 16 * 4 / 8)


def test_store_layers_false_keeps_totals_only(tmp_path):
    spec = load_spec(write_spec(tmp_path, {"grid": {"compute.systolic.rows": [8]}}, quant={"per_channel": False},
                                store_layers=False))
    run_sweep(spec, tmp_path / "out", workers=0)
    df = load_results(tmp_path / "out")
    assert df.loc[0, "macs"] == TINY_MACS
    with pytest.raises(StoreError):
        load_layers(tmp_path / "out", df.loc[0, "point_id"])


def test_workers_zero_runs_in_process_even_with_a_dask_block(tmp_path, monkeypatch):
    from accelsim.sweep import runner

    def no_dask(*args):
        raise AssertionError("workers=0 must not start a Dask cluster")
    monkeypatch.setattr(runner, "_dask", no_dask)
    spec = load_spec(write_spec(tmp_path, {"grid": {"compute.systolic.rows": [8]}}, quant={"per_channel": False},
                                dask={"address": "local", "workers": 2}))
    summary = run_sweep(spec, tmp_path / "out", workers=0)
    assert summary.evaluated == 1 and summary.errors == 0
