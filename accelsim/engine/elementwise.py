"""Engine runner of the elementwise ops (Add)."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from accelsim.engine.common import NodeRun, RunOptions
from accelsim.engine.threads import CHUNKS_PER_THREAD, chunk_ranges, in_parallel
from accelsim.graph.ir import Graph, Node, Tensor
from accelsim.kernels import elementwise
from accelsim.quant.params import dtype_info
from accelsim.quant.requant import AddParams, activation_range, make_add_params


@dataclass(frozen=True, eq=False)
class AddPlan:
    """Precomputed constants of an Add node: TFLite fixed-point constants, or the float form's 1/S_out."""

    zero_a: int
    zero_b: int
    zero_out: int
    act_range: tuple[int, int]
    fixed_point: AddParams | None    # None: float form
    kernel_mode: int                 # fixed point: 0 double rounding, 1 single rounding
    scale_a: np.float32              # float form: S_a, S_b, f32(1/S_out)
    scale_b: np.float32
    inv_scale_out: np.float32


def plan(graph: Graph, node: Node) -> AddPlan:
    """The constants of an Add node."""
    a, b, out = (graph.tensors[name] for name in (*node.inputs, node.outputs[0]))
    fixed_point = node.requant.startswith("fixed_point")
    return AddPlan(
        zero_a=int(a.quant.zero_point[0]), zero_b=int(b.quant.zero_point[0]), zero_out=int(out.quant.zero_point[0]),
        act_range=activation_range(node.op.activation, out.quant, out.dtype),
        fixed_point=(make_add_params(a.quant.scale[0], b.quant.scale[0], out.quant.scale[0], a.dtype)
                     if fixed_point else None),
        kernel_mode=1 if node.requant == "fixed_point_single_round" else 0,
        scale_a=a.quant.scale[0], scale_b=b.quant.scale[0],
        inv_scale_out=np.float32(np.float32(1.0) / out.quant.scale[0]),
    )


def run(graph: Graph, node: Node, plan: AddPlan, values: Mapping[str, np.ndarray], options: RunOptions) -> NodeRun:
    """The TFLite fixed-point or the float-form Add of the node's two inputs."""
    return NodeRun(_run_add(plan, values[node.inputs[0]], values[node.inputs[1]], graph.tensors[node.outputs[0]],
                            options.workers))


#: Smallest Add (elements) split over the engine's threads (~1 ns per element, against tens of µs per hand-off).
PARALLEL_MIN_ELEMENTS = 1 << 17


def _run_add(plan: AddPlan, a: np.ndarray, b: np.ndarray, out_t: Tensor, workers: int) -> np.ndarray:
    """Elementwise Add over element ranges split over the engine's threads (large tensors only)."""
    a, b = a.reshape(-1), b.reshape(-1)
    out = np.empty(a.shape, dtype_info(out_t.dtype).storage)
    lo, hi = plan.act_range
    p = plan.fixed_point
    parallel = workers > 1 and out.size >= PARALLEL_MIN_ELEMENTS
    chunk = max(1, -(-out.size // (CHUNKS_PER_THREAD * workers)) if parallel else out.size)

    def add_ranges(ranges: Iterator[tuple[int, int]]) -> int:
        for first, end in ranges:
            if p is not None:
                elementwise.add_fixed_point(a, plan.zero_a, b, plan.zero_b, p.left_shift, plan.kernel_mode,
                                            p.input1_multiplier, p.input1_shift, p.input2_multiplier, p.input2_shift,
                                            p.output_multiplier, p.output_shift, plan.zero_out, lo, hi, out,
                                            first, end)
            else:
                elementwise.add_float(a, plan.zero_a, plan.scale_a, b, plan.zero_b, plan.scale_b, plan.inv_scale_out,
                                      plan.zero_out, lo, hi, out, first, end)
        return 0

    in_parallel(add_ranges, chunk_ranges(out.size, chunk), workers)
    return out.reshape(out_t.shape)
