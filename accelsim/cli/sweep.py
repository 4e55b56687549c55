"""``accelsim sweep SPEC.yaml --out DIR [--workers N] [--dask ADDRESS|local]``: run a design-space sweep.

Every point of the spec not yet in ``DIR/results.sqlite`` is simulated (a killed sweep restarted with the same
command runs only the missing points); a tqdm bar shows points done, rate and time left. Default: a local
process pool over all cores; ``--dask local`` starts a LocalCluster (2 worker processes), ``--dask ADDRESS``
connects to a running scheduler. Specs with ``plots: true`` end by writing ``DIR/plots``. Guide: docs/sweeps.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, help="sweep spec (.yaml)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="results directory")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="worker processes (default: all cores; 0 = run in this process)")
    parser.add_argument("--dask", metavar="ADDRESS", default=None,
                        help="run on a Dask cluster: a scheduler address (tcp://host:8786) or 'local'")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--check", action="store_true", help="validate the spec, print its points and stop")


def main(args: argparse.Namespace) -> int:
    from accelsim.sweep import load_spec, run_sweep

    spec = load_spec(args.spec)
    print(f"sweep {spec.name}: {len(spec.points)} points ({len(spec.workloads)} workload(s) x "
          f"{len(spec.points) // len(spec.workloads)} parameter points; {spec.dropped_points} dropped by constraints)")
    if args.check:
        for p in spec.points:
            print(f"  {p.point_id}  {p.workload}  {p.parameters}")
        return 0
    if args.workers is not None and args.workers < 0:
        print("accelsim sweep: error: --workers must be >= 0", file=sys.stderr)
        return 2
    summary = run_sweep(spec, args.out, workers=args.workers, dask=args.dask, progress=not args.no_progress)
    print(f"{summary.evaluated} point(s) evaluated in {summary.elapsed_s:.1f} s ({summary.already_done} already "
          f"stored), {summary.errors} error(s); results: {summary.store}")
    if summary.errors:
        from accelsim.analysis import load_results

        df = load_results(args.out)
        failed = df[df["status"] == "error"]
        print(f"{len(failed)} failed point(s) stored; first: {failed.iloc[0]['point_id']}: {failed.iloc[0]['error']}")
    if spec.plots:
        from accelsim.plots import write_sweep_plots

        paths = write_sweep_plots(args.out)
        print(f"wrote {len(paths)} plot file(s) to {Path(args.out) / 'plots'}")
    return 0
