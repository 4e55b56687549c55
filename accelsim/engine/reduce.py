"""Engine runner of the reduction ops: Softmax and Mean.

``fixed_point*`` modes follow TFLite ([ref:TFLiteRef]): SOFTMAX as reference_ops::Softmax (gemmlowp fixed point,
the BUILTIN_REF path), MEAN as a centred integer sum rescaled once with ``1/n`` folded into the multiplier
(make_mean_params). ``float32`` modes follow onnxruntime's DequantizeLinear → float op → QuantizeLinear
([ref:ORT]): float32 arithmetic, then ``rne(y / S_out) + Z_out`` (the float sums' order may differ from
onnxruntime's vectorised one: within 1 LSB, docs/onnx.md).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from accelsim.engine.common import NodeRun, RunOptions
from accelsim.errors import UnsupportedError
from accelsim.graph import ops as O
from accelsim.graph.ir import Graph, Node, Tensor
from accelsim.graph.ops.reduce import ORT_QLINEAR_SOFTMAX_KEY, resolved_axes
from accelsim.kernels import reduce as kernels
from accelsim.quant.params import dtype_info
from accelsim.quant.requant import RequantParams, make_mean_params, quantize_multiplier

#: TFLite softmax: the scaled input difference has 5 integer bits (activations.cc kScaledDiffIntegerBits).
SCALED_DIFF_INTEGER_BITS = 5


@dataclass(frozen=True)
class SoftmaxConstants:
    """TFLite PreprocessSoftmaxScaling / CalculateInputRadius results for one input scale and β."""

    input_multiplier: int
    input_left_shift: int
    diff_min: int


def softmax_constants(input_scale: float, beta: float) -> SoftmaxConstants:
    """``real = min(f64(β)·f64(S_in)·2^26, 2^31 − 1)`` quantized as a multiplier ≥ 1 (m, left shift);
    ``diff_min = −floor(31·2^26 / 2^left_shift)`` (TFLite quantization_util.cc PreprocessSoftmaxScaling,
    CalculateInputRadius, [ref:TFLiteRef])."""
    real = min(float(np.float32(beta)) * float(np.float32(input_scale)) * float(1 << (31 - SCALED_DIFF_INTEGER_BITS)),
               float((1 << 31) - 1))
    m, shift = quantize_multiplier(real)
    if shift < 0:
        raise UnsupportedError(f"softmax input scale·β = {real / (1 << 26):g} is too small for TFLite's "
                               f"fixed-point softmax (multiplier below 1)")
    radius = ((1 << SCALED_DIFF_INTEGER_BITS) - 1) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)) / (1 << shift)
    return SoftmaxConstants(m, shift, -int(math.floor(radius)))


def _tflite_round(x: np.ndarray | float) -> np.ndarray:
    """TfLiteRound (std::round): to nearest, ties away from zero."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def int16_lut(func, lo: float, hi: float) -> np.ndarray:
    """TFLite gen_lut for an int16 -> int16 table (lite/kernels/internal/common.h, [ref:TFLiteRef]): 512 steps
    over [lo, hi] in float64, each sample biased by half the midpoint interpolation error, plus the end value
    (513 entries), outputs scaled by 32768 and clamped to int16."""
    steps = 512
    step = (hi - lo) / steps
    i = np.arange(steps, dtype=np.float64)
    val = func(lo + i * step) * 32768.0
    nxt = func(lo + (i + 1) * step) * 32768.0
    mid = func(lo + i * step + step / 2) * 32768.0
    sample = _tflite_round(val)
    interp = _tflite_round((nxt + _tflite_round(val)) / 2)
    bias = _tflite_round((interp - _tflite_round(mid)) / 2)
    table = np.empty(steps + 1, np.int64)
    table[:steps] = np.clip(sample - bias, -32768, 32767)
    table[steps] = np.clip(_tflite_round(func(hi) * 32768.0), -32768, 32767)
    return table


