"""The Ethos-U MAC engine (accelsim/hw/ethos.py): closed forms per block written out by hand here, whole layers
against Vela 5.2.0's own per-layer estimates (the shipped reference rows), unit selection and the config keys."""
from __future__ import annotations

import math

import pytest

from accelsim.config.hw import load_hw, validate_hw
from accelsim.errors import ConfigError, MappingError
from accelsim.hw.ethos import (
    EngineGeometry, EngineOp, engine_timing, ifm_block_depth, mac_cycles_per_block, part_kernel_traversal,
    subkernels,
)
from accelsim.hw.unit import peak_macs_per_cycle
from accelsim.mapping.assign import compute_cost
from accelsim.validation.common import config_path
from accelsim.validation.vela import vela_shipped_references


def _geometry(config: str) -> EngineGeometry:
    return EngineGeometry.of(load_hw(config_path(config)).compute.of_kind("mac_engine"))


U55_256 = "ethos_u55_256"
U55_128 = "ethos_u55_128"


# ------------------------------------------------------------------------------------------ closed forms per block
def test_depthwise_block_is_four_cycles_per_micro_block_per_group_of_four_taps():
    g = _geometry(U55_256)
    op = EngineOp("depthwise", 1, 112, 112, 32, 32, 3, 3)
    # 16x16x32 block: 8x8 micro-blocks of 2x2 pixels, 4 of 8 channels; 9 taps = 3 groups of 4.
    assert mac_cycles_per_block(g, op, 16, 16, 32, False) == max(32, 4 * 64) * 3 * 4
    # 16-bit activations: twice the cycles per step.
    op16 = EngineOp("depthwise", 1, 112, 112, 32, 32, 3, 3, activation_bits=16)
    assert mac_cycles_per_block(g, op16, 16, 16, 32, False) == 2 * 4 * 64 * 3 * 4


def test_small_blocks_are_bound_by_the_weight_load():
    g = _geometry(U55_256)
    fc = EngineOp("conv", 1, 1, 1, 1000, 1280)
    # FC: one micro-block in the plane, so every 32-channel slice step takes weight_load_cycles (32), not 4;
    # a 128-deep block has 16 micro-blocks in depth, the input 1280 / 32 = 40 slices.
    assert mac_cycles_per_block(g, fc, 1, 1, 128, False) == 32 * 16 * 40


def test_dense_conv_depth_first_and_part_kernel():
    g = _geometry(U55_256)
    conv = EngineOp("conv", 1, 56, 56, 64, 64)            # 1x1, 64 -> 64
    # depth-first: 2 slices of 32 channels; 16x16 block = 64 micro-blocks -> 4*64 cycles per step; 1 tap; 8 z.
    assert not part_kernel_traversal(64, 1, 8)
    assert mac_cycles_per_block(g, conv, 16, 16, 64, False) == 4 * 64 * 1 * 8 * 2
    first = EngineOp("conv", 1, 112, 112, 32, 3, 3, 3, 2, 2)   # 3 input channels: part-kernel
    assert part_kernel_traversal(3, 9, 8) and ifm_block_depth(3, 8, True) == 8
    # 9 taps in groups of 4 -> 3 steps, one 8-channel slice; 8x16 block = 4x8 micro-blocks; 32 channels = 4 z.
    assert mac_cycles_per_block(g, first, 8, 16, 32, True) == max(32, 4 * 32) * 3 * 1 * 4


def test_kernel_traversal_choice_follows_channel_and_tap_utilisation():
    # 16 channels, 3x3: depth-first uses 16/32 of a slice, part-kernel 16*9/(16*12) = 0.75 -> part-kernel.
    assert part_kernel_traversal(16, 9, 8)
    # 48 channels, 3x3: 48/64 = 0.75 both ways -> depth-first (part-kernel only when strictly better).
    assert not part_kernel_traversal(48, 9, 8)
    assert part_kernel_traversal(8, 1, 8)                 # at most 8 channels: always part-kernel


