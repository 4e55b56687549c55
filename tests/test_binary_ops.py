"""Elementwise Add / Sub / Mul with broadcasting: bit-exact against LiteRT's reference kernels (BUILTIN_REF,
``fixed_point``) and onnxruntime (``float32``: com.microsoft QLinearAdd / QLinearMul run directly, and QDQ models
at onnxruntime's default optimization level), over inputs covering every pair of int8 / uint8 values; the cost
descriptors against closed forms; the YAML form; a torch squeeze-excitation block exported to ONNX."""
from __future__ import annotations

import math

import numpy as np
import pytest

from accelsim.execute import execute
from accelsim.graph import ops as O
from accelsim.graph.builder import GraphBuilder
from accelsim.quant.params import QuantParams

PT = QuantParams.per_tensor


def all_pairs(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """(1, 256, 1, 1) and (1, 1, 256, 1): broadcast together, every pair of the type's 256 values."""
    info = np.iinfo(dtype)
    v = np.arange(info.min, info.max + 1).astype(dtype)
    return v.reshape(1, 256, 1, 1), v.reshape(1, 1, 256, 1)


def assert_equal_ints(got: np.ndarray, ref: np.ndarray) -> int:
    assert got.shape == ref.shape and got.dtype == ref.dtype, (got.shape, got.dtype, ref.shape, ref.dtype)
    bad = int(np.count_nonzero(got != ref))
    assert bad == 0, f"{bad} of {ref.size} differ; max |diff| {np.abs(got.astype(int) - ref.astype(int)).max()}"
    assert np.unique(ref).size > min(ref.size // 4, 12), "degenerate reference output"
    return ref.size


# ------------------------------------------------------------------------------------------------- LiteRT
class TestLiteRT:
    @staticmethod
    def model(op: str, a_shape, b_shape, dtype: str, qa, qb, qy, activation: str = "NONE") -> bytes:
        from tflite_builder import ACT, S, TFLiteModel

        t = TFLiteModel()
        ta, tb = t.tensor("a", a_shape, dtype, *qa), t.tensor("b", b_shape, dtype, *qb)
        ty = t.tensor("y", np.broadcast_shapes(a_shape, b_shape), dtype, *qy)
        options = {"ADD": S.AddOptionsT, "SUB": S.SubOptionsT, "MUL": S.MulOptionsT}[op]()
        options.fusedActivationFunction = ACT[activation]
        version = {"ADD": 2, "SUB": 3, "MUL": 4}[op] if dtype == "int8" else 4
        t.op(op, [ta, tb], [ty], f"{op.title()}Options", options, version)
        return t.finish([ta, tb], [ty])

    @staticmethod
    def run(model: bytes, a: np.ndarray, b: np.ndarray) -> int:
        from tflite_builder import run_reference

        from accelsim.graph.importers.tflite import load_tflite

        feeds = [a] if b is None else [a, b]
        (ref,) = run_reference(model, feeds)
        graph = load_tflite(model)
        got = execute(graph, dict(zip(graph.inputs, feeds)))[graph.outputs[0]]
        return assert_equal_ints(got, ref)

    #: (S_a, Z_a), (S_b, Z_b), (S_y, Z_y) per op: scales with an output range the result fills
    SCALES = {"ADD": ((0.031, -5), (0.047, 12), (0.06, 3)), "SUB": ((0.031, -5), (0.047, 12), (0.07, -9)),
              "MUL": ((0.031, -5), (0.047, 12), (0.011, 3))}

    @pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
    @pytest.mark.parametrize("activation", ["NONE", "RELU"])
    def test_every_int8_pair(self, op, activation):
        pytest.importorskip("ai_edge_litert")
        a, b = all_pairs("int8")
        qa, qb, qy = self.SCALES[op]
        assert self.run(self.model(op, a.shape, b.shape, "int8", qa, qb, qy, activation), a, b) == 65536

    @pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
    @pytest.mark.parametrize("a_shape, b_shape", [
        ((2, 9, 9, 16), (2, 9, 9, 16)), ((2, 9, 9, 16), (2, 1, 1, 16)),   # squeeze-excitation gate
        ((1, 1, 1, 16), (2, 9, 9, 16)), ((4, 24), (1, 24))])
    def test_broadcast_shapes_random_int8(self, op, a_shape, b_shape):
        pytest.importorskip("ai_edge_litert")
        rng = np.random.default_rng(len(a_shape) * 7 + a_shape[-1] + sum(b_shape))
        a = rng.integers(-128, 128, a_shape).astype(np.int8)
        b = rng.integers(-128, 128, b_shape).astype(np.int8)
        qa, qb, qy = self.SCALES[op]
        assert self.run(self.model(op, a_shape, b_shape, "int8", qa, qb, qy), a, b) > 0

    @pytest.mark.parametrize("op, qy", [("ADD", (6e-4, 0)), ("SUB", (7e-4, 0)), ("MUL", (2e-5, 0))])
    @pytest.mark.parametrize("b_shape", [(2, 8, 8, 16), (2, 1, 1, 16)])
    def test_int16(self, op, qy, b_shape):
        """16x8: int16 activations, zero points 0 (the general-scale int16 path of add.cc / sub.cc / mul.cc; a
        broadcast int16 SUB runs reference_ops::BroadcastSubSlow, which agrees)."""
        pytest.importorskip("ai_edge_litert")
        rng = np.random.default_rng(3)
        a = rng.integers(-32768, 32768, (2, 8, 8, 16)).astype(np.int16)
        b = rng.integers(-32768, 32768, b_shape).astype(np.int16)
        model = self.model(op, a.shape, b.shape, "int16", (3.1e-4, 0), (4.7e-4, 0), qy)
        assert self.run(model, a, b) > 0


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
def test_litert_constant_operand(op):
    """A per-channel constant operand (as converters write for a Rescaling layer) is a constant IR input."""
    pytest.importorskip("ai_edge_litert")
    from tflite_builder import S, TFLiteModel

    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (2, 6, 6, 8)).astype(np.int8)
    c = rng.integers(-128, 128, (1, 1, 1, 8)).astype(np.int8)
    t = TFLiteModel()
    tx, tc = t.tensor("x", x.shape, "int8", 0.05, 3), t.tensor("c", c.shape, "int8", 0.02, -4, data=c)
    ty = t.tensor("y", x.shape, "int8", 0.01 if op == "MUL" else 0.08, 1)
    options = {"ADD": S.AddOptionsT, "SUB": S.SubOptionsT, "MUL": S.MulOptionsT}[op]()
    t.op(op, [tx, tc], [ty], f"{op.title()}Options", options, 2)
    assert TestLiteRT.run(t.finish([tx], [ty]), x, None) > 0


# ----------------------------------------------------------------------------------------------- onnxruntime
ORT_SCALES = [  # (S_a, S_b, S_y) for Add; Mul's S_y is S_a·S_b·40. The first two give exact .5 ties.
    (0.025, 0.0125, 0.05), (0.075, 0.0375, 0.05), (0.0173, 0.0411, 0.0629), (0.0901, 0.0066, 0.0521)]


def _ort_qlinear(op: str, dtype: str, a, b, sa, za, sb, zb, sy, zy) -> np.ndarray:
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    elem = {"uint8": TensorProto.UINT8, "int8": TensorProto.INT8}[dtype]
    st = np.dtype(dtype)
    node = helper.make_node(op, ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"], domain="com.microsoft")
    inits = [numpy_helper.from_array(np.array(v, t), n) for n, v, t in
             [("sa", sa, np.float32), ("za", za, st), ("sb", sb, np.float32), ("zb", zb, st),
              ("sy", sy, np.float32), ("zy", zy, st)]]
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("a", elem, a.shape),
                                            helper.make_tensor_value_info("b", elem, b.shape)],
                              [helper.make_tensor_value_info("y", elem, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"a": a, "b": b})[0]


def _nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
@pytest.mark.parametrize("op", ["QLinearAdd", "QLinearMul"])
@pytest.mark.parametrize("layout", ["general", "a_broadcast", "b_broadcast"])
def test_onnxruntime_qlinear_every_pair(dtype, op, layout):
    """Every pair of 8-bit values, with input a broadcast along the innermost (W) axis, b broadcast, or neither
    (both materialised): onnxruntime computes each case in a different float order (qladd_avx2.cpp)."""
    info = np.iinfo(dtype)
    v = np.arange(info.min, info.max + 1).astype(dtype)
    rows, cols = v.reshape(1, 1, 256, 1), v.reshape(1, 1, 1, 256)   # NCHW: varies along H / along W
    a, b = {"general": (np.broadcast_to(rows, (1, 1, 256, 256)).copy(), np.broadcast_to(cols, (1, 1, 256, 256)).copy()),
            "a_broadcast": (rows, cols), "b_broadcast": (cols, rows)}[layout]
    mid = 128 if dtype == "uint8" else 0
    rng = np.random.default_rng(11)
    compared = 0
    for sa, sb, sy in ORT_SCALES:
        za, zb, zy = (int(z) for z in rng.integers(mid - 50, mid + 50, 3))
        if op == "QLinearMul":
            sy = sa * sb * 40
        ref = _ort_qlinear(op, dtype, a, b, sa, za, sb, zb, sy, zy)
        builder = GraphBuilder("qlinear")
        ia = builder.input("a", _nhwc(a).shape, dtype, PT(sa, za))
        ib = builder.input("b", _nhwc(b).shape, dtype, PT(sb, zb))
        y = builder.op(O.Add() if op == "QLinearAdd" else O.Mul(), [ia, ib], dtype, PT(sy, zy), requant="float32")
        got = execute(builder.build([y]), {"a": _nhwc(a), "b": _nhwc(b)})[y]
        compared += assert_equal_ints(got, _nhwc(ref))
    assert compared == 4 * 65536


def _qdq_binary_model(kind: str, dtype: str, shapes, qparams):
    """float inputs -> Q -> DQ -> kind -> Q -> DQ: the QDQ form onnxruntime's quantizer writes."""
    from onnx import TensorProto, helper, numpy_helper

    st = np.dtype(dtype)
    nodes, inits, inputs = [], [], []
    for k, (shape, (s, z)) in enumerate(zip(shapes, qparams)):
        inputs.append(helper.make_tensor_value_info(f"x{k}", TensorProto.FLOAT, shape))
        inits += [numpy_helper.from_array(np.array(s, np.float32), f"s{k}"),
                  numpy_helper.from_array(np.array(z, st), f"z{k}")]
        nodes += [helper.make_node("QuantizeLinear", [f"x{k}", f"s{k}", f"z{k}"], [f"q{k}"]),
                  helper.make_node("DequantizeLinear", [f"q{k}", f"s{k}", f"z{k}"], [f"d{k}"])]
    s, z = qparams[-1]
    inits += [numpy_helper.from_array(np.array(s, np.float32), "so"), numpy_helper.from_array(np.array(z, st), "zo")]
    nodes += [helper.make_node(kind, ["d0", "d1"], ["f"]),
              helper.make_node("QuantizeLinear", ["f", "so", "zo"], ["qo"]),
              helper.make_node("DequantizeLinear", ["qo", "so", "zo"], ["y"])]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(np.broadcast_shapes(*shapes)))
    model = helper.make_model(helper.make_graph(nodes, "qdq", inputs, [out], inits),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
@pytest.mark.parametrize("kind", ["Add", "Sub", "Mul"])
@pytest.mark.parametrize("b_shape", [(2, 16, 9, 9), (2, 16, 1, 1)])
def test_onnxruntime_qdq_models_import_bit_exact(tmp_path, dtype, kind, b_shape):
    """QDQ Add / Mul (fused by onnxruntime into QLinearAdd / QLinearMul; int8 run as uint8 on x86-64) and Sub
    (DequantizeLinear -> float Sub -> QuantizeLinear), imported and compared at onnxruntime's default level."""
    ort = pytest.importorskip("onnxruntime")
    from accelsim.graph.importers.onnx import load_onnx

    mid = 128 if dtype == "uint8" else 0
    shapes = [(2, 16, 9, 9), b_shape]
    qparams = [(0.03, mid + 3), (0.05, mid - 7), (0.06 if kind != "Mul" else 0.02, mid + 1)]
    model = _qdq_binary_model(kind, dtype, shapes, qparams)
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    rng = np.random.default_rng(5)
    info = np.iinfo(dtype)
    q = [rng.integers(info.min, info.max + 1, s) for s in shapes]
    feeds = {f"x{k}": ((q[k] - z) * np.float32(s)).astype(np.float32) for k, (s, z) in enumerate(qparams[:2])}
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    (y,) = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(None, feeds)
    s, z = qparams[-1]
    ref = (np.rint(y / np.float32(s)).astype(np.int64) + z).astype(dtype)
    graph = load_onnx(path)
    got = execute(graph, {graph.inputs[k]: _nhwc(q[k].astype(dtype)) for k in range(2)})[graph.outputs[0]]
    assert_equal_ints(got, _nhwc(ref))


# ------------------------------------------------------------------------------------------------ costs
def test_requant_counts_closed_form():
    """Scale-unit rescales per output: Sub like Add (both inputs and the sum), Mul one (the product)."""
    from accelsim.hw.layer import LayerShape
    from accelsim.hw.scale_unit import requant_ops

    outputs = 8 * 8 * 24
    for kind, per_output in (("Add", 3), ("Sub", 3), ("Mul", 1)):
        layer = LayerShape(1, 8, 8, 24, 8, 8, 24, num_inputs=2, name=kind.lower(), kind=kind)
        assert requant_ops(layer) == per_output * outputs


def test_simd_counts_closed_form():
    """SIMD: per output vector two loads (one per input), one ALU op (add / sub / multiply), one store."""
    from accelsim.hw.layer import LayerShape
    from accelsim.hw.simd import InstructionCounts, alu_counts

    for kind in ("Sub", "Mul"):
        layer = LayerShape(1, 8, 8, 64, 8, 8, 64, num_inputs=2, name="m", kind=kind)
        vectors = math.ceil(8 * 8 * 64 / (1024 // 8))
        assert alu_counts(layer, 1024)[0] == InstructionCounts(loads=2 * vectors, alu=vectors, stores=vectors)


def test_broadcast_extents_follow_the_output():
    """A squeeze-excitation Mul (N,1,1,C) x (N,H,W,C) is one pass over the (N,H,W,C) output."""
    b = GraphBuilder("se")
    gate = b.input("g", (1, 1, 1, 32), "float32", None)
    x = b.input("x", (1, 14, 14, 32), "float32", None)
    y = b.op(O.Mul(), [gate, x], "float32", None)
    graph = b.build([y])
    extents = O.op_def("Mul").cost.extents(graph, graph.nodes[0])
    assert (extents.in_h, extents.in_w, extents.in_channels) == (14, 14, 32)
    assert graph.tensors[y].shape == (1, 14, 14, 32)


def test_shapes_that_do_not_broadcast_are_refused():
    b = GraphBuilder("bad")
    a = b.input("a", (1, 4, 4, 8), "float32", None)
    c = b.input("c", (1, 4, 4, 3), "float32", None)
    with pytest.raises(ValueError, match="do not broadcast"):
        b.op(O.Sub(), [a, c], "float32", None)


def test_float_references():
    a = np.array([[1.0, -2.0], [3.0, 0.5]])
    g = np.array([[2.0, 4.0]])
    np.testing.assert_array_equal(O.op_def("Mul").float_ref(O.Mul(), [a, g]), [[2.0, -8.0], [6.0, 2.0]])
    np.testing.assert_array_equal(O.op_def("Sub").float_ref(O.Sub("RELU"), [a, g]), [[0.0, 0.0], [1.0, 0.0]])


def test_yaml_layers_round_trip():
    from accelsim.workloads.export_yaml import graph_to_spec
    from accelsim.workloads.yaml_format import build_graph, parse_workload

    data = {"name": "se", "input_shape": [1, 8, 8, 16], "layers": [
        {"name": "c1", "op": "conv", "out_channels": 16, "kernel": 3},
        {"name": "pool", "op": "gap", "inputs": ["c1"]},
        {"name": "gate", "op": "sub", "inputs": ["pool", "pool"]},
        {"name": "scaled", "op": "mul", "inputs": ["gate", "c1"]},
        {"name": "out", "op": "add", "inputs": ["scaled", "c1"], "activation": "relu"}]}
    graph = build_graph(parse_workload(data, "se.yaml"))
    kinds = [n.kind for n in graph.nodes]
    assert kinds[-3:] == ["Sub", "Mul", "Add"] and graph.nodes[-1].op.activation == "RELU"
    assert graph.tensors[graph.nodes[-2].outputs[0]].shape == (1, 8, 8, 16)
    again = build_graph(graph_to_spec(graph))
    assert [n.kind for n in again.nodes] == kinds


# ---------------------------------------------------------------------------------- torch squeeze-excitation
def test_torch_squeeze_excitation_block_imports_quantizes_and_executes(tmp_path):
    """GAP -> 1x1 conv -> ReLU -> 1x1 conv -> ReLU6 gate -> Mul with the feature map (the SE block of
    MobileNet-v3 / EfficientNet with a ReLU6 gate), exported by torch to ONNX: the float import equals torch, and
    the int8 engine's output stays within a few output LSB of torch (``fixed_point`` and ``float32`` modes)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import warnings

    from torch import nn

    from accelsim.execute import execute_float
    from accelsim.graph.float_exec import run_float
    from accelsim.graph.importers.onnx import load_onnx
    from accelsim.graph.ptq import PTQSettings, quantize_graph

    class SE(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU())
            self.squeeze = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(16, 4, 1), nn.ReLU(),
                                         nn.Conv2d(4, 16, 1), nn.ReLU6())
            self.head = nn.Linear(16, 10)

        def forward(self, x):
            h = self.stem(x)
            h = h * self.squeeze(h)
            return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1))

    torch.manual_seed(0)
    model = SE().eval()
    path = tmp_path / "se.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, 12, 12),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"])
    x = np.random.default_rng(0).uniform(0, 1, (8, 3, 12, 12)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    fgraph = load_onnx(path, batch_size=8)
    assert "Mul" in [n.kind for n in fgraph.nodes]
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(run_float(fgraph, {"input": x_nhwc})["logits"], ref, rtol=1e-5,
                               atol=1e-5 * np.abs(ref).max())
    for mode in ("fixed_point", "float32"):
        qgraph = quantize_graph(fgraph, {"input": x_nhwc}, PTQSettings(requant_mode=mode))
        out = execute_float(qgraph, {"input": x_nhwc})["logits"]
        s_out = float(qgraph.tensors["logits"].quant.scale[0])
        assert np.abs(out - ref).max() <= 6 * s_out, (mode, np.abs(out - ref).max() / s_out)


def test_onnxruntime_qoperator_qlinearmul_model_imports_bit_exact(tmp_path):
    """A QOperator squeeze-excitation product as onnxruntime's quantizer writes it: QuantizeLinear of both float
    inputs, com.microsoft QLinearMul of (N, C, H, W) by (N, C, 1, 1), DequantizeLinear; imported and compared."""
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    from accelsim.graph.importers.onnx import load_onnx

    shapes = [(2, 16, 7, 7), (2, 16, 1, 1)]
    q = [(0.05, 121), (0.02, 3), (0.03, 110)]
    inits = []
    for name, (s, z) in zip(("a", "b", "y"), q):
        inits += [numpy_helper.from_array(np.array(s, np.float32), f"{name}_s"),
                  numpy_helper.from_array(np.array(z, np.uint8), f"{name}_z")]
    nodes = [helper.make_node("QuantizeLinear", ["a", "a_s", "a_z"], ["qa"]),
             helper.make_node("QuantizeLinear", ["b", "b_s", "b_z"], ["qb"]),
             helper.make_node("QLinearMul", ["qa", "a_s", "a_z", "qb", "b_s", "b_z", "y_s", "y_z"], ["qy"],
                              domain="com.microsoft"),
             helper.make_node("DequantizeLinear", ["qy", "y_s", "y_z"], ["y"])]
    graph = helper.make_graph(nodes, "se", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
                                            for n, s in zip("ab", shapes)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shapes[0]))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    path = tmp_path / "se.onnx"
    path.write_bytes(model.SerializeToString())
    rng = np.random.default_rng(2)
    ints = [rng.integers(0, 256, s) for s in shapes]
    feeds = {n: ((i - z) * np.float32(s)).astype(np.float32) for n, i, (s, z) in zip("ab", ints, q)}
    (y,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    ref = (np.rint(y / np.float32(q[2][0])).astype(np.int64) + q[2][1]).astype(np.uint8)
    imported = load_onnx(path)
    assert [n.kind for n in imported.nodes] == ["Mul"]
    got = execute(imported, {imported.inputs[k]: _nhwc(ints[k].astype(np.uint8)) for k in range(2)})
    assert_equal_ints(got[imported.outputs[0]], _nhwc(ref))


# --------------------------------------------------------------------------- constant operands (x * c, x / c)
def _constant_operand_model(tmp_path, divide: bool):
    """Conv -> ReLU -> (y * per-channel gain + 1) then / 4 (``divide``) or * 0.25, exported by torch."""
    torch = pytest.importorskip("torch")
    import warnings

    from torch import nn

    class Gain(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.register_buffer("gain", torch.linspace(0.5, 2.0, 8).view(8, 1, 1))

        def forward(self, x):
            y = (torch.relu(self.conv(x)) * self.gain + 1.0)
            return y / 4.0 if divide else y * 0.25

    torch.manual_seed(0)
    model = Gain().eval()
    path = tmp_path / f"gain_{divide}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, 8, 8),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["y"])
    x = np.random.default_rng(0).uniform(0, 1, (4, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    return path, x, ref


def test_float_model_with_constant_operands_and_div_quantizes(tmp_path):
    """A float model's Mul / Add by constants (a per-channel (C, 1, 1) gain, scalars) and Div by a constant (a Mul
    by the float32 reciprocal) import; the float reference equals torch within float32 rounding; PTQ quantizes the
    constants (8-bit per tensor) and the int8 engine stays within 2 output LSB of torch in both modes."""
    from accelsim.execute import execute_float
    from accelsim.graph.float_exec import run_float
    from accelsim.graph.importers.onnx import load_onnx
    from accelsim.graph.ptq import PTQSettings, quantize_graph

    path, x, ref = _constant_operand_model(tmp_path, divide=True)
    graph = load_onnx(path, batch_size=len(x))
    assert [n.kind for n in graph.nodes] == ["Conv2D", "Mul", "Add", "Mul"]
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    ref_nhwc = ref.transpose(0, 2, 3, 1)
    np.testing.assert_allclose(run_float(graph, {"input": x_nhwc})["y"], ref_nhwc, rtol=1e-6, atol=1e-6)
    for mode in ("fixed_point", "float32"):
        q = quantize_graph(graph, {"input": x_nhwc}, PTQSettings(requant_mode=mode))
        assert all(q.tensors[i].dtype == "int8" for n in q.nodes for i in n.inputs if q.tensors[i].is_constant
                   and n.kind == "Mul")
        out = execute_float(q, {"input": x_nhwc})["y"]
        assert np.abs(out - ref_nhwc).max() <= 2 * float(q.tensors["y"].quant.scale[0]), mode


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
@pytest.mark.parametrize("act", ["uint8", "int8"])
def test_quantize_static_constant_operands_equal_onnxruntime(tmp_path, fmt, act):
    """onnxruntime's ``quantize_static`` of the same model (with * 0.25): the constants become QuantizeLinear'd
    Constant nodes (folded with onnxruntime's QuantizeLinear arithmetic) read by Mul / Add (QDQ) or QLinearMul /
    QLinearAdd (QOperator); every output integer equals onnxruntime's."""
    ort = pytest.importorskip("onnxruntime")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from accelsim.execute import execute
    from accelsim.graph.importers.onnx import load_onnx
    from accelsim.quant.params import quantize

    path, x, _ = _constant_operand_model(tmp_path, divide=False)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": x[i:i + 1]} for i in range(len(x))])

        def get_next(self):
            return next(self.it, None)

    qpath = tmp_path / f"gain_{fmt}_{act}.onnx"
    quantize_static(str(path), str(qpath), Reader(), quant_format=getattr(QuantFormat, fmt),
                    activation_type=QuantType.QUInt8 if act == "uint8" else QuantType.QInt8,
                    weight_type=QuantType.QInt8)
    sess = ort.InferenceSession(str(qpath), providers=["CPUExecutionProvider"])
    graph = load_onnx(qpath)
    x_t = graph.tensors[graph.inputs[0]]
    for i in range(len(x)):
        want = sess.run(None, {"input": x[i:i + 1]})[0]
        x_q = quantize(np.ascontiguousarray(x[i:i + 1].transpose(0, 2, 3, 1)), x_t.quant, x_t.dtype,
                       rounding="half_to_even")
        got = execute(graph, {graph.inputs[0]: x_q})[graph.outputs[0]]
        y_t = graph.tensors[graph.outputs[0]]
        want_q = quantize(want.transpose(0, 2, 3, 1), y_t.quant, y_t.dtype, rounding="half_to_even")
        assert np.array_equal(got, want_q)
