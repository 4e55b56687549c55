"""Engine runner of Resize: per-axis index / weight tables computed once per node, in the arithmetic of the
runtime the node's requantization mode names.

* ``fixed_point*`` modes with a mapping TFLite can express (nearest: ``asymmetric`` + ``floor``,
  ``align_corners`` + ``round_prefer_ceil``, ``tf_half_pixel_for_nn`` + ``floor``; bilinear: ``asymmetric``,
  ``align_corners``, ``half_pixel``): TFLite's reference kernels ([ref:TFLiteRef]):
  reference_ops::ResizeNearestNeighbor (float32 ``scale = in / out`` or ``(in − 1) / (out − 1)``, source
  ``(x + offset) · scale`` floored, or rounded half away from zero with align_corners) and
  reference_ops::ResizeBilinearInteger (int8 / int16: 10-bit fixed-point coordinates, see
  ``accelsim.kernels.resize``) and, for uint8, reference_ops::ResizeBilinear (float32 weights, + 0.5, truncation).
* otherwise (``float32`` and the other modes): onnxruntime's CPU Resize ([ref:ORT],
  core/providers/cpu/tensor/upsample*.h): float32 coordinate transforms, nearest rounding by ``nearest_mode``,
  bilinear with float32 weights and truncation to the integer type, or, for a ``dequantized`` Resize (QDQ form),
  on the dequantized values with the result quantized again (round half to even).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from accelsim.engine.common import NodeRun, RunOptions
from accelsim.graph.ir import Graph, Node
from accelsim.graph.ops.resize import Resize, axis_scale, ort_coordinates, ort_nearest
from accelsim.kernels import resize as kernels
from accelsim.quant.params import dtype_info

#: (mode, coordinate_mode, nearest_mode) combinations TFLite's kernels compute, with their
#: (align_corners, half_pixel_centers) options.
TFLITE_NEAREST = {("asymmetric", "floor"): (False, False), ("align_corners", "round_prefer_ceil"): (True, False),
                  ("tf_half_pixel_for_nn", "floor"): (False, True)}
TFLITE_BILINEAR = {"asymmetric": (False, False), "align_corners": (True, False), "half_pixel": (False, True)}


@dataclass(frozen=True, eq=False)
class ResizePlan:
    """``kind``: "nearest", "bilinear_fixed10", "bilinear_tflite_float", "bilinear_float" or
    "bilinear_dequantized"; ``tables``: the
    kernel's per-axis arrays; ``quant``: (S_in, Z_in, S_out, Z_out) for the dequantized form."""

    kind: str
    tables: tuple[np.ndarray, ...]
    quant: tuple = ()


def tflite_options(op: Resize, requant: str) -> tuple[bool, bool] | None:
    """TFLite's (align_corners, half_pixel_centers) for this node, or None when it runs onnxruntime's rules."""
    if not requant.startswith("fixed_point"):
        return None
    if op.mode == "nearest":
        return TFLITE_NEAREST.get((op.coordinate_mode, op.nearest_mode))
    return TFLITE_BILINEAR.get(op.coordinate_mode)


def plan(graph: Graph, node: Node) -> ResizePlan:
    op: Resize = node.op
    _, in_h, in_w, _ = graph.tensors[node.inputs[0]].shape
    tfl = tflite_options(op, node.requant)
    if op.mode == "nearest":
        if tfl is not None:
            rows = tflite_nearest(in_h, op.size[0], *tfl)
            cols = tflite_nearest(in_w, op.size[1], *tfl)
        else:
            rows = ort_nearest(op, 0, in_h)
            cols = ort_nearest(op, 1, in_w)
        return ResizePlan("nearest", (rows, cols))
    if tfl is not None and graph.tensors[node.inputs[0]].dtype == "uint8":
        return ResizePlan("bilinear_tflite_float", tflite_float_bilinear_axis(in_h, op.size[0], *tfl)
                          + tflite_float_bilinear_axis(in_w, op.size[1], *tfl))
    if tfl is not None:
        return ResizePlan("bilinear_fixed10", tflite_bilinear_axis(in_h, op.size[0], *tfl)
                          + tflite_bilinear_axis(in_w, op.size[1], *tfl))
    tables = ort_bilinear_axis(op, 0, in_h) + ort_bilinear_axis(op, 1, in_w)
    if op.dequantized:
        return ResizePlan("bilinear_dequantized", tables, _quant_constants(graph, node))
    return ResizePlan("bilinear_float", tables)


def _quant_constants(graph: Graph, node: Node) -> tuple:
    """(S_in, Z_in, S_out, Z_out) with the scales as float32."""
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    return (np.float32(x.quant.scale[0]), int(x.quant.zero_point[0]), np.float32(y.quant.scale[0]),
            int(y.quant.zero_point[0]))


def run(graph: Graph, node: Node, plan: ResizePlan, values: Mapping[str, np.ndarray],
        options: RunOptions) -> NodeRun:
    x = values[node.inputs[0]]
    if plan.kind == "nearest":
        return NodeRun(kernels.gather_nearest(x, *plan.tables))
    out_t = graph.tensors[node.outputs[0]]
    info = dtype_info(out_t.dtype)
    out = np.empty(out_t.shape, info.storage)
    if plan.kind == "bilinear_fixed10":
        kernels.bilinear_fixed10(x, *plan.tables, info.qmin, info.qmax, out)
    elif plan.kind == "bilinear_tflite_float":
        kernels.bilinear_tflite_float(x, *plan.tables, info.qmin, info.qmax, out)
    elif plan.kind == "bilinear_dequantized":
        kernels.bilinear_dequantized(x, *plan.tables, *plan.quant, info.qmin, info.qmax, out)
    else:
        kernels.bilinear_float_weights(x, *plan.tables, info.qmin, info.qmax, out)
    return NodeRun(out)


