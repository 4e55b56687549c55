"""Softmax and Mean: bit-exact against LiteRT's reference kernels (``fixed_point``: gemmlowp fixed-point
SOFTMAX, MEAN over any axes, int8 / uint8 / int16) and onnxruntime QDQ models (``float32``: DequantizeLinear ->
float op -> QuantizeLinear; ReduceMean within 1 LSB where onnxruntime's vectorised float sum order differs),
plus the cost descriptors against closed forms and the bad-input errors."""
from __future__ import annotations

import numpy as np
import pytest

from accelsim.execute import execute
from accelsim.graph import ops as O
from accelsim.graph.builder import GraphBuilder
from accelsim.quant.params import QuantParams

PT = QuantParams.per_tensor


def _litert(model: bytes, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from tflite_builder import run_reference

    from accelsim.graph.importers.tflite import load_tflite

    (ref,) = run_reference(model, [x])
    graph = load_tflite(model)
    return execute(graph, {graph.inputs[0]: x})[graph.outputs[0]], ref


def _assert_equal(got: np.ndarray, ref: np.ndarray, min_unique: int) -> None:
    assert got.shape == ref.shape and got.dtype == ref.dtype, (got.shape, got.dtype, ref.shape, ref.dtype)
    bad = int(np.count_nonzero(got != ref))
    assert bad == 0, f"{bad} of {ref.size} differ; max |diff| {np.abs(got.astype(int) - ref.astype(int)).max()}"
    assert np.unique(ref).size >= min_unique, "degenerate reference output"


# ------------------------------------------------------------------------------------------------ softmax
def softmax_model(shape, dtype: str, out_dtype: str, sx: float, zx: int, beta: float) -> bytes:
    from tflite_builder import S, TFLiteModel

    t = TFLiteModel()
    tx = t.tensor("x", shape, dtype, sx, zx)
    bits = np.iinfo(out_dtype).bits
    ty = t.tensor("y", shape, out_dtype, 2.0 ** -bits, int(np.iinfo(out_dtype).min))
    options = S.SoftmaxOptionsT()
    options.beta = beta
    t.op("SOFTMAX", [tx], [ty], "SoftmaxOptions", options, 2 if dtype == "int8" else 1)
    return t.finish([tx], [ty])


@pytest.mark.parametrize("dtype, out_dtype", [("int8", "int8"), ("uint8", "uint8"), ("int8", "int16")])
@pytest.mark.parametrize("sx, beta", [(0.1, 1.0), (0.05, 1.0), (0.2, 0.5), (0.5, 1.0), (0.0313, 2.0)])
def test_softmax_bit_exact_against_litert(dtype, out_dtype, sx, beta):
    """Rows of 12 (a classifier-like head: outputs spread over the range) and rows of 256 holding every input
    value once (the whole exp table), several input scales and β."""
    pytest.importorskip("ai_edge_litert")
    info = np.iinfo(dtype)
    rng = np.random.default_rng(int(sx * 1000) + int(beta * 10))
    zx = int(rng.integers(info.min + 20, info.max - 20))
    x = rng.integers(info.min, info.max + 1, (64, 12)).astype(dtype)
    got, ref = _litert(softmax_model(x.shape, dtype, out_dtype, sx, zx, beta), x)
    _assert_equal(got, ref, 8)
    every = np.stack([rng.permutation(np.arange(info.min, info.max + 1)) for _ in range(4)]).astype(dtype)
    got, ref = _litert(softmax_model(every.shape, dtype, out_dtype, sx, zx, beta), every)
    _assert_equal(got, ref, 2)


def test_softmax_on_4d_tensor_last_axis():
    pytest.importorskip("ai_edge_litert")
    rng = np.random.default_rng(4)
    x = rng.integers(-128, 128, (2, 5, 7, 10)).astype(np.int8)
    got, ref = _litert(softmax_model(x.shape, "int8", "int8", 0.15, 3, 1.0), x)
    _assert_equal(got, ref, 8)


def test_softmax_tflite_constants_closed_form():
    """PreprocessSoftmaxScaling: real = β·S·2^26 = 0.1·2^26 -> QuantizeMultiplier = (m, 23) with
    m = round(0.8·2^31); input radius floor(31·2^26 / 2^23) = 248."""
    from accelsim.engine.reduce import softmax_constants

    c = softmax_constants(np.float32(0.1), 1.0)
    real = float(np.float32(0.1)) * 2 ** 26
    assert c.input_left_shift == 23
    assert c.input_multiplier == round(real / 2 ** 23 * 2 ** 31)
    assert c.diff_min == -248


# --------------------------------------------------------------------------------------------------- mean
def mean_model(shape, axes, keep: bool, dtype: str, qx, qy) -> bytes:
    from tflite_builder import S, TFLiteModel

    if keep:
        out = tuple(1 if i in axes else d for i, d in enumerate(shape))
    else:
        out = tuple(d for i, d in enumerate(shape) if i not in axes)
    t = TFLiteModel()
    tx = t.tensor("x", shape, dtype, *qx)
    ta = t.tensor("axes", (len(axes),), "int32", data=np.array(axes, np.int32))
    ty = t.tensor("y", out, dtype, *qy)
    options = S.ReducerOptionsT()
    options.keepDims = keep
    t.op("MEAN", [tx, ta], [ty], "ReducerOptions", options, 2)
    return t.finish([tx], [ty])


@pytest.mark.parametrize("axes, keep", [([3], True), ([1], False), ([2, 3], True), ([1, 2, 3], False),
                                        ([0], True), ([1, 2], False)])
@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_mean_over_any_axes_bit_exact_against_litert(axes, keep, dtype):
    pytest.importorskip("ai_edge_litert")
    info = np.iinfo(dtype)
    rng = np.random.default_rng(sum(axes) + keep)
    x = rng.integers(info.min, info.max + 1, (3, 6, 7, 16)).astype(dtype)
    if dtype == "int8":
        qx, qy = (0.02, -7), (0.0021, 3)
    else:
        qx, qy = (2e-4, 0), (2.5e-5, 0)
    got, ref = _litert(mean_model(x.shape, axes, keep, dtype, qx, qy), x)
    _assert_equal(got, ref, 2)


def test_mean_on_a_2d_tensor():
    pytest.importorskip("ai_edge_litert")
    x = np.random.default_rng(2).integers(-128, 128, (32, 40)).astype(np.int8)
    got, ref = _litert(mean_model(x.shape, [1], False, "int8", (0.05, 1), (0.008, -2)), x)
    _assert_equal(got, ref, 8)


# ------------------------------------------------------------------------------------------- onnxruntime
def _qdq_unary(kind: str, dtype: str, shape, qx, qy, attrs: dict, out_shape):
    from onnx import TensorProto, helper, numpy_helper

    st = np.dtype(dtype)
    inits = [numpy_helper.from_array(np.array(v, t), n) for n, v, t in
             [("sx", qx[0], np.float32), ("zx", qx[1], st), ("sy", qy[0], np.float32), ("zy", qy[1], st)]]
    nodes = [helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "sx", "zx"], ["d"]),
             helper.make_node(kind, ["d"], ["f"], **attrs),
             helper.make_node("QuantizeLinear", ["f", "sy", "zy"], ["qy"]),
             helper.make_node("DequantizeLinear", ["qy", "sy", "zy"], ["y"])]
    model = helper.make_model(helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], inits),
        opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def _run_qdq(tmp_path, model, dtype, shape, qx, qy):
    ort = pytest.importorskip("onnxruntime")
    from accelsim.graph.importers.onnx import load_onnx

    info = np.iinfo(dtype)
    q = np.random.default_rng(9).integers(info.min, info.max + 1, shape)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    (y,) = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(
        None, {"x": ((q - qx[1]) * np.float32(qx[0])).astype(np.float32)})
    ref = np.rint(y / np.float32(qy[0])).astype(np.int64) + qy[1]
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    graph = load_onnx(path)
    xin = q.astype(dtype)
    got = execute(graph, {graph.inputs[0]: xin.transpose(0, 2, 3, 1) if xin.ndim == 4 else xin})[graph.outputs[0]]
    got = got.astype(np.int64)
    return (got.transpose(0, 3, 1, 2) if got.ndim == 4 else got), ref


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
def test_onnxruntime_qdq_softmax_bit_exact(tmp_path, dtype):
    pytest.importorskip("onnx")
    zy = 0 if dtype == "uint8" else -128
    zx = 131 if dtype == "uint8" else 3
    model = _qdq_unary("Softmax", dtype, (64, 10), (0.1, zx), (1 / 256, zy), {"axis": -1}, [64, 10])
    got, ref = _run_qdq(tmp_path, model, dtype, (64, 10), (0.1, zx), (1 / 256, zy))
    assert np.array_equal(got, ref) and np.unique(ref).size > 32


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
@pytest.mark.parametrize("axes", [[2, 3], [1], [1, 2, 3]])
def test_onnxruntime_qdq_reduce_mean_within_one_lsb(tmp_path, dtype, axes):
    """ReduceMean is a float sum in onnxruntime (vectorised order): equal, or 1 LSB off on rare ties."""
    pytest.importorskip("onnx")
    mid = 128 if dtype == "uint8" else 0
    shape = (2, 16, 9, 9)
    out_shape = [1 if i in axes else d for i, d in enumerate(shape)]
    qx, qy = (0.03, mid + 3), (0.01, mid - 7)
    model = _qdq_unary("ReduceMean", dtype, shape, qx, qy, {"axes": axes, "keepdims": 1}, out_shape)
    got, ref = _run_qdq(tmp_path, model, dtype, shape, qx, qy)
    diff = np.abs(got - ref)
    assert diff.max() <= 1 and np.count_nonzero(diff) <= max(2, ref.size // 50)


# ------------------------------------------------------------------------------------------------ costs
def test_mean_costs_closed_form():
    """Mean over H·W = 49 taps of 64 channels: 49 adds a output and one rescale (TFLite MEAN)."""
    from accelsim.hw.layer import LayerShape
    from accelsim.hw.scale_unit import requant_ops
    from accelsim.hw.simd import InstructionCounts, alu_counts

    b = GraphBuilder("m")
    x = b.input("x", (1, 7, 7, 64), "float32", None)
    y = b.op(O.Mean((1, 2), True), [x], "float32", None)
    graph = b.build([y])
    ext = O.op_def("Mean").cost.extents(graph, graph.nodes[0])
    assert (ext.kernel_h, ext.kernel_w, ext.out_h, ext.out_w, ext.out_channels) == (49, 1, 1, 1, 64)
    layer = LayerShape(1, 7, 7, 64, 1, 1, 64, 49, 1, name="m", kind="Mean")
    assert requant_ops(layer) == 64
    vectors = 1  # 64 int8 outputs in one 1024-bit vector
    assert alu_counts(layer, 1024)[0] == InstructionCounts(loads=49 * vectors, alu=49 * vectors, stores=vectors)


def test_softmax_costs_closed_form():
    """Softmax per output: 2 loads (max/sum pass and output pass) and 6 ALU operations per output vector
    (compare, subtract, rescale, exp lookup, add, multiply), one rescale per output on the scale unit."""
    from accelsim.graph.ops.reduce import SOFTMAX_ALU_PER_OUTPUT
    from accelsim.hw.layer import LayerShape
    from accelsim.hw.scale_unit import requant_ops
    from accelsim.hw.simd import InstructionCounts, alu_counts

    layer = LayerShape(4, 1, 1, 1000, 1, 1, 1000, 1000, 1, name="s", kind="Softmax")
    vectors = -(-4 * 1000 // 128)
    assert SOFTMAX_ALU_PER_OUTPUT == 6
    assert alu_counts(layer, 1024)[0] == InstructionCounts(loads=2 * vectors, alu=6 * vectors, stores=vectors)
    assert requant_ops(layer) == 4000


# -------------------------------------------------------------------------------------------- bad input
def test_bad_axes_are_refused():
    b = GraphBuilder("bad")
    x = b.input("x", (1, 4, 4, 8), "int8", PT(0.1, 0))
    with pytest.raises(ValueError, match="out of range"):
        b.op(O.Mean((4,), True), [x], "int8", PT(0.1, 0))
    with pytest.raises(ValueError, match="out of range"):
        b.op(O.Softmax(-5), [x], "int8", PT(1 / 256, -128))


def test_onnx_reduce_mean_with_layout_changing_keepdims_is_refused(tmp_path):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from accelsim.errors import UnsupportedError
    from accelsim.graph.importers.onnx import load_onnx

    node = helper.make_node("ReduceMean", ["x"], ["y"], axes=[2], keepdims=0, name="rm")
    model = helper.make_model(helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 4])]),
        opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "rm.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(UnsupportedError, match="rm.*keepdims"):
        load_onnx(path)


