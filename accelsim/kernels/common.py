"""The output stage shared by the MAC kernels: accumulator range check, requantization, zero point, clamp."""
from __future__ import annotations

import numpy as np
from numba import njit

from accelsim.quant.requant import INT32_MAX, INT32_MIN, requantize_scalar


@njit(cache=True, inline="always")
def saturate_accumulator(acc: np.int64, acc_min: np.int64, acc_max: np.int64) -> tuple[np.int64, np.int64]:
    """Clamp an exact int64 accumulator to the accumulator range; the second value is 1 if it did not fit."""
    if acc > acc_max:
        return acc_max, np.int64(1)
    if acc < acc_min:
        return acc_min, np.int64(1)
    return acc, np.int64(0)


@njit(cache=True, inline="always")
def requantize_output(acc: np.int64, mode: np.int64, m: np.int64, shift: np.int64, fmult: np.float32,
                      zero_out: np.int64, act_min: np.int64, act_max: np.int64) -> np.int64:
    """``clamp(requantize(acc) + Z_out, act_min, act_max)`` (quantized-arithmetic §2.7, §3.1).

    The 32-bit fixed-point scale units (modes 0 and 1) take an int32 input: a wider accumulator is saturated to
    the int32 range first (it only arises with an explicitly chosen mode and a >32-bit accumulator).
    """
    if mode <= 1:
        acc = min(max(acc, INT32_MIN), INT32_MAX)
    v = requantize_scalar(acc, mode, m, shift, fmult) + zero_out
    return min(max(v, act_min), act_max)
