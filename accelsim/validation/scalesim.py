"""Reference set: SCALE-Sim 3.0.0 compute cycles ([ref:ScaleSim]).

accelsim's systolic model reproduces SCALE-Sim's fold / fill / drain cycle count exactly; this set keeps showing
it. Layers from SCALE-Sim's own ``topologies/conv_nets/resnet18.csv`` and a small 3x3 conv run on
SCALE-Sim's bundled 32x32 array in each dataflow (``hw_configs/scalesim_32x32_{os,ws,is}.yaml``), through
``accelsim.simulate(..., scalesim_compat=True)``; compared per layer: accelsim's compute cycles against SCALE-Sim's
``COMPUTE_REPORT.csv`` Total Cycles minus Stall Cycles (CALC bandwidth mode, so no stalls). Band 0: exact.
SCALE-Sim runs live when ``scalesim`` 3.0.0 is installed; otherwise the figures shipped in
``accelsim/validation/data/scalesim_3.0.0.json`` (``tools/make_scalesim_references.py``) are used.
"""
from __future__ import annotations

import configparser
import csv
import json
import tempfile
from importlib import resources
from pathlib import Path

from accelsim.validation.common import Comparison, config_path

SCALESIM_VERSION = "3.0.0"
REFERENCE_FILE = f"scalesim_{SCALESIM_VERSION}.json"
DATAFLOWS = ("os", "ws", "is")
#: SCALE-Sim topology rows (its conv CSV format): three ResNet-18 layers of SCALE-Sim's resnet18.csv and a small
#: 3x3 conv with partial folds on every side (chosen so a live run takes seconds: SCALE-Sim's time grows with the
#: operand matrices).
TOPOLOGY = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv3_s,56,56,1,1,64,128,2,
Conv5_s,14,14,1,1,256,512,2,
FC,1,1,1,1,512,1000,1,
Small3x3,12,12,3,3,20,40,1,
"""
#: SCALE-Sim's bundled 32x32 config (its configs/scale.cfg family), CALC bandwidth mode; Dataflow set per run.
_CONFIG = {
    "general": {"run_name": "accelsim_validate"},
    "architecture_presets": {"ArrayHeight": "32", "ArrayWidth": "32", "IfmapSramSzkB": "64",
                             "FilterSramSzkB": "64", "OfmapSramSzkB": "64", "IfmapOffset": "0",
                             "FilterOffset": "10000000", "OfmapOffset": "20000000", "Bandwidth": "10",
                             "Dataflow": "ws", "MemoryBanks": "1",
                             "ReadRequestBuffer": "32", "WriteRequestBuffer": "32"},
    "layout": {"IfmapCustomLayout": "False", "IfmapSRAMBankBandwidth": "10", "IfmapSRAMBankNum": "10",
               "IfmapSRAMBankPort": "2", "FilterCustomLayout": "False", "FilterSRAMBankBandwidth": "10",
               "FilterSRAMBankNum": "10", "FilterSRAMBankPort": "2"},
    "sparsity": {"SparsitySupport": "false", "SparseRep": "ellpack_block", "OptimizedMapping": "false",
                 "BlockSize": "8", "RandomNumberGeneratorSeed": "40"},
    "run_presets": {"InterfaceBandwidth": "CALC", "UseRamulatorTrace": "False"},
}


def scalesim_installed_version() -> str | None:
    """The installed ``scalesim`` version, or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scalesim")
    except PackageNotFoundError:
        return None


