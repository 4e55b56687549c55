"""Bit-exactness against LiteRT's reference kernels (BUILTIN_REF, 1 thread), the golden for the ``fixed_point``
requantization mode: each model is built as a .tflite (by tests/tflite_builder.py, independently of our exporter,
or by ``export_tflite`` for the multi-layer network), imported with ``load_tflite``, executed with
``accelsim.execute`` and compared integer by integer with the interpreter's output.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

from tflite_builder import TFLiteModel, run_reference, same_out

from accelsim.execute import execute
from accelsim.graph.builder import GraphBuilder
from accelsim.graph.ir import Graph
from accelsim.graph.importers.tflite import load_tflite
from accelsim.quant.params import QuantParams

#: The total number of integers compared over all cases must reach this (the acceptance criterion).
MIN_COMPARED_OUTPUTS = 1_000_000


@dataclass(frozen=True)
class Case:
    model: bytes
    feeds: list[np.ndarray]


def out_scale(fan_in: int, sx: float, sw: float, x_std: float, w_std: float, qmax: int = 127) -> float:
    """An output scale putting ±4 standard deviations of the real accumulation at the type's full range."""
    return float(4 * math.sqrt(fan_in) * x_std * w_std * sx * sw / qmax)


def relu6_scales(fan_in: int, sw: float, x_std: float, w_std: float) -> tuple[float, float]:
    """(S_x, S_y) for a RELU6 layer: real pre-activations with a standard deviation of 3, S_y = 6 / 230."""
    return float(3.0 / (math.sqrt(fan_in) * x_std * w_std * sw)), 6.0 / 230


def act(rng, shape, dtype: str) -> np.ndarray:
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, shape).astype(dtype)


# ------------------------------------------------------------------------------------------ case builders
def conv_case(seed: int, stride: int, padding: str, activation: str, *, x_dtype="int8", w_dtype="int8",
              n=2, h=31, c=16, m=24, k=3, dilation=1) -> Case:
    """CONV_2D with per-channel symmetric weights (16x8: int16 activations with Z = 0 and an int64 bias)."""
    rng = np.random.default_rng(seed)
    wide = x_dtype == "int16"
    x = act(rng, (n, h, h, c), x_dtype)
    lim = 7 if w_dtype == "int4" else 127
    w = rng.integers(-lim, lim + 1, (m, k, k, c)).astype(np.int8)
    sx, zx = (0.002, 0) if wide else (0.05, 4)
    sw = rng.uniform(0.5, 1.5, m).astype(np.float32) * np.float32(0.01 if lim == 127 else 0.15)
    x_std = 18900.0 if wide else 74.0
    so = out_scale(k * k * c, sx, float(sw.mean()), x_std, lim / 1.7, 32767 if wide else 127)
    if activation == "RELU6":
        sx, so = relu6_scales(k * k * c, float(sw.mean()), x_std, lim / 1.7)
    zo = 0 if wide else -9
    bias_dtype = "int64" if wide else "int32"
    bias = rng.integers(-20000, 20000, m).astype(bias_dtype)
    oh = same_out(h, k, stride, padding, dilation)
    t = TFLiteModel()
    ti = t.tensor("x", x.shape, x_dtype, sx, zx)
    tw = t.tensor("w", w.shape, w_dtype, sw, 0, 0, w)
    tb = t.tensor("b", (m,), bias_dtype, np.float32(sx) * sw, 0, 0, bias)
    to = t.tensor("y", (n, oh, oh, m), x_dtype, so, zo)
    version = 7 if w_dtype == "int4" else (4 if wide else 3)
    t.conv(ti, tw, tb, to, stride=stride, padding=padding, activation=activation, dilation=dilation, version=version)
    return Case(t.finish([ti], [to]), [x])


