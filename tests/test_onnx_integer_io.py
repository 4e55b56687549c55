"""Integer graph inputs / outputs of ONNX models, ConvInteger / MatMulInteger (int32 outputs), batched
QLinearMatMul, dynamic batch and lenient loading, checked integer for integer against onnxruntime (CPU provider,
default optimization level) over random inputs and inputs covering the whole uint8 / int8 range."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from accelsim.errors import ModelWarning, UnsupportedError
from accelsim.execute import execute
from accelsim.graph.importers.onnx import import_model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ELEM = {"uint8": TensorProto.UINT8, "int8": TensorProto.INT8, "int32": TensorProto.INT32}
RANGE = {"uint8": (0, 255), "int8": (-128, 127)}


def make_model(nodes, inputs, outputs, initializers, opset=21):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10
    return model


def run_ort(model, feeds):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def integer_inputs(rng, dtype, shape):
    """Random integers, then a second batch entry that sweeps the whole range of ``dtype``."""
    lo, hi = RANGE[dtype]
    x = rng.integers(lo, hi + 1, size=shape)
    sweep = np.resize(np.arange(lo, hi + 1), int(np.prod(shape[1:]))).reshape(shape[1:])
    x[-1] = sweep
    return x.astype(dtype)


def to_nhwc(x):
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


def to_nchw(x):
    return x.transpose(0, 3, 1, 2) if x.ndim == 4 else x


@pytest.mark.parametrize("x_dtype, w_dtype, per_channel_zp, pads, groups", [
    ("uint8", "uint8", False, (1, 1, 1, 1), 1),
    ("uint8", "int8", True, (0, 1, 1, 0), 1),
    ("uint8", "uint8", False, (1, 1, 1, 1), 2),
    ("uint8", "uint8", True, (2, 0, 0, 1), 1),
    ("int8", "int8", False, (1, 1, 1, 1), 1),
])
def test_conv_integer_equals_onnxruntime(x_dtype, w_dtype, per_channel_zp, pads, groups):
    rng = np.random.default_rng(1)
    c_in, c_out = 8, 6
    x = integer_inputs(rng, x_dtype, (2, c_in, 9, 10))
    lo, hi = RANGE[w_dtype]
    w = rng.integers(lo, hi + 1, size=(c_out, c_in // groups, 3, 3)).astype(w_dtype)
    w_zp = (rng.integers(lo, hi + 1, size=c_out) if per_channel_zp else np.array(rng.integers(lo, hi + 1)))
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array(77, x_dtype), "x_zp"),
             numpy_helper.from_array(w_zp.astype(w_dtype), "w_zp")]
    node = helper.make_node("ConvInteger", ["x", "w", "x_zp", "w_zp"], ["y"], pads=list(pads), group=groups,
                            strides=[2, 1])
    model = make_model([node], [helper.make_tensor_value_info("x", ELEM[x_dtype], list(x.shape))],
                       [helper.make_tensor_value_info("y", TensorProto.INT32, None)], inits)
    golden = run_ort(model, {"x": x}) if not per_channel_zp else per_channel_golden(model, x, w, w_zp)
    graph = import_model(model, "conv_integer.onnx")
    assert graph.tensors["y"].dtype == "int32"
    assert graph.metadata["interface"] == {"inputs": {"x": x_dtype}, "outputs": {"y": "int32"}}
    y = to_nchw(execute(graph, {"x": to_nhwc(x)}).outputs["y"])
    assert y.shape == golden.shape
    assert int(np.count_nonzero(y.astype(np.int64) != golden)) == 0


def per_channel_golden(model, x, w, w_zp):
    """onnxruntime's ConvInteger takes one weight zero point only: run it once per output channel (each with that
    channel's filter and zero point) and stack the channels."""
    outs = []
    for o in range(w.shape[0]):
        m = onnx.ModelProto()
        m.CopyFrom(model)
        for t in m.graph.initializer:
            if t.name == "w":
                t.CopyFrom(numpy_helper.from_array(w[o:o + 1], "w"))
            if t.name == "w_zp":
                t.CopyFrom(numpy_helper.from_array(np.array(w_zp[o]).astype(w.dtype), "w_zp"))
        outs.append(run_ort(m, {"x": x}))
    return np.concatenate(outs, axis=1)


