"""Every op and requantization mode of the engine against the independent int64 reference
(tests/int64_reference.py), plus the published check values of the fixed-point primitives
(gemmlowp / TFLite, [ref:gemmlowp], [ref:TFLiteRef]) and the executor's input validation."""
from __future__ import annotations

import importlib
import math
import re
from fractions import Fraction
from dataclasses import replace

import numpy as np
import pytest

import int64_reference as ref
from accelsim.errors import AccelsimError, GraphError, UnsupportedError
from accelsim.execute import execute, execute_float
from accelsim.graph.builder import GraphBuilder
from accelsim.graph.ir import Graph, Tensor
from accelsim.quant.params import DTYPES, QuantParams, dtype_info, quantize
from accelsim.quant.requant import mbqm, quantize_multiplier, rdbpot, srdhm

MODES = ("fixed_point", "fixed_point_single_round", "fixed_point_int64", "float32", "float32_recip")


def random_ints(rng, shape, dtype: str) -> np.ndarray:
    info = DTYPES[dtype]
    return rng.integers(info.qmin, info.qmax + 1, shape).astype(info.storage)


def act_quant(rng, dtype: str, zero: int | None = None) -> QuantParams:
    info = DTYPES[dtype]
    if zero is None:
        mid = (info.qmin + info.qmax + 1) // 2
        zero = int(rng.integers(mid - (info.qmax - info.qmin) // 16, mid + (info.qmax - info.qmin) // 16 + 1))
    return QuantParams.per_tensor(float(rng.uniform(0.01, 0.1)), zero)


def output_scale(sx: float, sw: np.ndarray, x_dtype: str, w_dtype: str, fan_in: int, out_dtype: str) -> float:
    """A scale putting ±3 standard deviations of the real accumulation at the output type's range."""
    x_std = (DTYPES[x_dtype].qmax - DTYPES[x_dtype].qmin) / math.sqrt(12)
    w_std = (DTYPES[w_dtype].qmax - DTYPES[w_dtype].qmin) / math.sqrt(12)
    half_range = (DTYPES[out_dtype].qmax - DTYPES[out_dtype].qmin) / 2
    return float(3 * math.sqrt(fan_in) * x_std * w_std * sx * float(np.mean(sw)) / half_range)


def conv_graph(rng, *, x_shape=(2, 11, 10, 8), out_channels=12, kernel=(3, 3), stride=(1, 1), dilation=(1, 1),
               padding="SAME", groups=1, x_dtype="int8", w_dtype="int8", out_dtype=None, activation="NONE",
               mode="fixed_point", per_channel=True, w_zero=0, bias=True, x_zero=None):
    """One Conv2D node with random weights, bias and quantization parameters."""
    out_dtype = out_dtype or x_dtype
    b = GraphBuilder("conv")
    xq = act_quant(rng, x_dtype, x_zero)
    x = b.input("x", x_shape, x_dtype, xq)
    ci_g = x_shape[3] // groups
    w_data = random_ints(rng, (out_channels, *kernel, ci_g), w_dtype)
    if per_channel:
        sw = rng.uniform(0.002, 0.02, out_channels)
        wq = QuantParams.per_channel(sw, w_zero, axis=0)
    else:
        sw = np.array([rng.uniform(0.002, 0.02)])
        wq = QuantParams.per_tensor(float(sw[0]), w_zero)
    w = b.constant("w", w_data, w_dtype, wq)
    fan_in = kernel[0] * kernel[1] * ci_g
    bias_name = None
    if bias:
        bias_dtype = "int64" if max(DTYPES[x_dtype].bits, DTYPES[w_dtype].bits) >= 16 else "int32"
        bias_data = rng.integers(-20000, 20000, out_channels).astype(DTYPES[bias_dtype].storage)
        bias_name = b.constant("b", bias_data, bias_dtype, None)
    sy = output_scale(float(xq.scale[0]), sw, x_dtype, w_dtype, fan_in, out_dtype)
    if activation == "RELU6":
        sy = min(sy, 6.0 / 100)  # keep ~100 codes below the clamp at real 6
    yq = act_quant(rng, out_dtype)
    yq = QuantParams.per_tensor(sy, int(yq.zero_point[0]))
    y = b.conv2d(x, w, bias_name, yq, stride=stride, dilation=dilation, padding=padding, groups=groups,
                 activation=activation, out_dtype=out_dtype, requant=mode)
    return b.build([y])


def compare(graph, rng, accumulator_bits=None, min_distinct=8) -> int:
    """Execute with random inputs; assert every tensor equals the reference; return the number of outputs compared."""
    inputs = {name: random_ints(rng, graph.tensors[name].shape, graph.tensors[name].dtype) for name in graph.inputs}
    result = execute(graph, inputs, accumulator_bits=accumulator_bits, on_overflow="report")
    expected, overflows = ref.run_graph(graph, inputs, accumulator_bits)
    assert list(result.overflows) == overflows
    compared = 0
    for node in graph.nodes:
        name = node.outputs[0]
        got, want = result[name], expected[name]
        t = graph.tensors[name]
        assert got.dtype == DTYPES[t.dtype].storage and got.shape == t.shape
        mismatches = int(np.count_nonzero(got.astype(np.int64) != want))
        assert mismatches == 0, f"{node.name}: {mismatches} of {want.size} differ"
        compared += want.size
    out = expected[graph.outputs[0]]
    assert np.unique(out).size >= min(min_distinct, out.size // 2), "degenerate output: the test would prove little"
    return compared


# ------------------------------------------------------------------------------------- primitives
def test_quantize_multiplier_check_values():
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(1.0) == (1 << 30, 1)
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(2.0**-40) == (0, 0)  # exponent below −31 flushes to zero


@pytest.mark.parametrize("a, b, expected", [
    (3, 1 << 30, 2), (-3, 1 << 30, -1), (5, 1 << 30, 3), (-5, 1 << 30, -2), (1 << 30, 1 << 30, 1 << 29),
    (-(1 << 31), -(1 << 31), (1 << 31) - 1),
])
def test_srdhm_check_values(a, b, expected):
    """Ties toward +infinity; the one overflow case saturates (gemmlowp SRDHM, [ref:gemmlowp])."""
    assert srdhm(a, b) == expected
    assert srdhm.py_func(a, b) == expected


@pytest.mark.parametrize("x, e, expected", [(5, 1, 3), (-5, 1, -3), (6, 2, 2), (-6, 2, -2), (7, 2, 2), (-7, 2, -2)])
def test_rdbpot_check_values(x, e, expected):
    """Round half away from zero (gemmlowp RoundingDivideByPOT, [ref:gemmlowp])."""
    assert rdbpot(x, e) == expected


def test_mbqm_matches_reference_on_random_accumulators():
    rng = np.random.default_rng(0)
    acc = rng.integers(-(1 << 24), 1 << 24, 2000)
    for real in rng.uniform(1e-5, 0.9, 20):
        m, shift = quantize_multiplier(float(real))
        got = np.array([mbqm(int(a), m, shift) for a in acc])
        np.testing.assert_array_equal(got, ref.mbqm(acc, m, shift))


# ------------------------------------------------------------------------------------- Conv2D / FC
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("activation", ["NONE", "RELU", "RELU6"])
def test_conv_every_mode_and_activation(mode, activation):
    rng = np.random.default_rng(MODES.index(mode) * 7 + len(activation))
    compare(conv_graph(rng, mode=mode, activation=activation), rng)


@pytest.mark.parametrize("case", [
    dict(stride=(2, 2), padding="SAME"),
    dict(stride=(2, 1), padding="VALID"),
    dict(dilation=(2, 3), padding="SAME"),
    dict(padding=(2, 0, 1, 3)),
    dict(kernel=(1, 1), x_shape=(2, 12, 12, 32), out_channels=16),  # 1x1 (GEMM) path
    dict(kernel=(5, 3), stride=(1, 2), padding="SAME"),
    dict(groups=2, out_channels=6),
    dict(groups=4, x_shape=(1, 9, 9, 8), out_channels=8),
])
def test_conv_geometry(case):
    rng = np.random.default_rng(len(str(case)))
    compare(conv_graph(rng, **case), rng)


@pytest.mark.parametrize("multiplier, stride, padding", [(1, 1, "SAME"), (2, 2, "SAME"), (3, 1, "VALID"),
                                                          (1, 2, (1, 0, 0, 1))])
def test_depthwise(multiplier, stride, padding):
    """Depthwise: groups = C, output channel o reads input channel o // multiplier (TFLite order)."""
    rng = np.random.default_rng(multiplier * 10 + stride)
    c = 16
    compare(conv_graph(rng, x_shape=(2, 13, 12, c), out_channels=c * multiplier, groups=c, stride=(stride, stride),
                       padding=padding, activation="RELU6"), rng)


def test_depthwise_channel_order_is_tflite():
    """With multiplier 2, output channels 0 and 1 read input channel 0 only (checked with a one-hot input)."""
    b = GraphBuilder("dw")
    x = b.input("x", (1, 1, 1, 3), "int8", QuantParams.per_tensor(1.0, 0))
    w = b.constant("w", np.array([1, 2, 3, 4, 5, 6], np.int8).reshape(6, 1, 1, 1), "int8", QuantParams.per_tensor(1.0))
    y = b.depthwise_conv2d(x, w, None, QuantParams.per_tensor(1.0, 0))
    graph = b.build([y])
    out = execute(graph, {"x": np.array([10, 0, 0], np.int8).reshape(1, 1, 1, 3)})[y]
    assert out.reshape(-1).tolist() == [10, 20, 0, 0, 0, 0]


@pytest.mark.parametrize("x_dtype, w_dtype, w_zero, per_channel", [
    ("uint8", "uint8", 131, False),   # legacy Jacob-style weights with a per-tensor zero point
    ("uint8", "int8", 0, True),
    ("int8", "int4", 0, True),
    ("uint8", "uint4", 8, False),
    ("int8", "int16", 0, True),       # 16-bit weights, 64-bit accumulator
    ("int16", "int16", 0, True),      # int16 x int16, int64 accumulation
    ("int16", "int8", 0, True),       # TFLite 16x8
])
def test_conv_operand_types(x_dtype, w_dtype, w_zero, per_channel):
    rng = np.random.default_rng(DTYPES[x_dtype].bits + DTYPES[w_dtype].bits + w_zero)
    compare(conv_graph(rng, x_dtype=x_dtype, w_dtype=w_dtype, w_zero=w_zero, per_channel=per_channel), rng)


@pytest.mark.parametrize("mode", MODES)
def test_int16_activations_with_nonzero_zero_point(mode):
    """16-bit activations with Z ≠ 0 (no peer runtime supports them)."""
    rng = np.random.default_rng(99 + MODES.index(mode))
    compare(conv_graph(rng, x_dtype="int16", x_zero=1234, w_dtype="int8", mode=mode, activation="RELU"), rng)


def test_per_channel_weight_zero_points():
    rng = np.random.default_rng(5)
    graph = conv_graph(rng, x_dtype="uint8", w_dtype="uint8", w_zero=rng.integers(100, 150, 12), mode="float32")
    compare(graph, rng)


@pytest.mark.parametrize("mode", MODES)
def test_fully_connected(mode):
    rng = np.random.default_rng(MODES.index(mode))
    b = GraphBuilder("fc")
    xq = act_quant(rng, "int8")
    x = b.input("x", (3, 2, 2, 20), "int8", xq)  # flattens to (3, 80)
    sw = rng.uniform(0.002, 0.02, 24)
    w = b.constant("w", random_ints(rng, (24, 80), "int8"), "int8", QuantParams.per_channel(sw, 0, 0))
    bias = b.constant("b", rng.integers(-9000, 9000, 24).astype(np.int32), "int32", None)
    sy = output_scale(float(xq.scale[0]), sw, "int8", "int8", 80, "int8")
    y = b.fully_connected(x, w, bias, QuantParams.per_tensor(sy, -3), activation="RELU", requant=mode)
    compare(b.build([y]), rng, min_distinct=6)


# ------------------------------------------------------------------------------------- other ops
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16"])
def test_add(mode, dtype):
    rng = np.random.default_rng(MODES.index(mode) + 5 * DTYPES[dtype].bits)
    b = GraphBuilder("add")
    zero = 0 if dtype == "int16" else None
    x1 = b.input("a", (2, 8, 9, 5), dtype, act_quant(rng, dtype, zero))
    x2 = b.input("b", (2, 8, 9, 5), dtype, act_quant(rng, dtype, zero))
    y = b.add(x1, x2, QuantParams.per_tensor(0.12, int(act_quant(rng, dtype, zero).zero_point[0])),
              activation="RELU", requant=mode)
    compare(b.build([y]), rng)


@pytest.mark.parametrize("mode", ["fixed_point", "float32"])
def test_add_split_over_threads(mode, monkeypatch):
    """An Add above the engine's split threshold, run over element ranges on two threads."""
    monkeypatch.setenv("ACCELSIM_THREADS", "2")
    rng = np.random.default_rng(41 + MODES.index(mode))
    shape = (1, 64, 64, 40)
    assert math.prod(shape) >= importlib.import_module("accelsim.engine.elementwise").PARALLEL_MIN_ELEMENTS
    b = GraphBuilder("add_split")
    x1 = b.input("a", shape, "int8", act_quant(rng, "int8"))
    x2 = b.input("b", shape, "int8", act_quant(rng, "int8"))
    y = b.add(x1, x2, QuantParams.per_tensor(0.12, 3), activation="RELU6", requant=mode)
    compare(b.build([y]), rng)


@pytest.mark.parametrize("fully_connected", [False, True])
def test_dense_integer_fallback_without_exact_float_gemm(fully_connected, monkeypatch):
    """With no float type exact for the bound (gemm_float_type None, a bound above 2^53), dense conv and FC run
    on the integer grouped kernel, still bit-exact."""
    engine = importlib.import_module("accelsim.engine.runner")
    monkeypatch.setattr(importlib.import_module("accelsim.engine.mac"), "gemm_float_type", lambda dot_bound: None)
    rng = np.random.default_rng(17 + fully_connected)
    if fully_connected:
        b = GraphBuilder("fc_fallback")
        xq = act_quant(rng, "int8")
        x = b.input("x", (3, 40), "int8", xq)
        sw = rng.uniform(0.002, 0.02, 12)
        w = b.constant("w", random_ints(rng, (12, 40), "int8"), "int8", QuantParams.per_channel(sw, 0, 0))
        bias = b.constant("bias", rng.integers(-2000, 2000, 12).astype(np.int32), "int32", None)
        sy = output_scale(float(xq.scale[0]), sw, "int8", "int8", 40, "int8")
        graph = b.build([b.fully_connected(x, w, bias, QuantParams.per_tensor(sy, 2))])
    else:
        graph = conv_graph(rng)
    assert [engine._plans(graph)[n.name].kernel for n in graph.nodes if n.kind in ("Conv2D", "FullyConnected")] \
        == ["grouped"]
    compare(graph, rng)


@pytest.mark.parametrize("mode", MODES)
def test_pools_and_rescaled_average(mode):
    rng = np.random.default_rng(3 + MODES.index(mode))
    b = GraphBuilder("pools")
    xq = act_quant(rng, "int8")
    x = b.input("x", (2, 11, 13, 6), "int8", xq)
    b.avg_pool(x, (3, 3), (2, 2), "SAME", name="avg_same_quant")
    b.avg_pool(x, (2, 3), (1, 2), "VALID", name="avg_valid")
    b.avg_pool(x, (3, 2), (2, 2), "SAME", out_quant=QuantParams.per_tensor(0.013, 7), name="avg_rescaled")
    b.max_pool(x, (3, 3), (2, 2), "SAME", name="max_same")
    b.global_average_pool(x, name="gap_same_quant")
    b.global_average_pool(x, QuantParams.per_tensor(0.004, -9), name="gap_rescaled")
    graph = b.build([n.outputs[0] for n in b.nodes])
    graph = graph.replace(nodes=[replace(n, requant=mode) for n in graph.nodes])
    compare(graph, rng)


def test_avg_pool_rounds_ties_away_from_zero_on_raw_values():
    """§2.10: the raw stored values are averaged: mean(−3, −2) = −2.5 -> −3, mean(2, 3) = 2.5 -> 3."""
    b = GraphBuilder("avg")
    x = b.input("x", (1, 1, 2, 2), "int8", QuantParams.per_tensor(0.1, 5))
    y = b.avg_pool(x, (1, 2), (1, 1))
    out = execute(b.build([y]), {"x": np.array([[[[-3, 2], [-2, 3]]]], np.int8)})[y]
    assert out.reshape(-1).tolist() == [-3, 3]


@pytest.mark.parametrize("mode", MODES)
def test_concat_rescaling_and_layout_ops(mode):
    rng = np.random.default_rng(11 + MODES.index(mode))
    b = GraphBuilder("layout")
    q_out = QuantParams.per_tensor(0.05, 4)
    x1 = b.input("x1", (2, 5, 6, 3), "int8", q_out)
    x2 = b.input("x2", (2, 5, 6, 4), "int8", QuantParams.per_tensor(0.031, -11))
    x3 = b.input("x3", (2, 5, 6, 2), "int8", QuantParams.per_tensor(0.09, 20))
    c = b.concat([x1, x2, x3], q_out, axis=-1, requant=mode)
    c_rows = b.concat([x2, x2], QuantParams.per_tensor(0.04, 0), axis=1, requant=mode)
    p = b.pad(c, ((0, 0), (1, 2), (0, 1), (0, 0)))
    f = b.flatten(p)
    r = b.reshape(c_rows, (2, -1, 4))
    graph = b.build([f, r])
    compare(graph, rng)
    result = execute(graph, {n: random_ints(rng, graph.tensors[n].shape, "int8") for n in graph.inputs})
    assert (result[p][:, 0] == 4).all()  # padded with the zero point


def test_small_network_every_tensor():
    """A conv -> depthwise -> pointwise -> add -> pool -> FC chain, compared tensor by tensor."""
    rng = np.random.default_rng(2024)
    b = GraphBuilder("net")
    q = lambda s, z: QuantParams.per_tensor(s, z)  # noqa: E731
    x = b.input("x", (1, 16, 16, 3), "uint8", q(0.02, 128))
    w1 = b.constant("w1", random_ints(rng, (8, 3, 3, 3), "int8"), "int8",
                    QuantParams.per_channel(rng.uniform(0.005, 0.02, 8), 0, 0))
    h = b.conv2d(x, w1, None, q(0.12, 0), stride=2, padding="SAME", activation="RELU6")
    w2 = b.constant("w2", random_ints(rng, (8, 3, 3, 1), "int8"), "int8",
                    QuantParams.per_channel(rng.uniform(0.005, 0.02, 8), 0, 0))
    d = b.depthwise_conv2d(h, w2, None, q(0.1, 3), padding="SAME", activation="RELU6")
    w3 = b.constant("w3", random_ints(rng, (8, 1, 1, 8), "int8"), "int8",
                    QuantParams.per_channel(rng.uniform(0.005, 0.02, 8), 0, 0))
    pw = b.conv2d(d, w3, None, q(0.15, -2))
    s = b.add(pw, h, q(0.2, 1))
    g = b.global_average_pool(s, q(0.1, 0))
    w4 = b.constant("w4", random_ints(rng, (10, 8), "int8"), "int8", q(0.01, 0))
    y = b.fully_connected(b.flatten(g), w4, None, q(0.05, 0))
    compare(b.build([y]), rng, min_distinct=4)


# ------------------------------------------------------------------------------------- executor API
def tiny_graph(weights=True):
    b = GraphBuilder("tiny")
    x = b.input("x", (1, 4, 4, 2), "int8", QuantParams.per_tensor(0.1, 0))
    data = np.ones((3, 1, 1, 2), np.int8) if weights else None
    w = b.constant("w", data, "int4", QuantParams.per_tensor(0.1), shape=(3, 1, 1, 2))
    y = b.conv2d(x, w, None, QuantParams.per_tensor(0.2, 0))
    return b.build([y]), y


@pytest.mark.parametrize("inputs, message", [
    ({}, "'x' is missing"),
    ({"x": np.zeros((1, 4, 4, 2), np.int16)}, "numpy int8 array"),
    ({"x": np.zeros((1, 4, 4, 3), np.int8)}, "shape (1, 4, 4, 3)"),
    ({"x": np.zeros((1, 4, 4, 2), np.int8), "z": np.zeros(1)}, "no input(s) ['z']"),
])
def test_input_validation_names_the_tensor(inputs, message):
    graph, _ = tiny_graph()
    with pytest.raises(AccelsimError) as info:
        execute(graph, inputs)
    assert message in str(info.value)


def two_input_graph():
    b = GraphBuilder("two")
    x = b.input("x", (1, 4, 4, 2), "int8", QuantParams.per_tensor(0.1, 0))
    r = b.input("r", (1, 4, 4, 5), "int8", QuantParams.per_tensor(0.1, 3))
    return b.build([b.concat([x, r], QuantParams.per_tensor(0.2, 0))])


@pytest.mark.parametrize("make_graph", [lambda: tiny_graph()[0], two_input_graph])
@pytest.mark.parametrize("inputs", [np.zeros((1, 4, 4, 2), np.int8), [np.zeros((1, 4, 4, 2), np.int8)], None])
def test_inputs_that_are_not_a_mapping_list_the_graph_inputs(make_graph, inputs):
    """An array (or a list, or None) instead of {name: array}: an AccelsimError that lists every input's name,
    shape and numpy dtype (the same holds for execute_float, with float32 arrays)."""
    graph = make_graph()
    with pytest.raises(AccelsimError) as info:
        execute(graph, inputs)
    message = str(info.value)
    assert "mapping from input name to array" in message and type(inputs).__name__ in message
    for name in graph.inputs:
        t = graph.tensors[name]
        assert f"{name!r}: {t.shape} numpy {np.dtype(dtype_info(t.dtype).storage)} array" in message
    with pytest.raises(AccelsimError, match=r"'x': \(1, 4, 4, 2\) numpy float32 array"):
        execute_float(graph, inputs)


@pytest.mark.parametrize("options, message", [
    ({"accumulator_bits": 32.5}, "accumulator_bits must be an integer from 8 to 64"),
    ({"accumulator_bits": "32"}, "found '32'"),
    ({"accumulator_bits": True}, "found True"),
    ({"accumulator_bits": 7}, "found 7"),
    ({"accumulator_bits": 65}, "found 65"),
    ({"on_overflow": "warn"}, "on_overflow must be 'raise' or 'report', found 'warn'"),
    ({"on_overflow": None}, "found None"),
    ({"threads": 0}, "threads must be an integer of at least 1"),
    ({"threads": 1.5}, "found 1.5"),
    ({"threads": "2"}, "found '2'"),
])
def test_invalid_options_are_rejected_before_running(options, message):
    graph, _ = tiny_graph()
    x = {"x": np.zeros((1, 4, 4, 2), np.int8)}
    with pytest.raises(AccelsimError, match=re.escape(message)):
        execute(graph, x, **options)
    with pytest.raises(AccelsimError, match=re.escape(message)):
        execute_float(graph, {"x": np.zeros((1, 4, 4, 2), np.float32)}, **options)


def test_integer_options_accept_numpy_integers_and_bad_thread_variables_are_named(monkeypatch):
    """accumulator_bits / threads accept numpy integers; an 8-bit accumulator overflows on a closed form (each
    of the 4·4·3 outputs sums 2 taps of 127·1 = 254 > 2^7 − 1)."""
    graph, _ = tiny_graph()
    x = {"x": np.full((1, 4, 4, 2), 127, np.int8)}
    result = execute(graph, x, accumulator_bits=np.int64(8), on_overflow="report", threads=np.int32(1))
    assert result.overflows == ((graph.nodes[0].name, 4 * 4 * 3),)
    monkeypatch.setenv("ACCELSIM_THREADS", "two")
    with pytest.raises(AccelsimError, match="ACCELSIM_THREADS.*found 'two'"):
        execute(graph, x)
    monkeypatch.setenv("ACCELSIM_THREADS", "0")
    with pytest.raises(AccelsimError, match="ACCELSIM_THREADS.*found '0'"):
        execute(graph, x)


def test_a_graph_argument_that_is_not_a_graph_is_an_accelsim_error():
    with pytest.raises(AccelsimError, match="graph must be an accelsim.graph.Graph, found str"):
        execute("mobilenet_v2", {})


def test_values_outside_a_sub_byte_type_are_rejected():
    """int4 is held in np.int8: a 9 fits the container but not the type."""
    x = Tensor("x", (1, 2), "int4", QuantParams.per_tensor(0.1, 0))
    graph = Graph("identity", {"x": x}, (), ("x",), ("x",))
    with pytest.raises(AccelsimError, match="'x'.*outside the int4 range"):
        execute(graph, {"x": np.array([[1, 9]], np.int8)})
    assert execute(graph, {"x": np.array([[-8, 7]], np.int8)})["x"].tolist() == [[-8, 7]]


def test_shape_only_weights_point_to_synthetic():
    graph, _ = tiny_graph(weights=False)
    with pytest.raises(GraphError, match="'w'.*accelsim.graph.synthetic"):
        execute(graph, {"x": np.zeros((1, 4, 4, 2), np.int8)})


def test_float_graph_is_rejected():
    b = GraphBuilder("f")
    x = b.input("x", (1, 2, 2, 1), "float32", None)
    graph = b.build([b.max_pool(x, 1)])
    with pytest.raises(UnsupportedError, match="ptq"):
        execute(graph, {"x": np.zeros((1, 2, 2, 1), np.float32)})


def test_execute_float_quantizes_half_away_from_zero_and_dequantizes():
    b = GraphBuilder("f")
    x = b.input("x", (1, 1, 4, 1), "int8", QuantParams.per_tensor(0.5, 1))
    y = b.max_pool(x, 1)
    out = execute_float(b.build([y]), {"x": np.array([0.25, -0.25, 0.75, 100.0], np.float32).reshape(1, 1, 4, 1)})
    # 0.25/0.5 = 0.5 -> 1 (+Z = 2); −0.5 -> −1 (0); 1.5 -> 2 (3); 200 saturates at 127
    np.testing.assert_array_equal(out[y].reshape(-1), np.float32([0.5, -0.5, 1.0, 63.0]))


def test_quantize_rounds_half_away_from_zero_exactly_below_one_half():
    """C std::round on the exact float32 value (a Fraction): 0.49999997 is below 1/2 and rounds to 0."""
    values = np.float32([0.49999997, -0.49999997, 0.5, -0.5, 1.5, -2.5, 2.4999998, 8388607.5, -1.0e-30])
    exact = [Fraction(float(v)) for v in values]
    expected = [int(math.copysign(math.floor(abs(f) + Fraction(1, 2)), f)) for f in exact]
    assert expected[:2] == [0, 0]
    q = quantize(values, QuantParams.per_tensor(1.0), "int32")
    np.testing.assert_array_equal(q, np.array(expected, np.int32))


@pytest.mark.parametrize("inputs, message", [
    ({}, "missing"),
    ({"x": np.zeros((1, 1, 4, 1), np.float32), "typo": np.zeros(1, np.float32)}, "no input"),
    ({"x": np.zeros((1, 1, 3, 1), np.float32)}, "shape"),
])
def test_execute_float_validates_like_execute(inputs, message):
    b = GraphBuilder("f")
    x = b.input("x", (1, 1, 4, 1), "int8", QuantParams.per_tensor(0.5, 1))
    graph = b.build([b.max_pool(x, 1)])
    with pytest.raises(AccelsimError, match=message):
        execute_float(graph, inputs)


def test_result_is_a_mapping_of_every_tensor_and_repeatable():
    graph, y = tiny_graph()
    x = np.arange(32, dtype=np.int8).reshape(1, 4, 4, 2)
    first, second = execute(graph, {"x": x}), execute(graph, {"x": x})
    assert set(first) == set(graph.tensors) and first.overflows == ()
    np.testing.assert_array_equal(first[y], second[y])
