"""``accelsim accuracy``: quantized accuracy of the shipped digits models (the whitepaper's Tables 2-5).

Progress (``[n/N] model seed s: column``) goes to stderr, one line per evaluation, unless ``--quiet``; stdout
carries only the table (or its JSON). ``--layer-bits SELECTORS`` (accelsim.graph.selectors) gives every
quantized column per-layer widths, e.g. ``--layer-bits first=w8,last=w8`` keeps the first and last MAC layers at
8-bit weights in the W4A8 columns; it is checked on every model before anything runs.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from accelsim.accuracy import COLUMNS, MODELS, SEEDS, Column, accuracy_table, format_table
from accelsim.errors import AccelsimError
from accelsim.graph.importers.onnx import load_onnx
from accelsim.graph.selectors import LayerSelector, parse_layer_bits, resolve_layer_bits
from accelsim.workloads.digits import shipped_model_path


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
    parser.add_argument("--layer-bits", metavar="SELECTORS", action="append", default=[], dest="layer_bits",
                        help="per-layer widths in every quantized column, later entries winning: SELECT=VALUE,... "
                             "with SELECT an op kind (depthwise, pointwise, conv, fc), first, last or a layer "
                             "name/glob and VALUE w<bits>, a<bits>, pc|pt, e.g. first=w8,last=w8 (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")


def print_progress(step: int, total: int, what: str) -> None:
    """One progress line on stderr: ``accelsim accuracy: [step/total] what``."""
    print(f"accelsim accuracy: [{step}/{total}] {what}", file=sys.stderr, flush=True)


def columns_with_layer_bits(text: str, models: tuple[str, ...], seed: int) -> tuple[tuple[Column, ...],
                                                                                   tuple[LayerSelector, ...]]:
    """The accuracy columns with ``--layer-bits`` selectors added to every quantized column's PTQ settings, and
    the selectors; each model (``seed``'s file) is checked first, so a selector matching nothing in any model is
    a ConfigError naming the entry before anything runs."""
    selectors = parse_layer_bits(text, "--layer-bits", "entry")
    if not selectors:
        return COLUMNS, ()
    for model in models:
        resolve_layer_bits(load_onnx(shipped_model_path(model, seed), batch_size=1), selectors,
                           source=f"--layer-bits (model {model})", key_path="entry")
    columns = tuple(c if c.settings is None else replace(c, settings=replace(c.settings, layer_bits=selectors))
                    for c in COLUMNS)
    return columns, selectors


def main(args: argparse.Namespace) -> int:
    if not args.models or not args.seeds:
        raise AccelsimError("--models and --seeds must name at least one model and one seed")
    columns, selectors = columns_with_layer_bits(",".join(args.layer_bits), tuple(args.models), args.seeds[0])
    table = accuracy_table(tuple(args.models), tuple(args.seeds), columns=columns,
                           calibration_count=args.calibration_images,
                           progress=None if args.quiet else print_progress)
    layer_bits = ",".join(s.compact() for s in selectors)
    if args.json:
        print(json.dumps({**table.to_dict(), **({"layer_bits": layer_bits} if selectors else {})}, indent=2))
    else:
        print(format_table(table))
        if selectors:
            print(f"per-layer widths in every quantized column (--layer-bits): {layer_bits}")
    return 0
