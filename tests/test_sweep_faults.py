"""Sweep faults: an --out that is a file, two sweeps on one directory (an flock naming the holder's PID, no stale
lock after SIGKILL), damaged stores (truncated, overwritten pages) refused by sweep and plot with exit code 2,
a pool or Dask worker killed mid-point (the sweep goes on, the point is stored as failed), exit code 3 when points
failed, and a closed stdout pipe ending the command quietly."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accelsim.analysis import load_results
from accelsim.sweep import load_spec, run_sweep
from accelsim.sweep.runner import WORKER_DIED
from accelsim.sweep.store import LOCK_FILE, ResultStore, StoreError
from sweep_testing import write_tiny_spec

TINY = {"name": "tiny", "input_shape": [1, 8, 8, 4],
        "layers": [{"name": "conv", "op": "conv", "out_channels": 8, "kernel": 3},
                   {"name": "fc", "op": "fc", "out_channels": 4}]}
CLI = [sys.executable, "-m", "accelsim.cli.main"]


def write_spec(folder: Path, parameters: dict, **extra) -> Path:
    return write_tiny_spec(folder, "faults", TINY, parameters, **extra)


def sweep(spec: Path, out: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "sweep", str(spec), "--out", str(out), "--no-progress", *extra],
                          capture_output=True, text=True, timeout=300, env=env)


def assert_clean_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


GRID8 = {"grid": {"compute.systolic.rows": [4, 8, 16, 32], "compute.systolic.cols": [8, 16]}}


# ------------------------------------------------------------------------------------------------ results directory
def test_out_that_is_a_file_is_a_clean_error(tmp_path):
    target = tmp_path / "results"
    target.write_text("not a directory")
    assert_clean_error(sweep(write_spec(tmp_path, GRID8), target, "--workers", "0"), str(target), "found a file")
    assert target.read_text() == "not a directory"


def test_second_sweep_on_a_locked_directory_is_refused_and_kill_leaves_no_stale_lock(tmp_path):
    (tmp_path / "long").mkdir()
    long_spec = write_spec(tmp_path / "long", {"grid": {"compute.systolic.rows": list(range(1, 201)),
                                                        "compute.systolic.cols": list(range(1, 201))}})
    spec, out = write_spec(tmp_path, GRID8), tmp_path / "out"
    first = subprocess.Popen([*CLI, "sweep", str(long_spec), "--out", str(out), "--workers", "1", "--no-progress"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not ((out / LOCK_FILE).exists() and (out / LOCK_FILE).read_text().strip() == str(first.pid)):
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
            time.sleep(0.05)
        assert_clean_error(sweep(spec, out, "--workers", "0"), str(out), f"PID {first.pid}", "in use")
        with pytest.raises(StoreError, match=f"PID {first.pid}"):
            ResultStore(out)
        assert first.poll() is None  # the first sweep was running all along
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the sweep and its pool worker
        first.wait(timeout=30)
    assert (out / LOCK_FILE).exists()  # the file stays; the lock went with the process
    done = sweep(spec, out, "--workers", "0")
    assert done.returncode == 0, done.stderr
    stored = set(load_results(out)["point_id"])
    assert {p.point_id for p in load_spec(spec).points} <= stored


def test_columns_added_meanwhile_are_not_added_twice(tmp_path):
    with ResultStore(tmp_path / "out") as store:
        with sqlite3.connect(tmp_path / "out" / "results.sqlite") as other:
            other.execute('ALTER TABLE points ADD COLUMN "latency_ms"')
        assert store.add({"point_id": "a", "status": "ok", "parameters_json": "{}", "latency_ms": 1.5})
    assert load_results(tmp_path / "out")["latency_ms"].tolist() == [1.5]


# ------------------------------------------------------------------------------------------------ damaged stores
@pytest.fixture()
def stored(tmp_path):
    spec = write_spec(tmp_path, GRID8)
    out = tmp_path / "out"
    run_sweep(load_spec(spec), out, workers=0)
    with sqlite3.connect(out / "results.sqlite") as conn:  # everything in the main file, no WAL left
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return spec, out


def assert_refused_everywhere(spec: Path, out: Path) -> None:
    assert_clean_error(sweep(spec, out, "--workers", "0"), str(out / "results.sqlite"), "damaged", "move it away")
    assert_clean_error(subprocess.run([*CLI, "plot", str(out)], capture_output=True, text=True, timeout=300),
                       str(out / "results.sqlite"), "damaged")
    assert not (out / "plots").exists()
    with pytest.raises(StoreError, match="damaged"):
        load_results(out)


def test_truncated_store_is_refused(stored):
    spec, out = stored
    db = out / "results.sqlite"
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    assert_refused_everywhere(spec, out)


def test_overwritten_table_pages_are_refused(stored):
    spec, out = stored
    db = out / "results.sqlite"
    with sqlite3.connect(db) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        roots = dict(conn.execute("SELECT name, rootpage FROM sqlite_master WHERE type = 'table'"))
    assert pages >= 6
    data = bytearray(db.read_bytes())
    rng = np.random.default_rng(0)
    for page in (roots["points"], roots["layers"]):  # bytes in the middle of both tables' b-tree pages
        start = (page - 1) * page_size
        data[start: start + page_size // 2] = rng.integers(0, 256, page_size // 2, dtype=np.uint8).tobytes()
    db.write_bytes(bytes(data))
    assert_refused_everywhere(spec, out)


# ------------------------------------------------------------------------------------------------ failed points
def test_killed_worker_fails_its_point_and_the_sweep_goes_on(tmp_path):
    spec_path = write_spec(tmp_path, GRID8)
    victim = list(load_spec(spec_path).points)[5]
    env = {**os.environ, "ACCELSIM_TEST_KILL_POINT": victim.point_id}
    proc = sweep(spec_path, tmp_path / "pool", "--workers", "2", env=env)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.splitlines()[-1] == "1 point(s) failed in this run (stored with status error)"
    df = load_results(tmp_path / "pool").set_index("point_id")
    assert len(df) == 8
    assert df.loc[victim.point_id, "status"] == "error" and df.loc[victim.point_id, "error"] == WORKER_DIED
    run_sweep(load_spec(spec_path), tmp_path / "clean", workers=0)
    clean = load_results(tmp_path / "clean").set_index("point_id").drop(index=victim.point_id)
    pd.testing.assert_frame_equal(df.drop(index=victim.point_id).drop(columns="wall_time_s"),
                                  clean.drop(columns="wall_time_s"), check_dtype=False)  # NaN rows make floats


def test_failed_points_exit_3_and_say_how_many_last(tmp_path):
    spec_path = write_spec(tmp_path, {"grid": {"compute.systolic.rows": [8, 16], "quant.per_channel": [False, True]}})
    proc = sweep(spec_path, tmp_path / "out", "--workers", "0")
    assert proc.returncode == 3, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "2 point(s) failed in this run (stored with status error)"
    assert "MappingError" in lines[-2]
    df = load_results(tmp_path / "out")
    assert (df["status"] == "error").sum() == 2
    help_text = subprocess.run([*CLI, "sweep", "--help"], capture_output=True, text=True, timeout=120).stdout
    assert "exit codes:" in help_text and "3  the sweep ran but some points failed" in help_text


# ------------------------------------------------------------------------------------------------ broken pipe
def test_closed_stdout_pipe_ends_quietly(tmp_path):
    grid = {"grid": {"compute.systolic.rows": list(range(1, 101)), "compute.systolic.cols": list(range(1, 101))}}
    spec = write_spec(tmp_path, grid)
    proc = subprocess.Popen([*CLI, "sweep", str(spec), "--out", str(tmp_path / "o"), "--check", "--list-all"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(b"sweep faults: 10000 points")
    proc.stdout.close()  # like `| head -1`: 10,000 lines (> a pipe buffer) still to write
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


def test_killed_dask_worker_fails_its_point_and_the_sweep_goes_on(tmp_path, monkeypatch):
    pytest.importorskip("dask.distributed")
    spec = load_spec(write_spec(tmp_path, GRID8))
    victim = list(spec.points)[2]
    monkeypatch.setenv("ACCELSIM_TEST_KILL_POINT", victim.point_id)  # inherited by the cluster's workers
    summary = run_sweep(spec, tmp_path / "dask", dask="local", workers=2)
    df = load_results(tmp_path / "dask").set_index("point_id")
    assert summary.evaluated == 8 and len(df) == 8 and summary.errors == (df["status"] == "error").sum()
    assert df.loc[victim.point_id, "error"] == WORKER_DIED
    # Dask's scheduler counts a worker death against every task in flight on that worker and gives up on a task
    # after three (allowed-failures): a point queued next to the victim can be given up too. Such a point is
    # recorded the same way, never with another error, and most points complete.
    others = df.drop(index=victim.point_id)
    assert set(others.loc[others["status"] == "error", "error"]) <= {WORKER_DIED}
    assert (others["status"] == "ok").sum() >= 5
