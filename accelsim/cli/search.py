"""``accelsim search TASK HW``: the Pareto front of measured accuracy vs latency, energy and DRAM bytes over
per-layer weight widths the hardware supports (:mod:`accelsim.dse.search`; docs/search.md).

Writes ``OUT/candidates.csv`` (every verified assignment, ``front_<metric>`` flags), ``OUT/front_<metric>.csv``,
``OUT/uniform.csv``, ``OUT/sensitivity.csv`` and the plots ``OUT/accuracy_vs_<metric>.png`` / ``.svg``; prints the
energy front and the uniform points.
"""
from __future__ import annotations

import argparse
import time

import pandas as pd

from accelsim.cli.sensitivity import add_common, evaluator, progress_printer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from accelsim.dse import PREDICTORS

    add_common(parser, "search_out")
    parser.add_argument("--budgets", type=int, default=12,
                        help="cost budgets per metric, evenly spaced from the cheapest to the baseline (default 12)")
    parser.add_argument("--predictor", choices=PREDICTORS, default="sqnr",
                        help="accuracy proxy the ILP minimises: additive output noise (sqnr) or additive drops")


def main(args: argparse.Namespace) -> int:
    from accelsim.dse import search
    from accelsim.dse.sensitivity import HW_METRICS
    from accelsim.plots import save, search_front_plot

    start = time.perf_counter()
    ev = evaluator(args)
    result = search(ev, budgets=args.budgets, predictor=args.predictor,
                    progress=progress_printer("search", args.quiet))
    args.out.mkdir(parents=True, exist_ok=True)
    result.candidates.to_csv(args.out / "candidates.csv", index=False)
    result.sensitivity.to_csv(args.out / "sensitivity.csv", index=False)
    result.uniform.to_csv(args.out / "uniform.csv", index=False)
    for metric in HW_METRICS:
        result.front(metric).to_csv(args.out / f"front_{metric}.csv", index=False)
    shown = ["layers_w" + str(w) for w in sorted({int(c[8:]) for c in result.candidates if c.startswith("layers_w")},
                                                    reverse=True)]
    shown += ["predicted_sqnr_db", "sqnr_db", "accuracy_pct", "accuracy_stderr_pct", *HW_METRICS]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("measured front, accuracy vs energy:")
        print(result.front("energy_pj")[shown].to_string(index=False, float_format="%.4g"))
        print("uniform points:")
        cols = [c for c in ("point", "status", "accuracy_pct", "accuracy_stderr_pct", "sqnr_db", *HW_METRICS,
                            "dominated_by_energy") if c in result.uniform]
        print(result.uniform[cols].to_string(index=False, float_format="%.4g"))
    print(f"{len(result.candidates)} assignments verified (PTQ + integer execution + simulate), "
          f"{result.ilp_solves} ILP solves, {ev.executions} settings executed, "
          f"{time.perf_counter() - start:.1f} s")
    if not args.no_plot:
        for metric in HW_METRICS:
            fig = search_front_plot(result.candidates, result.uniform, metric,
                                    f"{ev.task.name} on {ev.hw.name}: accuracy vs {metric}")
            for path in save(fig, args.out / f"accuracy_vs_{metric}"):
                print(f"wrote {path}")
    print(f"wrote {args.out}/candidates.csv, front_*.csv, uniform.csv, sensitivity.csv")
    return 0