def test_single_micro_block_pays_the_delay_per_step():
    g = _geometry(U55_256)
    op = EngineOp("depthwise", 1, 1, 1, 8, 8, 7, 7)       # a 7x7 global pool on 8 channels
    steps = math.ceil(49 / 4)
    assert mac_cycles_per_block(g, op, 2, 2, 8, False) == 32 * steps * 1 + 2 * steps
    op16 = EngineOp("depthwise", 1, 1, 1, 64, 64, 7, 7)   # 8 micro-blocks deep: delay on all but the first step
    assert mac_cycles_per_block(g, op16, 2, 2, 64, False) == 32 * steps * 8 + 2 * (steps - 1) * 8


def test_large_kernels_split_into_sub_kernels():
    assert subkernels(13, 13, 8) == (64, 40, 40, 25)
    assert subkernels(3, 3, 8) == (9,)
    g = _geometry(U55_256)
    op = EngineOp("pool", 1, 55, 55, 64, 64, 3, 3, 2, 2)
    # pooling: pool_tap_cycles (4) per micro-block per tap, at least 4 taps counted.
    assert mac_cycles_per_block(g, op, 8, 8, 64, False) == 4 * 9 * 16 * 8
    copy = EngineOp("pool", 1, 28, 28, 64, 64)                    # a 1x1 pass (ReLU, rescaling copy)
    assert mac_cycles_per_block(g, copy, 8, 8, 64, False) == 4 * 4 * 16 * 8


def test_elementwise_is_the_output_rate_on_16_channel_bricks():
    g = _geometry(U55_256)
    add = EngineOp("elementwise", 1, 56, 56, 24, 24, rate_class="add")
    assert engine_timing(g, add).cycles == 0.75 * 56 * 56 * 32
    g128 = _geometry(U55_128)
    assert engine_timing(g128, add).cycles == 1.5 * 56 * 56 * 32


def test_block_pipeline_overlaps_output_with_the_next_blocks_macs():
    g = _geometry(U55_256)
    op = EngineOp("conv", 1, 28, 28, 128, 64)
    t = engine_timing(g, op)
    mac = mac_cycles_per_block(g, op, *t.block, t.part_kernel)
    out = math.ceil(0.25 * t.block[0] * t.block[1] * t.block[2])
    blocks = math.ceil(28 / t.block[0]) * math.ceil(28 / t.block[1]) * math.ceil(128 / t.block[2])
    assert t.blocks == blocks
    assert t.cycles == max(mac, out) * blocks + min(mac, out)


# ------------------------------------------------------------------------------- whole layers vs Vela's estimates
def _vela_npu(key: str, name: str) -> int:
    return sum(row[3] for row in vela_shipped_references()[key]["layers"] if row[1] == name)


@pytest.mark.parametrize("config, op, network, names, tolerance", [
    (U55_256, EngineOp("depthwise", 1, 112, 112, 32, 32, 3, 3), "mobilenet_v2_1.0_224",
     ("expanded_conv/depthwise",), 0.03),
    (U55_256, EngineOp("depthwise", 1, 56, 56, 144, 144, 3, 3), "mobilenet_v2_1.0_224",
     ("expanded_conv_2/depthwise",), 0.03),
    (U55_256, EngineOp("conv", 1, 1, 1, 1000, 1280), "mobilenet_v2_1.0_224", ("logits",), 0.05),
    (U55_256, EngineOp("depthwise", 1, 1, 1, 1280, 1280, 7, 7, rate_class="other"), "mobilenet_v2_1.0_224",
     ("global_pool_intermediate", "global_pool"), 0.07),
    (U55_256, EngineOp("conv", 1, 112, 112, 32, 3, 3, 3, 2, 2), "mobilenet_v2_1.0_224", ("Conv",), 0.03),
    (U55_256, EngineOp("pool", 1, 55, 55, 64, 64, 3, 3, 2, 2, rate_class="max_pool"), "squeezenet_1.1",
     ("pool1",), 0.03),
    (U55_256, EngineOp("pool", 1, 55, 55, 128, 128, rate_class="other"), "squeezenet_1.1",
     ("fire2/concat",), 0.05),
    (U55_128, EngineOp("depthwise", 1, 112, 112, 32, 32, 3, 3), "mobilenet_v2_1.0_224",
     ("expanded_conv/depthwise",), 0.03),
    (U55_128, EngineOp("conv", 1, 56, 56, 64, 64, 3, 3), "resnet_18", ("layer1.0.conv1",), 0.03),
    (U55_128, EngineOp("pool", 1, 55, 55, 64, 64, 3, 3, 2, 2, rate_class="max_pool"), "squeezenet_1.1",
     ("pool1",), 0.03),
])
def test_layer_cycles_agree_with_vela(config, op, network, names, tolerance):
    vela = sum(_vela_npu(f"{network} @ {config}", n) for n in names)
    model = engine_timing(_geometry(config), op).cycles
    assert model == pytest.approx(vela, rel=tolerance)


