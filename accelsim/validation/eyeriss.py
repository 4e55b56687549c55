"""Reference set: the Eyeriss v1 chip on AlexNet CONV1-5 (batch 4, 16-bit, 200 MHz).

The reference is the fabricated chip as published ([ref:Chen17] Chen et al., JSSC 52(1) 2017, Table V,
"performance breakdown of the five CONV layers in AlexNet", batch N = 4, core clock 200 MHz; the same per-layer
figures in ISSCC 2016 Fig. 14.5.6, the conference version of the same chip). accelsim simulates its zoo AlexNet
(``alexnet``: the published shapes, CONV2/4/5 in two groups) at batch 4 with 16-bit weights and activations on
``hw_configs/eyeriss_v1.yaml`` (row stationary, :mod:`accelsim.hw.row_stationary`) and compares the CONV layers
only, as the paper does.

Compared, each with its source:

* per-layer processing latency and MAC count, and the active PEs of each layer (Table V, as transcribed in
  [ref:NNDataflow] ``nn_dataflow/tests/dataflow_test/test_nn_dataflow.py``, ``test_eyeriss_isscc16``, which cites
  ISSCC 2016 Fig. 14.5.6 and JSSC 2017 Table V);
* the total time of the batch, 115.3 ms = 34.7 frames/s (the abstract rounds it to 35 frames/s). The per-layer
  latencies add up to 103.5 ms: the remaining 11.8 ms are outside the five layers' processing (the paper's
  frame rate counts them, its per-layer rows do not); accelsim's total is the sum of its CONV layers;
* chip energy per batch (everything but DRAM), ±30 %: 278 mW (the abstract) x 115.3 ms = 32.05 mJ against
  accelsim's energy without DRAM summed over CONV1-5, priced at the chip's 65 nm, 1 V (node scaling
  [ref:Stillmaker17]); per layer for information, Table V's power x processing latency (332 / 288 / 266 / 235 /
  236 mW, as transcribed in [ref:NNDataflow]); the on-chip power over the model's own time, for information;
* energy per 16-bit access of the register file (a PE's 0.5 KB scratchpad), the global buffer and DRAM against the
  normalised costs 1 : 6 : 200 that the Eyeriss papers give for these levels (the normalised energy-cost figure
  of [ref:Chen16] for a 65 nm process, repeated in [ref:Sze17]): the two ratios GLB / RF and DRAM / RF within a
  factor of 2 (band 1.0; the test also asserts at least half). The model's figures come from the organisation
  model (CACTI 7 shape anchored on Horowitz's 8 KB SRAM, 65 nm) and the DRAM table, none fitted to these ratios;
* DRAM traffic: 0.0029 DRAM accesses (16-bit words) per MAC (the abstract; §VI-A: 15.4 MB for the batch) x the
  Table V MACs x 2 bytes. The model moves data as the chip does (``eyeriss_v1.yaml``: a 100 KB ifmap/psum global
  buffer without double buffering, 16-bit psums, an 8 KB filter bank, run-length-coded fmaps in DRAM; JSSC 2017
  §IV-A, §IV-B, §V-A, §V-C). The per-layer DRAM figures of Table V and Fig. 9 are not in the text; the text states
  the fmap savings of the run-length code in two layers ("nearly 30 %" in CONV1, "nearly 75 %" in CONV5, §IV-B),
  shown against the model's for information (one stored/raw ratio for every layer, calibrated on the text's zero
  fractions, ``hw_configs/eyeriss_v1.yaml``);
* a network the model was not built on, for information (no band): VGG-16's CONV layers at batch 3, 0.7
  frames/s and 0.0035 DRAM accesses per MAC (the abstract).
"""
from __future__ import annotations

import dataclasses

from accelsim.validation.common import Comparison, config_path

CONFIG = "eyeriss_v1"
BATCH = 4
CLOCK_HZ = 200e6
#: Per-layer processing latency in ms, MACs in millions and active PEs at batch 4 ([ref:Chen17] Table V).
LAYER_LATENCY_MS = {"conv1": 16.5, "conv2": 39.2, "conv3": 21.8, "conv4": 16.0, "conv5": 10.0}
LAYER_MEGA_MACS = {"conv1": 421.66, "conv2": 895.79, "conv3": 598.1, "conv4": 448.6, "conv5": 299.0}
ACTIVE_PES = {"conv1": 154, "conv2": 135, "conv3": 156, "conv4": 156, "conv5": 156}
#: Time of one batch of 4 frames: 34.7 frames/s ([ref:Chen17] Table V total; abstract "35 frames/s").
TOTAL_LATENCY_MS = 115.3
#: Chip power running AlexNet's CONV layers, DRAM excluded ([ref:Chen17] abstract).
POWER_MW = 278.0
#: Chip energy of one batch of CONV1-5, DRAM excluded: 278 mW x 115.3 ms, in mJ.
CHIP_ENERGY_MJ = POWER_MW * TOTAL_LATENCY_MS / 1e3
#: Per-layer chip power in mW ([ref:Chen17] Table V, as transcribed in [ref:NNDataflow]).
LAYER_POWER_MW = {"conv1": 332.0, "conv2": 288.0, "conv3": 266.0, "conv4": 235.0, "conv5": 236.0}
#: Normalised energy per 16-bit access: RF 1, global buffer 6, DRAM 200 ([ref:Chen16], [ref:Sze17]: normalised
#: energy cost per access, 65 nm).
ACCESS_ENERGY_RATIOS = {"global buffer / RF": 6.0, "DRAM / RF": 200.0}
#: DRAM accesses (16-bit words) per MAC on AlexNet ([ref:Chen17] abstract).
DRAM_ACCESSES_PER_MAC = 0.0029
WORD_BYTES = 2

