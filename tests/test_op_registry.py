"""The op registry: every registered op has every entry, an op without a cost descriptor is refused, unknown ops
raise in the cost path, and a toy op registered here through the public API runs through build -> execute ->
simulate with its cost taken from its descriptor."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accelsim.config.hw import load_hw
from accelsim.engine.common import NodeRun
from accelsim.errors import UnsupportedError
from accelsim.execute import execute
from accelsim.graph import GraphBuilder
from accelsim.graph import ops as O
from accelsim.graph.float_exec import run_float
from accelsim.graph.ops.common import elementwise_extents, inputs_per_output, none_per_output, one_per_output
from accelsim.graph.ops.registry import PTQ_RULES, VectorKernel
from accelsim.hw.layer import LayerShape, layer_shape
from accelsim.hw.scale_unit import requant_ops
from accelsim.mapping.assign import FREE_KINDS, MAC_KINDS, compute_cost, element_ops
from accelsim.quant.params import QuantParams
from accelsim.simulate import simulate
from accelsim.workloads.yaml_format import LAYER_TYPES
from accelsim.workloads.yaml_format import build_graph
from accelsim.workloads.zoo import ZOO, zoo_spec

HW = Path(__file__).resolve().parents[1] / "hw_configs"
BUILTIN = ("Conv2D", "FullyConnected", "Add", "AvgPool", "MaxPool", "GlobalAveragePool", "Concat", "Reshape",
           "Flatten", "Pad")


def test_every_builtin_op_is_registered_with_every_entry():
    kinds = [d.kind for d in O.registered_ops()]
    assert sorted(BUILTIN) == sorted(k for k in kinds if k in BUILTIN)
    for d in O.registered_ops():
        assert O.op_def(d.kind) is d and O.OP_TYPES.get(d.kind, d.attrs) is d.attrs
        assert callable(d.infer_shape) and callable(d.float_ref), d.kind
        assert callable(d.engine.plan) and callable(d.engine.run), d.kind
        assert d.ptq in PTQ_RULES, d.kind
        assert isinstance(d.cost, O.CostDescriptor), d.kind
        assert callable(d.cost.alu_ops_per_output) and callable(d.cost.requant_per_output), d.kind
        assert callable(d.cost.extents), d.kind
        assert d.to_yaml is not None, d.kind
        assert d.arity[0] <= d.arity[1]


def test_enumerations_come_from_the_registry():
    assert O.MAC_OPS == ("Conv2D", "FullyConnected") == MAC_KINDS
    assert O.VIEW_OPS == ("Reshape", "Flatten") == FREE_KINDS
    assert all(O.op_def(k).has_weights for k in O.MAC_OPS)


def _node_kinds_and_yaml_ops() -> tuple[set[str], set[str]]:
    kinds, yaml_ops = set(), set()
    for name in ZOO:
        graph = build_graph(zoo_spec(name))
        for node in graph.nodes:
            kinds.add(node.kind)
            yaml_ops.add(O.op_def(node.kind).to_yaml(graph, node)["op"])
    return kinds, yaml_ops


def test_zoo_ops_are_registered_and_their_yaml_forms_parse():
    kinds, yaml_ops = _node_kinds_and_yaml_ops()
    assert kinds <= {d.kind for d in O.registered_ops()}
    assert yaml_ops <= set(LAYER_TYPES)


def _layer(kind: str, **kw: Any) -> LayerShape:
    base = dict(name="l", kind=kind, batch=2, in_h=8, in_w=8, in_channels=16, out_h=8, out_w=8, out_channels=16)
    return LayerShape(**{**base, **kw})


@pytest.mark.parametrize("kind, kw, alu_per_output, requant_per_output, macs", [
    ("Conv2D", dict(kernel_h=3, kernel_w=3, out_channels=32, weight_bits=8), 0, 1, 2 * 8 * 8 * 32 * 3 * 3 * 16),
    ("Conv2D", dict(kernel_h=3, kernel_w=3, groups=16, weight_bits=8), 0, 1, 2 * 8 * 8 * 16 * 3 * 3),
    ("FullyConnected", dict(in_h=1, in_w=1, out_h=1, out_w=1, out_channels=10, weight_bits=8), 0, 1, 2 * 10 * 16),
    ("Add", dict(num_inputs=2), 1, 3, 0),
    ("MaxPool", dict(kernel_h=3, kernel_w=3, out_h=4, out_w=4), 8, 0, 0),
    ("AvgPool", dict(kernel_h=2, kernel_w=2, out_h=4, out_w=4), 4, 1, 0),
    ("GlobalAveragePool", dict(kernel_h=8, kernel_w=8, out_h=1, out_w=1), 64, 1, 0),
    ("Concat", dict(num_inputs=2, out_channels=32), 1, 1, 0),
    ("Pad", dict(out_h=10, out_w=10), 1, 0, 0),
    ("Reshape", dict(), 0, 0, 0),
])
def test_cost_descriptors_give_the_closed_forms(kind, kw, alu_per_output, requant_per_output, macs):
    layer = _layer(kind, **kw)
    outputs = layer.batch * layer.out_h * layer.out_w * layer.out_channels
    assert layer.macs == macs
    assert element_ops(layer) == outputs * alu_per_output
    assert requant_ops(layer) == outputs * requant_per_output
    assert layer.needs_requant == (requant_per_output > 0)


def test_unknown_op_raises_in_the_cost_path_instead_of_costing_zero():
    layer = _layer("Bogus")
    for cost in (requant_ops, element_ops, lambda l: l.macs, lambda l: l.needs_requant):
        with pytest.raises(UnsupportedError, match="unknown op 'Bogus'"):
            cost(layer)


# ------------------------------------------------------------------------------------------------ a toy op
@dataclass(frozen=True)
class Maximum:
    """Elementwise maximum of two tensors sharing one quantization (so no rescale)."""

    kind = "ToyMaximum"


def _maximum_shape(op: Maximum, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    if inputs[0] != inputs[1]:
        raise ValueError(f"Maximum inputs differ in shape: {inputs[0]} vs {inputs[1]}")
    return inputs[0]


@dataclass(frozen=True)
class _MaximumEngine:
    def plan(self, graph, node) -> None:
        return None

    def run(self, graph, node, plan, values, options) -> NodeRun:
        return NodeRun(np.maximum(values[node.inputs[0]], values[node.inputs[1]]))


def _maximum_def(**changes: Any) -> O.OpDef:
    op_def = O.OpDef(
        attrs=Maximum, arity=(2, 2), infer_shape=_maximum_shape,
        float_ref=lambda op, args: np.maximum(args[0], args[1]), engine=_MaximumEngine(), ptq="inherit",
        cost=O.CostDescriptor(alu_ops_per_output=one_per_output, requant_per_output=none_per_output,
                              extents=elementwise_extents, preserves_quant=True,
                              vector=VectorKernel(loads_per_output_vector=inputs_per_output,
                                                  alu_per_output_vector=one_per_output)),
        activation_inputs=2, to_yaml=lambda graph, node: {"op": "maximum"})
    return replace(op_def, **changes)


@pytest.fixture
def toy_op():
    O.register_op(_maximum_def())
    yield
    O.unregister_op(Maximum.kind)


def test_an_op_without_cost_descriptor_is_refused():
    with pytest.raises(O.OpRegistrationError, match="cost descriptor"):
        O.register_op(_maximum_def(cost=None))
    with pytest.raises(UnsupportedError):
        O.op_def(Maximum.kind)


def test_an_alu_op_without_a_vector_kernel_is_refused():
    """Neither a MAC op nor a view: a SIMD unit would have nothing to count, so registration refuses it."""
    op_def = _maximum_def()
    with pytest.raises(O.OpRegistrationError, match="VectorKernel"):
        O.register_op(replace(op_def, cost=replace(op_def.cost, vector=None)))
    with pytest.raises(UnsupportedError):
        O.op_def(Maximum.kind)


def test_a_clashing_kind_is_refused():
    @dataclass(frozen=True)
    class FakeAdd:
        kind = "Add"

    with pytest.raises(O.OpRegistrationError, match="already registered"):
        O.register_op(_maximum_def(attrs=FakeAdd))


def test_toy_op_runs_through_build_execute_and_simulate(toy_op):
    shape = (2, 6, 5, 16)
    quant = QuantParams.per_tensor(0.05, -3)
    b = GraphBuilder("toy")
    x, y = b.input("x", shape, "int8", quant), b.input("y", shape, "int8", quant)
    out = b.op(Maximum(), [x, y], "int8", quant, name="max")
    graph = b.build([out])                     # Graph validation: arity, shapes, same quantization
    rng = np.random.default_rng(3)
    xs = {name: rng.integers(-128, 128, shape).astype(np.int8) for name in ("x", "y")}

    result = execute(graph, xs)
    reference = np.maximum(xs["x"].astype(np.int64), xs["y"].astype(np.int64))
    assert result[out].dtype == np.int8
    np.testing.assert_array_equal(result[out].astype(np.int64), reference)

    float_graph = GraphBuilder("toy_float")
    fx, fy = float_graph.input("x", shape, "float32", None), float_graph.input("y", shape, "float32", None)
    fo = float_graph.op(Maximum(), [fx, fy], "float32", None, name="max")
    values = run_float(float_graph.build([fo]), {"x": xs["x"] * 0.5, "y": xs["y"] * 0.5})
    np.testing.assert_array_equal(values[fo], np.maximum(xs["x"], xs["y"]) * np.float32(0.5))

    hw = load_hw(HW / "gemmini_default.yaml")  # no SIMD unit: element ops run on the scale unit's lanes
    node = graph.nodes[0]
    layer = layer_shape(graph, node)
    outputs = math.prod(shape)
    assert (layer.num_inputs, layer.outputs, layer.macs) == (2, outputs, 0)
    cost = compute_cost(layer, hw)
    assert (cost.unit, cost.alu_ops, cost.requant_ops) == ("scale_unit", outputs, 0)
    row = simulate(graph, hw).layers.set_index("name").loc["max"]
    assert row["unit"] == "scale_unit"
    assert row["compute_cycles"] == outputs / hw.scale_unit.lanes


# ------------------------------------------------------------------------------ the toy op from an ONNX model
def _onnx_max_model(path: Path, scale: float = 0.05, zero_point: int = -3) -> Path:
    """x, y -> Q -> DQ (both with one scale and zero point) -> Max -> Q -> DQ -> out, NCHW (1, 16, 6, 5)."""
    import onnx
    from onnx import TensorProto, helper

    inits = [helper.make_tensor("s", TensorProto.FLOAT, [], [scale]),
             helper.make_tensor("z", TensorProto.INT8, [], [zero_point])]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="qx"),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="dqx"),
             helper.make_node("QuantizeLinear", ["y", "s", "z"], ["yq"], name="qy"),
             helper.make_node("DequantizeLinear", ["yq", "s", "z"], ["yd"], name="dqy"),
             helper.make_node("Max", ["xd", "yd"], ["m"], name="max"),
             helper.make_node("QuantizeLinear", ["m", "s", "z"], ["mq"], name="qm"),
             helper.make_node("DequantizeLinear", ["mq", "s", "z"], ["out"], name="dqm")]
    shape = [1, 16, 6, 5]
    graph = helper.make_graph(nodes, "toy_max", [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape)
                                                 for n in ("x", "y")],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, shape)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    onnx.save(model, str(path))
    return path


def _max_handler(ctx, fused):
    """ONNX ``Max`` of two tensors with one quantization -> the toy Maximum op (registered in this test)."""
    node = fused.node
    x, y = ctx.act(node, node.input[0]), ctx.act(node, node.input[1])
    if not x.quant.same_as(y.quant):
        raise UnsupportedError(f"node {node.name!r}: Max of inputs with different quantization")
    dtype, quant = ctx.passthrough_quant(node, x, node.output[0])
    ctx.emit(node, Maximum(), [x.name, y.name], node.output[0], dtype, quant)


def test_toy_op_runs_through_onnx_import_execute_and_simulate(toy_op, tmp_path):
    """The whole path for an op defined only here: register_op + register_onnx_handler (public API) -> load_onnx
    -> execute (equal to numpy's maximum of the integers) -> simulate on a SIMD config (vector instructions from
    the op's VectorKernel: ceil(outputs / 128 lanes) vectors, 2 loads, 1 max, 1 store each) and on a config
    without SIMD (one ALU op per output on the scale unit's lanes)."""
    from accelsim.graph.importers import onnx_handlers
    from accelsim.graph.importers.onnx import load_onnx, register_onnx_handler
    from accelsim.hw.simd import alu_counts

    path = _onnx_max_model(tmp_path / "max.onnx")
    with pytest.raises(UnsupportedError, match="Max"):
        load_onnx(path)
    register_onnx_handler("Max", _max_handler, quantized=True)
    try:
        graph = load_onnx(path)
    finally:
        onnx_handlers.QUANT_HANDLERS.pop("Max")
    assert [n.kind for n in graph.nodes] == [Maximum.kind]
    rng = np.random.default_rng(5)
    shape = graph.tensors[graph.inputs[0]].shape
    xs = {name: rng.integers(-128, 128, shape).astype(np.int8) for name in graph.inputs}
    out = execute(graph, xs)[graph.outputs[0]]
    np.testing.assert_array_equal(out, np.maximum(*(xs[name] for name in graph.inputs)))

    outputs = math.prod(shape)
    hvx = load_hw(HW / "hvx_690.yaml")
    layer = layer_shape(graph, graph.nodes[0])
    counts, tiles = alu_counts(layer, hvx.compute.simd.vector_bits)
    vectors = math.ceil(outputs / (hvx.compute.simd.vector_bits // 8))
    assert (counts.loads, counts.alu, counts.stores, tiles) == (2 * vectors, vectors, vectors, shape[0] * shape[1])
    row = simulate(graph, hvx).layers.iloc[0]
    assert (row["unit"], row["kind"]) == ("simd", Maximum.kind) and row["compute_cycles"] > 0
    gemmini = load_hw(HW / "gemmini_default.yaml")
    row = simulate(graph, gemmini).layers.iloc[0]
    assert row["unit"] == "scale_unit" and row["compute_cycles"] == outputs / gemmini.scale_unit.lanes