# ----------------------------------------------------------------------------------------- unit, config, errors
def _shape(kind: str, **dims):
    from accelsim.hw.layer import LayerShape

    base = dict(batch=1, in_h=14, in_w=14, in_channels=32, out_h=14, out_w=14, out_channels=32)
    base.update(dims)
    weights = {"weight_bits": 8, "bias_bits": 32} if kind in ("Conv2D", "FullyConnected") else {}
    return LayerShape(**base, name=f"test_{kind}", kind=kind, **weights,
                      num_inputs=2 if kind in ("Add", "Concat") else 1)


@pytest.mark.parametrize("kind, dims, lowering", [
    ("Conv2D", {"kernel_h": 3, "kernel_w": 3, "pad_h": 2, "pad_w": 2}, "conv"),
    ("Conv2D", {"kernel_h": 3, "kernel_w": 3, "pad_h": 2, "pad_w": 2, "groups": 32}, "depthwise"),
    ("FullyConnected", {"in_h": 1, "in_w": 1, "out_h": 1, "out_w": 1}, "conv"),
    ("Add", {}, "elementwise"),
    ("MaxPool", {"kernel_h": 2, "kernel_w": 2, "stride_h": 2, "stride_w": 2, "out_h": 7, "out_w": 7}, "pool"),
    ("GlobalAveragePool", {"out_h": 1, "out_w": 1}, "depthwise"),
])
def test_the_ethos_config_runs_every_op_on_the_mac_engine(kind, dims, lowering):
    hw = load_hw(config_path(U55_256))
    cost = compute_cost(_shape(kind, **dims), hw)
    assert cost.unit == "mac_engine" and cost.lowering == lowering and cost.compute_cycles > 0


def test_grouped_conv_is_a_mapping_error_naming_the_layer():
    hw = load_hw(config_path(U55_256))
    with pytest.raises(MappingError, match="test_Conv2D"):
        compute_cost(_shape("Conv2D", kernel_h=3, kernel_w=3, pad_h=2, pad_w=2, groups=4), hw)


def test_other_configs_keep_their_units():
    hw = load_hw(config_path("tpu_v1"))
    assert compute_cost(_shape("Conv2D", kernel_h=3, kernel_w=3, pad_h=2, pad_w=2), hw).unit == "systolic"


def test_peak_is_micro_block_times_dot_product_width():
    assert peak_macs_per_cycle(load_hw(config_path(U55_256)), 8, 8) == 2 * 2 * 8 * 8
    assert peak_macs_per_cycle(load_hw(config_path(U55_128)), 8, 8) == 1 * 2 * 8 * 8
    assert peak_macs_per_cycle(load_hw(config_path("ethos_u65_256")), 8, 16) == 128


