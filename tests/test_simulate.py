"""simulate(): end-to-end figures against closed forms and published numbers."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

import accelsim
from accelsim.config.hw import load_hw, validate_hw
from accelsim.errors import MappingError, UnsupportedError
from accelsim.graph.builder import GraphBuilder
from accelsim.quant.params import QuantParams
from accelsim.report import LAYER_COLUMNS, Report
from accelsim.simulate import simulate

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"
Q = QuantParams.per_tensor(0.05, 0)
DTYPE = {4: "int4", 8: "int8", 16: "int16"}


def hw(name: str):
    return load_hw(CONFIGS / f"{name}.yaml")


def conv_graph(h=28, c=64, k=128, kernel=3, weight_bits=8, activation_bits=8, per_channel=False, name="conv"):
    b = GraphBuilder("g")
    x = b.input("x", (1, h, h, c), DTYPE[activation_bits], Q)
    wq = QuantParams.per_channel(np.full(k, 0.01), 0, axis=0) if per_channel else QuantParams.per_tensor(0.01)
    w = b.constant("w", None, DTYPE[weight_bits], wq, shape=(k, kernel, kernel, c))
    y = b.conv2d(x, w, None, Q, padding="SAME", name=name)
    return b.build([y])


def fc_graph(inputs=4096, outputs=4096, weight_bits=8):
    b = GraphBuilder("fc")
    x = b.input("x", (1, inputs), "int8", Q)
    w = b.constant("w", None, DTYPE[weight_bits], QuantParams.per_tensor(0.01), shape=(outputs, inputs))
    y = b.fully_connected(x, w, None, Q, name="fc")
    return b.build([y])


# ---------------------------------------------------------------------------------------------- peak rates
@pytest.mark.parametrize("config, weight_bits, activation_bits, peak", [
    # HVX ([ref:QEMUHexagon], DERIVED): per context 256 8x8, 128 16x8, 64 16x16 MACs/cycle; the 690 has 4 contexts
    ("hvx_690", 8, 8, 4 * 256), ("hvx_690", 8, 16, 4 * 128), ("hvx_690", 16, 16, 4 * 64),
    ("hvx_690", 4, 8, 4 * 256),                       # int4 is storage-only: computes as 8x8
    ("hvx_685", 8, 8, 2 * 256),                       # 685: 2 contexts
    ("tpu_v1", 8, 8, 65536),                          # TPU v1: 256 x 256 int8 MACs
    ("scalesim_32x32_ws", 8, 8, 1024),
    ("bitfusion", 8, 8, 512), ("bitfusion", 4, 8, 1024),   # Bit Fusion bf_e: 512 FUs, 2 MACs/FU at 8b x 4b
    ("nvdla_small", 8, 8, 64),                        # nv_small: Atomic-C 8 x Atomic-K 8
])
def test_peak_macs_per_cycle_per_precision_mode(config, weight_bits, activation_bits, peak):
    report = simulate(conv_graph(weight_bits=weight_bits, activation_bits=activation_bits), hw(config))
    assert report.totals["peak_macs_per_cycle"] == peak
    row = report.layers.iloc[0]
    assert 0 < row["utilization"] <= 1
    assert row["compute_cycles"] >= row["macs"] / peak


def test_unsupported_precision_is_a_mapping_error_naming_layer_and_modes():
    with pytest.raises(MappingError, match=r"'myconv'.*W16A16.*W8A8"):
        simulate(conv_graph(weight_bits=16, activation_bits=16, name="myconv"), hw("scalesim_32x32_ws"))


def test_per_channel_on_a_per_tensor_scale_unit_without_fallback_is_a_mapping_error():
    assert not hw("gemmini_default").scale_unit.per_channel
    with pytest.raises(MappingError, match="'pc_conv'.*per-channel"):
        simulate(conv_graph(per_channel=True, name="pc_conv"), hw("gemmini_default"))
    assert simulate(conv_graph(per_channel=False), hw("gemmini_default")).totals["latency_cycles"] > 0


def test_per_channel_fallback_runs_requantization_on_the_simd_unit():
    data = hybrid_config().model_dump(mode="python")
    data["scale_unit"].update(per_channel=False, fallback="simd", shared_with_simd=False)
    row = simulate(conv_graph(per_channel=True), validate_hw(data, "")).layers.iloc[0]
    assert row["unit"] == "systolic" and row["requant_unit"] == "simd"
    # The array's int32 results leave through its output path at the scale unit's 64 lanes (+ 4 cycles of
    # pipeline) and are requantized by the SIMD unit at 2 packets per 32-lane vector over 4 contexts
    # ([ref:QEMUHexagon], DERIVED); the stage is the slower of the two, here the output path.
    outputs = 28 * 28 * 128
    assert row["scale_cycles"] == pytest.approx(max(outputs / 64 + 4, outputs / 32 * 2 / 4))
    assert row["requant_spill_bytes"] == 2 * 4 * outputs      # int32 written to SRAM and read back


def test_shared_with_simd_requantizes_per_channel_layers_whatever_the_scale_unit_flags():
    # HVX requantization is SIMD code ([ref:QEMUHexagon]): the scale_unit's per_channel / fallback / lanes
    # describe no hardware there, so they must neither reject a per-channel layer nor change its cost.
    base = hw("hvx_685")
    data = base.model_dump(mode="python")
    data["scale_unit"].update(per_channel=False, fallback="none", lanes=1)
    graph = conv_graph(per_channel=True)
    reference = simulate(graph, base).layers.iloc[0]
    row = simulate(graph, validate_hw(data, "")).layers.iloc[0]
    assert row["requant_unit"] == reference["requant_unit"] == "simd"
    assert row["latency_cycles"] == reference["latency_cycles"]


# ---------------------------------------------------------------------------------------------- traffic
def test_4bit_weights_halve_weight_dram_bytes():
    w8 = simulate(conv_graph(weight_bits=8), hw("hvx_690")).layers.iloc[0]
    w4 = simulate(conv_graph(weight_bits=4), hw("hvx_690")).layers.iloc[0]
    assert w8["weight_dram_bytes"] == 128 * 9 * 64            # loaded once, one byte each
    assert w4["weight_dram_bytes"] == pytest.approx(w8["weight_dram_bytes"] / 2)


def hvx_dma_to_vtcm():
    """HVX 690 with DMA straight from DRAM into VTCM (no L2 staging level)."""
    data = hw("hvx_690").model_dump(mode="python")
    del data["memories"]["l2"]
    return validate_hw(data, "")


@pytest.mark.parametrize("config, clock_mhz, gb_s", [
    ("tpu_v1", 700, 34.0),            # TPU v1: 34 GB/s DDR3 ([ref:Jouppi17])
    ("hvx_dma_to_vtcm", 500, 34.1),   # SD855 LPDDR4X 34.1 GB/s at the 500 MHz assumption
])
def test_dram_bound_fc_runs_at_dram_bandwidth(config, clock_mhz, gb_s):
    # Batch-1 FC 4096 x 4096 int8: 16 MiB of weights streamed once, 2 ops per byte: DRAM-bound.
    h = hvx_dma_to_vtcm() if config == "hvx_dma_to_vtcm" else hw(config)
    row = simulate(fc_graph(), h).layers.iloc[0]
    assert row["weight_dram_bytes"] == 4096 * 4096
    dram_bytes = row["dram_read_bytes"] + row["dram_write_bytes"]
    assert row["latency_cycles"] == pytest.approx(dram_bytes / (gb_s * 1e9 / (clock_mhz * 1e6)), rel=0.03)
    assert row["dram_gb_s"] == pytest.approx(gb_s, rel=0.03)
    assert row["stall_cycles"] > 0.4 * row["latency_cycles"]


def test_reshape_is_free_and_add_and_pools_are_costed():
    b = GraphBuilder("ops")
    x = b.input("x", (1, 16, 16, 32), "int8", Q)
    y = b.add(x, x, Q, name="add")
    p = b.max_pool(y, 2, 2, name="maxpool")
    g = b.global_average_pool(p, name="gap")
    f = b.flatten(g, name="flatten")
    report = simulate(b.build([f]), hw("hvx_690"))
    rows = report.layers.set_index("name")
    for name in ("add", "maxpool", "gap"):
        assert rows.loc[name, "latency_cycles"] > 0 and rows.loc[name, "energy_pj"] > 0
        assert rows.loc[name, "unit"] == "simd"
    assert rows.loc["add", "energy_scale_pj"] > 0          # Add rescales its inputs
    assert rows.loc["flatten", "latency_cycles"] == 0 and rows.loc["flatten", "dram_read_bytes"] == 0


# ---------------------------------------------------------------------------------------------- networks
@pytest.fixture(scope="module")
def mobilenet_v2():
    return accelsim.load_workload("mobilenet_v2")


def test_mobilenet_v2_mac_count_and_speed(mobilenet_v2):
    config = hw("hvx_690")
    simulate(mobilenet_v2, config)                            # warm-up (numba/simpy imports, caches)
    start = time.perf_counter()
    report = simulate(mobilenet_v2, config)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0
    # Sandler et al. 2018, Table 4 (MobileNetV2 1.0/224): 300M multiply-adds
    assert report.totals["macs"] == pytest.approx(300e6, rel=0.01)
    t = report.totals
    assert t["latency_ms"] == pytest.approx(t["latency_cycles"] / 500e3)
    assert 0 < t["utilization"] <= 1
    assert t["dram_peak_gb_s"] <= 34.1 * 1.0001
    assert t["dram_avg_gb_s"] <= t["dram_peak_gb_s"]
    assert len(report.layers) == len(mobilenet_v2.nodes)


def test_event_and_closed_form_timing_agree_on_a_network(mobilenet_v2):
    config = hw("hvx_690")
    event = simulate(mobilenet_v2, config, timing_model="event")
    closed = simulate(mobilenet_v2, config, timing_model="closed_form")
    assert closed.totals["latency_cycles"] <= event.totals["latency_cycles"] + 1e-6
    assert closed.totals["latency_cycles"] == pytest.approx(event.totals["latency_cycles"], rel=0.02)


def test_intermediate_activations_stay_on_chip_when_they_fit():
    # Two 1x1 convs on an 8x8x64 map (4 KiB activations): the middle tensor never touches DRAM on HVX (1 MiB L2).
    b = GraphBuilder("chain")
    x = b.input("x", (1, 8, 8, 64), "int8", Q)
    w1 = b.constant("w1", None, "int8", QuantParams.per_tensor(0.01), shape=(64, 1, 1, 64))
    w2 = b.constant("w2", None, "int8", QuantParams.per_tensor(0.01), shape=(64, 1, 1, 64))
    y = b.conv2d(b.conv2d(x, w1, None, Q, name="c1"), w2, None, Q, name="c2")
    rows = simulate(b.build([y]), hw("hvx_690")).layers.set_index("name")
    assert rows.loc["c1", "ofmap_dram_bytes"] == 0 and rows.loc["c2", "ifmap_dram_bytes"] == 0
    assert rows.loc["c1", "ifmap_dram_bytes"] == 8 * 8 * 64 and rows.loc["c2", "ofmap_dram_bytes"] == 8 * 8 * 64


# ---------------------------------------------------------------------------------------------- report
def test_report_fields_and_serialisation(tmp_path):
    report = simulate(conv_graph(), CONFIGS / "hvx_690.yaml")
    assert isinstance(report, Report)
    assert set(LAYER_COLUMNS) <= set(report.layers.columns)
    for level in ("vtcm", "l2"):
        assert f"energy_sram_{level}_pj" in report.layers.columns
    for key in ("latency_cycles", "latency_ms", "energy_pj", "energy_mac_pj", "energy_dram_pj", "dram_read_bytes",
                "dram_write_bytes", "dram_avg_gb_s", "dram_peak_gb_s", "area_mm2", "area_mac_array_mm2", "macs",
                "peak_macs_per_cycle", "utilization"):
        assert key in report.totals
    for key in ("config_hash", "hw_name", "workload_name", "energy_table", "accelsim_version",
                "synthetic_weights", "timing_model"):
        assert key in report.metadata
    assert report.metadata["hw_name"] == "hvx_690" and report.metadata["energy_table"] == "horowitz45"
    report.to_json(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["layers"][0]["name"] == "conv" and data["totals"]["macs"] == report.totals["macs"]
    report.to_csv(tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text().splitlines()[0].startswith("name,kind,unit")
    assert "latency [cyc]" in report.summary_table()
    assert math.isfinite(report.totals["energy_pj"])


def test_compressed_weights_shrink_weight_traffic_and_cost_decompression():
    # 75 % zero int8 weights: the bitmap format alone needs n/8 mask bytes + one byte per nonzero
    # (docs/compression.md), so the best codec can be no larger.
    rng = np.random.default_rng(0)
    weights = rng.integers(-127, 128, size=(128, 3, 3, 64)).astype(np.int8)
    weights[rng.random(weights.shape) < 0.75] = 0
    b = GraphBuilder("sparse")
    x = b.input("x", (1, 28, 28, 64), "int8", Q)
    w = b.constant("w", weights, "int8", QuantParams.per_tensor(0.01))
    y = b.conv2d(x, w, None, Q, padding="SAME", name="conv")
    data = hw("hvx_690").model_dump(mode="python")
    data["decompression"] = {"codecs": ["bitmap", "huffman"], "output_bytes_per_cycle": 64}
    row = simulate(b.build([y]), validate_hw(data, "")).layers.iloc[0]
    bitmap_bytes = math.ceil(weights.size / 8) + np.count_nonzero(weights)
    assert row["codec"] in ("bitmap", "huffman")
    assert row["weight_dram_bytes"] == row["weight_stored_bytes"] <= bitmap_bytes < weights.size
    assert row["energy_decompression_pj"] > 0
    plain = simulate(b.build([y]), hw("hvx_690")).layers.iloc[0]
    assert plain["weight_dram_bytes"] == weights.size and plain["energy_decompression_pj"] == 0


def test_shape_only_weights_are_synthesized_and_compressed_once_per_graph(monkeypatch):
    import importlib

    import accelsim.graph.synthetic as synthetic

    sim = importlib.import_module("accelsim.simulate")      # the module (the package attribute is the function)

    calls = {"synth": 0, "codec": 0}
    real_synth, real_codec = synthetic.synthesize_weights, sim.best_codec

    def counting_synth(graph, seed):
        calls["synth"] += 1
        return real_synth(graph, seed=seed)

    def counting_codec(weights, bits, codecs):
        calls["codec"] += 1
        return real_codec(weights, bits, codecs)

    monkeypatch.setattr(synthetic, "synthesize_weights", counting_synth)
    monkeypatch.setattr(sim, "best_codec", counting_codec)
    data = hw("hvx_690").model_dump(mode="python")
    data["decompression"] = {"codecs": ["bitmap", "huffman"], "output_bytes_per_cycle": 64}
    config = validate_hw(data, "")
    graph = conv_graph()
    first = simulate(graph, config)
    second = simulate(graph, config)
    assert calls == {"synth": 1, "codec": 1}
    assert first.metadata["synthetic_weights"] and second.metadata["synthetic_weights"]
    assert first.layers.equals(second.layers)
    data["decompression"]["codecs"] = ["bitpack"]             # another codec set is a new compression result
    simulate(graph, validate_hw(data, ""))
    assert calls == {"synth": 1, "codec": 2}


def test_unknown_objective_or_timing_model_is_unsupported_before_any_layer():
    b = GraphBuilder("views")
    x = b.input("x", (1, 4, 4, 8), "int8", Q)
    free_ops_only = b.build([b.flatten(x, name="flatten")])
    for graph in (conv_graph(), free_ops_only):
        with pytest.raises(UnsupportedError, match=r"objective 'speed'.*latency, dram_bytes"):
            simulate(graph, hw("hvx_690"), objective="speed")
        with pytest.raises(UnsupportedError, match=r"timing model 'exact'.*event, closed_form"):
            simulate(graph, hw("hvx_690"), timing_model="exact")


def test_public_api_works_after_the_module_is_imported():
    import importlib

    importlib.import_module("accelsim.simulate")          # binds the package attribute to the module
    report = accelsim.simulate(conv_graph(), CONFIGS / "scalesim_32x32_ws.yaml")
    assert report.totals["macs"] == 28 * 28 * 128 * 9 * 64


def hybrid_config():
    """HVX 690 plus a 32x32 WS systolic array (W8A8 only)."""
    data = hw("hvx_690").model_dump(mode="python")
    data["compute"]["systolic"] = {"rows": 32, "cols": 32, "dataflow": "ws"}
    data["precision"]["modes"] = [m for m in data["precision"]["modes"]
                                  if m["weight_bits"] == 8 and m["activation_bits"] == 8]
    simd = data["compute"]["simd"]
    simd["macs_per_context_cycle"] = {"W8A8": simd["macs_per_context_cycle"]["W8A8"]}
    return validate_hw(data, "")


def block_graph():
    b = GraphBuilder("block")
    x = b.input("x", (1, 14, 14, 32), "int8", Q)
    wd = b.constant("wd", None, "int8", QuantParams.per_tensor(0.01), shape=(32, 3, 3, 1))
    wp = b.constant("wp", None, "int8", QuantParams.per_tensor(0.01), shape=(32, 1, 1, 32))
    d = b.depthwise_conv2d(x, wd, None, Q, padding="SAME", name="dw")
    p = b.conv2d(d, wp, None, Q, name="pw")
    s = b.add(p, x, Q, name="add")
    m = b.max_pool(s, 2, 2, name="pool")
    return b.build([b.reshape(m, (1, 7 * 7 * 32), name="reshape")])


@pytest.mark.parametrize("config, expected", [
    ("hybrid", {"dw": "simd", "pw": "systolic", "add": "simd", "pool": "simd", "reshape": "none"}),
    ("hvx_690", {"dw": "simd", "pw": "simd", "add": "simd", "pool": "simd", "reshape": "none"}),
    ("scalesim_32x32_ws", {"dw": "systolic", "pw": "systolic", "add": "scale_unit", "pool": "scale_unit",
                           "reshape": "none"}),
])
def test_unit_assignment_rule(config, expected):
    h = hybrid_config() if config == "hybrid" else hw(config)
    units = simulate(block_graph(), h).layers.set_index("name")["unit"].to_dict()
    assert units == expected


def test_scale_unit_pooling_costs_one_element_op_per_lane_per_cycle():
    # 2x2 max pool on a 14x14x32 map: 7*7*32 outputs x 3 compares on the 32-lane scale unit (no requantization)
    row = simulate(block_graph(), hw("scalesim_32x32_ws")).layers.set_index("name").loc["pool"]
    assert row["compute_cycles"] == pytest.approx(7 * 7 * 32 * 3 / 32)


def test_add_with_one_resident_input_reads_only_the_other_from_dram():
    b = GraphBuilder("skip")
    x = b.input("x", (1, 8, 8, 64), "int8", Q)
    w = b.constant("w", None, "int8", QuantParams.per_tensor(0.01), shape=(64, 1, 1, 64))
    y = b.conv2d(x, w, None, Q, name="c")               # y stays on chip; x is a graph input (DRAM)
    s = b.add(y, x, Q, name="add")
    row = simulate(b.build([s]), hw("hvx_690")).layers.set_index("name").loc["add"]
    assert row["ifmap_dram_bytes"] == 8 * 8 * 64


# ---------------------------------------------------------------------------------------------- kind labels
@pytest.mark.parametrize("config", ["hybrid", "hvx_690", "scalesim_32x32_ws"])
def test_kind_column_names_depthwise_layers_and_costs_them_as_before(config):
    """The report labels a depthwise conv ``DepthwiseConv2D`` while the IR op stays Conv2D; its MACs are the
    depthwise closed form 14·14·32·3·3 and its unit and compute cycles are those of the cost model applied to
    the layer's IR shape (kind Conv2D, groups = channels)."""
    from accelsim.hw.layer import layer_shape
    from accelsim.mapping.assign import compute_cost

    h = hybrid_config() if config == "hybrid" else hw(config)
    graph = block_graph()
    assert [n.kind for n in graph.nodes][:2] == ["Conv2D", "Conv2D"]
    layers = simulate(graph, h).layers.set_index("name")
    assert layers["kind"].to_dict() == {"dw": "DepthwiseConv2D", "pw": "Conv2D", "add": "Add", "pool": "MaxPool",
                                        "reshape": "Reshape"}
    assert layers.loc["dw", "macs"] == 14 * 14 * 32 * 3 * 3 and layers.loc["pw", "macs"] == 14 * 14 * 32 * 32
    for node in graph.nodes[:2]:
        shape = layer_shape(graph, node)
        assert shape.kind == "Conv2D" and shape.is_depthwise == (node.name == "dw")
        cost = compute_cost(shape, h)
        assert (cost.unit, cost.compute_cycles) == (layers.loc[node.name, "unit"],
                                                    layers.loc[node.name, "compute_cycles"])


