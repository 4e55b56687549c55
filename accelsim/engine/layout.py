"""Engine runner of the layout ops: Concat (with per-input rescale), Reshape / Flatten (views), Pad and the pure
data movement of Transpose, Slice and Gather (output codes = input codes)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from accelsim.engine.common import NodeRun, RunOptions
from accelsim.graph import ops as O
from accelsim.graph.ir import Graph, Node, Tensor
from accelsim.graph.ops.layout import gather_indices, slice_index
from accelsim.kernels import elementwise, layout
from accelsim.quant.params import dtype_info
from accelsim.quant.requant import RequantParams, make_rescale_params


@dataclass(frozen=True, eq=False)
class ConcatPlan:
    """Per Concat input: its rescale to the output's quantization, or None when it passes through unchanged."""

    rescales: tuple[RequantParams | None, ...]


def plan(graph: Graph, node: Node) -> ConcatPlan | None:
    """Concat: the rescale of each input; the other layout ops need no constants."""
    if not isinstance(node.op, O.Concat):
        return None
    out = graph.tensors[node.outputs[0]]
    rescales = []
    for name in node.inputs:
        t = graph.tensors[name]
        same = t.quant.same_as(out.quant) and t.dtype == out.dtype
        rescales.append(None if same else make_rescale_params(
            np.float64(t.quant.scale[0]) / np.float64(out.quant.scale[0]), node.requant))
    return ConcatPlan(tuple(rescales))


def run(graph: Graph, node: Node, plan: ConcatPlan | None, values: Mapping[str, np.ndarray],
        options: RunOptions) -> NodeRun:
    """A view (Reshape, Flatten), the zero-point padding of Pad, or the rescaled concatenation of Concat."""
    op = node.op
    x = values[node.inputs[0]]
    out_t = graph.tensors[node.outputs[0]]
    if isinstance(op, O.Concat):
        ins = [graph.tensors[name] for name in node.inputs]
        parts = [values[t.name] if rq is None else _rescaled(values[t.name], t, out_t, rq)
                 for t, rq in zip(ins, plan.rescales)]
        return NodeRun(layout.concatenate(parts, op.axis, dtype_info(out_t.dtype).storage))
    if isinstance(op, O.Transpose):
        return NodeRun(layout.transpose(x, op.perm))
    if isinstance(op, O.Slice):
        return NodeRun(layout.strided_slice(x, slice_index(op, x.shape)))
    if isinstance(op, O.Gather):
        return NodeRun(layout.gather(x, gather_indices(op, x.shape), op.axis % x.ndim))
    if isinstance(op, O.Pad):
        return NodeRun(layout.pad_with_zero_point(x, op.pads, int(graph.tensors[node.inputs[0]].quant.zero_point[0])))
    return NodeRun(layout.reshape_view(x, out_t.shape))


def _rescaled(x: np.ndarray, t: Tensor, out_t: Tensor, rq: RequantParams) -> np.ndarray:
    """A Concat input moved to the output's quantization with its precomputed rescale constants."""
    info = dtype_info(out_t.dtype)
    if rq.mode == "float32":
        return ort_requantize_linear(x, t, out_t)
    if rq.mode.startswith("fixed_point") and t.dtype == out_t.dtype == "uint8":
        return tflite_uint8_concat_rescale(x, t, out_t)
    out = np.empty(x.size, info.storage)
    elementwise.rescale(x.reshape(-1), int(t.quant.zero_point[0]), rq.mode_id, rq.multiplier[0], rq.shift[0],
                        rq.float_multiplier[0], int(out_t.quant.zero_point[0]), info.qmin, info.qmax, out)
    return out.reshape(x.shape)


def ort_requantize_linear(x: np.ndarray, t: Tensor, out_t: Tensor) -> np.ndarray:
    """onnxruntime's requantization of a QLinearConcat input (contrib_ops/cpu/quantization/qlinear_concat.cc,
    QlinearBuildLookupTable + MlasQuantizeLinear): ``r = f32(S_x · f32(q − Z_x))``, then
    ``clamp(rint(f32(r / S_y)) + Z_y, qmin, qmax)`` (round half to even)."""
    info = dtype_info(out_t.dtype)
    real = np.float32(t.quant.scale[0]) * (x.astype(np.int64) - int(t.quant.zero_point[0])).astype(np.float32)
    q = np.rint(real / np.float32(out_t.quant.scale[0])).astype(np.int64) + int(out_t.quant.zero_point[0])
    return np.clip(q, info.qmin, info.qmax).astype(info.storage)


def tflite_uint8_concat_rescale(x: np.ndarray, t: Tensor, out_t: Tensor) -> np.ndarray:
    """TFLite's uint8 CONCATENATION input rescale (reference_ops::ConcatenationWithScaling, [ref:TFLiteRef]), in
    float32: ``scale = f32(S_x · f32(1 / S_y))``, ``bias = f32(−Z_x · scale)``,
    ``clamp(round_half_away(f32(f32(q · scale) + bias)) + Z_y, 0, 255)``. (int8 CONCATENATION requires equal
    scales; the converter inserts a QUANTIZE, which the fixed-point rescale reproduces.)"""
    f32 = np.float32
    scale = f32(f32(t.quant.scale[0]) * f32(f32(1.0) / f32(out_t.quant.scale[0])))
    bias = f32(f32(-int(t.quant.zero_point[0])) * scale)
    v = (x.astype(np.float32) * scale).astype(np.float32) + bias
    rounded = np.sign(v) * np.floor(np.abs(v).astype(np.float64) + 0.5)
    q = rounded.astype(np.int64) + int(out_t.quant.zero_point[0])
    return np.clip(q, 0, 255).astype(np.uint8)