#: Share of the fmap (ifmap + ofmap) DRAM accesses the run-length code saves ([ref:Chen17] §IV-B: "nearly 30 %
#: in CONV1, and nearly 75 % in CONV5").
RLC_FMAP_SAVING = {"conv1": 0.30, "conv5": 0.75}

#: VGG-16 CONV layers at batch 3: frames/s and DRAM accesses (16-bit) per MAC ([ref:Chen17] abstract).
VGG_BATCH = 3
VGG_FRAMES_PER_S = 0.7
VGG_DRAM_ACCESSES_PER_MAC = 0.0035

#: Acceptance bands (issue #10): total latency ±25 %, each layer ±40 %, DRAM ±30 %; MAC counts are exact
#: shapes (±0.1 %); active PEs ±5 %.
BANDS = {"total": 0.25, "layer": 0.40, "dram": 0.30, "macs": 0.001, "pes": 0.05, "energy": 0.30,
         "access_ratio": 1.0}

_TABLE = "Chen et al., JSSC 2017, Table V (AlexNet CONV1-5, N = 4, 200 MHz) [ref:Chen17]"
_ROWS = _TABLE + "; per-layer rows as transcribed in nn_dataflow's test_nn_dataflow.py [ref:NNDataflow]"
_ABSTRACT = "Chen et al., JSSC 2017, abstract: 0.0029 DRAM accesses/MAC on AlexNet, 16-bit words [ref:Chen17]"
_RLC = "Chen et al., JSSC 2017, §IV-B: run-length coding saves nearly 30 % (CONV1) / 75 % (CONV5) of the fmap " \
    "DRAM accesses [ref:Chen17]"
_VGG = "Chen et al., JSSC 2017, abstract: VGG-16 CONV layers at 0.7 frames/s, 0.0035 DRAM accesses/MAC, N = 3 " \
    "[ref:Chen17]"
_POWER = "Chen et al., JSSC 2017, abstract: AlexNet CONV layers at 278 mW [ref:Chen17]"
_RATIOS = "Chen et al., ISCA 2016 / Sze et al., Proc. IEEE 2017, normalised energy per access (65 nm): " \
    "RF 1 : buffer 6 : DRAM 200 [ref:Chen16] [ref:Sze17]"


def access_energy_ratios(hw) -> list[tuple[str, float, float]]:
    """(quantity, model, reference) of the global buffer's and DRAM's energy per 16-bit access over the register
    file's (reads; the register file = the ``register_file`` level, the buffer = the level holding inputs and
    outputs)."""
    from accelsim.hw.energy_model import dram_pj_per_byte, energy_table_of, onchip_energy_pj_per_byte

    table = energy_table_of(hw)
    levels = hw.onchip_levels()
    rf = next(lv for lv in levels.values() if lv.kind == "register_file")
    glb = next(lv for lv in levels.values() if lv.kind == "sram" and "inputs" in lv.operands)
    rf_pj = WORD_BYTES * onchip_energy_pj_per_byte(hw, table, rf)[0]
    glb_pj = WORD_BYTES * onchip_energy_pj_per_byte(hw, table, glb)[0]
    dram_pj = WORD_BYTES * dram_pj_per_byte(hw)
    return [("global buffer / RF", glb_pj / rf_pj, ACCESS_ENERGY_RATIOS["global buffer / RF"]),
            ("DRAM / RF", dram_pj / rf_pj, ACCESS_ENERGY_RATIOS["DRAM / RF"])]


def eyeriss_graph(network: str, batch: int):
    """A zoo network at ``batch`` with 16-bit weights and activations and per-tensor scales (Eyeriss's format)."""
    from accelsim.graph.synthetic import synthesize_weights
    from accelsim.workloads.yaml_format import build_graph
    from accelsim.workloads.zoo import zoo_spec

    spec = zoo_spec(network)
    quant = spec.quant.model_copy(update={"weight_bits": 16, "activation_bits": 16, "per_channel": False})
    spec = dataclasses.replace(spec, input_shape=(batch, *spec.input_shape[1:]), quant=quant)
    return synthesize_weights(build_graph(spec))


def alexnet_batch4_graph():
    """The zoo AlexNet at batch 4 in Eyeriss's format (:func:`eyeriss_graph`)."""
    return eyeriss_graph("alexnet", BATCH)


