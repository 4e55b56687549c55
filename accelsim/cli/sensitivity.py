"""``accelsim sensitivity TASK HW``: per MAC layer, the accuracy drop, output SQNR and hardware saving of moving
that layer alone to each lower weight width the hardware supports (:mod:`accelsim.dse.sensitivity`).

Writes ``OUT/sensitivity.csv`` and ``OUT/sensitivity.png`` / ``.svg`` and prints the table; progress goes to
stderr unless ``--quiet``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def add_common(parser: argparse.ArgumentParser, out_default: str) -> None:
    """The arguments ``accelsim sensitivity`` and ``accelsim search`` share."""
    parser.add_argument("task", help="a shipped task (digits_cnn, digits_dsconv, digits_mobilenet_v2) or a task YAML")
    parser.add_argument("hw", help="hardware config YAML")
    parser.add_argument("--weight-bits", type=int, default=8, help="baseline weight bits (default 8)")
    parser.add_argument("--activation-bits", type=int, default=8, help="activation bits of every point (default 8)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--per-channel", dest="per_channel", action="store_true", default=None,
                       help="per-channel weight scales (default: per channel unless the hardware's scale unit is "
                            "per tensor without a fallback)")
    group.add_argument("--per-tensor", dest="per_channel", action="store_false", help="per-tensor weight scales")
    parser.add_argument("-o", "--out", type=Path, default=Path(out_default),
                        help=f"output folder (default {out_default})")
    parser.add_argument("--no-plot", action="store_true", help="do not write the plot")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")


def evaluator(args: argparse.Namespace):
    """The :class:`accelsim.dse.Evaluator` of the command line's task, hardware and baseline (validated first)."""
    from accelsim.config.hw import load_hw
    from accelsim.dse import Evaluator, default_base_quant, lower_moves, lower_weight_bits
    from accelsim.tasks import load_task

    hw = load_hw(args.hw)
    task = load_task(args.task)
    base = default_base_quant(hw, args.weight_bits, args.activation_bits, args.per_channel, "command line")
    # a hardware without lower widths is an error before anything runs
    (lower_weight_bits if args.command == "search" else lower_moves)(hw, base)
    return Evaluator(task, hw, base)


def progress_printer(command: str, quiet: bool):
    if quiet:
        return None

    def progress(step: int, total: int, what: str) -> None:
        print(f"accelsim {command}: [{step}/{total}] {what}", file=sys.stderr, flush=True)
    return progress


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser, "sensitivity_out")


def main(args: argparse.Namespace) -> int:
    from accelsim.dse import sensitivity_table
    from accelsim.plots import save, sensitivity_plot

    ev = evaluator(args)
    table = sensitivity_table(ev, progress_printer("sensitivity", args.quiet))
    base = ev.measure(ev.base)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "sensitivity.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 48):
        print(table.to_string(index=False, float_format="%.4g"))
    print(f"baseline W{ev.base.weight_bits}A{ev.base.activation_bits} "
          f"({'per-channel' if ev.base.per_channel else 'per-tensor'}): accuracy {base.accuracy.accuracy_pct:.2f} "
          f"± {base.accuracy.accuracy_stderr_pct:.2f} % (float {base.accuracy.float_accuracy_pct:.2f} %), output "
          f"SQNR {base.sqnr_db:.2f} dB, {base.latency_cycles:.0f} cycles, {base.energy_pj * 1e-6:.2f} µJ, "
          f"{base.dram_bytes:.0f} DRAM bytes")
    print(f"wrote {args.out / 'sensitivity.csv'}")
    if not args.no_plot:
        for path in save(sensitivity_plot(table, f"{ev.task.name} on {ev.hw.name}: one layer moved"),
                         args.out / "sensitivity"):
            print(f"wrote {path}")
    return 0
