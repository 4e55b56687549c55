"""4-bit and 2-bit activations end to end: workload schema, PTQ, the integer engine, the cost model on Bit Fusion,
digits accuracy and the exporters.

References: the independent int64 transcription (tests/int64_reference.py) for every output integer; closed forms
written here for the quantization parameters (whitepaper eq. 1-3, [ref:Krishnamoorthi18]), the accumulator bound and
the systolic fold count (SCALE-Sim's fold formula, [ref:ScaleSim]) with Bit Fusion's fusion-mode throughput
64 / (weight_bits x activation_bits) MACs per Fusion Unit per cycle ([ref:Sharma18], the Fusion Unit: 16 2-bit
BitBricks fuse into 1 processing engine at 8x8 bits, 4 at 4x4 / 8x2 / 2x8, 16 at 2x2; modes listed in
hw_configs/bitfusion.yaml).
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import yaml

import int64_reference as ref
from accelsim.errors import ConfigError, UnsupportedError
from accelsim.execute import execute
from accelsim.graph.builder import GraphBuilder
from accelsim.graph.ptq import ACTIVATION_BITS, WEIGHT_BITS, LayerOverride, PTQSettings, quantize_graph
from accelsim.quant.params import DTYPES, QuantParams, quantize
from accelsim.workloads.yaml_format import ActivationBits, WeightBits

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"
MODES = ("fixed_point", "fixed_point_single_round", "fixed_point_int64", "float32", "float32_recip")
LOWBIT = {2: (-2, 1), 4: (-8, 7)}  # signed b-bit range [-2^(b-1), 2^(b-1) - 1], written out


# ------------------------------------------------------------------------------------------------ helpers
def random_ints(rng, shape, dtype: str) -> np.ndarray:
    info = DTYPES[dtype]
    return rng.integers(info.qmin, info.qmax + 1, shape).astype(info.storage)


def assert_bit_exact(graph, inputs, accumulator_bits=None, min_distinct=3) -> None:
    """Every tensor the engine computes equals the int64 reference, overflow counts included."""
    result = execute(graph, inputs, accumulator_bits=accumulator_bits, on_overflow="report")
    expected, overflows = ref.run_graph(graph, inputs, accumulator_bits)
    assert list(result.overflows) == overflows
    for node in graph.nodes:
        name = node.outputs[0]
        t = graph.tensors[name]
        got = result[name]
        assert got.dtype == DTYPES[t.dtype].storage and got.shape == t.shape
        assert np.array_equal(got.astype(np.int64), expected[name]), f"{node.name} ({t.dtype}) differs"
        lo, hi = ref.RANGES[t.dtype]
        assert lo <= int(got.min()) and int(got.max()) <= hi
    out = expected[graph.outputs[0]]
    assert np.unique(out).size >= min(min_distinct, out.size // 2), "degenerate output: the test would prove little"


def float_network(batch: int = 3):
    """conv 3x3 (RELU) -> depthwise 3x3 stride 2 (RELU6) -> 1x1 conv -> add (with a stride-2 1x1 branch) ->
    max pool, avg pool -> concat -> global average pool -> FC: every op family, a float graph."""
    rng = np.random.default_rng(3)
    b = GraphBuilder("lowbit_net")
    const = lambda name, shape: b.constant(name, (rng.standard_normal(shape) * 0.4).astype(np.float32),  # noqa: E731
                                           "float32", None)
    x = b.input("x", (batch, 10, 10, 4), "float32", None)
    h = b.conv2d(x, const("w1", (8, 3, 3, 4)), const("b1", (8,)), None, padding="SAME", activation="RELU", name="conv")
    d = b.depthwise_conv2d(h, const("wd", (8, 3, 3, 1)), const("bd", (8,)), None, stride=(2, 2), padding="SAME",
                           activation="RELU6", name="dw")
    p = b.conv2d(d, const("w2", (8, 1, 1, 8)), const("b2", (8,)), None, name="pw")
    s = b.conv2d(h, const("ws", (8, 1, 1, 8)), None, None, stride=(2, 2), name="skip")
    a = b.add(p, s, None, activation="RELU", name="add")
    m = b.max_pool(a, 2, 1, name="maxpool")
    v = b.avg_pool(a, 2, 1, name="avgpool")
    c = b.concat([m, v], None, name="concat")
    g = b.global_average_pool(c, name="gap")
    y = b.fully_connected(g, const("w3", (5, 16)), const("b3", (5,)), None, name="fc")
    return b.build([y])


CAL = {"x": np.random.default_rng(5).uniform(-1, 2, (24, 10, 10, 4)).astype(np.float32)}


# ------------------------------------------------------------------------------------------- 1. the schema
def test_widths_are_one_fact():
    """The workload schema accepts exactly PTQ's widths."""
    assert get_args(ActivationBits) == ACTIVATION_BITS == (2, 4, 8, 16)
    assert get_args(WeightBits) == WEIGHT_BITS == (2, 4, 8, 16)


