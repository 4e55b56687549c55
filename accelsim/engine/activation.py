"""Engine runner of the activation ops (HardSwish, HardSigmoid, Sigmoid, Tanh, LeakyReLU, PReLU).

The node's requantization mode picks the runtime whose arithmetic is reproduced (docs/arithmetic.md "Activation
ops"): ``fixed_point*`` LiteRT's reference kernels ([ref:TFLiteAct]), ``float32*`` onnxruntime's float kernels
between DequantizeLinear and QuantizeLinear and its com.microsoft QLinearSigmoid / QLinearLeakyRelu tables
([ref:ORTQuant]). Every op but PReLU is a function of one input code, so ``plan`` runs the exact integer formula
(``accelsim.kernels.activation``) once on every code of the input type and ``run`` is a table lookup (256 entries
for 8-bit inputs, 65 536 for 16-bit). PReLU runs its formula on the tensor, its slope broadcast over channels.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from accelsim.engine.common import NodeRun, RunOptions, constant
from accelsim.errors import UnsupportedError
from accelsim.graph.ir import Graph, Node, Tensor
from accelsim.graph.ops.activation import HardSigmoid, HardSwish, LeakyReLU, PReLU, Sigmoid, Tanh
from accelsim.kernels import activation as K
from accelsim.quant.params import dtype_info
from accelsim.quant.requant import quantize_multiplier


@dataclass(frozen=True, eq=False)
class TablePlan:
    """A unary activation as a table over every input code: ``out = table[q − qmin]``."""

    table: np.ndarray
    qmin: int


@dataclass(frozen=True, eq=False)
class PReLUPlan:
    """PReLU constants: the slope codes (or the float32 slope) broadcast over the last axis, and either LiteRT's
    two multipliers or onnxruntime's float scales."""

    slope: np.ndarray
    zero_in: int
    zero_out: int
    qmin: int
    qmax: int
    fixed_point: bool
    mode: str
    identity: tuple[int, int]
    alpha: tuple[int, int]
    scale_in: float
    scale_out: float


def _scalar(t: Tensor) -> tuple[float, int]:
    if t.quant is None:
        raise UnsupportedError(f"tensor {t.name!r} has no quantization parameters; quantize the graph first")
    if t.quant.per_channel_quantized:
        raise UnsupportedError(f"tensor {t.name!r}: activations need per-tensor quantization parameters")
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


def _fixed_point(node: Node) -> bool:
    return node.requant.startswith("fixed_point")


def plan(graph: Graph, node: Node) -> TablePlan | PReLUPlan:
    """The lookup table (or the PReLU constants) of the node."""
    x, out = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    s_in, z_in = _scalar(x)
    s_out, z_out = _scalar(out)
    info_in, info_out = dtype_info(x.dtype), dtype_info(out.dtype)
    if isinstance(node.op, PReLU):
        return _prelu_plan(graph, node, s_in, z_in, s_out, z_out, info_out.qmin, info_out.qmax)
    codes = K.code_range(info_in.qmin, info_in.qmax)
    table = table_codes(node, codes, x.dtype, s_in, z_in, s_out, z_out, info_out.qmin, info_out.qmax)
    return TablePlan(table.astype(info_out.storage), info_in.qmin)


