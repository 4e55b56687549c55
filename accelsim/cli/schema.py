"""``accelsim schema``: print the JSON Schema of hardware config files (every key with its description)."""
from __future__ import annotations

import argparse
import json

from accelsim.config.hw import hardware_json_schema


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--indent", type=int, default=2, help="JSON indentation (default 2)")


def main(args: argparse.Namespace) -> int:
    print(json.dumps(hardware_json_schema(), indent=args.indent))
    return 0
