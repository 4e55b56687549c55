"""Engine runner of the MAC ops (Conv2D, FullyConnected): per-node constants and the GEMM / grouped / depthwise
kernels, with the accumulator-width check.

The semantics are in docs/arithmetic.md; the accumulator model and the kernel design in docs/engine.md.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from accelsim.engine.common import NodeRun, OutputStage, RunOptions, WindowGeometry, constant
from accelsim.engine.threads import CHUNKS_PER_THREAD, chunk_ranges, in_parallel
from accelsim.errors import UnsupportedError
from accelsim.graph import ops as O
from accelsim.graph.ir import Graph, Node, Tensor
from accelsim.graph.ops.geometry import resolve_padding
from accelsim.graph.stats import is_depthwise
from accelsim.kernels import conv, gemm
from accelsim.quant.params import dtype_info
from accelsim.quant.requant import RequantParams, activation_range, make_requant_params

INT32_MAX = (1 << 31) - 1
INT64_MAX = (1 << 63) - 1
#: Input width of TFLite's int64 ``MultiplyByQuantizedMultiplier`` (the ``fixed_point_int64`` requantizer of 16x8
#: ops): tensorflow/lite/kernels/internal/common.h asserts ``-2^47 <= x < 2^47``; beyond it the int64 product
#: ``x · m16`` wraps. Accumulators of such nodes are checked (and saturated on report) at this width at most.
REQUANT_INT64_INPUT_BITS = 48


@dataclass(frozen=True, eq=False)
class MacPlan:
    """Precomputed constants of a Conv2D / FullyConnected node."""

    kernel: str                  # "gemm" (accelsim.kernels.gemm), "grouped" or "depthwise" (accelsim.kernels.conv)
    weights: np.ndarray          # centered q_w − Z_w; gemm (KH·KW·C, O) float32/float64, grouped
                                 # (G, KH, KW, CI/G, CO/G), depthwise (KH, KW, C·mult)
    depth_multiplier: int
    bias: np.ndarray             # int64 (O,), zeros when absent
    kernel_hw: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pad_top_left: tuple[int, int]
    zero_in: int
    requant: RequantParams       # per output channel
    zero_out: int
    act_range: tuple[int, int]
    acc_bound: int               # max |partial sum| over all channels and inputs (exact, Python int)
    default_acc_bits: int        # 32, or 64 when an operand is 16-bit

    @property
    def geometry(self) -> WindowGeometry:
        return WindowGeometry(*self.stride, *self.dilation, *self.pad_top_left)

    def output_stage(self, check: bool, acc_min: int, acc_max: int) -> OutputStage:
        """The kernels' output-stage arguments for accumulators checked (when ``check``) against
        ``[acc_min, acc_max]``."""
        rq = self.requant
        return OutputStage(check, acc_min, acc_max, rq.mode_id, rq.multiplier, rq.shift, rq.float_multiplier,
                           self.zero_out, self.act_range[0], self.act_range[1])

    def accumulator_bits(self, requested: int | None) -> int:
        """The width final sums are checked against: ``requested`` (default :attr:`default_acc_bits`), at most
        :data:`REQUANT_INT64_INPUT_BITS` for the ``fixed_point_int64`` requantizer, whose input range it is."""
        bits = int(requested or self.default_acc_bits)
        return min(bits, REQUANT_INT64_INPUT_BITS) if self.requant.mode == "fixed_point_int64" else bits


def plan(graph: Graph, node: Node) -> MacPlan:
    """The constants of a Conv2D / FullyConnected node."""
    x, w, out = (graph.tensors[node.inputs[0]], graph.tensors[node.inputs[1]], graph.tensors[node.outputs[0]])
    w_data = constant(graph, w.name).astype(np.int64)
    out_channels = w.shape[0]
    zero_w = w.quant.zero_point.reshape((-1,) + (1,) * (w_data.ndim - 1))
    centered = w_data - zero_w
    bias = (constant(graph, node.inputs[2]).astype(np.int64) if len(node.inputs) == 3
            else np.zeros(out_channels, np.int64))
    # centered operands: 8-bit values minus a zero point fit int16; 16-bit ones need int32
    operand_storage = np.int16 if max(x.bits, w.bits) <= 8 else np.int32
    x_info = dtype_info(x.dtype)
    zero_in = int(x.quant.zero_point[0])
    x_abs_max = max(abs(x_info.qmin - zero_in), abs(x_info.qmax - zero_in))
    weight_l1 = np.abs(centered).reshape(out_channels, -1).sum(axis=1)
    float_type = gemm_float_type(x_abs_max * int(weight_l1.max()))
    if isinstance(node.op, O.Conv2D):
        op = node.op
        _, kh, kw, ci_g = w.shape
        top, bottom, left, right = resolve_padding(op.padding, x.shape[1:3], (kh, kw), op.stride, op.dilation)
        stride, dilation, activation = op.stride, op.dilation, op.activation
        multiplier = out_channels // x.shape[3]
        if is_depthwise(op, x.shape[3]):
            kernel, packed = "depthwise", centered[..., 0].transpose(1, 2, 0).astype(operand_storage)
        elif op.groups == 1 and float_type is not None:
            kernel, packed = "gemm", centered.reshape(out_channels, -1).T.astype(float_type)
        else:
            co_g = out_channels // op.groups
            kernel = "grouped"
            packed = (centered.reshape(op.groups, co_g, kh, kw, ci_g).transpose(0, 2, 3, 4, 1)
                      .astype(operand_storage))
    else:
        multiplier, kh, kw, top, left = 1, 1, 1, 0, 0
        stride, dilation, activation = (1, 1), (1, 1), node.op.activation
        if float_type is not None:
            kernel, packed = "gemm", centered.T.astype(float_type)
        else:
            kernel = "grouped"
            packed = centered.T.reshape(1, 1, 1, w.shape[1], out_channels).astype(operand_storage)
    mode = node.requant
    if mode == "fixed_point" and max(x.bits, w.bits) >= 16:
        mode = "fixed_point_int64"  # TFLite 16x8 conv / depthwise / FC: int64 accumulator, int64 requantizer
    requant = make_requant_params(x.quant.scale[0], w.quant.scale, out.quant.scale[0], mode).broadcast(out_channels)
    acc_bound = max(abs(int(b)) + x_abs_max * int(s) for b, s in zip(bias, weight_l1))
    return MacPlan(
        kernel=kernel,
        weights=np.ascontiguousarray(packed),
        depth_multiplier=multiplier,
        bias=bias,
        kernel_hw=(kh, kw),
        stride=tuple(stride),
        dilation=tuple(dilation),
        pad_top_left=(top, left),
        zero_in=zero_in,
        requant=requant,
        zero_out=int(out.quant.zero_point[0]),
        act_range=activation_range(activation, out.quant, out.dtype),
        acc_bound=acc_bound,
        default_acc_bits=64 if max(x.bits, w.bits) >= 16 else 32,
    )


#: Largest integer magnitude up to which float32 / float64 represent every integer exactly (2^p, p the
#: significand precision including the implicit bit).
FLOAT32_EXACT_MAX = 1 << 24
FLOAT64_EXACT_MAX = 1 << 53


def gemm_float_type(dot_bound: int) -> type[np.floating] | None:
    """The float type in which a BLAS GEMM computes every dot product ``Σ_k (q_x − Z_x)·(q_w − Z_w)[o, k]``
    exactly, or None when neither does (the node then runs on the integer kernels).

    ``dot_bound = max|q_x − Z_x| · max_o Σ_k |q_w − Z_w|[o, k]`` bounds every product and every partial sum in any
    summation order, so all of them are integers of magnitude ≤ ``dot_bound``; float32 represents every such
    integer exactly when ``dot_bound ≤ 2^24``, float64 when ``≤ 2^53``, and then no addition, multiplication or
    FMA rounds (proof in accelsim.kernels.gemm). float32 is preferred: sgemm is ~2x dgemm's throughput.
    """
    if dot_bound <= FLOAT32_EXACT_MAX:
        return np.float32
    if dot_bound <= FLOAT64_EXACT_MAX:
        return np.float64
    return None


def accumulator_dtype(acc_bound: int, accumulator_bits: int) -> tuple[type[np.signedinteger], bool]:
    """The accumulator buffer type and whether final accumulators must be range-checked.

    int32 (unchecked) when the exact bound on every partial sum fits both int32 and the accumulator width;
    otherwise int64 with a check whenever the bound exceeds the width.
    """
    acc_max = (1 << (accumulator_bits - 1)) - 1
    if acc_bound <= min(acc_max, INT32_MAX):
        return np.int32, False
    if acc_bound > INT64_MAX:
        raise UnsupportedError(f"accumulations up to {acc_bound} do not fit the engine's 64-bit accumulator")
    return np.int64, acc_bound > acc_max


def run(graph: Graph, node: Node, plan: MacPlan, values: Mapping[str, np.ndarray], options: RunOptions) -> NodeRun:
    """Run a MAC node; the result carries the number of final accumulators outside the accumulator width."""
    out, count = _run_mac(graph, node, plan, values, options.accumulator_bits, options.workers)
    return NodeRun(out, count, plan.accumulator_bits(options.accumulator_bits) if count else 0)


def _run_mac(graph: Graph, node: Node, plan: MacPlan, values: Mapping[str, np.ndarray],
             accumulator_bits: int | None, workers: int) -> tuple[np.ndarray, int]:
    x = values[node.inputs[0]]
    out_t = graph.tensors[node.outputs[0]]
    bits = plan.accumulator_bits(accumulator_bits)
    acc_min, acc_max = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    out_shape = x.shape[:1] + (1, 1) + out_t.shape[-1:] if node.kind == "FullyConnected" else out_t.shape
    if node.kind == "FullyConnected":
        x = x.reshape(x.shape[0], 1, 1, -1)
    if plan.acc_bound > INT64_MAX:
        return _run_mac_exact(graph, node, plan, x, out_t, out_shape, acc_min, acc_max)
    acc_type, check = accumulator_dtype(plan.acc_bound, bits)
    if plan.kernel == "gemm":
        return _run_gemm(x, plan, out_t, out_shape, check, acc_min, acc_max, workers)
    storage = dtype_info(out_t.dtype).storage
    geometry = plan.geometry
    stage = plan.output_stage(check, acc_min, acc_max)
    if plan.kernel == "depthwise":
        # reads x and writes the output in their storage types: no conversion passes around the split kernel
        out = np.empty(out_shape, storage)
        rows = out_shape[0] * out_shape[1]
        parallel = workers > 1 and out.size * plan.kernel_hw[0] * plan.kernel_hw[1] >= PARALLEL_MIN_MACS
        chunk = -(-rows // (CHUNKS_PER_THREAD * workers)) if parallel else rows

        def depthwise_rows(ranges: Iterator[tuple[int, int]]) -> int:
            return sum(conv.conv2d_depthwise(x, plan.zero_in, plan.weights, plan.bias, plan.depth_multiplier,
                                             *geometry, np.empty(0, acc_type), *stage, out, first, end)
                       for first, end in ranges)

        return out, int(in_parallel(depthwise_rows, chunk_ranges(rows, chunk), workers))
    # operands and output in a few canonical types, so the kernel compiles only a handful of specialisations
    x = x.astype(plan.weights.dtype, copy=False)
    out = np.empty(out_shape, np.int32)
    count = conv.conv2d_grouped(x, plan.zero_in, plan.weights, plan.bias, *geometry, np.empty(0, acc_type),
                                *stage, out)
    return out.reshape(out_t.shape).astype(storage), int(count)


def _run_mac_exact(graph: Graph, node: Node, plan: MacPlan, x: np.ndarray, out_t: Tensor,
                   out_shape: tuple[int, ...], acc_min: int, acc_max: int) -> tuple[np.ndarray, int]:
    """A MAC node whose partial sums may exceed int64 (``plan.acc_bound > 2^63 − 1``, e.g. an int64 bias near its
    limit): exact accumulators as Python integers, then the usual count / saturation and output stage. Slow
    (object arrays); only such nodes take it."""
    acc = exact_accumulators(graph, node, plan, x, out_shape)
    count = int(np.count_nonzero((acc < acc_min) | (acc > acc_max)))
    saturated = np.minimum(np.maximum(acc, acc_min), acc_max).astype(np.int64)
    out = np.empty(saturated.shape, dtype_info(out_t.dtype).storage)
    gemm.requantize_rows(saturated, np.zeros(saturated.shape[1], np.int64), *plan.output_stage(False, acc_min, acc_max),
                         out)
    return out.reshape(out_t.shape), count


def exact_accumulators(graph: Graph, node: Node, plan: MacPlan, x: np.ndarray,
                       out_shape: tuple[int, ...]) -> np.ndarray:
    """``bias[o] + Σ (q_x − Z_x)·(q_w − Z_w)[o]`` of every output as Python integers: an object array of shape
    ``(N·OH·OW, O)``. ``x`` is NHWC (an FC input as ``(N, 1, 1, K)``); padding taps hold the zero point."""
    w_t = graph.tensors[node.inputs[1]]
    w = constant(graph, w_t.name).astype(np.int64)
    w = (w - w_t.quant.zero_point.reshape((-1,) + (1,) * (w.ndim - 1))).astype(object)
    w = w.reshape(w.shape[0], 1, 1, -1) if w.ndim == 2 else w
    out_channels, k_h, k_w, ci_g = w.shape
    n, in_h, in_w, channels = x.shape
    groups, co_g = channels // ci_g, out_channels // (channels // ci_g)
    _, out_h, out_w, _ = out_shape
    (s_h, s_w), (d_h, d_w), (top, left) = plan.stride, plan.dilation, plan.pad_top_left
    padded = np.zeros((n, max(top + in_h, (out_h - 1) * s_h + (k_h - 1) * d_h + 1),
                       max(left + in_w, (out_w - 1) * s_w + (k_w - 1) * d_w + 1), channels), object)
    padded[:, top:top + in_h, left:left + in_w] = (x.astype(np.int64) - plan.zero_in).astype(object)
    acc = np.tile(plan.bias.astype(object), (n * out_h * out_w, 1))
    for i in range(k_h):
        for j in range(k_w):
            taps = padded[:, i * d_h:i * d_h + (out_h - 1) * s_h + 1:s_h,
                          j * d_w:j * d_w + (out_w - 1) * s_w + 1:s_w].reshape(-1, channels)
            for g in range(groups):
                acc[:, g * co_g:(g + 1) * co_g] += (taps[:, g * ci_g:(g + 1) * ci_g]
                                                    .dot(w[g * co_g:(g + 1) * co_g, i, j].T))
    return acc


#: Float elements of one GEMM block's accumulator / patch matrix: blocks of output pixels are converted,
#: multiplied and requantized while they are still in the L2 cache (measured on MobileNet-v2 shapes).
GEMM_BLOCK_ELEMENTS = 1 << 16

#: Smallest layer (MACs) whose work is split over the engine's threads: below it, handing work to a worker
#: thread (tens of µs) costs more than it saves.
PARALLEL_MIN_MACS = 1 << 20



def _run_gemm(x: np.ndarray, plan: MacPlan, out_t: Tensor, out_shape: tuple[int, ...], check: bool,
              acc_min: int, acc_max: int, workers: int) -> tuple[np.ndarray, int]:
    """Blocks of output pixels: im2col (x − Z_x as floats), an exact float GEMM with the (KH·KW·C, O) weights,
    the integer output stage. Blocks are L2-sized (``GEMM_BLOCK_ELEMENTS``), and small enough that every worker
    thread gets one; each thread takes the next block when it finishes one."""
    n_batch, out_h, out_w, channels = out_shape
    pixels = n_batch * out_h * out_w
    depth = plan.weights.shape[0]
    parallel = workers > 1 and pixels * depth * channels >= PARALLEL_MIN_MACS
    block = max(1, min(-(-pixels // workers) if parallel else pixels, GEMM_BLOCK_ELEMENTS // max(depth, channels)))
    out = np.empty((pixels, channels), dtype_info(out_t.dtype).storage)
    stage, geometry = plan.output_stage(check, acc_min, acc_max), plan.geometry
    # a 1x1 stride-1 conv without padding (or an FC) reads the input pixels as they are: one vectorised subtract
    same_pixels = (plan.kernel_hw == (1, 1) and plan.stride == (1, 1) and plan.pad_top_left == (0, 0)
                   and x.shape[1:3] == (out_h, out_w))
    x_rows = x.reshape(pixels, depth) if same_pixels else x
    zero_in = plan.weights.dtype.type(plan.zero_in)

    def gemm_blocks(ranges: Iterator[tuple[int, int]]) -> int:
        """One thread's share: its own patch and accumulator buffers, blocks taken from ``ranges``."""
        patches = np.empty((block, depth), plan.weights.dtype)
        acc = np.empty((block, channels), plan.weights.dtype)
        count = 0
        for first, end in ranges:
            rows = end - first
            if same_pixels:
                np.subtract(x_rows[first:end], zero_in, out=patches[:rows], dtype=plan.weights.dtype)
            else:
                gemm.patches(x, plan.zero_in, *plan.kernel_hw, *geometry, out_h, out_w, first, patches[:rows])
            np.matmul(patches[:rows], plan.weights, out=acc[:rows])
            count += gemm.requantize_rows(acc[:rows], plan.bias, *stage, out[first:end])
        return count

    count = in_parallel(gemm_blocks, chunk_ranges(pixels, block), workers)
    return out.reshape(out_t.shape), int(count)


