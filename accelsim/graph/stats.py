"""Closed-form counts over a graph: parameters and multiply-accumulates per node."""
from __future__ import annotations

import math

from accelsim.graph import ops as O
from accelsim.graph.ir import Graph, Node


#: Whether an op is a depthwise Conv2D (defined once, in :mod:`accelsim.graph.ops.conv`).
is_depthwise = O.is_depthwise


def op_label(graph: Graph, node: Node) -> str:
    """The node's op as reports and ``accelsim info`` name it: ``DepthwiseConv2D`` for a depthwise Conv2D
    (:func:`is_depthwise`), else ``node.kind``. The IR kind stays ``Conv2D``; only the label differs."""
    if is_depthwise(node.op, graph.tensors[node.inputs[0]].shape[-1]):
        return "DepthwiseConv2D"
    return node.kind


def node_macs(graph: Graph, node: Node) -> int:
    """Multiply-accumulates of one node (batch included).

    Conv2D: ``N·OH·OW·O · KH·KW·(C_in / groups)``; FullyConnected: ``N·O·I``; other ops: 0 (they are costed as
    ALU work by the hardware model, not as MACs).
    """
    if not O.op_def(node.kind).is_mac:
        return 0
    w = graph.tensors[node.inputs[1]].shape
    out = graph.tensors[node.outputs[0]].shape
    return out[0] * math.prod(out[1:-1]) * math.prod(w)  # N·(OH·OW)·(O·KH·KW·C/g) or N·(O·I)


def total_macs(graph: Graph) -> int:
    return sum(node_macs(graph, n) for n in graph.nodes)


def node_params(graph: Graph, node: Node) -> int:
    """Weights + bias elements of a conv / FC node."""
    return sum(graph.tensors[i].size for i in node.inputs[1:] if graph.tensors[i].is_constant)


def param_count(graph: Graph) -> int:
    """All constant elements used by nodes (weights and biases), each tensor counted once."""
    used = {i for n in graph.nodes for i in n.inputs}
    return sum(t.size for name, t in graph.tensors.items() if t.is_constant and name in used)
