"""Bit-exactness against onnxruntime QLinearConv / QLinearMatMul, the golden for the ``float32`` requantization
mode ([ref:ORT]): ``y = clamp(rne(f32(acc) · f32(f32(S_x·S_w[c]) / S_y)) + Z_y)``.

Each case is built with ``onnx.helper`` (opset 21, IR version 10), run on the CPU provider with all graph
optimizations off and one thread, and compared integer by integer with ``accelsim.execute`` on the same
graph expressed in accelsim's IR (NHWC activations, OHWI weights).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from accelsim.execute import execute
from accelsim.graph.builder import GraphBuilder
from accelsim.quant.params import DTYPES, QuantParams

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

#: Outputs compared over all cases must reach this.
MIN_COMPARED_OUTPUTS = 200_000
ONNX_TYPES = {"uint8": TensorProto.UINT8, "int8": TensorProto.INT8}
_compared: dict[str, int] = {}


@dataclass(frozen=True)
class ConvCase:
    x_dtype: str
    w_dtype: str                    # int4 is stored in an int8 ONNX tensor with values in [−8, 7]
    x_shape: tuple[int, int, int, int]
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)   # top, bottom, left, right
    groups: int = 1
    nonzero_w_zero: bool = False


CONV_CASES = {
    "u8s8_3x3_pad1": ConvCase("uint8", "int8", (2, 24, 24, 16), 32, (3, 3), pads=(1, 1, 1, 1)),
    "s8s8_3x3_s2_asym_pads": ConvCase("int8", "int8", (2, 25, 23, 16), 24, (3, 3), (2, 2), pads=(0, 1, 1, 0)),
    "u8u8_wzp_per_channel": ConvCase("uint8", "uint8", (1, 20, 20, 12), 16, (3, 3), pads=(1, 1, 1, 1),
                                     nonzero_w_zero=True),
    "s8s8_wzp_per_channel": ConvCase("int8", "int8", (1, 18, 18, 8), 16, (5, 5), pads=(2, 2, 2, 2),
                                     nonzero_w_zero=True),
    "s8s8_dilation2": ConvCase("int8", "int8", (1, 21, 21, 8), 16, (3, 3), dilation=(2, 2), pads=(2, 2, 2, 2)),
    "u8s8_1x1": ConvCase("uint8", "int8", (2, 28, 28, 64), 64, (1, 1)),
    "s8s8_depthwise_s1": ConvCase("int8", "int8", (2, 28, 28, 32), 32, (3, 3), pads=(1, 1, 1, 1), groups=32),
    "u8s8_depthwise_mult2_s2": ConvCase("uint8", "int8", (2, 29, 29, 16), 32, (3, 3), (2, 2), pads=(1, 1, 1, 1),
                                        groups=16),
    "u8s8_grouped4": ConvCase("uint8", "int8", (1, 16, 16, 16), 16, (3, 3), pads=(1, 1, 1, 1), groups=4),
    "s8int4_depthwise": ConvCase("int8", "int4", (2, 24, 24, 32), 32, (3, 3), pads=(1, 1, 1, 1), groups=32),
    "u8int4_conv_wzp": ConvCase("uint8", "int4", (1, 20, 20, 16), 24, (3, 3), (2, 2), pads=(1, 1, 1, 1),
                                nonzero_w_zero=True),
}


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def make_model(node, inputs, outputs, initializers) -> onnx.ModelProto:
    graph = helper.make_graph([node], "golden", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    return model


def scalar(name: str, value, dtype) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(value, dtype=dtype), name)


def random_ints(rng, shape, dtype: str) -> np.ndarray:
    info = DTYPES[dtype]
    return rng.integers(info.qmin, info.qmax + 1, shape).astype(info.storage)


def spread_scale(sx: float, sw: np.ndarray, x_dtype: str, w_dtype: str, fan_in: int) -> float:
    """An output scale putting ±3 standard deviations of the real accumulation at ±128 codes."""
    x_std = (DTYPES[x_dtype].qmax - DTYPES[x_dtype].qmin) / math.sqrt(12)
    w_std = (DTYPES[w_dtype].qmax - DTYPES[w_dtype].qmin) / math.sqrt(12)
    return float(3 * math.sqrt(fan_in) * x_std * w_std * sx * float(np.mean(sw)) / 128)


def ort_qlinearconv(case: ConvCase, x, sx, zx, w, sw, zw, bias, sy, zy, y_dtype) -> np.ndarray:
    onnx_w_dtype = "int8" if case.w_dtype == "int4" else case.w_dtype
    w_oihw = w.transpose(0, 3, 1, 2)
    top, bottom, left, right = case.pads
    node = helper.make_node(
        "QLinearConv", ["x", "x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp", "b"], ["y"],
        kernel_shape=list(case.kernel), strides=list(case.stride), dilations=list(case.dilation),
        pads=[top, left, bottom, right], group=case.groups)
    store = DTYPES[onnx_w_dtype].storage
    inits = [
        scalar("x_scale", sx, np.float32), scalar("x_zp", zx, DTYPES[case.x_dtype].storage),
        numpy_helper.from_array(w_oihw.astype(store), "w"),
        numpy_helper.from_array(sw.astype(np.float32), "w_scale"),
        numpy_helper.from_array(zw.astype(store), "w_zp"),
        scalar("y_scale", sy, np.float32), scalar("y_zp", zy, DTYPES[y_dtype].storage),
        numpy_helper.from_array(bias.astype(np.int32), "b"),
    ]
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    model = make_model(node, [helper.make_tensor_value_info("x", ONNX_TYPES[case.x_dtype], x_nchw.shape)],
                       [helper.make_tensor_value_info("y", ONNX_TYPES[y_dtype], ["n", "c", "h", "w"])], inits)
    (y,) = session(model).run(None, {"x": x_nchw})
    return y.transpose(0, 2, 3, 1)


@pytest.mark.parametrize("name", list(CONV_CASES))
def test_qlinearconv_bit_exact(name):
    case = CONV_CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    x = random_ints(rng, case.x_shape, case.x_dtype)
    ci_g = case.x_shape[3] // case.groups
    w = random_ints(rng, (case.out_channels, *case.kernel, ci_g), case.w_dtype)
    info_w = DTYPES[case.w_dtype]
    if case.nonzero_w_zero:
        mid = (info_w.qmin + info_w.qmax) // 2
        spread = max(1, (info_w.qmax - info_w.qmin) // 8)
        zw = rng.integers(mid - spread, mid + spread + 1, case.out_channels)
    else:
        zw = np.zeros(case.out_channels, np.int64)
    sx = float(rng.uniform(0.01, 0.05))
    zx = int(rng.integers(100, 156)) if case.x_dtype == "uint8" else int(rng.integers(-20, 21))
    sw = rng.uniform(0.002, 0.02, case.out_channels).astype(np.float32)
    bias = rng.integers(-20000, 20000, case.out_channels).astype(np.int32)
    y_dtype = case.x_dtype
    sy = spread_scale(sx, sw, case.x_dtype, case.w_dtype, case.kernel[0] * case.kernel[1] * ci_g)
    zy = 128 if y_dtype == "uint8" else 0
    expected = ort_qlinearconv(case, x, sx, zx, w, sw, zw, bias, sy, zy, y_dtype)

    b = GraphBuilder(name)
    xin = b.input("x", case.x_shape, case.x_dtype, QuantParams.per_tensor(sx, zx))
    wt = b.constant("w", w, case.w_dtype, QuantParams.per_channel(sw, zw, axis=0))
    bt = b.constant("b", bias, "int32", None)
    y = b.conv2d(xin, wt, bt, QuantParams.per_tensor(sy, zy), stride=case.stride, dilation=case.dilation,
                 padding=case.pads, groups=case.groups, requant="float32")
    got = execute(b.build([y]), {"x": x})[y]
    assert got.shape == expected.shape and got.dtype == expected.dtype
    assert np.unique(expected).size > 32, "degenerate golden output"
    mismatches = int(np.count_nonzero(got != expected))
    assert mismatches == 0, f"{mismatches} of {expected.size} outputs differ"
    _compared[name] = expected.size


@pytest.mark.parametrize("x_dtype, w_dtype", [("uint8", "uint8"), ("uint8", "int8"), ("int8", "int8")])
def test_qlinearmatmul_bit_exact(x_dtype, w_dtype):
    """QLinearMatMul with per-column weight scales and zero points = FullyConnected with per-channel weights."""
    rng = np.random.default_rng(DTYPES[x_dtype].signed * 2 + DTYPES[w_dtype].signed)
    m, k, n = 64, 96, 80
    x = random_ints(rng, (m, k), x_dtype)
    w = random_ints(rng, (n, k), w_dtype)  # accelsim FC weights (O, I); ONNX B is (K, N)
    sx = float(rng.uniform(0.01, 0.05))
    zx = 121 if x_dtype == "uint8" else -7
    sw = rng.uniform(0.002, 0.02, n).astype(np.float32)
    zw = rng.integers(120, 136, n) if w_dtype == "uint8" else rng.integers(-6, 7, n)
    sy = spread_scale(sx, sw, x_dtype, w_dtype, k)
    zy = 128 if x_dtype == "uint8" else 0
    store_x, store_w = DTYPES[x_dtype].storage, DTYPES[w_dtype].storage
    node = helper.make_node("QLinearMatMul", ["a", "a_scale", "a_zp", "b", "b_scale", "b_zp", "y_scale", "y_zp"],
                            ["y"])
    inits = [scalar("a_scale", sx, np.float32), scalar("a_zp", zx, store_x),
             numpy_helper.from_array(np.ascontiguousarray(w.T), "b"),
             numpy_helper.from_array(sw, "b_scale"), numpy_helper.from_array(zw.astype(store_w), "b_zp"),
             scalar("y_scale", sy, np.float32), scalar("y_zp", zy, store_x)]
    model = make_model(node, [helper.make_tensor_value_info("a", ONNX_TYPES[x_dtype], x.shape)],
                       [helper.make_tensor_value_info("y", ONNX_TYPES[x_dtype], ["m", "n"])], inits)
    (expected,) = session(model).run(None, {"a": x})

    b = GraphBuilder("matmul")
    xin = b.input("x", x.shape, x_dtype, QuantParams.per_tensor(sx, zx))
    wt = b.constant("w", w, w_dtype, QuantParams.per_channel(sw, zw, axis=0))
    y = b.fully_connected(xin, wt, None, QuantParams.per_tensor(sy, zy), requant="float32")
    got = execute(b.build([y]), {"x": x})[y]
    assert np.unique(expected).size > 32, "degenerate golden output"
    mismatches = int(np.count_nonzero(got != expected))
    assert mismatches == 0, f"{mismatches} of {expected.size} outputs differ"
    _compared[f"matmul_{x_dtype}_{w_dtype}"] = expected.size


def test_total_compared_outputs():
    """Runs last in this module (pytest keeps file order): the cases above compared enough integers."""
    if len(_compared) < len(CONV_CASES) + 3:
        pytest.skip("run the whole module to count compared outputs")
    assert sum(_compared.values()) >= MIN_COMPARED_OUTPUTS, _compared
