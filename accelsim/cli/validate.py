"""``accelsim validate [--live | --shipped] [--only SET] [--json OUT]``: accelsim next to independent references,
with ratios and acceptance bands.

Reference sets (``accelsim.validation.REFERENCE_SETS``): ``vela`` (Arm Vela 5.2.0 on Ethos-U55-256, U55-128 and
U65-256: cycles, weight and off-chip bytes, per-layer correlation), ``scalesim`` (SCALE-Sim 3.0.0 compute cycles),
``eyeriss`` (the Eyeriss v1 chip on AlexNet, JSSC 2017: latency, DRAM, energy), ``tpu`` (TPU v1's weight-bandwidth
roofline, ISCA 2017), ``hvx`` (Hexagon HVX latencies, whitepaper Table 7), ``perchannel`` (per-channel vs
per-tensor and the SIMD fallback on the trained digits models; information only), ``area`` (die areas of Eyeriss v1
and TPU v1).
Peer tools run live when the pinned version is installed, else their shipped figures are used. Run from the
accelsim checkout (it reads ``hw_configs/``). Guide: docs/validation.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--live", action="store_true", help="run the installed peer tools (error if a pinned version is missing)")
    how.add_argument("--shipped", action="store_true", help="use the shipped peer-tool figures even if the tools are installed")
    parser.add_argument("--only", action="append", default=[], metavar="SET",
                        help="run only this reference set (repeatable): vela, scalesim, eyeriss, tpu, perchannel")
    parser.add_argument("--json", metavar="OUT", type=Path, help="also write the comparisons as JSON")


def main(args: argparse.Namespace) -> int:
    from accelsim.validation import all_comparisons, comparison_table

    comparisons = all_comparisons(live=True if args.live else False if args.shipped else None,
                                  only=tuple(args.only))
    print(comparison_table(comparisons))
    if args.json:
        rows = [{**dataclasses.asdict(c), "ratio": c.ratio, "within_band": c.within_band} for c in comparisons]
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0
