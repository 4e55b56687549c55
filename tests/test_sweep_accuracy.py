"""Accuracy as a sweep metric: a spec naming a task reports accuracy next to the hardware totals, the accuracy
cache executes the task once per distinct quantization setting (and survives SIGKILL), a point whose execution
overflows the accumulator fails with the node named while the sweep goes on, and bad task specs are refused."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from accelsim.analysis import load_results
from accelsim.errors import ConfigError
from accelsim.sweep import load_spec, run_sweep
from accelsim.sweep.spec import minimized
from accelsim.tasks import TaskQuant, evaluate_task, load_task
from accelsim.tasks.evaluate import EXECUTIONS

REPO = Path(__file__).resolve().parents[1]
GEMMINI = REPO / "hw_configs" / "gemmini_default.yaml"
HVX = REPO / "hw_configs" / "hvx_690.yaml"


def _spec(folder: Path, parameters: dict, base: Path = GEMMINI, name: str = "acc", **extra) -> Path:
    data = {"name": name, "base": str(base), "task": "digits_cnn", "quant": {"per_channel": False},
            "parameters": parameters, "objectives": ["accuracy", "energy_pj"], "store_layers": False,
            "simulation": {"timing_model": "closed_form"}, **extra}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _cache_rows(out: Path) -> int:
    db = out / "results.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM accuracy_cache").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_200_point_hardware_sweep_executes_once_per_quant_setting(tmp_path):
    clocks = list(range(100, 1100, 10))                                      # 100 hardware variations
    spec = load_spec(_spec(tmp_path, {"grid": {"clock_mhz": clocks,
                                               "quant.activation_observer": ["minmax", "percentile"]}}))
    assert len(spec.points) == 200 and spec.objectives == ("accuracy_pct", "energy_pj")
    before = EXECUTIONS["count"]
    summary = run_sweep(spec, tmp_path / "out", workers=0)
    assert summary.evaluated == 200 and summary.errors == 0
    assert EXECUTIONS["count"] - before == 2                                # one per distinct quant setting
    df = load_results(tmp_path / "out")
    task = load_task("digits_cnn")
    for observer in ("minmax", "percentile"):
        rows = df[df["quant.activation_observer"] == observer]
        assert len(rows) == 100 and rows["accuracy_pct"].nunique() == 1
        direct = evaluate_task(task, TaskQuant(per_channel=False, activation_observer=observer))
        assert rows["accuracy_pct"].iloc[0] == pytest.approx(direct.accuracy_pct)
        assert rows["accuracy_stderr_pct"].iloc[0] == pytest.approx(direct.accuracy_stderr_pct)
        assert rows["float_accuracy_pct"].iloc[0] == pytest.approx(direct.float_accuracy_pct)
        assert rows["accuracy_drop_pct"].iloc[0] == pytest.approx(direct.accuracy_drop_pct)
    # the hardware half varies (latency falls with the clock) on the task's trained weights
    assert df["latency_ms"].nunique() > 50 and not df["synthetic_weights"].astype(bool).any()
    # the cache is in the store: more hardware points on the same directory execute nothing again
    more = load_spec(_spec(tmp_path, {"grid": {"clock_mhz": [1200, 1300],
                                               "quant.activation_observer": ["minmax", "percentile"]}}))
    before = EXECUTIONS["count"]
    assert run_sweep(more, tmp_path / "out", workers=0).evaluated == 4
    assert EXECUTIONS["count"] == before


def test_accuracy_cache_survives_sigkill(tmp_path):
    """kill -9 of a running sweep after its accuracy evaluations: the restart executes none of them again."""
    path = _spec(tmp_path, {"grid": {"clock_mhz": list(range(100, 2100, 4)),
                                     "quant.activation_observer": ["minmax", "ema_minmax"]}},
                 simulation={"timing_model": "event"}, store_layers=True)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "accelsim.cli.main", "sweep", str(path), "--out", str(out),
                             "--workers", "0", "--no-progress"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while _cache_rows(out) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the sweep finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _cache_rows(out) == 2
    with sqlite3.connect(out / "results.sqlite") as conn:
        stored = conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    spec = load_spec(path)
    assert stored < len(spec.points)
    before = EXECUTIONS["count"]
    summary = run_sweep(spec, out, workers=0)
    assert EXECUTIONS["count"] == before
    assert summary.errors == 0 and summary.already_done + summary.evaluated == len(spec.points)


def test_overflowing_point_fails_with_node_named_and_sweep_goes_on(tmp_path):
    spec = load_spec(_spec(tmp_path, {"grid": {"precision.accumulator_bits": [32, 16]}}))
    summary = run_sweep(spec, tmp_path / "out", workers=0)
    assert summary.evaluated == 2 and summary.errors == 1
    df = load_results(tmp_path / "out").set_index("precision.accumulator_bits")
    assert df.loc[32, "status"] == "ok" and df.loc[32, "accuracy_pct"] > 90
    assert df.loc[16, "status"] == "error"
    assert "AccumulatorOverflowError" in df.loc[16, "error"] and "Conv" in df.loc[16, "error"]
    assert "16-bit accumulator" in df.loc[16, "error"]


def test_per_layer_override_and_weight_bits_drive_accuracy_and_hardware(tmp_path):
    """On HVX 690 (W4A8 storage-only): 4-bit weights cut the DRAM weight traffic of the task's own graph; a
    per-layer override addressed by its ONNX node name (dots included) changes that layer only."""
    task = load_task("digits_cnn")
    first = next(n.name for n in task.graph.nodes if n.kind == "Conv2D")
    path = _spec(tmp_path, {"list": [{"quant.weight_bits": 8}, {"quant.weight_bits": 4},
                                     {"quant.weight_bits": 8, f"quant.overrides.{first}.weight_bits": 4}]},
                 base=HVX, quant={"per_channel": True})
    summary = run_sweep(load_spec(path), tmp_path / "out", workers=0)
    assert summary.errors == 0, summary.first_error
    df = load_results(tmp_path / "out").sort_values("point_index").reset_index(drop=True)
    w8, w4, mixed = (df.loc[i] for i in range(3))
    assert w4["dram_read_bytes"] < mixed["dram_read_bytes"] < w8["dram_read_bytes"]
    override = TaskQuant(weight_bits=8, overrides={first: {"weight_bits": 4}})
    assert mixed["accuracy_pct"] == pytest.approx(evaluate_task(task, override).accuracy_pct)
    assert w4["accuracy_pct"] == pytest.approx(evaluate_task(task, TaskQuant(weight_bits=4)).accuracy_pct)


def test_layer_bits_selectors_drive_the_task_like_explicit_overrides(tmp_path):
    """quant.layer_bits (accelsim.graph.selectors) in a task sweep: W4 everywhere but first/last at W8 evaluates
    exactly as the same widths given as per-node overrides, and a selector matching no layer of the task graph is
    refused at load, at its key path."""
    task = load_task("digits_cnn")
    macs = [n.name for n in task.graph.nodes if n.kind in ("Conv2D", "FullyConnected")]
    by_selector = TaskQuant(weight_bits=4, per_channel=False, layer_bits="first=w8,last=w8")
    by_override = TaskQuant(weight_bits=4, per_channel=False,
                            overrides={macs[0]: {"weight_bits": 8}, macs[-1]: {"weight_bits": 8}})
    assert evaluate_task(task, by_selector).accuracy_pct == evaluate_task(task, by_override).accuracy_pct
    path = _spec(tmp_path, {"list": [{"quant.weight_bits": 4, "quant.layer_bits": "first=w8,last=w8"}]}, base=HVX)
    summary = run_sweep(load_spec(path), tmp_path / "out", workers=0)
    assert summary.errors == 0, summary.first_error
    row = load_results(tmp_path / "out").iloc[0]
    assert row["accuracy_pct"] == pytest.approx(evaluate_task(task, by_selector).accuracy_pct)
    with pytest.raises(ConfigError) as info:
        load_spec(_spec(tmp_path, {"grid": {"clock_mhz": [500]}},
                        quant={"per_channel": False, "layer_bits": "depthwise=w8"}))
    assert info.value.key_path == "quant.layer_bits[0]", str(info.value)


def test_objective_direction_and_bad_specs(tmp_path):
    assert not minimized("accuracy_pct") and minimized("accuracy_drop_pct") and minimized("energy_pj")
    grid = {"grid": {"clock_mhz": [500]}}
    bad = [
        (dict(task="no_such_task"), "task"),
        (dict(workloads=["mobilenet_v2"]), "workloads"),
        (dict(quant={"per_channel": False, "overrides": {"no_such_node": {"weight_bits": 4}}}),
         "quant.overrides.no_such_node"),
        (dict(quant={"per_channel": False, "weight_bits": 3}), "quant.weight_bits"),
        (dict(task={"model": "no_such.onnx", "data": "d.npz"}), "task.model"),
        (dict(task={"model": str(REPO / "accelsim/workloads/digits/digits_cnn_seed0.onnx"), "data": "d.npz"}),
         "task.data"),
    ]
    for extra, key in bad:
        with pytest.raises(ConfigError) as info:
            load_spec(_spec(tmp_path, grid, **extra))
        assert info.value.key_path == key, str(info.value)
    with pytest.raises(ConfigError) as info:
        load_spec(_spec(tmp_path, {"grid": {"quant.overrides.nope.weight_bits": [4]}}))
    assert info.value.key_path == "parameters.grid.quant.overrides.nope.weight_bits"
    no_task = {"name": "x", "base": str(GEMMINI), "workloads": ["mobilenet_v2"], "parameters": grid,
               "objectives": ["accuracy"]}
    (tmp_path / "no_task.yaml").write_text(yaml.safe_dump(no_task))
    with pytest.raises(ConfigError, match="accuracy needs a task") as info:
        load_spec(tmp_path / "no_task.yaml")
    assert info.value.key_path == "objectives[0]"


def test_shipped_accuracy_sweep_spec_loads():
    spec = load_spec(REPO / "sweeps" / "accuracy_mobilenet_digits.yaml")
    assert len(spec.points) == 8 and spec.task.name == "digits_mobilenet_v2"
    assert spec.objectives[0] == "accuracy_pct"


def test_process_pool_gives_the_serial_results(tmp_path):
    """Spawned workers reload the task themselves: a pool run stores what the in-process run stores."""
    spec = load_spec(_spec(tmp_path, {"grid": {"clock_mhz": [400, 800],
                                               "quant.activation_observer": ["minmax", "mse"]}}))
    run_sweep(spec, tmp_path / "serial", workers=0)
    summary = run_sweep(spec, tmp_path / "pool", workers=2)
    assert summary.evaluated == 4 and summary.errors == 0, summary.first_error
    columns = ["point_id", "accuracy_pct", "accuracy_stderr_pct", "energy_pj", "latency_ms"]
    serial = load_results(tmp_path / "serial")[columns].sort_values("point_id").reset_index(drop=True)
    pool = load_results(tmp_path / "pool")[columns].sort_values("point_id").reset_index(drop=True)
    assert serial.equals(pool)
    assert _cache_rows(tmp_path / "pool") == 2