# ---------------------------------------------------------------------------------------------- warnings
def _pool_only_graph():
    """A workload without MAC layers (one 16-bit max pool): nothing in it touches a PE register file."""
    import dataclasses

    from accelsim.workloads.yaml_format import build_graph
    from accelsim.workloads.zoo import NetSpecBuilder

    net = NetSpecBuilder("pool_only", (1, 8, 8, 16), "one max pool")
    net.layer("maxpool", "pool", kernel=2, stride=2, padding="valid")
    spec = net.spec()
    return build_graph(dataclasses.replace(spec, quant=spec.quant.model_copy(update={"activation_bits": 16})))


def test_unused_register_file_level_warns_and_is_noted_in_the_metadata():
    """Eyeriss's PE scratchpads (a register-file level) cost area; a workload whose layers never use them (no MAC
    layer: the pool runs on the scale unit) reports zero traffic there: simulate warns (ModelWarning) naming the
    level; the note is in metadata["warnings"]."""
    from accelsim.errors import ModelWarning

    eyeriss = hw("eyeriss_v1")
    with pytest.warns(ModelWarning, match="'pe_spads'") as caught:
        report = simulate(_pool_only_graph(), eyeriss)
    assert len([w for w in caught if issubclass(w.category, ModelWarning)]) == 1
    notes = report.metadata["warnings"]
    assert len(notes) == 1 and "pe_spads" in notes[0] and "scale_unit" in notes[0]
    assert report.layers["rf_read_bytes"].sum() == 0 and report.layers["energy_rf_pj"].sum() == 0
    assert report.totals["area_pe_spads_mm2"] > 0
    assert json.loads(json.dumps(report.to_dict()))["metadata"]["warnings"] == notes


