"""TFLite graph edges, checked on every tensor against LiteRT's reference kernels (BUILTIN_REF): float I/O through
QUANTIZE / DEQUANTIZE (int8, uint8, int16), and a uint8 interface around an int8 network (the uint8 -> int8
QUANTIZE at the input and int8 -> uint8 at the output that TFLiteConverter writes with
``inference_input_type=tf.uint8``), over random inputs and inputs sweeping the whole input range."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")

from accelsim.execute import execute  # noqa: E402
from accelsim.graph.importers.tflite import FLOAT_INPUTS_KEY, FLOAT_OUTPUTS_KEY, load_tflite  # noqa: E402
from tflite_builder import TFLiteModel, run_reference  # noqa: E402

RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


def sweep(rng, dtype, shape):
    lo, hi = RANGES[dtype]
    x = rng.integers(lo, hi + 1, size=shape)
    x.reshape(shape[0], -1)[-1] = np.resize(np.linspace(lo, hi, num=min(hi - lo + 1, x[0].size)).round(),
                                           x[0].size)
    return x.astype(dtype)


def conv_model(in_dtype: str, act_dtype: str, out_dtype: str, in_scale: float, in_zp: int, out_zp: int) -> bytes:
    """in (in_dtype) -> QUANTIZE -> conv 3x3 (act_dtype, int8 weights) -> QUANTIZE / DEQUANTIZE -> out."""
    rng = np.random.default_rng(0)
    m = TFLiteModel()
    act_zp = 0 if act_dtype == "int16" else 3
    x = m.tensor("in", (2, 6, 6, 4), in_dtype, None if in_dtype == "float32" else in_scale, in_zp)
    q = m.tensor("q", (2, 6, 6, 4), act_dtype, 0.05, act_zp)
    w = m.tensor("w", (5, 3, 3, 4), "int8", rng.uniform(0.004, 0.01, 5), 0, 0,
                 rng.integers(-127, 128, (5, 3, 3, 4)))
    bias_dtype = "int64" if act_dtype == "int16" else "int32"
    b = m.tensor("b", (5,), bias_dtype, None, 0, 0, rng.integers(-500, 500, 5))
    y = m.tensor("y", (2, 6, 6, 5), act_dtype, 0.08, -act_zp)
    out = m.tensor("out", (2, 6, 6, 5), out_dtype, None if out_dtype == "float32" else 0.08, out_zp)
    m.op("QUANTIZE", [x], [q], version=2)
    m.conv(q, w, b, y, version=3 if act_dtype != "int16" else 4)
    m.op("DEQUANTIZE" if out_dtype == "float32" else "QUANTIZE", [y], [out], version=2)
    return m.finish([x], [out])


@pytest.mark.parametrize("in_dtype, act_dtype, out_dtype, in_scale, in_zp, out_zp", [
    ("uint8", "int8", "uint8", 0.05, 131, 125),     # the converter's uint8 interface: same scale, zero point +128
    ("uint8", "int8", "uint8", 0.031, 100, 140),    # a different scale: the general Requantize path
    ("int8", "int8", "int8", 0.07, -5, 9),          # int8 -> int8 requantize
])
def test_integer_interface_requantize_equals_litert(in_dtype, act_dtype, out_dtype, in_scale, in_zp, out_zp):
    model = conv_model(in_dtype, act_dtype, out_dtype, in_scale, in_zp, out_zp)
    graph = load_tflite(model)
    assert graph.tensors[graph.inputs[0]].dtype == in_dtype
    assert graph.tensors[graph.outputs[0]].dtype == out_dtype
    x = sweep(np.random.default_rng(1), in_dtype, (2, 6, 6, 4))
    golden = run_reference(model, [x])[0]
    y = execute(graph, {graph.inputs[0]: x}).outputs[graph.outputs[0]]
    assert y.dtype == golden.dtype and int(np.count_nonzero(y != golden)) == 0


@pytest.mark.parametrize("act_dtype", ["int8", "int16"])
def test_float_interface_is_recorded_and_the_integers_agree(act_dtype):
    """float in -> QUANTIZE -> conv -> DEQUANTIZE -> float out: the IR keeps the integer tensors and records the
    float names; the integers LiteRT quantizes to give the same integer outputs."""
    model = conv_model("float32", act_dtype, "float32", 1.0, 0, 0)
    graph = load_tflite(model)
    assert graph.metadata[FLOAT_INPUTS_KEY] == {"q": "in"} and graph.metadata[FLOAT_OUTPUTS_KEY] == {"y": "out"}
    xf = np.random.default_rng(2).uniform(-6, 6, (2, 6, 6, 4)).astype(np.float32)
    golden = run_reference(model, [xf])[0]
    lo, hi = RANGES[act_dtype]
    q = np.clip(np.round(xf / np.float32(0.05)) + (0 if act_dtype == "int16" else 3), lo, hi).astype(act_dtype)
    y = execute(graph, {"q": q}).outputs["y"]
    zp = 0 if act_dtype == "int16" else -3
    assert np.array_equal((y.astype(np.float32) - zp) * np.float32(0.08), golden)
