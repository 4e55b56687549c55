"""Reference set: Arm Vela.

The reference is Arm's Vela compiler and performance estimator ([ref:Vela], ``ethos-u-vela`` 5.2.0) on three
Ethos-U NPUs, each in the system configuration and memory mode Vela picks by default for it (Vela 5.2.0
``ethosu/vela/architecture_features.py``; ``ethosu/config_files/Arm/vela.ini``): Ethos-U55-256 and -128 in
Ethos_U55_High_End_Embedded / Shared_Sram (500 MHz), Ethos-U65-256 in Ethos_U65_Client_Server /
Dedicated_Sram_384KB (1 GHz). accelsim exports each network (synthetic int8 weights) to a .tflite with its own
exporter, Vela compiles that file (``--verbose-performance``: per-layer CSV), and accelsim simulates the very same
graph on the matching ``hw_configs/ethos_*.yaml``. Compared per case: total cycles, NPU compute cycles, stored
(compressed) weight bytes, off-chip bytes (flash or DRAM), system-SRAM bytes (information, no band), and the
Pearson correlation of per-layer log cycles (total and compute-only). With ``ethos-u-vela`` installed Vela runs
live; without it the reference figures shipped in ``accelsim/validation/data/`` (written by
``tools/make_vela_references.py`` with the same Vela version) are used.

Per-layer matching (:func:`match_vela_layers`): Vela's per-layer rows are grouped by (original TFLite operator,
output name); Vela lowers some operators to several NPU ops (MEAN -> DepthwiseConv2D + Mul, a rescaling CONCAT ->
one copy per input, PAD -> memory copies) which the grouping adds up. A group is matched to the accelsim layer of
the same name when the operator kinds agree, else to the first not yet matched accelsim layer of a compatible
kind in execution order (Vela renames a conv that writes straight into a padded buffer); groups with no
compatible accelsim layer (a PAD that accelsim folds into its pool) stay unmatched: they count in Vela's totals,
not in the per-layer correlation.
"""
from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from accelsim.validation.common import Comparison, config_path

VELA_VERSION = "5.2.0"


@dataclass(frozen=True)
class VelaCase:
    """One comparison: a zoo network on an accelsim config and the Vela target it is matched to."""

    network: str
    config: str            # hw_configs/<config>.yaml
    accelerator: str       # vela --accelerator-config
    system_config: str     # vela --system-config (Vela's default for the accelerator)
    memory_mode: str       # vela --memory-mode (Vela's default for the accelerator)

    @property
    def key(self) -> str:
        return f"{self.network} @ {self.config}"


_NETWORKS = ("mobilenet_v1_1.0_224", "mobilenet_v2_1.0_224", "resnet_18", "squeezenet_1.1")
_TARGETS = (("ethos_u55_256", "ethos-u55-256", "Ethos_U55_High_End_Embedded", "Shared_Sram"),
            ("ethos_u55_128", "ethos-u55-128", "Ethos_U55_High_End_Embedded", "Shared_Sram"),
            ("ethos_u65_256", "ethos-u65-256", "Ethos_U65_Client_Server", "Dedicated_Sram_384KB"))
#: Every case: 4 networks x 3 NPUs.
VELA_CASES: tuple[VelaCase, ...] = tuple(VelaCase(n, *t) for t in _TARGETS for n in _NETWORKS)
#: The Vela summary CSV columns that are reference figures.
VELA_FIELDS = ("cycles_total", "cycles_npu", "total_npu_encoded_weights", "off_chip_flash_total_bytes",
               "dram_total_bytes", "sram_total_bytes", "inference_time")
#: Columns of Vela's per-layer CSV kept per row: original operator, output name, op cycles, NPU cycles.
VELA_LAYER_FIELDS = ("Original Operator", "Name", "Op Cycles", "NPU")
REFERENCE_FILE = f"vela_{VELA_VERSION}.json"
#: Acceptance bands (issue #10): relative, except the correlation, which must reach 1 - band.
BANDS = {"total cycles": 0.20, "stored weight bytes": 0.10, "off-chip bytes": 0.15,
         "per-layer log-cycle r": 0.05}
#: Vela's original TFLite operator -> the accelsim op kinds it can be (``"Conv2D/dw"``: depthwise Conv2D).
_KIND_OF_VELA_OP = {
    "Conv2D": ("Conv2D",), "DepthwiseConv2D": ("DepthwiseConv2D", "Conv2D/dw"), "FullyConnected": ("FullyConnected",),
    "Add": ("Add",), "MaxPool": ("MaxPool",), "MaxPool2D": ("MaxPool",), "AveragePool": ("AvgPool",),
    "AvgPool": ("AvgPool",), "AveragePool2D": ("AvgPool",), "Mean": ("GlobalAveragePool",),
    "Concatenation": ("Concat",), "Concat": ("Concat",), "Quantize": ("Concat",), "Pad": ("Pad",),
    "PadV2": ("Pad",), "Reshape": ("Reshape", "Flatten"),
}