def table_codes(node: Node, codes: np.ndarray, dtype: str, s_in: float, z_in: int, s_out: float, z_out: int,
                qmin: int, qmax: int) -> np.ndarray:
    """Output codes of the unary activation ``node`` for input ``codes`` under its requantization mode."""
    op = node.op
    wide = dtype_info(dtype).bits > 8
    if not _fixed_point(node):
        transform = {
            Sigmoid: K.mlas_logistic, Tanh: K.mlas_tanh, HardSwish: K.ort_hard_swish,
        }.get(type(op))
        if isinstance(op, HardSigmoid):
            transform = lambda v: K.ort_hard_sigmoid(v, op.alpha, op.beta)  # noqa: E731
        elif isinstance(op, LeakyReLU):
            transform = lambda v: K.ort_leaky_relu(v, op.alpha)  # noqa: E731
        if transform is None:
            raise UnsupportedError(f"node {node.name!r}: no float form of {node.kind}")
        return K.ort_lut_codes(codes, s_in, z_in, s_out, z_out, transform, qmin, qmax)
    if isinstance(op, LeakyReLU):
        identity = quantize_multiplier(K.tflite_float_multiplier(s_in, s_out))
        alpha = quantize_multiplier(K.tflite_float_multiplier(s_in, op.alpha, s_out)) if op.alpha >= 0 else None
        if alpha is None:
            raise UnsupportedError(f"node {node.name!r}: LeakyReLU with a negative alpha ({op.alpha}) has no "
                                   f"LiteRT fixed-point form; use requant float32")
        return K.tflite_leaky_relu_codes(codes, z_in, z_out, identity, alpha, node.requant, qmin, qmax)
    if isinstance(op, HardSwish):
        if wide:
            raise UnsupportedError(f"node {node.name!r}: HardSwish on {dtype} has no LiteRT kernel (HARD_SWISH is "
                                   f"int8 / uint8 only); use 8-bit activations or requant float32")
        return K.tflite_hard_swish_codes(codes, z_in, z_out, K.hard_swish_params(s_in, s_out), qmin, qmax)
    if isinstance(op, (Sigmoid, Tanh)) and wide:
        if z_in != 0 or z_out != 0 or s_out != 1.0 / 32768:
            raise UnsupportedError(f"node {node.name!r}: LiteRT's int16 {node.kind} needs zero points 0 and the "
                                   f"output scale 1/32768, found Z_in {z_in}, S_out {s_out}, Z_out {z_out}")
        tanh = isinstance(op, Tanh)
        m, shift = K.int16_sigmoid_params(s_in, tanh)
        return np.clip(K.tflite_int16_sigmoid_codes(codes, m, shift, tanh), qmin, qmax)
    transform = {Sigmoid: K.sigmoid_f32_libm, Tanh: K.tanh_f32_libm}.get(type(op))
    if isinstance(op, HardSigmoid):
        transform = lambda v: np.clip(  # noqa: E731
            ((v * np.float32(op.alpha)).astype(np.float32) + np.float32(op.beta)).astype(np.float32),
            np.float32(0), np.float32(1))
    if transform is None:
        raise UnsupportedError(f"node {node.name!r}: no fixed-point form of {node.kind}")
    return K.tflite_lut_codes(codes, s_in, z_in, s_out, z_out, transform, qmin, qmax)


def _prelu_plan(graph: Graph, node: Node, s_in: float, z_in: int, s_out: float, z_out: int, qmin: int,
                qmax: int) -> PReLUPlan:
    slope_t = graph.tensors[node.inputs[1]]
    data = constant(graph, slope_t.name).reshape(-1)
    fixed = _fixed_point(node)
    if slope_t.quant is None or slope_t.dtype == "float32":
        if fixed:
            raise UnsupportedError(f"node {node.name!r}: a float PReLU slope ({slope_t.name!r}) has no LiteRT "
                                   f"fixed-point form; quantize it (PTQ does) or use requant float32")
        return PReLUPlan(data.astype(np.float32), z_in, z_out, qmin, qmax, False, node.requant, (0, 0), (0, 0),
                         s_in, s_out)
    s_a, z_a = _scalar(slope_t)
    if fixed:
        slope = data.astype(np.int64) - z_a
        identity = quantize_multiplier(K.tflite_float_multiplier(s_in, s_out))
        alpha = quantize_multiplier(K.tflite_float_multiplier(s_in, s_a, s_out))
    else:
        slope = K.ort_dequantize(data.astype(np.int64), s_a, z_a)
        identity = alpha = (0, 0)
    return PReLUPlan(slope, z_in, z_out, qmin, qmax, fixed, node.requant, identity, alpha, s_in, s_out)


def run_prelu(p: PReLUPlan, x: np.ndarray) -> np.ndarray:
    """LiteRT BroadcastPrelu4DSlow (``x = q − Z_in``; ``x ≥ 0``: rescale by S_in/S_out, else ``x·(a − Z_a)``
    rescaled by S_in·S_a/S_out; ``+ Z_out``, clamp) or onnxruntime's DequantizeLinear → PRelu
    (``x > 0 ? x : slope·x`` in float32) → QuantizeLinear."""
    slope = p.slope if p.slope.size > 1 else p.slope[0]
    if p.fixed_point:
        v = x.astype(np.int64) - p.zero_in
        pos = K.multiply_by_quantized_multiplier(v, *p.identity, p.mode)
        neg = K.multiply_by_quantized_multiplier(v * slope, *p.alpha, p.mode)
        return np.clip(np.where(v >= 0, pos, neg) + p.zero_out, p.qmin, p.qmax)
    v = K.ort_dequantize(x.astype(np.int64), p.scale_in, p.zero_in)
    y = np.where(v > 0, v, (v * slope).astype(np.float32)).astype(np.float32)
    return K.ort_quantize(y, p.scale_out, p.zero_out, p.qmin, p.qmax)


def run(graph: Graph, node: Node, plan: TablePlan | PReLUPlan, values: Mapping[str, np.ndarray],
        options: RunOptions) -> NodeRun:
    """The node's output codes."""
    x = values[node.inputs[0]]
    out_t = graph.tensors[node.outputs[0]]
    storage = dtype_info(out_t.dtype).storage
    if isinstance(plan, PReLUPlan):
        return NodeRun(run_prelu(plan, x).astype(storage).reshape(x.shape))
    return NodeRun(K.lut_lookup(x, plan.table, plan.qmin).reshape(x.shape))