def run_scalesim(dataflow: str) -> dict[str, int]:
    """Run the installed SCALE-Sim on :data:`TOPOLOGY` (32x32, ``dataflow``, CALC mode) in a temporary directory:
    layer name -> Total Cycles − Stall Cycles."""
    from scalesim.scale_sim import scalesim

    with tempfile.TemporaryDirectory(prefix="accelsim-scalesim-") as folder:
        root = Path(folder)
        cfg = configparser.ConfigParser()
        cfg.read_dict(_CONFIG)
        cfg["architecture_presets"]["Dataflow"] = dataflow
        with open(root / "run.cfg", "w") as f:
            cfg.write(f)
        (root / "topology.csv").write_text(TOPOLOGY)
        (root / "layout.csv").write_text(_layout_csv())
        sim = scalesim(save_disk_space=True, verbose=False, config=str(root / "run.cfg"),
                       topology=str(root / "topology.csv"), layout=str(root / "layout.csv"))
        sim.run_scale(top_path=str(root / "out"))
        with open(root / "out" / _CONFIG["general"]["run_name"] / "COMPUTE_REPORT.csv", newline="") as f:
            rows = [[c.strip() for c in row] for row in list(csv.reader(f))[1:]]
    names = [line.split(",")[0] for line in TOPOLOGY.splitlines()[1:]]
    return {name: int(row[2]) - int(row[3]) for name, row in zip(names, rows)}


def _layout_csv() -> str:
    """SCALE-Sim's layout file (read even with custom layouts off): its header and one neutral row."""
    columns = ["Layer name"] + [f"{d} Intraline Factor" for d in _LAYOUT_DIMS] + [
        f"{d} {kind} Order" for kind in ("Intraline", "Interline") for d in _LAYOUT_DIMS[:3]] + [
        f"{d} {kind} Order" for kind in ("Intraline", "Interline") for d in _LAYOUT_DIMS[3:] + ("Channel",)]
    factors = ["1"] * len(_LAYOUT_DIMS)
    orders = [str(i) for i in range(3)] * 2 + [str(i) for i in range(4)] * 2
    return ", ".join(columns) + ",\n" + ", ".join(["any", *factors, *orders]) + ",\n"


_LAYOUT_DIMS = ("IFMAP Height", "IFMAP Width", "Channel", "Num Filter", "Filter Height", "Filter Width")


def live_references() -> dict[str, dict[str, int]]:
    """Dataflow -> layer -> SCALE-Sim's cycles, from live runs."""
    return {dataflow: run_scalesim(dataflow) for dataflow in DATAFLOWS}


def shipped_references() -> dict[str, dict[str, int]]:
    """The shipped SCALE-Sim figures (:data:`REFERENCE_FILE`)."""
    text = resources.files("accelsim").joinpath("validation", "data", REFERENCE_FILE).read_text()
    return json.loads(text)["cycles"]


def scalesim_comparisons(live: bool | None = None) -> list[Comparison]:
    """accelsim vs SCALE-Sim compute cycles per layer and dataflow (band 0: exact)."""
    from accelsim.config.hw import load_hw
    from accelsim.errors import AccelsimError
    from accelsim.simulate import simulate
    from accelsim.workloads.scalesim_topology import load_scalesim_topology

    installed = scalesim_installed_version()
    if live is None:
        live = installed == SCALESIM_VERSION
    if live and installed != SCALESIM_VERSION:
        raise AccelsimError(f"live SCALE-Sim comparison needs scalesim {SCALESIM_VERSION}, found "
                            f"{installed or 'none'}")
    refs = live_references() if live else shipped_references()
    how = "run live" if live else "shipped figures"
    with tempfile.TemporaryDirectory(prefix="accelsim-topology-") as folder:
        path = Path(folder) / "scalesim_layers.csv"
        path.write_text(TOPOLOGY)
        graph = load_scalesim_topology(path)
    out = []
    for dataflow in DATAFLOWS:
        config = f"scalesim_32x32_{dataflow}"
        layers = simulate(graph, load_hw(config_path(config)), scalesim_compat=True).layers
        source = f"SCALE-Sim {SCALESIM_VERSION} [ref:ScaleSim], 32x32 {dataflow}, CALC mode ({how})"
        for name, cycles in zip(layers["name"], layers["compute_cycles"]):
            out.append(Comparison(f"{name} @ {config}", "compute cycles", float(cycles),
                                  float(refs[dataflow][name]), source, band=0.0))
    return out
