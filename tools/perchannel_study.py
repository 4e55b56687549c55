"""Per-channel vs per-tensor weight quantization on trained and synthetic weights: the figures of
docs/compression.md §"Trained weights decide" (run: ``python tools/perchannel_study.py``; prints Markdown).

For each shipped trained digits model (docs/digits.md) and seed, the float model is quantized (int8, TFLite-style
PTQ, ``accelsim.graph.ptq``) with per-channel and with per-tensor weight scales. Each quantized graph runs with its
trained weights and with synthetic weights of the same shapes and granularity (``accelsim.graph.synthetic``,
seed 0) on
- ``ethos_u55_128`` (per-channel native output unit, weight decompression: compression ratios matter),
- ``gemmini_vector`` with a per-channel scale unit (native) and with its shipped per-tensor unit, where
  per-channel layers take the SIMD fallback.
Figures: latency, energy with its per-channel-sensitive components (requantization, SRAM, DRAM, leakage), scale-
set loads, int32 round-trip bytes, scale-unit area and the weights' stored / raw bytes. A ranking (per-channel vs
per-tensor by latency or energy) that differs between trained and synthetic weights is listed as a flip.
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

from accelsim.accuracy import load_digits_data
from accelsim.config.hw import HardwareConfig, load_hw, validate_hw
from accelsim.graph import ops as O
from accelsim.graph.importers.onnx import load_onnx
from accelsim.graph.ir import Graph
from accelsim.graph.ptq import PTQSettings, quantize_graph
from accelsim.graph.synthetic import synthesize_weights
from accelsim.hw.compression import STREAM_CODECS, compress_weights
from accelsim.simulate import simulate
from accelsim.workloads.digits import MODEL_NAMES, SEEDS, shipped_model_path

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"
GRANULARITIES = ("per-channel", "per-tensor")


@dataclass(frozen=True)
class StudyRow:
    model: str
    seed: int
    weights: str            # trained | synthetic
    granularity: str        # per-channel | per-tensor
    config: str             # ethos_u55_128 | gemmini_vector native | gemmini_vector fallback
    requant_unit: str       # where the MAC layers were requantized
    latency_cycles: float
    energy_pj: float
    energy_scale_pj: float
    energy_sram_pj: float
    energy_dram_pj: float
    energy_leakage_pj: float
    scale_param_load_bytes: float
    requant_spill_bytes: float
    area_scale_unit_mm2: float
    stored_over_raw: float  # weight bytes as stored / raw weight bytes (1 without a decompression unit)


def study_configs() -> dict[str, HardwareConfig]:
    """The configs of the study: Ethos-U55-128 and gemmini_vector with a per-channel (native) and its shipped
    per-tensor (fallback) scale unit."""
    fallback = load_hw(CONFIGS / "gemmini_vector.yaml")
    data = fallback.model_dump(mode="python")
    data["scale_unit"].update(per_channel=True, fallback="none")
    return {"ethos_u55_128": load_hw(CONFIGS / "ethos_u55_128.yaml"),
            "gemmini_vector native": validate_hw(data, "gemmini_vector (per_channel: true)"),
            "gemmini_vector fallback": fallback}


def quantized_digits(model: str, seed: int, per_channel: bool) -> Graph:
    """The shipped trained float model quantized to int8 with per-channel or per-tensor weight scales."""
    data = load_digits_data()
    float_graph = load_onnx(shipped_model_path(model, seed))
    return quantize_graph(float_graph, {float_graph.inputs[0]: data.calibration_images},
                          PTQSettings(weight_per_channel=per_channel))


def raw_weight_bytes(graph: Graph) -> float:
    """Packed bytes of every conv / FC weight tensor."""
    return sum(graph.tensors[n.inputs[1]].storage_bytes for n in graph.nodes if O.op_def(n.kind).has_weights)


def run_row(graph: Graph, hw: HardwareConfig, model: str, seed: int, granularity: str, config: str) -> StudyRow:
    report = simulate(graph, hw)
    t, layers = report.totals, report.layers
    mac_units = layers.loc[layers["macs"] > 0, "requant_unit"]
    return StudyRow(
        model=model, seed=seed, weights="synthetic" if report.metadata["synthetic_weights"] else "trained",
        granularity=granularity, config=config, requant_unit="/".join(sorted(set(mac_units))),
        latency_cycles=t["latency_cycles"], energy_pj=t["energy_pj"], energy_scale_pj=t["energy_scale_pj"],
        energy_sram_pj=sum(v for k, v in t.items() if k.startswith("energy_sram_")),
        energy_dram_pj=t["energy_dram_pj"], energy_leakage_pj=t["energy_leakage_pj"],
        scale_param_load_bytes=float(layers["scale_param_load_bytes"].sum()),
        requant_spill_bytes=float(layers["requant_spill_bytes"].sum()),
        area_scale_unit_mm2=t["area_by_component_mm2"]["scale_unit"] if "area_by_component_mm2" in t
        else t["area_scale_unit_mm2"],
        stored_over_raw=float(layers["weight_stored_bytes"].sum()) / raw_weight_bytes(graph))


def study(models: tuple[str, ...] = MODEL_NAMES, seeds: tuple[int, ...] = SEEDS) -> list[StudyRow]:
    """Every (model, seed, weights, granularity, config) row."""
    configs = study_configs()
    rows = []
    for model in models:
        for seed in seeds:
            for granularity in GRANULARITIES:
                trained = quantized_digits(model, seed, granularity == "per-channel")
                for graph in (trained, synthesize_weights(trained, seed=0)):
                    for name, hw in configs.items():
                        rows.append(run_row(graph, hw, model, seed, granularity, name))
    return rows


def ranking_flips(rows: list[StudyRow], metric: str) -> list[tuple[str, int, str]]:
    """(model, seed, config) where the cheaper of per-channel / per-tensor by ``metric`` differs between trained
    and synthetic weights."""
    value = {(r.model, r.seed, r.config, r.weights, r.granularity): getattr(r, metric) for r in rows}
    flips = []
    for model, seed, config in dict.fromkeys((r.model, r.seed, r.config) for r in rows):
        cheaper = {w: value[(model, seed, config, w, "per-channel")] <= value[(model, seed, config, w, "per-tensor")]
                   for w in ("trained", "synthetic")}
        if cheaper["trained"] != cheaper["synthetic"]:
            flips.append((model, seed, config))
    return flips


def _merge_identical(rows: list[StudyRow]) -> list[StudyRow]:
    """``rows`` with each synthetic row dropped, and its trained twin labelled ``trained = synthetic``, where every
    figure is the same (configs without a decompression unit: weight values do not matter there)."""
    def figures(r: StudyRow) -> tuple:
        return tuple(v for k, v in r.__dict__.items() if k != "weights")
    synthetic = {(r.model, r.seed, r.config, r.granularity): r for r in rows if r.weights == "synthetic"}
    same = {key for key, r in synthetic.items()
            if any(t.weights == "trained" and (t.model, t.seed, t.config, t.granularity) == key
                   and figures(t) == figures(r) for t in rows)}
    merged = {(r.model, r.config, r.granularity) for r in rows} - {
        (m, c, g) for (m, s, c, g) in synthetic if (m, s, c, g) not in same}
    out = []
    for r in rows:
        if (r.model, r.config, r.granularity) in merged:
            if r.weights == "trained":
                out.append(dataclasses.replace(r, weights="trained = synthetic"))
        else:
            out.append(r)
    return out


def findings(rows: list[StudyRow]) -> str:
    """Ratios quoted in docs/compression.md, seeds averaged: per-channel / per-tensor and fallback / native."""
    def mean(model, config, weights, granularity, attr):
        group = [getattr(r, attr) for r in rows
                 if (r.model, r.config, r.weights, r.granularity) == (model, config, weights, granularity)]
        return sum(group) / len(group)
    lines = []
    for model in dict.fromkeys(r.model for r in rows):
        for weights in ("trained", "synthetic"):
            gap = (mean(model, "ethos_u55_128", weights, "per-channel", "latency_cycles")
                   / mean(model, "ethos_u55_128", weights, "per-tensor", "latency_cycles") - 1)
            lines.append(f"- {model}, {weights}: Ethos-U55-128 per-channel / per-tensor latency {gap:+.1%}")
        native = "gemmini_vector native"
        for attr in ("latency_cycles", "energy_pj"):
            pc_pt = mean(model, native, "trained", "per-channel", attr) / mean(model, native, "trained",
                                                                                 "per-tensor", attr) - 1
            fb = mean(model, "gemmini_vector fallback", "trained", "per-channel", attr) / mean(
                model, native, "trained", "per-channel", attr) - 1
            lines.append(f"- {model}: gemmini_vector {attr} per-channel / per-tensor (native) {pc_pt:+.2%}, "
                         f"fallback / native (per-channel) {fb:+.2%}")
    return "\n".join(lines)


def markdown(rows: list[StudyRow]) -> str:
    """The study as Markdown tables: one row per (model, config, weights, granularity), seeds averaged."""
    all_rows = rows
    rows = _merge_identical(rows)
    keys = list(dict.fromkeys((r.model, r.config, r.weights, r.granularity) for r in rows))
    lines = ["| model | config | weights | weights quantized | requant on | latency (cycles) | energy (nJ) | "
             "requant (nJ) | SRAM (nJ) | DRAM (nJ) | leakage (nJ) | scale-set loads (B) | int32 round trip (B) | "
             "scale unit (mm²) | stored / raw |", "|" + "---|" * 15]
    for key in keys:
        group = [r for r in rows if (r.model, r.config, r.weights, r.granularity) == key]

        def mean(attr: str) -> float:
            return sum(getattr(r, attr) for r in group) / len(group)
        lines.append(
            f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {group[0].requant_unit} | {mean('latency_cycles'):,.0f} | "
            f"{mean('energy_pj') / 1e3:,.1f} | {mean('energy_scale_pj') / 1e3:,.2f} | "
            f"{mean('energy_sram_pj') / 1e3:,.1f} | {mean('energy_dram_pj') / 1e3:,.1f} | "
            f"{mean('energy_leakage_pj') / 1e3:,.2f} | {mean('scale_param_load_bytes'):,.0f} | "
            f"{mean('requant_spill_bytes'):,.0f} | {mean('area_scale_unit_mm2'):.4f} | {mean('stored_over_raw'):.3f} |")
    out = ["\n".join(lines), ""]
    for metric in ("latency_cycles", "energy_pj"):
        flips = ranking_flips(all_rows, metric)
        out.append(f"Per-channel vs per-tensor ranking by `{metric}` flips between trained and synthetic weights "
                   f"on: {', '.join(f'{m} seed {s} ({c})' for m, s, c in flips) if flips else 'none'}.")
    return "\n".join(out)


def codec_ratios(graph: Graph) -> dict[str, float]:
    """Compressed / raw bytes of all conv / FC weights of ``graph`` under each stream codec (layers summed)."""
    weights = [graph.tensors[n.inputs[1]] for n in graph.nodes if O.op_def(n.kind).has_weights]
    raw = sum(w.storage_bytes for w in weights)
    return {codec: sum(compress_weights(w.data, w.bits, codec).compressed_bytes for w in weights) / raw
            for codec in STREAM_CODECS}


def codec_markdown(models: tuple[str, ...] = MODEL_NAMES, seeds: tuple[int, ...] = SEEDS) -> str:
    """Codec ratios of the trained and synthetic int8 weights, per model and granularity, seeds averaged."""
    lines = ["| model | weights quantized | weights | " + " | ".join(STREAM_CODECS) + " |",
             "|" + "---|" * (3 + len(STREAM_CODECS))]
    for model in models:
        for granularity in GRANULARITIES:
            ratios: dict[str, list[dict[str, float]]] = {"trained": [], "synthetic": []}
            for seed in seeds:
                trained = quantized_digits(model, seed, granularity == "per-channel")
                ratios["trained"].append(codec_ratios(trained))
                ratios["synthetic"].append(codec_ratios(synthesize_weights(trained, seed=0)))
            for kind, per_seed in ratios.items():
                cells = " | ".join(f"{sum(r[c] for r in per_seed) / len(per_seed):.3f}" for c in STREAM_CODECS)
                lines.append(f"| {model} | {granularity} | {kind} | {cells} |")
    return "\n".join(lines)


def main() -> int:
    print(codec_markdown())
    print()
    rows = study()
    print(markdown(rows))
    print()
    print(findings(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
