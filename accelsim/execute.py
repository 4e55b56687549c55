"""Bit-exact integer execution of a quantized graph.

``execute(graph, inputs)`` runs every node with the numba kernels of ``accelsim.kernels`` and returns every
tensor as an integer NHWC array in its storage type. Per-node constants (centered and transposed weights,
requantization parameters, clamp bounds, accumulator bounds) are prepared once per graph and cached.
The semantics are in docs/arithmetic.md; usage, the accumulator model and the kernel design in docs/engine.md.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np

from accelsim.errors import AccelsimError, AccumulatorOverflowError, GraphError, UnsupportedError
from accelsim.graph import ops as O
from accelsim.graph.ir import Graph, Node, Tensor
from accelsim.graph.shapes import resolve_padding
from accelsim.graph.stats import is_depthwise
from accelsim.kernels import conv, elementwise, gemm, layout, pool
from accelsim.quant.params import dequantize, dtype_info, quantize
from accelsim.quant.requant import (
    AddParams, RequantParams, activation_range, make_add_params, make_mean_params, make_requant_params, make_rescale_params,
)

OnOverflow = Literal["raise", "report"]
INT32_MAX = (1 << 31) - 1
INT64_MAX = (1 << 63) - 1
#: Input width of TFLite's int64 ``MultiplyByQuantizedMultiplier`` (the ``fixed_point_int64`` requantizer of 16x8
#: ops): tensorflow/lite/kernels/internal/common.h asserts ``-2^47 <= x < 2^47``; beyond it the int64 product
#: ``x · m16`` wraps. Accumulators of such nodes are checked (and saturated on report) at this width at most.
REQUANT_INT64_INPUT_BITS = 48


@dataclass(frozen=True, eq=False, repr=False)
class ExecutionResult(Mapping[str, np.ndarray]):
    """Every tensor of an executed graph by name (integer arrays, storage dtype, NHWC).

    ``overflows`` lists ``(node_name, count)`` for each MAC node whose accumulators exceeded the accumulator
    width (only non-empty with ``on_overflow="report"``).
    """

    tensors: Mapping[str, np.ndarray]
    overflows: tuple[tuple[str, int], ...]
    graph: Graph

    def __getitem__(self, name: str) -> np.ndarray:
        return self.tensors[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    def __repr__(self) -> str:
        return f"ExecutionResult(graph={self.graph.name!r}, tensors={len(self.tensors)}, overflows={self.overflows})"

    @property
    def outputs(self) -> dict[str, np.ndarray]:
        """The graph outputs by name."""
        return {name: self.tensors[name] for name in self.graph.outputs}


# ------------------------------------------------------------------------------------------------ plans
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

    def accumulator_bits(self, requested: int | None) -> int:
        """The width final sums are checked against: ``requested`` (default :attr:`default_acc_bits`), at most
        :data:`REQUANT_INT64_INPUT_BITS` for the ``fixed_point_int64`` requantizer, whose input range it is."""
        bits = int(requested or self.default_acc_bits)
        return min(bits, REQUANT_INT64_INPUT_BITS) if self.requant.mode == "fixed_point_int64" else bits


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


@dataclass(frozen=True, eq=False)
class ConcatPlan:
    """Per Concat input: its rescale to the output's quantization, or None when it passes through unchanged."""

    rescales: tuple[RequantParams | None, ...]


_PLANS: weakref.WeakKeyDictionary[Graph, dict[str, object]] = weakref.WeakKeyDictionary()


def _plans(graph: Graph) -> dict[str, object]:
    """The per-node constants of ``graph``, built on first use and cached while the graph lives."""
    plans = _PLANS.get(graph)
    if plans is None:
        plans = {}
        for node in graph.nodes:
            if node.kind in O.MAC_OPS:
                plans[node.name] = _mac_plan(graph, node)
            elif node.kind in ("AvgPool", "GlobalAveragePool", "MaxPool"):
                plans[node.name] = _pool_plan(graph, node)
            elif node.kind == "Add":
                plans[node.name] = _add_plan(graph, node)
            elif node.kind == "Concat":
                plans[node.name] = _concat_plan(graph, node)
        _PLANS[graph] = plans
    return plans


def _constant(graph: Graph, name: str) -> np.ndarray:
    tensor = graph.tensors[name]
    if tensor.data is None:
        raise GraphError(
            f"tensor {name!r} has a shape but no data (shape-only weights); fill it with "
            f"accelsim.graph.synthetic before executing"
        )
    return tensor.data


