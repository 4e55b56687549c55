"""Exact integer convolution / GEMM through floating-point BLAS: im2col into a float matrix, ``np.matmul``
(sgemm or dgemm), then an integer output stage.

Why it is exact (the plan checks the condition; ``accelsim.engine.mac.gemm_float_type``): every operand is an
integer, ``a = q_x − Z_x`` and ``w = q_w − Z_w``, so every product ``a·w`` and every partial sum a BLAS kernel can
form (in any order, blocked, with or without FMA) is an integer whose magnitude is at most
``Σ_k |a_k|·|w_k| ≤ max|a| · Σ_k |w[o, k]| =: B``. A binary floating-point format with a p-bit significand
represents every integer of magnitude ≤ 2^p exactly, and an IEEE addition, multiplication or fused multiply-add
whose exact result is representable returns it unrounded. So if ``B ≤ 2^24`` (float32) or ``B ≤ 2^53`` (float64)
no operation rounds and the float result equals the integer dot product. The bias is added afterwards in int64.
This assumes a classical GEMM that only multiplies operand pairs and adds products (OpenBLAS, MKL, BLIS and
Accelerate on CPU); a Strassen-type algorithm, which multiplies sums of operands, would need a larger margin.

Both kernels release the GIL (``nogil``): the executor runs blocks of output pixels on several Python threads.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from accelsim.kernels.output_rows import count_and_saturate, requantize_row


@njit(cache=True, nogil=True)
def patches(x, zero_in, k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, out_h, out_w, first_pixel,
            out):
    """im2col rows of NHWC ``x`` for output pixels ``first_pixel ... first_pixel + len(out) − 1`` (pixels numbered
    ``(n·OH + oh)·OW + ow``): ``out[p, (kh·KW + kw)·C + c] = x[n, ih, iw, c] − Z_x``, 0 for taps in the padding.

    ``out`` is a float array (pixels, KH·KW·C); the column order matches OHWI weights reshaped to (O, KH·KW·C).
    """
    _, in_h, in_w, channels = x.shape
    zero = out.dtype.type(zero_in)
    ow = first_pixel % out_w
    oh = (first_pixel // out_w) % out_h
    n = first_pixel // (out_w * out_h)
    for p in range(out.shape[0]):
        dst = out[p]
        for kh in range(k_h):
            ih = oh * stride_h - pad_top + kh * dil_h
            for kw in range(k_w):
                iw = ow * stride_w - pad_left + kw * dil_w
                base = (kh * k_w + kw) * channels
                if ih < 0 or ih >= in_h or iw < 0 or iw >= in_w:
                    for c in range(channels):
                        dst[base + c] = 0
                else:
                    src = x[n, ih, iw]
                    for c in range(channels):
                        dst[base + c] = src[c] - zero
        ow += 1                      # next pixel: (n, oh, ow) in row-major order, no divisions
        if ow == out_w:
            ow = 0
            oh += 1
            if oh == out_h:
                oh = 0
                n += 1


@njit(cache=True, nogil=True)
def requantize_rows(acc, bias, check, acc_min, acc_max, mode, m, shift, fmult, zero_out, act_min, act_max, out):
    """Output stage of a float GEMM: ``a = int64(acc[r, o]) + bias[o]`` (exact: ``acc`` holds integers), range
    check / saturation when ``check``, then requantization, ``+ Z_out`` and clamp into ``out[r, o]`` (any integer
    dtype). Returns the number of accumulators outside ``[acc_min, acc_max]``."""
    rows, channels = acc.shape
    overflows = 0
    a = np.empty(channels, np.int64)
    for r in range(rows):
        acc_row = acc[r]
        for o in range(channels):
            a[o] = np.int64(acc_row[o]) + bias[o]
        if check:
            overflows += count_and_saturate(a, acc_min, acc_max)
        requantize_row(a, mode, m, shift, fmult, zero_out, act_min, act_max, out[r])
    return overflows