def vela_installed_version() -> str | None:
    """The installed ``ethos-u-vela`` version, or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ethos-u-vela")
    except PackageNotFoundError:
        return None


def run_vela(tflite: bytes, case: VelaCase) -> dict:
    """Compile ``tflite`` with the installed Vela for ``case`` (its accelerator, system config and memory mode) in
    a temporary directory: the :data:`VELA_FIELDS` of its summary CSV and, under ``"layers"``, the
    :data:`VELA_LAYER_FIELDS` of every row of its per-layer CSV with cycles."""
    from accelsim.errors import AccelsimError

    with tempfile.TemporaryDirectory(prefix="accelsim-vela-") as folder:
        model = Path(folder) / "model.tflite"
        model.write_bytes(tflite)
        out = Path(folder) / "out"
        proc = subprocess.run(
            [sys.executable, "-c", "import sys; from ethosu.vela.vela import main; sys.exit(main(sys.argv[1:]))",
             str(model), "--accelerator-config", case.accelerator, "--system-config", case.system_config,
             "--memory-mode", case.memory_mode, "--verbose-performance", "--output-dir", str(out)],
            capture_output=True, text=True, timeout=600)
        summaries = sorted(out.glob("*_summary_*.csv")) if out.is_dir() else []
        layers = sorted(out.glob("*_per-layer.csv")) if out.is_dir() else []
        if proc.returncode != 0 or not summaries or not layers:
            raise AccelsimError(f"Vela failed on {case.accelerator} (exit {proc.returncode}): "
                                f"{(proc.stderr or proc.stdout)[-2000:]}")
        with summaries[0].open(newline="") as f:
            row = next(csv.DictReader(f))
        with layers[0].open(newline="") as f:
            rows = [[r["Original Operator"], r["Name"], int(float(r["Op Cycles"])), int(float(r["NPU"]))]
                    for r in csv.DictReader(f)]
    rows = [r for r in rows if r[2] or r[3]]       # fused activations are rows of zero cycles
    return {**{name: float(row[name]) for name in VELA_FIELDS}, "layers": rows}


def _case_graph(network: str):
    """The network with its deterministic synthetic int8 weights (the graph both sides see)."""
    from accelsim.graph.synthetic import synthesize_weights
    from accelsim.workloads import load_workload

    return synthesize_weights(load_workload(network))


def vela_live_references(cases: tuple[VelaCase, ...] = VELA_CASES) -> dict[str, dict]:
    """``"network @ config"`` -> Vela's figures (:func:`run_vela`), from a live run of the installed Vela."""
    from accelsim.graph.exporters.tflite import export_tflite

    tflite = {network: export_tflite(_case_graph(network)) for network in dict.fromkeys(c.network for c in cases)}
    return {case.key: run_vela(tflite[case.network], case) for case in cases}


def vela_shipped_references() -> dict[str, dict]:
    """The reference figures shipped with accelsim (Vela :data:`VELA_VERSION`)."""
    text = resources.files("accelsim").joinpath("validation", "data", REFERENCE_FILE).read_text()
    return json.loads(text)["cases"]


def _accelsim_kind(kind: str, groups: int) -> str:
    return "Conv2D/dw" if kind == "Conv2D" and groups > 1 else kind