def test_eyeriss_scratchpads_carry_the_row_stationary_accesses():
    """On eyeriss_v1 (rs dataflow) a conv's MACs read a weight, an ifmap value and a psum from the PE spads and
    write the psum ([ref:Chen16] §III): register-file reads = MACs x (2 + 2 + 2) bytes (the spads hold 16-bit
    psums, eyeriss_v1.yaml pe_spads.psum_bits), priced as energy; no warning."""
    import warnings

    from accelsim.errors import ModelWarning

    graph = conv_graph(h=14, c=16, k=16, weight_bits=16, activation_bits=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelWarning)
        report = simulate(graph, hw("eyeriss_v1"))
    row = report.layers.iloc[0]
    assert row["lowering"] == "row_stationary"
    assert row["rf_read_bytes"] == row["macs"] * (2 + 2 + 2)
    assert row["rf_write_bytes"] > row["macs"] * 2 and row["energy_rf_pj"] > 0
    assert report.metadata["warnings"] == []


@pytest.mark.parametrize("config", ["tpu_v1", "hvx_690"])
def test_no_register_file_warning_without_an_unused_level(config):
    """tpu_v1 has no register-file level; hvx_690's vector register file carries the SIMD operand traffic."""
    import warnings

    from accelsim.errors import ModelWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelWarning)
        report = simulate(conv_graph(), hw(config))
    assert report.metadata["warnings"] == []
    if config == "hvx_690":
        assert report.layers["rf_read_bytes"].sum() > 0


