"""Bit-exact integer execution of a quantized graph.

``execute(graph, inputs)`` runs every node with its op's engine entry (the op registry's ``OpDef.engine``: the
per-family runners of this package, over the numba kernels of ``accelsim.kernels``) and returns every tensor as
an integer NHWC array in its storage type. Per-node constants (centered and transposed weights, requantization
parameters, clamp bounds, accumulator bounds) are prepared once per graph and cached.
The semantics are in docs/arithmetic.md; usage, the accumulator model and the kernel design in docs/engine.md.
"""
from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from accelsim.engine.common import RunOptions
from accelsim.engine.threads import engine_threads, is_int, thread_limits
from accelsim.errors import AccelsimError, AccumulatorOverflowError, UnsupportedError
from accelsim.graph.ir import Graph
from accelsim.graph.ops import op_def
from accelsim.quant.params import dequantize, dtype_info, quantize

OnOverflow = Literal["raise", "report"]


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


_PLANS: weakref.WeakKeyDictionary[Graph, dict[str, object]] = weakref.WeakKeyDictionary()


def _plans(graph: Graph) -> dict[str, object]:
    """The per-node constants of ``graph`` (``OpDef.engine.plan``), built on first use and cached while the graph
    lives."""
    plans = _PLANS.get(graph)
    if plans is None:
        plans = {node.name: op_def(node.kind).engine.plan(graph, node) for node in graph.nodes}
        _PLANS[graph] = plans
    return plans


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
    options = RunOptions(accumulator_bits, engine_threads(threads))
    with thread_limits():
        overflows = _run_nodes(graph, plans, values, options, on_overflow)
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
    if accumulator_bits is not None and not (is_int(accumulator_bits) and 8 <= accumulator_bits <= 64):
        raise AccelsimError(f"accumulator_bits must be an integer from 8 to 64 (or None: 32, or 64 for 16-bit "
                            f"operands), found {accumulator_bits!r}")


def _run_nodes(graph: Graph, plans: dict[str, object], values: dict[str, np.ndarray], options: RunOptions,
               on_overflow: OnOverflow) -> list[tuple[str, int]]:
    """Run every node in order with its op's engine entry, storing its output in ``values``; returns the reported
    overflows."""
    overflows: list[tuple[str, int]] = []
    for node in graph.nodes:
        result = op_def(node.kind).engine.run(graph, node, plans[node.name], values, options)
        values[node.outputs[0]] = result.output
        if result.overflows:
            if on_overflow == "raise":
                raise AccumulatorOverflowError(node.name, result.overflows, result.accumulator_bits)
            overflows.append((node.name, result.overflows))
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