def test_two_cores_halve_each_blocks_mac_cycles_and_double_the_peak():
    from accelsim.config.loading import read_yaml

    data = read_yaml(config_path("ethos_u65_256"))
    dual = validate_hw({**data, "compute": {"mac_engine": {**data["compute"]["mac_engine"], "cores": 2}}}, "")
    g1, g2 = _geometry("ethos_u65_256"), EngineGeometry.of(dual.compute.of_kind("mac_engine"))
    op = EngineOp("depthwise", 1, 56, 56, 64, 64, 3, 3)
    assert mac_cycles_per_block(g2, op, 16, 16, 32, False) == mac_cycles_per_block(g1, op, 16, 16, 32, False) / 2
    assert peak_macs_per_cycle(dual, 8, 8) == 512


def test_config_keys_are_strict_and_bounded():
    from accelsim.config.loading import read_yaml

    data = read_yaml(config_path(U55_256))
    bad = {**data, "compute": {"mac_engine": {**data["compute"]["mac_engine"], "shram_reserved_banks": 48}}}
    with pytest.raises(ConfigError, match="shram_reserved_banks"):
        validate_hw(bad, "")
    typo = {**data, "compute": {"mac_engine": {**data["compute"]["mac_engine"], "weight_load_cycle": 32}}}
    with pytest.raises(ConfigError, match="weight_load_cycle"):
        validate_hw(typo, "")
    negative = {**data, "compute": {"mac_engine": {**data["compute"]["mac_engine"], "pool_tap_cycles": 0}}}
    with pytest.raises(ConfigError, match="pool_tap_cycles"):
        validate_hw(negative, "")


@pytest.mark.parametrize("config", ["ethos_u55_256", "ethos_u55_128"])
def test_the_engine_requantizes_in_its_output_unit_so_an_add_costs_what_vela_says(config):
    """The output unit scales every output within its output_cycles_per_element (Vela's rates are per scaled
    output): no separate scale-unit time. MobileNet-v2's ten residual Adds, per-layer total cycles against Vela 5.2.0
    (shipped rows): the median ratio is 1.00 (it was 1.25 on U55-256 when the scale unit was charged on top)."""
    import statistics

    from accelsim.simulate import simulate
    from accelsim.validation.vela import VELA_CASES, _case_graph, layer_pairs

    case = next(c for c in VELA_CASES if c.network == "mobilenet_v2_1.0_224" and c.config == config)
    report = simulate(_case_graph(case.network), load_hw(config_path(config)))
    adds = report.layers[report.layers["kind"] == "Add"]
    assert len(adds) == 10 and set(adds["requant_unit"]) == {"mac_engine"} and (adds["scale_cycles"] == 0).all()
    pairs = layer_pairs(report, vela_shipped_references()[case.key]["layers"])
    kinds = dict(zip(report.layers["name"], report.layers["kind"]))
    ratios = [m / v for n, m, v in zip(pairs.names, pairs.model_total, pairs.vela_total) if kinds[n] == "Add"]
    assert len(ratios) == 10
    assert statistics.median(ratios) == pytest.approx(1.0, abs=0.05)


# ------------------------------------------------------------------ LUT activations fused into their producer
def test_output_rate_is_raised_to_the_lut_rate_only_when_a_lut_is_fused():
    """Vela 5.2.0 _estimate_output_cycles_per_element: max(op rate, LUT rate); U55-128: conv 0.5, Add 1.5, LUT 1.0."""
    from accelsim.hw.ethos import output_rate

    g = _geometry(U55_128)
    conv = EngineOp("conv", 1, 8, 8, 16, 16)
    add = EngineOp("elementwise", 1, 8, 8, 16, 16, rate_class="add")
    assert output_rate(g, conv) == 0.5
    assert output_rate(g, EngineOp("conv", 1, 8, 8, 16, 16, lut_activation=True)) == 1.0
    assert output_rate(g, add) == 1.5
    assert output_rate(g, EngineOp("elementwise", 1, 8, 8, 16, 16, rate_class="add", lut_activation=True)) == 1.5