def eyeriss_comparisons(live: bool | None = None) -> list[Comparison]:
    """accelsim vs the Eyeriss v1 chip (``live`` is ignored: the reference is a paper)."""
    from accelsim.config.hw import load_hw
    from accelsim.hw.layer import layer_shape
    from accelsim.hw.row_stationary import row_stationary_timing
    from accelsim.simulate import simulate

    hw = load_hw(config_path(CONFIG))
    graph = alexnet_batch4_graph()
    report = simulate(graph, hw)
    layers = report.layers.set_index("name").loc[list(LAYER_LATENCY_MS)]
    case = f"alexnet CONV1-5 x{BATCH} @ {CONFIG}"
    ms = layers["latency_cycles"] / (hw.clock_mhz * 1e3)
    out = [Comparison(case, "latency [ms]", float(ms.sum()), TOTAL_LATENCY_MS,
                      _TABLE + ": 115.3 ms = 34.7 frames/s", BANDS["total"])]
    array = hw.compute.systolic
    for name, reference in LAYER_LATENCY_MS.items():
        node = graph.node(name)
        rs = row_stationary_timing(layer_shape(graph, node), array.rows, array.cols, array.ifmap_spad_words,
                                   array.filter_spad_words, array.psum_spad_words)
        out += [
            Comparison(f"{name} x{BATCH} @ {CONFIG}", "latency [ms]", float(ms[name]), reference, _ROWS,
                       BANDS["layer"]),
            Comparison(f"{name} x{BATCH} @ {CONFIG}", "MACs [M]", float(layers.loc[name, "macs"]) / 1e6,
                       LAYER_MEGA_MACS[name], _ROWS, BANDS["macs"]),
            Comparison(f"{name} x{BATCH} @ {CONFIG}", "active PEs", float(rs.active_pes), ACTIVE_PES[name],
                       _ROWS, BANDS["pes"]),
        ]
    dram = float((layers["dram_read_bytes"] + layers["dram_write_bytes"]).sum())
    reference_dram = DRAM_ACCESSES_PER_MAC * sum(LAYER_MEGA_MACS.values()) * 1e6 * WORD_BYTES
    out.append(Comparison(case, "DRAM bytes", dram, reference_dram, _ABSTRACT, BANDS["dram"]))
    raw_hw = hw.with_values({f"memories.{hw.dram_name}.activation_stored_ratio": 1.0})
    raw = simulate(graph, raw_hw).layers.set_index("name")
    for name, saved in RLC_FMAP_SAVING.items():
        coded_bytes = float(layers.loc[name, "ifmap_dram_bytes"] + layers.loc[name, "ofmap_dram_bytes"])
        raw_bytes = float(raw.loc[name, "ifmap_dram_bytes"] + raw.loc[name, "ofmap_dram_bytes"])
        out.append(Comparison(f"{name} x{BATCH} @ {CONFIG}", "fmap DRAM saved by RLC", 1.0 - coded_bytes / raw_bytes,
                              saved, _RLC))
    onchip = layers["energy_pj"] - layers["energy_dram_pj"] - layers["energy_dram_background_pj"]
    onchip_pj = float(onchip.sum())
    seconds = float(layers["latency_cycles"].sum()) / (hw.clock_mhz * 1e6)
    out.append(Comparison(case, "chip energy [mJ]", onchip_pj * 1e-9, CHIP_ENERGY_MJ,
                          _POWER + " x 115.3 ms (" + _TABLE + ")", BANDS["energy"]))
    for name, power in LAYER_POWER_MW.items():
        out.append(Comparison(f"{name} x{BATCH} @ {CONFIG}", "chip energy [mJ]", float(onchip[name]) * 1e-9,
                              power * LAYER_LATENCY_MS[name] / 1e3, _ROWS + ": power x processing latency"))
    out.append(Comparison(case, "on-chip power [mW]", onchip_pj * 1e-12 / seconds * 1e3, POWER_MW, _POWER))
    for quantity, model, reference in access_energy_ratios(hw):
        out.append(Comparison(f"eyeriss_v1 energy per 16-bit access", quantity, model, reference, _RATIOS,
                              BANDS["access_ratio"]))
    vgg = simulate(eyeriss_graph("vgg_16", VGG_BATCH), hw).layers
    convs = vgg[vgg["kind"] == "Conv2D"]
    vgg_case = f"vgg_16 CONV x{VGG_BATCH} @ {CONFIG}"
    vgg_seconds = float(convs["latency_cycles"].sum()) / (hw.clock_mhz * 1e6)
    vgg_macs = float(convs["macs"].sum())
    out += [
        Comparison(vgg_case, "frames/s", VGG_BATCH / vgg_seconds, VGG_FRAMES_PER_S, _VGG),
        Comparison(vgg_case, "DRAM bytes", float((convs["dram_read_bytes"] + convs["dram_write_bytes"]).sum()),
                   VGG_DRAM_ACCESSES_PER_MAC * vgg_macs * WORD_BYTES, _VGG),
    ]
    return out
