"""``accelsim accuracy``: quantized accuracy of the shipped digits models (the whitepaper's Tables 2-5).

Progress (``[n/N] model seed s: column``) goes to stderr, one line per evaluation, unless ``--quiet``; stdout
carries only the table (or its JSON).
"""
from __future__ import annotations

import argparse
import json
import sys

from accelsim.accuracy import MODELS, SEEDS, accuracy_table, format_table
from accelsim.errors import AccelsimError


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in _names(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, found {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", type=_names, default=MODELS,
                        help=f"comma-separated digits models (default: {','.join(MODELS)})")
    parser.add_argument("--seeds", type=_ints, default=SEEDS,
                        help=f"comma-separated training seeds (default: {','.join(map(str, SEEDS))})")
    parser.add_argument("--calibration-images", type=int, default=200,
                        help="training images used to calibrate activation ranges (default: 200)")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")


def print_progress(step: int, total: int, what: str) -> None:
    """One progress line on stderr: ``accelsim accuracy: [step/total] what``."""
    print(f"accelsim accuracy: [{step}/{total}] {what}", file=sys.stderr, flush=True)


def main(args: argparse.Namespace) -> int:
    if not args.models or not args.seeds:
        raise AccelsimError("--models and --seeds must name at least one model and one seed")
    table = accuracy_table(tuple(args.models), tuple(args.seeds), calibration_count=args.calibration_images,
                           progress=None if args.quiet else print_progress)
    print(json.dumps(table.to_dict(), indent=2) if args.json else format_table(table))
    return 0