# ------------------------------------------------------------------------------------------------ sub-batches
def _batched_chain(batch: int, h: int = 32, c: int = 64):
    b = GraphBuilder("batched")
    t = b.input("x", (batch, h, h, c), "int8", Q)
    for i in range(3):
        w = b.constant(f"w{i}", None, "int8", QuantParams.per_tensor(0.01), shape=(c, 1, 1, c))
        t = b.conv2d(t, w, None, Q, padding="SAME", name=f"conv{i}")
    return b.build([t])


def test_a_forced_sub_batch_repeats_one_pass_of_the_smaller_batch():
    """sub_batch=b: N/b passes of the batch-b graph; additive columns multiply, ratios do not."""
    whole = simulate(_batched_chain(8), hw("tpu_v1"), sub_batch=8)
    split = simulate(_batched_chain(8), hw("tpu_v1"), sub_batch=2)
    one_pass = simulate(_batched_chain(2), hw("tpu_v1"))
    assert split.metadata["sub_batch"] == 2 and whole.metadata["sub_batch"] == 8
    for column in ("latency_cycles", "energy_pj", "dram_read_bytes", "macs", "num_tiles"):
        assert np.allclose(split.layers[column], 4 * one_pass.layers[column]), column
    assert np.allclose(split.layers["utilization"], one_pass.layers["utilization"])
    assert np.allclose(split.layers["weight_stored_bytes"], one_pass.layers["weight_stored_bytes"])
    assert split.totals["macs"] == whole.totals["macs"]
    # Weights are fetched once per pass: four passes read them four times.
    assert split.layers["weight_dram_bytes"].sum() == 4 * whole.layers["weight_dram_bytes"].sum()
    with pytest.raises(UnsupportedError, match="divisor of the batch size 8"):
        simulate(_batched_chain(8), hw("tpu_v1"), sub_batch=3)