def test_a_fused_lut_raises_the_output_units_cycles_of_every_block():
    g = _geometry(U55_128)
    # Elementwise: rate x N.OH.OW.ceil16(C) = 1.0 x 8 x 8 x 16 through the LUT, 0.5 x 1024 without.
    plain = engine_timing(g, EngineOp("elementwise", 1, 8, 8, 16, 16, rate_class="other"))
    lut = engine_timing(g, EngineOp("elementwise", 1, 8, 8, 16, 16, rate_class="other", lut_activation=True))
    assert (plain.cycles, lut.cycles) == (512, 1024)
    # A 1x1 conv: the output unit writes 1.0 cycle per element of its block (output bound: 16 in, 64 out channels).
    t = engine_timing(g, EngineOp("conv", 1, 24, 24, 64, 16, lut_activation=True))
    h, w, c = t.block
    assert t.output_cycles_per_block == h * w * c * 1.0
    assert t.cycles == max(t.mac_cycles_per_block, t.output_cycles_per_block) * t.blocks + min(
        t.mac_cycles_per_block, t.output_cycles_per_block)


def _lut_graph(activation=None, conv_activation="NONE", extra_consumer=False, dtype="int8", on_input=False):
    import numpy as np

    from accelsim.graph import ops as O
    from accelsim.graph.builder import GraphBuilder
    from accelsim.quant.params import QuantParams

    b = GraphBuilder("lut")
    q = QuantParams.per_tensor(0.05, 0)
    x = b.input("x", (1, 8, 8, 16), dtype, q)
    w = b.constant("w", np.ones((32, 1, 1, 16), np.int8), "int8", QuantParams.per_tensor(0.01, 0))
    y = x if on_input else b.conv2d(x, w, None, q, activation=conv_activation, name="conv")
    a = b.op(activation or O.HardSwish(), [y], dtype, q, name="act")
    outputs = [a] + ([b.max_pool(y, 2, 2, name="other")] if extra_consumer else [])
    return b.build(outputs)


def _engine(config=U55_128, **changes):
    from accelsim.config.loading import read_yaml

    data = read_yaml(config_path(config))
    return validate_hw({**data, "compute": {"mac_engine": {**data["compute"]["mac_engine"], **changes}}},
                       "").compute.of_kind("mac_engine")


def test_lut_fusion_follows_velas_conditions():
    """Vela 5.2.0 fuse_activation_function_with_prev: the producer runs on the NPU with a block type, has the
    activation as its only consumer and no activation of its own; 8-bit LUT activations only; the SHRAM must have
    banks to spare for the table (more than 16)."""
    from accelsim.graph import ops as O
    from accelsim.hw.ethos import lut_fusion

    engine = _engine()
    assert lut_fusion(_lut_graph(), engine) == {"act": "conv"}
    assert lut_fusion(_lut_graph(O.Sigmoid()), engine) == {"act": "conv"}
    assert lut_fusion(_lut_graph(O.Tanh()), engine) == {"act": "conv"}
    assert lut_fusion(_lut_graph(O.LeakyReLU(0.1)), engine) == {"act": "conv"}
    assert lut_fusion(_lut_graph(O.LeakyReLU(0.0)), engine) == {}          # a ReLU, not a LUT
    assert lut_fusion(_lut_graph(conv_activation="RELU"), engine) == {}    # the conv has an activation already
    assert lut_fusion(_lut_graph(extra_consumer=True), engine) == {}       # the conv output has two consumers
    assert lut_fusion(_lut_graph(on_input=True), engine) == {}             # no producing op
    assert lut_fusion(_lut_graph(dtype="int16"), engine) == {}             # not an 8-bit LUT
    assert lut_fusion(_lut_graph(), _engine(shram_banks=16, shram_reserved_banks=2)) == {}
    assert lut_fusion(_lut_graph(), None) == {}


