"""Entry point of the ``accelsim`` command: dispatches to one module per command.

Each command module defines ``add_arguments(parser)`` and ``main(args) -> int``. User errors
(:class:`accelsim.errors.AccelsimError`) are printed without a traceback and give exit code 2; output cut short
by a closed pipe (``accelsim sweep ... --check | head``) ends quietly with exit code 141 (128 + SIGPIPE).
"""
from __future__ import annotations

import argparse
import os
import sys
from importlib import import_module

from accelsim._version import __version__
from accelsim.errors import AccelsimError

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("accelsim.cli.run", "simulate a workload on a hardware config (or SCALE-Sim .cfg + topology .csv)"),
    "info": ("accelsim.cli.info", "print a workload's layers, parameter count and MAC count"),
    "schema": ("accelsim.cli.schema", "print the JSON Schema of hardware configs"),
    "accuracy": ("accelsim.cli.accuracy", "evaluate quantized accuracy on the digits data set"),
    "sweep": ("accelsim.cli.sweep", "run a design-space sweep spec"),
    "plot": ("accelsim.cli.plot", "plot the results of a sweep"),
    "validate": ("accelsim.cli.validate", "compare accelsim with independent references (Vela, SCALE-Sim, Eyeriss v1, TPU v1), with ratios"),
    "sensitivity": ("accelsim.cli.sensitivity", "per-layer accuracy drop, output SQNR and hardware saving of lower weight widths"),
    "search": ("accelsim.cli.search", "Pareto front of measured accuracy vs latency/energy/DRAM over per-layer weight widths"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="accelsim",
        description="Cycle-approximate simulator and design-space explorer for fixed-point DNN accelerators, "
                    "with bit-exact integer execution of quantized networks.",
    )
    parser.add_argument("--version", action="version", version=f"accelsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = import_module(module_name)
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(cmd)
        cmd.set_defaults(_handler=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_handler", None):
        parser.print_help()
        return 1
    try:
        return int(args._handler(args) or 0)
    except AccelsimError as exc:
        print(f"accelsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("accelsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away: send the rest of stdout (and the flush at exit) to devnull, per the Python docs'
        # "Note on SIGPIPE".
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
