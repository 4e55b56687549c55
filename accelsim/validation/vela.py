"""Reference set: Arm Vela.

The reference is Arm's Vela compiler and performance estimator ([ref:Vela], ``ethos-u-vela`` 5.2.0) on
Ethos-U55-256 in its default system configuration (Ethos_U55_High_End_Embedded, Shared_Sram, 500 MHz): accelsim
exports each network (synthetic int8 weights) to a .tflite with its own exporter, Vela compiles that file, and
accelsim simulates the very same graph on ``hw_configs/ethos_u55_256.yaml``. Compared: total cycles, stored
(compressed) weight bytes and off-chip bytes. With ``ethos-u-vela`` installed Vela runs live; without it the
reference figures shipped in ``accelsim/validation/data/`` (written by ``tools/make_vela_references.py`` with
the same Vela version) are used. The ratios are reported, not hidden: docs/validation.md says how far they are
from 1 and why.
"""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

from accelsim.validation.common import Comparison, config_path

VELA_VERSION = "5.2.0"
#: (zoo network, accelsim hardware config, Vela --accelerator-config).
VELA_CASES: tuple[tuple[str, str, str], ...] = (
    ("mobilenet_v1_1.0_224", "ethos_u55_256", "ethos-u55-256"),
    ("mobilenet_v2_1.0_224", "ethos_u55_256", "ethos-u55-256"),
    ("resnet_18", "ethos_u55_256", "ethos-u55-256"),
    ("squeezenet_1.1", "ethos_u55_256", "ethos-u55-256"),
)
#: The Vela summary CSV columns that are reference figures.
VELA_FIELDS = ("cycles_total", "cycles_npu", "total_npu_encoded_weights", "off_chip_flash_total_bytes",
               "inference_time")
REFERENCE_FILE = f"vela_{VELA_VERSION}.json"


def vela_installed_version() -> str | None:
    """The installed ``ethos-u-vela`` version, or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ethos-u-vela")
    except PackageNotFoundError:
        return None


def run_vela(tflite: bytes, accelerator: str) -> dict[str, float]:
    """Compile ``tflite`` with the installed Vela for ``accelerator`` (its default system config) in a temporary
    directory; the :data:`VELA_FIELDS` of its summary CSV."""
    with tempfile.TemporaryDirectory(prefix="accelsim-vela-") as folder:
        model = Path(folder) / "model.tflite"
        model.write_bytes(tflite)
        out = Path(folder) / "out"
        proc = subprocess.run(
            [sys.executable, "-c", "import sys; from ethosu.vela.vela import main; sys.exit(main(sys.argv[1:]))",
             str(model), "--accelerator-config", accelerator, "--output-dir", str(out)],
            capture_output=True, text=True, timeout=600)
        summaries = sorted(out.glob("*_summary_*.csv")) if out.is_dir() else []
        if proc.returncode != 0 or not summaries:
            from accelsim.errors import AccelsimError

            raise AccelsimError(f"Vela failed on {accelerator} (exit {proc.returncode}): "
                                f"{(proc.stderr or proc.stdout)[-2000:]}")
        with summaries[0].open(newline="") as f:
            row = next(csv.DictReader(f))
    return {name: float(row[name]) for name in VELA_FIELDS}


def _case_graph(network: str):
    """The network with its deterministic synthetic int8 weights (the graph both sides see)."""
    from accelsim.graph.synthetic import synthesize_weights
    from accelsim.workloads import load_workload

    return synthesize_weights(load_workload(network))


def vela_live_references() -> dict[str, dict[str, float]]:
    """``"network @ config"`` -> Vela's figures, from a live run of the installed Vela on every case."""
    from accelsim.graph.exporters.tflite import export_tflite

    return {f"{network} @ {config}": run_vela(export_tflite(_case_graph(network)), accelerator)
            for network, config, accelerator in VELA_CASES}


def vela_shipped_references() -> dict[str, dict[str, float]]:
    """The reference figures shipped with accelsim (Vela :data:`VELA_VERSION`)."""
    text = resources.files("accelsim").joinpath("validation", "data", REFERENCE_FILE).read_text()
    return json.loads(text)["cases"]


def vela_comparisons(live: bool | None = None) -> list[Comparison]:
    """accelsim vs Vela on every case. ``live``: True runs the installed Vela (it must be version
    :data:`VELA_VERSION`), False uses the shipped figures, None runs Vela when that version is installed."""
    from accelsim.config.hw import load_hw
    from accelsim.errors import AccelsimError
    from accelsim.simulate import simulate

    installed = vela_installed_version()
    if live is None:
        live = installed == VELA_VERSION
    if live and installed != VELA_VERSION:
        raise AccelsimError(f"live Vela comparison needs ethos-u-vela {VELA_VERSION}, found {installed or 'none'}")
    refs = vela_live_references() if live else vela_shipped_references()
    how = "run live" if live else "shipped figures"
    out = []
    for network, config, accelerator in VELA_CASES:
        key = f"{network} @ {config}"
        ref = refs[key]
        report = simulate(_case_graph(network), load_hw(config_path(config)))
        totals = report.totals
        source = f"Arm Vela {VELA_VERSION} [ref:Vela], {accelerator}, default system config ({how})"
        out += [
            Comparison(key, "total cycles", float(totals["latency_cycles"]), ref["cycles_total"], source),
            Comparison(key, "stored weight bytes", float(report.layers["weight_stored_bytes"].sum()),
                       ref["total_npu_encoded_weights"], source),
            Comparison(key, "off-chip bytes", float(totals["dram_read_bytes"] + totals["dram_write_bytes"]),
                       ref["off_chip_flash_total_bytes"], source),
        ]
    return out
