"""Helpers shared by the sweep tests: a spec over a tiny YAML workload on the Gemmini config."""
from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
GEMMINI = REPO / "hw_configs" / "gemmini_default.yaml"


def write_tiny_spec(folder: Path, name: str, workload: dict, parameters: dict, **extra) -> Path:
    """Write ``workload`` as ``folder/tiny.yaml`` and a per-tensor sweep spec ``folder/spec.yaml`` over it."""
    (folder / "tiny.yaml").write_text(yaml.safe_dump(workload, sort_keys=False))
    data = {"name": name, "base": str(GEMMINI), "workloads": ["tiny.yaml"], "quant": {"per_channel": False},
            "parameters": parameters, **extra}
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
