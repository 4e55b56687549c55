"""Exporters: export_tflite -> load_tflite round trip, and export_onnx_qlinear run by onnxruntime against
``accelsim.execute`` in the ``float32`` requantization mode (onnxruntime's rule, [ref:ORT])."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from accelsim.errors import UnsupportedError
from accelsim.execute import execute
from accelsim.graph.builder import GraphBuilder
from accelsim.graph.exporters.onnx_qlinear import export_onnx_qlinear
from accelsim.graph.exporters.tflite import export_tflite, pack_int4
from accelsim.graph.importers.tflite import FLOAT_INPUTS_KEY, load_tflite, unpack_int4
from accelsim.graph.ir import Graph
from accelsim.quant.params import QuantParams

pt = QuantParams.per_tensor
needs_litert = pytest.mark.skipif(importlib.util.find_spec("ai_edge_litert") is None,
                                  reason="the TFLite schema classes ship in ai-edge-litert (test extra)")
needs_onnxruntime = pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None,
                                       reason="onnxruntime (test extra) is not installed")


def mixed_graph(seed: int, requant: str = "fixed_point", act_dtype: str = "int8", w_dtype: str = "int8",
                n: int = 2) -> Graph:
    """Conv (SAME, RELU6), depthwise x2 (explicit padding), pointwise, FC, with per-channel weights."""
    rng = np.random.default_rng(seed)
    unsigned = act_dtype == "uint8"
    b = GraphBuilder(f"mixed_{seed}")
    lim = 7 if w_dtype == "int4" else 127

    def weights(name, shape, scale):
        w = rng.integers(-lim, lim + 1, shape).astype(np.int8)
        s = (rng.uniform(0.5, 1.5, shape[0]) * scale).astype(np.float32)
        return b.constant(name, w, w_dtype, QuantParams.per_channel(s, 0, 0)), s

    def bias(name, sx, sw):
        return b.constant(name, rng.integers(-3000, 3000, sw.shape[0]).astype(np.int32), "int32",
                          QuantParams.per_channel(np.float32(sx) * sw, 0, 0))

    z = (lambda v: v + 128) if unsigned else (lambda v: v)
    wscale = 16.0 if w_dtype == "int4" else 1.0
    x = b.input("x", (n, 20, 20, 8), act_dtype, pt(0.03, z(5)))
    w, s = weights("w0", (16, 3, 3, 8), 0.004 * wscale)
    y = b.conv2d(x, w, bias("b0", 0.03, s), pt(0.04, z(-30)), padding="SAME", activation="RELU6", requant=requant)
    w, s = weights("w1", (32, 3, 3, 1), 0.01 * wscale)
    y = b.depthwise_conv2d(y, w, bias("b1", 0.04, s), pt(0.05, z(3)), padding=(1, 0, 1, 0), stride=2,
                           requant=requant)
    w, s = weights("w2", (24, 1, 1, 32), 0.006 * wscale)
    y = b.conv2d(y, w, None, pt(0.06, z(-4)), activation="RELU", requant=requant)
    w, s = weights("w3", (10, 10 * 10 * 24), 0.0008 * wscale)
    y = b.fully_connected(y, w, bias("b3", 0.06, s), pt(0.1, z(2)), requant=requant)
    return b.build([y])


def feed(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for name in graph.inputs:
        t = graph.tensors[name]
        info = np.iinfo(t.dtype)
        out[name] = rng.integers(info.min, info.max + 1, t.shape).astype(t.dtype)
    return out


# ------------------------------------------------------------------------------------------ TFLite round trip
def assert_same_graph(a: Graph, b: Graph) -> None:
    assert a.inputs == b.inputs and a.outputs == b.outputs
    assert [n.op for n in a.nodes] == [n.op for n in b.nodes]
    assert [n.inputs for n in a.nodes] == [n.inputs for n in b.nodes]
    for name, t in a.tensors.items():
        u = b.tensors[name]
        assert (t.shape, t.dtype) == (u.shape, u.dtype), name
        if t.quant is not None:
            assert t.quant.same_as(u.quant), name
        if t.data is not None:
            assert np.array_equal(t.data, u.data) and t.data.dtype == u.data.dtype, name


def test_pack_int4_low_nibble_first() -> None:
    # (-1, 2) -> 0x2F ; (7, -8) -> 0x87 ; odd count padded with 0 -> 0x03
    packed = pack_int4(np.array([-1, 2, 7, -8, 3]))
    assert packed.tolist() == [0x2F, 0x87, 0x03]
    assert unpack_int4(packed, 5).tolist() == [-1, 2, 7, -8, 3]


@needs_litert
@pytest.mark.parametrize("w_dtype", ["int8", "int4"])
def test_tflite_round_trip_preserves_graph(w_dtype: str) -> None:
    graph = mixed_graph(1, w_dtype=w_dtype)
    back = load_tflite(export_tflite(graph))
    # explicit depthwise padding (1, 0, 1, 0) is written as PAD + VALID conv and read back as the conv's padding
    kinds = [n.kind for n in back.nodes]
    assert kinds == ["Conv2D", "Conv2D", "Conv2D", "FullyConnected"]
    assert back.nodes[1].op.padding == (1, 0, 1, 0)
    for orig, new in zip(graph.nodes, back.nodes):
        assert orig.op == new.op and orig.inputs == new.inputs and orig.outputs == new.outputs
    for name, t in graph.tensors.items():
        u = back.tensors[name]
        assert (t.shape, t.dtype) == (u.shape, u.dtype) and t.quant.same_as(u.quant), name
        if t.data is not None:
            assert np.array_equal(t.data, u.data), name


@needs_litert
def test_tflite_round_trip_of_imported_graph_is_identity() -> None:
    once = load_tflite(export_tflite(mixed_graph(2)))
    assert_same_graph(once, load_tflite(export_tflite(once)))


@needs_litert
def test_tflite_round_trip_keeps_float_interface_and_16x8() -> None:
    rng = np.random.default_rng(3)
    b = GraphBuilder("wide")
    x = b.input("x", (1, 9, 9, 4), "int16", pt(0.001, 0))
    sw = rng.uniform(0.01, 0.02, 6).astype(np.float32)
    w = b.constant("w", rng.integers(-127, 128, (6, 3, 3, 4)).astype(np.int8), "int8",
                   QuantParams.per_channel(sw, 0, 0))
    bias = b.constant("bias", rng.integers(-9, 9, 6).astype(np.int64), "int64",
                      QuantParams.per_channel(np.float32(0.001) * sw, 0, 0))
    y = b.conv2d(x, w, bias, pt(0.002, 0), padding="SAME")
    y = b.global_average_pool(y)
    graph = b.build([y], metadata={FLOAT_INPUTS_KEY: {"x": "x_float"}})
    back = load_tflite(export_tflite(graph))
    assert back.metadata[FLOAT_INPUTS_KEY] == {"x": "x_float"}
    assert_same_graph(graph, back)
    assert back.tensors["bias"].data.dtype == np.int64


def test_export_tflite_rejects_float_graph() -> None:
    b = GraphBuilder("float")
    x = b.input("x", (1, 4, 4, 2), "float32", None)
    graph = b.build([b.max_pool(x, 2, 2)])
    with pytest.raises(UnsupportedError, match="float graph"):
        export_tflite(graph)


@needs_litert
def test_export_tflite_rejects_asymmetric_per_channel_weights() -> None:
    """TFLite's int8 spec allows per-channel weights only with zero point 0 (LiteRT refuses others at prepare):
    a clear error names the tensor instead of a file LiteRT cannot load."""
    b = GraphBuilder("asym_pc")
    x = b.input("x", (1, 6, 6, 4), "int8", pt(0.03, 0))
    w = b.constant("w", np.ones((8, 3, 3, 4), np.int8), "int8",
                   QuantParams.per_channel(np.full(8, 0.01, np.float32), np.arange(8) - 4, 0))
    graph = b.build([b.conv2d(x, w, None, pt(0.05, 0), padding="SAME")])
    with pytest.raises(UnsupportedError, match="'w'.*per-channel zero points other than 0"):
        export_tflite(graph)


# ------------------------------------------------------------------------------------------ ONNX QLinear
def run_onnxruntime(model, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


@needs_onnxruntime
@pytest.mark.parametrize("act_dtype,w_dtype", [("int8", "int8"), ("uint8", "int8"), ("int8", "int4")])
def test_onnx_qlinear_equals_execute_float32_mode(act_dtype: str, w_dtype: str) -> None:
    graph = mixed_graph(4, requant="float32", act_dtype=act_dtype, w_dtype=w_dtype, n=16)
    inputs = feed(graph)
    expected = execute(graph, inputs)
    compared = 0
    for name, got in zip(graph.outputs, run_onnxruntime(export_onnx_qlinear(graph), inputs)):
        ours = expected[name]
        assert got.dtype == ours.dtype and got.shape == ours.shape
        assert int(np.count_nonzero(got != ours)) == 0
        compared += got.size
    # the intermediate conv outputs are compared too, through a graph cut after each MAC node
    for k, node in enumerate(graph.nodes[:-1]):
        cut = Graph(f"{graph.name}_cut{k}", graph.tensors, graph.nodes[:k + 1], graph.inputs, node.outputs)
        (got,) = run_onnxruntime(export_onnx_qlinear(cut), inputs)
        ours = expected[node.outputs[0]]
        assert np.unique(ours).size > 16, node.name
        assert int(np.count_nonzero(got != ours)) == 0, node.name
        compared += got.size
    assert compared == 16 * (20 * 20 * 16 + 10 * 10 * 32 + 10 * 10 * 24 + 10)


@needs_onnxruntime
def test_onnx_qlinear_float_io_and_pools() -> None:
    """MaxPool, Reshape and the QuantizeLinear/DequantizeLinear edges are exact; QLinearAveragePool is
    float-based in onnxruntime, so it is checked to within 1."""
    rng = np.random.default_rng(5)
    b = GraphBuilder("pools")
    x = b.input("x", (2, 12, 12, 8), "int8", pt(0.05, -3))
    m = b.max_pool(x, 3, 2, "SAME")
    a = b.avg_pool(x, 2, 2, "VALID")
    y = b.flatten(b.concat([m, a], pt(0.05, -3), axis=3))
    graph = b.build([y])
    xf = rng.uniform(-6, 6, (2, 12, 12, 8)).astype(np.float32)
    xq = np.clip(np.rint(xf / np.float32(0.05)) - 3, -128, 127).astype(np.int8)  # onnxruntime QuantizeLinear rule
    (got,) = run_onnxruntime(export_onnx_qlinear(graph, float_io=True), {"x": xf})
    ours = execute(graph, {"x": xq})[y]
    ours_f = (ours.astype(np.float32) + 3) * np.float32(0.05)
    step = np.float32(0.05)
    assert got.shape == ours.shape
    maxpool_part = ours.reshape(2, 6, 6, 16)[..., :8].reshape(2, -1)
    got_max = got.reshape(2, 6, 6, 16)[..., :8].reshape(2, -1)
    assert np.array_equal(got_max, (maxpool_part.astype(np.float32) + 3) * step)
    assert np.abs(got - ours_f).max() <= step * 1.0001


@needs_litert
def test_tflite_explicit_max_pool_padding_and_biasless_depthwise() -> None:
    """MaxPool padding (1, 1, 1, 1) on 3x3/2 (torchvision's, not SAME) is written as PADV2 with -128 + VALID pool and
    read back as the same MaxPool; a depthwise conv without bias gets an all-zero bias (LiteRT requires one)."""
    rng = np.random.default_rng(6)
    b = GraphBuilder("torchvision_style")
    x = b.input("x", (1, 12, 12, 4), "int8", pt(0.05, 7))
    y = b.max_pool(x, 3, 2, (1, 1, 1, 1))
    sw = rng.uniform(0.01, 0.02, 4).astype(np.float32)
    w = b.constant("w", rng.integers(-127, 128, (4, 3, 3, 1)).astype(np.int8), "int8",
                   QuantParams.per_channel(sw, 0, 0))
    y = b.depthwise_conv2d(y, w, None, pt(0.1, -2), padding="SAME")
    graph = b.build([y])
    back = load_tflite(export_tflite(graph))
    assert [n.op for n in back.nodes] == [n.op for n in graph.nodes]
    bias = back.tensors[back.nodes[1].inputs[2]]
    assert bias.dtype == "int32" and not bias.data.any()
    assert np.array_equal(bias.quant.scale, np.float32(0.05) * sw)
