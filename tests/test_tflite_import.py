"""load_tflite: what the importer makes of hand-built .tflite models (tests/tflite_builder.py, written with the
schema's object API independently of our exporter), and its errors."""
from __future__ import annotations

import numpy as np
import pytest

from tflite_builder import S, TFLiteModel, int4_bytes, run_reference

from accelsim.errors import ImportError_, UnsupportedError
from accelsim.execute import execute
from accelsim.graph import ops as O
from accelsim.graph.importers.tflite import FLOAT_INPUTS_KEY, FLOAT_OUTPUTS_KEY, load_tflite, unpack_int4


def depthwise_model(w: np.ndarray, scales: np.ndarray, w_dtype: str = "int8") -> bytes:
    """x (1, 6, 6, 3) -> DEPTHWISE_CONV_2D (multiplier 2, stride 2, VALID, dilation 1, RELU) -> y."""
    t = TFLiteModel()
    x = t.tensor("x", (1, 6, 6, 3), "int8", 0.1, 2)
    tw = t.tensor("w", w.shape, w_dtype, scales, 0, 3, w)
    tb = t.tensor("b", (6,), "int32", np.float32(0.1) * scales, 0, 0, np.arange(6, dtype=np.int32))
    y = t.tensor("y", (1, 2, 2, 6), "int8", 0.3, -1)
    t.depthwise(x, tw, tb, y, multiplier=2, stride=2, padding="VALID", activation="RELU",
                version=6 if w_dtype == "int4" else 3)
    return t.finish([x], [y])


def test_depthwise_weights_become_ohwi_with_axis_0() -> None:
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (1, 3, 3, 6)).astype(np.int8)
    scales = np.linspace(0.01, 0.06, 6).astype(np.float32)
    graph = load_tflite(depthwise_model(w, scales))
    (node,) = graph.nodes
    assert node.op == O.Conv2D(stride=(2, 2), dilation=(1, 1), padding="VALID", groups=3, activation="RELU")
    weights = graph.tensors[node.inputs[1]]
    assert weights.shape == (6, 3, 3, 1)
    for o in range(6):  # OHWI[o, kh, kw, 0] == TFLite [0, kh, kw, o]
        assert np.array_equal(weights.data[o, :, :, 0], w[0, :, :, o])
    assert weights.quant.axis == 0 and np.array_equal(weights.quant.scale, scales)
    bias = graph.tensors[node.inputs[2]]
    assert bias.dtype == "int32" and bias.data.tolist() == list(range(6))
    x = graph.tensors["x"]
    assert x.quant.scale[0] == np.float32(0.1) and x.quant.zero_point[0] == 2


def test_int4_weights_unpacked_low_nibble_first() -> None:
    assert unpack_int4(np.array([0x2F, 0x87, 0x03], np.uint8), 5).tolist() == [-1, 2, 7, -8, 3]
    rng = np.random.default_rng(1)
    w = rng.integers(-8, 8, (1, 3, 3, 6)).astype(np.int8)
    assert int4_bytes(w)[:1] == bytes([(int(w.flat[0]) & 0xF) | ((int(w.flat[1]) & 0xF) << 4)])
    graph = load_tflite(depthwise_model(w, np.full(6, 0.1, np.float32), "int4"))
    weights = graph.tensors[graph.nodes[0].inputs[1]]
    assert weights.dtype == "int4"
    assert np.array_equal(weights.data, w[0].transpose(2, 0, 1)[..., None])


def float_edge_model() -> bytes:
    """float x -> QUANTIZE -> AVG_POOL -> PAD -> RESHAPE -> CONCATENATION -> MEAN(no keep_dims) ... -> DEQUANTIZE."""
    t = TFLiteModel()
    xf = t.tensor("x_float", (1, 4, 4, 2), "float32")
    xq = t.tensor("x_q", (1, 4, 4, 2), "int8", 0.05, -3)
    t.op("QUANTIZE", [xf], [xq], version=2)
    pooled = t.tensor("pooled", (1, 2, 2, 2), "int8", 0.05, -3)
    t.pool("AVERAGE_POOL_2D", xq, pooled, kernel=2, stride=2)
    pads = t.tensor("pads", (4, 2), "int32", data=np.array([[0, 0], [1, 1], [0, 1], [0, 0]], np.int32))
    padded = t.tensor("padded", (1, 4, 3, 2), "int8", 0.05, -3)
    t.op("PAD", [pooled, pads], [padded], "PadOptions", S.PadOptionsT(), 2)
    axes = t.tensor("axes", (2,), "int32", data=np.array([1, 2], np.int32))
    mean = t.tensor("mean", (1, 2), "int8", 0.05, -3)
    t.op("MEAN", [padded, axes], [mean], "ReducerOptions", S.ReducerOptionsT(), 2)
    shape = t.tensor("shape", (2,), "int32", data=np.array([1, 2], np.int32))
    flat = t.tensor("flat", (1, 2), "int8", 0.05, -3)
    opts = S.ReshapeOptionsT()
    opts.newShape = [1, 2]
    t.op("RESHAPE", [mean, shape], [flat], "ReshapeOptions", opts)
    cat = t.tensor("cat", (1, 4), "int8", 0.05, -3)
    copts = S.ConcatenationOptionsT()
    copts.axis = 1
    t.op("CONCATENATION", [mean, flat], [cat], "ConcatenationOptions", copts, 2)
    yf = t.tensor("y_float", (1, 4), "float32")
    t.op("DEQUANTIZE", [cat], [yf], version=2)
    return t.finish([xf], [yf])


