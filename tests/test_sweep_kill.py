"""A sweep SIGKILLed midway and restarted with the same command ends with exactly the results of an
uninterrupted run: every point once, equal values (wall time aside), equal per-layer rows."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from accelsim.analysis import load_results
from accelsim.sweep import load_spec, run_sweep

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "sweeps" / "smoke.yaml"


def stored_points(out: Path) -> int:
    db = out / "results.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def sweep_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "accelsim.cli.main", "sweep", str(SMOKE), "--out", str(out), "--workers", "2",
            "--no-progress"]


def comparable(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["wall_time_s"]).sort_values("point_id").reset_index(drop=True)


def layer_rows(out: Path) -> pd.DataFrame:
    with sqlite3.connect(out / "results.sqlite") as conn:
        df = pd.read_sql_query("SELECT * FROM layers ORDER BY point_id, layer_index", conn)
    return df[sorted(df.columns)]


def test_sigkill_and_restart_equals_clean_run(tmp_path):
    total = len(load_spec(SMOKE).points)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(sweep_command(killed), start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while stored_points(killed) < 5:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no points stored in time"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)          # the sweep and its pool workers, mid-flight
    proc.wait(timeout=30)
    partial = stored_points(killed)
    assert 5 <= partial < total, partial

    rerun = subprocess.run(sweep_command(killed), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{total - partial} point(s) evaluated" in rerun.stdout and f"({partial} already stored)" in rerun.stdout

    clean = tmp_path / "clean"
    run_sweep(load_spec(SMOKE), clean, workers=0)
    resumed, reference = load_results(killed), load_results(clean)
    assert len(resumed) == total and resumed["point_id"].is_unique
    pd.testing.assert_frame_equal(comparable(resumed), comparable(reference))
    pd.testing.assert_frame_equal(layer_rows(killed), layer_rows(clean))
