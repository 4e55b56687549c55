"""Sweep throughput: points/s of ``run_sweep`` on a process pool and a Dask LocalCluster with 1 and 2 workers,
and the per-point cost of the sweep machinery against a bare ``simulate`` loop.

The sweep: ``--points`` seeded random points (L2 and VTCM sizes, DRAM bandwidth, clock) of MobileNet-v2 1.0/224
on ``hw_configs/hvx_690.yaml``, per-layer rows stored (64 per point). Each executor run starts from an empty
results directory and includes its own start-up (spawning workers, loading the config, building the graph).

* bare loop: in one process, ``HardwareConfig.with_values`` + ``accelsim.simulate`` per point, graph built once;
* machinery overhead: ``run_sweep(workers=0)`` (task, worker-side row building, SQLite commit per point, the
  progress bookkeeping) on the same points, minus the bare loop, per point;
* worker busy fraction: the points' summed wall time (measured in the workers) / (elapsed x workers) — how much
  of the run the workers spent simulating rather than starting up or waiting for the main process;
* scaling efficiency 1 -> 2 workers: rate(2) / (2 x rate(1)); ``pool1_vs_bare_fraction``: the 1-worker pool's
  time per point (start-up and inter-process transfer included) over the bare loop's, minus 1.

    python benchmarks/bench_sweep.py [--points 2000] [--overhead-points 300] [--rounds 3] [--timing closed_form|event]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

import accelsim
from accelsim.analysis import load_results
from accelsim.sweep import load_spec, run_sweep
from machine import cpu_model  # benchmarks/machine.py

REPO = Path(__file__).resolve().parents[1]


def write_spec(folder: Path, points: int, timing: str) -> Path:
    spec = {
        "name": "bench", "base": str(REPO / "hw_configs" / "hvx_690.yaml"), "workloads": ["mobilenet_v2"],
        "parameters": {"random": {"samples": points, "seed": 0, "space": {
            "memories.vtcm.size_kib": {"low": 64, "high": 1024, "integer": True, "log": True},
            "memories.l2.size_kib": {"low": 256, "high": 4096, "integer": True, "log": True},
            "memories.dram.bandwidth_gb_s": {"low": 4.0, "high": 68.0},
            "clock_mhz": {"choices": [300, 500, 800, 1000]},
        }}},
        "simulation": {"timing_model": timing},
    }
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def bare_loop_s(spec, points) -> float:
    graph = accelsim.load_workload("mobilenet_v2")
    accelsim.simulate(graph, spec.base, timing_model=spec.simulation.timing_model)  # warm-up
    start = time.perf_counter()
    for p in points:
        accelsim.simulate(graph, spec.base.with_values(p.parameters), timing_model=spec.simulation.timing_model)
    return time.perf_counter() - start


def timed_run(spec, folder: Path, name: str, workers: int, dask: str | None) -> dict:
    start = time.perf_counter()
    summary = run_sweep(spec, folder / name, workers=workers, dask=dask)
    elapsed = time.perf_counter() - start
    assert summary.evaluated == len(spec.points) and summary.errors == 0, summary
    busy_s = float(load_results(folder / name)["wall_time_s"].sum())
    return {"run": name, "workers": workers, "points": summary.evaluated, "elapsed_s": elapsed,
            "points_per_s": summary.evaluated / elapsed, "worker_busy_fraction": busy_s / (elapsed * max(workers, 1)),
            "load_average_1min": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--overhead-points", type=int, default=300)
    parser.add_argument("--timing", choices=["closed_form", "event"], default="closed_form")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the overhead measurement")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask runs")
    parser.add_argument("--skip-scaling", action="store_true", help="measure the machinery overhead only")
    parser.add_argument("--json", type=Path, help="write the figures as JSON")
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec = load_spec(write_spec(folder, args.points, args.timing))
        print(f"{len(spec.points)} points, MobileNet-v2 on hvx_690, timing model {args.timing}", flush=True)
        subset = dataclasses.replace(spec, points=spec.points[: args.overhead_points])
        n = len(subset.points)
        bare, serial = [], []
        for i in range(args.rounds):  # alternate, keep the best of each: other load on the machine only adds
            bare.append(bare_loop_s(spec, subset.points))
            serial.append(timed_run(subset, folder, f"serial{i}", 0, None)["elapsed_s"])
        bare_ms, serial_ms = min(bare) / n * 1e3, min(serial) / n * 1e3
        overhead_ms = serial_ms - bare_ms
        print(f"bare simulate loop: {bare_ms:.1f} ms/point; run_sweep in process: {serial_ms:.1f} ms/point; "
              f"machinery overhead {overhead_ms:.2f} ms/point ({overhead_ms / bare_ms:.1%})", flush=True)
        runs = []
        for workers in ([] if args.skip_scaling else [1, 2]):
            runs.append(timed_run(spec, folder, f"pool{workers}", workers, None))
            print(runs[-1], flush=True)
        for workers in ([] if args.skip_scaling or args.no_dask else [1, 2]):
            runs.append(timed_run(spec, folder, f"dask{workers}", workers, "local"))
            print(runs[-1], flush=True)
    rate = {r["run"]: r["points_per_s"] for r in runs}
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": cpu_model(),
        "cpus": os.cpu_count(), "python": platform.python_version(), "timing_model": args.timing,
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "bare_ms_per_point": bare_ms, "serial_sweep_ms_per_point": serial_ms, "overhead_ms_per_point": overhead_ms,
        "overhead_fraction": overhead_ms / bare_ms, "overhead_points": n, "rounds": args.rounds, "runs": runs,
        "pool1_vs_bare_fraction": (1e3 / rate["pool1"] - bare_ms) / bare_ms if "pool1" in rate else None,
        "pool_scaling_efficiency": rate["pool2"] / (2 * rate["pool1"]) if "pool1" in rate else None,
        "dask_scaling_efficiency": rate["dask2"] / (2 * rate["dask1"]) if "dask1" in rate else None,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