def test_quantize_dequantize_edges_pad_mean_reshape_concat() -> None:
    graph = load_tflite(float_edge_model())
    assert graph.inputs == ("x_q",) and graph.outputs == ("cat",)
    assert graph.metadata[FLOAT_INPUTS_KEY] == {"x_q": "x_float"}
    assert graph.metadata[FLOAT_OUTPUTS_KEY] == {"cat": "y_float"}
    kinds = [n.kind for n in graph.nodes]
    assert kinds == ["AvgPool", "Pad", "GlobalAveragePool", "Reshape", "Reshape", "Concat"]
    assert graph.nodes[1].op.pads == ((0, 0), (1, 1), (0, 1), (0, 0))
    assert graph.nodes[5].op.axis == 1
    assert "x_float" not in graph.tensors


def test_avg_pool_and_pad_edges_execute_like_litert() -> None:
    """The float model runs in LiteRT; our integer graph fed with LiteRT's own quantization gives the same
    pooled and padded integers (compared through the dequantized output of the first, exact ops)."""
    t = TFLiteModel()
    xq = t.tensor("x", (2, 8, 8, 4), "int8", 0.05, -3)
    pooled = t.tensor("pooled", (2, 4, 4, 4), "int8", 0.05, -3)
    t.pool("AVERAGE_POOL_2D", xq, pooled, kernel=2, stride=2)
    pads = t.tensor("pads", (4, 2), "int32", data=np.array([[0, 0], [2, 1], [0, 3], [0, 0]], np.int32))
    padded = t.tensor("padded", (2, 7, 7, 4), "int8", 0.05, -3)
    t.op("PAD", [pooled, pads], [padded], "PadOptions", S.PadOptionsT(), 2)
    model = t.finish([xq], [padded])
    x = np.random.default_rng(2).integers(-128, 128, (2, 8, 8, 4)).astype(np.int8)
    (expected,) = run_reference(model, [x])
    graph = load_tflite(model)
    assert np.array_equal(execute(graph, {"x": x})["padded"], expected)


def test_unknown_op_names_op_and_index() -> None:
    t = TFLiteModel()
    x = t.tensor("x", (1, 4), "int8", 0.1, 0)
    y = t.tensor("y", (1, 4), "int8", 0.1, 0)
    z = t.tensor("z", (1, 4), "int8", 1 / 256, -128)
    t.op("RELU", [x], [y], version=2)
    t.op("LOGISTIC", [y], [z], version=2)
    model = t.finish([x], [z])
    with pytest.raises(UnsupportedError, match=r"operator 0 is RELU.*supported: CONV_2D"):
        load_tflite(model)


def test_unsupported_fused_activation_names_node() -> None:
    t = TFLiteModel()
    a = t.tensor("a", (1, 4), "int8", 0.1, 0)
    b = t.tensor("b", (1, 4), "int8", 0.1, 0)
    y = t.tensor("y", (1, 4), "int8", 0.1, 0)
    t.add(a, b, y, activation="TANH")
    with pytest.raises(UnsupportedError, match=r"operator 0 \(ADD\): fused activation TANH.*NONE, RELU, RELU6"):
        load_tflite(t.finish([a, b], [y]))


def test_truncated_and_foreign_files_raise_import_error(tmp_path) -> None:
    w = np.ones((1, 3, 3, 6), np.int8)
    model = depthwise_model(w, np.full(6, 0.1, np.float32))
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(model[: len(model) // 3])
    with pytest.raises(ImportError_, match="truncated.tflite"):
        load_tflite(truncated)
    foreign = tmp_path / "model.onnx"
    foreign.write_bytes(b"\x08\x07\x12\x04onnx" + bytes(100))
    with pytest.raises(ImportError_, match=r"model.onnx is not a readable TFLite model.*'TFL3'"):
        load_tflite(foreign)
    with pytest.raises(ImportError_, match="missing.tflite"):
        load_tflite(tmp_path / "missing.tflite")