def depthwise_case(seed: int, multiplier: int, stride: int, padding: str, activation: str, *, x_dtype="int8",
                   w_dtype="int8", n=2, h=33, c=16, k=3, dilation=1) -> Case:
    """DEPTHWISE_CONV_2D, weights [1, KH, KW, C·mult] with per-channel scales on dimension 3."""
    rng = np.random.default_rng(seed)
    wide = x_dtype == "int16"
    x = act(rng, (n, h, h, c), x_dtype)
    m = c * multiplier
    lim = 7 if w_dtype == "int4" else 127
    w = rng.integers(-lim, lim + 1, (1, k, k, m)).astype(np.int8)
    sx, zx = (0.002, 0) if wide else (0.05, -3)
    sw = rng.uniform(0.5, 1.5, m).astype(np.float32) * np.float32(0.01 if lim == 127 else 0.15)
    x_std = 18900.0 if wide else 74.0
    so = out_scale(k * k, sx, float(sw.mean()), x_std, lim / 1.7, 32767 if wide else 127)
    if activation == "RELU6":
        sx, so = relu6_scales(k * k, float(sw.mean()), x_std, lim / 1.7)
    bias_dtype = "int64" if wide else "int32"
    bias = rng.integers(-3000, 3000, m).astype(bias_dtype)
    oh = same_out(h, k, stride, padding, dilation)
    t = TFLiteModel()
    ti = t.tensor("x", x.shape, x_dtype, sx, zx)
    tw = t.tensor("w", w.shape, w_dtype, sw, 0, 3, w)
    tb = t.tensor("b", (m,), bias_dtype, np.float32(sx) * sw, 0, 0, bias)
    to = t.tensor("y", (n, oh, oh, m), x_dtype, so, 0 if wide else 6)
    version = 6 if w_dtype == "int4" else (5 if wide else 3)
    t.depthwise(ti, tw, tb, to, multiplier=multiplier, stride=stride, padding=padding, activation=activation,
                dilation=dilation, version=version)
    return Case(t.finish([ti], [to]), [x])


def uint8_conv_case(seed: int) -> Case:
    """Legacy uint8 CONV_2D: asymmetric per-tensor weights (Z_w ≠ 0), uint8 activations."""
    rng = np.random.default_rng(seed)
    n, h, c, m, k = 2, 30, 12, 20, 3
    x = act(rng, (n, h, h, c), "uint8")
    w = rng.integers(0, 256, (m, k, k, c)).astype(np.uint8)
    sx, zx, sw, zw = 0.03, 117, 0.004, 131
    so = out_scale(k * k * c, sx, sw, 74.0, 74.0, 127)
    bias = rng.integers(-8000, 8000, m).astype(np.int32)
    t = TFLiteModel()
    ti = t.tensor("x", x.shape, "uint8", sx, zx)
    tw = t.tensor("w", w.shape, "uint8", sw, zw, 0, w)
    tb = t.tensor("b", (m,), "int32", np.float32(sx) * np.float32(sw), 0, 0, bias)
    to = t.tensor("y", (n, h, h, m), "uint8", so, 121)
    t.conv(ti, tw, tb, to, stride=1, padding="SAME", activation="RELU", version=1)
    return Case(t.finish([ti], [to]), [x])


def fc_case(seed: int, activation: str, x_dtype: str = "int8") -> Case:
    """FULLY_CONNECTED, per-tensor weights; int8 with an int32 bias or 16x8 with an int64 bias."""
    rng = np.random.default_rng(seed)
    wide = x_dtype == "int16"
    n, i, o = 96, 320, 160
    x = act(rng, (n, i), x_dtype)
    w = rng.integers(-127, 128, (o, i)).astype(np.int8)
    sx, sw = (0.0005 if wide else 0.04), 0.006
    bias_dtype = "int64" if wide else "int32"
    bias = rng.integers(-30000, 30000, o).astype(bias_dtype)
    t = TFLiteModel()
    ti = t.tensor("x", x.shape, x_dtype, sx, 0 if wide else 11)
    tw = t.tensor("w", w.shape, "int8", sw, 0, 0, w)
    tb = t.tensor("b", (o,), bias_dtype, np.float32(sx) * np.float32(sw), 0, 0, bias)
    so = out_scale(i, sx, sw, 18900.0 if wide else 74.0, 74.0, 32767 if wide else 127)
    to = t.tensor("y", (n, o), x_dtype, so, 0 if wide else -2)
    t.fully_connected(ti, tw, tb, to, activation=activation, version=7 if wide else 4)
    return Case(t.finish([ti], [to]), [x])


