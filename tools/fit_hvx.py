"""Fit the HVX model's fitted parameter on the fit set of published latencies and print it with every residual.

Usage: ``python tools/fit_hvx.py`` (from the checkout). It fits ``framework.per_inference_us`` of each config in
the fit set of :data:`accelsim.validation.hvx.PUBLISHED` (the least-squares constant over the fit set;
:func:`accelsim.validation.hvx.fit_per_inference_us`), prints the value to put in the config (rounded to 10 µs) and
the model against every published figure, fit and held out. Held-out figures are printed, never fitted.
"""
from __future__ import annotations

from accelsim.validation.hvx import PUBLISHED, accelerator_latency, fit_per_inference_us


def main() -> None:
    for config in sorted({p.config for p in PUBLISHED if p.role == "fit"}):
        fitted = fit_per_inference_us(tuple(p for p in PUBLISHED if p.config == config))
        rounded = round(fitted / 10) * 10
        print(f"{config}: framework.per_inference_us = {rounded:.0f}  (fit {fitted:.1f} us)")
        for p in PUBLISHED:
            if p.config != config:
                continue
            got = accelerator_latency(p, per_inference_us=rounded)
            print(f"  {p.network:<24} {p.role:<9} published {p.latency_ms:6.2f} ms  model "
                  f"{got['end_to_end_latency_ms']:6.2f} ms (accelerator {got['latency_ms']:.2f} + framework "
                  f"{got['framework_overhead_ms']:.2f})  ratio {got['end_to_end_latency_ms'] / p.latency_ms:.3f}")


if __name__ == "__main__":
    main()