WORKLOAD = """\
name: tiny
input_shape: [1, 8, 8, 16]
quant: {weight_bits: 4, activation_bits: 4, per_channel: false, overrides: {head: {weight_bits: 2, activation_bits: 2}}}
layers:
  - {name: c1, op: conv, out_channels: 16, kernel: 3, activation: relu}
  - {name: pool, op: maxpool, kernel: 2, stride: 2}
  - {name: head, op: conv, out_channels: 8, kernel: 1}
"""


def test_workload_yaml_builds_int4_and_int2_tensors(tmp_path):
    from accelsim.workloads.yaml_format import load_workload_yaml
    path = tmp_path / "w.yaml"
    path.write_text(WORKLOAD)
    g = load_workload_yaml(path)
    t = g.tensors
    assert (t["input"].dtype, t["c1/weights"].dtype, t["c1"].dtype, t["pool"].dtype) == ("int4",) * 4
    assert (t["head/weights"].dtype, t["head"].dtype) == ("int2", "int2")
    assert t["c1/bias"].dtype == "int32"
    for name in ("input", "c1", "head"):  # nominal (S, Z) put the zero point inside the narrow range
        lo, hi = ref.RANGES[t[name].dtype]
        assert lo <= int(t[name].quant.zero_point[0]) <= hi


@pytest.mark.parametrize("bits", [4, 2])
def test_synthesized_narrow_workload_executes_bit_exactly(tmp_path, bits):
    """Workload YAML -> synthetic weights (int2 weights ternary: symmetric narrow range [-1, 1]) -> engine equals
    the int64 reference on every tensor."""
    from accelsim.graph.synthetic import synthesize_weights
    from accelsim.workloads.yaml_format import load_workload_yaml
    path = tmp_path / "w.yaml"
    path.write_text(WORKLOAD.replace("overrides: {head: {weight_bits: 2, activation_bits: 2}}", "overrides: {}")
                    .replace("weight_bits: 4, activation_bits: 4", f"weight_bits: {bits}, activation_bits: {bits}"))
    graph = synthesize_weights(load_workload_yaml(path), seed=0)
    w = graph.tensors["c1/weights"].data
    assert w.dtype == np.int8 and -(2 ** (bits - 1)) < int(w.min()) and int(w.max()) <= 2 ** (bits - 1) - 1
    inputs = {"input": random_ints(np.random.default_rng(bits), (1, 8, 8, 16), f"int{bits}")}
    assert_bit_exact(graph, inputs, min_distinct=0)
    assert np.unique(execute(graph, inputs)["c1"]).size >= 3


@pytest.mark.parametrize("quant, key", [
    ("{activation_bits: 3}", "quant.activation_bits"),
    ("{weight_bits: 1}", "quant.weight_bits"),
    ("{overrides: {c1: {activation_bits: 6}}}", "quant.overrides.c1.activation_bits"),
])
def test_bad_widths_name_the_key_and_the_allowed_values(tmp_path, quant, key):
    from accelsim.workloads.yaml_format import load_workload_yaml
    path = tmp_path / "w.yaml"
    path.write_text(WORKLOAD.replace(WORKLOAD.splitlines()[2], f"quant: {quant}"))
    with pytest.raises(ConfigError) as info:
        load_workload_yaml(path)
    assert info.value.key_path == key and "2, 4, 8 or 16" in str(info.value) and str(path) in str(info.value)


def test_width_change_on_a_pass_through_op_is_refused(tmp_path):
    from accelsim.workloads.yaml_format import load_workload_yaml
    path = tmp_path / "w.yaml"
    path.write_text(WORKLOAD.replace("head: {weight_bits: 2, activation_bits: 2}", "pool: {activation_bits: 2}"))
    with pytest.raises(ConfigError, match="quant.overrides.pool.activation_bits.*expected 4"):
        load_workload_yaml(path)