def add_case(seed: int, activation: str) -> Case:
    """ADD of two int8 tensors with different scales and zero points."""
    rng = np.random.default_rng(seed)
    shape = (4, 32, 32, 16)
    a, b = act(rng, shape, "int8"), act(rng, shape, "int8")
    t = TFLiteModel()
    ta = t.tensor("a", shape, "int8", 0.031, -5)
    tb = t.tensor("b", shape, "int8", 0.047, 12)
    ty = t.tensor("y", shape, "int8", 0.06, 3)
    t.add(ta, tb, ty, activation=activation)
    return Case(t.finish([ta, tb], [ty]), [a, b])


def pool_case(seed: int, name: str, kernel: int, stride: int, padding: str, activation: str = "NONE") -> Case:
    """AVERAGE_POOL_2D / MAX_POOL_2D int8 (same scale and zero point in and out)."""
    rng = np.random.default_rng(seed)
    n, h, c = 4, 35, 16
    x = act(rng, (n, h, h, c), "int8")
    oh = same_out(h, kernel, stride, padding)
    t = TFLiteModel()
    ti = t.tensor("x", x.shape, "int8", 0.02, -7)
    to = t.tensor("y", (n, oh, oh, c), "int8", 0.02, -7)
    t.pool(name, ti, to, kernel=kernel, stride=stride, padding=padding, activation=activation)
    return Case(t.finish([ti], [to]), [x])


def mean_case(seed: int, same_quant: bool) -> Case:
    """MEAN over H and W with keep_dims (GlobalAveragePool), output quantization equal to or different from
    the input's."""
    from tflite_builder import S

    rng = np.random.default_rng(seed)
    n, h, c = 16, 7, 64
    x = act(rng, (n, h, h, c), "int8")
    t = TFLiteModel()
    ti = t.tensor("x", x.shape, "int8", 0.02, -7)
    axes = t.tensor("axes", (2,), "int32", data=np.array([1, 2], np.int32))
    to = t.tensor("y", (n, 1, 1, c), "int8", *((0.02, -7) if same_quant else (0.005, 3)))
    opts = S.ReducerOptionsT()
    opts.keepDims = True
    t.op("MEAN", [ti, axes], [to], "ReducerOptions", opts, 2)
    return Case(t.finish([ti], [to]), [x])


def concat_case(seed: int) -> Case:
    """int8 concat of inputs quantized unlike the output, written by export_tflite as QUANTIZE (requantize)
    + CONCATENATION, imported back as one rescaling Concat."""
    from accelsim.graph.exporters.tflite import export_tflite

    rng = np.random.default_rng(seed)
    b = GraphBuilder("concat")
    pt = QuantParams.per_tensor
    shape = (4, 16, 16, 8)
    a = b.input("a", shape, "int8", pt(0.031, -5))
    c = b.input("c", shape, "int8", pt(0.047, 12))
    d = b.input("d", shape, "int8", pt(0.06, 3))
    y = b.concat([a, c, d], pt(0.06, 3), axis=3)
    graph = b.build([y])
    return Case(export_tflite(graph), [act(rng, shape, "int8") for _ in range(3)])


