"""``accelsim run HW WORKLOAD [--json OUT] [--csv OUT]``: simulate a workload and print per-layer results.

``HW`` is a hardware YAML and ``WORKLOAD`` a workload YAML, an ONNX / TFLite model or a zoo name. A SCALE-Sim pair
``config.cfg topology.csv`` runs in SCALE-Sim mode: the ``.cfg`` becomes an accelsim config
(:mod:`accelsim.config.scalesim`), the topology a graph, and systolic compute cycles are reported as SCALE-Sim
counts them (its fold model), with stalls as the remaining cycles of each layer. A topology ``.csv`` may also be
run on an accelsim YAML config.

``--json -`` / ``--csv -`` write to stdout instead of a file (not both); the summary table and the "wrote"
lines then go to stderr, so stdout carries only the data. ``--quiet`` prints neither the table nor the "wrote"
lines; errors and the report's model warnings (``metadata["warnings"]``) always go to stderr.

``--quant KEY=VALUE`` (repeatable) changes a YAML or zoo workload's ``quant:`` block, e.g. ``--quant
per_channel=false`` for accelerators whose scale unit holds one multiplier per tensor, ``--quant weight_bits=4``,
or ``--quant overrides.conv1.weight_bits=8``; values are read as YAML scalars. ``--layer-bits SELECTORS``
(repeatable, entries in order) sets the block's ``layer_bits`` (per-layer widths by op kind, first/last or name
glob; :mod:`accelsim.graph.selectors`), e.g. ``--quant weight_bits=4 --layer-bits first=w8,last=w8``.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any, TextIO

from accelsim.config.loading import nest, parse_yaml
from accelsim.config.scalesim import load_scalesim_config
from accelsim.errors import AccelsimError, ConfigError, ModelWarning
from accelsim.graph.ptq import with_batch_size
from accelsim.mapping.tiling import OBJECTIVES
from accelsim.simulate import TIMING_MODELS, simulate
from accelsim.workloads import load_workload
from accelsim.workloads.scalesim_topology import load_scalesim_topology


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("hw", help="hardware config (.yaml) or SCALE-Sim config (.cfg)")
    parser.add_argument("workload", help="workload (.yaml, .onnx, .tflite, zoo name) or SCALE-Sim topology (.csv)")
    parser.add_argument("--json", metavar="OUT", help="write the full report as JSON (- = stdout)")
    parser.add_argument("--csv", metavar="OUT", help="write the per-layer table as CSV (- = stdout)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print no summary table and no 'wrote' lines (errors and warnings still go to stderr)")
    parser.add_argument("--timing", choices=TIMING_MODELS, default="event",
                        help="timing model: simpy event model (default) or the closed form")
    parser.add_argument("--no-prefetch", dest="prefetch", action="store_false",
                        help="time every layer alone: no weight prefetch under the previous layer (always off "
                             "for SCALE-Sim configs)")
    parser.add_argument("--batch", type=int, metavar="N", help="run N images at once (the workload's batch size)")
    parser.add_argument("--sub-batch", type=int, metavar="B", dest="sub_batch",
                        help="run the batch as passes of B images (a divisor of it); default: the whole batch, or "
                             "the fastest split when its activations do not fit on chip")
    parser.add_argument("--objective", choices=OBJECTIVES, default="latency",
                        help="tiling objective (default: latency, then DRAM bytes)")
    parser.add_argument("--clock-mhz", type=float, default=1000.0,
                        help="clock for SCALE-Sim configs, which have none (default 1000 MHz)")
    parser.add_argument("--quant", metavar="KEY=VALUE", action="append", default=[],
                        help="set a key of a YAML/zoo workload's quant: block, e.g. per_channel=false, "
                             "weight_bits=4, overrides.conv1.weight_bits=8 (repeatable)")
    parser.add_argument("--layer-bits", metavar="SELECTORS", action="append", default=[], dest="layer_bits",
                        help="per-layer widths of a YAML/zoo workload, later entries winning: SELECT=VALUE,... with "
                             "SELECT an op kind (depthwise, pointwise, conv, fc), first, last or a layer name/glob "
                             "(name:GLOB for a layer named like a keyword) and VALUE w<bits>, a<bits>, pc|pt, e.g. "
                             "depthwise=w8a8,first=w8,last=w8 (repeatable; sets quant.layer_bits)")


def parse_quant_settings(items: list[str], layer_bits: list[str] = ()) -> dict[str, Any]:
    """``["per_channel=false", "overrides.conv1.weight_bits=8"]`` -> a nested quant mapping (YAML scalars);
    ``layer_bits`` (the ``--layer-bits`` values, compact selector strings) become its ``layer_bits``, joined by
    commas in order, checked (accelsim.graph.selectors) when the workload is built: ConfigError at
    ``quant.layer_bits[i]``, ``i`` counting entries across the options."""
    flat = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError("--quant", item, "KEY=VALUE (e.g. per_channel=false)", item)
        flat[key.strip()] = parse_yaml(value, f"--quant {key.strip()}")
    quant = nest(flat)
    if layer_bits:
        quant["layer_bits"] = ",".join(layer_bits)
    return quant


def main(args: argparse.Namespace) -> int:
    hw_path, workload_path = Path(args.hw), Path(args.workload)
    quant = parse_quant_settings(args.quant, args.layer_bits)
    if workload_path.suffix.lower() == ".csv":
        workload = load_scalesim_topology(workload_path)
    else:
        workload = load_workload(args.workload, quant=quant or None)
    if args.batch is not None:
        if args.batch < 1:
            raise AccelsimError(f"--batch must be a positive number of images, got {args.batch}")
        workload = with_batch_size(workload, args.batch)
    scalesim_mode = hw_path.suffix.lower() == ".cfg"
    hw = load_scalesim_config(hw_path).to_hardware_config(clock_mhz=args.clock_mhz) if scalesim_mode else hw_path
    if args.json == STDOUT and args.csv == STDOUT:
        raise AccelsimError("--json - and --csv - would both write to stdout; write one of them to a file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelWarning)  # printed below from the report's metadata
        report = simulate(workload, hw, objective=args.objective, timing_model=args.timing,
                          scalesim_compat=scalesim_mode, prefetch=args.prefetch and not scalesim_mode,
                          sub_batch=args.sub_batch)
    for note in report.metadata.get("warnings", []):
        print(f"accelsim run: warning: {note}", file=sys.stderr)
    info = sys.stderr if STDOUT in (args.json, args.csv) else sys.stdout
    if not args.quiet:
        print(report.summary_table(), file=info)
    for target, text in ((args.json, report.json_text), (args.csv, report.csv_text)):
        if target is not None:
            write_output(target, text(), None if args.quiet else info)
    return 0


#: The ``--json`` / ``--csv`` value that means standard output.
STDOUT = "-"


def write_output(target: str, text: str, info: TextIO | None) -> None:
    """Write ``text`` to stdout (``target == "-"``) or to the file ``target``, then say so on ``info``;
    AccelsimError naming the file when it cannot be written."""
    if target == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        Path(target).write_text(text)
    except OSError as exc:
        raise AccelsimError(f"cannot write {target}: {exc.strerror or exc}") from None
    if info is not None:
        print(f"wrote {target}", file=info)