def int16_lut_lookup(value: np.ndarray, table: np.ndarray) -> np.ndarray:
    """TFLite generic_int16_table_lookup: base ``table[256 + (v >> 7)]`` plus the slope to the next entry times
    ``v & 0x7f``, rounded (``(slope·offset + 64) >> 7``); int16 arithmetic wraps."""
    index = 256 + (value >> 7)
    offset = value & 0x7F
    base = table[index]
    slope = _wrap16(table[index + 1] - base)
    return _wrap16(base + ((slope * offset + 64) >> 7))


def _wrap16(x: np.ndarray) -> np.ndarray:
    return ((x + 32768) & 0xFFFF) - 32768


@dataclass(frozen=True)
class SoftmaxInt16Constants:
    """TFLite int16 softmax: input multiplier of ``S_x·β / (10 / 65535)`` and the exp and 1/(1+x) tables."""

    multiplier: int
    shift: int
    exp_lut: np.ndarray
    reciprocal_lut: np.ndarray


def softmax_int16_constants(input_scale: float, beta: float) -> SoftmaxInt16Constants:
    """activations.cc SoftmaxPrepare for int16: ``QuantizeMultiplier(f32(S_x·β) / (10 / 65535))``, the exp table
    over [−10, 0] and the 1/(1+x) table over [0, 1] ([ref:TFLiteRef])."""
    real = float(np.float32(np.float32(input_scale) * np.float32(beta))) / (10.0 / 65535.0)
    m, shift = quantize_multiplier(real)
    return SoftmaxInt16Constants(m, shift, int16_lut(np.exp, -10.0, 0.0),
                                 int16_lut(lambda v: 1.0 / (1.0 + v), 0.0, 1.0))


@dataclass(frozen=True, eq=False)
class ReducePlan:
    """Constants of a Softmax or Mean node: the axes, the integer-form constants and the output range."""

    axes: tuple[int, ...]
    fixed_point: bool
    softmax: SoftmaxConstants | None
    out_bits: int                 # TFLite softmax output: S = 2^-out_bits, Z = type minimum
    general_out: bool             # the output quantization is not TFLite's fixed one
    out_multiplier: int
    out_shift: int
    mean: RequantParams | None
    taps: int
    ort_table: np.ndarray | None = None   # QLinearSoftmax: exp table indexed by the shifted input
    int16: SoftmaxInt16Constants | None = None  # TFLite int16 -> int16 softmax


def qlinear_softmax_table(input_scale: float, depth: int, signed: bool) -> np.ndarray:
    """onnxruntime com.microsoft QLinearSoftmax's float lookup table (contrib_ops/cpu/quantization/
    qlinear_softmax.cc ``QlinearBuildLookupTableUint32``, [ref:ORT]): ``b = max(0, ln(f32(FLT_MAX / D)) − 5) / S``,
    entry ``i`` = ``f32(exp((i − 255 + b)·S))`` in float64, stored at index ``i`` (uint8) or ``(i − 128) mod 256``
    (int8)."""
    s = float(np.float32(input_scale))
    shift = max(0.0, math.log(float(np.float32(np.finfo(np.float32).max) / np.float32(depth))) - 5.0) / s
    i = np.arange(256)
    table = np.empty(256, np.float32)
    table[(i - 128) % 256 if signed else i] = np.exp((i - 255 + shift) * s).astype(np.float32)
    return table


