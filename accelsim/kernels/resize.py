"""Resize kernels over NHWC integers: a gather (nearest), TFLite's 10-bit fixed-point bilinear and onnxruntime's
float-weight bilinear. The per-axis index / weight tables come from ``accelsim.engine.resize``."""
from __future__ import annotations

import numpy as np
from numba import njit


def gather_nearest(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Nearest neighbour: output (y, x) copies input (rows[y], cols[x]) (both runtimes copy the stored integer)."""
    return np.ascontiguousarray(x[:, rows][:, :, cols])


@njit(cache=True, nogil=True)
def bilinear_fixed10(x, in_y, y0, y1, in_x, x0, x1, qmin, qmax, out):
    """TFLite reference_ops::ResizeBilinearInteger ([ref:TFLiteRef], int8 / int16): coordinates in 1/1024 units
    (``in_y``, ``in_x``) with neighbours (y0, y1), (x0, x1); the four products of the value and the two 10-bit
    weights summed in int64 (a 2^20 fixed-point value), then ``(s ± 2^19) / 2^20`` with C truncating division
    (round half away from zero)."""
    n_batch, _, _, channels = x.shape
    _, out_h, out_w, _ = out.shape
    one = np.int64(1 << 10)
    for n in range(n_batch):
        for y in range(out_h):
            wy1 = np.int64(in_y[y]) - one * y0[y]
            wy0 = one - wy1
            for xx in range(out_w):
                wx1 = np.int64(in_x[xx]) - one * x0[xx]
                wx0 = one - wx1
                for c in range(channels):
                    s = (np.int64(x[n, y0[y], x0[xx], c]) * wy0 * wx0 + np.int64(x[n, y1[y], x0[xx], c]) * wy1 * wx0
                         + np.int64(x[n, y0[y], x1[xx], c]) * wy0 * wx1 + np.int64(x[n, y1[y], x1[xx], c]) * wy1 * wx1)
                    r = s + (1 << 19) if s > 0 else s - (1 << 19)
                    q = r // (1 << 20) if r >= 0 else -((-r) // (1 << 20))
                    out[n, y, xx, c] = min(max(q, qmin), qmax)


@njit(cache=True, nogil=True)
def bilinear_float_weights(x, y1, y2, dy1, dy2, x1, x2, dx1, dx2, qmin, qmax, out):
    """onnxruntime UpsampleBilinear on 8-bit data (core/providers/cpu/tensor/upsample.h, [ref:ORT]): float32
    coefficients ``dx2·dy2``, ``dx1·dy2``, ``dx2·dy1``, ``dx1·dy1`` times the integer neighbours X11, X21, X12, X22,
    summed left to right in float32, then converted to the integer type by truncation toward zero."""
    n_batch, _, _, channels = x.shape
    _, out_h, out_w, _ = out.shape
    for n in range(n_batch):
        for y in range(out_h):
            for xx in range(out_w):
                c11 = dx2[xx] * dy2[y]
                c21 = dx1[xx] * dy2[y]
                c12 = dx2[xx] * dy1[y]
                c22 = dx1[xx] * dy1[y]
                for c in range(channels):
                    v = (c11 * np.float32(x[n, y1[y], x1[xx], c]) + c21 * np.float32(x[n, y1[y], x2[xx], c])) \
                        + c12 * np.float32(x[n, y2[y], x1[xx], c])
                    v = v + c22 * np.float32(x[n, y2[y], x2[xx], c])
                    q = np.int64(v)   # truncation toward zero, as static_cast<T>(float)
                    out[n, y, xx, c] = min(max(q, qmin), qmax)


@njit(cache=True, nogil=True)
def bilinear_dequantized(x, y1, y2, dy1, dy2, x1, x2, dx1, dx2, s_in, z_in, s_out, z_out, qmin, qmax, out):
    """onnxruntime's DequantizeLinear -> float Resize (linear) -> QuantizeLinear: each neighbour dequantized
    ``f32(f32(q − Z_in) · S_in)``, interpolated with the float32 coefficients of ``bilinear_float_weights`` in the
    same order, then ``rint(f32(y / S_out)) + Z_out`` (round half to even) and saturated."""
    n_batch, _, _, channels = x.shape
    _, out_h, out_w, _ = out.shape
    for n in range(n_batch):
        for y in range(out_h):
            for xx in range(out_w):
                c11 = dx2[xx] * dy2[y]
                c21 = dx1[xx] * dy2[y]
                c12 = dx2[xx] * dy1[y]
                c22 = dx1[xx] * dy1[y]
                for c in range(channels):
                    v11 = np.float32(np.int64(x[n, y1[y], x1[xx], c]) - z_in) * s_in
                    v21 = np.float32(np.int64(x[n, y1[y], x2[xx], c]) - z_in) * s_in
                    v12 = np.float32(np.int64(x[n, y2[y], x1[xx], c]) - z_in) * s_in
                    v22 = np.float32(np.int64(x[n, y2[y], x2[xx], c]) - z_in) * s_in
                    v = ((c11 * v11 + c21 * v21) + c12 * v12) + c22 * v22
                    q = np.int64(np.rint(v / s_out)) + z_out
                    out[n, y, xx, c] = min(max(q, qmin), qmax)


@njit(cache=True, nogil=True)
def bilinear_tflite_float(x, in_y, y0, y1, in_x, x0, x1, qmin, qmax, out):
    """TFLite reference_ops::ResizeBilinear on uint8 ([ref:TFLiteRef]): float32 source coordinates ``in_y``,
    ``in_x`` with neighbours (y0, y1), (x0, x1); ``v00·(1 − dy)·(1 − dx) + v10·dy·(1 − dx) + v01·(1 − dy)·dx +
    v11·dy·dx + 0.5`` in float32, left to right, then truncation toward zero."""
    n_batch, _, _, channels = x.shape
    _, out_h, out_w, _ = out.shape
    one = np.float32(1.0)
    half = np.float32(0.5)
    for n in range(n_batch):
        for y in range(out_h):
            dy = in_y[y] - np.float32(y0[y])
            for xx in range(out_w):
                dx = in_x[xx] - np.float32(x0[xx])
                for c in range(channels):
                    v = np.float32(x[n, y0[y], x0[xx], c]) * (one - dy) * (one - dx)
                    v = v + np.float32(x[n, y1[y], x0[xx], c]) * dy * (one - dx)
                    v = v + np.float32(x[n, y0[y], x1[xx], c]) * (one - dy) * dx
                    v = v + np.float32(x[n, y1[y], x1[xx], c]) * dy * dx
                    q = np.int64(v + half)
                    out[n, y, xx, c] = min(max(q, qmin), qmax)