def _mac_plan(graph: Graph, node: Node) -> MacPlan:
    x, w, out = (graph.tensors[node.inputs[0]], graph.tensors[node.inputs[1]], graph.tensors[node.outputs[0]])
    w_data = _constant(graph, w.name).astype(np.int64)
    out_channels = w.shape[0]
    zero_w = w.quant.zero_point.reshape((-1,) + (1,) * (w_data.ndim - 1))
    centered = w_data - zero_w
    bias = (_constant(graph, node.inputs[2]).astype(np.int64) if len(node.inputs) == 3
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


def _pool_plan(graph: Graph, node: Node) -> PoolPlan:
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


def _add_plan(graph: Graph, node: Node) -> AddPlan:
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


def _concat_plan(graph: Graph, node: Node) -> ConcatPlan:
    out = graph.tensors[node.outputs[0]]
    rescales = []
    for name in node.inputs:
        t = graph.tensors[name]
        same = t.quant.same_as(out.quant) and t.dtype == out.dtype
        rescales.append(None if same else make_rescale_params(
            np.float64(t.quant.scale[0]) / np.float64(out.quant.scale[0]), node.requant))
    return ConcatPlan(tuple(rescales))


def _valid_taps(size: int, kernel: int, stride: int, pad_before: int, out_size: int) -> set[int]:
    """The distinct numbers of in-bounds taps of a window along one axis."""
    starts = np.arange(out_size) * stride - pad_before
    valid = np.minimum(starts + kernel, size) - np.maximum(starts, 0)
    return {int(v) for v in valid}


# ------------------------------------------------------------------------------------------------ execution
def execute(graph: Graph, inputs: Mapping[str, np.ndarray], *, accumulator_bits: int | None = None,
            on_overflow: OnOverflow = "raise", threads: int | None = None) -> ExecutionResult:
    """Run a quantized graph bit-exactly.

    ``inputs`` maps each graph input name to an integer NHWC array of the tensor's storage dtype (a mapping
    also for a single-input graph; anything else is an AccelsimError listing the expected inputs).
    ``accumulator_bits`` (an integer, 8..64) sets the accumulator width of every Conv2D / FullyConnected node
    (default per node: 32, or 64 when the activation or weight type is 16-bit). A final accumulator outside that
    width is never wrapped, 64 bits included (a node whose sums may exceed int64 is computed exactly in Python
    integers): ``on_overflow="raise"`` raises :class:`AccumulatorOverflowError` naming the first such node;
    ``"report"`` saturates it to the accumulator range, continues, and lists ``(node, count)`` in
    ``result.overflows``.
    ``threads``: worker threads (default: the ``ACCELSIM_THREADS`` environment variable, else every core this
    process may use); see :func:`engine_threads`.
    """
    _check_options(graph, accumulator_bits, on_overflow)
    values: dict[str, np.ndarray] = {name: t.data for name, t in graph.tensors.items() if t.data is not None}
    values.update(_validated_inputs(graph, inputs))
    plans = _plans(graph)
    workers = engine_threads(threads)
    with _thread_limits():
        overflows = _run_nodes(graph, plans, values, accumulator_bits, on_overflow, workers)
    return ExecutionResult(values, tuple(overflows), graph)


def _check_options(graph: Graph, accumulator_bits: int | None, on_overflow: OnOverflow) -> None:
    """AccelsimError for a non-graph, an invalid ``accumulator_bits`` or ``on_overflow``; UnsupportedError for a
    float graph."""
    if not isinstance(graph, Graph):
        raise AccelsimError(f"execute: graph must be an accelsim.graph.Graph, found {type(graph).__name__}")
    if graph.is_float:
        raise UnsupportedError(
            f"graph {graph.name!r} is a float graph; quantize it first (accelsim.graph.ptq.quantize_graph)")
    if not isinstance(on_overflow, str) or on_overflow not in ("raise", "report"):
        raise AccelsimError(f"on_overflow must be 'raise' or 'report', found {on_overflow!r}")
    if accumulator_bits is not None and not (_is_int(accumulator_bits) and 8 <= accumulator_bits <= 64):
        raise AccelsimError(f"accumulator_bits must be an integer from 8 to 64 (or None: 32, or 64 for 16-bit "
                            f"operands), found {accumulator_bits!r}")


def _is_int(value: object) -> bool:
    """A Python or numpy integer, booleans excluded."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _run_nodes(graph: Graph, plans: dict[str, object], values: dict[str, np.ndarray], accumulator_bits: int | None,
               on_overflow: OnOverflow, workers: int) -> list[tuple[str, int]]:
    """Run every node in order, storing its output in ``values``; returns the reported overflows."""
    overflows: list[tuple[str, int]] = []
    for node in graph.nodes:
        out = graph.tensors[node.outputs[0]]
        if node.kind in O.MAC_OPS:
            values[out.name], count = _run_mac(graph, node, plans[node.name], values, accumulator_bits, workers)
            if count:
                bits = plans[node.name].accumulator_bits(accumulator_bits)
                if on_overflow == "raise":
                    raise AccumulatorOverflowError(node.name, count, bits)
                overflows.append((node.name, count))
        else:
            values[out.name] = _run_other(graph, node, plans.get(node.name), values, workers)
    return overflows


def execute_float(graph: Graph, float_inputs: Mapping[str, np.ndarray], *, accumulator_bits: int | None = None,
                  on_overflow: OnOverflow = "raise", threads: int | None = None) -> dict[str, np.ndarray]:
    """Quantize float inputs (TFLite rounding: half away from zero), execute, dequantize the graph outputs."""
    _check_options(graph, accumulator_bits, on_overflow)
    _check_mapping(graph, float_inputs, "float32")
    # names that are not graph inputs are passed on unchanged: execute's validation rejects them
    quantized = {name: (quantize(np.asarray(x, np.float32), graph.tensors[name].quant, graph.tensors[name].dtype,
                                 rounding="half_away_from_zero") if name in graph.inputs else x)
                 for name, x in float_inputs.items()}
    result = execute(graph, quantized, accumulator_bits=accumulator_bits, on_overflow=on_overflow, threads=threads)
    return {name: dequantize(result[name], graph.tensors[name].quant) for name in graph.outputs}


# ------------------------------------------------------------------------------------------------ threads
def engine_threads(threads: int | None = None) -> int:
    """The number of worker threads an ``execute`` call uses: ``threads`` if given, else the ``ACCELSIM_THREADS``
    environment variable, else the number of cores this process may run on (``os.sched_getaffinity``)."""
    if threads is None:
        env = os.environ.get("ACCELSIM_THREADS")
        if env:
            try:
                return engine_threads(int(env))
            except (ValueError, AccelsimError):
                raise AccelsimError(f"environment variable ACCELSIM_THREADS: expected an integer of at least 1, "
                                    f"found {env!r}") from None
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not _is_int(threads) or threads < 1:
        raise AccelsimError(f"threads must be an integer of at least 1 (or None), found {threads!r}")
    return int(threads)


def _chunks(count: int, chunk: int) -> list[tuple[int, int]]:
    """``range(count)`` as consecutive ``(start, end)`` ranges of ``chunk`` indices (the last may be shorter)."""
    return [(start, min(start + chunk, count)) for start in range(0, count, chunk)]


#: Polls of a waiting thread before it sleeps (each poll yields the core; ~0.3–1 µs when nothing else runs).
SPIN_POLLS = 4000

try:
    _sched_yield = ctypes.CDLL(None).sched_yield  # POSIX sched_yield(): give the core away for one poll
    _sched_yield.restype = ctypes.c_int
    _sched_yield.argtypes = []
except (OSError, AttributeError, TypeError):      # not POSIX (e.g. Windows): waiting threads sleep at once
    _sched_yield = None

if _sched_yield is not None:
    @numba.njit(nogil=True)
    def _spin_until(counter, value, polls):
        """Whether ``counter[0]`` reached ``value`` within ``polls`` polls, the GIL released throughout. The
        opaque ``sched_yield`` call between polls makes LLVM reload ``counter[0]`` and lets other processes run."""
        for _ in range(polls):
            if counter[0] == value:
                return True
            _sched_yield()
        return counter[0] == value
else:
    def _spin_until(counter, value, polls):
        """No spinning without sched_yield: report the current state; the caller then sleeps."""
        return counter[0] == value


class _Worker:
    """A helper thread of the engine. Handing it a task costs ~1 µs while it spin-waits (for ``SPIN_POLLS`` polls
    after its last task, i.e. between the layers of a network), against ~50–150 µs to wake a sleeping thread
    (a blocked Python thread, as in ``concurrent.futures``) on the 2-core VM: at ~60 fork/joins per image the
    latter ate the whole gain of a second core."""

    def __init__(self) -> None:
        self.posted = np.zeros(1, np.int64)      # sequence number of the last task handed over (caller writes)
        self.finished = np.zeros(1, np.int64)    # sequence number of the last task completed (worker writes)
        self.task: tuple[Callable, object] | None = None
        self.result: int = 0
        self.error: BaseException | None = None
        self.sleeping = False
        self.wake = threading.Event()
        threading.Thread(target=self._loop, name="accelsim-worker", daemon=True).start()

    def _loop(self) -> None:
        seen = 0
        while True:
            if not _spin_until(self.posted, seen + 1, SPIN_POLLS):
                self.sleeping = True
                if self.posted[0] != seen + 1:   # re-checked under the GIL: a post after this sets `wake`
                    self.wake.wait()
                self.wake.clear()
                self.sleeping = False
                continue
            seen += 1
            fn, arg = self.task
            try:
                self.result, self.error = fn(arg), None
            except BaseException as exc:  # re-raised in the calling thread by join()
                self.result, self.error = 0, exc
            self.finished[0] = seen

    def post(self, fn: Callable[[object], int], arg: object) -> None:
        self.task = (fn, arg)
        self.posted[0] += 1
        if self.sleeping:
            self.wake.set()

    def join(self) -> int:
        target = self.posted[0]
        while not _spin_until(self.finished, target, SPIN_POLLS):
            pass
        if self.error is not None:
            raise self.error
        return self.result


_WORKERS_LOCK = threading.Lock()
_WORKERS: list[_Worker] = []
_WORKERS_PID = os.getpid()


def _in_parallel(make_worker: Callable[[Iterator[tuple[int, int]]], int], chunks: list[tuple[int, int]],
                 workers: int) -> int:
    """Work through ``chunks`` on up to ``workers`` threads (the calling thread and the engine's helpers);
    returns the sum of the threads' overflow counts.

    ``make_worker(ranges)`` processes every ``(start, end)`` it takes from the shared iterator ``ranges`` and
    returns its count. Threads take the next chunk when they finish one, so a thread slowed down by another
    process on its core simply does fewer chunks. Helpers are started on first use (again after a fork); a
    second ``execute`` running concurrently in another thread runs its layers on its own thread.
    """
    global _WORKERS_PID
    ranges = iter(chunks)            # next() on a list iterator is atomic: each chunk goes to exactly one thread
    helpers = min(workers, len(chunks)) - 1
    if helpers <= 0 or not _WORKERS_LOCK.acquire(blocking=False):
        return make_worker(ranges)
    try:
        if _WORKERS_PID != os.getpid():  # a forked child has the list but not the threads
            _WORKERS.clear()
            _WORKERS_PID = os.getpid()
        while len(_WORKERS) < helpers:
            _WORKERS.append(_Worker())
        for worker in _WORKERS[:helpers]:
            worker.post(make_worker, ranges)
        total = make_worker(ranges)
        return total + sum(worker.join() for worker in _WORKERS[:helpers])
    finally:
        _WORKERS_LOCK.release()


@contextlib.contextmanager
def _thread_limits() -> Iterator[None]:
    """For one ``execute`` call, the engine's own threads are the only parallelism: BLAS runs single-threaded
    (each worker multiplies its own pixel blocks; the numba kernels are serial). Mixing thread pools made them
    starve each other on a busy machine: their workers spin-wait after each parallel region (~100 ms per image
    instead of ~20). Without threadpoolctl, BLAS keeps its own setting."""
    with _blas_limit(1):
        yield


_BLAS_CONTROLLER: object | None = None


def _blas_limit(limit: int) -> contextlib.AbstractContextManager:
    """A context limiting numpy's BLAS to ``limit`` threads (threadpoolctl; a no-op when it is not installed)."""
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            return contextlib.nullcontext()
        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=limit, user_api="blas")


def describe_inputs(graph: Graph, element: str | None = None) -> str:
    """The graph's inputs as ``'x': (1, 28, 28, 1) numpy int8 array`` items (``element`` replaces the dtype)."""
    return ", ".join(f"{name!r}: {graph.tensors[name].shape} numpy "
                     f"{element or np.dtype(dtype_info(graph.tensors[name].dtype).storage)} array"
                     for name in graph.inputs)


def _check_mapping(graph: Graph, inputs: object, element: str | None = None) -> None:
    """AccelsimError unless ``inputs`` is a mapping (e.g. a dict) from input name to array."""
    if not isinstance(inputs, Mapping):
        raise AccelsimError(
            f"graph {graph.name!r}: inputs must be a mapping from input name to array, found "
            f"{type(inputs).__name__}; pass {{{describe_inputs(graph, element)}}}")


def _validated_inputs(graph: Graph, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    _check_mapping(graph, inputs)
    unknown = [name for name in inputs if name not in graph.inputs]
    if unknown:
        raise AccelsimError(f"graph {graph.name!r} has no input(s) {unknown}; its inputs are "
                            f"{{{describe_inputs(graph)}}}")
    checked = {}
    for name in graph.inputs:
        if name not in inputs:
            raise AccelsimError(f"graph {graph.name!r}: input tensor {name!r} is missing; its inputs are "
                                f"{{{describe_inputs(graph)}}}")
        t = graph.tensors[name]
        info = dtype_info(t.dtype)
        x = inputs[name]
        if not isinstance(x, np.ndarray) or x.dtype != info.storage:
            found = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
            raise AccelsimError(f"input tensor {name!r} must be a numpy {np.dtype(info.storage)} array "
                                f"(storage of {t.dtype}), found {found}")
        if x.shape != t.shape:
            raise AccelsimError(f"input tensor {name!r} has shape {x.shape}, expected {t.shape}")
        if x.size and (int(x.min()) < info.qmin or int(x.max()) > info.qmax):
            raise AccelsimError(f"input tensor {name!r} holds values in [{x.min()}, {x.max()}], outside the "
                                f"{t.dtype} range [{info.qmin}, {info.qmax}]")
        checked[name] = np.ascontiguousarray(x)
    return checked


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


def _run_mac(graph: Graph, node: Node, plan: MacPlan, values: dict[str, np.ndarray],
             accumulator_bits: int | None, workers: int) -> tuple[np.ndarray, int]:
    x = values[node.inputs[0]]
    out_t = graph.tensors[node.outputs[0]]
    bits = plan.accumulator_bits(accumulator_bits)
    acc_min, acc_max = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    rq = plan.requant
    out_shape = x.shape[:1] + (1, 1) + out_t.shape[-1:] if node.kind == "FullyConnected" else out_t.shape
    if node.kind == "FullyConnected":
        x = x.reshape(x.shape[0], 1, 1, -1)
    if plan.acc_bound > INT64_MAX:
        return _run_mac_exact(graph, node, plan, x, out_t, out_shape, acc_min, acc_max)
    acc_type, check = accumulator_dtype(plan.acc_bound, bits)
    if plan.kernel == "gemm":
        return _run_gemm(x, plan, out_t, out_shape, check, acc_min, acc_max, workers)
    storage = dtype_info(out_t.dtype).storage
    geometry = (*plan.stride, *plan.dilation, *plan.pad_top_left)
    rq_tail = (check, acc_min, acc_max, rq.mode_id, rq.multiplier, rq.shift, rq.float_multiplier, plan.zero_out,
               plan.act_range[0], plan.act_range[1])
    if plan.kernel == "depthwise":
        # reads x and writes the output in their storage types: no conversion passes around the split kernel
        out = np.empty(out_shape, storage)
        rows = out_shape[0] * out_shape[1]
        parallel = workers > 1 and out.size * plan.kernel_hw[0] * plan.kernel_hw[1] >= PARALLEL_MIN_MACS
        chunk = -(-rows // (CHUNKS_PER_THREAD * workers)) if parallel else rows

        def depthwise_rows(ranges: Iterator[tuple[int, int]]) -> int:
            return sum(conv.conv2d_depthwise(x, plan.zero_in, plan.weights, plan.bias, plan.depth_multiplier,
                                             *geometry, np.empty(0, acc_type), *rq_tail, out, first, end)
                       for first, end in ranges)

        return out, int(_in_parallel(depthwise_rows, _chunks(rows, chunk), workers))
    # operands and output in a few canonical types, so the kernel compiles only a handful of specialisations
    x = x.astype(plan.weights.dtype, copy=False)
    out = np.empty(out_shape, np.int32)
    count = conv.conv2d_grouped(x, plan.zero_in, plan.weights, plan.bias, *geometry, np.empty(0, acc_type),
                                *rq_tail, out)
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
    rq = plan.requant
    gemm.requantize_rows(saturated, np.zeros(saturated.shape[1], np.int64), False, acc_min, acc_max, rq.mode_id,
                         rq.multiplier, rq.shift, rq.float_multiplier, plan.zero_out, plan.act_range[0],
                         plan.act_range[1], out)
    return out.reshape(out_t.shape), count


def exact_accumulators(graph: Graph, node: Node, plan: MacPlan, x: np.ndarray,
                       out_shape: tuple[int, ...]) -> np.ndarray:
    """``bias[o] + Σ (q_x − Z_x)·(q_w − Z_w)[o]`` of every output as Python integers: an object array of shape
    ``(N·OH·OW, O)``. ``x`` is NHWC (an FC input as ``(N, 1, 1, K)``); padding taps hold the zero point."""
    w_t = graph.tensors[node.inputs[1]]
    w = _constant(graph, w_t.name).astype(np.int64)
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

#: Depthwise layers are cut into this many row chunks per thread (dynamic load balance on a shared machine).
CHUNKS_PER_THREAD = 4


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
    rq = plan.requant
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
                gemm.patches(x, plan.zero_in, *plan.kernel_hw, *plan.stride, *plan.dilation, *plan.pad_top_left,
                             out_h, out_w, first, patches[:rows])
            np.matmul(patches[:rows], plan.weights, out=acc[:rows])
            count += gemm.requantize_rows(acc[:rows], plan.bias, check, acc_min, acc_max, rq.mode_id,
                                          rq.multiplier, rq.shift, rq.float_multiplier, plan.zero_out,
                                          plan.act_range[0], plan.act_range[1], out[first:end])
        return count

    count = _in_parallel(gemm_blocks, _chunks(pixels, block), workers)
    return out.reshape(out_t.shape), int(count)


def _run_other(graph: Graph, node: Node, plan: object, values: dict[str, np.ndarray], workers: int) -> np.ndarray:
    ins = [graph.tensors[name] for name in node.inputs]
    out_t = graph.tensors[node.outputs[0]]
    storage = dtype_info(out_t.dtype).storage
    x = values[node.inputs[0]]
    op = node.op
    if isinstance(op, (O.Reshape, O.Flatten)):
        return layout.reshape_view(x, out_t.shape)
    if isinstance(op, O.Pad):
        return layout.pad_with_zero_point(x, op.pads, int(ins[0].quant.zero_point[0]))
    if isinstance(op, O.MaxPool):
        out = np.empty(out_t.shape, storage)
        pool.max_pool(x, *plan.kernel, *plan.stride, *plan.pad_top_left, *plan.act_range, out)
        return out
    if isinstance(op, (O.AvgPool, O.GlobalAveragePool)):
        out = np.empty(out_t.shape, storage)
        rq = plan.requant
        pool.avg_pool(x, *plan.kernel, *plan.stride, *plan.pad_top_left, plan.same_quant, plan.zero_in,
                      rq.mode_id, rq.multiplier, rq.shift, rq.float_multiplier, plan.first_count, plan.zero_out,
                      plan.act_range[0], plan.act_range[1], out)
        return out
    if isinstance(op, O.Add):
        return _run_add(plan, values[node.inputs[0]], values[node.inputs[1]], out_t, workers)
    if isinstance(op, O.Concat):
        parts = [values[t.name] if rq is None else _rescaled(values[t.name], t, out_t, rq)
                 for t, rq in zip(ins, plan.rescales)]
        return layout.concatenate(parts, op.axis, storage)
    raise UnsupportedError(f"node {node.name!r}: the engine has no kernel for op {node.kind}")


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

    _in_parallel(add_ranges, _chunks(out.size, chunk), workers)
    return out.reshape(out_t.shape)


def _rescaled(x: np.ndarray, t: Tensor, out_t: Tensor, rq: RequantParams) -> np.ndarray:
    """A Concat input moved to the output's quantization with its precomputed rescale constants."""
    info = dtype_info(out_t.dtype)
    out = np.empty(x.size, info.storage)
    elementwise.rescale(x.reshape(-1), int(t.quant.zero_point[0]), rq.mode_id, rq.multiplier[0], rq.shift[0],
                        rq.float_multiplier[0], int(out_t.quant.zero_point[0]), info.qmin, info.qmax, out)
    return out.reshape(x.shape)
