"""An independent int64 numpy reference of every op the engine executes.

Written from the published semantics (TFLite reference kernels, gemmlowp, onnxruntime; transcribed in
docs/arithmetic.md), not from the numba kernels: vectorised int64 numpy, einsum over taps, and its own
transcriptions of QuantizeMultiplier, SRDHM, RoundingDivideByPOT and the float multipliers. Only the IR
dataclasses are shared with the engine (to read a graph).
"""
from __future__ import annotations

import math

import numpy as np

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
RANGES = {"int2": (-2, 1), "uint2": (0, 3), "int4": (-8, 7), "uint4": (0, 15), "int8": (-128, 127), "uint8": (0, 255),
          "int16": (-32768, 32767)}
STORAGE = {"int2": np.int8, "uint2": np.uint8, "int4": np.int8, "uint4": np.uint8, "int8": np.int8, "uint8": np.uint8,
           "int16": np.int16}


# ------------------------------------------------------------------------------------ scalar primitives
def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier in float64: real ≈ m · 2^(shift − 31), m rounded half away from zero."""
    if real == 0.0:
        return 0, 0
    frac, exp = math.frexp(real)
    m = round_half_away(frac * 2.0**31)
    if m == 2**31:
        m, exp = 2**30, exp + 1
    if exp < -31:
        return 0, 0
    return m, exp


def round_half_away(v: float) -> int:
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def multipliers(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier(float(r)) for r in np.atleast_1d(real)]
    return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64)


def srdhm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a·b + 2^30) >> 31, saturating the single INT32_MIN² case."""
    a, b = np.broadcast_arrays(np.asarray(a, np.int64), np.asarray(b, np.int64))
    both_min = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(both_min, INT32_MAX, (a * b + (1 << 30)) >> 31)


def rdbpot(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """x / 2^e to nearest, ties away from zero."""
    x = np.asarray(x, np.int64)
    exponent = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << exponent) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def mbqm(x, m, shift):
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    return rdbpot(srdhm(np.asarray(x, np.int64) << left, m), right)


def mbqm_single(x, m, shift):
    total = 31 - np.asarray(shift, np.int64)
    return (np.asarray(x, np.int64) * m + (np.int64(1) << (total - 1))) >> total


def mbqm_int64(x, m, shift):
    m = np.asarray(m, np.int64)
    m16 = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - np.asarray(shift, np.int64)
    return (np.asarray(x, np.int64) * m16 + (np.int64(1) << (total - 1))) >> total


def float_multiplier(scale_in: float, scale_w: np.ndarray, scale_out: float, mode: str) -> np.ndarray:
    sx, sy = np.float32(scale_in), np.float32(scale_out)
    sw = np.asarray(scale_w, np.float32)
    if mode == "float32_recip":  # qnnpack: f32(f32(Sw·Sx) · f32(1/Sy))
        return np.float32(sw * sx) * np.float32(np.float32(1) / sy)
    return np.float32(sx * sw) / sy  # onnxruntime: f32(f32(Sx·Sw) / Sy)


def requantize(acc: np.ndarray, mode: str, real: np.ndarray, fmult: np.ndarray) -> np.ndarray:
    """Scale int64 accumulators (channels last) by the named mode; ``real`` float64 per channel."""
    acc = np.asarray(acc, np.int64)
    if mode in ("float32", "float32_recip"):
        return np.rint(acc.astype(np.float32) * np.asarray(fmult, np.float32)).astype(np.int64)
    m, shift = multipliers(real)
    if mode == "fixed_point_int64":
        return mbqm_int64(acc, m, shift)
    acc = np.clip(acc, INT32_MIN, INT32_MAX)  # a 32-bit scale unit takes an int32
    return mbqm(acc, m, shift) if mode == "fixed_point" else mbqm_single(acc, m, shift)


def act_range(activation: str, scale: float, zero: int, dtype: str) -> tuple[int, int]:
    lo, hi = RANGES[dtype]
    if activation == "RELU":
        return max(lo, zero), hi
    if activation == "RELU6":
        return max(lo, zero), min(hi, zero + round_half_away(float(np.float32(6) / np.float32(scale))))
    return lo, hi