def test_a_fused_lut_activation_costs_nothing_and_its_producer_writes_through_the_lut():
    from accelsim.simulate import simulate

    graph = _lut_graph()
    rows = simulate(graph, load_hw(config_path(U55_128))).layers.set_index("name")
    assert rows.at["act", "latency_cycles"] == 0 and rows.at["act", "unit"] == "none"
    assert rows.at["act", "lowering"] == "LUT fused into its producer"
    assert rows.at["act", "dram_read_bytes"] == 0 and rows.at["act", "dram_write_bytes"] == 0
    # The conv writes 8 x 8 x 32 outputs at the LUT rate of 1.0 cycle each, at least.
    assert rows.at["conv", "compute_cycles"] >= 8 * 8 * 32 * 1.0
    # Without room for the LUT the activation keeps a pass of its own (the scale unit's lanes).
    data = load_hw(config_path(U55_128)).model_dump()
    data["compute"]["mac_engine"].update(shram_banks=16, shram_reserved_banks=2)
    unfused = simulate(graph, validate_hw(data, "")).layers.set_index("name")
    assert unfused.at["act", "latency_cycles"] > 0 and unfused.at["act", "unit"] == "scale_unit"
    assert unfused.at["conv", "compute_cycles"] < rows.at["conv", "compute_cycles"]


# ---------------------------------------------------------------- elementwise outputs stored NHWC (not bricks)
def test_elementwise_elements_round_the_depth_to_the_brick_only_for_brick_storage():
    from accelsim.hw.ethos import elementwise_elements

    assert elementwise_elements(EngineOp("elementwise", 1, 96, 96, 3, 3, rate_class="add")) == 96 * 96 * 16
    assert elementwise_elements(EngineOp("elementwise", 1, 96, 96, 3, 3, rate_class="add",
                                         linear_output=True)) == 96 * 96 * 3
    g = _geometry(U55_128)     # Add: 1.5 cycles per output element
    t = engine_timing(g, EngineOp("elementwise", 1, 96, 96, 3, 3, rate_class="add", linear_output=True))
    assert t.cycles == 1.5 * 96 * 96 * 3


def _rescaling_graph(channels=3, second_input=False):
    """x (graph input) * s + b (scalar constants), then an Add with another map: Keras' Rescaling layer."""
    import numpy as np

    from accelsim.graph import ops as O
    from accelsim.graph.builder import GraphBuilder
    from accelsim.quant.params import QuantParams

    b = GraphBuilder("rescale")
    q = QuantParams.per_tensor(0.05, 0)
    x = b.input("x", (1, 8, 8, channels), "int8", q)
    s = b.constant("s", np.array(2, np.int8), "int8", q)
    m = b.op(O.Mul(), [x, s], "int8", q, name="mul")
    a = b.add(m, b.constant("c", np.array(1, np.int8), "int8", q), q, name="add")
    w = b.constant("w", np.ones((channels, 1, 1, channels), np.int8), "int8", QuantParams.per_tensor(0.01, 0))
    y = b.conv2d(a, w, None, q, name="conv")
    z = b.add(y, y if not second_input else a, q, name="add2")
    r = b.add(z, z, q, name="add3")
    return b.build([r])


def test_linear_format_follows_velas_in_place_rule():
    """Vela 5.2.0 scheduler.py avoid_nhcwb16_for_ofm: an elementwise output of depth not a multiple of 16 stays NHWC
    when an input of its shape and type is NHWC (here the graph input, then the Mul's output); a conv's output
    goes to bricks, and so does what is computed from it; the graph output is NHWC."""
    from accelsim.hw.ethos import linear_format_outputs

    assert linear_format_outputs(_rescaling_graph()) == {"mul", "add", "add3"}
    # A second input that is NHWC (the Add's output) makes add2 NHWC too.
    assert linear_format_outputs(_rescaling_graph(second_input=True)) == {"mul", "add", "add2", "add3"}
    # Depth a multiple of 16: bricks (only the graph output is NHWC).
    assert linear_format_outputs(_rescaling_graph(channels=16)) == {"add3"}
