"""Reduction kernels: TFLite's fixed-point Softmax (gemmlowp arithmetic) and the rescale of Mean sums.

The Softmax kernel follows TFLite's reference quantized softmax (tensorflow/lite/kernels/internal/reference/
softmax.h, the path LiteRT's BUILTIN_REF resolver takes for int8 / uint8 inputs, [ref:TFLiteRef]) and the
gemmlowp fixed-point primitives it uses (fixedpoint.h: exp_on_negative_values,
one_over_one_plus_x_for_x_in_0_1, [ref:gemmlowp]). Every value is an int32 held in an int64; ``srdhm`` is
SaturatingRoundingDoublingHighMul and ``rdbpot`` RoundingDivideByPOT (accelsim.quant.requant).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from accelsim.quant.requant import INT32_MAX, INT32_MIN, rdbpot, requantize_scalar, srdhm


@njit(cache=True, inline="always")
def _wrap32(x: np.int64) -> np.int64:
    """Two's-complement int32 wrap-around (gemmlowp adds raw int32 values without saturation)."""
    return ((x + (np.int64(1) << 31)) & np.int64(0xFFFFFFFF)) - (np.int64(1) << 31)


@njit(cache=True, inline="always")
def _sat_shift_left(x: np.int64, exponent: np.int64) -> np.int64:
    """gemmlowp SaturatingRoundingMultiplyByPOT with a positive exponent: ``x·2^e`` saturated to int32."""
    threshold = (np.int64(1) << (31 - exponent)) - 1
    if x > threshold:
        return np.int64(INT32_MAX)
    if x < -threshold:
        return np.int64(INT32_MIN)
    return x << exponent


@njit(cache=True, inline="always")
def _exp_quarter_interval(a: np.int64) -> np.int64:
    """gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl: Q0.31 in, Q0.31 out (Taylor series
    around −1/8)."""
    x = _wrap32(a + (np.int64(1) << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rdbpot(x4, np.int64(2))
    inner = _wrap32(srdhm(_wrap32(x4_over_4 + x3), np.int64(715827883)) + x2)
    poly = rdbpot(inner, np.int64(1))
    return _wrap32(np.int64(1895147668) + srdhm(np.int64(1895147668), _wrap32(x + poly)))


#: gemmlowp exp barrel-shifter multipliers exp(−2^k) in Q0.31 for k = −2 .. 4.
_EXP_MULTIPLIERS = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)


@njit(cache=True, inline="always")
def exp_on_negative_values_q5(a: np.int64) -> np.int64:
    """gemmlowp exp_on_negative_values for a Q5.26 input ``a ≤ 0``; Q0.31 result."""
    quarter = np.int64(1) << 24
    mod_minus_quarter = _wrap32((a & (quarter - 1)) - quarter)
    result = _exp_quarter_interval(_sat_shift_left(mod_minus_quarter, np.int64(5)))
    remainder = _wrap32(mod_minus_quarter - a)
    for k in range(7):
        if remainder & (np.int64(1) << (24 + k)):
            result = srdhm(result, np.int64(_EXP_MULTIPLIERS[k]))
    if a == 0:
        result = np.int64(INT32_MAX)
    return result


@njit(cache=True, inline="always")
def _count_leading_zeros32(x: np.int64) -> np.int64:
    n = np.int64(0)
    u = x & np.int64(0xFFFFFFFF)
    if u == 0:
        return np.int64(32)
    while (u & (np.int64(1) << 31)) == 0:
        u <<= 1
        n += 1
    return n


@njit(cache=True, inline="always")
def one_over_one_plus_x(a: np.int64) -> np.int64:
    """gemmlowp one_over_one_plus_x_for_x_in_0_1: Q0.31 ``a`` in [0, 1) -> ``1 / (1 + a)`` in Q0.31
    (three Newton-Raphson steps in Q2.29)."""
    total = a + np.int64(INT32_MAX)  # RoundingHalfSum(a, One): (sum ± 1) / 2, C division (toward zero)
    half_denominator = (total + 1) // 2 if total >= 0 else -((1 - total) // 2)
    x = _wrap32(np.int64(1515870810) + srdhm(half_denominator, np.int64(-1010580540)))
    one_q2 = np.int64(1) << 29
    for _ in range(3):
        hdx = srdhm(half_denominator, x)
        one_minus = _wrap32(one_q2 - hdx)
        x = _wrap32(x + _sat_shift_left(srdhm(x, one_minus), np.int64(2)))
    return _sat_shift_left(x, np.int64(1))


@njit(cache=True, nogil=True)
def softmax_fixed_point(x, input_multiplier, input_left_shift, diff_min, out_bits, out_min, out_max,
                        general, out_m, out_shift, zero_out, out):
    """TFLite quantized Softmax over the last axis of the 2-D ``x`` (rows × depth), in place into ``out``.

    Per row: ``d = q − max``; ``d ≥ diff_min`` contributes ``exp(d·β·S)`` (input rescale by
    SRDHM(d·2^left_shift, multiplier) to Q5.26, gemmlowp exp) to a Q12.19 sum; the reciprocal of the sum comes
    from ``one_over_one_plus_x`` with ``num_bits_over_unit``; each output is
    ``rdbpot(srdhm(recip, exp), num_bits_over_unit + 31 − out_bits) + out_min`` (TFLite's fixed output
    quantization S = 2^−out_bits, Z = type minimum). ``general``: the output has another quantization; then the
    Q0.31 probability ``srdhm(recip, exp) / 2^num_bits_over_unit`` is requantized with ``out_m``/``out_shift``
    (real multiplier ``2^−31 / S_out``, TFLite double rounding) and ``zero_out`` added — an accelsim extension."""
    rows, depth = x.shape
    exps = np.empty(depth, np.int64)
    for r in range(rows):
        row_max = np.int64(x[r, 0])
        for c in range(1, depth):
            row_max = max(row_max, np.int64(x[r, c]))
        total = np.int64(0)
        for c in range(depth):
            diff = np.int64(x[r, c]) - row_max
            if diff >= diff_min:
                scaled = srdhm(diff * (np.int64(1) << input_left_shift), input_multiplier)
                e = exp_on_negative_values_q5(scaled)
                exps[c] = e
                total = _wrap32(total + rdbpot(e, np.int64(12)))
            else:
                exps[c] = -1
        headroom = _count_leading_zeros32(total)
        bits_over_unit = 12 - headroom
        shifted = (((total & np.int64(0xFFFFFFFF)) << headroom) & np.int64(0xFFFFFFFF)) - (np.int64(1) << 31)
        recip = one_over_one_plus_x(_wrap32(shifted))
        for c in range(depth):
            if exps[c] < 0:
                v = out_min if not general else min(max(zero_out, out_min), out_max)
            elif not general:
                v = rdbpot(srdhm(recip, exps[c]), bits_over_unit + 31 - out_bits) + out_min
            else:
                prob = rdbpot(srdhm(recip, exps[c]), bits_over_unit)
                v = requantize_scalar(prob, np.int64(0), out_m, out_shift, np.float32(0)) + zero_out
            out[r, c] = min(max(v, out_min), out_max)


@njit(cache=True, nogil=True)
def rescale_sums(sums, mode, m, shift, fmult, zero_out, act_min, act_max, out):
    """``clamp(requantize(sum) + Z_out)`` of centred sums (TFLite MEAN with 1/n folded into ``m``/``shift``)."""
    for i in range(out.shape[0]):
        v = requantize_scalar(sums[i], mode, m, shift, fmult) + zero_out
        out[i] = min(max(v, act_min), act_max)