@pytest.mark.parametrize("kwargs", [dict(activation_bits=3), dict(weight_bits=1),
                                    dict(overrides=(LayerOverride("conv", activation_bits=6),))])
def test_bad_ptq_widths_list_the_allowed_values(kwargs):
    with pytest.raises(UnsupportedError, match=r"PTQSettings.*one of \(2, 4, 8, 16\)"):
        PTQSettings(**kwargs)


def test_yaml_export_round_trip_keeps_narrow_widths(tmp_path):
    """A mixed W4A4 / W2A2 PTQ graph -> editable workload YAML -> graph: every tensor keeps its type."""
    from accelsim.workloads.export_yaml import graph_to_spec, spec_to_yaml
    from accelsim.workloads.yaml_format import load_workload_yaml
    settings = PTQSettings(weight_bits=4, activation_bits=4, requant_mode="fixed_point",
                           overrides=(LayerOverride("pw", weight_bits=2, activation_bits=2),
                                      LayerOverride("skip", activation_bits=2)))
    graph = quantize_graph(float_network(), CAL, settings)
    spec = graph_to_spec(graph)
    assert (spec.quant.weight_bits, spec.quant.activation_bits) == (4, 4)
    path = tmp_path / "rt.yaml"
    path.write_text(spec_to_yaml(spec))
    rebuilt = load_workload_yaml(path)
    by_layer = {n.name: n for n in rebuilt.nodes}
    for node in graph.nodes:
        twin = by_layer[node.name]
        assert rebuilt.tensors[twin.outputs[0]].dtype == graph.tensors[node.outputs[0]].dtype, node.name
        if len(node.inputs) > 1 and graph.tensors[node.inputs[1]].is_constant:
            assert rebuilt.tensors[twin.inputs[1]].dtype == graph.tensors[node.inputs[1]].dtype, node.name


# ---------------------------------------------------------------------------------------------- 2. PTQ
@pytest.mark.parametrize("bits", [4, 2])
def test_ptq_narrow_activation_parameters_closed_form(bits):
    """Asymmetric b-bit: S = (max - min) / (2^b - 1), Z = round(qmin - min / S) clamped (whitepaper eq. 1-3), with
    [min, max] extended to contain 0; the input tensor is int<b> in int8 storage."""
    graph = quantize_graph(float_network(), CAL, PTQSettings(weight_bits=bits, activation_bits=bits))
    x = graph.tensors["x"]
    lo, hi = min(float(CAL["x"].min()), 0.0), max(float(CAL["x"].max()), 0.0)
    qmin, qmax = LOWBIT[bits]
    scale = (hi - lo) / (qmax - qmin)
    assert x.dtype == f"int{bits}" and DTYPES[x.dtype].storage is np.int8
    assert float(x.quant.scale[0]) == pytest.approx(scale, rel=1e-6)
    assert int(x.quant.zero_point[0]) == int(np.clip(np.round(qmin - lo / scale), qmin, qmax))
    for name in ("conv", "dw", "pw", "add", "concat", "fc"):
        t = graph.tensors[name]
        assert t.dtype == f"int{bits}" and qmin <= int(t.quant.zero_point[0]) <= qmax
    w = graph.tensors["w1"]
    assert w.dtype == f"int{bits}" and qmin <= int(w.data.min()) and int(w.data.max()) <= qmax
    assert graph.tensors["b1"].dtype == "int32"


@pytest.mark.parametrize("bits", [4, 2])
def test_mse_observer_on_the_narrow_grid(bits):
    """The ``mse`` observer searches the b-bit grid: on heavy-tailed data its range is narrower than min/max and its
    b-bit quantization error (computed here independently: 2^b - 1 steps, asymmetric) is no larger."""
    from accelsim.graph.ptq import mse_range
    x = np.random.default_rng(2).standard_t(3, 20_000).astype(np.float32)
    qmin, qmax = LOWBIT[bits]

    def qdq_mse(lo, hi):
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        scale = (hi - lo) / (qmax - qmin)
        zero = np.clip(np.round(qmin - lo / scale), qmin, qmax)
        q = np.clip(np.rint(x / scale) + zero, qmin, qmax)
        return float(np.mean(((q - zero) * scale - x) ** 2))

    lo, hi = mse_range(x, f"int{bits}", symmetric=False)
    assert x.min() < lo < 0 < hi < x.max()
    assert qdq_mse(lo, hi) <= qdq_mse(float(x.min()), float(x.max()))
    assert qdq_mse(lo, hi) < 0.5 * qdq_mse(float(x.min()), float(x.max()))


