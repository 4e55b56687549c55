"""com.microsoft QLinearConcat: import and onnxruntime-exact execution ([ref:ORT], contrib_ops/cpu/quantization/
qlinear_concat.cc). Each input whose (S, Z) differs from the output's goes through onnxruntime's lookup table
``clamp(rint(f32(f32(S_x · (q − Z_x)) / S_y)) + Z_y)``; an input with the output's (S, Z) is copied. Checked on
uint8 and int8, random inputs and inputs sweeping every code, along the channel and a spatial axis, with
0 mismatches; and the rule itself against a closed form written here."""
from __future__ import annotations

import numpy as np
import pytest

from accelsim.errors import UnsupportedError
from accelsim.execute import execute
from accelsim.graph import ops as O

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from accelsim.graph.importers.onnx import import_model  # noqa: E402

_NP = {"uint8": np.uint8, "int8": np.int8}
#: (scale, zero point) of three inputs and the output; input 1 shares the output's, so it is copied.
_QPARAMS = {"uint8": [(0.05, 128), (0.031, 120), (0.2, 7), (0.031, 120)],
            "int8": [(0.05, 3), (0.031, -4), (0.2, -128), (0.031, -4)]}


def _model(dtype: str, shapes, axis: int, qparams) -> onnx.ModelProto:
    npd = _NP[dtype]
    inits, nodes, inputs = [], [], []
    for i, (scale, zero) in enumerate(qparams):
        inits += [numpy_helper.from_array(np.array(scale, np.float32), f"s{i}"),
                  numpy_helper.from_array(np.array(zero, npd), f"z{i}")]
    concat_inputs = ["s3", "z3"]
    for i, shape in enumerate(shapes):
        inputs.append(helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, list(shape)))
        nodes.append(helper.make_node("QuantizeLinear", [f"x{i}", f"s{i}", f"z{i}"], [f"q{i}"], name=f"quant{i}"))
        concat_inputs += [f"q{i}", f"s{i}", f"z{i}"]
    nodes.append(helper.make_node("QLinearConcat", concat_inputs, ["yq"], name="cat", domain="com.microsoft",
                                  axis=axis))
    nodes.append(helper.make_node("DequantizeLinear", ["yq", "s3", "z3"], ["y"], name="dequant"))
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10
    return model


def _integer_inputs(dtype: str, shapes, seed: int, sweep: bool) -> list[np.ndarray]:
    info = np.iinfo(_NP[dtype])
    rng = np.random.default_rng(seed)
    out = []
    for shape in shapes:
        if sweep:  # every code of the type, repeated
            v = np.resize(np.arange(info.min, info.max + 1), int(np.prod(shape))).reshape(shape)
        else:
            v = rng.integers(info.min, info.max + 1, shape)
        out.append(v.astype(_NP[dtype]))
    return out


def _compare(dtype: str, shapes, axis: int, sweep: bool) -> int:
    qparams = _QPARAMS[dtype]
    model = _model(dtype, shapes, axis, qparams)
    xs = _integer_inputs(dtype, shapes, 11, sweep)
    # float feeds that QuantizeLinear maps back to exactly these integers
    feeds = {f"x{i}": ((x.astype(np.float32) - np.float32(z)) * np.float32(s)).astype(np.float32)
             for i, (x, (s, z)) in enumerate(zip(xs, qparams))}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    ref = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    s_out, z_out = qparams[3]
    ref_q = (np.rint(ref / np.float32(s_out)) + z_out).astype(np.int64)
    graph = import_model(model, "cat.onnx")
    node = graph.nodes[0]
    assert isinstance(node.op, O.Concat) and node.requant == "float32"
    ours = execute(graph, {f"x{i}": np.ascontiguousarray(x.transpose(0, 2, 3, 1)) for i, x in enumerate(xs)})
    got = ours[graph.outputs[0]].astype(np.int64).transpose(0, 3, 1, 2)
    assert got.shape == ref_q.shape
    np.testing.assert_array_equal(got, ref_q)
    return got.size


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
@pytest.mark.parametrize("sweep", [False, True])
def test_qlinear_concat_equals_onnxruntime(dtype, sweep):
    compared = _compare(dtype, [(2, 16, 5, 7), (2, 8, 5, 7), (2, 3, 5, 7)], 1, sweep)   # channels
    compared += _compare(dtype, [(1, 4, 6, 9), (1, 4, 3, 9), (1, 4, 16, 9)], 2, sweep)  # height
    assert compared >= 1700


