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

    ``requant`` holds one rescale entry per tap count ``n`` at index ``n − first_count`` (empty when
    ``same_quant`` or for MaxPool, which do not rescale)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad_top_left: tuple[int, int]
    same_quant: bool
    zero_in: int
    requant: RequantParams
    first_count: int
    zero_out: int
    act_range: tuple[int, int]


def plan(graph: Graph, node: Node) -> PoolPlan:
    """The constants of an AvgPool / GlobalAveragePool / MaxPool node."""
    x, out = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    _, in_h, in_w, _ = x.shape
    zero_in, zero_out = int(x.quant.zero_point[0]), int(out.quant.zero_point[0])
    no_rescale = make_rescale_params(np.zeros(0), node.requant)
    if isinstance(node.op, O.GlobalAveragePool):
        # TFLite MEAN: one window of n = H·W taps, 1/n folded into the multiplier (make_mean_params)
        taps = in_h * in_w
        mean = make_mean_params(x.quant.scale[0], out.quant.scale[0], taps, node.requant)
        return PoolPlan(kernel=(in_h, in_w), stride=(1, 1), pad_top_left=(0, 0), same_quant=False, zero_in=zero_in,
                        requant=mean, first_count=taps, zero_out=zero_out,
                        act_range=activation_range("NONE", out.quant, out.dtype))
    kernel, stride = tuple(node.op.kernel), tuple(node.op.stride)
    top, bottom, left, right = resolve_padding(node.op.padding, (in_h, in_w), kernel, stride)
    act_range = activation_range(node.op.activation, out.quant, out.dtype)
    same_quant = x.quant.same_as(out.quant)
    if isinstance(node.op, O.MaxPool) or same_quant:
        return PoolPlan(kernel=kernel, stride=stride, pad_top_left=(top, left), same_quant=same_quant,
                        zero_in=zero_in, requant=no_rescale, first_count=1, zero_out=zero_out, act_range=act_range)
    # real multipliers S_in / (n·S_out) for every tap count n a window can have
    out_h, out_w = out.shape[1:3]
    real = np.zeros(kernel[0] * kernel[1])
    used = {h * w for h in _valid_taps(in_h, kernel[0], stride[0], top, out_h)
            for w in _valid_taps(in_w, kernel[1], stride[1], left, out_w)}
    for n in used:
        real[n - 1] = np.float64(x.quant.scale[0]) / (n * np.float64(out.quant.scale[0]))
    return PoolPlan(kernel=kernel, stride=stride, pad_top_left=(top, left), same_quant=False, zero_in=zero_in,
                    requant=make_rescale_params(real, node.requant), first_count=1, zero_out=zero_out,
                    act_range=act_range)


def _valid_taps(size: int, kernel: int, stride: int, pad_before: int, out_size: int) -> set[int]:
    """The distinct numbers of in-bounds taps of a window along one axis."""
    starts = np.arange(out_size) * stride - pad_before
    valid = np.minimum(starts + kernel, size) - np.maximum(starts, 0)
    return {int(v) for v in valid}


def run(graph: Graph, node: Node, plan: PoolPlan, values: Mapping[str, np.ndarray], options: RunOptions) -> NodeRun:
    """Max pooling (with its clamp) or the average over valid taps with its rescale."""
    x = values[node.inputs[0]]
    out_t = graph.tensors[node.outputs[0]]
    out = np.empty(out_t.shape, dtype_info(out_t.dtype).storage)
    if isinstance(node.op, O.MaxPool):
        pool.max_pool(x, *plan.kernel, *plan.stride, *plan.pad_top_left, *plan.act_range, out)
        return NodeRun(out)
    rq = plan.requant
    pool.avg_pool(x, *plan.kernel, *plan.stride, *plan.pad_top_left, plan.same_quant, plan.zero_in,
                  rq.mode_id, rq.multiplier, rq.shift, rq.float_multiplier, plan.first_count, plan.zero_out,
                  plan.act_range[0], plan.act_range[1], out)
    return NodeRun(out)