def same_padding(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def pads_of(padding, in_hw, k_hw, stride, dilation=(1, 1)) -> tuple[int, int, int, int]:
    if padding == "VALID":
        return 0, 0, 0, 0
    if padding == "SAME":
        return (*same_padding(in_hw[0], k_hw[0], stride[0], dilation[0]),
                *same_padding(in_hw[1], k_hw[1], stride[1], dilation[1]))
    return tuple(padding)


# ---------------------------------------------------------------------------------------------- ops
def conv2d_acc(x, zero_x, w, zero_w, bias, stride, dilation, pads, groups) -> np.ndarray:
    """Exact int64 accumulators ``bias + Σ (x − Z_x)(w − Z_w)`` of a grouped conv (depthwise = groups == C)."""
    xc = np.asarray(x, np.int64) - zero_x
    wc = np.asarray(w, np.int64) - np.asarray(zero_w, np.int64).reshape(-1, 1, 1, 1)
    top, bottom, left, right = pads
    xp = np.pad(xc, ((0, 0), (top, bottom), (left, right), (0, 0)))  # padding = Z_x, i.e. 0 once centered
    n, h, wd, c = xp.shape
    o, kh, kw, ci_g = wc.shape
    oh = (h - ((kh - 1) * dilation[0] + 1)) // stride[0] + 1
    ow = (wd - ((kw - 1) * dilation[1] + 1)) // stride[1] + 1
    co_g = o // groups
    acc = np.zeros((n, oh, ow, groups, co_g), np.int64)
    wg = wc.reshape(groups, co_g, kh, kw, ci_g)
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dilation[0], j * dilation[1]
            patch = xp[:, r0:r0 + (oh - 1) * stride[0] + 1:stride[0], c0:c0 + (ow - 1) * stride[1] + 1:stride[1], :]
            patch = patch.reshape(n, oh, ow, groups, ci_g)
            acc += np.einsum("nhwgc,goc->nhwgo", patch, wg[:, :, i, j, :])
    acc = acc.reshape(n, oh, ow, o)
    if bias is not None:
        acc += np.asarray(bias, np.int64)
    return acc


def add_fixed_point(a, za, sa, b, zb, sb, so, zo, dtype, single_round, lo, hi):
    """TFLite ADD (§2.9)."""
    left = 15 if dtype == "int16" else 20
    sa, sb, so = (float(np.float32(s)) for s in (sa, sb, so))
    twice_max = 2.0 * max(sa, sb)
    ma, ea = quantize_multiplier(sa / twice_max)
    mb, eb = quantize_multiplier(sb / twice_max)
    mo, eo = quantize_multiplier(twice_max / ((1 << left) * so))
    f = mbqm_single if single_round else mbqm
    va = f((np.asarray(a, np.int64) - za) << left, ma, ea)
    vb = f((np.asarray(b, np.int64) - zb) << left, mb, eb)
    return np.clip(f(va + vb, mo, eo) + zo, lo, hi)


def add_mlas(a, za, sa, b, zb, sb, so, zo, lo, hi):
    """onnxruntime QLinearAdd (MLAS, §4; inputs of equal shape): F = f32(Z_o) − fma(r_a, Z_a, f32(r_b·Z_b)),
    y = rne(fma(q_a, r_a, fma(q_b, r_b, F))); each fma as an exact float64 product-sum rounded once to float32."""
    f32, f64 = np.float32, np.float64
    ra, rb = f32(f32(sa) / f32(so)), f32(f32(sb) / f32(so))
    fixed = f32(f32(zo) - f32(f64(ra) * za + f64(f32(rb * f32(zb)))))
    inner = (np.asarray(b, f64) * f64(rb) + f64(fixed)).astype(f32)
    t = (np.asarray(a, f64) * f64(ra) + inner.astype(f64)).astype(f32)
    return np.clip(np.rint(t).astype(np.int64), lo, hi)


def add_float(a, za, sa, b, zb, sb, so, zo, lo, hi):
    """float32 dequantize-add-requantize (§4, torch's quantized.add: the ``float32_recip`` mode)."""
    ra = (np.asarray(a, np.int64) - za).astype(np.float32) * np.float32(sa)
    rb = (np.asarray(b, np.int64) - zb).astype(np.float32) * np.float32(sb)
    v = np.rint((ra + rb) * np.float32(np.float32(1) / np.float32(so))).astype(np.int64)
    return np.clip(v + zo, lo, hi)


def window_sums(x, kernel, stride, pads, reducer):
    """Apply ``reducer(list of valid tap arrays)`` to every pooling window; returns (values, tap counts)."""
    n, h, w, c = x.shape
    top, bottom, left, right = pads
    oh = (h + top + bottom - kernel[0]) // stride[0] + 1
    ow = (w + left + right - kernel[1]) // stride[1] + 1
    values = np.zeros((n, oh, ow, c), np.int64)
    counts = np.zeros((oh, ow), np.int64)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride[0] - top, j * stride[1] - left
            r1, c1 = min(r0 + kernel[0], h), min(c0 + kernel[1], w)
            r0, c0 = max(r0, 0), max(c0, 0)
            window = np.asarray(x[:, r0:r1, c0:c1, :], np.int64)
            values[:, i, j, :] = reducer(window.reshape(n, -1, c))
            counts[i, j] = (r1 - r0) * (c1 - c0)
    return values, counts


def divide_round_away(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """C: (s + n/2) / n if s > 0 else (s − n/2) / n, with truncating division."""
    half = count // 2
    return np.where(total > 0, (total + half) // count, -((-total + half) // count))


def average(x, kernel, stride, pads, zero_in, scale_in, zero_out, scale_out, same_quant, mode, lo, hi):
    """AvgPool: TFLite raw-sum form when in/out quant agree, else Σ(q − Z_in) rescaled by S_in/(n·S_out)."""
    sums, counts = window_sums(x, kernel, stride, pads, lambda t: t.sum(axis=1))
    cnt = counts[None, :, :, None]
    if same_quant:
        return np.clip(divide_round_away(sums, cnt), lo, hi)
    out = np.empty_like(sums)
    for n_taps in np.unique(counts):
        real = np.float64(np.float32(scale_in)) / (int(n_taps) * np.float64(np.float32(scale_out)))
        sel = np.broadcast_to(cnt == n_taps, sums.shape)
        out[sel] = requantize(sums[sel] - n_taps * zero_in, mode, np.array([real]), np.float32([real])) + zero_out
    return np.clip(out, lo, hi)


def average_ort(x, kernel, stride, pads, zero_in, scale_in, zero_out, scale_out, lo, hi):
    """AvgPool in ``float32`` mode = onnxruntime QLinearAveragePool: taps dequantized to f32(S_x·(q − Z_x)), summed
    in float32 in window row-major order, divided by f32(n) (valid taps), ``rint(f32(y / S_y) + Z_y)``; a window
    covering the whole unpadded image takes the global-average rule instead."""
    n, h, w, c = x.shape
    if tuple(kernel) == (h, w) and not any(pads):
        return global_mean(x, zero_in, scale_in, zero_out, scale_out, "float32", lo, hi)
    deq = np.float32(scale_in) * (np.asarray(x, np.int64) - zero_in).astype(np.float32)
    top, bottom, left, right = pads
    oh = (h + top + bottom - kernel[0]) // stride[0] + 1
    ow = (w + left + right - kernel[1]) // stride[1] + 1
    out = np.zeros((n, oh, ow, c), np.int64)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride[0] - top, j * stride[1] - left
            rows = range(max(r0, 0), min(r0 + kernel[0], h))
            cols = range(max(c0, 0), min(c0 + kernel[1], w))
            acc = np.zeros((n, c), np.float32)
            for r in rows:
                for cc in cols:
                    acc = (acc + deq[:, r, cc, :]).astype(np.float32)
            y = (acc / np.float32(len(rows) * len(cols))).astype(np.float32)
            out[:, i, j, :] = np.rint((y / np.float32(scale_out)).astype(np.float32) + np.float32(zero_out))
    return np.clip(out, lo, hi)


def global_mean(x, zero_in, scale_in, zero_out, scale_out, mode, lo, hi):
    """GlobalAveragePool = TFLite int8 MEAN over H and W: with ``(m, e) = QuantizeMultiplier(S_in / S_out)`` and
    ``k = min(floor(log2 n), 32)``, ``y = MBQM(Σ(q − Z_in), trunc(m·2^k / n), e − k) + Z_out`` in the node's
    fixed-point rounding; float modes scale ``Σ(q − Z_in)`` by ``f32(S_in / (n·S_out))``."""
    taps = x.shape[1] * x.shape[2]
    sums = (np.asarray(x, np.int64) - zero_in).sum(axis=(1, 2), keepdims=True)
    real = np.float64(np.float32(scale_in)) / np.float64(np.float32(scale_out))
    if mode == "float32":  # onnxruntime (MLAS qlgavgpool.cpp): f32(S_in / f32(S_out · f32(n)))
        fmult = np.float32(np.float32(scale_in) / np.float32(np.float32(scale_out) * np.float32(taps)))
        return np.clip(requantize(sums, mode, None, np.float32([fmult])) + zero_out, lo, hi)
    if not mode.startswith("fixed_point"):
        return np.clip(requantize(sums, mode, None, np.float32([real / taps])) + zero_out, lo, hi)
    m, e = quantize_multiplier(real)
    k = min(int(np.floor(np.log2(taps))), 32)
    m_taps, shift = (m * 2**k) // taps, e - k  # positive: floor division truncates
    step = {"fixed_point": mbqm, "fixed_point_single_round": mbqm_single, "fixed_point_int64": mbqm_int64}[mode]
    return np.clip(step(sums, np.int64(m_taps), np.int64(shift)) + zero_out, lo, hi)


# ------------------------------------------------------------------------------------- whole graphs
def _zero(t) -> int:
    return int(t.quant.zero_point[0])


def _scale(t) -> float:
    return float(t.quant.scale[0])


def run_graph(graph, inputs: dict[str, np.ndarray], accumulator_bits: int | None = None):
    """Execute ``graph`` with the reference ops; returns ({tensor: int64 array}, [(node, overflow count)]).

    Overflowing accumulators are counted and saturated to the accumulator range (the engine's "report" mode).
    """
    vals = {name: np.asarray(t.data, np.int64) for name, t in graph.tensors.items() if t.data is not None}
    vals.update({k: np.asarray(v, np.int64) for k, v in inputs.items()})
    overflows = []
    for node in graph.nodes:
        ins = [graph.tensors[i] for i in node.inputs]
        out = graph.tensors[node.outputs[0]]
        x = vals[node.inputs[0]]
        op, kind = node.op, node.kind
        if kind in ("Conv2D", "FullyConnected"):
            w = ins[1]
            bias = vals[node.inputs[2]] if len(ins) == 3 else None
            if kind == "Conv2D":
                k_hw = w.shape[1:3]
                pads = pads_of(op.padding, x.shape[1:3], k_hw, op.stride, op.dilation)
                acc = conv2d_acc(x, _zero(ins[0]), vals[w.name], w.quant.zero_point, bias, op.stride, op.dilation,
                                 pads, op.groups)
            else:
                wd = vals[w.name]
                acc = conv2d_acc(x.reshape(x.shape[0], 1, 1, -1), _zero(ins[0]), wd.reshape(*wd.shape[:1], 1, 1, -1),
                                 w.quant.zero_point, bias, (1, 1), (1, 1), (0, 0, 0, 0), 1).reshape(out.shape)
            sixteen = max(ins[0].bits, w.bits) >= 16
            bits = accumulator_bits or (64 if sixteen else 32)
            amin, amax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
            bad = int(np.count_nonzero((acc < amin) | (acc > amax)))
            if bad:
                overflows.append((node.name, bad))
            acc = np.clip(acc, amin, amax)
            mode = "fixed_point_int64" if node.requant == "fixed_point" and sixteen else node.requant
            sx, sw, sy = np.float32(_scale(ins[0])), np.asarray(w.quant.scale, np.float32), np.float32(_scale(out))
            real = (np.float64(sx) * sw.astype(np.float64)) / np.float64(sy)
            real = np.broadcast_to(real, (acc.shape[-1],))
            fmult = np.broadcast_to(float_multiplier(sx, sw, sy, mode), (acc.shape[-1],))
            lo, hi = act_range(op.activation, _scale(out), _zero(out), out.dtype)
            vals[out.name] = np.clip(requantize(acc, mode, real, fmult) + _zero(out), lo, hi)
        elif kind == "Add":
            a, b = ins
            lo, hi = act_range(op.activation, _scale(out), _zero(out), out.dtype)
            if node.requant.startswith("fixed_point"):
                vals[out.name] = add_fixed_point(x, _zero(a), _scale(a), vals[b.name], _zero(b), _scale(b),
                                                 _scale(out), _zero(out), a.dtype,
                                                 node.requant == "fixed_point_single_round", lo, hi)
            else:
                form = add_mlas if node.requant == "float32" else add_float
                vals[out.name] = form(x, _zero(a), _scale(a), vals[b.name], _zero(b), _scale(b), _scale(out),
                                      _zero(out), lo, hi)
        elif kind == "AvgPool":
            pads = pads_of(op.padding, x.shape[1:3], op.kernel, op.stride)
            lo, hi = act_range(op.activation, _scale(out), _zero(out), out.dtype)
            same = ins[0].quant.same_as(out.quant)
            if node.requant == "float32":
                vals[out.name] = average_ort(x, op.kernel, op.stride, pads, _zero(ins[0]), _scale(ins[0]),
                                             _zero(out), _scale(out), lo, hi)
            else:
                vals[out.name] = average(x, op.kernel, op.stride, pads, _zero(ins[0]), _scale(ins[0]), _zero(out),
                                         _scale(out), same, node.requant, lo, hi)
        elif kind == "GlobalAveragePool":
            lo, hi = RANGES[out.dtype]
            vals[out.name] = global_mean(x, _zero(ins[0]), _scale(ins[0]), _zero(out), _scale(out), node.requant,
                                         lo, hi)
        elif kind == "MaxPool":
            pads = pads_of(op.padding, x.shape[1:3], op.kernel, op.stride)
            best, _ = window_sums(x, op.kernel, op.stride, pads, lambda t: t.max(axis=1))
            lo, hi = act_range(op.activation, _scale(out), _zero(out), out.dtype)
            vals[out.name] = np.clip(best, lo, hi)
        elif kind == "Concat":
            parts = []
            lo, hi = RANGES[out.dtype]
            for t in ins:
                v = vals[t.name]
                if node.requant == "float32" and not (t.quant.same_as(out.quant) and t.dtype == out.dtype):
                    # onnxruntime QLinearConcat: f32(S_in · f32(q − Z_in)) / S_out in float32, rint, + Z_out
                    deq = np.float32(_scale(t)) * (v - _zero(t)).astype(np.float32)
                    v = np.clip(np.rint((deq / np.float32(_scale(out))).astype(np.float32)).astype(np.int64)
                                + _zero(out), lo, hi)
                elif (node.requant.startswith("fixed_point") and t.dtype == out.dtype == "uint8"
                      and not t.quant.same_as(out.quant)):
                    # TFLite uint8 CONCATENATION: float32 scale and bias, round half away from zero
                    sc = np.float32(np.float32(_scale(t)) * np.float32(np.float32(1) / np.float32(_scale(out))))
                    bias = np.float32(np.float32(-_zero(t)) * sc)
                    f = (v.astype(np.float32) * sc).astype(np.float32) + bias
                    v = np.clip((np.sign(f) * np.floor(np.abs(f) + 0.5)).astype(np.int64) + _zero(out), lo, hi)
                elif not (t.quant.same_as(out.quant) and t.dtype == out.dtype):
                    real = np.array([np.float64(np.float32(_scale(t))) / np.float64(np.float32(_scale(out)))])
                    v = np.clip(requantize(v - _zero(t), node.requant, real, real.astype(np.float32)) + _zero(out),
                                lo, hi)
                parts.append(v)
            vals[out.name] = np.concatenate(parts, axis=op.axis)
        elif kind in ("Reshape", "Flatten"):
            vals[out.name] = x.reshape(out.shape)
        elif kind == "Pad":
            vals[out.name] = np.pad(x, op.pads, constant_values=_zero(ins[0]))
        else:
            raise NotImplementedError(kind)
    return vals, overflows
