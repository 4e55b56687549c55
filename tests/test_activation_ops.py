"""Activation ops (HardSwish, HardSigmoid, Sigmoid, Tanh, LeakyReLU, PReLU): cost closed forms on the SIMD and
scale-unit models, float references, the workload YAML form, PTQ, the exporters' round trips, and bit-exactness
against onnxruntime (its com.microsoft QLinearSigmoid / QLinearLeakyRelu tables and DequantizeLinear → float op →
QuantizeLinear, uint8 and int8, every input code, several scales). LiteRT goldens: tests/test_activation_litert.py.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from accelsim.config.hw import load_hw
from accelsim.errors import UnsupportedError
from accelsim.execute import execute
from accelsim.graph import ops as O
from accelsim.graph.builder import GraphBuilder
from accelsim.graph.exporters.tflite import export_tflite
from accelsim.graph.importers.tflite import load_tflite
from accelsim.graph.ir import Graph
from accelsim.graph.synthetic import synthesize_weights
from accelsim.hw.layer import LayerShape
from accelsim.hw.scale_unit import requant_ops
from accelsim.hw.simd import alu_counts, element_lanes
from accelsim.mapping.assign import element_ops
from accelsim.quant.params import QuantParams, dtype_info
from accelsim.simulate import simulate
from accelsim.workloads.yaml_format import build_graph, parse_workload

HW = Path(__file__).resolve().parents[1] / "hw_configs"
KINDS = ("HardSwish", "HardSigmoid", "Sigmoid", "Tanh", "LeakyReLU", "PReLU")


def _layer(kind: str, bits: int = 8) -> LayerShape:
    return LayerShape(2, 7, 7, 96, 7, 7, 96, name="a", kind=kind, activation_bits=bits, output_bits=bits)


# ------------------------------------------------------------------------------------------------ costs
@pytest.mark.parametrize("kind", ["HardSwish", "HardSigmoid", "Sigmoid", "Tanh"])
def test_lut_ops_cost_one_lookup_per_output_and_eight_vlut32_per_vector(kind):
    """8-bit: a 256-entry table per output, 256/32 = 8 HVX vlut32 instructions per 128-byte output vector, the
    requantization folded into the table (no scale-unit work)."""
    layer = _layer(kind)
    outputs = 2 * 7 * 7 * 96
    assert element_ops(layer) == outputs
    assert requant_ops(layer) == 0 and not layer.needs_requant
    counts, tiles = alu_counts(layer, 1024)
    vectors = math.ceil(outputs / 128)
    assert counts.loads == vectors and counts.stores == vectors and counts.alu == 8 * vectors and tiles == 14


@pytest.mark.parametrize("kind, ops", [("HardSwish", 12), ("Sigmoid", 12), ("Tanh", 12), ("HardSigmoid", 8)])
def test_lut_ops_on_16_bits_cost_the_reference_arithmetic(kind, ops):
    layer = _layer(kind, 16)
    outputs = 2 * 7 * 7 * 96
    assert element_ops(layer) == ops * outputs
    counts, _ = alu_counts(layer, 1024)
    assert counts.alu == ops * math.ceil(outputs / element_lanes(1024, 16))


@pytest.mark.parametrize("kind, ops", [("LeakyReLU", 6), ("PReLU", 8)])
def test_two_multiplier_ops_rescale_once_per_output(kind, ops):
    """LEAKY_RELU / PRELU rescale each output with one of two multipliers (by the input's sign): one scale-unit
    operation per output, plus the sign select and clamps on the vector ALU."""
    layer = _layer(kind)
    outputs = 2 * 7 * 7 * 96
    assert requant_ops(layer) == outputs and layer.needs_requant
    assert element_ops(layer) == ops * outputs
    counts, _ = alu_counts(layer, 1024)
    assert counts.alu == ops * math.ceil(outputs / 128)


def test_scale_unit_cycles_of_leaky_relu_closed_form():
    """On a dedicated scale unit the rescales take ceil(outputs / lanes) + pipeline latency cycles."""
    from accelsim.hw.scale_unit import scale_unit_cycles
    outputs = 2 * 7 * 7 * 96
    assert scale_unit_cycles(requant_ops(_layer("LeakyReLU")), 32, 4) == math.ceil(outputs / 32) + 4
    assert scale_unit_cycles(requant_ops(_layer("Sigmoid")), 32, 4) == 0


# ----------------------------------------------------------------------------------------- float references
def test_float_references_closed_forms():
    x = np.linspace(-8, 8, 161)
    ref = lambda kind, op, *more: O.op_def(kind).float_ref(op, [x, *more])  # noqa: E731
    np.testing.assert_allclose(ref("HardSwish", O.HardSwish()), x * np.minimum(np.maximum(x + 3, 0), 6) / 6)
    a = float(np.float32(0.2))  # attributes are held at float32 precision, as ONNX and TFLite store them
    np.testing.assert_allclose(ref("HardSigmoid", O.HardSigmoid(0.2, 0.5)), np.minimum(np.maximum(a * x + 0.5, 0), 1))
    np.testing.assert_allclose(ref("Sigmoid", O.Sigmoid()), [1 / (1 + math.exp(-v)) for v in x])
    np.testing.assert_allclose(ref("Tanh", O.Tanh()), [math.tanh(v) for v in x])
    a = float(np.float32(0.1))
    np.testing.assert_allclose(ref("LeakyReLU", O.LeakyReLU(0.1)), [v if v >= 0 else a * v for v in x])
    x2 = x.reshape(-1, 1) * np.ones((1, 3))
    got = O.op_def("PReLU").float_ref(O.PReLU(), [x2, np.array([0.1, 0.2, 0.3])])
    np.testing.assert_allclose(got, np.where(x2 >= 0, x2, x2 * np.array([0.1, 0.2, 0.3])))


# ----------------------------------------------------------------------------------------------- YAML
WORKLOAD = {
    "name": "act", "input_shape": [1, 12, 12, 8],
    "layers": [
        {"name": "c1", "op": "conv", "out_channels": 16, "kernel": 3},
        {"name": "hs", "op": "hardswish"},
        {"name": "hsig", "op": "hardsigmoid", "alpha": 0.2},
        {"name": "c2", "op": "conv", "out_channels": 16, "kernel": 1},
        {"name": "sg", "op": "sigmoid"},
        {"name": "c3", "op": "conv", "out_channels": 16, "kernel": 1},
        {"name": "th", "op": "tanh"},
        {"name": "c4", "op": "conv", "out_channels": 16, "kernel": 1},
        {"name": "lr", "op": "leaky_relu", "alpha": 0.1},
        {"name": "pr", "op": "prelu", "slope": 0.2},
        {"name": "gap", "op": "gap"},
    ],
}


def _workload_graph(requant: str = "fixed_point", drop: tuple[str, ...] = ()) -> Graph:
    spec = dict(WORKLOAD, layers=[l for l in WORKLOAD["layers"] if l["name"] not in drop],
                quant={"requant": requant, "per_channel": False})
    return synthesize_weights(build_graph(parse_workload(spec, "<test>")), seed=3)


def test_yaml_layers_build_the_ops_and_round_trip_through_to_yaml():
    graph = _workload_graph()
    kinds = [n.kind for n in graph.nodes]
    assert [k for k in kinds if k in KINDS] == list(KINDS)
    by = {n.name: n for n in graph.nodes}
    assert by["hsig"].op == O.HardSigmoid(0.2, 0.5) and by["lr"].op == O.LeakyReLU(0.1)
    assert by["lr"].op.alpha == float(np.float32(0.1))
    assert O.op_def("PReLU").to_yaml(graph, by["pr"]) == {"op": "prelu", "slope": pytest.approx(0.2)}
    assert O.op_def("HardSigmoid").to_yaml(graph, by["hsig"]) == {"op": "hardsigmoid", "alpha": pytest.approx(0.2),
                                                                  "beta": 0.5}
    # TFLite's LOGISTIC / TANH output parameters under the fixed-point modes
    assert graph.tensors[by["sg"].outputs[0]].quant.same_as(QuantParams.per_tensor(1 / 256, -128))
    assert graph.tensors[by["th"].outputs[0]].quant.same_as(QuantParams.per_tensor(1 / 128, 0))


def test_yaml_rejects_a_parameter_the_op_does_not_take():
    from accelsim.errors import ConfigError
    spec = dict(WORKLOAD, layers=[{"name": "s", "op": "sigmoid", "alpha": 0.3}])
    with pytest.raises(ConfigError, match="layers\\[0\\]"):
        build_graph(parse_workload(spec, "<test>"))


@pytest.mark.parametrize("hw", ["hvx_690", "nvdla_small", "scalesim_32x32_ws", "ethos_u55_128"])
def test_every_unit_kind_costs_the_ops(hw):
    report = simulate(build_graph(parse_workload(dict(WORKLOAD, quant={"per_channel": False}), "<t>")),
                      load_hw(HW / f"{hw}.yaml"))
    rows = report.layers.set_index("name")
    # On Ethos-U55-128 the 8-bit LUT activations that follow a conv are fused into its output unit, as Vela fuses
    # them (accelsim.hw.ethos.lut_fusion): no pass of their own. HardSigmoid and PReLU are no LUT ops for Vela.
    fused = {"hs", "sg", "th", "lr"} if hw.startswith("ethos") else set()
    for name in ("hs", "hsig", "sg", "th", "lr", "pr"):
        if name in fused:
            assert rows.loc[name, "latency_cycles"] == 0 and rows.loc[name, "unit"] == "none", (hw, name)
        else:
            assert rows.loc[name, "latency_cycles"] > 0 and rows.loc[name, "energy_pj"] > 0, (hw, name)


# --------------------------------------------------------------------------------------------- engine + exports
def _feed(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = graph.tensors[graph.inputs[0]]
    info = dtype_info(t.dtype)
    return {t.name: rng.integers(info.qmin, info.qmax + 1, t.shape).astype(info.storage)}


def test_tflite_export_round_trips_and_runs_bit_exact_on_litert():
    from tflite_builder import run_reference
    graph = _workload_graph(drop=("hsig",))  # TFLite has no HARD_SIGMOID builtin
    model = export_tflite(graph)
    back = load_tflite(model)
    assert [n.op for n in back.nodes] == [n.op for n in graph.nodes]
    for name, t in graph.tensors.items():
        assert back.tensors[name].quant is None or back.tensors[name].quant.same_as(t.quant), name
    x = _feed(graph)
    ours = execute(graph, x)[graph.outputs[0]]
    (ref,) = run_reference(model, [x[graph.inputs[0]]])
    assert int(np.count_nonzero(ours.astype(np.int64) != ref.reshape(ours.shape).astype(np.int64))) == 0


def test_tflite_export_refuses_hard_sigmoid_by_name():
    with pytest.raises(UnsupportedError, match="'hsig'.*HARD_SIGMOID"):
        export_tflite(_workload_graph())


def _ort_run(model, feeds: dict[str, np.ndarray], optimize: bool) -> list[np.ndarray]:
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


@pytest.mark.parametrize("optimize", [False, True])
def test_onnx_export_equals_execute_in_float32_mode(optimize):
    from accelsim.graph.exporters.onnx_qlinear import export_onnx_qlinear
    graph = _workload_graph("float32")
    x = _feed(graph, 5)
    ours = execute(graph, x)
    for k, node in enumerate(graph.nodes):  # each op's output through a graph cut after it
        if node.kind not in KINDS:
            continue
        cut = Graph(f"cut{k}", graph.tensors, graph.nodes[:k + 1], graph.inputs, node.outputs)
        (got,) = _ort_run(export_onnx_qlinear(cut), x, optimize)
        assert np.unique(ours[node.outputs[0]]).size > 8, node.name
        assert int(np.count_nonzero(got.astype(np.int64) != ours[node.outputs[0]].astype(np.int64))) == 0, node.name


# ------------------------------------------------------------------------- onnxruntime goldens, op by op
ORT_CASES = [(0.05, 3, 0.01, -5), (0.1, -20, 0.004, -128), (0.02, 0, 0.03, 10), (0.3, 7, 0.05, 0),
             (0.0071, -100, 0.0023, 90)]


def _ort_op_model(op_type: str, dtype: str, q: tuple[float, int, float, int], attrs: dict, qlinear: bool,
                  slope: np.ndarray | None = None, shape=(3, 16, 4, 8)):
    from onnx import TensorProto, helper, numpy_helper
    et = {"uint8": TensorProto.UINT8, "int8": TensorProto.INT8, "int16": TensorProto.INT16}[dtype]
    st = dtype_info(dtype).storage
    sin, zin, sout, zout = q
    inits = [numpy_helper.from_array(np.array(sin, np.float32), "sin"), numpy_helper.from_array(np.array(zin, st),
                                                                                               "zin"),
             numpy_helper.from_array(np.array(sout, np.float32), "sout"),
             numpy_helper.from_array(np.array(zout, st), "zout")]
    if qlinear:
        nodes = [helper.make_node(op_type, ["x", "sin", "zin", "sout", "zout"], ["y"], domain="com.microsoft",
                                  **attrs)]
    else:
        ins = ["xf"]
        if slope is not None:
            inits.append(numpy_helper.from_array(slope.astype(np.float32).reshape(-1, 1, 1), "slope"))
            ins.append("slope")
        nodes = [helper.make_node("DequantizeLinear", ["x", "sin", "zin"], ["xf"]),
                 helper.make_node(op_type, ins, ["yf"], **attrs),
                 helper.make_node("QuantizeLinear", ["yf", "sout", "zout"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", et, shape)],
                              [helper.make_tensor_value_info("y", et, shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft",
                                                                                                    1)])
    model.ir_version = 10
    return model


def _accelsim_op(op, dtype: str, q: tuple[float, int, float, int], slope: np.ndarray | None,
                 shape=(3, 4, 8, 16)) -> Graph:
    sin, zin, sout, zout = q
    b = GraphBuilder("g")
    x = b.input("x", shape, dtype, QuantParams.per_tensor(sin, zin))
    ins = [x]
    if slope is not None:
        ins.append(b.constant("slope", slope.astype(np.float32), "float32", None))
    y = b.op(op, ins, dtype, QuantParams.per_tensor(sout, zout), name="act", requant="float32")
    return b.build([y])


def _all_codes_nchw(dtype: str, seed: int, shape=(3, 16, 4, 8)) -> np.ndarray:
    info = dtype_info(dtype)
    rng = np.random.default_rng(seed)
    codes = np.arange(info.qmin, info.qmax + 1)
    per_sample = int(np.prod(shape[1:]))
    size = max(-(-codes.size // per_sample), shape[0] or 1) * per_sample
    codes = np.concatenate([codes, rng.integers(info.qmin, info.qmax + 1, size - codes.size)])
    return codes.astype(info.storage).reshape((-1, *shape[1:]))


ORT_OPS = [
    ("Sigmoid", {}, O.Sigmoid(), True), ("LeakyRelu", {"alpha": 0.1}, O.LeakyReLU(0.1), True),
    ("Sigmoid", {}, O.Sigmoid(), False), ("Tanh", {}, O.Tanh(), False), ("HardSwish", {}, O.HardSwish(), False),
    ("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}, O.HardSigmoid(1 / 6, 0.5), False),
    ("HardSigmoid", {}, O.HardSigmoid(0.2, 0.5), False), ("LeakyRelu", {"alpha": 0.2}, O.LeakyReLU(0.2), False),
    ("PRelu", {}, O.PReLU(), False),
]


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
@pytest.mark.parametrize("case", range(len(ORT_CASES)))
@pytest.mark.parametrize("op_type, attrs, op, qlinear", ORT_OPS,
                         ids=[f"{'QLinear' if q else 'QDQ'}{t}{a.get('alpha', '')}" for t, a, _, q in ORT_OPS])
def test_onnxruntime_bit_exact(dtype, case, op_type, attrs, op, qlinear):
    sin, zin, sout, zout = ORT_CASES[case]
    off = 128 if dtype == "uint8" else 0
    q = (sin, zin + off, sout, zout + off)
    slope = np.linspace(-0.3, 0.6, 16) if isinstance(op, O.PReLU) else None
    x = _all_codes_nchw(dtype, case)
    model = _ort_op_model(("QLinear" if qlinear else "") + op_type, dtype, q, attrs, qlinear, slope)
    graph = _accelsim_op(op, dtype, q, slope)
    ours = execute(graph, {"x": x.transpose(0, 2, 3, 1)})[graph.outputs[0]]
    for optimize in (False, True):
        (ref,) = _ort_run(model, {"x": x}, optimize)
        mismatches = int(np.count_nonzero(ours.astype(np.int64) != ref.transpose(0, 2, 3, 1).astype(np.int64)))
        assert mismatches == 0, (optimize, mismatches)


@pytest.mark.parametrize("case", [0, 2])
@pytest.mark.parametrize("op_type, attrs, op, qlinear", [o for o in ORT_OPS if not o[3]],
                         ids=[f"QDQ{t}{a.get('alpha', '')}" for t, a, _, q in ORT_OPS if not q])
def test_onnxruntime_int16_qdq_bit_exact(case, op_type, attrs, op, qlinear):
    """int16 DequantizeLinear → op → QuantizeLinear (opset 21): every one of the 65 536 codes."""
    sin, _, sout, _ = ORT_CASES[case]
    q = (sin / 200, 0, sout / 200, 0)
    slope = np.linspace(-0.3, 0.6, 16) if isinstance(op, O.PReLU) else None
    x = _all_codes_nchw("int16", case)
    model = _ort_op_model(op_type, "int16", q, attrs, False, slope, shape=(None, 16, 4, 8))
    graph = _accelsim_op(op, "int16", q, slope, shape=(x.shape[0], 4, 8, 16))
    ours = execute(graph, {"x": x.transpose(0, 2, 3, 1)})[graph.outputs[0]]
    (ref,) = _ort_run(model, {"x": x}, True)
    assert int(np.count_nonzero(ours.astype(np.int64) != ref.transpose(0, 2, 3, 1).astype(np.int64))) == 0


def test_fixed_point_modes_refuse_what_litert_cannot_run():
    b = GraphBuilder("g")
    x = b.input("x", (1, 4, 4, 8), "int16", QuantParams.per_tensor(1 / 4096, 0))
    y = b.op(O.HardSwish(), [x], "int16", QuantParams.per_tensor(1 / 4096, 0), name="hs")
    graph = b.build([y])
    with pytest.raises(UnsupportedError, match="'hs'.*HardSwish on int16"):
        execute(graph, {"x": np.zeros((1, 4, 4, 8), np.int16)})


# ------------------------------------------------------------------- a float ONNX network: PTQ, quantize_static
def _torch_onnx(tmp_path: Path) -> Path:
    """A small torch network using every activation op (after 1x1 / 3x3 convs), exported to float ONNX."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.convs = torch.nn.ModuleList([torch.nn.Conv2d(3, 8, 3, padding=1)] +
                                             [torch.nn.Conv2d(8, 8, 1) for _ in range(5)])
            self.prelu = torch.nn.PReLU(8)
            self.head = torch.nn.Conv2d(8, 4, 1)

        def forward(self, x):
            c = self.convs
            x = F.hardswish(c[0](x))
            x = F.hardsigmoid(c[1](x))
            x = torch.sigmoid(c[2](x))
            x = torch.tanh(c[3](x))
            x = F.leaky_relu(c[4](x), 0.1)
            return self.head(self.prelu(c[5](x)))

    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():
        net.prelu.weight.uniform_(0.05, 0.4)
    path = tmp_path / "act.onnx"
    torch.onnx.export(net, torch.randn(1, 3, 12, 12), str(path), opset_version=17, dynamo=False,
                      input_names=["x"], output_names=["y"])
    return path


