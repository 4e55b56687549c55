"""The quantized graph IR: tensors, nodes and a validated, topologically ordered graph.

A graph is either fully quantized (integer tensors with quantization parameters; what the engine executes and
the hardware model costs) or fully float (what the ONNX float importer returns and PTQ consumes).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from accelsim.errors import GraphError, UnsupportedError
from accelsim.graph import ops as O
from accelsim.graph.shapes import infer_shape
from accelsim.quant.params import QuantParams, dtype_info
from accelsim.quant.requant import MODES

#: Activation and weight types each op family accepts in a quantized graph.
ACTIVATION_DTYPES = ("int2", "int4", "int8", "uint8", "int16")
WEIGHT_DTYPES = ("int2", "uint2", "int4", "uint4", "int8", "uint8", "int16")
BIAS_DTYPES = ("int32", "int64")
#: A MAC op may output its raw accumulator (ONNX ConvInteger / MatMulInteger; scale S_x·S_w, zero point 0, requant
#: multiplier 1); only views (Reshape / Flatten) may read it.
RAW_ACCUMULATOR_DTYPES = ("int32",)


@dataclass(frozen=True, eq=False)
class Tensor:
    """A named tensor: shape, storage type, quantization and (for constants) its integers."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: QuantParams | None = None
    data: np.ndarray | None = None
    is_constant: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if self.data is not None:
            object.__setattr__(self, "is_constant", True)

    @property
    def bits(self) -> int:
        return dtype_info(self.dtype).bits

    @property
    def signed(self) -> bool:
        return dtype_info(self.dtype).signed

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def storage_bytes(self) -> float:
        """Packed size in bytes (sub-byte types packed two per byte)."""
        return self.size * self.bits / 8


@dataclass(frozen=True, eq=False)
class Node:
    """One op instance. Inputs: activation(s) first, then weights, then bias."""

    name: str
    op: O.Op
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    requant: str = "fixed_point"

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))

    @property
    def kind(self) -> str:
        return self.op.kind


