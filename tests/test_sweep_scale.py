"""Sweeps of any size: points are generated lazily (a 10^7-point grid or 10^9 random draws load and count in
constant memory), --check lists a bounded number of points, constraints cannot exhaust memory, stored points
are found in chunks, repeated random draws run once, and the main process's memory does not grow per point."""
from __future__ import annotations

import itertools
import math
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from accelsim.analysis import load_results
from accelsim.errors import ConfigError
from accelsim.sweep import load_spec, run_sweep
from accelsim.sweep.points import ConstraintError, evaluate_constraint, parse_constraint
from accelsim.sweep.spec import COUNT_SCAN_LIMIT
from accelsim.sweep.store import IDS_PER_QUERY, ResultStore
from sweep_testing import write_tiny_spec

TINY = {"name": "tiny", "input_shape": [1, 4, 4, 4], "layers": [{"name": "fc", "op": "fc", "out_channels": 4}]}
# 10 x 10 x 10 x 10 x 10 x 10 x 10 = 10^7 grid points over cheap hardware parameters (distinct values).
BIG_GRID = {
    "compute.systolic.rows": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    "compute.systolic.cols": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    "clock_mhz": [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000],
    "memories.dram.bandwidth_gb_s": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    "memories.scratchpad.size_kib": [16, 32, 48, 64, 80, 96, 112, 128, 144, 160],
    "memories.accumulator.size_kib": [16, 32, 48, 64, 80, 96, 112, 128, 144, 160],
    "memories.scratchpad.banks": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
}


def write_spec(folder: Path, parameters: dict, **extra) -> Path:
    return write_tiny_spec(folder, "scale", TINY, parameters, **extra)