@pytest.mark.parametrize("requant_mode", ["fixed_point", "float32"])
def test_float_onnx_network_imports_quantizes_and_tracks_float(tmp_path, requant_mode):
    from accelsim.execute import execute_float
    from accelsim.graph.float_exec import run_float
    from accelsim.graph.importers.onnx import load_onnx
    from accelsim.graph.ptq import PTQSettings, quantize_graph, with_batch_size
    graph = load_onnx(_torch_onnx(tmp_path))
    assert [n.kind for n in graph.nodes if n.kind != "Conv2D"] == list(KINDS)
    rng = np.random.default_rng(0)
    calib = rng.standard_normal((16, 12, 12, 3)).astype(np.float32)
    q = quantize_graph(graph, {"x": calib}, PTQSettings(requant_mode=requant_mode))
    by = {n.kind: n for n in q.nodes}
    slope = q.tensors[by["PReLU"].inputs[1]]
    assert slope.dtype == "int8" and slope.shape == (8,)
    if requant_mode == "fixed_point":  # TFLite's prescribed output parameters
        assert q.tensors[by["Sigmoid"].outputs[0]].quant.same_as(QuantParams.per_tensor(1 / 256, -128))
        assert q.tensors[by["Tanh"].outputs[0]].quant.same_as(QuantParams.per_tensor(1 / 128, 0))
    x = rng.standard_normal((4, 12, 12, 3)).astype(np.float32)
    ref = run_float(with_batch_size(graph, 4), {"x": x})[graph.outputs[0]]
    got = execute_float(with_batch_size(q, 4), {"x": x})[q.outputs[0]]
    err = np.abs(got - ref).max() / np.abs(ref).max()
    assert err < 0.05, err


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
@pytest.mark.parametrize("act_type", ["QUInt8", "QInt8"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_quantize_static_network_equals_onnxruntime_on_every_op(tmp_path, fmt, act_type, per_channel):
    """onnxruntime's own quantize_static of the network: every quantized op output equals onnxruntime's,
    integer for integer, at its default optimization level and with optimizations off."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from accelsim.graph.importers.onnx import load_onnx
    float_path = _torch_onnx(tmp_path)
    rng = np.random.default_rng(1)
    calib = rng.standard_normal((8, 1, 3, 12, 12)).astype(np.float32)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"x": c} for c in calib])

        def get_next(self):
            return next(self.items, None)

    q_path = tmp_path / "q.onnx"
    quantize_static(str(float_path), str(q_path), Reader(), quant_format=getattr(QuantFormat, fmt),
                    activation_type=getattr(QuantType, act_type), weight_type=QuantType.QInt8,
                    per_channel=per_channel)
    graph = load_onnx(q_path)
    model = onnx.load(q_path)
    known = {o.name for o in model.graph.output}
    for node in model.graph.node:  # expose every intermediate tensor
        for out in node.output:
            if out not in known:
                model.graph.output.append(onnx.helper.make_empty_tensor_value_info(out))
                known.add(out)
    x = rng.standard_normal((1, 3, 12, 12)).astype(np.float32)
    xin = graph.tensors[graph.inputs[0]]
    info = dtype_info(xin.dtype)
    xq = np.clip(np.rint(x.transpose(0, 2, 3, 1) / xin.quant.scale[0]) + xin.quant.zero_point[0], info.qmin,
                 info.qmax).astype(info.storage)
    ours = execute(graph, {graph.inputs[0]: xq})
    checked = set()
    for optimize in (False, True):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        if not optimize:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        outs = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"x": x})))
        for node in graph.nodes:
            name = node.outputs[0]
            key = next((k for k in (name, f"{name}_QuantizeLinear_Output", f"{name}_quantized")
                        if k in outs and outs[k].dtype != np.float32), None)
            assert key is not None, node.name
            ref = outs[key].transpose(0, 2, 3, 1)
            assert int(np.count_nonzero(ref.astype(np.int64) != ours[name].astype(np.int64))) == 0, (node.name,
                                                                                                     optimize)
            checked.add(node.kind)
    assert set(KINDS) <= checked


# ------------------------------------------------------------------------------------------------ bad input
def test_onnx_prelu_slope_that_does_not_broadcast_over_channels_names_the_node(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    from accelsim.graph.importers.onnx import load_onnx
    slope = numpy_helper.from_array(np.full((4, 5, 1), 0.2, np.float32), "slope")
    graph = helper.make_graph([helper.make_node("PRelu", ["x", "slope"], ["y"], name="pr0")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 5, 5])], [slope])
    path = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(UnsupportedError, match="'pr0'.*PRelu.*slope of shape \\(4, 5, 1\\)"):
        load_onnx(path)


def test_fixed_point_leaky_relu_with_negative_alpha_is_refused_by_name():
    b = GraphBuilder("g")
    x = b.input("x", (1, 2, 2, 4), "int8", QuantParams.per_tensor(0.1, 0))
    y = b.op(O.LeakyReLU(-0.5), [x], "int8", QuantParams.per_tensor(0.1, 0), name="lrneg")
    graph = b.build([y])
    with pytest.raises(UnsupportedError, match="'lrneg'.*negative alpha"):
        execute(graph, {"x": np.zeros((1, 2, 2, 4), np.int8)})
    float_mode = graph.replace(nodes=[n.__class__(n.name, n.op, n.inputs, n.outputs, "float32") for n in graph.nodes])
    out = execute(float_mode, {"x": np.array([-10, -1, 0, 7] * 4, np.int8).reshape(1, 2, 2, 4)})[y]
    assert out.reshape(-1)[:4].tolist() == [5, 0, 0, 7]  # rne(-0.5·-1.0/0.1) = rne(5), rne(0.5) = 0 (half to even)


def test_fixed_point_float_prelu_slope_is_refused():
    b = GraphBuilder("g")
    x = b.input("x", (1, 2, 2, 4), "int8", QuantParams.per_tensor(0.1, 0))
    s = b.constant("slope", np.full(4, 0.25, np.float32), "float32", None)
    y = b.op(O.PReLU(), [x, s], "int8", QuantParams.per_tensor(0.1, 0), name="pr")
    with pytest.raises(UnsupportedError, match="'pr'.*float PReLU slope"):
        execute(b.build([y]), {"x": np.zeros((1, 2, 2, 4), np.int8)})


def test_onnx_defaults_are_the_onnx_specs(tmp_path):
    """ONNX HardSigmoid defaults to alpha 0.2, beta 0.5 and LeakyRelu to alpha 0.01 (operator spec), not
    PyTorch's 1/6."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    from accelsim.graph.importers.onnx import load_onnx
    nodes = [helper.make_node("HardSigmoid", ["x"], ["a"]), helper.make_node("LeakyRelu", ["a"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])])
    path = tmp_path / "defaults.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    ops = [n.op for n in load_onnx(path).nodes]
    assert ops == [O.HardSigmoid(0.2, 0.5), O.LeakyReLU(0.01)]


def test_tflite_export_refuses_a_logistic_output_litert_would_reject():
    graph = _workload_graph("float32", drop=("hsig",))  # float32 mode: Sigmoid's output is calibrated
    with pytest.raises(UnsupportedError, match="'sg'.*LOGISTIC needs the output scale 0.00390625"):
        export_tflite(graph)


@pytest.mark.parametrize("act", ["leaky_relu", "sigmoid", "tanh"])
def test_16x8_activation_exports_and_runs_bit_exact_on_litert(act):
    from tflite_builder import run_reference
    spec = {"name": "w16", "input_shape": [1, 8, 8, 4], "quant": {"activation_bits": 16, "per_channel": False},
            "layers": [{"name": "c1", "op": "conv", "out_channels": 8, "kernel": 3},
                       {"name": "a", "op": act, **({"alpha": 0.2} if act == "leaky_relu" else {})}]}
    graph = synthesize_weights(build_graph(parse_workload(spec, "<t>")), seed=1)
    model = export_tflite(graph)
    x = _feed(graph, 2)
    ours = execute(graph, x)[graph.outputs[0]]
    (ref,) = run_reference(model, [x[graph.inputs[0]]])
    assert ours.dtype == np.int16 and np.unique(ours).size > 100
    assert int(np.count_nonzero(ours.astype(np.int64) != ref.reshape(ours.shape).astype(np.int64))) == 0


def test_simd_cycles_of_a_lut_op_closed_form():
    """HVX (1 context, 1 load / 1 store / 2 ALU slots, 4-wide VLIW): 8 vlut32 per output vector make the loop
    ALU-bound at 8/2 = 4 packets a vector, plus the per-row loop overhead."""
    from accelsim.config.hw import SimdResources, SimdUnit
    from accelsim.hw.simd import TILE_OVERHEAD_PACKETS, simd_timing
    hvx = SimdUnit(vector_bits=1024, contexts=1, multiply_resources=2, vliw_slots=4,
                   resources=SimdResources(load=1, store=1, shift=1, permute=1, alu=2),
                   macs_per_context_cycle={"W8A8": {"scalar_broadcast": 256, "vector_vector": 128, "widening": 128}})
    for kind in ("HardSwish", "Sigmoid"):
        layer = LayerShape(1, 8, 8, 256, 8, 8, 256, name="a", kind=kind)
        vectors = 8 * 8 * 256 // 128
        t = simd_timing(layer, hvx, 0, 8)
        assert t.alu == 8 * vectors and t.loads == vectors and t.stores == vectors
        assert t.packets == 4 * vectors + TILE_OVERHEAD_PACKETS * 8


@pytest.mark.parametrize("kind, alu", [("Sigmoid", 1), ("HardSigmoid", 1), ("LeakyReLU", 6), ("PReLU", 8)])
def test_scale_unit_lanes_cycles_closed_form(kind, alu):
    """On a config without a SIMD unit (nvdla_small) the ops run on the scale unit's lanes: ``alu·outputs/lanes``
    cycles, plus, for the two-multiplier ops, ``outputs/lanes + pipeline latency`` for the rescale."""
    from accelsim.mapping.assign import compute_cost
    hw = load_hw(HW / "nvdla_small.yaml")
    layer = LayerShape(1, 8, 8, 64, 8, 8, 64, name="a", kind=kind)
    outputs, lanes = 8 * 8 * 64, hw.scale_unit.lanes
    cost = compute_cost(layer, hw)
    rescale = 0 if alu == 1 else math.ceil(outputs / lanes) + hw.scale_unit.pipeline_latency_cycles
    assert cost.unit == "scale_unit"
    assert cost.compute_cycles + cost.scale_cycles == pytest.approx(alu * outputs / lanes + rescale)


def test_graph_to_workload_yaml_round_trip():
    from accelsim.workloads.export_yaml import graph_to_spec
    graph = _workload_graph()
    again = build_graph(graph_to_spec(graph))
    assert [n.op for n in again.nodes] == [n.op for n in graph.nodes]
    slope = again.tensors[next(n for n in again.nodes if n.kind == "PReLU").inputs[1]]
    assert float((slope.data[0] - slope.quant.zero_point[0]) * slope.quant.scale[0]) == pytest.approx(0.2, rel=1e-6)
