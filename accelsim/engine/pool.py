"""Engine runner of the pooling ops (AvgPool, GlobalAveragePool, MaxPool)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from accelsim.engine.common import NodeRun, RunOptions
from accelsim.graph import ops as O
from accelsim.graph.ir import Graph, Node
from accelsim.graph.ops.geometry import resolve_padding
from accelsim.kernels import pool
from accelsim.quant.params import dtype_info
from accelsim.quant.requant import RequantParams, activation_range, make_mean_params, make_rescale_params


@dataclass(frozen=True, eq=False)
class PoolPlan:
    """Precomputed constants of an AvgPool / GlobalAveragePool / MaxPool node.

    ``requant`` holds one rescale entry per divisor ``n`` at index ``n − first_count`` (empty when
    ``same_quant`` or for MaxPool, which do not rescale). ``ort_float``: the node runs onnxruntime's float
    QLinearAveragePool (requantization mode ``float32`` on a windowed AvgPool), with ``scales`` (S_x, S_y)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad_top_left: tuple[int, int]
    same_quant: bool
    zero_in: int
    requant: RequantParams
    first_count: int
    zero_out: int
    act_range: tuple[int, int]
    pad_bottom_right: tuple[int, int] = (0, 0)
    include_pad: bool = False
    ort_float: bool = False
    scales: tuple[float, float] = (1.0, 1.0)


def plan(graph: Graph, node: Node) -> PoolPlan:
    """The constants of an AvgPool / GlobalAveragePool / MaxPool node."""
    x, out = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    _, in_h, in_w, _ = x.shape
    zero_in, zero_out = int(x.quant.zero_point[0]), int(out.quant.zero_point[0])
    no_rescale = make_rescale_params(np.zeros(0), node.requant)
    if isinstance(node.op, O.GlobalAveragePool):
        # TFLite MEAN: one window of n = H·W taps, 1/n folded into the multiplier (make_mean_params)
        taps = in_h * in_w
        mean = _ort_mean_params(x, out, taps) if node.requant == "float32" else \
            make_mean_params(x.quant.scale[0], out.quant.scale[0], taps, node.requant)
        return PoolPlan(kernel=(in_h, in_w), stride=(1, 1), pad_top_left=(0, 0), same_quant=False, zero_in=zero_in,
                        requant=mean, first_count=taps, zero_out=zero_out,
                        act_range=activation_range("NONE", out.quant, out.dtype))
    op = node.op
    kernel, stride = tuple(op.kernel), tuple(op.stride)
    top, bottom, left, right = resolve_padding(op.padding, (in_h, in_w), kernel, stride)
    act_range = activation_range(op.activation, out.quant, out.dtype)
    same_quant = x.quant.same_as(out.quant)
    include_pad = bool(getattr(op, "count_include_pad", False))
    common = dict(kernel=kernel, stride=stride, pad_top_left=(top, left), zero_in=zero_in, zero_out=zero_out,
                  act_range=act_range, pad_bottom_right=(bottom, right), include_pad=include_pad)
    if isinstance(op, O.AvgPool) and node.requant == "float32":
        if kernel == (in_h, in_w) and not any((top, bottom, left, right)):
            # onnxruntime QLinearAveragePool falls back to its global average when the window is the whole
            # image without padding (qlinear_pool.cc, fallback_to_global)
            return PoolPlan(**{**common, "pad_bottom_right": (0, 0)}, same_quant=False,
                            requant=_ort_mean_params(x, out, in_h * in_w), first_count=in_h * in_w)
        return PoolPlan(**common, same_quant=False, requant=no_rescale, first_count=1, ort_float=True,
                        scales=(float(x.quant.scale[0]), float(out.quant.scale[0])))
    if isinstance(op, O.MaxPool) or same_quant:
        return PoolPlan(**common, same_quant=same_quant, requant=no_rescale, first_count=1)
    # real multipliers S_in / (n·S_out) for every divisor n a window can have
    out_h, out_w = out.shape[1:3]
    real = np.zeros(kernel[0] * kernel[1])
    used = {h * w for h in _window_taps(in_h, kernel[0], stride[0], top, bottom, out_h, include_pad)
            for w in _window_taps(in_w, kernel[1], stride[1], left, right, out_w, include_pad)}
    for n in used:
        real[n - 1] = np.float64(x.quant.scale[0]) / (n * np.float64(out.quant.scale[0]))
    return PoolPlan(**common, same_quant=False, requant=make_rescale_params(real, node.requant), first_count=1)


def _ort_mean_params(x, out, taps: int) -> RequantParams:
    """onnxruntime's global-average multiplier ``f32(S_x / f32(S_y · f32(n)))`` applied to ``Σ q − n·Z_x``
    (MLAS qlgavgpool.cpp, CheckQLinearGlobalAveragePoolScaleAndSize; rounded half to even)."""
    sx, sy = np.float32(x.quant.scale[0]), np.float32(out.quant.scale[0])
    fmult = np.float32(sx / np.float32(sy * np.float32(taps)))
    rq = make_rescale_params(np.float64(fmult), "float32")
    return RequantParams("float32", rq.multiplier, rq.shift, np.array([fmult], np.float32))


def _window_taps(size: int, kernel: int, stride: int, pad_before: int, pad_after: int, out_size: int,
                 include_pad: bool) -> set[int]:
    """The distinct divisors of a window along one axis: its in-bounds taps, or with ``include_pad`` its taps
    inside the padded input."""
    starts = np.arange(out_size) * stride - pad_before
    if include_pad:
        counts = np.minimum(starts + kernel, size + pad_after) - starts
    else:
        counts = np.minimum(starts + kernel, size) - np.maximum(starts, 0)
    return {int(v) for v in counts}


def run(graph: Graph, node: Node, plan: PoolPlan, values: Mapping[str, np.ndarray], options: RunOptions) -> NodeRun:
    """Max pooling (with its clamp) or the average over valid taps with its rescale."""
    x = values[node.inputs[0]]
    out_t = graph.tensors[node.outputs[0]]
    out = np.empty(out_t.shape, dtype_info(out_t.dtype).storage)
    if isinstance(node.op, O.MaxPool):
        pool.max_pool(x, *plan.kernel, *plan.stride, *plan.pad_top_left, *plan.act_range, out)
        return NodeRun(out)
    if plan.ort_float:
        pool.avg_pool_float_ort(x, *plan.kernel, *plan.stride, *plan.pad_top_left, plan.include_pad,
                                np.float32(plan.scales[0]), plan.zero_in, np.float32(plan.scales[1]), plan.zero_out,
                                plan.act_range[0], plan.act_range[1], out)
        return NodeRun(out)
    rq = plan.requant
    pool.avg_pool(x, *plan.kernel, *plan.stride, *plan.pad_top_left, *plan.pad_bottom_right, plan.include_pad,
                  plan.same_quant, plan.zero_in, rq.mode_id, rq.multiplier, rq.shift, rq.float_multiplier,
                  plan.first_count, plan.zero_out, plan.act_range[0], plan.act_range[1], out)
    return NodeRun(out)