def plan(graph: Graph, node: Node) -> ReducePlan:
    """The constants of a Softmax / Mean node."""
    x, out = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    fixed = node.requant.startswith("fixed_point")
    if isinstance(node.op, O.Softmax):
        axes = resolved_axes((node.op.axis,), len(x.shape))
        info = dtype_info(out.dtype)
        s_out, z_out = float(out.quant.scale[0]), int(out.quant.zero_point[0])
        # TFLite's output: Z = type minimum and S = 2^-bits (checked for 8-bit outputs; an int16 output's scale is
        # not checked by activations.cc, whose kernel writes 2^-16 units whatever the scale)
        tflite_out = z_out == info.qmin and (s_out == 2.0 ** -info.bits or info.bits == 16)
        m, e = quantize_multiplier(2.0 ** -31 / float(np.float32(s_out)))
        table = None
        if not fixed and node.name in graph.metadata.get(ORT_QLINEAR_SOFTMAX_KEY, ()):
            table = qlinear_softmax_table(float(x.quant.scale[0]), x.shape[axes[0]], x.dtype == "int8")
        if fixed and x.dtype == "int16":
            if int(x.quant.zero_point[0]) != 0 or z_out != 0:
                raise UnsupportedError(f"node {node.name!r} (Softmax): int16 softmax needs zero points 0 (TFLite)")
            return ReducePlan(axes, fixed, None, 15, False, m, e, None, 0, None,
                              softmax_int16_constants(float(x.quant.scale[0]), node.op.beta))
        return ReducePlan(axes, fixed, softmax_constants(float(x.quant.scale[0]), node.op.beta) if fixed else None,
                          info.bits, not tflite_out, m, e, None, 0, table)
    axes = resolved_axes(node.op.axes, len(x.shape))
    taps = math.prod(x.shape[a] for a in axes)
    return ReducePlan(axes, fixed, None, 0, False, 0, 0,
                      make_mean_params(x.quant.scale[0], out.quant.scale[0], taps, node.requant), taps)


def run(graph: Graph, node: Node, plan: ReducePlan, values: Mapping[str, np.ndarray],
        options: RunOptions) -> NodeRun:
    """The Softmax or Mean of the node's input."""
    x_t, out_t = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    x = values[node.inputs[0]]
    if isinstance(node.op, O.Softmax):
        return NodeRun(_softmax(plan, node.op, x, x_t, out_t))
    return NodeRun(_mean(plan, node.op, x, x_t, out_t))


def _quantize_float(y: np.ndarray, out_t: Tensor) -> np.ndarray:
    """onnxruntime QuantizeLinear: ``clamp(rne(f32(y / S)) + Z)``."""
    info = dtype_info(out_t.dtype)
    q = np.rint((y.astype(np.float32) / np.float32(out_t.quant.scale[0])).astype(np.float32)).astype(np.int64)
    return np.clip(q + int(out_t.quant.zero_point[0]), info.qmin, info.qmax).astype(info.storage)


def _dequantize_float(x: np.ndarray, x_t: Tensor) -> np.ndarray:
    """onnxruntime DequantizeLinear: ``f32(q − Z)·S`` in float32."""
    return ((x.astype(np.int64) - int(x_t.quant.zero_point[0])).astype(np.float32)
            * np.float32(x_t.quant.scale[0])).astype(np.float32)


def _softmax(plan: ReducePlan, op: O.Softmax, x: np.ndarray, x_t: Tensor, out_t: Tensor) -> np.ndarray:
    axis = plan.axes[0]
    moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    rows = moved.reshape(-1, moved.shape[-1])
    if plan.int16 is not None:
        return np.moveaxis(_softmax_int16(plan.int16, rows, out_t).reshape(moved.shape), -1, axis)
    if plan.ort_table is not None:
        out = _qlinear_softmax(plan.ort_table, rows, out_t)
        return np.moveaxis(out.reshape(moved.shape), -1, axis)
    if not plan.fixed_point:
        v = _dequantize_float(rows, x_t) * np.float32(op.beta)
        e = np.exp((v - v.max(axis=1, keepdims=True)).astype(np.float32)).astype(np.float32)
        y = (e / e.sum(axis=1, dtype=np.float32, keepdims=True)).astype(np.float32)
        return np.moveaxis(_quantize_float(y, out_t).reshape(moved.shape), -1, axis)
    info = dtype_info(out_t.dtype)
    c = plan.softmax
    out = np.empty(rows.shape, info.storage)
    kernels.softmax_fixed_point(rows, c.input_multiplier, c.input_left_shift, c.diff_min, plan.out_bits,
                                info.qmin, info.qmax, plan.general_out, plan.out_multiplier, plan.out_shift,
                                int(out_t.quant.zero_point[0]), out)
    return np.moveaxis(out.reshape(moved.shape), -1, axis)


