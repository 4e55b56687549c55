"""Integer arithmetic of the activation ops, vectorized over int64 arrays of input codes.

Each ``*_codes`` function maps input codes (any shape) to output codes exactly as one runtime's kernel does; the
engine runs them once on every code of the input type to build a lookup table (256 entries for 8-bit inputs,
65 536 for 16-bit). Sources: LiteRT reference kernels ([ref:TFLiteAct]) for the fixed-point forms; onnxruntime's
DequantizeLinear / QuantizeLinear, CPU activation kernels and MLAS logistic / tanh ([ref:ORTQuant]) for the float
forms. The rounding of each form is named in docs/arithmetic.md ("Activation ops").
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


F32 = np.float32

# ------------------------------------------------------------------------------------------- helpers
def round_half_away(v: np.ndarray) -> np.ndarray:
    """``std::round``: half away from zero."""
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def fma_f32(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """A float32 fused multiply-add ``f32(a·b + c)``: the float32 product is exact in float64, so one float64
    addition and the cast to float32 round (the x86 FMA3 kernels of MLAS use vfmadd)."""
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(F32)


def multiply_by_quantized_multiplier(x: np.ndarray, multiplier: int, shift: int, mode: str) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier on int64 arrays, by requantization mode (docs/arithmetic.md §2.4-2.6):
    ``fixed_point`` double rounding (SRDHM ties up, then RoundingDivideByPOT ties away),
    ``fixed_point_single_round`` one rounding of x·m (ties up), ``fixed_point_int64`` the multiplier cut to 16
    bits and one rounding."""
    x = np.asarray(x, np.int64)
    m = np.int64(multiplier)
    if mode == "fixed_point_single_round":
        total = 31 - shift
        return (x * m + (np.int64(1) << (total - 1))) >> total
    if mode == "fixed_point_int64":
        m16 = (m + (1 << 15)) >> 16 if m < 0x7FFF0000 else np.int64(0x7FFF)
        total = 15 - shift
        return (x * m16 + (np.int64(1) << (total - 1))) >> total
    left, right = max(shift, 0), max(-shift, 0)
    high = (np.left_shift(x, left) * m + np.int64(1 << 30)) >> 31
    return _rdbpot(high, right)


# ------------------------------------------------------------------------------- LiteRT (fixed_point*)
def tflite_lut_codes(codes: np.ndarray, scale_in: float, zero_in: int, scale_out: float, zero_out: int,
                     transform: Callable[[np.ndarray], np.ndarray], qmin: int, qmax: int) -> np.ndarray:
    """LiteRT's 8-bit LUT (activations.cc PopulateLookupTable, the path BUILTIN_REF takes for int8 / uint8
    LOGISTIC and TANH): ``f32(S_in·(q − Z_in))``, the float32 transform, ``round_half_away(y · f32(1/S_out)) +
    Z_out``, clamped."""
    deq = (F32(scale_in) * (codes - zero_in).astype(F32)).astype(F32)
    y = transform(deq).astype(F32)
    inv = F32(F32(1.0) / F32(scale_out))
    q = round_half_away((y * inv).astype(F32).astype(np.float64)) + zero_out
    return np.clip(q, qmin, qmax).astype(np.int64)


def sigmoid_f32_libm(v: np.ndarray) -> np.ndarray:
    """``1.0f / (1.0f + expf(−v))`` in float32 (expf correctly rounded: float64 exp rounded to float32)."""
    e = np.exp(-v.astype(np.float64)).astype(F32)
    return (F32(1.0) / (F32(1.0) + e).astype(F32)).astype(F32)


def tanh_f32_libm(v: np.ndarray) -> np.ndarray:
    """``tanhf(v)`` (correctly rounded: float64 tanh rounded to float32)."""
    return np.tanh(v.astype(np.float64)).astype(F32)