def test_ptq_mixed_widths_per_layer():
    settings = PTQSettings(activation_bits=8, overrides=(LayerOverride("conv", activation_bits=4),
                                                         LayerOverride("pw", weight_bits=2, activation_bits=2),
                                                         LayerOverride("skip", activation_bits=2)))
    g = quantize_graph(float_network(), CAL, settings)
    widths = {n: g.tensors[n].dtype for n in ("x", "conv", "dw", "pw", "skip", "add", "maxpool", "fc")}
    assert widths == {"x": "int8", "conv": "int4", "dw": "int8", "pw": "int2", "skip": "int2", "add": "int2",
                      "maxpool": "int2", "fc": "int8"}
    assert g.tensors["w2"].dtype == "int2"


@pytest.mark.parametrize("bits", [4, 2])
def test_requantizer_clamps_to_the_narrow_range(bits):
    """Inputs 4x beyond the calibrated range: the requantized outputs saturate at exactly the b-bit limits (the
    engine's clamp) and equal the reference."""
    graph = with_batch(quantize_graph(float_network(), CAL, PTQSettings(weight_bits=8, activation_bits=bits)), 4)
    x = graph.tensors["x"]
    big = np.random.default_rng(9).uniform(-4, 8, (4, 10, 10, 4)).astype(np.float32)
    q = quantize(big, x.quant, x.dtype)  # TFLite rounding (half away from zero), clamped to the b-bit range
    qmin, qmax = LOWBIT[bits]
    assert int(q.min()) == qmin and int(q.max()) == qmax
    result = execute(graph, {"x": q})
    for name in ("conv", "pw"):
        assert int(result[name].max()) == qmax
    assert_bit_exact(graph, {"x": q})


def with_batch(graph, n):
    from accelsim.graph.ptq import with_batch_size
    return with_batch_size(graph, n)


# --------------------------------------------------------------------------------------- 3. the engine
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("weight_bits, activation_bits", [(4, 4), (2, 2), (8, 4), (4, 2), (8, 2)])
def test_ptq_network_is_bit_exact(mode, weight_bits, activation_bits):
    """conv, depthwise, 1x1, strided conv, add, max / avg pool, concat, GAP and FC after PTQ at WxAy."""
    settings = PTQSettings(weight_bits=weight_bits, activation_bits=activation_bits, requant_mode=mode,
                           weight_symmetric=weight_bits != 4)  # asymmetric int4 weights: non-zero weight Z too
    graph = quantize_graph(float_network(), CAL, settings)
    x = graph.tensors["x"]
    inputs = {"x": quantize(CAL["x"][:3], x.quant, x.dtype)}
    assert_bit_exact(graph, inputs)


def conv_graph(rng, x_dtype, w_dtype, mode, *, groups=1, stride=(1, 1), padding="SAME", out_channels=12,
               activation="NONE", x_shape=(2, 9, 11, 12)):
    """One Conv2D with random integer weights and per-channel weight zero points, a random input zero point anywhere
    in the narrow range, the output zero point where PTQ would put it (mid-range; the bottom for RELU / RELU6)."""
    b = GraphBuilder("conv")
    info_x, info_w = DTYPES[x_dtype], DTYPES[w_dtype]
    zero_x = int(rng.integers(info_x.qmin, info_x.qmax + 1))
    x = b.input("x", x_shape, x_dtype, QuantParams.per_tensor(0.05, zero_x))
    ci_g = x_shape[3] // groups
    w_mid = (info_w.qmin + info_w.qmax + 1) // 2
    w_zero = rng.integers(w_mid - 1, w_mid + 1, out_channels)  # non-zero on about half the channels
    w_data = random_ints(rng, (out_channels, 3, 3, ci_g), w_dtype)
    w = b.constant("w", w_data, w_dtype,
                   QuantParams.per_channel(rng.uniform(0.01, 0.03, out_channels), w_zero, axis=0))
    fan_in = 9 * ci_g
    acc_std = math.sqrt(fan_in) * (info_x.qmax - info_x.qmin) * (info_w.qmax - info_w.qmin) / 12  # uniform codes
    # the bias cancels the mean accumulation (as a calibrated network's does), plus noise of one std
    mean_x = (info_x.qmin + info_x.qmax) / 2 - zero_x
    w_sums = (w_data.astype(np.int64) - w_zero[:, None, None, None]).reshape(out_channels, -1).sum(axis=1)
    bias_data = np.rint(-mean_x * w_sums) + rng.integers(-acc_std, acc_std + 1, out_channels)
    bias = b.constant("b", bias_data.astype(np.int32), "int32", None)
    sy = 0.05 * 0.02 * 2 * acc_std / (info_x.qmax - info_x.qmin)  # +-2 std over the output range
    zero_out = info_x.qmin if activation != "NONE" else (info_x.qmin + info_x.qmax + 1) // 2  # as PTQ puts them
    y = b.conv2d(x, w, bias, QuantParams.per_tensor(sy, zero_out),
                 stride=stride, padding=padding, groups=groups, activation=activation, out_dtype=x_dtype,
                 requant=mode)
    return b.build([y])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("x_dtype, w_dtype", [("int4", "int4"), ("int2", "int2"), ("int4", "int2"),
                                              ("int2", "int8"), ("int4", "uint4")])
