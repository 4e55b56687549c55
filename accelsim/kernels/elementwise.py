"""Elementwise kernels: Add (fixed point and float forms) and a plain rescale (Concat inputs).

Arrays are flattened by the caller; all arithmetic is per element. Serial and GIL-free: the Add kernels work on
an element range ``first ≤ i < end`` so the executor can split a tensor over its threads (each kernel loops over views of its range: a loop
``range(first, end)`` indexing the full arrays ran ~5x slower, as numba cannot prove the index non-negative).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from accelsim.quant.requant import requantize_scalar


@njit(cache=True, nogil=True)
def add_fixed_point(a, zero_a, b, zero_b, left_shift, mode, m_a, shift_a, m_b, shift_b, m_out, shift_out,
                    zero_out, act_min, act_max, out, first, end):
    """TFLite ADD ([ref:TFLiteRef]) of elements ``first ≤ i < end``: both inputs shifted left by
    ``left_shift``, scaled to a common fixed-point scale, summed, scaled to the output. ``mode`` is 0 (double
    rounding) or 1 (single rounding)."""
    a, b, out = a[first:end], b[first:end], out[first:end]  # views: from 0, so the loop compiles tight
    for i in range(out.shape[0]):
        va = requantize_scalar((np.int64(a[i]) - zero_a) << left_shift, mode, m_a, shift_a, np.float32(0))
        vb = requantize_scalar((np.int64(b[i]) - zero_b) << left_shift, mode, m_b, shift_b, np.float32(0))
        v = requantize_scalar(va + vb, mode, m_out, shift_out, np.float32(0)) + zero_out
        out[i] = min(max(v, act_min), act_max)


@njit(cache=True, nogil=True)
def add_float(a, zero_a, scale_a, b, zero_b, scale_b, inv_scale_out, zero_out, act_min, act_max, out, first, end):
    """Float-formula Add (torch fbgemm, [ref:PyTorchQ]) of elements ``first ≤ i < end``:
    ``rne((f32(q_a − Z_a)·S_a + f32(q_b − Z_b)·S_b) · f32(1/S_out)) + Z_out``, every operation in float32."""
    a, b, out = a[first:end], b[first:end], out[first:end]
    for i in range(out.shape[0]):
        ra = np.float32(np.float32(np.int64(a[i]) - zero_a) * scale_a)
        rb = np.float32(np.float32(np.int64(b[i]) - zero_b) * scale_b)
        s = np.float32(ra + rb)
        v = np.int64(np.rint(np.float32(s * inv_scale_out))) + zero_out
        out[i] = min(max(v, act_min), act_max)


@njit(cache=True, nogil=True)
def rescale(x, zero_in, mode, m, shift, fmult, zero_out, act_min, act_max, out):
    """``clamp(requantize(q − Z_in) + Z_out, act_min, act_max)`` with one real multiplier (Concat inputs)."""
    for i in range(out.shape[0]):
        v = requantize_scalar(np.int64(x[i]) - zero_in, mode, m, shift, fmult) + zero_out
        out[i] = min(max(v, act_min), act_max)
