"""Sweep throughput: points/s of ``run_sweep`` on a process pool and a Dask LocalCluster with 1 and 2 workers,
and the per-point cost of the sweep machinery against a bare ``simulate`` loop.

The sweep: ``--points`` seeded random points (L2 and VTCM sizes, DRAM bandwidth, clock) of MobileNet-v2 1.0/224
on ``hw_configs/hvx_690.yaml``, per-layer rows stored (64 per point). Each executor run starts from an empty
results directory and includes its own start-up (spawning workers, loading the config, building the graph).

* bare loop: in one process, ``HardwareConfig.with_values`` + ``accelsim.simulate`` per point, graph built once;
* machinery overhead: ``run_sweep(workers=0)`` (task, worker-side row building, SQLite commit per point, the
  progress bookkeeping) on the same points, minus the bare loop, per point;
* scaling efficiency 1 -> 2 workers: rate(2) / (2 x rate(1)).

    python benchmarks/bench_sweep.py [--points 2000] [--overhead-points 300] [--timing closed_form|event]
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
from accelsim.sweep import load_spec, run_sweep

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
    return {"run": name, "workers": workers, "points": summary.evaluated, "elapsed_s": elapsed,
            "points_per_s": summary.evaluated / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--overhead-points", type=int, default=300)
    parser.add_argument("--timing", choices=["closed_form", "event"], default="closed_form")
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--json", type=Path, help="write the figures as JSON")
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec = load_spec(write_spec(folder, args.points, args.timing))
        print(f"{len(spec.points)} points, MobileNet-v2 on hvx_690, timing model {args.timing}")
        subset = dataclasses.replace(spec, points=spec.points[: args.overhead_points])
        bare = bare_loop_s(spec, subset.points)
        serial = timed_run(subset, folder, "serial", 0, None)
        n = len(subset.points)
        overhead_ms = (serial["elapsed_s"] - bare) / n * 1e3
        print(f"bare simulate loop: {bare / n * 1e3:.1f} ms/point; run_sweep in process: "
              f"{serial['elapsed_s'] / n * 1e3:.1f} ms/point; machinery overhead {overhead_ms:.2f} ms/point "
              f"({overhead_ms / (bare / n * 1e3):.1%})")
        runs = []
        for workers in (1, 2):
            runs.append(timed_run(spec, folder, f"pool{workers}", workers, None))
            print(runs[-1])
        if not args.no_dask:
            for workers in (1, 2):
                runs.append(timed_run(spec, folder, f"dask{workers}", workers, "local"))
                print(runs[-1])
    rate = {r["run"]: r["points_per_s"] for r in runs}
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.platform(),
        "cpus": os.cpu_count(), "python": platform.python_version(), "timing_model": args.timing,
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "bare_ms_per_point": bare / n * 1e3, "serial_sweep_ms_per_point": serial["elapsed_s"] / n * 1e3,
        "overhead_ms_per_point": overhead_ms, "overhead_fraction": overhead_ms / (bare / n * 1e3),
        "overhead_points": n, "runs": runs,
        "pool_scaling_efficiency": rate["pool2"] / (2 * rate["pool1"]),
        "dask_scaling_efficiency": rate["dask2"] / (2 * rate["dask1"]) if "dask1" in rate else None,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
