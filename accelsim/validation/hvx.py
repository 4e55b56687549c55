"""Reference set: published latencies of quantized networks on the Hexagon HVX DSP.

The reference is the measured inference latency of int8 networks on a phone's HVX DSP, application to result
(so it includes the inference framework), set against accelsim's ``end_to_end_latency_ms`` = the accelerator
latency (``latency_ms``, with the kernel costs of :mod:`accelsim.hw.hvx_kernels`) + the config's framework
overhead (``framework_overhead_ms``). Both terms are printed too, so the accelerator-only latency stays visible.

Each published figure is either in the **fit** set (its band ±15 %) or **held out** (±30 %): the fitted parameter
(the framework's per-inference overhead, ``framework.per_inference_us``; :func:`fit_per_inference_us`, run by
``tools/fit_hvx.py``) is computed from the fit set only, and :func:`hvx_comparisons` checks that the config holds
the fitted value, so a held-out figure never informs the model.

Published figures ([ref:Krishnamoorthi18] Table 7: Pixel 2 = Snapdragon 835 = Hexagon 682
([ref:TFLiteHexagonDelegate]), int8, Android NN-API on the DSP):

* MobileNet-v1 1.0/224: 16 ms (fit);
* MobileNet-v2 1.0/224: 15.5 ms (held out).

([ref:MobileNetV4] Table 6, "Pixel 4 Hexagon" column: Snapdragon 855 = Hexagon 690, TFLite int8 (Appendix B: each
model run about 1000 times, the median of 5 means), 1000 classes):

* MobileNet-v1 1.0/224: 3.2 ms (fit); MobileNet-v2 1.0/224: 3.9 ms (fit);
* MobileNet-v2 0.5x / 1.5x / 2.0x at 224: 2.9 / 5.6 / 6.9 ms (held out);
* MobileNetV4-Conv-S at 224: 2.4 ms, MobileNetV4-Conv-M at 256: 7.3 ms (held out: other block types — 5x5
  depthwise, ExtraDW, FFN — than the fitted networks).

Each config's fit set fits that config's framework overhead alone (one framework per phone).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from accelsim.validation.common import Comparison, config_path

Role = Literal["fit", "held_out"]

_TABLE7 = ("Krishnamoorthi, arXiv:1806.08342, Table 7: Pixel 2 (Snapdragon 835, Hexagon 682), int8 via NN-API on "
           "the DSP [ref:Krishnamoorthi18]")
_MNV4 = ("Qin et al., MobileNetV4, ECCV 2024 (arXiv:2404.10518), Table 6, Pixel 4 Hexagon (Snapdragon 855, Hexagon "
         "690), TFLite int8 [ref:MobileNetV4]")


@dataclass(frozen=True)
class PublishedLatency:
    """One published end-to-end latency of a network on an HVX DSP, and whether the fit may use it."""

    network: str          # zoo name (accelsim.workloads.zoo)
    config: str           # shipped hardware config name (hw_configs/<config>.yaml)
    latency_ms: float     # the published figure
    source: str           # paper, table, device, framework
    role: Role            # fit | held_out


#: The published HVX latencies and their role.
PUBLISHED: tuple[PublishedLatency, ...] = (
    PublishedLatency("mobilenet_v1_1.0_224", "hvx_682", 16.0, _TABLE7, "fit"),
    PublishedLatency("mobilenet_v2_1.0_224", "hvx_682", 15.5, _TABLE7, "held_out"),
    PublishedLatency("mobilenet_v1_1.0_224", "hvx_690", 3.2, _MNV4, "fit"),
    PublishedLatency("mobilenet_v2_1.0_224", "hvx_690", 3.9, _MNV4, "fit"),
    PublishedLatency("mobilenet_v2_0.5_224", "hvx_690", 2.9, _MNV4, "held_out"),
    PublishedLatency("mobilenet_v2_1.5_224", "hvx_690", 5.6, _MNV4, "held_out"),
    PublishedLatency("mobilenet_v2_2.0_224", "hvx_690", 6.9, _MNV4, "held_out"),
    PublishedLatency("mobilenetv4_conv_small", "hvx_690", 2.4, _MNV4, "held_out"),
    PublishedLatency("mobilenetv4_conv_medium", "hvx_690", 7.3, _MNV4, "held_out"),
)

#: Acceptance bands (issue #11): fitted figures ±15 %, held-out ±30 %.
BANDS: dict[Role, float] = {"fit": 0.15, "held_out": 0.30}

#: The fitted ``framework.per_inference_us`` in the shipped config may differ from a fresh fit by this much (µs):
#: the YAML holds the fit rounded to 10 µs.
FIT_ROUNDING_US = 10.0


def accelerator_latency(reference: PublishedLatency, per_inference_us: float | None = None) -> dict[str, float]:
    """accelsim's ``latency_ms``, ``framework_overhead_ms`` and ``end_to_end_latency_ms`` for ``reference``'s
    network on its config (``per_inference_us`` overrides the config's framework figure when given)."""
    from accelsim.config.hw import load_hw
    from accelsim.simulate import simulate

    hw = load_hw(config_path(reference.config))
    if per_inference_us is not None:
        hw = hw.with_values({"framework.per_inference_us": float(per_inference_us)})
    totals = simulate(reference.network, hw).totals
    return {key: float(totals[key]) for key in ("latency_ms", "framework_overhead_ms", "end_to_end_latency_ms")}


def fit_per_inference_us(published: tuple[PublishedLatency, ...] = PUBLISHED) -> float:
    """The per-inference framework overhead (µs) that minimises the squared error over the **fit** set: the mean of
    ``published - (accelerator latency + per-op overhead)`` (the least-squares constant), at least 0.

    Every fit-set figure must share one config (one framework); held-out figures are never read."""
    fit = [p for p in published if p.role == "fit"]
    if not fit:
        raise ValueError("no published latency in the fit set")
    if len({p.config for p in fit}) != 1:
        raise ValueError("the fit set must share one config (one framework overhead)")
    residuals = []
    for p in fit:
        got = accelerator_latency(p, per_inference_us=0.0)
        residuals.append(p.latency_ms - got["end_to_end_latency_ms"])
    return max(0.0, sum(residuals) / len(residuals) * 1e3)


def hvx_comparisons(live: bool | None = None) -> list[Comparison]:
    """accelsim vs published HVX latencies (``live`` is ignored: the references are papers)."""
    from accelsim.config.hw import load_hw

    out: list[Comparison] = []
    for p in PUBLISHED:
        got = accelerator_latency(p)
        case = f"{p.network} @ {p.config} ({p.role.replace('_', '-')})"
        out += [
            Comparison(case, "end-to-end latency [ms]", got["end_to_end_latency_ms"], p.latency_ms, p.source,
                       BANDS[p.role]),
            Comparison(case, "accelerator-only [ms]", got["latency_ms"], p.latency_ms, p.source),
            Comparison(case, "framework overhead [ms]", got["framework_overhead_ms"], p.latency_ms, p.source),
        ]
    configs = sorted({p.config for p in PUBLISHED if p.role == "fit"})
    for name in configs:
        shipped = load_hw(config_path(name)).framework.per_inference_us
        fitted = fit_per_inference_us(tuple(p for p in PUBLISHED if p.config == name))
        out.append(Comparison(f"{name} framework.per_inference_us", "shipped vs refit [us]", shipped, max(fitted, 1e-9),
                              "tools/fit_hvx.py on the fit set above", FIT_ROUNDING_US / max(fitted, 1e-9)))
    return out