@pytest.mark.parametrize("case", [dict(), dict(stride=(2, 2), padding="VALID", activation="RELU"),
                                  dict(groups=12, out_channels=24, activation="RELU6"),  # depthwise, multiplier 2
                                  dict(groups=3)])
def test_random_integer_convs_are_bit_exact(mode, x_dtype, w_dtype, case):
    rng = np.random.default_rng(len(str(case)) + 13 * MODES.index(mode) + DTYPES[x_dtype].bits)
    graph = conv_graph(rng, x_dtype, w_dtype, mode, **case)
    assert_bit_exact(graph, {"x": random_ints(rng, (2, 9, 11, 12), x_dtype)})


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["int4", "int2"])
def test_random_integer_elementwise_pool_concat_fc_are_bit_exact(mode, dtype):
    rng = np.random.default_rng(MODES.index(mode) + 100 * DTYPES[dtype].bits)
    info = DTYPES[dtype]
    zero = lambda: int(rng.integers(info.qmin, info.qmax + 1))  # noqa: E731
    b = GraphBuilder("ops")
    mid = (info.qmin + info.qmax + 1) // 2
    x1 = b.input("a", (2, 7, 9, 6), dtype, QuantParams.per_tensor(0.11, mid))
    x2 = b.input("b", (2, 7, 9, 6), dtype, QuantParams.per_tensor(0.07, mid - 1))
    s = b.add(x1, x2, QuantParams.per_tensor(0.3 / (info.qmax - info.qmin), info.qmin), activation="RELU",
              name="add", requant=mode)
    b.max_pool(x1, 3, 2, "SAME", name="max")
    b.avg_pool(x2, 3, 2, "SAME", name="avg_raw")
    b.avg_pool(x1, 2, 2, "VALID", out_quant=QuantParams.per_tensor(0.05, zero()), name="avg_rescaled")
    b.global_average_pool(s, QuantParams.per_tensor(0.03, zero()), name="gap")
    b.concat([x1, x2, s], QuantParams.per_tensor(0.1, zero()), name="concat", requant=mode)
    flat = b.flatten(x2, name="flat")
    w = b.constant("w", random_ints(rng, (7, 7 * 9 * 6), dtype), dtype, QuantParams.per_tensor(0.02, 0))
    b.fully_connected(flat, w, b.constant("bias", rng.integers(-99, 99, 7).astype(np.int32), "int32", None),
                      QuantParams.per_tensor(0.5, zero()), name="fc", requant=mode)
    graph = b.build([n.outputs[0] for n in b.nodes if n.kind != "Flatten"])
    graph = graph.replace(nodes=[replace(n, requant=mode) for n in graph.nodes])
    inputs = {"a": random_ints(rng, (2, 7, 9, 6), dtype), "b": random_ints(rng, (2, 7, 9, 6), dtype)}
    assert_bit_exact(graph, inputs)