def _srdhm16(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int16: ``(a·b + nudge) / 2^15`` truncated, nudge
    ``2^14`` or ``1 − 2^14`` by the product's sign; −32768·−32768 saturates to 32767."""
    ab = a.astype(np.int64) * np.int64(b)
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    s = ab + nudge
    q = np.where(s >= 0, s // (1 << 15), -((-s) // (1 << 15)))
    return np.where((a == -32768) & (b == -32768), 32767, q).astype(np.int64)


def _sdhm16(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TFLite SaturatingDoublingHighMul (hard_swish.h): ``(a·b) / 2^15`` truncated toward zero (no rounding),
    −32768·−32768 saturates to 32767."""
    ab = a.astype(np.int64) * b.astype(np.int64)
    q = np.where(ab >= 0, ab // (1 << 15), -((-ab) // (1 << 15)))
    return np.where((a == -32768) & (b == -32768), 32767, q).astype(np.int64)


def _rdbpot(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT: ties away from zero."""
    if exponent <= 0:
        return x
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def _saturating_left_shift16(x: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(x * (1 << amount), -32768, 32767)


def _to_int16(x: np.ndarray) -> np.ndarray:
    """C++ conversion to int16_t (two's-complement wrap)."""
    return ((x + 32768) & 0xFFFF) - 32768


def _quantize_multiplier(real: float) -> tuple[int, int]:
    from accelsim.quant.requant import quantize_multiplier
    return quantize_multiplier(real)


def _int16_multiplier(m32: int) -> int:
    """TFLite DownScaleInt32ToInt16Multiplier: ``(m + 2^15) >> 16``, saturating at 32767."""
    if m32 >= (1 << 31) - 1 - (1 << 15):
        return 32767
    return (m32 + (1 << 15)) >> 16


def hard_swish_params(scale_in: float, scale_out: float) -> tuple[int, int, int, int]:
    """LiteRT HardSwishPrepare in float32: ``hires = S_in/128``, output multiplier ``hires/S_out``, reluish
    multiplier ``hires/(3/32768)``, each QuantizeMultiplier-ed and cut to int16: (out_m16, out_exp, relu_m16,
    relu_exp)."""
    hires = F32(F32(1.0 / 128.0) * F32(scale_in))
    out_m, out_exp = _quantize_multiplier(float(F32(hires / F32(scale_out))))
    relu_m, relu_exp = _quantize_multiplier(float(F32(hires / F32(3.0 / 32768.0))))
    return _int16_multiplier(out_m), out_exp, _int16_multiplier(relu_m), relu_exp


def tflite_hard_swish_codes(codes: np.ndarray, zero_in: int, zero_out: int, params: tuple[int, int, int, int],
                            qmin: int, qmax: int) -> np.ndarray:
    """LiteRT reference_ops::HardSwish (hard_swish.h), 16-bit fixed point: the input on a ×128 "hires" scale, one
    rounding doubling high multiply to the pre-shift output scale, the "reluish" factor rescaled to [−1, 1] (with
    saturating left shifts or a rounding right shift), mapped to [0, 1], a truncating doubling high multiply,
    a rounding right shift (ties away), the zero point and the clamp."""
    out_m, out_exp, relu_m, relu_exp = params
    x = _to_int16(codes - zero_in)
    hires = _to_int16(x * (1 << 7))
    preshift = _srdhm16(hires, out_m)
    reluish = hires
    if relu_exp > 0:
        reluish = _saturating_left_shift16(reluish, relu_exp - 1)
    reluish = _srdhm16(reluish, relu_m)
    if relu_exp > 0:
        reluish = _saturating_left_shift16(reluish, 1)
    if relu_exp < 0:
        reluish = _rdbpot(reluish, -relu_exp)
    reluish = (reluish + (1 << 15)) >> 1
    out = _sdhm16(reluish, preshift)
    out = _to_int16(_rdbpot(out, -out_exp) + zero_out)
    return np.clip(out, qmin, qmax).astype(np.int64)


def _sigmoid_table_uint16() -> np.ndarray:
    """LiteRT's int16 LOGISTIC / TANH table: sigmoid(i/24), i = 0 … 255, in unsigned 0.16 fixed point, each entry
    lowered by half the error linear interpolation makes at the midpoint of its interval (so the interpolated
    curve straddles the function): ``round(2^16·(s(x) − (½(s(x) + s(x + h)) − s(x + h/2))/2))``, h = 1/24,
    saturated at 65535; the last entry is the saturation value itself (0xFFFF, what the kernels return beyond the
    table), so the interpolation meets it. Derived here from that description and checked over every int16 code
    against LiteRT."""
    h = 1.0 / 24.0
    sig = lambda v: 1.0 / (1.0 + math.exp(-v))  # noqa: E731
    table = []
    for i in range(256):
        x = i * h
        err = (sig(x) + sig(x + h)) / 2.0 * 65536.0 - sig(x + h / 2.0) * 65536.0
        table.append(min(math.floor(sig(x) * 65536.0 - err / 2.0 + 0.5), 65535))
    table[-1] = 0xFFFF
    return np.array(table, np.int64)


SIGMOID_TABLE_UINT16 = _sigmoid_table_uint16()


def _checked_log2(scale: float) -> tuple[bool, int]:
    """TFLite CheckedLog2 in float32: (whether ``scale`` is a power of two within 1e-3 in log2, rounded log2)."""
    x_log2 = F32(F32(math.log(F32(scale))) * F32(1.0 / math.log(2.0)))
    rounded = float(round_half_away(np.float64(x_log2)))
    return abs(float(F32(x_log2 - F32(rounded)))) < 1e-3, int(rounded)


def int16_sigmoid_params(scale_in: float, tanh: bool) -> tuple[int, int]:
    """LiteRT's int16 LOGISTIC / TANH Prepare: (input_multiplier, input_left_shift). A power-of-two input scale
    with left shift ``12 + log2(S)`` of 0 (TANH: 0 or 1) keeps multiplier 0 (the kernel then uses ``3 << shift``);
    otherwise ``m = S·4096·3`` (double) is doubled while ≤ 32767/2 (at most 31 times), the count is the shift and
    ``int(m)`` (truncated) the multiplier."""
    pot, log2 = _checked_log2(scale_in)
    shift = 12 + log2
    if pot and (shift in ((0, 1) if tanh else (0,))):
        return 0, shift
    m, shift = float(F32(scale_in)) * 4096.0 * 3.0, 0
    while m <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        m *= 2.0
    return int(m), shift


def tflite_int16_sigmoid_codes(codes: np.ndarray, multiplier: int, left_shift: int, tanh: bool) -> np.ndarray:
    """LiteRT reference_integer_ops::Logistic / Tanh on int16 (zero points 0, output scale 2^-15): the input
    rescaled to 1/(3·4096) (``(q·m + round) >> shift``), then the sigmoid table with linear interpolation on
    |x| (9 fraction bits for the logistic, 8 for tanh = 2·sigmoid(2x) − 1), the sign restored, truncating shifts."""
    if multiplier == 0:
        multiplier, left_shift = 3 << left_shift, 0
    rnd = (1 << (left_shift - 1)) if left_shift > 0 else 0
    x = (codes.astype(np.int64) * multiplier + rnd) >> left_shift
    a = np.abs(x)
    frac_bits = 8 if tanh else 9
    uh = a >> frac_bits
    inside = uh < 255
    idx = np.minimum(uh, 254)
    ua, ub = SIGMOID_TABLE_UINT16[idx], SIGMOID_TABLE_UINT16[idx + 1]
    ut = a & ((1 << frac_bits) - 1)
    saturated = (0xFFFF << 8) if tanh else (0x7FFF << 10)
    r = np.where(inside, (ua << frac_bits) + ut * (ub - ua), saturated)
    if tanh:
        r = np.where(x >= 0, r - (1 << 23) + (1 << 7), -r + (1 << 23) + (1 << 7) - 1)
        return r >> 8
    r = np.where(x >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1)
    return r >> 10


def tflite_float_multiplier(*factors_then_divisor: float) -> float:
    """A LiteRT Prepare multiplier computed in float32 (``S_in · alpha / S_out`` and the like: float operands,
    float arithmetic, then widened to double for QuantizeMultiplier)."""
    *num, den = factors_then_divisor
    v = F32(num[0])
    for f in num[1:]:
        v = F32(v * F32(f))
    return float(F32(v / F32(den)))


def tflite_leaky_relu_codes(codes: np.ndarray, zero_in: int, zero_out: int, identity: tuple[int, int],
                            alpha: tuple[int, int], mode: str, qmin: int, qmax: int) -> np.ndarray:
    """LiteRT reference_ops::QuantizeLeakyRelu: ``x = q − Z_in``; ``x ≥ 0``: MultiplyByQuantizedMultiplier(x,
    identity) else (x, alpha); ``+ Z_out``, clamp."""
    x = codes - zero_in
    pos = multiply_by_quantized_multiplier(x, *identity, mode)
    neg = multiply_by_quantized_multiplier(x, *alpha, mode)
    return np.clip(np.where(x >= 0, pos, neg) + zero_out, qmin, qmax).astype(np.int64)


# ------------------------------------------------------------------------------------ onnxruntime (float32)
def ort_dequantize(codes: np.ndarray, scale: float, zero: int) -> np.ndarray:
    """DequantizeLinear / QLinearLookupTable input: ``f32(q − Z) · f32(S)`` in float32."""
    return ((codes - zero).astype(F32) * F32(scale)).astype(F32)


def ort_quantize(y: np.ndarray, scale: float, zero: int, qmin: int, qmax: int) -> np.ndarray:
    """MlasQuantizeLinear: ``rne(y / S) + Z`` (float32 division, round half to even), saturated."""
    q = np.rint((y.astype(F32) / F32(scale)).astype(F32)).astype(np.float64) + zero
    return np.clip(q, qmin, qmax).astype(np.int64)


#: MLAS logistic rational approximation (onnxruntime core/mlas/lib/logistic.cpp, Eigen's coefficients):
#: clamp to [−18, 18], odd numerator of degree 9 / even denominator of degree 10, ``p/q + 0.5`` clamped to [0, 1].
LOGISTIC_RANGE = 18.0
LOGISTIC_ALPHA = (4.37031012579801e-11, 1.15627324459942e-07, 6.08574864600143e-05, 8.51377133304701e-03,
                  2.48287947061529e-01)
LOGISTIC_BETA = (6.10247389755681e-13, 5.76102136993427e-09, 6.29106785017040e-06, 1.70198817374094e-03,
                 1.16817656904453e-01, 9.93151921023180e-01)
#: MLAS tanh (core/mlas/lib/tanh.cpp): clamp to [−9, 9], odd numerator of degree 13 / even denominator of degree 6.
TANH_RANGE = 9.0
TANH_ALPHA = (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
              1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03)
TANH_BETA = (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)


def _horner_f32(x2: np.ndarray, coefficients: tuple[float, ...]) -> np.ndarray:
    """``((c0·x² + c1)·x² + c2)…`` with float32 FMAs, highest degree first."""
    acc = fma_f32(x2, np.full_like(x2, F32(coefficients[0])), np.full_like(x2, F32(coefficients[1])))
    for c in coefficients[2:]:
        acc = fma_f32(acc, x2, np.full_like(x2, F32(c)))
    return acc


def mlas_logistic(v: np.ndarray) -> np.ndarray:
    """MlasComputeLogistic (the FMA3 kernel's order) in float32."""
    x = np.clip(v.astype(F32), F32(-LOGISTIC_RANGE), F32(LOGISTIC_RANGE))
    x2 = (x * x).astype(F32)
    p = (_horner_f32(x2, LOGISTIC_ALPHA) * x).astype(F32)
    q = _horner_f32(x2, LOGISTIC_BETA)
    return np.clip(((p / q).astype(F32) + F32(0.5)).astype(F32), F32(0.0), F32(1.0))


def mlas_tanh(v: np.ndarray) -> np.ndarray:
    """MlasComputeTanh (the FMA3 kernel's order) in float32."""
    x = np.clip(v.astype(F32), F32(-TANH_RANGE), F32(TANH_RANGE))
    x2 = (x * x).astype(F32)
    p = (_horner_f32(x2, TANH_ALPHA) * x).astype(F32)
    q = _horner_f32(x2, TANH_BETA)
    return (p / q).astype(F32)


def ort_hard_sigmoid(v: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """onnxruntime HardSigmoid: ``max(0, min(1, alpha·x + beta))`` in float32 (multiply, then add)."""
    y = ((v.astype(F32) * F32(alpha)).astype(F32) + F32(beta)).astype(F32)
    return np.maximum(np.minimum(y, F32(1.0)), F32(0.0))


def ort_hard_swish(v: np.ndarray) -> np.ndarray:
    """onnxruntime HardSwish: ``x · HardSigmoid(x; 1/6, 0.5)`` in float32 (the ONNX function body)."""
    return (v.astype(F32) * ort_hard_sigmoid(v, 1.0 / 6.0, 0.5)).astype(F32)


def ort_leaky_relu(v: np.ndarray, alpha: float) -> np.ndarray:
    """onnxruntime LeakyRelu / QLinearLeakyRelu transform: ``x ≥ 0 ? x : alpha·x`` in float32."""
    v = v.astype(F32)
    return np.where(v >= 0, v, (v * F32(alpha)).astype(F32)).astype(F32)


def ort_lut_codes(codes: np.ndarray, scale_in: float, zero_in: int, scale_out: float, zero_out: int,
                  transform: Callable[[np.ndarray], np.ndarray], qmin: int, qmax: int) -> np.ndarray:
    """DequantizeLinear → float32 op → QuantizeLinear, and com.microsoft QLinearSigmoid / QLinearLeakyRelu's
    lookup table (QlinearBuildLookupTable: the same three steps on all 256 codes)."""
    return ort_quantize(transform(ort_dequantize(codes, scale_in, zero_in)), scale_out, zero_out, qmin, qmax)


def code_range(qmin: int, qmax: int) -> np.ndarray:
    """Every input code of a type, ``qmin … qmax`` (int64)."""
    return np.arange(qmin, qmax + 1, dtype=np.int64)


def lut_lookup(x: np.ndarray, table: np.ndarray, qmin: int) -> np.ndarray:
    """``table[x − qmin]``."""
    return table[x.astype(np.int64) - qmin]

