"""Write accelsim/validation/data/vela_<version>.json: Vela's figures for every case of accelsim.validation.

Run from the repository root with ethos-u-vela installed (``pip install ethos-u-vela==5.2.0``):
``python tools/make_vela_references.py``. The file lets ``accelsim validate`` show the Vela comparison to users
without Vela; ``tests/test_validation.py`` checks it equals a live run.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from accelsim.validation import REFERENCE_FILE, VELA_VERSION, vela_installed_version, vela_live_references


def main() -> int:
    installed = vela_installed_version()
    if installed != VELA_VERSION:
        print(f"needs ethos-u-vela {VELA_VERSION}, found {installed or 'none'}", file=sys.stderr)
        return 2
    out = Path(__file__).resolve().parents[1] / "accelsim" / "validation" / "data" / REFERENCE_FILE
    data = {"tool": "ethos-u-vela", "version": VELA_VERSION,
            "how": "accelsim's export_tflite of each zoo network with synthetic int8 weights, compiled with "
                   "vela --accelerator-config <accelerator> (default system config and memory mode); the "
                   "summary CSV's fields",
            "cases": vela_live_references()}
    out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
