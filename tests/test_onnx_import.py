"""ONNX import: float graphs against onnxruntime (float executor), quantized QDQ / QOperator graphs against
onnxruntime's integers (accelsim.execute), and the error messages.

Golden: onnxruntime 1.32 CPU. QLinearConv / QLinearMatMul requantize as ``rne(f32(acc) · f32(f32(Sx·Sw)/Sy))``
([ref:ORT]), which accelsim's ``float32`` mode reproduces bit for bit; a QDQ model is run with
ORT's graph optimizations on so that its Q/DQ pairs are fused into those integer ops.
"""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime import quantization
from onnxruntime.quantization.shape_inference import quant_pre_process

from accelsim.cli import main as main_mod
from accelsim.errors import ImportError_, UnsupportedError
from accelsim.execute import execute
from accelsim.graph.float_exec import run_float
from accelsim.graph.importers.onnx import load_onnx
from accelsim.workloads import digits
from accelsim.quant.params import quantize  # noqa: E402

OPSET = 21
RNG = np.random.default_rng(1234)


# ------------------------------------------------------------------------------------------------ helpers
def _model(nodes, inputs, outputs, inits, path, opset=OPSET, domains=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 10
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    model.graph.ClearField("output")
    model.graph.output.extend(inferred.graph.output)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def _vi(name, shape, elem=TensorProto.FLOAT):
    """A graph input/output; ``shape=None`` declares an output whose shape is filled by ONNX shape inference."""
    return helper.make_tensor_value_info(name, elem, shape)


def _init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def _ort(path, feeds, optimize=False):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _nhwc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else x


def _assert_float_matches_ort(path, x_nchw, input_name="x"):
    """Float import run by run_float equals onnxruntime within 1e-5 relative (of the output's magnitude)."""
    ref = _ort(path, {input_name: x_nchw})[0]
    graph = load_onnx(path, batch_size=x_nchw.shape[0])
    assert graph.is_float
    out = run_float(graph, {input_name: _nhwc(x_nchw)})[graph.outputs[0]]
    np.testing.assert_allclose(out, _nhwc(ref), rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))
    return graph


def _w(*shape, scale=0.3):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


