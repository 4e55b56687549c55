"""``accelsim plot DIR [--x METRIC] [--y METRIC] [--point ID]``: write the plots of a sweep into DIR/plots.

Pareto scatter (x vs y, default the spec's first two objectives), the first objective against each parameter,
and the per-layer breakdown and roofline of one point (default: the best on the first objective); PNG and SVG.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="results directory of accelsim sweep")
    parser.add_argument("--x", default=None, metavar="METRIC", help="x objective of the Pareto plot (e.g. latency_ms)")
    parser.add_argument("--y", default=None, metavar="METRIC", help="y objective of the Pareto plot (e.g. energy_pj)")
    parser.add_argument("--point", default=None, metavar="ID", help="point id for the per-layer plots")


def main(args: argparse.Namespace) -> int:
    from accelsim.plots import write_sweep_plots

    paths = write_sweep_plots(args.dir, x=args.x, y=args.y, point_id=args.point)
    if not paths:
        print(f"no successful points in {args.dir}: nothing to plot")
        return 1
    for path in paths:
        print(f"wrote {path}")
    return 0
