"""Wall time of a whole ``accelsim search`` (sensitivity + ILP + verification of every assignment), each run a
fresh process (numba compilation or cache load included), and the figures docs/search.md quotes: front sizes,
how many verified assignments dominate the uniform W8A8 / W4A8 points on (accuracy, energy), and the error of the
additive SQNR prediction.

    python benchmarks/bench_search.py [--task digits_mobilenet_v2] [--hw hw_configs/hvx_690.yaml ...] [--budgets 12]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def dominates(points: pd.DataFrame, ref: pd.Series) -> pd.DataFrame:
    """The rows of ``points`` with accuracy >= and energy <= those of ``ref``, one strictly."""
    acc, e = points["accuracy_pct"], points["energy_pj"]
    return points[(acc >= ref["accuracy_pct"]) & (e <= ref["energy_pj"])
                  & ((acc > ref["accuracy_pct"]) | (e < ref["energy_pj"]))]


def run(task: str, hw: str, budgets: int, out: Path) -> float:
    cmd = [sys.executable, "-m", "accelsim.cli.main", "search", task, hw, "--budgets", str(budgets), "-q",
           "-o", str(out)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="digits_mobilenet_v2")
    parser.add_argument("--hw", nargs="+", default=["hw_configs/hvx_690.yaml", "hw_configs/bitfusion.yaml"])
    parser.add_argument("--budgets", type=int, default=12)
    args = parser.parse_args()
    print(f"date {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; cpu {cpu_model()}; cores {os.cpu_count()}; "
          f"load average {os.getloadavg()[0]:.1f}")
    for hw in args.hw:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            seconds = run(args.task, hw, args.budgets, out)
            cand = pd.read_csv(out / "candidates.csv")
            uniform = pd.read_csv(out / "uniform.csv").set_index("point")
            ok = cand[cand["status"] == "ok"]
            print(f"\n{args.task} on {hw}: {seconds:.1f} s wall; {len(cand)} assignments verified "
                  f"({(cand['status'] != 'ok').sum()} failed)")
            for m in ("latency_cycles", "energy_pj", "dram_bytes"):
                print(f"  front vs {m}: {int(ok[f'front_{m}'].sum())} points")
            err = (ok["predicted_sqnr_db"] - ok["sqnr_db"]).abs()
            print(f"  additive SQNR prediction: max |error| {err.max():.2f} dB, median {err.median():.2f} dB")
            for point in ("W8A8", "W4A8", "W8A16"):
                if point not in uniform.index:
                    continue
                ref = uniform.loc[point]
                dom = dominates(ok, ref)
                best = dom.sort_values("energy_pj").head(1)
                line = (f"  uniform {point}: accuracy {ref['accuracy_pct']:.2f} ± {ref['accuracy_stderr_pct']:.2f} %, "
                        f"energy {ref['energy_pj'] * 1e-6:.2f} µJ, latency {ref['latency_cycles']:.0f} cycles, "
                        f"DRAM {ref['dram_bytes']:.0f} B; dominated on (accuracy, energy) by {len(dom)}")
                if len(best):
                    b = best.iloc[0]
                    line += (f"; cheapest of those: {b['layers_w8']} layers w8, accuracy {b['accuracy_pct']:.2f} "
                             f"± {b['accuracy_stderr_pct']:.2f} %, energy {b['energy_pj'] * 1e-6:.2f} µJ")
                print(line)


if __name__ == "__main__":
    main()
