"""Write accelsim/validation/data/scalesim_<version>.json: SCALE-Sim's compute cycles for the layers of
accelsim.validation.scalesim in each dataflow.

Run from the repository root with scalesim installed (the test extra pins it): ``python
tools/make_scalesim_references.py``. ``tests/test_validation.py`` checks the file equals a live run.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from accelsim.validation.scalesim import REFERENCE_FILE, SCALESIM_VERSION, live_references, scalesim_installed_version


def main() -> int:
    installed = scalesim_installed_version()
    if installed != SCALESIM_VERSION:
        print(f"needs scalesim {SCALESIM_VERSION}, found {installed or 'none'}", file=sys.stderr)
        return 2
    out = Path(__file__).resolve().parents[1] / "accelsim" / "validation" / "data" / REFERENCE_FILE
    data = {"tool": "scalesim", "version": SCALESIM_VERSION,
            "how": "SCALE-Sim's bundled 32x32 array, CALC bandwidth mode, per dataflow: COMPUTE_REPORT.csv Total "
                   "Cycles minus Stall Cycles per layer of accelsim.validation.scalesim.TOPOLOGY",
            "cycles": live_references()}
    out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
