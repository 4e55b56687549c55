"""Main-process memory of a large sweep: peak RSS of the process running ``run_sweep`` (its pool workers not
counted) and points/s, for sweeps of a tiny workload (one fully connected layer) over a grid of Gemmini array
rows x cols, ``store_layers: false``, closed-form timing. Each size runs in a fresh child process from an empty
results directory, so ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is that run's peak alone; the slope between
two sizes is the memory kept per point (goal: none; a 200,000-point sweep under 600 MB).

    python benchmarks/bench_sweep_memory.py [--points 20000,200000] [--workers 2] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

from machine import cpu_model  # benchmarks/machine.py

REPO = Path(__file__).resolve().parents[1]
TINY = {"name": "tiny", "input_shape": [1, 4, 4, 4], "layers": [{"name": "fc", "op": "fc", "out_channels": 4}]}
GOAL_MB = 600


def write_spec(folder: Path, points: int) -> Path:
    """A grid of ``points`` points: rows 1..500 x cols 1..points/500 (points a multiple of 500 above 500)."""
    rows = min(points, 500)
    (folder / "tiny.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False))
    spec = {"name": "memory", "base": str(REPO / "hw_configs" / "gemmini_default.yaml"), "workloads": ["tiny.yaml"],
            "quant": {"per_channel": False}, "store_layers": False, "simulation": {"timing_model": "closed_form"},
            "parameters": {"grid": {"compute.systolic.rows": list(range(1, rows + 1)),
                                    "compute.systolic.cols": list(range(1, math.ceil(points / rows) + 1))}}}
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def child(points: int, workers: int) -> dict[str, float]:
    """One run in this process: points/s and this process's peak RSS."""
    from accelsim.sweep import load_spec, run_sweep

    with tempfile.TemporaryDirectory() as tmp:
        spec = load_spec(write_spec(Path(tmp), points))
        start = time.perf_counter()
        summary = run_sweep(spec, Path(tmp) / "out", workers=workers)
        elapsed = time.perf_counter() - start
    assert summary.evaluated == points and summary.errors == 0, summary
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {"points": points, "workers": workers, "elapsed_s": elapsed, "points_per_s": points / elapsed,
            "peak_rss_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", default="20000,200000", help="comma-separated sweep sizes")
    parser.add_argument("--workers", type=int, default=2, help="pool workers (0 = in the main process)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.workers)))
        return
    runs = []
    for points in (int(p) for p in args.points.split(",")):
        out = subprocess.run([sys.executable, __file__, "--child", str(points), "--workers", str(args.workers)],
                             capture_output=True, text=True, check=True).stdout
        run = json.loads(out.strip().splitlines()[-1])
        runs.append(run)
        print(f"{points:>8} points, {args.workers} workers: {run['points_per_s']:.0f} points/s, "
              f"main-process peak RSS {run['peak_rss_mb']:.0f} MB", flush=True)
    if len(runs) >= 2:
        a, b = runs[0], runs[-1]
        slope = (b["peak_rss_mb"] - a["peak_rss_mb"]) * 1024 * 1024 / (b["points"] - a["points"])
        print(f"slope: {slope:.1f} bytes of peak RSS per extra point")
    verdict = "OK" if max(r["peak_rss_mb"] for r in runs) < GOAL_MB else "OVER"
    print(f"goal: main-process peak RSS < {GOAL_MB} MB: {verdict}")
    if args.json:
        args.json.write_text(json.dumps({
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": cpu_model(),
            "python": platform.python_version(), "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