@pytest.mark.parametrize("x_dtype, w_dtype", [("int2", "int2"), ("int4", "int4")])
def test_accumulator_bound_and_overflow_at_narrow_operands(x_dtype, w_dtype):
    """The engine's static bound is ``max_o(|bias_o| + max|x - Z_x| * sum_k |w - Z_w|[o, k])`` (closed form here);
    with all inputs at the extreme code and same-sign weights the sums reach it, and accumulators narrower than it
    overflow exactly as the reference counts."""
    from accelsim.engine.mac import plan
    rng = np.random.default_rng(1)
    b = GraphBuilder("fc")
    info_x, info_w = DTYPES[x_dtype], DTYPES[w_dtype]
    zx = info_x.qmax  # inputs at qmin are |qmin - qmax| = 2^b - 1 away from the zero point
    x = b.input("x", (3, 200), x_dtype, QuantParams.per_tensor(0.1, zx))
    w_data = np.full((4, 200), info_w.qmin, DTYPES[w_dtype].storage)
    w_data[1] = rng.integers(info_w.qmin, info_w.qmax + 1, 200)
    w = b.constant("w", w_data, w_dtype, QuantParams.per_tensor(0.01, 0))
    bias = b.constant("bias", np.array([5, -7, 0, 3], np.int32), "int32", None)
    y = b.fully_connected(x, w, bias, QuantParams.per_tensor(500.0, 0), name="fc")
    graph = b.build([y])
    x_abs = max(zx - info_x.qmin, info_x.qmax - zx)
    bound = max(abs(int(bb)) + x_abs * int(np.abs(w_data[o].astype(np.int64)).sum())
                for o, bb in enumerate([5, -7, 0, 3]))
    assert bound == 5 + (2 ** DTYPES[x_dtype].bits - 1) * 200 * 2 ** (DTYPES[w_dtype].bits - 1)
    assert plan(graph, graph.nodes[0]).acc_bound == bound
    inputs = {"x": np.full((3, 200), info_x.qmin, DTYPES[x_dtype].storage)}
    needed = math.ceil(math.log2(bound + 1)) + 1  # signed bits holding +bound
    assert_bit_exact(graph, inputs, accumulator_bits=needed, min_distinct=1)
    result = execute(graph, inputs, accumulator_bits=needed - 1, on_overflow="report")
    assert list(result.overflows) == ref.run_graph(graph, inputs, needed - 1)[1] and result.overflows


# ------------------------------------------------------------------------------------ 4. the cost model
def _bitfusion_report(tmp_path, weight_bits, activation_bits, layers, input_shape=(1, 64, 64, 64)):
    from accelsim.simulate import simulate
    from accelsim.workloads import load_workload
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump({"name": "lowbit", "input_shape": list(input_shape), "layers": layers,
                                    "quant": {"per_channel": False}}))
    graph = load_workload(path, quant={"weight_bits": weight_bits, "activation_bits": activation_bits})
    return simulate(graph, CONFIGS / "bitfusion.yaml", timing_model="closed_form").layers.set_index("name")


def _ws_fold_cycles(m: int, n: int, k: int, throughput: int, rows: int = 16, cols: int = 32) -> int:
    """Weight stationary: ceil(ceil(K/t)/R) * ceil(N/C) folds of 2R + C + M - 2 cycles ([ref:ScaleSim] fold
    formula; the reduction packed t-fold by the fusion mode, [ref:Sharma18])."""
    return math.ceil(math.ceil(k / throughput) / rows) * math.ceil(n / cols) * (2 * rows + cols + m - 2)


def test_bitfusion_fusion_modes_give_4x_and_16x_compute(tmp_path):
    """A 3x3 conv, 256 -> 64 channels on 8x8 pixels: K = 2304 is a multiple of 16 rows x 16, so the W4A4 (4 MACs
    per Fusion Unit) and W2A2 (16) modes take exactly 1/4 and 1/16 of W8A8's compute cycles; every count equals
    the fold closed form."""
    layers = [{"name": "conv", "op": "conv", "out_channels": 64, "kernel": 3}]
    cycles = {}
    for bits, t in ((8, 1), (4, 4), (2, 16)):
        row = _bitfusion_report(tmp_path, bits, bits, layers, (1, 8, 8, 256)).loc["conv"]
        assert (row.weight_bits, row.activation_bits) == (bits, bits)
        cycles[bits] = row.compute_cycles
        assert cycles[bits] == _ws_fold_cycles(m=64, n=64, k=2304, throughput=t)
    assert cycles[8] / cycles[4] == 4 and cycles[8] / cycles[2] == 16