@pytest.mark.parametrize("a_dtype, b_dtype, a_shape, per_column_zp", [
    ("uint8", "int8", (5, 16), False),
    ("uint8", "uint8", (5, 16), True),
    ("int8", "int8", (3, 4, 16), True),
])
def test_matmul_integer_equals_onnxruntime(a_dtype, b_dtype, a_shape, per_column_zp):
    rng = np.random.default_rng(2)
    a = integer_inputs(rng, a_dtype, a_shape)
    lo, hi = RANGE[b_dtype]
    b = rng.integers(lo, hi + 1, size=(16, 7)).astype(b_dtype)
    b_zp = rng.integers(lo, hi + 1, size=7 if per_column_zp else 1).astype(b_dtype)
    inits = [numpy_helper.from_array(b, "b"), numpy_helper.from_array(np.array(3, a_dtype), "a_zp"),
             numpy_helper.from_array(b_zp, "b_zp")]
    node = helper.make_node("MatMulInteger", ["a", "b", "a_zp", "b_zp"], ["y"])
    model = make_model([node], [helper.make_tensor_value_info("a", ELEM[a_dtype], list(a.shape))],
                       [helper.make_tensor_value_info("y", TensorProto.INT32, None)], inits)
    golden = run_ort(model, {"a": a})
    graph = import_model(model, "matmul_integer.onnx")
    y = execute(graph, {"a": a}).outputs["y"]
    assert y.shape == golden.shape
    assert int(np.count_nonzero(y.astype(np.int64) != golden)) == 0


def qlinear_matmul_model(dtype, a_shape, b, b_scale, b_zp):
    scal = lambda name, v, t: numpy_helper.from_array(np.array(v, t), name)  # noqa: E731
    inits = [scal("a_s", 0.02, np.float32), scal("a_z", 5, dtype), numpy_helper.from_array(b, "b"),
             numpy_helper.from_array(np.asarray(b_scale, np.float32), "b_s"),
             numpy_helper.from_array(np.asarray(b_zp).astype(dtype), "b_z"), scal("y_s", 0.37, np.float32),
             scal("y_z", -3 if dtype == "int8" else 120, dtype)]
    node = helper.make_node("QLinearMatMul", ["a", "a_s", "a_z", "b", "b_s", "b_z", "y_s", "y_z"], ["y"])
    return make_model([node], [helper.make_tensor_value_info("a", ELEM[dtype], list(a_shape))],
                      [helper.make_tensor_value_info("y", ELEM[dtype], None)], inits)


@pytest.mark.parametrize("dtype, b_batched", [("uint8", False), ("int8", False), ("int8", True)])
def test_batched_qlinear_matmul_equals_onnxruntime(dtype, b_batched):
    rng = np.random.default_rng(3)
    a = integer_inputs(rng, dtype, (3, 6, 32))
    lo, hi = RANGE[dtype]
    b = rng.integers(lo, hi + 1, size=(32, 10)).astype(dtype)
    if b_batched:  # a 3-D B shared by every batch (numpy broadcasting of equal matrices)
        b = np.stack([b] * 3)
    model = qlinear_matmul_model(dtype, a.shape, b, 0.011, 7)
    golden = run_ort(model, {"a": a})
    graph = import_model(model, "batched.onnx")
    y = execute(graph, {"a": a}).outputs["y"]
    assert y.shape == golden.shape == (3, 6, 10)
    assert int(np.count_nonzero(y.astype(np.int64) != golden)) == 0


def test_activation_by_activation_matmul_is_refused_by_name():
    dtype = "int8"
    model = qlinear_matmul_model(dtype, (4, 8), np.zeros((8, 3), np.int8), 0.1, 0)
    model.graph.initializer.remove(next(t for t in model.graph.initializer if t.name == "b"))
    model.graph.input.append(helper.make_tensor_value_info("b", TensorProto.INT8, [8, 3]))
    with pytest.raises(UnsupportedError, match=r"QLinearMatMul.*B is not a constant.*nearest supported"):
        import_model(model, "attention.onnx")


def test_per_batch_b_is_refused_by_name():
    b = np.stack([np.zeros((8, 3), np.int8), np.ones((8, 3), np.int8)])
    with pytest.raises(UnsupportedError, match="different matrices per batch"):
        import_model(qlinear_matmul_model("int8", (2, 4, 8), b, 0.1, 0), "per_batch.onnx")


