"""2-D convolution over NHWC activations in integer arithmetic: a grouped/dense kernel and a depthwise kernel.
(Dense convolutions and FullyConnected run as exact float GEMMs when a bound allows: ``accelsim.kernels.gemm``;
the grouped kernel is their integer fallback.)

All accumulate ``bias[o] + Σ (q_x − Z_x) · w_c`` exactly, where ``w_c = q_w − Z_w[o]`` is precomputed by the
executor (``accelsim.execute``); taps in the padding contribute 0. The grouped and depthwise kernels take an
accumulator buffer dtype chosen by the caller: int32 when a static bound proves every partial sum fits the
configured accumulator (then no check is needed and the loops vectorise on 32-bit lanes), otherwise int64 with
every final accumulator checked against ``[acc_min, acc_max]``, counted and saturated.

Loop order (cache-friendly, no im2col): over output rows ``(n, oh)`` (grouped: all of them, serially; depthwise:
a row range the executor splits over its worker threads). Grouped and depthwise: per output
pixel and tap the reduction runs over input channels, and the innermost loop runs over contiguous output
channels of a pre-transposed weight layout (grouped ``(G, KH, KW, CI/G, CO/G)``, depthwise ``(KH, KW, C·mult)``).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from accelsim.kernels.output_rows import count_and_saturate, requantize_row


@njit(cache=True, inline="always")
def _finish_row(acc, out_row, check, acc_min, acc_max, mode, m, shift, fmult, zero_out, act_min, act_max):
    """Requantize one output row ``acc[ow, o]`` into ``out_row``; returns the number of overflowing accumulators.
    Pixel by pixel through an int64 channel vector and the vectorised row stage (``kernels.output_rows``)."""
    overflows = 0
    width, channels = acc.shape
    a = np.empty(channels, np.int64)
    for ow in range(width):
        acc_px = acc[ow]
        for o in range(channels):
            a[o] = acc_px[o]
        if check:
            overflows += count_and_saturate(a, acc_min, acc_max)
        requantize_row(a, mode, m, shift, fmult, zero_out, act_min, act_max, out_row[ow])
    return overflows


@njit(cache=True, nogil=True)
def conv2d_grouped(x, zero_in, w, bias, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left,
                   acc_proto, check, acc_min, acc_max, mode, m, shift, fmult, zero_out, act_min, act_max, out):
    """Dense or grouped convolution. ``x`` (N, H, W, C) raw integers; ``w`` (G, KH, KW, CI/G, CO/G) centered
    weights; ``bias`` int64 (O,); ``out`` (N, OH, OW, O) preallocated in the output storage type.

    ``acc_proto`` is an empty array whose dtype (int32 / int64) is the accumulator buffer's. Returns the number
    of accumulators outside ``[acc_min, acc_max]`` (only counted when ``check``).
    """
    n_batch, in_h, in_w, _ = x.shape
    groups, k_h, k_w, ci_g, co_g = w.shape
    _, out_h, out_w, channels = out.shape
    rows = n_batch * out_h
    row_overflows = np.zeros(rows, np.int64)
    for row in range(rows):
        n = row // out_h
        oh = row % out_h
        acc = np.empty((out_w, channels), acc_proto.dtype)
        for ow in range(out_w):
            for o in range(channels):
                acc[ow, o] = bias[o]
        for ow in range(out_w):
            acc_px = acc[ow]
            for kh in range(k_h):
                ih = oh * stride_h - pad_top + kh * dil_h
                if ih < 0 or ih >= in_h:
                    continue
                for kw in range(k_w):
                    iw = ow * stride_w - pad_left + kw * dil_w
                    if iw < 0 or iw >= in_w:
                        continue
                    x_px = x[n, ih, iw]
                    for g in range(groups):
                        for ci in range(ci_g):
                            xv = np.int32(x_px[g * ci_g + ci]) - np.int32(zero_in)
                            w_vec = w[g, kh, kw, ci]
                            base = g * co_g
                            for co in range(co_g):
                                acc_px[base + co] += xv * w_vec[co]
        row_overflows[row] = _finish_row(acc, out[n, oh], check, acc_min, acc_max, mode, m, shift, fmult,
                                         zero_out, act_min, act_max)
    return row_overflows.sum()


@njit(cache=True, nogil=True)
def conv2d_depthwise(x, zero_in, w, bias, multiplier, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left,
                     acc_proto, check, acc_min, acc_max, mode, m, shift, fmult, zero_out, act_min, act_max, out,
                     first_row, end_row):
    """Depthwise convolution of output rows ``first_row ≤ (n·OH + oh) < end_row``: output channel ``o`` reads
    input channel ``o // multiplier`` (TFLite order). ``w`` (KH, KW, C·multiplier) centered weights; other
    arguments as :func:`conv2d_grouped`. Serial and GIL-free: the executor splits the rows over its threads."""
    _, in_h, in_w, _ = x.shape
    k_h, k_w, channels = w.shape
    _, out_h, out_w, _ = out.shape
    overflows = 0
    acc = np.empty((out_w, channels), acc_proto.dtype)
    for row in range(first_row, end_row):
        n = row // out_h
        oh = row % out_h
        for ow in range(out_w):
            for o in range(channels):
                acc[ow, o] = bias[o]
        for ow in range(out_w):
            acc_px = acc[ow]
            for kh in range(k_h):
                ih = oh * stride_h - pad_top + kh * dil_h
                if ih < 0 or ih >= in_h:
                    continue
                for kw in range(k_w):
                    iw = ow * stride_w - pad_left + kw * dil_w
                    if iw < 0 or iw >= in_w:
                        continue
                    x_px = x[n, ih, iw]
                    w_vec = w[kh, kw]
                    if multiplier == 1:
                        for o in range(channels):
                            acc_px[o] += (np.int32(x_px[o]) - np.int32(zero_in)) * w_vec[o]
                    else:
                        for o in range(channels):
                            acc_px[o] += (np.int32(x_px[o // multiplier]) - np.int32(zero_in)) * w_vec[o]
        overflows += _finish_row(acc, out[n, oh], check, acc_min, acc_max, mode, m, shift, fmult, zero_out,
                                 act_min, act_max)
    return overflows
