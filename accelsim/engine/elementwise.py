"""Engine runner of the elementwise binary ops (Add, Sub, Mul), with numpy broadcasting of the two inputs.

Arithmetic per requantization mode (docs/arithmetic.md): ``fixed_point*`` is TFLite's (ADD; SUB = ADD with the
second input's multiplier negated, lite/kernels/sub.cc; MUL = reference_integer_ops::Mul, [ref:TFLiteRef]);
``float32`` is onnxruntime's (QLinearAdd / QLinearMul in MLAS; Sub as DequantizeLinear → float Sub →
QuantizeLinear, [ref:ORT]); ``float32_recip`` keeps the PyTorch float form of Add ([ref:PyTorchQ]).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from accelsim.engine.common import NodeRun, RunOptions
from accelsim.engine.threads import CHUNKS_PER_THREAD, chunk_ranges, in_parallel
from accelsim.graph import ops as O
from accelsim.graph.ir import Graph, Node, Tensor
from accelsim.graph.ops.elementwise import ORT_S8_AS_U8_KEY
from accelsim.kernels import elementwise
from accelsim.quant.params import dtype_info
from accelsim.quant.requant import AddParams, activation_range, make_add_params, make_rescale_params, mode_id

#: Kernel forms a binary node runs in.
FORM_ADD_FIXED, FORM_ADD_MLAS, FORM_ADD_TORCH, FORM_MUL_FIXED, FORM_MUL_MLAS, FORM_SUB_FLOAT = range(6)


@dataclass(frozen=True, eq=False)
class AddPlan:
    """Precomputed constants of an Add / Sub / Mul node.

    ``form``: one of the ``FORM_*`` kernels; ``fixed_point``: TFLite ADD/SUB constants (SUB: input-2 multiplier
    negated); ``mul_multiplier`` / ``mul_shift``: TFLite MUL's ``S_a·S_b / S_out``; ``ratio_*``, ``fixed_part``:
    MLAS QLinearAdd constants; ``mul_ratio``: MLAS QLinearMul's; ``scalar_side``: which input MLAS treats as a
    scalar per innermost run (0 none, 1 a, 2 b)."""

    form: int
    zero_a: int
    zero_b: int
    zero_out: int
    act_range: tuple[int, int]
    fixed_point: AddParams | None
    kernel_mode: int                 # fixed point: requantization mode id (0 double rounding, 1 single rounding)
    scale_a: np.float32
    scale_b: np.float32
    scale_out: np.float32
    inv_scale_out: np.float32
    mul_multiplier: int = 0
    mul_shift: int = 0
    ratio_a: np.float32 = np.float32(0)
    ratio_b: np.float32 = np.float32(0)
    fixed_part: np.float32 = np.float32(0)
    mul_ratio: np.float32 = np.float32(0)
    scalar_side: int = 0
    offset: int = 0


def mlas_add_constants(scale_a: float, zero_a: int, scale_b: float, zero_b: int, scale_out: float,
                       zero_out: int) -> tuple[np.float32, np.float32, np.float32]:
    """MLAS QLinearAdd's ``r_a = f32(S_a / S_c)``, ``r_b = f32(S_b / S_c)`` and
    ``F = f32(Z_c) − fma(r_a, Z_a, f32(r_b·Z_b))`` (qladd_avx2.cpp, [ref:ORT]; the compiler contracts the
    ``r_a·Z_a + r_b·Z_b`` of the source into one fused multiply-add, as measured against onnxruntime 1.32)."""
    f32 = np.float32
    ratio_a, ratio_b = f32(f32(scale_a) / f32(scale_out)), f32(f32(scale_b) / f32(scale_out))
    inner = f32(np.float64(ratio_a) * zero_a + np.float64(f32(ratio_b * f32(zero_b))))
    return ratio_a, ratio_b, f32(f32(zero_out) - inner)


def onnx_scalar_side(a: tuple[int, ...], b: tuple[int, ...], out: tuple[int, ...]) -> int:
    """Which input onnxruntime's broadcast loop hands MLAS as a scalar: 1 (a) / 2 (b) when that input is a
    single element or is broadcast along the innermost axis (of the ONNX layout: NCHW, so W, H, C, N of an NHWC
    4-D tensor) with an extent above 1; 0 when both vary there. onnxruntime's broadcaster walks the output
    innermost-first ([ref:ORT] core/providers/cpu/math/element_wise_ops.h)."""
    if int(np.prod(a)) == 1:
        return 1
    if int(np.prod(b)) == 1:
        return 2
    rank = len(out)
    pad = lambda s: (1,) * (rank - len(s)) + tuple(s)  # noqa: E731
    a, b = pad(a), pad(b)
    order = (2, 1, 3, 0) if rank == 4 else tuple(range(rank - 1, -1, -1))
    for axis in order:
        if out[axis] == 1:
            continue
        if a[axis] == 1:
            return 1
        if b[axis] == 1:
            return 2
        return 0
    return 0


def plan(graph: Graph, node: Node) -> AddPlan:
    """The constants of an Add / Sub / Mul node."""
    a, b, out = (graph.tensors[name] for name in (*node.inputs, node.outputs[0]))
    fixed_point = node.requant.startswith("fixed_point")
    sa, sb, so = (np.float32(t.quant.scale[0]) for t in (a, b, out))
    za, zb, zo = (int(t.quant.zero_point[0]) for t in (a, b, out))
    common = dict(zero_a=za, zero_b=zb, zero_out=zo, act_range=activation_range(node.op.activation, out.quant,
                                                                                   out.dtype),
                  scale_a=sa, scale_b=sb, scale_out=so, inv_scale_out=np.float32(np.float32(1.0) / so))
    mode = 1 if node.requant == "fixed_point_single_round" else 0
    if isinstance(node.op, O.Mul):
        if fixed_point:
            # TFLite mul.cc: real = f64(S_a)·f64(S_b) / f64(S_out), QuantizeMultiplier
            rq = make_rescale_params(np.float64(sa) * np.float64(sb) / np.float64(so), "fixed_point")
            return AddPlan(FORM_MUL_FIXED, fixed_point=None, kernel_mode=mode, mul_multiplier=int(rq.multiplier[0]),
                           mul_shift=int(rq.shift[0]), **common)
        off = 128 if graph.metadata.get(ORT_S8_AS_U8_KEY) and a.dtype == "int8" else 0  # see Add below
        return AddPlan(FORM_MUL_MLAS, fixed_point=None, kernel_mode=0, mul_ratio=np.float32(np.float32(sa * sb) / so),
                       offset=off, **common)
    if fixed_point:
        params = make_add_params(sa, sb, so, a.dtype)
        if isinstance(node.op, O.Sub):  # sub.cc: op_sign = −1 on input 2's multiplier, then the ADD kernel
            params = AddParams(params.left_shift, params.input1_multiplier, params.input1_shift,
                               -params.input2_multiplier, params.input2_shift, params.output_multiplier,
                               params.output_shift)
        return AddPlan(FORM_ADD_FIXED, fixed_point=params, kernel_mode=mode, **common)
    if isinstance(node.op, O.Sub):
        return AddPlan(FORM_SUB_FLOAT, fixed_point=None, kernel_mode=0, **common)
    if node.requant == "float32":
        side = onnx_scalar_side(a.shape, b.shape, out.shape)
        # an int8 QDQ model runs as uint8 in onnxruntime on x86-64 (QDQS8ToU8Transformer): shift by 128
        off = 128 if graph.metadata.get(ORT_S8_AS_U8_KEY) and a.dtype == "int8" else 0
        if side == 1:  # onnxruntime hands a broadcast input 0 to MLAS as input B (qlinear_binary_op.cc)
            rb, ra, fixed = mlas_add_constants(sb, zb + off, sa, za + off, so, zo + off)
        else:
            ra, rb, fixed = mlas_add_constants(sa, za + off, sb, zb + off, so, zo + off)
        return AddPlan(FORM_ADD_MLAS, fixed_point=None, kernel_mode=0, ratio_a=ra, ratio_b=rb, fixed_part=fixed,
                       scalar_side=side, offset=off, **common)
    mode_id(node.requant)
    return AddPlan(FORM_ADD_TORCH, fixed_point=None, kernel_mode=0, **common)


def run(graph: Graph, node: Node, plan: AddPlan, values: Mapping[str, np.ndarray], options: RunOptions) -> NodeRun:
    """The node's binary op on its two (broadcast) inputs."""
    out_t = graph.tensors[node.outputs[0]]
    a, b = (np.ascontiguousarray(np.broadcast_to(values[name], out_t.shape)) for name in node.inputs)
    return NodeRun(_run_binary(plan, a, b, out_t, options.workers))


