"""Per-channel vs per-tensor weight quantization on trained and synthetic weights: the figures of
docs/compression.md §"Trained weights decide" (run: ``python tools/perchannel_study.py``; prints Markdown). The
study itself is :mod:`accelsim.validation.perchannel`.
"""
from __future__ import annotations

import dataclasses
import sys

from accelsim.graph.synthetic import synthesize_weights
from accelsim.hw.compression import STREAM_CODECS
from accelsim.validation.perchannel import (
    GRANULARITIES, MODEL_NAMES, SEEDS, StudyRow, codec_ratios, quantized_digits, ranking_flips, study,
)


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