def bounded(fn, max_bytes: int, max_s: float):
    """fn()'s result, asserting its Python allocations peak below max_bytes and it takes under max_s."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - start
    assert peak < max_bytes, f"peak {peak} bytes"
    assert elapsed < max_s, f"{elapsed:.1f} s"
    return result


# ------------------------------------------------------------------------------------------------ lazy points
def test_ten_million_point_grid_loads_and_counts_in_constant_memory(tmp_path):
    path = write_spec(tmp_path, {"grid": BIG_GRID})
    spec = bounded(lambda: load_spec(path), 20 << 20, 60)
    count = spec.point_count()
    assert count.exact and count.total == 10**7 and spec.dropped_points == 0
    first = list(itertools.islice(spec.points, 3))
    assert [p.index for p in first] == [0, 1, 2]
    assert first[2].parameters == {name: values[2 if name == "memories.scratchpad.banks" else 0]
                                   for name, values in BIG_GRID.items()}
    # the last axis varies fastest: the 4th of 7 steps every 10^3 points
    assert spec.points[1000].parameters == {**first[0].parameters, "memories.dram.bandwidth_gb_s": 2}


def test_grid_values_are_deduplicated_per_axis(tmp_path):
    spec = load_spec(write_spec(tmp_path, {"grid": {"compute.systolic.rows": [8, 16, 8, 8],
                                                    "compute.systolic.cols": [4, 4]}}))
    assert [p.parameters for p in spec.points] == [{"compute.systolic.rows": 8, "compute.systolic.cols": 4},
                                                  {"compute.systolic.rows": 16, "compute.systolic.cols": 4}]
    assert spec.point_count().total == 2


def test_billion_random_samples_load_lazily_and_match_numpy_draws(tmp_path):
    space = {"compute.systolic.rows": {"low": 4, "high": 64, "integer": True, "log": True},
             "compute.systolic.dataflow": {"choices": ["os", "ws", "is"]}}
    path = write_spec(tmp_path, {"random": {"samples": 10**9, "seed": 3, "space": space}})
    spec = bounded(lambda: load_spec(path), 20 << 20, 30)
    assert spec.point_count().total == 10**9
    rng = np.random.default_rng(3)  # the documented draw order: per point, parameters in the order given
    expected = []
    for _ in range(50):
        rows = int(round(math.exp(rng.uniform(math.log(4), math.log(64)))))
        expected.append({"compute.systolic.rows": rows,
                         "compute.systolic.dataflow": ["os", "ws", "is"][int(rng.integers(3))]})
    assert [p.parameters for p in itertools.islice(spec.points, 50)] == expected


def test_constrained_count_is_exact_when_small_and_bounded_when_huge(tmp_path):
    axes = {"compute.systolic.rows": [1, 2, 4, 8, 16, 32], "compute.systolic.cols": [1, 2, 4, 8, 16, 32, 64]}
    rule = "compute.systolic.rows * compute.systolic.cols <= 64"
    spec = load_spec(write_spec(tmp_path, {"grid": axes}, constraints=[rule]))
    brute = sum(1 for r, c in itertools.product(*axes.values()) if r * c <= 64)
    assert spec.point_count().total == brute == len(list(spec.points)) == len(spec.points)
    assert spec.dropped_points == 6 * 7 - brute

    huge = load_spec(write_spec(tmp_path, {"grid": BIG_GRID}, constraints=["compute.systolic.rows <= 5"]))
    count = bounded(huge.point_count, 20 << 20, 60)
    assert not count.exact and count.total is None and huge.dropped_points is None
    assert count.scanned == COUNT_SCAN_LIMIT and count.raw == 10**7
    assert count.kept == COUNT_SCAN_LIMIT  # rows (the slowest axis) is 1 for the first 10^6 points
    assert "at least" in count.describe()


def test_bad_value_anywhere_in_a_huge_grid_is_an_error_before_running(tmp_path):
    grid = {**BIG_GRID, "memories.scratchpad.banks": [*BIG_GRID["memories.scratchpad.banks"][:-1], "many"]}
    with pytest.raises(ConfigError) as info:
        bounded(lambda: load_spec(write_spec(tmp_path, {"grid": grid})), 20 << 20, 60)
    assert info.value.key_path == "parameters.grid.memories.scratchpad.banks" and "many" in str(info.value)


def test_check_prints_count_and_a_bounded_listing(tmp_path):
    path = write_spec(tmp_path, {"grid": BIG_GRID})
    cmd = [sys.executable, "-m", "accelsim.cli.main", "sweep", str(path), "--out", str(tmp_path / "o"), "--check"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("sweep scale: 10000000 points")
    assert len(lines) == 1 + 20 + 1 and lines[-1] == f"  ... {10**7 - 20} more (--list-all prints every point)"
    small = write_spec(tmp_path, {"grid": {"compute.systolic.rows": list(range(1, 31))}})
    proc = subprocess.run([*cmd[:4], str(small), *cmd[5:], "--list-all"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 1 + 30


# ------------------------------------------------------------------------------------------------ constraints
@pytest.mark.parametrize("text", ["'x' * 100000000000 == 'x'", "100000000000 * 'x' == 'x'",
                                  "('%0999999999d' % 1) == 'x'", "compute.systolic.dataflow * 10 == 'x'"])
def test_constraints_refuse_sequence_repetition(tmp_path, text):
    path = write_spec(tmp_path, {"grid": {"compute.systolic.rows": [8]}}, constraints=["True", text])
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    assert info.value.key_path == "constraints[1]" and str(path) in str(info.value)


def test_constraint_sizes_are_bounded_but_ordinary_arithmetic_works():
    lookup = {"a": "ab" * 3000, "n": 10**600}.__getitem__
    assert evaluate_constraint(parse_constraint("a + 'c' != 'c'"), lookup) is True
    with pytest.raises(ConstraintError, match="longer than"):
        evaluate_constraint(parse_constraint("a + a > 'x'"), lookup)
    with pytest.raises(ConstraintError, match="wider than"):
        evaluate_constraint(parse_constraint("n * n * n > 0"), lookup)
    assert evaluate_constraint(parse_constraint("n * 7 // 7 == n and 3 * 4 % 5 == 2"), lookup) is True


# ------------------------------------------------------------------------------------------------ store and runner
def test_done_ids_are_queried_in_chunks(tmp_path):
    ids = [f"{i:016x}" for i in range(3 * IDS_PER_QUERY + 7)]
    with ResultStore(tmp_path / "out") as store:
        for pid in ids[::3]:
            store.add({"point_id": pid, "status": "ok"})
        statements = []
        store.conn.set_trace_callback(statements.append)
        assert store.done_among(ids) == set(ids[::3])
        assert len(statements) == math.ceil(len(ids) / IDS_PER_QUERY)


def test_repeated_random_draws_are_evaluated_once(tmp_path):
    space = {"compute.systolic.rows": {"choices": [4, 8]}, "compute.systolic.dataflow": {"choices": ["os", "ws"]}}
    spec = load_spec(write_spec(tmp_path, {"random": {"samples": 40, "seed": 1, "space": space}},
                                store_layers=False))
    distinct = {tuple(p.parameters.values()) for p in spec.points}
    summary = run_sweep(spec, tmp_path / "out", workers=0)
    assert summary.total_points == 40 and summary.evaluated == len(distinct) == 4
    assert summary.repeats == 40 - 4 and summary.errors == 0
    df = load_results(tmp_path / "out")
    assert len(df) == 4 and df["point_id"].is_unique


def test_main_process_memory_does_not_grow_per_point(tmp_path):
    """Python allocations of run_sweep(workers=0): the peak for 4,000 points minus that for 400 points, per
    extra point, is far below the ~15.6 KB per point the runner used to keep (futures, results, index)."""
    import dataclasses

    peaks = {}
    for n in (400, 4000):
        folder = tmp_path / str(n)
        folder.mkdir()
        rows, cols = list(range(1, 101)), list(range(1, n // 100 + 1))
        spec = load_spec(write_spec(folder, {"grid": {"compute.systolic.rows": rows, "compute.systolic.cols": cols}},
                                    store_layers=False, simulation={"timing_model": "closed_form"}))
        # caches (graph, config, numba) filled outside the measurement
        run_sweep(dataclasses.replace(spec, points=spec.points[:1]), folder / "warm", workers=0)
        tracemalloc.start()
        try:
            summary = run_sweep(spec, folder / "out", workers=0)
            peaks[n] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert summary.evaluated == n and summary.errors == 0
    per_point = (peaks[4000] - peaks[400]) / 3600
    print(f"peak Python allocations {peaks}; {per_point:.1f} bytes per extra point")
    assert per_point < 200, f"{per_point:.0f} bytes per point (peaks {peaks})"
