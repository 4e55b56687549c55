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
                   "vela --accelerator-config <accelerator> --system-config <Vela's default for it> --memory-mode "
                   "<Vela's default for it> --verbose-performance; the summary CSV's fields and, under layers, "
                   "the per-layer CSV's [Original Operator, Name, Op Cycles, NPU] rows",
            "cases": vela_live_references()}
    # One case per line and one layer row per line keep the file small and its diffs readable.
    cases = data.pop("cases")
    lines = [json.dumps(data, sort_keys=True)[:-1] + ', "cases": {']
    for i, (key, fig) in enumerate(cases.items()):
        layers = fig.pop("layers")
        head = json.dumps(fig, sort_keys=True)[:-1]
        rows = ",\n  ".join(json.dumps(row) for row in layers)
        lines.append(f' {json.dumps(key)}: {head}, "layers": [\n  {rows}]}}' + ("," if i < len(cases) - 1 else ""))
    lines.append("}}")
    out.write_text("\n".join(lines) + "\n")
    json.loads(out.read_text())          # the file must stay valid JSON
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
