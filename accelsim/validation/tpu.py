"""Reference set: Google TPU v1 (Jouppi et al., "In-Datacenter Performance Analysis of a Tensor Processing Unit",
ISCA 2017 [ref:Jouppi17]) on ``hw_configs/tpu_v1.yaml``.

The paper's physical story (§2): weights stream from DRAM (the 8 GiB Weight Memory, 34 GB/s) through the weight
FIFO, activations come from the 24 MiB Unified Buffer, and partial sums collect in the 4 MiB of 32-bit
accumulators. Its performance story (§4, Figure 5, the TPU roofline): an application's rate is bounded by the
peak of 65,536 MACs per cycle and by the operational intensity per byte of *weight memory* fetched times the
DRAM bandwidth, so batching (each weight byte used by every image of the batch) raises utilization until the
compute roof. References, each a closed form written here from those statements (not from the model):

* the weight-bandwidth roofline of a network at batch ``b``: ``utilization <= min(1, (b·MACs / peak) /
  (weight bytes / DRAM bytes per cycle))`` (weights fetched once per batch);
* the weight bytes an FC layer fetches from DRAM when the accumulators hold all its partial sums (up to 2048
  rows, one half of the double-buffered accumulators, §2): every weight once.

Compared: an FC 4096 x 4096 at batch 1 … 4096 (the FC at batch 256 within ±20 % of its roofline bound; the
others shown) and ResNet-50 (zoo ``resnet_v1_50``, per-tensor scales as the TPU's activation unit applies them)
at batch 1 … 16 against its roofline. ``tests/test_validation_tpu.py`` asserts the band, the monotone rise with
batch and that no partial sum reaches DRAM.
"""
from __future__ import annotations

import dataclasses
import warnings
from functools import lru_cache

from accelsim.validation.common import Comparison, config_path

CONFIG = "tpu_v1"
#: Batches of the FC 4096 x 4096 sweep and of the ResNet-50 sweep.
FC_BATCHES: tuple[int, ...] = (1, 16, 64, 256, 1024, 4096)
RESNET_BATCHES: tuple[int, ...] = (1, 2, 4, 8, 16)
FC_FEATURES = 4096
#: The FC batch whose utilization must lie within the band of its weight-bandwidth bound (the issue's anchor).
FC_ANCHOR_BATCH = 256
FC_BAND = 0.20
#: The paper's figures the closed forms use ([ref:Jouppi17] abstract and §2): 256 x 256 MACs, 700 MHz, 34 GB/s.
PEAK_MACS_PER_CYCLE = 256 * 256
CLOCK_MHZ = 700
DRAM_GB_S = 34
#: Weight DRAM bytes of the FC against the weight count (int8): each weight fetched once.
WEIGHT_BAND = 0.02
SOURCE_ROOFLINE = ("Jouppi et al., ISCA 2017 [ref:Jouppi17] §4 Figure 5: TPU roofline over operations per byte of "
                   "weight memory (closed form: weights fetched once per batch, 34 GB/s, 65,536 MAC/cycle)")
SOURCE_DATAPATH = ("Jouppi et al., ISCA 2017 [ref:Jouppi17] §2: weights from DRAM via the weight FIFO, partial sums "
                   "in the 4 MiB accumulators (closed form: each weight fetched once)")


def fc_graph(batch: int, features: int = FC_FEATURES):
    """A single FullyConnected ``features -> features`` layer at ``batch`` (int8, per-tensor scales)."""
    from accelsim.workloads.yaml_format import build_graph
    from accelsim.workloads.zoo import NetSpecBuilder

    net = NetSpecBuilder(f"fc{features}_b{batch}", (batch, 1, 1, features), "FC anchor of the TPU v1 roofline")
    net.layer("fc", "fc", out_channels=features)
    return build_graph(_per_tensor(net.spec()), f"fc{features}_b{batch}")


def resnet50_graph(batch: int):
    """Zoo ``resnet_v1_50`` at ``batch`` images, per-tensor weight scales."""
    from accelsim.workloads import workload_spec
    from accelsim.workloads.yaml_format import build_graph

    spec = workload_spec("resnet_v1_50")
    spec = dataclasses.replace(spec, input_shape=(batch, *spec.input_shape[1:]))
    return build_graph(_per_tensor(spec), f"resnet_v1_50_b{batch}")


def _per_tensor(spec):
    from accelsim.workloads.yaml_format import with_quant

    return with_quant(spec, {"per_channel": False}, spec.name)


def roofline_utilization(macs: float, weight_bytes: float, peak_macs_per_cycle: float,
                         dram_bytes_per_cycle: float) -> float:
    """Weight-bandwidth roofline bound on utilization: compute cycles ``macs / peak`` over the larger of those
    and the weight fetch cycles ``weight_bytes / dram_bytes_per_cycle`` ([ref:Jouppi17] §4, Figure 5)."""
    compute = macs / peak_macs_per_cycle
    return compute / max(compute, weight_bytes / dram_bytes_per_cycle)


@lru_cache(maxsize=None)
def _simulated(kind: str, batch: int):
    """(utilization, latency cycles, MACs, weight bytes, DRAM bytes, psum DRAM bytes, weight DRAM bytes) of one
    simulated case."""
    from accelsim.config.hw import load_hw
    from accelsim.simulate import simulate

    graph = fc_graph(batch) if kind == "fc" else resnet50_graph(batch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = simulate(graph, load_hw(config_path(CONFIG)))
    layers, totals = report.layers, report.totals
    return (float(totals["utilization"]), float(totals["latency_cycles"]), float(layers["macs"].sum()),
            float(layers["weight_stored_bytes"].sum()),
            float(totals["dram_read_bytes"] + totals["dram_write_bytes"]), float(layers["psum_dram_bytes"].sum()),
            float(layers["weight_dram_bytes"].sum()))


def tpu_case(kind: str, batch: int) -> dict[str, float]:
    """One simulated case (``kind`` = ``fc`` or ``resnet50``) with its roofline bound, as a dict."""
    util, latency, macs, weight_bytes, dram, psum, weight_dram = _simulated(kind, batch)
    bound = roofline_utilization(macs, weight_bytes, PEAK_MACS_PER_CYCLE, DRAM_GB_S * 1e3 / CLOCK_MHZ)
    return {"utilization": util, "latency_cycles": latency, "macs": macs, "weight_bytes": weight_bytes,
            "dram_bytes": dram, "psum_dram_bytes": psum, "weight_dram_bytes": weight_dram,
            "roofline_utilization": bound}


def tpu_comparisons(live: bool | None = None) -> list[Comparison]:
    """accelsim vs the TPU v1 closed-form references (``live`` is ignored: no peer tool runs)."""
    out = []
    for batch in FC_BATCHES:
        case = tpu_case("fc", batch)
        key = f"fc{FC_FEATURES} b={batch} @ {CONFIG}"
        out.append(Comparison(key, "utilization vs roofline", case["utilization"], case["roofline_utilization"],
                              SOURCE_ROOFLINE, FC_BAND if batch == FC_ANCHOR_BATCH else None))
        if batch == FC_ANCHOR_BATCH:
            out.append(Comparison(key, "weight DRAM bytes", case["weight_dram_bytes"],
                                  float(FC_FEATURES * FC_FEATURES), SOURCE_DATAPATH, WEIGHT_BAND))
    for batch in RESNET_BATCHES:
        case = tpu_case("resnet50", batch)
        out.append(Comparison(f"resnet_v1_50 b={batch} @ {CONFIG}", "utilization vs roofline", case["utilization"],
                              case["roofline_utilization"], SOURCE_ROOFLINE))
    return out