def test_the_batch_is_split_only_when_its_activations_spill_and_a_split_is_faster():
    tpu = hw("tpu_v1")
    small = tpu.with_values({"memories.unified_buffer.size_kib": 1024})   # 8 x 64 KiB activations spill
    auto = simulate(_batched_chain(8), small)
    assert auto.metadata["sub_batch"] < 8
    forced = {b: simulate(_batched_chain(8), small, sub_batch=b).totals["latency_cycles"] for b in (1, 2, 4, 8)}
    assert auto.totals["latency_cycles"] == min(forced.values())
    assert simulate(_batched_chain(8), tpu).metadata["sub_batch"] == 8            # fits: the whole batch


def test_a_float_model_is_costed_as_its_ptq_int8_network(tmp_path):
    """A float ONNX model (trained weights, no quantization) simulates as the int8 network the default PTQ makes of
    it (W8A8 per-channel, ranges on 2 uniform inputs): the same cycles as simulating that quantized graph directly,
    its own weights (not synthetic), and the report says how it was quantized."""
    pytest.importorskip("onnx")
    import numpy as np

    from accelsim.graph.importers.onnx import load_onnx
    from accelsim.graph.ptq import PTQSettings, quantize_graph
    from accelsim.simulate import FLOAT_MODEL_CALIBRATION_INPUTS, simulate
    from accelsim.workloads.digits import shipped_model_path

    graph = load_onnx(shipped_model_path("digits_cnn", 0))
    assert graph.is_float
    report = simulate(graph, CONFIGS / "hvx_690.yaml")
    rng = np.random.default_rng(0)
    calibration = {name: rng.uniform(-1.0, 1.0, (FLOAT_MODEL_CALIBRATION_INPUTS * graph.tensors[name].shape[0],
                                                  *graph.tensors[name].shape[1:])).astype(np.float32)
                   for name in graph.inputs}
    direct = simulate(quantize_graph(graph, calibration, PTQSettings()), CONFIGS / "hvx_690.yaml")
    assert report.totals["latency_cycles"] == direct.totals["latency_cycles"] > 0
    assert report.totals["energy_pj"] == direct.totals["energy_pj"]
    assert report.metadata["synthetic_weights"] is False
    assert "PTQ W8A8" in report.metadata["float_model"] and "float model" in report.summary_table()
