"""Per-channel vs per-tensor weight scales on the trained digits models, and the SIMD fallback against the native
per-channel scale unit (``accelsim validate --only perchannel``; docs/compression.md, docs/model.md §2.3).

For each shipped trained digits model (docs/digits.md) the float model is quantized (int8 PTQ,
``accelsim.graph.ptq``) with per-channel and with per-tensor weight scales; each quantized graph runs with its
trained weights and with synthetic weights of the same shapes and granularity (``accelsim.graph.synthetic``,
seed 0) on ``ethos_u55_128`` (per-channel output unit, weight decompression: compression ratios matter) and on
``gemmini_vector`` with a per-channel scale unit ("native") and with its shipped per-tensor unit ("fallback":
per-channel layers are requantized by the vector unit). The comparisons are information only (no band): each
per-channel figure against the per-tensor one of the same config, and the fallback against the native path;
``tests/test_per_channel_cost.py`` asserts the findings (the fallback is never cheaper).
"""
from __future__ import annotations

from dataclasses import dataclass

from accelsim.accuracy import load_digits_data
from accelsim.config.hw import HardwareConfig, load_hw, validate_hw
from accelsim.graph import ops as O
from accelsim.graph.importers.onnx import load_onnx
from accelsim.graph.ir import Graph
from accelsim.graph.ptq import PTQSettings, quantize_graph
from accelsim.graph.synthetic import synthesize_weights
from accelsim.hw.compression import STREAM_CODECS, compress_weights
from accelsim.simulate import simulate
from accelsim.validation.common import Comparison, config_path
from accelsim.workloads.digits import MODEL_NAMES, SEEDS, shipped_model_path

GRANULARITIES = ("per-channel", "per-tensor")
#: Where the comparisons' reference figures come from.
SOURCE = ("accelsim on the same config and trained model: per-channel vs per-tensor weight scales, and the SIMD "
          "fallback vs the native per-channel scale unit (docs/model.md §2.3; information only)")


@dataclass(frozen=True)
class StudyRow:
    """One (model, seed, weights, granularity, config) run of the study."""

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
    fallback = load_hw(config_path("gemmini_vector"))
    data = fallback.model_dump(mode="python")
    data["scale_unit"].update(per_channel=True, fallback="none")
    return {"ethos_u55_128": load_hw(config_path("ethos_u55_128")),
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


def codec_ratios(graph: Graph) -> dict[str, float]:
    """Compressed / raw bytes of all conv / FC weights of ``graph`` under each stream codec (layers summed)."""
    weights = [graph.tensors[n.inputs[1]] for n in graph.nodes if O.op_def(n.kind).has_weights]
    raw = sum(w.storage_bytes for w in weights)
    return {codec: sum(compress_weights(w.data, w.bits, codec).compressed_bytes for w in weights) / raw
            for codec in STREAM_CODECS}


#: Figures compared per-channel against per-tensor on one config: StudyRow attribute -> label.
QUANTITIES = {"latency_cycles": "latency cycles", "energy_pj": "energy pJ", "energy_scale_pj": "requant energy pJ",
              "energy_sram_pj": "SRAM energy pJ", "energy_dram_pj": "DRAM energy pJ",
              "scale_param_load_bytes": "scale-set load bytes"}


def perchannel_comparisons(live: bool | None = None) -> list[Comparison]:
    """The study on seed 0 as comparisons (``live`` is unused: no peer tool). On ``gemmini_vector``: per-channel
    against per-tensor weights on the native unit for every quantity of :data:`QUANTITIES`; the per-channel unit's
    area against the per-tensor unit's; the fallback against the native path (per-channel weights) for latency,
    energy and SRAM energy. On Ethos-U55-128: per-channel against per-tensor latency on trained and on synthetic
    weights."""
    rows = study(seeds=(0,))
    by = {(r.model, r.config, r.weights, r.granularity): r for r in rows}
    out = []
    for model in MODEL_NAMES:
        native_pc = by[(model, "gemmini_vector native", "trained", "per-channel")]
        native_pt = by[(model, "gemmini_vector native", "trained", "per-tensor")]
        fallback_pc = by[(model, "gemmini_vector fallback", "trained", "per-channel")]
        for attr, label in QUANTITIES.items():
            out.append(Comparison(f"{model} gemmini_vector PC/PT", label, getattr(native_pc, attr),
                                  getattr(native_pt, attr), SOURCE))
        out.append(Comparison(f"{model} gemmini_vector PC/PT unit", "scale unit mm2", native_pc.area_scale_unit_mm2,
                              fallback_pc.area_scale_unit_mm2, SOURCE))
        for attr in ("latency_cycles", "energy_pj", "energy_sram_pj"):
            out.append(Comparison(f"{model} gemmini_vector SIMD/native", QUANTITIES[attr],
                                  getattr(fallback_pc, attr), getattr(native_pc, attr), SOURCE))
        for weights in ("trained", "synthetic"):
            out.append(Comparison(f"{model} {weights} U55-128 PC/PT", "latency cycles",
                                  by[(model, "ethos_u55_128", weights, "per-channel")].latency_cycles,
                                  by[(model, "ethos_u55_128", weights, "per-tensor")].latency_cycles, SOURCE))
    return out
