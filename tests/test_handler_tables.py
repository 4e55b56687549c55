"""Importer and exporter handler tables: completeness against the op kinds, the kinds importers produce, and
a handler registered through the public API importing, executing and simulating like the built-in op."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from accelsim.errors import GraphError, UnsupportedError
from accelsim.execute import execute
from accelsim.graph import ops as O

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from accelsim.graph.exporters import register_exporter_handler  # noqa: E402
from accelsim.graph.exporters import onnx_qlinear as onnx_exp  # noqa: E402
from accelsim.graph.importers import onnx as onnx_imp  # noqa: E402
from accelsim.graph.importers import onnx_handlers  # noqa: E402
from accelsim.graph.importers.onnx import ONNX_HANDLERS, load_onnx, register_onnx_handler  # noqa: E402

needs_litert = pytest.mark.skipif(importlib.util.find_spec("ai_edge_litert") is None,
                                  reason="the TFLite schema classes ship in ai-edge-litert (test extra)")
CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"


# ------------------------------------------------------------------------------------------- completeness
def _exporter_tables():
    tables = [("onnx_qlinear", onnx_exp.ONNX_QLINEAR_EXPORTERS, onnx_exp.NOT_EXPORTABLE)]
    if importlib.util.find_spec("ai_edge_litert") is not None:
        from accelsim.graph.exporters import tflite as tfl_exp

        tables.append(("tflite", tfl_exp.TFLITE_EXPORTERS, tfl_exp.NOT_EXPORTABLE))
    return tables


@pytest.mark.parametrize("fmt, table, not_exportable", _exporter_tables(), ids=lambda v: v if isinstance(v, str)
                         else "")
def test_every_op_kind_has_an_exporter_or_a_documented_reason(fmt, table, not_exportable):
    for kind in O.OP_TYPES:
        assert (kind in table) != (kind in not_exportable), f"{fmt}: op kind {kind} has no exporter entry and no " \
                                                            f"documented reason"
        if kind in not_exportable:
            assert not_exportable[kind].strip(), f"{fmt}: empty reason for {kind}"
    assert set(table) <= set(O.OP_TYPES), f"{fmt}: handlers for unknown op kinds {set(table) - set(O.OP_TYPES)}"


def test_tables_are_read_only():
    with pytest.raises(TypeError):
        ONNX_HANDLERS["float"]["Foo"] = None  # type: ignore[index]
    with pytest.raises(TypeError):
        onnx_exp.ONNX_QLINEAR_EXPORTERS["Foo"] = None  # type: ignore[index]


def test_onnx_tables_cover_the_documented_op_types():
    """Every ONNX op type docs/onnx.md lists as supported is dispatched to a handler, folded by the Q/DQ scan or
    fused into its producer."""
    from accelsim.graph.importers.onnx_fusion import FUSED_OPS

    for op in onnx_imp.SUPPORTED_OPS:
        op_type = op.split(" ")[0]
        assert op_type in (*onnx_imp.PASS_OPS, *FUSED_OPS, *ONNX_HANDLERS["float"], *ONNX_HANDLERS["quantized"]), op


def _record_kinds(monkeypatch, table: dict, produced: dict, nodes_of) -> None:
    """Wrap every handler of ``table`` to record the IR op kinds it produces (``nodes_of`` reads them)."""
    for key, handler in list(table.items()):
        def wrapped(ctx, item, _handler=handler, _key=key):
            before = nodes_of(ctx, None)
            result = _handler(ctx, item)
            produced.setdefault(_key, set()).update(nodes_of(ctx, (before, result)))
            return result
        monkeypatch.setitem(table, key, wrapped)


def _onnx_nodes(ctx, state):
    if state is None:
        return len(ctx.builder.nodes)
    return {n.kind for n in ctx.builder.nodes[state[0]:]}


def _tflite_nodes(_imp, state):
    if state is None:
        return None
    ops = state[1][0]
    return {op.kind for op in (ops if isinstance(ops, tuple) else (ops,))}


def _mixed_quant_graph():
    """int8 graph with every exportable op kind: conv, depthwise, add, mean, mul, sub, pools, GAP, concat, pad,
    transpose, slice, gather, resize, reshape, FC, softmax."""
    from accelsim.graph.builder import GraphBuilder
    from accelsim.quant.params import QuantParams

    pt = QuantParams.per_tensor
    rng = np.random.default_rng(3)
    b = GraphBuilder("mixed")
    x = b.input("x", (1, 8, 8, 4), "int8", pt(0.05, 1))
    w = b.constant("w", rng.integers(-127, 128, (4, 3, 3, 4)).astype(np.int8), "int8", pt(0.01))
    y = b.conv2d(x, w, None, pt(0.05, 1), padding="SAME", activation="RELU")
    wd = b.constant("wd", rng.integers(-127, 128, (4, 3, 3, 1)).astype(np.int8), "int8", pt(0.02))
    d = b.depthwise_conv2d(y, wd, None, pt(0.05, 1), padding="SAME")
    s = b.add(y, d, pt(0.06, 0))
    e = b.op(O.Mean((3,), True), [s], "int8", pt(0.03, 0))    # (1, 8, 8, 1), broadcast by the Mul
    s = b.op(O.Sub(), [b.op(O.Mul(), [s, e], "int8", pt(0.01, 0)), d], "int8", pt(0.08, 0))
    m = b.max_pool(s, 2, 2)
    a = b.avg_pool(s, 2, 2)
    c = b.concat([m, a], pt(0.06, 0))
    p = b.pad(c, ((0, 0), (1, 1), (1, 1), (0, 0)))
    from accelsim.graph import ops as ops_

    q = b.tensors[p].quant
    p = b.op(ops_.Transpose((0, 2, 1, 3)), [p], "int8", q)
    p = b.op(ops_.Slice((0, 1, 0, 0), (-1, 4, 6, 8), (1, 1, 1, 1)), [p], "int8", q)
    p = b.op(ops_.Gather(3, (7, 6, 5, 4, 3, 2, 1, 0)), [p], "int8", q)
    p = b.op(O.Resize((9, 9), "bilinear", "half_pixel"), [p], "int8", b.tensors[p].quant, name="resize")
    g = b.global_average_pool(p, pt(0.06, 0))
    f = b.flatten(g)
    wf = b.constant("wf", rng.integers(-127, 128, (3, 8)).astype(np.int8), "int8", pt(0.01))
    fc = b.fully_connected(f, wf, None, pt(0.1, 0))
    sm = b.op(O.Softmax(), [fc], "int8", pt(1 / 256, -128))
    out = b.reshape(sm, (b.tensors[sm].shape[0], 1, 3))
    return b.build([out])


def _activation_onnx(tmp_path: Path) -> Path:
    """A float ONNX model chaining HardSwish, HardSigmoid, Sigmoid, Tanh, LeakyRelu and PRelu."""
    chain = [("HardSwish", {}), ("HardSigmoid", {"alpha": 0.2}), ("Sigmoid", {}), ("Tanh", {}),
             ("LeakyRelu", {"alpha": 0.1}), ("PRelu", {})]
    nodes, value = [], "x"
    for k, (op_type, attrs) in enumerate(chain):
        ins = [value, "slope"] if op_type == "PRelu" else [value]
        nodes.append(helper.make_node(op_type, ins, [f"a{k}"], **attrs))
        value = f"a{k}"
    slope = onnx.numpy_helper.from_array(np.full((4, 1, 1), 0.25, np.float32), "slope")
    graph = helper.make_graph(nodes, "act", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 5, 5])],
                              [helper.make_tensor_value_info(value, TensorProto.FLOAT, [1, 4, 5, 5])], [slope])
    path = tmp_path / "activations.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _ort_quantized_digits(tmp_path: Path) -> list[Path]:
    """The shipped digits models quantized by onnxruntime.quantization in QDQ and QOperator form."""
    from onnxruntime import quantization
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from accelsim.workloads import digits

    class Reader(quantization.CalibrationDataReader):
        def __init__(self, x):
            self._it = iter([{"input": x}])

        def get_next(self):
            return next(self._it, None)

    cal = np.ascontiguousarray(digits.load_digits_split().train_images[:16].transpose(0, 3, 1, 2))
    paths = []
    for name in ("digits_cnn", "digits_dsconv"):
        pre = tmp_path / f"{name}_pre.onnx"
        quant_pre_process(str(digits.shipped_model_path(name, 0)), str(pre))
        for fmt in ("QDQ", "QOperator"):
            out = tmp_path / f"{name}_{fmt}.onnx"
            quantization.quantize_static(str(pre), str(out), Reader(cal),
                                         quant_format=getattr(quantization.QuantFormat, fmt), per_channel=True,
                                         activation_type=quantization.QuantType.QUInt8,
                                         weight_type=quantization.QuantType.QInt8)
            paths.append(out)
    return paths


def test_importer_handlers_produce_only_known_kinds(tmp_path, monkeypatch):
    """Every handler that runs while importing the shipped digits models (float; with onnxruntime also quantized
    in QDQ and QOperator form) and, with ai-edge-litert, a TFLite round trip of a graph with every op kind adds
    only IR op kinds of ``OP_TYPES``, and together every kind of ``OP_TYPES`` (each has an importer path)."""
    from accelsim.workloads import digits

    produced: dict[str, set[str]] = {}
    _record_kinds(monkeypatch, onnx_handlers.FLOAT_HANDLERS, produced, _onnx_nodes)
    _record_kinds(monkeypatch, onnx_handlers.QUANT_HANDLERS, produced, _onnx_nodes)
    for name in ("digits_cnn", "digits_dsconv"):
        load_onnx(digits.shipped_model_path(name, 0))
    if importlib.util.find_spec("onnxruntime") is not None:  # QDQ and QOperator forms of the digits models
        for path in _ort_quantized_digits(tmp_path):
            load_onnx(path)
    graph = _mixed_quant_graph()
    if importlib.util.find_spec("ai_edge_litert") is not None:
        from accelsim.graph.exporters.tflite import export_tflite
        from accelsim.graph.importers import tflite as tfl_imp

        _record_kinds(monkeypatch, tfl_imp._TFLITE_HANDLERS, produced, _tflite_nodes)
        back = tfl_imp.load_tflite(export_tflite(graph))
        # the TFLite exporter writes Flatten as RESHAPE, which the importer reads back as Flatten
        assert [n.kind for n in back.nodes] == [n.kind for n in graph.nodes]
    load_onnx(_activation_onnx(tmp_path))  # the activation ops (HardSwish ... PRelu) in a float model
    assert {"Conv", "Gemm", "Add", "GlobalAveragePool"} <= set(produced)
    if importlib.util.find_spec("onnxruntime") is not None:
        assert {"QLinearConv", "QLinearAdd", "QGemm"} <= set(produced)
    for key, kinds in produced.items():
        assert kinds and kinds <= set(O.OP_TYPES), (key, kinds)
    if importlib.util.find_spec("ai_edge_litert") is not None and importlib.util.find_spec("onnxruntime"):
        imported = set().union(*produced.values())  # every op kind has an importer path
        assert imported == set(O.OP_TYPES), f"no import handler produced {set(O.OP_TYPES) - imported}"


# -------------------------------------------------------------------------------------------- exporters
def test_exporter_without_a_handler_names_node_and_kind(monkeypatch):
    from accelsim.graph.exporters.onnx_qlinear import export_onnx_qlinear

    monkeypatch.delitem(onnx_exp._ONNX_QLINEAR_EXPORTERS, "Pad")
    with pytest.raises(UnsupportedError, match=r"node '.*pad.*' \(Pad\): no ONNX QLinear equivalent"):
        export_onnx_qlinear(_mixed_quant_graph())


@needs_litert
def test_registered_tflite_exporter_is_used(monkeypatch):
    """register_exporter_handler replaces the Pad exporter: the written model then lacks PAD operators."""
    from accelsim.graph.exporters import tflite as tfl_exp
    from accelsim.graph.importers.tflite import load_tflite

    graph = _mixed_quant_graph()
    with pytest.raises(GraphError, match="already registered"):
        register_exporter_handler("tflite", "Pad", lambda w, node: None)
    monkeypatch.setitem(tfl_exp._TFLITE_EXPORTERS, "Pad", tfl_exp._TFLITE_EXPORTERS["Pad"])  # restored after

    def pad_as_padv2(w, node):  # PADV2 with the zero point: the importer reads it back as Pad
        x = w.graph.tensors[node.inputs[0]]
        pads = w.constant_int32(f"{node.name}_pads", np.array(node.op.pads))
        fill = w._add_tensor(w._fresh(f"{node.name}_value"), (), x.dtype, x.quant,
                             np.array(int(x.quant.zero_point[0]), np.int8))
        w.operator("PADV2", [w.tensor(x.name), pads, fill], [w.tensor(node.outputs[0])], "PadV2Options",
                   w.S.PadV2OptionsT(), tfl_exp.op_version("PADV2", x.dtype, None))

    register_exporter_handler("tflite", "Pad", pad_as_padv2, replace=True)
    data = tfl_exp.export_tflite(graph)
    back = load_tflite(data)
    names = [n.name for n in back.nodes]
    assert any(n.endswith("_padv2") for n in names) and not any(n.endswith("_pad") for n in names)
    x = np.random.default_rng(0).integers(-128, 128, (1, 8, 8, 4)).astype(np.int8)
    np.testing.assert_array_equal(execute(back, {"x": x})[back.outputs[0]],
                                  execute(graph, {"x": x})[graph.outputs[0]])


# ------------------------------------------------------------------------------------- toy ONNX handler
def _qdq_pool_model(path: Path, op_type: str, domain: str = "") -> Path:
    """x -> Q -> DQ -> <op_type>(2x2, stride 2) -> Q -> DQ -> y (int8, scale 0.05, zero point 3)."""
    inits = [helper.make_tensor("s", TensorProto.FLOAT, [], [0.05]), helper.make_tensor("z", TensorProto.INT8, [], [3])]
    attrs = {"kernel_shape": [2, 2], "strides": [2, 2]} if not domain else {"size": 2}
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="q_in"),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="dq_in"),
             helper.make_node(op_type, ["xd"], ["p"], name="pool", domain=domain, **attrs),
             helper.make_node("QuantizeLinear", ["p", "s", "z"], ["pq"], name="q_out"),
             helper.make_node("DequantizeLinear", ["pq", "s", "z"], ["y"], name="dq_out")]
    graph = helper.make_graph(nodes, "toy", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 4, 4])],
                              initializer=inits)
    opsets = [helper.make_opsetid("", 21)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 10
    onnx.save(model, str(path))
    return path


def _my_max_pool(ctx, fused):
    """Toy op ``MyMaxPool(size=k)``: a k x k max pool with stride k, through the handler context API."""
    node = fused.node
    x = ctx.act(node, node.input[0])
    k = int(ctx.attrs(node)["size"])
    dtype, quant = ctx.passthrough_quant(node, x, node.output[0])
    ctx.emit(node, O.MaxPool((k, k), (k, k), (0, 0, 0, 0)), [x.name], node.output[0], dtype, quant)


def test_toy_onnx_handler_imports_executes_and_simulates_like_builtin(tmp_path):
    from accelsim.config.hw import load_hw
    from accelsim.simulate import simulate

    with pytest.raises(UnsupportedError, match=r"node 'pool' \(MyMaxPool \(test.toy\)\): op type 'MyMaxPool'"):
        load_onnx(_qdq_pool_model(tmp_path / "toy0.onnx", "MyMaxPool", "test.toy"))
    register_onnx_handler("MyMaxPool", _my_max_pool, quantized=True)
    try:
        with pytest.raises(GraphError, match="already registered"):
            register_onnx_handler("MyMaxPool", lambda ctx, f: None, quantized=True)
        with pytest.raises(GraphError, match="folded by the import passes"):
            register_onnx_handler("DequantizeLinear", _my_max_pool, quantized=True)
        toy = load_onnx(_qdq_pool_model(tmp_path / "toy.onnx", "MyMaxPool", "test.toy"))
    finally:
        onnx_handlers.QUANT_HANDLERS.pop("MyMaxPool")
    assert "MyMaxPool" not in ONNX_HANDLERS["quantized"]
    builtin = load_onnx(_qdq_pool_model(tmp_path / "builtin.onnx", "MaxPool"))
    assert [n.op for n in toy.nodes] == [n.op for n in builtin.nodes] == [O.MaxPool((2, 2), (2, 2), (0, 0, 0, 0))]
    assert toy.inputs == builtin.inputs and toy.outputs == builtin.outputs
    for name, t in builtin.tensors.items():
        u = toy.tensors[name]
        assert (u.shape, u.dtype, u.quant.same_as(t.quant)) == (t.shape, t.dtype, True)
    x = np.random.default_rng(1).integers(-128, 128, (1, 8, 8, 16)).astype(np.int8)
    ours = execute(toy, {"x": x})["y"]
    np.testing.assert_array_equal(ours, execute(builtin, {"x": x})["y"])
    ref = x.reshape(1, 4, 2, 4, 2, 16).max(axis=(2, 4))  # an independent 2x2 / 2 max pool (NHWC)
    np.testing.assert_array_equal(ours, ref)
    hw = load_hw(CONFIGS / "gemmini_default.yaml")
    a, b = simulate(toy, hw), simulate(builtin, hw)
    assert a.totals == b.totals and a.totals["latency_cycles"] > 0


# ------------------------------------------------------------------------------------- toy TFLite handler
def _relu_as_max_pool(imp, t):
    """Toy TFLite handler: RELU with equal input and output quantization is a 1x1 max pool with a RELU clamp."""
    x, y = imp.raw[t.ins[0]], imp.raw[t.out]
    if len(x.shape) != 4 or not x.quant.same_as(y.quant):
        raise UnsupportedError(f"{t.where}: only 4-D RELU with equal input and output quantization")
    return O.MaxPool((1, 1), (1, 1), "VALID", "RELU"), t.ins[:1]


@needs_litert
def test_toy_tflite_handler_matches_litert():
    from tflite_builder import TFLiteModel, run_reference

    from accelsim.graph.importers import tflite as tfl_imp

    t = TFLiteModel()
    x = t.tensor("x", (1, 5, 5, 8), "int8", 0.1, 7)
    y = t.tensor("y", (1, 5, 5, 8), "int8", 0.1, 7)
    t.op("RELU", [x], [y], version=2)
    model = t.finish([x], [y])
    with pytest.raises(UnsupportedError, match=r"operator 0 is RELU"):
        tfl_imp.load_tflite(model)
    tfl_imp.register_tflite_handler("RELU", _relu_as_max_pool)
    try:
        with pytest.raises(GraphError, match="graph edges"):
            tfl_imp.register_tflite_handler("QUANTIZE", _relu_as_max_pool)
        graph = tfl_imp.load_tflite(model)
    finally:
        tfl_imp._TFLITE_HANDLERS.pop("RELU")
    assert [n.op for n in graph.nodes] == [O.MaxPool((1, 1), (1, 1), "VALID", "RELU")]
    xs = np.random.default_rng(4).integers(-128, 128, (1, 5, 5, 8)).astype(np.int8)
    (expected,) = run_reference(model, [xs])
    ours = execute(graph, {"x": xs})["y"]
    np.testing.assert_array_equal(ours, expected)
    np.testing.assert_array_equal(ours, np.maximum(xs, 7))  # closed form: max(x, zero point)


def _relu_float(ctx, fused):
    """A standalone float Relu (one fusion did not absorb) as a 1x1 max pool with a RELU clamp."""
    node = fused.node
    x = ctx.act(node, node.input[0])
    ctx.emit(node, O.MaxPool((1, 1), (1, 1), "VALID", "RELU"), [x.name], node.output[0], "float32", None)


def test_handler_for_a_fusable_op_receives_the_unfused_nodes(tmp_path):
    """Relu after Conv is still fused; a Relu after MaxPool (never fused) goes to the registered handler."""
    from accelsim.graph.float_exec import run_float

    w = np.random.default_rng(5).standard_normal((4, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu0"),
             helper.make_node("MaxPool", ["r"], ["m"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Relu", ["m"], ["y"], name="relu1")]
    graph = helper.make_graph(nodes, "relu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 3, 3])],
                              initializer=[onnx.numpy_helper.from_array(w, "w")])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), str(path))
    with pytest.raises(UnsupportedError, match=r"node 'relu1' \(Relu\): a standalone activation"):
        load_onnx(path)
    register_onnx_handler("Relu", _relu_float, quantized=False)
    try:
        g = load_onnx(path)
    finally:
        onnx_handlers.FLOAT_HANDLERS.pop("Relu")
    assert [(n.name, n.op) for n in g.nodes] == [
        ("conv", O.Conv2D((1, 1), (1, 1), (1, 1, 1, 1), 1, "RELU")),
        ("pool", O.MaxPool((2, 2), (2, 2), (0, 0, 0, 0))), ("relu1", O.MaxPool((1, 1), (1, 1), "VALID", "RELU"))]
    x = np.random.default_rng(6).standard_normal((1, 6, 6, 3)).astype(np.float32)
    y = run_float(g, {"x": x})["y"]
    conv = run_float(g, {"x": x})[g.nodes[0].outputs[0]]
    np.testing.assert_array_equal(y, conv.reshape(1, 3, 2, 3, 2, 4).max(axis=(2, 4)))  # relu(max(relu(c))) = max