def qlinear_conv_model(batch_dim):
    """uint8 in, QLinearConv, MaxPool, uint8 out: a QOperator model without any QuantizeLinear."""
    rng = np.random.default_rng(4)
    w = rng.integers(-127, 128, size=(4, 3, 3, 3)).astype(np.int8)
    scal = lambda name, v, t: numpy_helper.from_array(np.array(v, t), name)  # noqa: E731
    inits = [scal("x_s", 0.05, np.float32), scal("x_z", 128, np.uint8), numpy_helper.from_array(w, "w"),
             numpy_helper.from_array(rng.uniform(0.001, 0.01, 4).astype(np.float32), "w_s"),
             numpy_helper.from_array(np.zeros(4, np.int8), "w_z"), scal("y_s", 0.3, np.float32),
             scal("y_z", 10, np.uint8),
             numpy_helper.from_array(rng.integers(-2000, 2000, 4).astype(np.int32), "bias")]
    conv = helper.make_node("QLinearConv", ["x", "x_s", "x_z", "w", "w_s", "w_z", "y_s", "y_z", "bias"], ["c"],
                            pads=[1, 1, 1, 1])
    pool = helper.make_node("MaxPool", ["c"], ["y"], kernel_shape=[2, 2], strides=[2, 2])
    return make_model([conv, pool], [helper.make_tensor_value_info("x", TensorProto.UINT8, [batch_dim, 3, 8, 8])],
                      [helper.make_tensor_value_info("y", TensorProto.UINT8, [batch_dim, 4, 4, 4])], inits)


def test_integer_io_qoperator_model_equals_onnxruntime():
    model = qlinear_conv_model(2)
    x = integer_inputs(np.random.default_rng(5), "uint8", (2, 3, 8, 8))
    golden = run_ort(model, {"x": x})
    graph = import_model(model, "qconv.onnx")
    xin = graph.tensors["x"]
    assert (xin.dtype, float(xin.quant.scale[0]), int(xin.quant.zero_point[0])) == ("uint8", np.float32(0.05), 128)
    assert graph.metadata["interface"] == {"inputs": {"x": "uint8"}, "outputs": {"y": "uint8"}}
    y = to_nchw(execute(graph, {"x": to_nhwc(x)}).outputs["y"])
    assert int(np.count_nonzero(y != golden)) == 0


@pytest.mark.parametrize("batch_dim", ["N", -1, 0])
def test_dynamic_batch_gets_batch_one_with_a_note(batch_dim):
    model = qlinear_conv_model(batch_dim if batch_dim != -1 else "N")
    if batch_dim == -1:  # a -1 written into the dim (not valid ONNX, but seen in the wild)
        model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = -1
    with pytest.warns(ModelWarning, match=r"dynamic batch dimension.*batch 1"):
        graph = import_model(model, "dyn.onnx")
    assert graph.tensors["x"].shape == (1, 8, 8, 3)
    assert "x" in graph.metadata["dynamic_batch"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert import_model(model, "dyn.onnx", batch_size=4).tensors["x"].shape == (4, 8, 8, 3)


def test_output_without_type_or_shape_imports_with_a_warning(tmp_path):
    """onnxruntime runs a model whose output value_info has no type; the ONNX checker rejects it."""
    model = qlinear_conv_model(1)
    del model.graph.output[:]
    y = onnx.ValueInfoProto()
    y.name = "y"
    model.graph.output.append(y)
    x = integer_inputs(np.random.default_rng(6), "uint8", (1, 3, 8, 8))
    golden = run_ort(model, {"x": x})
    path = tmp_path / "untyped.onnx"
    onnx.save(model, path)
    from accelsim.graph.importers.onnx import load_onnx

    with pytest.warns(ModelWarning) as record:
        graph = load_onnx(path)
    messages = " ".join(str(r.message) for r in record)
    assert "checker rejects" in messages and "'y' declares no complete shape; inferred [1, 4, 4, 4]" in messages
    assert graph.metadata["inferred_output_shapes"] == {"y": (1, 4, 4, 4)}
    out = to_nchw(execute(graph, {"x": to_nhwc(x)}).outputs["y"])
    assert int(np.count_nonzero(out != golden)) == 0


def test_integer_input_without_a_reader_is_refused():
    model = qlinear_conv_model(1)
    model.graph.input.append(helper.make_tensor_value_info("z", TensorProto.UINT8, [1, 4]))
    with pytest.raises(UnsupportedError, match="'z' is an integer input.*scale and zero point are unknown"):
        import_model(model, "orphan.onnx")


def test_int32_output_is_simulated_at_four_bytes_per_element():
    """A ConvInteger graph simulates; its int32 graph output is written to DRAM at 4 bytes per element
    (closed form: N·OH·OW·O·4)."""
    from accelsim.simulate import simulate

    rng = np.random.default_rng(7)
    w = rng.integers(0, 256, (16, 8, 3, 3)).astype(np.uint8)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array(3, np.uint8), "xz"),
             numpy_helper.from_array(np.array(7, np.uint8), "wz")]
    node = helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], pads=[1, 1, 1, 1])
    model = make_model([node], [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 8, 32, 32])],
                       [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 16, 32, 32])], inits)
    report = simulate(import_model(model, "ci.onnx"), "hw_configs/tpu_v1.yaml")
    assert report.totals["macs"] == 32 * 32 * 16 * 8 * 9
    assert report.totals["dram_write_bytes"] == 1 * 32 * 32 * 16 * 4