def match_vela_layers(vela_rows: list, layers: list[tuple[str, str]]) -> tuple[dict[str, tuple[int, int]],
                                                                             dict[str, tuple[int, int]]]:
    """Vela's per-layer rows ``[original op, name, op cycles, NPU cycles]`` summed per accelsim layer.

    ``layers``: the accelsim layers in execution order as ``(name, kind)`` with depthwise convs as
    ``"Conv2D/dw"``. Returns ``(matched, unmatched)``: accelsim layer name -> (Vela op cycles, Vela NPU cycles),
    and Vela group ``"op:name"`` -> the same for groups without a compatible accelsim layer (see the module
    docstring for the rule)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for op, name, total, npu in vela_rows:
        g = groups.setdefault((op, name), [0, 0])
        g[0] += total
        g[1] += npu
    order = list(groups)
    kind_of = dict(layers)
    target: dict[tuple[str, str], str] = {}          # Vela group -> accelsim layer
    for key in order:                                # 1. same name, compatible kind
        op, name = key
        if kind_of.get(name) in _KIND_OF_VELA_OP.get(op, ()) and name not in target.values():
            target[key] = name
    for i, key in enumerate(order):                  # 2. first free layer of a compatible kind, in order
        if key in target:
            continue
        kinds = _KIND_OF_VELA_OP.get(key[0], ())
        free = next((n for n, k in layers if k in kinds and n not in target.values()), None)
        if free is not None:
            target[key] = free
            continue
        # 3. one more NPU op of an operator already matched next to it (MEAN -> DepthwiseConv2D + Mul)
        for j in (i - 1, i + 1):
            if 0 <= j < len(order) and order[j][0] == key[0] and order[j] in target:
                target[key] = target[order[j]]
                break
    matched: dict[str, tuple[int, int]] = {}
    unmatched: dict[str, tuple[int, int]] = {}
    for key in order:
        total, npu = groups[key]
        if key in target:
            t0, n0 = matched.get(target[key], (0, 0))
            matched[target[key]] = (t0 + total, n0 + npu)
        else:
            unmatched[f"{key[0]}:{key[1]}"] = (total, npu)
    return matched, unmatched


def log_pearson(model: list[float], reference: list[float]) -> float:
    """Pearson correlation of ``log(model)`` and ``log(reference)`` over the pairs where both are positive."""
    pairs = [(math.log(m), math.log(r)) for m, r in zip(model, reference) if m > 0 and r > 0]
    n = len(pairs)
    if n < 3:
        return float("nan")
    mx = sum(p[0] for p in pairs) / n
    my = sum(p[1] for p in pairs) / n
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    syy = sum((y - my) ** 2 for _, y in pairs)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")


@dataclass(frozen=True)
class LayerPairs:
    """Per-layer cycles of one case: accelsim and Vela, for the layers both have."""

    names: tuple[str, ...]
    model_total: tuple[float, ...]       # accelsim latency_cycles
    model_compute: tuple[float, ...]     # accelsim compute_cycles
    vela_total: tuple[float, ...]        # Vela Op Cycles
    vela_npu: tuple[float, ...]          # Vela NPU cycles
    vela_unmatched_cycles: float         # Vela op cycles of groups without an accelsim layer


def layer_pairs(report, vela_rows: list) -> LayerPairs:
    """Match a simulation report's layers with Vela's per-layer rows (:func:`match_vela_layers`)."""
    table = report.layers
    layers = [(n, _accelsim_kind(k, 2 if lw.startswith("depthwise") else 1))
              for n, k, lw in zip(table["name"], table["kind"], table["lowering"])]
    matched, unmatched = match_vela_layers(vela_rows, layers)
    rows = table.set_index("name")
    names = tuple(n for n, _ in layers if n in matched)
    return LayerPairs(names, tuple(float(rows.at[n, "latency_cycles"]) for n in names),
                      tuple(float(rows.at[n, "compute_cycles"]) for n in names),
                      tuple(float(matched[n][0]) for n in names), tuple(float(matched[n][1]) for n in names),
                      float(sum(t for t, _ in unmatched.values())))


def _sram_bytes(report, hw) -> float:
    """accelsim's read + write bytes at the config's on-chip activation level (the system SRAM of an Ethos-U
    config), 0 when it has none."""
    from accelsim.hw.memory import activation_level

    level = activation_level(hw)
    if level is None or f"onchip_{level}_read_bytes" not in report.layers:
        return 0.0
    return float(report.layers[f"onchip_{level}_read_bytes"].sum() + report.layers[f"onchip_{level}_write_bytes"].sum())


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
    graphs = {}
    out = []
    for case in VELA_CASES:
        ref = refs[case.key]
        graph = graphs.setdefault(case.network, _case_graph(case.network))
        hw = load_hw(config_path(case.config))
        report = simulate(graph, hw)
        totals = report.totals
        pairs = layer_pairs(report, ref["layers"])
        source = (f"Arm Vela {VELA_VERSION} [ref:Vela], {case.accelerator}, {case.system_config} / "
                  f"{case.memory_mode} ({how})")
        off_chip = ref["off_chip_flash_total_bytes"] + ref["dram_total_bytes"]
        out += [
            Comparison(case.key, "total cycles", float(totals["latency_cycles"]), ref["cycles_total"], source,
                       BANDS["total cycles"]),
            Comparison(case.key, "NPU compute cycles", float(report.layers["compute_cycles"].sum()),
                       ref["cycles_npu"], source),
            Comparison(case.key, "stored weight bytes", float(report.layers["weight_stored_bytes"].sum()),
                       ref["total_npu_encoded_weights"], source, BANDS["stored weight bytes"]),
            Comparison(case.key, "off-chip bytes", float(totals["dram_read_bytes"] + totals["dram_write_bytes"]),
                       off_chip, source, BANDS["off-chip bytes"]),
            # Information, no band: Vela counts every SRAM access (DMA copies, SHRAM fills); accelsim its traffic
            # at the on-chip activation level (the system SRAM).
            Comparison(case.key, "SRAM bytes", _sram_bytes(report, hw), ref["sram_total_bytes"], source),
            # A correlation against its ideal: model = r, reference = 1, so the ratio is r itself.
            Comparison(case.key, "per-layer log-cycle r", log_pearson(pairs.model_total, pairs.vela_total), 1.0,
                       source, BANDS["per-layer log-cycle r"]),
            Comparison(case.key, "per-layer compute r", log_pearson(pairs.model_compute, pairs.vela_npu), 1.0,
                       source),
        ]
    return out
