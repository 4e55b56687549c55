"""A/B of simulate between two source trees: cold (a new configuration each call, as a sweep point pays) and warm
(the same configuration again).

``PYTHONPATH=TREE python benchmarks/ab_fidelity.py LABEL`` run from TREE's root (it reads TREE's hw_configs)
prints, for TREE's code: simulate of MobileNet-v2 on hvx_690 and of ResNet-18 (per-tensor) on tpu_v1, median /
best of 15 calls in ms, cold and warm. Used for the mapping-and-memory fidelity issue (docs/benchmarks.md): its
budget is 1.5x the time before it.
"""
from __future__ import annotations

import gc
import statistics
import sys
import time

from accelsim import load_hw, load_workload, simulate


def timed(call, hw, n: int, cold: bool) -> tuple[float, float]:
    """Median and best CPU ms of ``call(config)`` over ``n`` calls: warm = the same config object each time; cold = a
    new config each call whose clock differs in the 9th digit (every memo keyed by the config misses, as for a
    new sweep point; process-wide tables stay warm)."""
    call(hw)
    times = []
    for i in range(n):
        config = hw.with_values({"clock_mhz": hw.clock_mhz * (1 + (i + 1) * 1e-9)}) if cold else hw
        gc.collect()
        start = time.process_time()
        call(config)
        times.append(time.process_time() - start)
    return statistics.median(times) * 1e3, min(times) * 1e3


def main() -> None:
    mv2, hvx = load_workload("mobilenet_v2"), load_hw("hw_configs/hvx_690.yaml")
    r18, tpu = load_workload("resnet_18", quant={"per_channel": False}), load_hw("hw_configs/tpu_v1.yaml")
    out = []
    for label, graph, hw in (("sim_mv2_hvx", mv2, hvx), ("sim_r18_tpu", r18, tpu)):
        for cold in (True, False):
            med, best = timed(lambda config: simulate(graph, config), hw, 15, cold)
            out.append(f"{label} {'cold' if cold else 'warm'} {med:.1f}/{best:.1f} ms")
    print(f"{sys.argv[1]}: " + "  ".join(out))


if __name__ == "__main__":
    main()
