"""Closed-form counts over a graph: parameters and multiply-accumulates per node."""
from __future__ import annotations

import math

from accelsim.graph import ops as O
from accelsim.graph.ir import Graph, Node


def is_depthwise(op: O.Op, input_channels: int) -> bool:
    """Whether ``op`` is a depthwise convolution: a Conv2D with one group per input channel (so each filter
    reads one input channel; ``groups > 1`` keeps a 1-channel plain conv out)."""
    return isinstance(op, O.Conv2D) and op.groups > 1 and op.groups == input_channels


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
    if node.kind == "Conv2D":
        w = graph.tensors[node.inputs[1]].shape
        out = graph.tensors[node.outputs[0]].shape
        return math.prod(out) * w[1] * w[2] * w[3]
    if node.kind == "FullyConnected":
        w = graph.tensors[node.inputs[1]].shape
        n = graph.tensors[node.outputs[0]].shape[0]
        return n * w[0] * w[1]
    return 0


def total_macs(graph: Graph) -> int:
    return sum(node_macs(graph, n) for n in graph.nodes)


def node_params(graph: Graph, node: Node) -> int:
    """Weights + bias elements of a conv / FC node."""
    return sum(graph.tensors[i].size for i in node.inputs[1:] if graph.tensors[i].is_constant)


def param_count(graph: Graph) -> int:
    """All constant elements used by nodes (weights and biases), each tensor counted once."""
    used = {i for n in graph.nodes for i in n.inputs}
    return sum(t.size for name, t in graph.tensors.items() if t.is_constant and name in used)