@dataclass(frozen=True, eq=False)
class Graph:
    """A validated graph; ``nodes`` are stored in topological order.

    Construction checks that every tensor exists, shapes agree with shape inference, integer tensors carry
    quantization parameters, dtypes are supported by each op, and the graph is acyclic; any violation raises
    :class:`GraphError` naming the node.
    """

    name: str
    tensors: Mapping[str, Tensor]
    nodes: tuple[Node, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    metadata: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tensors", dict(self.tensors))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "metadata", dict(self.metadata))
        object.__setattr__(self, "nodes", _topological_order(self.nodes, self.inputs, self.tensors))
        _validate(self)

    # ----------------------------------------------------------------------------------------- queries
    @property
    def is_float(self) -> bool:
        return all(t.dtype == "float32" for t in self.tensors.values() if t.dtype not in BIAS_DTYPES)

    def tensor(self, name: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise GraphError(f"graph {self.name!r} has no tensor {name!r}") from None

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise GraphError(f"graph {self.name!r} has no node {name!r}")

    def producer(self, tensor_name: str) -> Node | None:
        for n in self.nodes:
            if tensor_name in n.outputs:
                return n
        return None

    def consumers(self, tensor_name: str) -> list[Node]:
        return [n for n in self.nodes if tensor_name in n.inputs]

    def replace(self, *, tensors: Mapping[str, Tensor] | None = None, nodes: Iterable[Node] | None = None,
                metadata: Mapping[str, object] | None = None, name: str | None = None) -> Graph:
        """A new validated graph with some parts replaced."""
        return Graph(
            name=self.name if name is None else name,
            tensors=self.tensors if tensors is None else tensors,
            nodes=self.nodes if nodes is None else tuple(nodes),
            inputs=self.inputs,
            outputs=self.outputs,
            metadata={**self.metadata, **(metadata or {})},
        )


def _topological_order(nodes: Iterable[Node], inputs: tuple[str, ...], tensors: Mapping[str, Tensor]) -> tuple[Node, ...]:
    """Kahn's algorithm, O(nodes + edges); ties keep the given order. Errors name the node at fault."""
    nodes = list(nodes)
    seen: set[str] = set()
    for n in nodes:
        if n.name in seen:
            raise GraphError(f"duplicate node name: {n.name!r}")
        seen.add(n.name)
    producers: dict[str, int] = {}
    for index, n in enumerate(nodes):
        for out in n.outputs:
            if out in producers:
                raise GraphError(f"node {n.name!r}: tensor {out!r} is already produced by node "
                                 f"{nodes[producers[out]].name!r}")
            producers[out] = index
    available = set(inputs) | {name for name, t in tensors.items() if t.is_constant}
    waiting_on = [0] * len(nodes)
    dependants: dict[int, list[int]] = {}
    for index, n in enumerate(nodes):
        for name in n.inputs:
            if name in available:
                continue
            if name not in producers:
                raise GraphError(f"node {n.name!r}: input tensor {name!r} is neither a graph input, "
                                 f"a constant nor produced by any node")
            waiting_on[index] += 1
            dependants.setdefault(producers[name], []).append(index)
    ready = [i for i, count in enumerate(waiting_on) if count == 0]
    heapq.heapify(ready)
    ordered: list[Node] = []
    while ready:
        index = heapq.heappop(ready)
        ordered.append(nodes[index])
        for d in dependants.get(index, ()):
            waiting_on[d] -= 1
            if waiting_on[d] == 0:
                heapq.heappush(ready, d)
    if len(ordered) != len(nodes):
        stuck = next(n for i, n in enumerate(nodes) if waiting_on[i] > 0)
        raise GraphError(f"node {stuck.name!r}: the graph has a cycle through its inputs {list(stuck.inputs)}")
    return tuple(ordered)


def _validate(graph: Graph) -> None:
    for name in (*graph.inputs, *graph.outputs):
        if name not in graph.tensors:
            raise GraphError(f"graph {graph.name!r}: input/output tensor {name!r} is not defined")
    float_graph = graph.is_float
    for t in graph.tensors.values():
        dtype_info(t.dtype)
        if not float_graph and t.dtype != "float32" and t.quant is None and t.dtype not in BIAS_DTYPES:
            holder = graph.producer(t.name) or (graph.consumers(t.name) or [None])[0]
            where = f"node {holder.name!r}" if holder else f"graph {graph.name!r}"
            raise GraphError(f"{where}: tensor {t.name!r} ({t.dtype}) has no quantization parameters")
        if t.data is not None and tuple(t.data.shape) != t.shape:
            raise GraphError(f"tensor {t.name!r}: data shape {t.data.shape} differs from declared shape {t.shape}")
    for node in graph.nodes:
        _validate_node(graph, node, float_graph)


def _validate_node(graph: Graph, node: Node, float_graph: bool) -> None:
    def fail(message: str) -> GraphError:
        return GraphError(f"node {node.name!r} ({node.kind}): {message}")

    missing = [i for i in (*node.inputs, *node.outputs) if i not in graph.tensors]
    if missing:
        raise fail(f"tensor(s) {missing} are not defined")
    if node.requant not in MODES:
        raise fail(f"unknown requantization mode {node.requant!r}; supported: {', '.join(MODES)}")
    ins = [graph.tensors[i] for i in node.inputs]
    out = graph.tensors[node.outputs[0]]
    try:
        definition = O.op_def_of(node.op)
    except UnsupportedError as exc:
        raise fail(str(exc)) from None
    arity = definition.arity
    if not arity[0] <= len(ins) <= arity[1]:
        raise fail(f"takes {arity[0]}..{arity[1]} inputs, got {len(ins)}")
    n_act = definition.activation_count(len(ins))
    try:
        expected = infer_shape(node.op, [t.shape for t in ins])
    except ValueError as exc:
        raise fail(str(exc)) from None
    if out.shape != expected:
        raise fail(f"output {out.name!r} has shape {out.shape}, shape inference gives {expected}")
    if definition.has_weights and len(ins) == 3 and ins[2].shape != (ins[1].shape[0],):
        raise fail(f"bias {ins[2].name!r} has shape {ins[2].shape}, expected ({ins[1].shape[0]},)")
    if float_graph:
        return
    for t in (*ins[:n_act], out):
        if t.dtype in RAW_ACCUMULATOR_DTYPES and (
                (t is out and definition.is_mac) or definition.cost.is_view):
            continue  # an int32 accumulator output (ONNX ConvInteger / MatMulInteger), or a view of one
        if t.dtype not in ACTIVATION_DTYPES:
            raise fail(f"activation {t.name!r} is {t.dtype}; supported: {', '.join(ACTIVATION_DTYPES)}")
        if t.quant is not None and t.quant.per_channel_quantized:
            raise fail(f"activation {t.name!r} must be quantized per tensor")
    if definition.has_weights:
        w = ins[1]
        if w.dtype not in WEIGHT_DTYPES:
            raise fail(f"weights {w.name!r} are {w.dtype}; supported: {', '.join(WEIGHT_DTYPES)}")
        if w.quant.per_channel_quantized and (w.quant.axis != 0 or w.quant.num_channels != w.shape[0]):
            raise fail(f"weights {w.name!r}: per-channel scales must run along axis 0 with {w.shape[0]} entries")
        if len(ins) == 3 and ins[2].dtype not in BIAS_DTYPES:
            raise fail(f"bias {ins[2].name!r} is {ins[2].dtype}; supported: {', '.join(BIAS_DTYPES)}")
    if definition.cost.preserves_quant and not ins[0].quant.same_as(out.quant):
        raise fail("input and output must share scale and zero point")
    # MAC ops and Concat (which rescales each input) set their output type; other ops keep their inputs' type
    if definition.keeps_dtype:
        for t in ins[:n_act]:
            if t.dtype != out.dtype:
                raise fail(f"input {t.name!r} is {t.dtype} but output {out.name!r} is {out.dtype}")
