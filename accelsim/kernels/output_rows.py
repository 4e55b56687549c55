"""The MAC kernels' output stage over a row of output channels, written so LLVM vectorises it.

The requantization of ``accelsim.quant.requant.requantize_scalar`` (+ ``Z_out``, activation clamp) applied channel
by channel, with the mode switch and the range check hoisted out of the channel loop, so that each loop body is
branch-free (selects only) and compiles to SIMD code (int64 multiplies and per-lane shifts on AVX-512/AVX2).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from accelsim.quant.requant import INT32_MAX, INT32_MIN, mbqm_int64, mbqm_single_round


@njit(cache=True, inline="always")
def mbqm_lanes(x, m, shift):
    """TFLite MultiplyByQuantizedMultiplier (double rounding, ``accelsim.quant.requant.mbqm``) without branches.

    Valid for the multipliers QuantizeMultiplier produces, ``0 ≤ m < 2^31``: SRDHM's one saturating case
    (both operands INT32_MIN) cannot occur, so SRDHM is ``((x << left)·m + 2^30) >> 31``; RoundingDivideByPOT's
    threshold ``(mask >> 1) + (h < 0)`` takes the sign bit ``(h >> 63) & 1``. Same int64 operations otherwise.
    """
    left = max(shift, 0)
    right = max(-shift, 0)
    h = ((x << left) * m + np.int64(1 << 30)) >> 31
    mask = (np.int64(1) << right) - 1
    threshold = (mask >> 1) + ((h >> 63) & 1)
    return (h >> right) + np.int64((h & mask) > threshold)


@njit(cache=True, inline="always")
def count_and_saturate(acc, acc_min, acc_max):
    """Clamp every int64 accumulator of ``acc`` to ``[acc_min, acc_max]`` in place; returns how many were outside."""
    overflows = 0
    for o in range(acc.shape[0]):
        a = acc[o]
        bad = a > acc_max or a < acc_min
        overflows += 1 if bad else 0
        acc[o] = min(max(a, acc_min), acc_max)
    return overflows


@njit(cache=True, inline="always")
def requantize_row(acc, mode, m, shift, fmult, zero_out, act_min, act_max, out_row):
    """``out_row[o] = clamp(requantize(acc[o]) + Z_out, act_min, act_max)`` for an int64 accumulator row.

    The 32-bit fixed-point modes (0 and 1) saturate the accumulator to int32 first (TFLite int32 accumulators).
    """
    channels = acc.shape[0]
    if mode == 0:
        for o in range(channels):
            a = min(max(acc[o], INT32_MIN), INT32_MAX)
            out_row[o] = min(max(mbqm_lanes(a, m[o], shift[o]) + zero_out, act_min), act_max)
    elif mode == 1:
        for o in range(channels):
            a = min(max(acc[o], INT32_MIN), INT32_MAX)
            out_row[o] = min(max(mbqm_single_round(a, m[o], shift[o]) + zero_out, act_min), act_max)
    elif mode == 2:
        for o in range(channels):
            out_row[o] = min(max(mbqm_int64(acc[o], m[o], shift[o]) + zero_out, act_min), act_max)
    else:
        for o in range(channels):
            v = np.int64(np.rint(np.float32(acc[o]) * fmult[o]))
            out_row[o] = min(max(v + zero_out, act_min), act_max)