def network_case(seed: int) -> Case:
    """A small MobileNet-v2-like int8 network built with GraphBuilder and written by export_tflite: conv,
    depthwise, pointwise, residual ADD, max pool, explicit-padding conv (PAD + VALID), concat, average pool,
    flatten and a fully connected classifier."""
    from accelsim.graph.exporters.tflite import export_tflite

    rng = np.random.default_rng(seed)
    b = GraphBuilder("golden_net")
    pt = QuantParams.per_tensor

    def weights(name, shape, scale):
        lim = 127
        w = rng.integers(-lim, lim + 1, shape).astype(np.int8)
        s = rng.uniform(0.5, 1.5, shape[0]).astype(np.float32) * np.float32(scale)
        return b.constant(name, w, "int8", QuantParams.per_channel(s, 0, 0)), s

    def bias(name, sx, sw):
        data = rng.integers(-2000, 2000, sw.shape[0]).astype(np.int32)
        return b.constant(name, data, "int32", QuantParams.per_channel(np.float32(sx) * sw, 0, 0))

    x = b.input("image", (8, 40, 40, 3), "int8", pt(0.02, -1))
    w, s = weights("w0", (16, 3, 3, 3), 0.01)
    y = b.conv2d(x, w, bias("b0", 0.02, s), pt(0.05, -20), stride=2, padding="SAME", activation="RELU6")
    w, s = weights("w1", (16, 3, 3, 1), 0.02)
    y = b.depthwise_conv2d(y, w, bias("b1", 0.05, s), pt(0.06, -25), padding="SAME", activation="RELU6")
    w, s = weights("w2", (16, 1, 1, 16), 0.01)
    z = b.conv2d(y, w, bias("b2", 0.06, s), pt(0.07, 2))
    y = b.add(y, z, pt(0.08, -3), activation="RELU")
    y = b.max_pool(y, 2, 2)
    w, s = weights("w3", (24, 3, 3, 16), 0.005)
    left = b.conv2d(y, w, bias("b3", 0.08, s), pt(0.09, -10), padding=(2, 0, 0, 2), activation="RELU")
    w, s = weights("w4", (8, 1, 1, 16), 0.01)
    right = b.conv2d(y, w, bias("b4", 0.08, s), pt(0.09, -10), padding="VALID")
    y = b.concat([left, right], pt(0.09, -10), axis=3)
    y = b.avg_pool(y, 2, 2, "VALID")
    y = b.flatten(y)
    w = b.constant("w5", rng.integers(-127, 128, (10, 5 * 5 * 32)).astype(np.int8), "int8", pt(0.004))
    bias5 = b.constant("b5", rng.integers(-3000, 3000, 10).astype(np.int32), "int32",
                       pt(float(np.float32(0.09) * np.float32(0.004))))
    y = b.fully_connected(y, w, bias5, pt(0.15, 4))
    graph = b.build([y])
    x_data = act(rng, (8, 40, 40, 3), "int8")
    return Case(export_tflite(graph), [x_data])


CASES: dict[str, Callable[[], Case]] = {
    f"conv_s{s}_{p}_{a}": (lambda seed=seed, s=s, p=p, a=a: conv_case(seed, s, p, a))
    for seed, (s, p, a) in enumerate(
        (s, p, a) for s in (1, 2) for p in ("SAME", "VALID") for a in ("NONE", "RELU", "RELU6"))
}
CASES.update({
    "conv_dilation2": lambda: conv_case(7, 1, "SAME", "RELU", dilation=2),
    "conv_5x5_s2": lambda: conv_case(8, 2, "SAME", "NONE", k=5, h=40),
    "depthwise_m1_s1_SAME_RELU6": lambda: depthwise_case(11, 1, 1, "SAME", "RELU6"),
    "depthwise_m1_s2_VALID": lambda: depthwise_case(12, 1, 2, "VALID", "NONE"),
    "depthwise_m2_s1_SAME": lambda: depthwise_case(13, 2, 1, "SAME", "NONE"),
    "depthwise_m2_s2_SAME_RELU": lambda: depthwise_case(14, 2, 2, "SAME", "RELU"),
    "fc_NONE": lambda: fc_case(21, "NONE"),
    "fc_RELU": lambda: fc_case(22, "RELU"),
    "fc16x8": lambda: fc_case(23, "NONE", "int16"),
    "add_NONE": lambda: add_case(31, "NONE"),
    "add_RELU": lambda: add_case(32, "RELU"),
    "avgpool_3_s2_SAME": lambda: pool_case(41, "AVERAGE_POOL_2D", 3, 2, "SAME"),
    "avgpool_2_s2_VALID": lambda: pool_case(42, "AVERAGE_POOL_2D", 2, 2, "VALID"),
    "maxpool_3_s2_SAME": lambda: pool_case(43, "MAX_POOL_2D", 3, 2, "SAME"),
    "maxpool_2_s1_VALID_RELU": lambda: pool_case(44, "MAX_POOL_2D", 2, 1, "VALID", "RELU"),
    "conv16x8_SAME": lambda: conv_case(51, 1, "SAME", "NONE", x_dtype="int16"),
    "conv16x8_s2_RELU": lambda: conv_case(52, 2, "VALID", "RELU", x_dtype="int16"),
    "depthwise16x8_m1": lambda: depthwise_case(53, 1, 1, "SAME", "NONE", x_dtype="int16"),
    "depthwise16x8_m2_RELU6": lambda: depthwise_case(54, 2, 2, "SAME", "RELU6", x_dtype="int16"),
    "conv_int4": lambda: conv_case(61, 1, "SAME", "RELU6", w_dtype="int4"),
    "conv_int4_s2": lambda: conv_case(62, 2, "VALID", "NONE", w_dtype="int4"),
    "depthwise_int4": lambda: depthwise_case(63, 1, 1, "SAME", "NONE", w_dtype="int4"),
    "depthwise_int4_m2": lambda: depthwise_case(64, 2, 2, "SAME", "RELU", w_dtype="int4"),
    "conv_uint8_asymmetric_weights": lambda: uint8_conv_case(71),
    "concat_rescaled": lambda: concat_case(95),
    "mean_same_quant": lambda: mean_case(91, True),
    "mean_rescaled": lambda: mean_case(92, False),
    "network": lambda: network_case(81),
})


