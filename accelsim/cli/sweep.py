"""``accelsim sweep SPEC.yaml --out DIR [--workers N] [--dask ADDRESS|local]``: run a design-space sweep.

Every point of the spec not yet in ``DIR/results.sqlite`` is simulated (a killed sweep restarted with the same
command runs only the missing points); a tqdm bar shows points done, rate and time left. Default: a local
process pool over all cores; ``--dask local`` starts a LocalCluster (2 worker processes), ``--dask ADDRESS``
connects to a running scheduler. Specs with ``plots: true`` end by writing ``DIR/plots``. Guide: docs/sweeps.md.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accelsim.sweep import SweepSpec

#: Exit code of a sweep that ran but stored failed points (2 is bad input, as for every command).
EXIT_POINTS_FAILED = 3
#: Points ``--check`` lists unless ``--list-all``.
CHECK_LISTED = 20

EPILOG = f"""exit codes:
  0  no point failed in this run (points stored by an earlier run are not retried)
  2  bad input (spec, results directory in use or damaged); nothing ran
  {EXIT_POINTS_FAILED}  the sweep ran but some points failed (stored with status error; the last line says how many)
  130  interrupted (Ctrl-C); rerun the same command to resume"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("spec", type=Path, help="sweep spec (.yaml)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="results directory")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="worker processes (default: all cores; 0 = run in this process)")
    parser.add_argument("--dask", metavar="ADDRESS", default=None,
                        help="run on a Dask cluster: a scheduler address (tcp://host:8786) or 'local'")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--check", action="store_true",
                        help=f"validate the spec, print its point count and first {CHECK_LISTED} points, and stop")
    parser.add_argument("--list-all", action="store_true", help="with --check: print every point")


def main(args: argparse.Namespace) -> int:
    from accelsim.sweep import load_spec, run_sweep

    if args.workers is not None and args.workers < 0:
        print("accelsim sweep: error: --workers must be >= 0", file=sys.stderr)
        return 2
    spec = load_spec(args.spec)
    count = spec.point_count()
    print(f"sweep {spec.name}: {count.describe()}")
    if args.check:
        return _list_points(spec, None if args.list_all else CHECK_LISTED, count.total)
    summary = run_sweep(spec, args.out, workers=args.workers, dask=args.dask, progress=not args.no_progress)
    repeats = f", {summary.repeats} repeated draw(s) skipped" if summary.repeats else ""
    print(f"{summary.evaluated} point(s) evaluated in {summary.elapsed_s:.1f} s ({summary.already_done} already "
          f"stored{repeats}), {summary.errors} error(s); results: {summary.store}")
    if spec.plots:
        from accelsim.plots import write_sweep_plots

        paths = write_sweep_plots(args.out)
        print(f"wrote {len(paths)} plot file(s) to {Path(args.out) / 'plots'}")
    if summary.errors:
        print(f"first failure: {summary.first_error}")
        print(f"{summary.errors} point(s) failed in this run (stored with status error)")
        return EXIT_POINTS_FAILED
    return 0


def _list_points(spec: SweepSpec, limit: int | None, total: int | None) -> int:
    """Print the first ``limit`` points (None: all) and how many more there are."""
    shown = 0
    for p in itertools.islice(spec.points, limit):
        print(f"  {p.point_id}  {p.workload}  {p.parameters}")
        shown += 1
    if limit is not None and shown == limit:
        more = f"{total - shown} more" if total is not None else "more"
        if total is None or total > shown:
            print(f"  ... {more} (--list-all prints every point)")
    return 0
