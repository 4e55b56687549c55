"""``accelsim plot DIR [--x METRIC] [--y METRIC] [--by COLUMN ...] [--annotate] [--point ID]``: write the plots
of a sweep into DIR/plots.

Pareto scatter (x vs y, default the spec's first two objectives) with a panel per workload (and per value of
each ``--by`` column) and the fronts as CSV tables, the first objective against each parameter, and the
per-layer breakdown and roofline of one point (default: the best on the first objective); PNG and SVG.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="results directory of accelsim sweep")
    parser.add_argument("--x", default=None, metavar="METRIC", help="x objective of the Pareto plot (e.g. latency_ms)")
    parser.add_argument("--y", default=None, metavar="METRIC", help="y objective of the Pareto plot (e.g. energy_pj)")
    parser.add_argument("--by", action="append", default=[], metavar="COLUMN",
                        help="also split the Pareto fronts by this column (e.g. quant.weight_bits); repeatable; "
                             "fronts are always per workload")
    parser.add_argument("--annotate", action="store_true", help="label the Pareto front points with their parameters")
    parser.add_argument("--point", default=None, metavar="ID", help="point id for the per-layer plots")


def main(args: argparse.Namespace) -> int:
    from accelsim.plots import write_sweep_plots

    paths = write_sweep_plots(args.dir, x=args.x, y=args.y, point_id=args.point, by=args.by,
                              annotate=args.annotate)
    if not paths:
        print(f"no successful points in {args.dir}: nothing to plot")
        return 1
    for path in paths:
        print(f"wrote {path}")
    return 0
