"""``accelsim run HW WORKLOAD [--json OUT] [--csv OUT]``: simulate a workload and print per-layer results.

``HW`` is a hardware YAML and ``WORKLOAD`` a workload YAML, an ONNX / TFLite model or a zoo name. A SCALE-Sim pair
``config.cfg topology.csv`` runs in SCALE-Sim mode: the ``.cfg`` becomes an accelsim config
(:mod:`accelsim.config.scalesim`), the topology a graph, and systolic compute cycles are reported as SCALE-Sim
counts them (its fold model), with stalls as the remaining cycles of each layer. A topology ``.csv`` may also be
run on an accelsim YAML config.

``--quant KEY=VALUE`` (repeatable) changes a YAML or zoo workload's ``quant:`` block, e.g. ``--quant
per_channel=false`` for accelerators whose scale unit holds one multiplier per tensor, ``--quant weight_bits=4``,
or ``--quant overrides.conv1.weight_bits=8``; values are read as YAML scalars.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from accelsim.config.loading import nest
from accelsim.config.scalesim import load_scalesim_config
from accelsim.errors import ConfigError
from accelsim.mapping.tiling import OBJECTIVES
from accelsim.simulate import TIMING_MODELS, simulate
from accelsim.workloads import load_workload
from accelsim.workloads.scalesim_topology import load_scalesim_topology


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("hw", help="hardware config (.yaml) or SCALE-Sim config (.cfg)")
    parser.add_argument("workload", help="workload (.yaml, .onnx, .tflite, zoo name) or SCALE-Sim topology (.csv)")
    parser.add_argument("--json", metavar="OUT", type=Path, help="write the full report as JSON")
    parser.add_argument("--csv", metavar="OUT", type=Path, help="write the per-layer table as CSV")
    parser.add_argument("--timing", choices=TIMING_MODELS, default="event",
                        help="timing model: simpy event model (default) or the closed form")
    parser.add_argument("--objective", choices=OBJECTIVES, default="latency",
                        help="tiling objective (default: latency, then DRAM bytes)")
    parser.add_argument("--clock-mhz", type=float, default=1000.0,
                        help="clock for SCALE-Sim configs, which have none (default 1000 MHz)")
    parser.add_argument("--quant", metavar="KEY=VALUE", action="append", default=[],
                        help="set a key of a YAML/zoo workload's quant: block, e.g. per_channel=false, "
                             "weight_bits=4, overrides.conv1.weight_bits=8 (repeatable)")


def parse_quant_settings(items: list[str]) -> dict[str, Any]:
    """``["per_channel=false", "overrides.conv1.weight_bits=8"]`` -> a nested quant mapping (YAML scalars)."""
    flat = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError("--quant", item, "KEY=VALUE (e.g. per_channel=false)", item)
        flat[key.strip()] = yaml.safe_load(value)
    return nest(flat)


def main(args: argparse.Namespace) -> int:
    hw_path, workload_path = Path(args.hw), Path(args.workload)
    quant = parse_quant_settings(args.quant)
    if workload_path.suffix.lower() == ".csv":
        workload = load_scalesim_topology(workload_path)
    else:
        workload = load_workload(args.workload, quant=quant or None)
    scalesim_mode = hw_path.suffix.lower() == ".cfg"
    hw = load_scalesim_config(hw_path).to_hardware_config(clock_mhz=args.clock_mhz) if scalesim_mode else hw_path
    report = simulate(workload, hw, objective=args.objective, timing_model=args.timing, scalesim_compat=scalesim_mode)
    print(report.summary_table())
    if args.json:
        report.to_json(args.json)
        print(f"wrote {args.json}")
    if args.csv:
        report.to_csv(args.csv)
        print(f"wrote {args.csv}")
    return 0