# ------------------------------------------------------------------------------------------------- TFLite
def tflite_nearest(in_len: int, out_len: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """TFLite GetNearestNeighbor: ``scale = f32(in − 1) / f32(out − 1)`` (align_corners, out > 1) else
    ``f32(in) / f32(out)``; ``v = f32(f32(x + offset) · scale)`` (offset 0.5 with half_pixel_centers), rounded half
    away from zero with align_corners else floored; then ``min(·, in − 1)`` and, with half_pixel_centers,
    ``max(·, 0)``."""
    f32 = np.float32
    if align_corners and out_len > 1:
        scale = f32(in_len - 1) / f32(out_len - 1)
    else:
        scale = f32(in_len) / f32(out_len)
    offset = f32(0.5) if half_pixel else f32(0.0)
    idx = np.empty(out_len, np.int64)
    for x in range(out_len):
        v = float(f32(f32(x) + offset) * scale)
        k = int(np.sign(v) * np.floor(abs(v) + 0.5)) if align_corners else int(np.floor(v))
        k = min(k, in_len - 1)
        idx[x] = max(k, 0) if half_pixel else k
    return idx


def _c_div(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def tflite_bilinear_axis(in_len: int, out_len: int, align_corners: bool,
                         half_pixel: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TFLite ResizeBilinearInteger per axis: ``scale_10 = (2^10·in + out/2) / out`` (align_corners:
    ``(2^10·(in − 1) + (out − 1)/2) / (out − 1)``); ``v = x·scale_10`` (+ ``scale_10/2 − 2^9`` with
    half_pixel_centers); ``lo = max(v / 2^10, 0)``, ``hi = min((v + 2^10 − 1) / 2^10, in − 1)`` (C division).
    Returns (v, lo, hi)."""
    scale = (1024 * in_len + out_len // 2) // out_len
    if align_corners and out_len > 1:
        scale = (1024 * (in_len - 1) + (out_len - 1) // 2) // (out_len - 1)
    v = np.empty(out_len, np.int64)
    lo = np.empty(out_len, np.int64)
    hi = np.empty(out_len, np.int64)
    for x in range(out_len):
        s = x * scale + (scale // 2 - 512 if half_pixel else 0)
        v[x], lo[x], hi[x] = s, max(_c_div(s, 1024), 0), min(_c_div(s + 1023, 1024), in_len - 1)
    return v, lo, hi


def tflite_float_bilinear_axis(in_len: int, out_len: int, align_corners: bool,
                               half_pixel: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TFLite ResizeBilinear (float kernel, used for uint8) per axis: ``scale = f32(in) / f32(out)``
    (align_corners: ``f32(in − 1) / f32(out − 1)``); ``v = f32(x · scale)`` or ``f32(f32(x + 0.5) · scale − 0.5)``
    with half_pixel_centers; ``lo = max(floor(v), 0)``, ``hi = min(ceil(v), in − 1)``. Returns (v, lo, hi)."""
    f32 = np.float32
    if align_corners and out_len > 1:
        scale = f32(in_len - 1) / f32(out_len - 1)
    else:
        scale = f32(in_len) / f32(out_len)
    v = np.empty(out_len, np.float32)
    lo = np.empty(out_len, np.int64)
    hi = np.empty(out_len, np.int64)
    for x in range(out_len):
        s = (f32(x) + f32(0.5)) * scale - f32(0.5) if half_pixel else f32(x) * scale
        v[x], lo[x], hi[x] = s, max(int(np.floor(s)), 0), min(int(np.ceil(s)), in_len - 1)
    return v, lo, hi


# --------------------------------------------------------------------------------------------- onnxruntime
def ort_bilinear_axis(op: Resize, axis: int, in_len: int) -> tuple[np.ndarray, ...]:
    """onnxruntime SetupUpsampleBilinear per axis: the float32 coordinate (the output index itself when the scale
    is 1) clamped to ``[0, in − 1]``; ``i1 = min(trunc(c), in − 1)``, ``i2 = min(i1 + 1, in − 1)``,
    ``d1 = |c − i1|``, ``d2 = |c − i2|`` (both 0.5 when i1 = i2). Returns (i1, i2, d1, d2)."""
    f32 = np.float32
    coords = ort_coordinates(op, axis, in_len)
    if f32(axis_scale(op, axis, in_len)) == f32(1.0):
        coords = np.arange(op.size[axis], dtype=np.float32)
    c = np.maximum(f32(0.0), np.minimum(coords, f32(in_len - 1))).astype(np.float32)
    i1 = np.minimum(c.astype(np.int64), in_len - 1)
    i2 = np.minimum(i1 + 1, in_len - 1)
    d1 = np.abs(c - i1.astype(np.float32)).astype(np.float32)
    d2 = np.abs(c - i2.astype(np.float32)).astype(np.float32)
    same = i1 == i2
    d1[same] = f32(0.5)
    d2[same] = f32(0.5)
    return i1, i2, d1, d2