def _ort_rule(q: np.ndarray, s_in: float, z_in: int, s_out: float, z_out: int, lo: int, hi: int) -> np.ndarray:
    """Independent transcription: dequantize in float32, divide by the output scale in float32, round half to
    even, add the zero point, saturate."""
    out = []
    for v in q.reshape(-1).tolist():
        real = np.float32(s_in) * np.float32(v - z_in)
        out.append(min(max(int(np.rint(np.float32(real / np.float32(s_out)))) + z_out, lo), hi))
    return np.array(out, np.int64).reshape(q.shape)


def test_float32_rescale_rule_closed_form():
    """The engine's QLinearConcat rescale equals the transcription on every int8 code, including ties: with
    S_in / S_out = 0.5 every odd (q − Z_in) lands on a .5 that rounds to even."""
    from accelsim.engine.layout import ort_requantize_linear
    from accelsim.graph.ir import Tensor
    from accelsim.quant.params import QuantParams

    q = np.arange(-128, 128, dtype=np.int8).reshape(1, 1, 16, 16)
    for s_in, z_in, s_out, z_out in [(0.1, 0, 0.2, 0), (0.05, 3, 0.021, -5), (0.7, -2, 0.01, 1)]:
        t = Tensor("x", q.shape, "int8", QuantParams.per_tensor(s_in, z_in))
        out_t = Tensor("y", q.shape, "int8", QuantParams.per_tensor(s_out, z_out))
        np.testing.assert_array_equal(ort_requantize_linear(q, t, out_t).astype(np.int64),
                                      _ort_rule(q, s_in, z_in, s_out, z_out, -128, 127))
    halves = ort_requantize_linear(np.array([1, 3, 5, -1], np.int8), Tensor(
        "x", (4,), "int8", QuantParams.per_tensor(0.1, 0)), Tensor("y", (4,), "int8", QuantParams.per_tensor(0.2, 0)))
    assert halves.tolist() == [0, 2, 2, 0]     # 0.5, 1.5, 2.5, −0.5 to even


def test_malformed_qlinear_concat_is_refused_by_name():
    model = _model("uint8", [(1, 2, 3, 3), (1, 2, 3, 3)], 1, _QPARAMS["uint8"])
    cat = next(n for n in model.graph.node if n.op_type == "QLinearConcat")
    del cat.input[-1]
    with pytest.raises(UnsupportedError, match="cat.*QLinearConcat"):
        import_model(model, "bad.onnx")


# ------------------------------------------------------------------------------------------ TFLite CONCATENATION
def test_tflite_uint8_concatenation_with_differing_scales_equals_litert():
    """LiteRT's uint8 CONCATENATION rescales in float32 (reference_ops::ConcatenationWithScaling, round half away
    from zero); the engine's fixed-point modes reproduce it on uint8 (0 mismatches, every code); int8 inputs with
    other scales come as QUANTIZE + CONCATENATION (tests/test_litert_golden.py)."""
    pytest.importorskip("ai_edge_litert")
    from tflite_builder import S, TFLiteModel, run_reference

    from accelsim.graph.importers.tflite import load_tflite

    rng = np.random.default_rng(0)
    for s0, z0, s1, z1, so, zo in [(0.05, 128, 0.031, 120, 0.07, 100), (0.1, 0, 0.2, 7, 0.3, 3),
                                   (0.02, 5, 0.04, 250, 0.013, 4), (0.0123, 200, 0.5, 0, 0.0123, 200)]:
        m = TFLiteModel()
        a = m.tensor("a", (1, 8, 8, 4), "uint8", s0, z0)
        b = m.tensor("b", (1, 8, 8, 6), "uint8", s1, z1)
        y = m.tensor("y", (1, 8, 8, 10), "uint8", so, zo)
        o = S.ConcatenationOptionsT()
        o.axis, o.fusedActivationFunction = 3, 0
        m.op("CONCATENATION", [a, b], [y], "ConcatenationOptions", o, 1)
        model = m.finish([a, b], [y])
        xa = np.resize(np.arange(256), (1, 8, 8, 4)).astype(np.uint8)          # every code
        xb = rng.integers(0, 256, (1, 8, 8, 6)).astype(np.uint8)
        ref = run_reference(model, [xa, xb])[0]
        graph = load_tflite(model)
        got = execute(graph, {graph.inputs[0]: xa, graph.inputs[1]: xb})[graph.outputs[0]]
        np.testing.assert_array_equal(got, ref)
