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


@njit(cache=True, inline="always")
def window_bounds(o, stride, pad_before, kernel, size, pad_after):
    """Start / end (exclusive) of a window along one axis: the valid taps ``[lo, hi)`` and the taps inside the
    padded input ``[plo, phi)`` (what ``count_include_pad`` divides by)."""
    start = o * stride - pad_before
    phi = min(start + kernel, size + pad_after)
    return max(start, 0), min(start + kernel, size), start, phi


@njit(cache=True, nogil=True)
def avg_pool(x, k_h, k_w, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, include_pad, same_quant,
             zero_in, mode, m, shift, fmult, first_count, zero_out, act_min, act_max, out):
    """Average of each window; the divisor ``n`` is its valid-tap count, or with ``include_pad`` its tap count
    inside the padded input (padding holds ``Z_in``, real 0).

    ``same_quant``: TFLite form, the raw sum of stored values (``Z_in`` per padding tap counted) divided by ``n``
    (ties away from zero). Otherwise ``Σ(q − Z_in)`` is requantized with the constants at index
    ``n − first_count`` of ``m``/``shift``/``fmult`` (real multiplier ``S_in / (n·S_out)``; a global average has
    the one count ``first_count = H·W``) and ``Z_out`` is added. Then the activation clamp.
    """
    n_batch, in_h, in_w, channels = x.shape
    _, out_h, out_w, _ = out.shape
    for row in range(n_batch * out_h):
        n = row // out_h
        oh = row % out_h
        h_lo, h_hi, ph_lo, ph_hi = window_bounds(oh, stride_h, pad_top, k_h, in_h, pad_bottom)
        acc = np.empty(channels, np.int64)
        for ow in range(out_w):
            w_lo, w_hi, pw_lo, pw_hi = window_bounds(ow, stride_w, pad_left, k_w, in_w, pad_right)
            acc[:] = 0
            count = (h_hi - h_lo) * (w_hi - w_lo)
            divisor = (ph_hi - ph_lo) * (pw_hi - pw_lo) if include_pad else count
            for ih in range(h_lo, h_hi):
                for iw in range(w_lo, w_hi):
                    for c in range(channels):
                        acc[c] += x[n, ih, iw, c]
            for c in range(channels):
                if same_quant:
                    v = divide_round_away(acc[c] + (divisor - count) * zero_in, divisor)
                else:
                    centered = acc[c] - count * zero_in
                    k = divisor - first_count
                    v = requantize_scalar(centered, mode, m[k], shift[k], fmult[k]) + zero_out
                out[n, oh, ow, c] = min(max(v, act_min), act_max)


@njit(cache=True, nogil=True)
def avg_pool_float_ort(x, k_h, k_w, stride_h, stride_w, pad_top, pad_left, include_pad, x_scale, zero_in,
                       y_scale, zero_out, act_min, act_max, out):
    """onnxruntime QLinearAveragePool (com.microsoft, contrib_ops/cpu/quantization/qlinear_pool.cc), in float32:
    each input dequantized ``f32(S_x · (q − Z_x))``, summed in float32 over the window (rows then columns, from
    0), divided by ``f32(n)`` (n: valid taps, or the whole ``k_h·k_w`` window with ``include_pad``), then
    ``rint(f32(f32(y / S_y) + Z_y))`` (round half to even) and the clamp."""
    n_batch, in_h, in_w, channels = x.shape
    _, out_h, out_w, _ = out.shape
    for row in range(n_batch * out_h):
        n = row // out_h
        oh = row % out_h
        h_lo = max(oh * stride_h - pad_top, 0)
        h_hi = min(oh * stride_h - pad_top + k_h, in_h)
        acc = np.empty(channels, np.float32)
        for ow in range(out_w):
            w_lo = max(ow * stride_w - pad_left, 0)
            w_hi = min(ow * stride_w - pad_left + k_w, in_w)
            acc[:] = np.float32(0.0)
            for ih in range(h_lo, h_hi):
                for iw in range(w_lo, w_hi):
                    for c in range(channels):
                        acc[c] = acc[c] + x_scale * np.float32(np.int64(x[n, ih, iw, c]) - zero_in)
            size = k_h * k_w if include_pad else (h_hi - h_lo) * (w_hi - w_lo)
            for c in range(channels):
                y = acc[c] / np.float32(size)
                v = np.int64(np.rint(y / y_scale + np.float32(zero_out)))
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
