"""Elementwise kernels: Add / Sub / Mul (fixed point and float forms) and a plain rescale (Concat inputs).

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
def add_mlas(a, b, offset, ratio_a, ratio_b, fixed_part, act_min, act_max, out, first, end):
    """onnxruntime QLinearAdd (MLAS ``MlasQLinearAddKernelAvx2Helper``, onnxruntime core/mlas/lib/intrinsics/avx2/
    qladd_avx2.cpp, [ref:ORT]) of elements ``first ≤ i < end``: ``t = fma(q_a, r_a, fma(q_b, r_b, F))`` with
    ``r = f32(S / S_c)`` and ``F`` from :func:`accelsim.engine.elementwise.mlas_add_constants`, then ``rne(t)``,
    saturated. A scalar (broadcast) input b gives the same value (MLAS folds ``fma(q_b, r_b, F)`` once per run);
    a broadcast input a is passed here as b (onnxruntime swaps the roles). Each fused multiply-add is evaluated
    in float64 — the product of an 8/16-bit integer and a float32 is exact there, and so is the sum while the
    two addends' exponents differ by less than ~20 — and rounded once to float32."""
    a, b, out = a[first:end], b[first:end], out[first:end]
    for i in range(out.shape[0]):
        t1 = np.float32(np.float64(np.int64(b[i]) + offset) * np.float64(ratio_b) + np.float64(fixed_part))
        t = np.float32(np.float64(np.int64(a[i]) + offset) * np.float64(ratio_a) + np.float64(t1))
        v = np.int64(np.rint(t)) - offset
        out[i] = min(max(v, act_min), act_max)


@njit(cache=True, nogil=True)
def mul_fixed_point(a, zero_a, b, zero_b, mode, m, shift, zero_out, act_min, act_max, out, first, end):
    """TFLite MUL (reference_integer_ops::MulElementwise, [ref:TFLiteRef]) of elements ``first ≤ i < end``:
    ``Z_out + MultiplyByQuantizedMultiplier((q_a − Z_a)·(q_b − Z_b), m, shift)`` with
    ``m·2^shift ≈ S_a·S_b / S_out``, then the activation clamp. ``mode``: requantization mode id."""
    a, b, out = a[first:end], b[first:end], out[first:end]
    for i in range(out.shape[0]):
        prod = (np.int64(a[i]) - zero_a) * (np.int64(b[i]) - zero_b)
        v = requantize_scalar(prod, mode, m, shift, np.float32(0)) + zero_out
        out[i] = min(max(v, act_min), act_max)


@njit(cache=True, nogil=True)
def mul_mlas(a, zero_a, b, zero_b, ratio, zero_out_f, offset, act_min, act_max, out, first, end):
    """onnxruntime QLinearMul (MLAS ``MlasQLinearMulKernel``, core/mlas/lib/qlmul.cpp, [ref:ORT]) of elements
    ``first ≤ i < end``: ``rne(f32(f32((q_a − Z_a)·(q_b − Z_b))·r) + f32(Z_out))``,
    ``r = f32(f32(S_a·S_b) / S_out)``,
    saturated; the integer product is exact in float32 for 8-bit inputs. ``offset``: 128 when onnxruntime runs
    an int8 QDQ model as uint8 (``zero_out_f`` then carries Z_out + 128, taken off the rounded result), else 0."""
    a, b, out = a[first:end], b[first:end], out[first:end]
    for i in range(out.shape[0]):
        prod = np.float32((np.int64(a[i]) - zero_a) * (np.int64(b[i]) - zero_b))
        v = np.int64(np.rint(np.float32(np.float32(prod * ratio) + zero_out_f))) - offset
        out[i] = min(max(v, act_min), act_max)


@njit(cache=True, nogil=True)
def binary_dq_q(a, zero_a, scale_a, b, zero_b, scale_b, scale_out, zero_out, op, act_min, act_max, out, first, end):
    """A float op between DequantizeLinear and QuantizeLinear, as onnxruntime runs a QDQ Sub / Mul it does not
    fuse ([ref:ORT]): ``x = f32(f32(q − Z)·S)`` per input, ``y = f32(x_a − x_b)`` (``op`` 0) or ``f32(x_a·x_b)``
    (1), then QuantizeLinear ``rne(f32(y / S_out)) + Z_out``, saturated."""
    a, b, out = a[first:end], b[first:end], out[first:end]
    for i in range(out.shape[0]):
        xa = np.float32(np.float32(np.int64(a[i]) - zero_a) * scale_a)
        xb = np.float32(np.float32(np.int64(b[i]) - zero_b) * scale_b)
        y = np.float32(xa - xb) if op == 0 else np.float32(xa * xb)
        v = np.int64(np.rint(np.float32(y / scale_out))) + zero_out
        out[i] = min(max(v, act_min), act_max)


@njit(cache=True, nogil=True)
def rescale(x, zero_in, mode, m, shift, fmult, zero_out, act_min, act_max, out):
    """``clamp(requantize(q − Z_in) + Z_out, act_min, act_max)`` with one real multiplier (Concat inputs)."""
    for i in range(out.shape[0]):
        v = requantize_scalar(np.int64(x[i]) - zero_in, mode, m, shift, fmult) + zero_out
        out[i] = min(max(v, act_min), act_max)