def test_bitfusion_mixed_modes_and_a_reduction_too_short_to_fill_the_array(tmp_path):
    """K = 64 (1x1 conv over 64 channels): W8A4 / W4A8 do 2 MACs per FU (K' = 32, 2 row folds), W4A4 and W2A2
    both fit one row fold (K' = 16, 4): the 2x2 mode cannot go faster than the array is tall."""
    layers = [{"name": "pw", "op": "conv", "out_channels": 64, "kernel": 1}]
    for (wb, ab), t in {(8, 8): 1, (8, 4): 2, (4, 8): 2, (4, 4): 4, (2, 2): 16, (4, 2): 8}.items():
        row = _bitfusion_report(tmp_path, wb, ab, layers, (1, 16, 16, 64)).loc["pw"]
        assert row.compute_cycles == _ws_fold_cycles(m=256, n=64, k=64, throughput=t), (wb, ab)


def test_activations_move_packed(tmp_path):
    """A 1x1 conv over a 64x64x64 input (256 KiB at 8 bits, larger than Bit Fusion's 32 KiB input buffer): the
    input is read from DRAM once, at bits / 8 bytes per value, and the output written once at its width."""
    layers = [{"name": "pw", "op": "conv", "out_channels": 64, "kernel": 1, "activation": "relu"}]
    for wb, ab in ((8, 8), (4, 4), (2, 2), (8, 4), (4, 2)):
        row = _bitfusion_report(tmp_path, wb, ab, layers).loc["pw"]
        assert row.ifmap_dram_bytes == 64 * 64 * 64 * ab / 8
        assert row.ofmap_dram_bytes == 64 * 64 * 64 * ab / 8
        assert row.weight_dram_bytes == 64 * 64 * wb / 8


def test_cli_run_on_a_4bit_workload(tmp_path, capsys):
    from accelsim.cli.main import main
    path = tmp_path / "w.yaml"
    path.write_text(WORKLOAD)
    out = tmp_path / "r.json"
    assert main(["run", str(CONFIGS / "bitfusion.yaml"), str(path), "--json", str(out), "-q"]) == 0
    rows = {r["name"]: r for r in json.loads(out.read_text())["layers"]}
    assert (rows["c1"]["weight_bits"], rows["c1"]["activation_bits"]) == (4, 4)
    assert (rows["head"]["weight_bits"], rows["head"]["activation_bits"], rows["head"]["output_bits"]) == (2, 4, 2)
    assert rows["c1"]["compute_cycles"] > 0 and rows["head"]["latency_cycles"] > 0
    assert main(["run", str(CONFIGS / "bitfusion.yaml"), "mobilenet_v2", "--quant", "per_channel=false",
                 "--quant", "activation_bits=3", "-q"]) != 0
    assert "2, 4, 8 or 16" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ 5. accuracy
def test_digits_accuracy_drops_with_narrow_activations():
    """Measured digits accuracy (held-out split, seed-0 models, min/max calibration on 200 images): 4-bit
    activations lose a little against 8-bit, 2-bit a lot, and stay above chance (10 classes)."""
    from accelsim.accuracy import integer_predictions, load_digits_data
    from accelsim.graph.importers.onnx import load_onnx
    from accelsim.workloads.digits import MODEL_NAMES, shipped_model_path
    data = load_digits_data(200)
    for model in MODEL_NAMES:
        graph = load_onnx(shipped_model_path(model, 0))
        acc = {}
        for bits in (8, 4, 2):
            q = quantize_graph(graph, {graph.inputs[0]: data.calibration_images},
                               PTQSettings(activation_bits=bits))
            acc[bits] = 100 * float(np.mean(integer_predictions(q, data.test_images) == data.test_labels))
        assert acc[8] - 6 <= acc[4] <= acc[8] + 0.5, (model, acc)
        assert 10 < acc[2] < acc[4] - 5, (model, acc)


# ------------------------------------------------------------------------------------------ 6. exporters
@pytest.mark.parametrize("bits", [4, 2])
def test_exporters_refuse_sub_byte_activations(bits):
    from accelsim.graph.exporters.onnx_qlinear import export_onnx_qlinear
    from accelsim.graph.exporters.tflite import export_tflite
    graph = quantize_graph(float_network(), CAL, PTQSettings(weight_bits=8, activation_bits=bits))
    with pytest.raises(UnsupportedError, match=f"int{bits} activations .*TFLite export supports int8"):
        export_tflite(graph)
    with pytest.raises(UnsupportedError, match=f"is int{bits}; the ONNX QLinear export supports int8"):
        export_onnx_qlinear(graph)
