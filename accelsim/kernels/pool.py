"""Pooling kernels over NHWC: average (TFLite raw-sum form or rescaled), max, global average."""
from __future__ import annotations

import numpy as np
from numba import njit

from accelsim.quant.requant import requantize_scalar


@njit(cache=True, inline="always")
def divide_round_away(total: np.int64, count: np.int64) -> np.int64:
    """``total / count`` to nearest, ties away from zero, with C truncating division (TFLite, [ref:TFLiteRef])."""
    if total > 0:
        return (total + count // 2) // count
    return -((-total + count // 2) // count)


@njit(cache=True, nogil=True)
def avg_pool(x, k_h, k_w, stride_h, stride_w, pad_top, pad_left, same_quant, zero_in,
             mode, m, shift, fmult, first_count, zero_out, act_min, act_max, out):
    """Average over the valid (non-padding) taps of each window.

    ``same_quant``: TFLite form, the raw sum of stored values divided by the tap count ``n`` (ties away from zero).
    Otherwise ``Σ(q − Z_in)`` is requantized with the constants at index ``n − first_count`` of
    ``m``/``shift``/``fmult`` (real multiplier ``S_in / (n·S_out)``; a global average has the one count
    ``first_count = H·W``) and ``Z_out`` is added. Then the activation clamp.
    """
    n_batch, in_h, in_w, channels = x.shape
    _, out_h, out_w, _ = out.shape
    for row in range(n_batch * out_h):
        n = row // out_h
        oh = row % out_h
        acc = np.empty(channels, np.int64)
        for ow in range(out_w):
            acc[:] = 0
            count = 0
            for kh in range(k_h):
                ih = oh * stride_h - pad_top + kh
                if ih < 0 or ih >= in_h:
                    continue
                for kw in range(k_w):
                    iw = ow * stride_w - pad_left + kw
                    if iw < 0 or iw >= in_w:
                        continue
                    count += 1
                    for c in range(channels):
                        acc[c] += x[n, ih, iw, c]
            for c in range(channels):
                if same_quant:
                    v = divide_round_away(acc[c], count)
                else:
                    centered = acc[c] - count * zero_in
                    k = count - first_count
                    v = requantize_scalar(centered, mode, m[k], shift[k], fmult[k]) + zero_out
                out[n, oh, ow, c] = min(max(v, act_min), act_max)


@njit(cache=True, nogil=True)
def max_pool(x, k_h, k_w, stride_h, stride_w, pad_top, pad_left, act_min, act_max, out):
    """Maximum over the valid taps of each window, then the activation clamp (TFLite, [ref:TFLiteRef])."""
    n_batch, in_h, in_w, channels = x.shape
    _, out_h, out_w, _ = out.shape
    for row in range(n_batch * out_h):
        n = row // out_h
        oh = row % out_h
        best = np.empty(channels, np.int64)
        for ow in range(out_w):
            best[:] = np.iinfo(np.int64).min
            for kh in range(k_h):
                ih = oh * stride_h - pad_top + kh
                if ih < 0 or ih >= in_h:
                    continue
                for kw in range(k_w):
                    iw = ow * stride_w - pad_left + kw
                    if iw < 0 or iw >= in_w:
                        continue
                    for c in range(channels):
                        best[c] = max(best[c], np.int64(x[n, ih, iw, c]))
            for c in range(channels):
                out[n, oh, ow, c] = min(max(best[c], act_min), act_max)
