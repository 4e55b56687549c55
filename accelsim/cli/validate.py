"""``accelsim validate [--live | --shipped] [--json OUT]``: accelsim next to independent references, with ratios.

Today: Arm's Vela 5.2.0 on Ethos-U55-256, U55-128 and U65-256 (total and NPU compute cycles, stored weight bytes,
off-chip bytes, per-layer log-cycle correlation) for MobileNet-v1, MobileNet-v2, ResNet-18 and SqueezeNet-1.1. Vela runs live when ``ethos-u-vela`` 5.2.0 is installed, else the
shipped reference figures are used. Run from the accelsim checkout (it reads ``hw_configs/``). Guide:
docs/validation.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--live", action="store_true", help="run the installed Vela (error if it is not 5.2.0)")
    how.add_argument("--shipped", action="store_true", help="use the shipped Vela figures even if Vela is installed")
    parser.add_argument("--only", action="append", default=[], metavar="SET",
                        help="run only this reference set (repeatable; e.g. vela)")
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