#: Smallest binary op (elements) split over the engine's threads (~1 ns per element, against tens of µs per
#: hand-off).
PARALLEL_MIN_ELEMENTS = 1 << 17


def _kernel(plan: AddPlan, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> Callable[[int, int], None]:
    lo, hi = plan.act_range
    p = plan.fixed_point
    if plan.form == FORM_ADD_FIXED:
        return lambda first, end: elementwise.add_fixed_point(
            a, plan.zero_a, b, plan.zero_b, p.left_shift, plan.kernel_mode, p.input1_multiplier, p.input1_shift,
            p.input2_multiplier, p.input2_shift, p.output_multiplier, p.output_shift, plan.zero_out, lo, hi, out,
            first, end)
    if plan.form == FORM_ADD_MLAS:
        if plan.scalar_side == 1:  # the broadcast input 0 takes MLAS's scalar-B role (constants swapped in plan)
            return lambda first, end: elementwise.add_mlas(b, a, plan.offset, plan.ratio_b, plan.ratio_a,
                                                           plan.fixed_part, lo, hi, out, first, end)
        return lambda first, end: elementwise.add_mlas(a, b, plan.offset, plan.ratio_a, plan.ratio_b, plan.fixed_part,
                                                       lo, hi, out, first, end)
    if plan.form == FORM_MUL_FIXED:
        return lambda first, end: elementwise.mul_fixed_point(a, plan.zero_a, b, plan.zero_b, plan.kernel_mode,
                                                              plan.mul_multiplier, plan.mul_shift, plan.zero_out,
                                                              lo, hi, out, first, end)
    if plan.form == FORM_MUL_MLAS:
        return lambda first, end: elementwise.mul_mlas(a, plan.zero_a, b, plan.zero_b, plan.mul_ratio,
                                                       np.float32(plan.zero_out + plan.offset), plan.offset, lo, hi,
                                                       out, first, end)
    if plan.form == FORM_SUB_FLOAT:
        return lambda first, end: elementwise.binary_dq_q(a, plan.zero_a, plan.scale_a, b, plan.zero_b,
                                                          plan.scale_b, plan.scale_out, plan.zero_out, 0, lo, hi,
                                                          out, first, end)
    return lambda first, end: elementwise.add_float(a, plan.zero_a, plan.scale_a, b, plan.zero_b, plan.scale_b,
                                                    plan.inv_scale_out, plan.zero_out, lo, hi, out, first, end)


def _run_binary(plan: AddPlan, a: np.ndarray, b: np.ndarray, out_t: Tensor, workers: int) -> np.ndarray:
    """The binary op over element ranges split over the engine's threads (large tensors only)."""
    a, b = a.reshape(-1), b.reshape(-1)
    out = np.empty(a.shape, dtype_info(out_t.dtype).storage)
    parallel = workers > 1 and out.size >= PARALLEL_MIN_ELEMENTS
    chunk = max(1, -(-out.size // (CHUNKS_PER_THREAD * workers)) if parallel else out.size)
    kernel = _kernel(plan, a, b, out)

    def ranges(spans: Iterator[tuple[int, int]]) -> int:
        for first, end in spans:
            kernel(first, end)
        return 0

    in_parallel(ranges, chunk_ranges(out.size, chunk), workers)
    return out.reshape(out_t.shape)