# -------------------------------------------------------------------------------------------- float ops
def test_conv_bn_relu_strides_pads_dilation(tmp_path):
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", strides=[2, 1], pads=[1, 0, 2, 1],
                         dilations=[1, 2]),
        helper.make_node("BatchNormalization", ["c1", "g", "be", "mu", "var"], ["bn1"], name="bn1", epsilon=1e-3),
        helper.make_node("Relu", ["bn1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["y"], name="conv2", auto_pad="SAME_UPPER", strides=[2, 2]),
    ]
    inits = [_init("w1", _w(6, 3, 3, 3)), _init("b1", _w(6)), _init("g", 1 + _w(6)), _init("be", _w(6)),
             _init("mu", _w(6)), _init("var", 0.5 + np.abs(_w(6))), _init("w2", _w(5, 6, 3, 2))]
    path = _model(nodes, [_vi("x", [2, 3, 11, 10])], [_vi("y", None)], inits, tmp_path / "conv.onnx")
    graph = _assert_float_matches_ort(path, RNG.standard_normal((2, 3, 11, 10)).astype(np.float32))
    kinds = [(n.kind, n.op.activation) for n in graph.nodes]
    assert kinds == [("Conv2D", "RELU"), ("Conv2D", "NONE")]  # BN folded, Relu fused
    assert graph.nodes[0].op.padding == (1, 2, 0, 1)           # ONNX [t, l, b, r] -> IR (t, b, l, r)


def test_depthwise_clip6_pools_add_concat_pad(tmp_path):
    nodes = [
        helper.make_node("Conv", ["x", "wd", "bd"], ["d"], name="dw", group=4, pads=[1, 1, 1, 1]),  # multiplier 2
        helper.make_node("Clip", ["d", "zero", "six"], ["d6"], name="relu6"),
        helper.make_node("Conv", ["x", "wp"], ["p"], name="pw"),
        helper.make_node("Add", ["d6", "p"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["sr"], name="add_relu"),
        helper.make_node("MaxPool", ["sr"], ["mp"], name="maxpool", kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("AveragePool", ["sr"], ["ap"], name="avgpool", kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1], count_include_pad=0),
        helper.make_node("Concat", ["mp", "ap"], ["cat"], name="concat", axis=1),
        helper.make_node("Pad", ["cat", "pads"], ["padded"], name="pad", mode="constant"),
        helper.make_node("Identity", ["padded"], ["ident"], name="identity"),
        helper.make_node("Dropout", ["ident"], ["y"], name="dropout"),
    ]
    inits = [_init("wd", _w(8, 1, 3, 3)), _init("bd", _w(8)), _init("zero", np.float32(0)),
             _init("six", np.float32(6)), _init("wp", _w(8, 4, 1, 1)),
             _init("pads", np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64))]
    path = _model(nodes, [_vi("x", [2, 4, 9, 9])], [_vi("y", None)], inits, tmp_path / "dw.onnx")
    graph = _assert_float_matches_ort(path, (3 * RNG.standard_normal((2, 4, 9, 9))).astype(np.float32))
    ops = {n.kind: n.op for n in graph.nodes}
    assert ops["Conv2D"].groups in (1, 4)
    assert [n.op.groups for n in graph.nodes if n.kind == "Conv2D"] == [4, 1]
    assert graph.nodes[0].op.activation == "RELU6" and ops["Add"].activation == "RELU"
    assert ops["Concat"].axis == 3 and ops["Pad"].pads == ((0, 0), (1, 2), (2, 1), (0, 0))


def test_gap_flatten_gemm_matmul_reshape(tmp_path):
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
        helper.make_node("GlobalAveragePool", ["c"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wg", "bg"], ["g1"], name="gemm", transB=1, alpha=0.5, beta=2.0),
        helper.make_node("Relu", ["g1"], ["g1r"], name="relu"),
        helper.make_node("MatMul", ["g1r", "wm"], ["m"], name="matmul"),
        helper.make_node("Add", ["m", "bm"], ["mb"], name="matmul_bias"),
        helper.make_node("Reshape", ["mb", "shape"], ["y"], name="reshape"),
    ]
    inits = [_init("w", _w(6, 3, 3, 3)), _init("wg", _w(7, 6)), _init("bg", _w(7)), _init("wm", _w(7, 4)),
             _init("bm", _w(1, 4)), _init("shape", np.array([0, -1], np.int64))]
    path = _model(nodes, [_vi("x", [3, 3, 6, 5])], [_vi("y", None)], inits, tmp_path / "fc.onnx")
    graph = _assert_float_matches_ort(path, RNG.standard_normal((3, 3, 6, 5)).astype(np.float32))
    assert [n.kind for n in graph.nodes] == ["Conv2D", "GlobalAveragePool", "Flatten", "FullyConnected",
                                             "FullyConnected", "Reshape"]
    assert graph.nodes[3].op.activation == "RELU" and len(graph.nodes[4].inputs) == 3  # MatMul + Add -> bias


def test_flatten_of_spatial_tensor_reorders_fc_columns(tmp_path):
    """ONNX flattens NCHW (C, H, W); the IR flattens NHWC: the importer permutes the FC weight columns."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Flatten", ["c"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "wg"], ["y"], name="fc")]
    inits = [_init("w", _w(5, 2, 3, 3)), _init("wg", _w(5 * 4 * 3, 10))]
    path = _model(nodes, [_vi("x", [2, 2, 4, 3])], [_vi("y", None)], inits, tmp_path / "flat.onnx")
    _assert_float_matches_ort(path, RNG.standard_normal((2, 2, 4, 3)).astype(np.float32))


def test_shipped_digits_models_match_ort():
    x = digits.load_digits_split().test_images[:16]
    for name in ("digits_cnn", "digits_dsconv"):
        _assert_float_matches_ort(digits.shipped_model_path(name, 0), np.ascontiguousarray(x.transpose(0, 3, 1, 2)),
                                  "input")


# ------------------------------------------------------------------------------------------ quantized
def _q_nodes(src, dst, scale, zp):
    """QuantizeLinear + DequantizeLinear of activation ``src``; returns the nodes (output ``dst``)."""
    return [helper.make_node("QuantizeLinear", [src, scale, zp], [src + "_q"], name=src + "_quant"),
            helper.make_node("DequantizeLinear", [src + "_q", scale, zp], [dst], name=src + "_dequant")]


def _qparams(prefix, scale, zp, dtype):
    return [_init(prefix + "_s", np.float32(scale)), _init(prefix + "_z", np.array(zp, dtype))]


def _int_weights(shape, dtype=np.int8, lo=-127, hi=127):
    return RNG.integers(lo, hi + 1, shape).astype(dtype)


def _ort_integers(ref_float, scale, zp):
    """Recover the integers behind an ORT DequantizeLinear output (exact: (q − Z)·S is injective)."""
    return _nhwc((np.rint(ref_float / np.float32(scale)) + zp).astype(np.int64))


def _run_quantized(path, x_nchw, input_name="x"):
    graph = load_onnx(path, batch_size=x_nchw.shape[0])
    assert not graph.is_float and {n.requant for n in graph.nodes} == {"float32"}
    t = graph.tensors[input_name]
    q = quantize(_nhwc(x_nchw), t.quant, t.dtype, rounding="half_to_even")  # ORT QuantizeLinear (§3.4)
    out_name = graph.outputs[0]
    return graph, execute(graph, {input_name: q})[out_name].astype(np.int64), graph.tensors[out_name]


@pytest.mark.parametrize("act_dtype", [np.uint8, np.int8])
def test_qdq_conv_depthwise_matmul_exact(tmp_path, act_dtype):
    """QDQ model (per-axis int8 conv weights, int32 biases, depthwise, MatMul) equals ORT's fused integer ops."""
    zx = 128 if act_dtype is np.uint8 else 3
    z1 = 0 if act_dtype is np.uint8 else -128   # after Relu
    nodes = _q_nodes("x", "xd", "x_s", "x_z") + [
        helper.make_node("DequantizeLinear", ["w1q", "w1_s"], ["w1"], name="w1_dq", axis=0),
        helper.make_node("DequantizeLinear", ["b1q", "b1_s"], ["b1"], name="b1_dq", axis=0),
        helper.make_node("Conv", ["xd", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        *_q_nodes("r1", "r1d", "r1_s", "r1_z"),
        helper.make_node("DequantizeLinear", ["w2q", "w2_s"], ["w2"], name="w2_dq", axis=0),
        helper.make_node("Conv", ["r1d", "w2"], ["c2"], name="dw", group=6, strides=[2, 2], pads=[1, 1, 1, 1]),
        *_q_nodes("c2", "c2d", "c2_s", "c2_z"),
        helper.make_node("Flatten", ["c2d"], ["f"], name="flatten"),
        *_q_nodes("f", "fd", "c2_s", "c2_z"),
        helper.make_node("DequantizeLinear", ["w3q", "w3_s", "w3_z"], ["w3"], name="w3_dq"),
        helper.make_node("MatMul", ["fd", "w3"], ["m"], name="matmul"),
        *_q_nodes("m", "y", "y_s", "y_z"),
    ]
    sx = np.float32(0.02)
    s1 = (RNG.uniform(0.002, 0.01, 6)).astype(np.float32)
    inits = (_qparams("x", sx, zx, act_dtype) + _qparams("r1", 0.05, z1, act_dtype)
             + _qparams("c2", 0.08, 7, act_dtype) + _qparams("y", 0.15, -2 if act_dtype is np.int8 else 120,
                                                             act_dtype)
             + [_init("w1q", _int_weights((6, 3, 3, 3))), _init("w1_s", s1),
                _init("b1q", RNG.integers(-3000, 3000, 6).astype(np.int32)), _init("b1_s", (sx * s1).astype(np.float32)),
                _init("w2q", _int_weights((12, 1, 3, 3))), _init("w2_s", RNG.uniform(0.005, 0.02, 12).astype(np.float32)),
                _init("w3q", _int_weights((12 * 3 * 3, 5))), _init("w3_s", np.float32(0.004)),
                _init("w3_z", np.int8(0))])
    path = _model(nodes, [_vi("x", [2, 3, 6, 6])], [_vi("y", None)], inits, tmp_path / "qdq.onnx")
    x = RNG.uniform(-2.5, 2.5, (2, 3, 6, 6)).astype(np.float32)
    graph, ours, out_t = _run_quantized(path, x)
    assert [n.kind for n in graph.nodes] == ["Conv2D", "Conv2D", "Flatten", "FullyConnected"]
    assert graph.nodes[0].op.activation == "RELU" and graph.tensors["x"].dtype == np.dtype(act_dtype).name
    ref = _ort_integers(_ort(path, {"x": x}, optimize=True)[0], out_t.quant.scale[0], int(out_t.quant.zero_point[0]))
    np.testing.assert_array_equal(ours, ref)


def test_qdq_int4_per_axis_weights_import(tmp_path):
    """DequantizeLinear of a packed INT4 initializer: the integers and per-axis scales arrive unchanged; ORT runs
    this model in float (no int4 QLinearConv fusion), so its outputs may differ from the integer pipeline by the
    rounding of one requantization: at most 1 LSB."""
    w4 = RNG.integers(-8, 8, (4, 2, 3, 3)).astype(np.int8)
    sw = RNG.uniform(0.02, 0.05, 4).astype(np.float32)
    w_tensor = helper.make_tensor("w4q", TensorProto.INT4, w4.shape, w4.reshape(-1).tolist())
    nodes = _q_nodes("x", "xd", "x_s", "x_z") + [
        helper.make_node("DequantizeLinear", ["w4q", "w4_s"], ["w"], name="w_dq", axis=0),
        helper.make_node("Conv", ["xd", "w"], ["c"], name="conv"),
        *_q_nodes("c", "y", "y_s", "y_z")]
    inits = _qparams("x", 0.03, -5, np.int8) + _qparams("y", 0.07, 4, np.int8) + [w_tensor, _init("w4_s", sw)]
    path = _model(nodes, [_vi("x", [1, 2, 5, 5])], [_vi("y", None)], inits, tmp_path / "int4.onnx")
    x = RNG.uniform(-3, 3, (1, 2, 5, 5)).astype(np.float32)
    graph, ours, out_t = _run_quantized(path, x)
    w = graph.tensors[graph.nodes[0].inputs[1]]
    assert w.dtype == "int4" and w.quant.axis == 0
    np.testing.assert_array_equal(w.data, w4.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(w.quant.scale, sw)
    ref = _ort_integers(_ort(path, {"x": x})[0], out_t.quant.scale[0], int(out_t.quant.zero_point[0]))
    assert np.abs(ours - ref).max() <= 1


def test_qoperator_qlinearconv_qlinearmatmul_exact(tmp_path):
    """QOperator model: QuantizeLinear, QLinearConv (per-channel, then depthwise with non-zero weight zero
    points), integer Flatten, QLinearMatMul, DequantizeLinear: bit-exact against ORT."""
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_s", "x_z"], ["xq"], name="quant"),
        helper.make_node("QLinearConv", ["xq", "x_s", "x_z", "w1", "w1_s", "w1_z", "c1_s", "c1_z", "b1"], ["c1"],
                         name="qconv", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("QLinearConv", ["c1", "c1_s", "c1_z", "w2", "w2_s", "w2_z", "c2_s", "c2_z"], ["c2"],
                         name="qdw", group=4, pads=[0, 1, 0, 1]),
        helper.make_node("Flatten", ["c2"], ["f"], name="flatten"),
        helper.make_node("QLinearMatMul", ["f", "c2_s", "c2_z", "w3", "w3_s", "w3_z", "y_s", "y_z"], ["yq"],
                         name="qmatmul"),
        helper.make_node("DequantizeLinear", ["yq", "y_s", "y_z"], ["y"], name="dequant"),
    ]
    inits = (_qparams("x", 0.025, 131, np.uint8) + _qparams("c1", 0.06, 110, np.uint8)
             + _qparams("c2", 0.09, 125, np.uint8) + _qparams("y", 0.2, 128, np.uint8)
             + [_init("w1", _int_weights((4, 3, 3, 3))), _init("w1_s", RNG.uniform(0.002, 0.01, 4).astype(np.float32)),
                _init("w1_z", np.zeros(4, np.int8)), _init("b1", RNG.integers(-2000, 2000, 4).astype(np.int32)),
                _init("w2", _int_weights((4, 1, 1, 3))), _init("w2_s", RNG.uniform(0.01, 0.03, 4).astype(np.float32)),
                _init("w2_z", RNG.integers(-5, 6, 4).astype(np.int8)),
                _init("w3", _int_weights((4 * 4 * 4, 6))), _init("w3_s", np.float32(0.003)),
                _init("w3_z", np.int8(0))])
    path = _model(nodes, [_vi("x", [3, 3, 8, 8])], [_vi("y", None)], inits, tmp_path / "qop.onnx", opset=21)
    x = RNG.uniform(-3, 3, (3, 3, 8, 8)).astype(np.float32)
    graph, ours, out_t = _run_quantized(path, x)
    assert [n.kind for n in graph.nodes] == ["Conv2D", "Conv2D", "Flatten", "FullyConnected"]
    assert graph.outputs == ("y",)
    ref = _ort_integers(_ort(path, {"x": x})[0], out_t.quant.scale[0], int(out_t.quant.zero_point[0]))
    np.testing.assert_array_equal(ours, ref)


# ---------------------------------------------------------------------------------------------- errors
def _single_op_model(tmp_path, node, inits=(), shape=(1, 2, 6, 6)):
    return _model([node], [_vi("x", list(shape))], [_vi("y", None)], list(inits), tmp_path / "m.onnx")


@pytest.mark.parametrize("node, expected", [
    (helper.make_node("Elu", ["x"], ["y"], name="elu0"), ["Elu", "'elu0'", "supported"]),
    (helper.make_node("MaxPool", ["x"], ["y"], name="mp0", kernel_shape=[3, 3], auto_pad="SAME_LOWER"),
     ["MaxPool", "'mp0'", "SAME_LOWER", "SAME_UPPER"]),
    (helper.make_node("MaxPool", ["x"], ["y"], name="mp1", kernel_shape=[3, 3], dilations=[2, 2]),
     ["MaxPool", "'mp1'", "dilations"]),
    (helper.make_node("Pad", ["x", "p"], ["y"], name="pad0", mode="reflect"), ["Pad", "'pad0'", "reflect", "constant"]),
])
def test_unsupported_op_or_attribute_names_it(tmp_path, node, expected):
    inits = [_init("p", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))] if node.op_type == "Pad" else []
    path = _single_op_model(tmp_path, node, inits)
    with pytest.raises(UnsupportedError) as info:
        load_onnx(path)
    for word in expected + ["m.onnx"]:
        assert word in str(info.value)


def test_truncated_and_non_onnx_files(tmp_path):
    data = digits.shipped_model_path("digits_cnn", 0).read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImportError_) as info:
        load_onnx(truncated)
    assert "truncated.onnx" in str(info.value) and "ONNX" in str(info.value)
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n")
    with pytest.raises(ImportError_, match="notes.onnx"):
        load_onnx(text)
    with pytest.raises(ImportError_, match="missing.onnx"):
        load_onnx(tmp_path / "missing.onnx")


def test_cli_info_on_bad_onnx_exits_nonzero(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07\x12\x04trun")
    assert main_mod.main(["info", str(bad)]) != 0
    assert "bad.onnx" in capsys.readouterr().err


# ------------------------------------------------------------------ models from onnxruntime's quantization tool
class _Reader:
    """onnxruntime CalibrationDataReader over NCHW float batches."""

    def __init__(self, batches):
        self._it = iter([{"input": b} for b in batches])

    def get_next(self):
        return next(self._it, None)


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
@pytest.mark.parametrize("name", ["digits_cnn", "digits_dsconv"])
def test_models_from_onnxruntime_quantize_static(tmp_path, fmt, name):
    """The shipped digits models quantized by onnxruntime.quantization (pre-processed, BN folded by ORT,
    per-channel int8 weights, uint8 activations) and imported: equal to ORT's integers on the 450 test images.
    digits_cnn (QLinearConv, QLinearGlobalAveragePool, QGemm, or their QDQ fusions) and digits_dsconv (adds
    QLinearAdd, which ORT computes in float: accelsim reproduces MLAS's float order, [ref:ORT]) match exactly."""
    split = digits.load_digits_split()
    cal = np.ascontiguousarray(split.train_images[:64].transpose(0, 3, 1, 2))
    pre, out = tmp_path / "pre.onnx", tmp_path / f"{name}_{fmt}.onnx"
    quant_pre_process(str(digits.shipped_model_path(name, 0)), str(pre))
    quantization.quantize_static(str(pre), str(out), _Reader(np.split(cal, 4)),
                                 quant_format=getattr(quantization.QuantFormat, fmt), per_channel=True,
                                 activation_type=quantization.QuantType.QUInt8,
                                 weight_type=quantization.QuantType.QInt8)
    x = np.ascontiguousarray(split.test_images.transpose(0, 3, 1, 2))
    graph, ours, out_t = _run_quantized(out, x, "input")
    ref = _ort_integers(_ort(out, {"input": x}, optimize=True)[0], out_t.quant.scale[0],
                        int(out_t.quant.zero_point[0]))
    np.testing.assert_array_equal(ours, ref)