@pytest.mark.parametrize("op_type", ["MatMulInteger", "ConvInteger"])
def test_integer_ops_without_zero_points_equal_onnxruntime(op_type):
    """The zero-point inputs are optional (0 when absent)."""
    rng = np.random.default_rng(8)
    if op_type == "MatMulInteger":
        x = integer_inputs(rng, "uint8", (6, 20))
        w = rng.integers(0, 256, (20, 9)).astype(np.uint8)
    else:
        x = integer_inputs(rng, "uint8", (1, 5, 7, 7))
        w = rng.integers(0, 256, (3, 5, 2, 2)).astype(np.uint8)
    node = helper.make_node(op_type, ["x", "w"], ["y"])
    model = make_model([node], [helper.make_tensor_value_info("x", TensorProto.UINT8, list(x.shape))],
                       [helper.make_tensor_value_info("y", TensorProto.INT32, None)], [numpy_helper.from_array(w, "w")])
    golden = run_ort(model, {"x": x})
    graph = import_model(model, "nozp.onnx")
    y = to_nchw(execute(graph, {"x": to_nhwc(x)}).outputs["y"])
    assert y.shape == golden.shape and int(np.count_nonzero(y.astype(np.int64) != golden)) == 0


def test_nhwc_interface_through_layout_transposes_equals_onnxruntime():
    """uint8 NHWC input -> Transpose(0,3,1,2) -> QLinearConv -> MaxPool -> Transpose(0,2,3,1) -> NHWC output
    (tf2onnx's and accelsim's own layout): the Transposes become aliases, the IR interface is the declared NHWC."""
    model = qlinear_conv_model(2)
    g = model.graph
    g.node[0].input[0] = "x_nchw"
    g.node[1].output[0] = "y_nchw"
    g.node.insert(0, helper.make_node("Transpose", ["x"], ["x_nchw"], perm=[0, 3, 1, 2]))
    g.node.append(helper.make_node("Transpose", ["y_nchw"], ["y"], perm=[0, 2, 3, 1]))
    del g.input[:], g.output[:]
    g.input.append(helper.make_tensor_value_info("x", TensorProto.UINT8, [2, 8, 8, 3]))
    g.output.append(helper.make_tensor_value_info("y", TensorProto.UINT8, [2, 4, 4, 4]))
    x = integer_inputs(np.random.default_rng(9), "uint8", (2, 8, 8, 3))
    golden = run_ort(model, {"x": x})
    graph = import_model(model, "nhwc.onnx")
    assert [n.kind for n in graph.nodes] == ["Conv2D", "MaxPool"]
    assert graph.tensors["x"].shape == (2, 8, 8, 3) and graph.tensors["y"].shape == (2, 4, 4, 4)
    y = execute(graph, {"x": x}).outputs["y"]
    assert int(np.count_nonzero(y != golden)) == 0