def compare(case: Case) -> int:
    """Run the case through LiteRT and accelsim; assert every output integer matches; return how many."""
    expected = run_reference(case.model, case.feeds)
    graph = load_tflite(case.model)
    result = execute(graph, dict(zip(graph.inputs, case.feeds)))
    compared = 0
    for name, ref in zip(graph.outputs, expected):
        got = result[name]
        assert got.dtype == ref.dtype and got.shape == ref.shape, (name, got.dtype, got.shape, ref.dtype, ref.shape)
        mismatches = int(np.count_nonzero(got != ref))
        assert mismatches == 0, (
            f"{name}: {mismatches} of {ref.size} outputs differ; max |diff| "
            f"{int(np.abs(got.astype(np.int64) - ref.astype(np.int64)).max())}")
        # a golden where (nearly) everything saturates would prove little: require a spread of values
        assert np.unique(ref).size > min(ref.size // 4, 12), f"{name}: degenerate reference output"
        compared += ref.size
    return compared


#: Zoo networks (accelsim.workloads.zoo, synthetic weights), compared whole: the feature map before the global
#: average pool and the logits after it.
ZOO_NETWORKS = ("mobilenet_v1", "mobilenet_v2", "squeezenet_1_1", "resnet_18", "nasnet_mobile")


def zoo_case(name: str) -> Case:
    """A whole zoo network at its standard input size, written by export_tflite; outputs: the input of the global
    average pool (a large tensor) and the network's output."""
    from accelsim.graph.exporters.tflite import export_tflite
    from accelsim.graph.synthetic import synthesize_weights
    from accelsim.workloads import zoo
    from accelsim.workloads.yaml_format import build_graph

    graph = synthesize_weights(build_graph(getattr(zoo, name)()), seed=0)
    pool_input = next(n for n in graph.nodes if n.kind == "GlobalAveragePool").inputs[0]
    whole = Graph(graph.name, graph.tensors, graph.nodes, graph.inputs, (pool_input, *graph.outputs))
    x = act(np.random.default_rng(len(name)), graph.tensors[graph.inputs[0]].shape, "int8")
    return Case(export_tflite(whole), [x])


CASES.update({f"zoo_{name}": (lambda name=name: zoo_case(name)) for name in ZOO_NETWORKS})


@pytest.mark.parametrize("name", list(CASES))
def test_bit_exact_against_litert_reference(name: str) -> None:
    assert compare(CASES[name]()) > 0


def test_total_compared_outputs_reaches_one_million() -> None:
    """Counts the integers the cases above compare (the output sizes LiteRT reports for each model)."""
    interpreter = pytest.importorskip("ai_edge_litert.interpreter")
    total = 0
    for make in CASES.values():
        it = interpreter.Interpreter(model_content=make().model, num_threads=1,
                                     experimental_op_resolver_type=interpreter.OpResolverType.BUILTIN_REF)
        total += sum(int(np.prod(d["shape"])) for d in it.get_output_details())
    assert total >= MIN_COMPARED_OUTPUTS, total
