"""Data-movement ops Transpose, Slice (strided) and Gather: shape rules, bit-exact engine (output integers are the
selected input integers, quantization kept), float reference, PTQ, YAML form and their cost closed forms on a
SIMD unit (hvx_690) and on a scale unit (gemmini_default)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from accelsim.config.hw import load_hw
from accelsim.execute import execute
from accelsim.graph import GraphBuilder
from accelsim.graph import ops as O
from accelsim.graph.float_exec import run_float
from accelsim.graph.shapes import infer_shape
from accelsim.hw.layer import layer_shape
from accelsim.hw.simd import alu_counts
from accelsim.mapping.assign import compute_cost
from accelsim.quant.params import QuantParams
from accelsim.simulate import simulate
from accelsim.workloads.yaml_format import LAYER_TYPES, build_graph, parse_workload

HW = Path(__file__).resolve().parents[1] / "hw_configs"
RNG = np.random.default_rng(13)

CASES = [
    (O.Transpose((0, 2, 1, 3)), (2, 5, 4, 6), lambda x: x.transpose(0, 2, 1, 3)),
    (O.Transpose((0, 3, 1, 2)), (1, 3, 4, 8), lambda x: x.transpose(0, 3, 1, 2)),
    (O.Transpose((0, 1, 2, 4, 3)), (1, 2, 3, 2, 5), lambda x: x.transpose(0, 1, 2, 4, 3)),
    (O.Slice((0, 1, 0, 2), (-1, 3, 4, 5)), (2, 6, 4, 8), lambda x: x[:, 1:4, :, 2:7]),
    (O.Slice((0, 0, 1, 7), (1, 3, 2, 4), (1, 2, 2, -2)), (1, 6, 5, 8), lambda x: x[:, 0:6:2, 1:5:2, 7:0:-2]),
    (O.Slice((0, 3), (1, 4), (1, -1)), (1, 9), lambda x: x[:, 3::-1]),
    (O.Gather(3, (5, 0, 5, 2)), (1, 2, 3, 6), lambda x: x[..., [5, 0, 5, 2]]),
    (O.Gather(1, 2), (2, 4, 3), lambda x: x[:, 2]),
    (O.Gather(-1, -1), (2, 4, 3), lambda x: x[..., 2]),
]


def _quant_graph(op, shape, dtype="int8", zp=-3):
    g = GraphBuilder("t")
    x = g.input("x", shape, dtype, QuantParams.per_tensor(0.05, zp))
    y = g.op(op, [x], dtype, QuantParams.per_tensor(0.05, zp), name="move")
    return g.build([y])


@pytest.mark.parametrize("op, shape, reference", CASES)
@pytest.mark.parametrize("dtype, lo, hi", [("int8", -128, 128), ("uint8", 0, 256), ("int16", -32768, 32768)])
def test_engine_output_integers_are_the_selected_input_integers(op, shape, reference, dtype, lo, hi):
    """Bit-exact data movement over random codes and over every code of the type (a ramp through the whole range),
    checked against numpy indexing written independently here; the float reference moves the same values."""
    graph = _quant_graph(op, shape, dtype, zp=0 if dtype == "int16" else 7)
    storage = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16}[dtype]
    size = math.prod(shape)
    for x in (RNG.integers(lo, hi, shape).astype(storage),
              (lo + np.arange(size) * max(1, (hi - lo) // size) % (hi - lo)).astype(storage).reshape(shape)):
        out = execute(graph, {"x": x})[graph.outputs[0]]
        np.testing.assert_array_equal(out, reference(x))
        assert out.dtype == x.dtype and out.shape == graph.tensors[graph.outputs[0]].shape
    g = GraphBuilder("f")
    fx = g.input("x", shape, "float32", None)
    fy = g.op(op, [fx], "float32", None, name="move")
    xf = RNG.standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(run_float(g.build([fy]), {"x": xf})[fy], reference(xf))


def test_output_keeps_the_input_quantization_after_ptq():
    from accelsim.graph.ptq import PTQSettings, quantize_graph

    g = GraphBuilder("f")
    x = g.input("x", (1, 4, 4, 6), "float32", None)
    y = g.op(O.Transpose((0, 2, 1, 3)), [x], "float32", None, name="t")
    z = g.op(O.Slice((0, 0, 0, 2), (-1, 4, 4, 3)), [y], "float32", None, name="s")
    w = g.op(O.Gather(3, (2, 0)), [z], "float32", None, name="g")
    graph = quantize_graph(g.build([w]), {"x": RNG.standard_normal((8, 4, 4, 6)).astype(np.float32)},
                           PTQSettings())
    qx = graph.tensors[graph.inputs[0]]
    for node in graph.nodes:
        out = graph.tensors[node.outputs[0]]
        assert out.dtype == qx.dtype and out.quant.same_as(qx.quant), node.name


@pytest.mark.parametrize("op, shape, message", [
    (O.Transpose((0, 1, 1, 2)), (1, 2, 3, 4), "not a permutation"),
    (O.Slice((0, 5), (1, 2)), (1, 6), "leaves axis 1"),
    (O.Slice((0, 0), (1, 2), (1, 0)), (1, 6), "step 0"),
    (O.Gather(1, (7,)), (1, 6), "out of range"),
])
def test_bad_attributes_are_refused_with_the_reason(op, shape, message):
    with pytest.raises(ValueError, match=message):
        infer_shape(op, [shape])


def test_yaml_forms_parse_and_build_the_same_ops():
    spec = parse_workload({
        "name": "moves", "input_shape": [1, 4, 4, 8],
        "layers": [
            {"name": "t", "op": "transpose", "perm": [0, 2, 1, 3]},
            {"name": "s", "op": "slice", "begin": [0, 0, 1, 0], "size": [-1, 4, 2, 4], "strides": [1, 1, 1, 2]},
            {"name": "g", "op": "gather", "axis": 3, "indices": [3, 1]},
        ]}, "moves.yaml")
    graph = build_graph(spec)
    kinds = [(n.kind, n.op) for n in graph.nodes]
    assert kinds == [("Transpose", O.Transpose((0, 2, 1, 3))), ("Slice", O.Slice((0, 0, 1, 0), (-1, 4, 2, 4),
                                                                                 (1, 1, 1, 2))),
                     ("Gather", O.Gather(3, (3, 1)))]
    assert graph.tensors[graph.outputs[0]].shape == (1, 4, 2, 2)
    for node in graph.nodes:
        data = O.op_def(node.kind).to_yaml(graph, node)
        assert LAYER_TYPES[data["op"]].model_validate({"name": node.name, **data}).to_op([])[0] == node.op


def test_simd_cost_closed_forms_on_hvx():
    """hvx_690: 1024-bit vectors, 128 int8 lanes. Slice / Gather copy: ceil(outputs/128) vectors, each 1 load +
    1 store, no ALU; Transpose: 2 loads + 1 permute + 1 store per output vector."""
    hvx = load_hw(HW / "hvx_690.yaml")
    lanes = hvx.compute.simd.vector_bits // 8
    for op, shape, loads, alu in [(O.Slice((0, 0, 0, 0), (1, 14, 14, 58)), (1, 14, 14, 116), 1, 0),
                                  (O.Gather(3, tuple(range(0, 116, 2))), (1, 14, 14, 116), 1, 0),
                                  (O.Transpose((0, 1, 3, 2)), (1, 196, 2, 58), 2, 1)]:
        graph = _quant_graph(op, shape)
        layer = layer_shape(graph, graph.nodes[0])
        outputs = math.prod(graph.tensors[graph.outputs[0]].shape)
        vectors = math.ceil(outputs / lanes)
        counts, _ = alu_counts(layer, hvx.compute.simd.vector_bits)
        assert (counts.loads, counts.alu, counts.stores) == (loads * vectors, alu * vectors, vectors)
        row = simulate(graph, hvx).layers.iloc[0]
        assert row["unit"] == "simd" and row["compute_cycles"] > 0


@pytest.mark.parametrize("op, shape", [(O.Transpose((0, 2, 1, 3)), (1, 4, 6, 10)),
                                       (O.Slice((0, 1, 0, 0), (1, 2, 6, 10)), (1, 4, 6, 10)),
                                       (O.Gather(3, (1, 2, 3)), (1, 4, 6, 10))])
def test_scale_unit_moves_one_element_per_output_per_lane(op, shape):
    hw = load_hw(HW / "gemmini_default.yaml")
    graph = _quant_graph(op, shape)
    outputs = math.prod(graph.tensors[graph.outputs[0]].shape)
    cost = compute_cost(layer_shape(graph, graph.nodes[0]), hw)
    assert (cost.unit, cost.alu_ops, cost.requant_ops) == ("scale_unit", outputs, 0)
    row = simulate(graph, hw).layers.iloc[0]
    assert row["compute_cycles"] == outputs / hw.scale_unit.lanes


# ------------------------------------------------------------------------------ TFLite vs LiteRT BUILTIN_REF
def _tflite_case(name: str, shape: tuple[int, ...], dtype: str):
    """A one-op model x -> op -> outputs (int8 / uint8 / int16, the quantization of x kept) built with the test's
    own flatbuffer builder (not accelsim's exporter); returns (model bytes, number of outputs)."""
    from tflite_builder import S, TFLiteModel

    m = TFLiteModel()
    zp = 0 if dtype == "int16" else 3
    x = m.tensor("x", shape, dtype, 0.02, zp)

    def out(shape_out, tag="y"):
        return m.tensor(tag, shape_out, dtype, 0.02, zp)

    def ints(tag, values, kind="int32"):
        values = np.asarray(values)
        return m.tensor(tag, values.shape, kind, data=values)

    if name == "transpose":
        perm = (0, 2, 1, 3) if len(shape) == 4 else (0, 2, 1)
        m.op("TRANSPOSE", [x, ints("perm", perm)], [out(tuple(shape[p] for p in perm))], "TransposeOptions",
             S.TransposeOptionsT(), 2)
        return m.finish([x], [len(m.tensors) - 1]), 1
    if name == "transpose5d":
        perm = (0, 1, 2, 4, 3)
        r = out((shape[0], shape[1], shape[2], 2, shape[3] // 2), "r")
        o = S.ReshapeOptionsT()
        o.newShape = [shape[0], shape[1], shape[2], 2, shape[3] // 2]
        m.op("RESHAPE", [x, ints("s5", o.newShape)], [r], "ReshapeOptions", o)
        t = out((shape[0], shape[1], shape[2], shape[3] // 2, 2), "t")
        m.op("TRANSPOSE", [r, ints("perm", perm)], [t], "TransposeOptions", S.TransposeOptionsT(), 2)
        o2 = S.ReshapeOptionsT()
        o2.newShape = list(shape)
        y = out(shape)
        m.op("RESHAPE", [t, ints("s4", list(shape))], [y], "ReshapeOptions", o2)
        return m.finish([x], [y]), 1
    if name == "slice":
        begin, size = (0, 1, 0, 2), (-1, 2, 3, -1)
        res = (shape[0], 2, 3, shape[3] - 2)
        m.op("SLICE", [x, ints("b", begin), ints("s", size)], [out(res)], "SliceOptions", S.SliceOptionsT(), 2)
        return m.finish([x], [len(m.tensors) - 1]), 1
    if name == "strided_slice":
        o = S.StridedSliceOptionsT()
        o.beginMask, o.endMask, o.shrinkAxisMask = 0b0001, 0b0100, 0
        begin, end, strides = (0, 1, 0, -1), (1, 5, 3, 0), (1, 2, 1, -2)
        ref = np.zeros(shape)[0:1, 1:5:2, 0::1, -1:0:-2].shape
        m.op("STRIDED_SLICE", [x, ints("b", begin), ints("e", end), ints("st", strides)], [out(ref)],
             "StridedSliceOptions", o, 4 if dtype == "int16" else 2)
        return m.finish([x], [len(m.tensors) - 1]), 1
    if name == "strided_slice_shrink":
        o = S.StridedSliceOptionsT()
        o.shrinkAxisMask = 0b0010
        ref = np.zeros(shape)[:, 2, 1:3, :].shape
        m.op("STRIDED_SLICE", [x, ints("b", (0, 2, 1, 0)), ints("e", shape[:1] + (3, 3) + shape[3:]),
                               ints("st", (1, 1, 1, 1))], [out(ref)], "StridedSliceOptions", o,
             4 if dtype == "int16" else 2)
        return m.finish([x], [len(m.tensors) - 1]), 1
    if name == "split":
        o = S.SplitOptionsT()
        o.numSplits = 2
        outs = [out(shape[:3] + (shape[3] // 2,), f"y{i}") for i in range(2)]
        m.op("SPLIT", [ints("axis", np.array(3, np.int32)), x], outs, "SplitOptions", o, 3 if dtype == "int16" else 2)
        return m.finish([x], outs), 2
    if name == "split_v":
        o = S.SplitVOptionsT()
        o.numSplits = 3
        sizes = (1, -1, 2)
        parts = (1, shape[1] - 3, 2)
        outs = [out((shape[0], p) + shape[2:], f"y{i}") for i, p in enumerate(parts)]
        m.op("SPLIT_V", [x, ints("sz", sizes), ints("axis", np.array(1, np.int32))], outs, "SplitVOptions", o, 2)
        return m.finish([x], outs), 3
    if name == "gather":
        o = S.GatherOptionsT()
        o.axis = 3
        idx = (4, 0, 4, 1)
        m.op("GATHER", [x, ints("i", idx)], [out(shape[:3] + (len(idx),))], "GatherOptions", o, 2)
        return m.finish([x], [len(m.tensors) - 1]), 1
    if name == "gather_scalar":
        o = S.GatherOptionsT()
        o.axis = 1
        m.op("GATHER", [x, ints("i", np.array(2, np.int32))], [out(shape[:1] + shape[2:])], "GatherOptions", o, 2)
        return m.finish([x], [len(m.tensors) - 1]), 1
    raise AssertionError(name)


TFLITE_CASES = ["transpose", "transpose5d", "slice", "strided_slice", "strided_slice_shrink", "split", "split_v",
                "gather", "gather_scalar"]


@pytest.mark.parametrize("name", TFLITE_CASES)
@pytest.mark.parametrize("dtype, lo, hi", [("int8", -128, 128), ("uint8", 0, 256), ("int16", -32768, 32768)])
def test_tflite_import_equals_litert_reference(name, dtype, lo, hi):
    """Every output integer equals LiteRT BUILTIN_REF's (0 mismatches) over random codes and a sweep of the
    whole range of the type."""
    from tflite_builder import run_reference

    from accelsim.graph.importers.tflite import load_tflite

    shape = (1, 6, 4, 10)
    model, outs = _tflite_case(name, shape, dtype)
    graph = load_tflite(model)
    storage = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16}[dtype]
    size = math.prod(shape)
    for x in (RNG.integers(lo, hi, shape).astype(storage),
              (lo + (np.arange(size) * ((hi - lo) // size + 1)) % (hi - lo)).astype(storage).reshape(shape)):
        want = run_reference(model, [x])
        got = execute(graph, {graph.inputs[0]: x})
        assert len(want) == len(graph.outputs) == outs
        for name_out, expected in zip(graph.outputs, want):
            np.testing.assert_array_equal(got[name_out], expected)


# ------------------------------------------------------------------------------------------- exporters
EXPORT_CHAINS = [
    [O.Transpose((0, 2, 1, 3))],
    [O.Slice((0, 1, 3, 9), (-1, 2, 2, 4), (1, 2, -1, -2))],
    [O.Slice((0, 1, 0, 2), (-1, 4, 4, 5))],
    [O.Gather(3, (7, 0, 7, 2))],
    [O.Gather(1, 4)],                                   # 4-D -> 3-D (N, W, C)
    [O.Reshape((1, 24, 2, 5)), O.Transpose((0, 1, 3, 2)), O.Reshape((1, 6, 4, 10))],   # a channel shuffle
]


def _export_graph(ops, dtype="int8"):
    g = GraphBuilder("moves")
    quant = QuantParams.per_tensor(0.05, 3)
    x = g.input("x", (1, 6, 4, 10), dtype, quant)
    for k, op in enumerate(ops):
        x = g.op(op, [x], dtype, quant, name=f"m{k}")
    return g.build([x])


@pytest.mark.parametrize("ops", EXPORT_CHAINS, ids=lambda ops: "-".join(o.kind for o in ops))
def test_tflite_export_runs_on_litert_and_reimports_to_the_same_graph(ops):
    from tflite_builder import run_reference

    from accelsim.graph.exporters.tflite import export_tflite
    from accelsim.graph.importers.tflite import load_tflite

    graph = _export_graph(ops)
    model = export_tflite(graph)
    x = RNG.integers(-128, 128, (1, 6, 4, 10)).astype(np.int8)
    want = execute(graph, {"x": x})[graph.outputs[0]]
    np.testing.assert_array_equal(run_reference(model, [x])[0], want)
    back = load_tflite(model)
    assert [n.op for n in back.nodes] == [n.op for n in graph.nodes]


@pytest.mark.parametrize("ops", EXPORT_CHAINS, ids=lambda ops: "-".join(o.kind for o in ops))
@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_onnx_qlinear_export_equals_onnxruntime(ops, dtype):
    import onnxruntime as ort

    from accelsim.graph.exporters.onnx_qlinear import export_onnx_qlinear

    graph = _export_graph(ops, dtype)
    model = export_onnx_qlinear(graph)
    lo, hi, storage = (-128, 128, np.int8) if dtype == "int8" else (0, 256, np.uint8)
    x = RNG.integers(lo, hi, (1, 6, 4, 10)).astype(storage)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x})[0]
    np.testing.assert_array_equal(got, execute(graph, {"x": x})[graph.outputs[0]])


def test_tflite_strided_slice_with_an_ellipsis_mask_is_refused_by_name():
    from tflite_builder import S, TFLiteModel

    from accelsim.errors import UnsupportedError
    from accelsim.graph.importers.tflite import load_tflite

    m = TFLiteModel()
    x = m.tensor("x", (1, 4, 4, 8), "int8", 0.02, 0)
    ints = [m.tensor(n, (4,), "int32", data=np.array(v, np.int32))
            for n, v in (("b", (0, 0, 0, 0)), ("e", (1, 4, 4, 8)), ("s", (1, 1, 1, 1)))]
    y = m.tensor("y", (1, 4, 4, 8), "int8", 0.02, 0)
    o = S.StridedSliceOptionsT()
    o.ellipsisMask = 1
    m.op("STRIDED_SLICE", [x, *ints], [y], "StridedSliceOptions", o, 2)
    with pytest.raises(UnsupportedError, match=r"operator 0 \(STRIDED_SLICE\).*ellipsisMask"):
        load_tflite(m.finish([x], [y]))