def _mbqm(x: np.ndarray, m: int, shift: int) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier (double rounding) on int64 arrays holding int32 values."""
    left, right = max(shift, 0), max(-shift, 0)
    ab = (x << left) * m
    high = (ab + (1 << 30)) >> 31
    mask = (1 << right) - 1
    remainder = high & mask
    threshold = (mask >> 1) + (high < 0)
    return (high >> right) + (remainder > threshold)


def _softmax_int16(c: SoftmaxInt16Constants, rows: np.ndarray, out_t: Tensor) -> np.ndarray:
    """TFLite reference_ops::SoftmaxInt16 ([ref:TFLiteRef]): ``d = q − max`` rescaled so [−65535, 0] is
    [−10, 0], recentred by +32767 and saturated, exp by table lookup (Q0.15), an int32 row sum (Q16.15), its
    reciprocal by the 1/(1+x) table after normalising the sum, ``(e·recip + round) >> (31 − headroom)``
    clamped to [0, 32767]."""
    x = rows.astype(np.int64)
    diff = x - x.max(axis=1, keepdims=True)
    scaled = np.clip(_mbqm(diff, c.multiplier, c.shift) + 32767, -32768, 32767)
    e = int16_lut_lookup(scaled, c.exp_lut)
    total = e.sum(axis=1, keepdims=True)
    headroom = np.array([[32 - int(t).bit_length()] for t in total[:, 0]], np.int64)  # CountLeadingZeros
    shifted = ((total << (headroom - 1)) + (1 << 13)) >> 14
    sym = np.clip(shifted - ((1 << 15) + (1 << 16)), -32768, 32767)
    recip = int16_lut_lookup(sym, c.reciprocal_lut)
    right = 31 - headroom
    y = (e * recip + (np.int64(1) << (right - 1))) >> right
    return np.clip(y, 0, 32767).astype(dtype_info(out_t.dtype).storage)


def _qlinear_softmax(table: np.ndarray, rows: np.ndarray, out_t: Tensor) -> np.ndarray:
    """onnxruntime QLinearSoftmax per row (QlinearSoftmaxCPU, [ref:ORT]): the table shifted so the row maximum
    reads entry 255, a sequential float32 sum, ``rne(f32(e·floor(1/S_y)) / sum) + Z_y``, saturated."""
    info = dtype_info(out_t.dtype)
    x = rows.astype(np.int64)
    top = 127 if info.signed else 255
    index = (top - x.max(axis=1, keepdims=True) + x) % 256
    e = table[index]
    total = np.cumsum(e, axis=1, dtype=np.float32)[:, -1:]           # sequential, as the C loop adds
    y_scale = np.float32(np.floor(np.float32(1.0) / np.float32(out_t.quant.scale[0])))
    q = np.rint(((e * y_scale).astype(np.float32) / total).astype(np.float32)).astype(np.int64)
    q = q + int(out_t.quant.zero_point[0])
    return np.clip(q, info.qmin, info.qmax).astype(info.storage)


def _mean(plan: ReducePlan, op: O.Mean, x: np.ndarray, x_t: Tensor, out_t: Tensor) -> np.ndarray:
    info = dtype_info(out_t.dtype)
    if not plan.fixed_point:
        y = _dequantize_float(x, x_t).mean(axis=plan.axes, dtype=np.float32, keepdims=op.keepdims)
        return _quantize_float(np.asarray(y, np.float32), out_t).reshape(out_t.shape)
    sums = x.astype(np.int64).sum(axis=plan.axes) - plan.taps * int(x_t.quant.zero_point[0])
    flat = np.ascontiguousarray(sums.reshape(-1))
    out = np.empty(flat.shape, info.storage)
    rq = plan.mean
    kernels.rescale_sums(flat, rq.mode_id, int(rq.multiplier[0]), int(rq.shift[0]), rq.float_multiplier[0],
                         int(out_t.quant.zero_point[0]), info.qmin, info.qmax, out)
    return out.reshape(out_t.shape)