def test_yaml_softmax_and_mean_layers():
    from accelsim.workloads.export_yaml import graph_to_spec
    from accelsim.workloads.yaml_format import build_graph, parse_workload

    data = {"name": "head", "input_shape": [1, 7, 7, 32], "layers": [
        {"name": "m", "op": "mean", "axes": [1, 2], "keepdims": False},
        {"name": "fc", "op": "fc", "out_channels": 10},
        {"name": "p", "op": "softmax", "beta": 1.0}]}
    graph = build_graph(parse_workload(data, "head.yaml"))
    assert [n.kind for n in graph.nodes] == ["Mean", "FullyConnected", "Softmax"]
    probs = graph.tensors[graph.nodes[-1].outputs[0]]
    assert probs.shape == (1, 10) and float(probs.quant.scale[0]) == 1 / 256
    again = build_graph(graph_to_spec(graph))
    assert [n.kind for n in again.nodes] == ["Mean", "FullyConnected", "Softmax"]


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
@pytest.mark.parametrize("sx, shape, axis", [(0.1, (64, 10), -1), (0.2, (8, 1000), -1), (0.0313, (16, 256), -1),
                                             (0.05, (2, 6, 5, 5), 1)])
def test_onnxruntime_qlinear_softmax_model_bit_exact(tmp_path, dtype, sx, shape, axis):
    """com.microsoft QLinearSoftmax (opset 13 form) in a QOperator model: its float lookup table, sequential float
    sum and division reproduced (accelsim.engine.reduce.qlinear_softmax_table); 4-D over the channel axis too."""
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    from accelsim.graph.importers.onnx import load_onnx

    st = np.dtype(dtype)
    zy = 0 if dtype == "uint8" else -128
    inits = [numpy_helper.from_array(np.array(v, t), n) for n, v, t in
             [("sx", sx, np.float32), ("zx", 5, st), ("sy", 1 / 256, np.float32), ("zy", zy, st)]]
    nodes = [helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["q"]),
             helper.make_node("QLinearSoftmax", ["q", "sx", "zx", "sy", "zy"], ["qy"], domain="com.microsoft",
                              axis=axis, opset=13),
             helper.make_node("DequantizeLinear", ["qy", "sy", "zy"], ["y"])]
    model = helper.make_model(helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], inits),
        opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    info = np.iinfo(dtype)
    q = np.random.default_rng(1).integers(info.min, info.max + 1, shape)
    if shape == (16, 256):  # every input value in every row
        q = np.stack([np.random.default_rng(r).permutation(np.arange(info.min, info.max + 1)) for r in range(16)])
    (y,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": ((q - 5) * np.float32(sx)).astype(np.float32)})
    ref = np.rint(y * 256).astype(np.int64) + zy
    path = tmp_path / "qls.onnx"
    path.write_bytes(model.SerializeToString())
    graph = load_onnx(path)
    xin = q.astype(dtype)
    got = execute(graph, {graph.inputs[0]: xin.transpose(0, 2, 3, 1) if xin.ndim == 4 else xin})[graph.outputs[0]]
    got = got.astype(np.int64)
    got = got.transpose(0, 3, 1, 2) if got.ndim == 4 else got
    assert np.array_equal(got, ref) and np.unique(ref).size >= 8


@pytest.mark.parametrize("sx, beta, shape", [(2 ** -10, 1.0, (8, 10)), (3e-4, 1.0, (8, 100)), (1e-3, 1.0, (4, 1000)),
                                             (5e-4, 0.5, (2, 5, 7, 10))])
def test_softmax_int16_bit_exact_against_litert(sx, beta, shape):
    """16x8 softmax (int16 in and out, zero points 0): TFLite's SoftmaxInt16 with its exp and 1/(1+x) tables."""
    pytest.importorskip("ai_edge_litert")
    from tflite_builder import S, TFLiteModel

    x = np.random.default_rng(1).integers(-32768, 32768, shape).astype(np.int16)
    t = TFLiteModel()
    tx, ty = t.tensor("x", shape, "int16", sx, 0), t.tensor("y", shape, "int16", 1 / 32768, 0)
    options = S.SoftmaxOptionsT()
    options.beta = beta
    t.op("SOFTMAX", [tx], [ty], "SoftmaxOptions", options, 3)
    got, ref = _litert(t.finish([tx], [ty]), x)
    _assert_equal(got, ref, 16)


def test_tflite_export_refuses_a_softmax_output_quantization_litert_rejects():
    pytest.importorskip("ai_edge_litert")
    from accelsim.errors import UnsupportedError
    from accelsim.graph.exporters.tflite import export_tflite

    b = GraphBuilder("s")
    x = b.input("x", (2, 10), "int8", PT(0.1, 0))
    y = b.op(O.Softmax(), [x], "int8", PT(1 / 255, -128))     # a calibrated range, not TFLite's 1/256
    with pytest.raises(UnsupportedError, match="softmax.*1/256"):
        export_tflite(b.build([y]))


def test_torch_mean_and_softmax_head_imports_quantizes_and_executes(tmp_path):
    """``x.mean([2, 3])`` (ReduceMean, keepdims=0, as MNASNet ends) -> Linear -> softmax, exported by torch: the
    float import equals torch; the int8 engine stays within 2 output LSB of torch in both requantization modes
    (under the TFLite modes PTQ gives the softmax output LiteRT's prescribed S = 1/256, Z = -128, so the model
    exports to a .tflite LiteRT runs, integer for integer; onnxruntime's mode calibrates it)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import warnings

    from torch import nn

    from accelsim.execute import execute_float
    from accelsim.graph.float_exec import run_float
    from accelsim.graph.importers.onnx import load_onnx
    from accelsim.graph.ptq import PTQSettings, quantize_graph

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(3, 16, 3, padding=1), nn.Linear(16, 10)

        def forward(self, x):
            return torch.softmax(self.fc(torch.relu(self.conv(x)).mean([2, 3])), dim=1)

    torch.manual_seed(0)
    model = Head().eval()
    path = tmp_path / "head.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, 8, 8),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["p"])
    graph = load_onnx(path, batch_size=4)
    assert [n.kind for n in graph.nodes] == ["Conv2D", "Mean", "FullyConnected", "Softmax"]
    assert graph.nodes[1].op == O.Mean((1, 2), False)
    x = np.random.default_rng(0).uniform(0, 1, (4, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(run_float(graph, {"input": x_nhwc})["p"], ref, atol=1e-6)
    for mode in ("fixed_point", "float32"):
        qgraph = quantize_graph(graph, {"input": x_nhwc}, PTQSettings(requant_mode=mode))
        out = execute_float(qgraph, {"input": x_nhwc})["p"]
        assert np.abs(out - ref).max() <= 2 * float(qgraph.tensors["p"].quant.scale[0]), mode
        if mode == "fixed_point":
            from tflite_builder import run_reference

            from accelsim.execute import execute
            from accelsim.graph.exporters.tflite import export_tflite
            from accelsim.graph.ptq import with_batch_size
            from accelsim.quant.params import quantize

            q = qgraph.tensors["p"].quant
            assert (float(q.scale[0]), int(q.zero_point[0])) == (1 / 256, -128)
            one = with_batch_size(qgraph, 1)
            x_t = one.tensors[one.inputs[0]]
            x_q = quantize(x_nhwc[:1], x_t.quant, x_t.dtype)
            (lite,) = run_reference(export_tflite(one), [x_q])
            assert np.array_equal(lite, execute(one, {"input": x_q})["p"])
