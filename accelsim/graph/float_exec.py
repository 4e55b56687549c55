"""A plain numpy float32 executor for float graphs (NHWC), used for PTQ calibration and float baselines.

Semantics follow the IR (accelsim.graph.ops): convolutions pad with 0, average pooling divides by the number of
valid (non-padding) taps, max pooling ignores padding, fused activations are ReLU (max 0) or ReLU6 (clip 0..6).
Products are accumulated in float64 and rounded to float32 once per op, so results are at least as accurate as a
float32 runtime (onnxruntime agrees to ~1e-6 relative).

The batch size is taken from the inputs, not from the graph's declared shapes; Reshape keeps the batch dimension.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from accelsim.errors import GraphError, UnsupportedError
from accelsim.graph import ops as O
from accelsim.graph.ir import Graph, Node
from accelsim.graph.ops.conv import conv2d
from accelsim.graph.ops.geometry import apply_activation
from accelsim.graph.ops.pool import pool2d

__all__ = ["apply_activation", "conv2d", "pool2d", "run_float"]


def run_float(graph: Graph, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run a float graph; returns every activation tensor (inputs and node outputs) as float32 NHWC arrays."""
    if not graph.is_float:
        raise UnsupportedError(f"graph {graph.name!r} is quantized; run it with accelsim.execute")
    values: dict[str, np.ndarray] = {}
    for name in graph.inputs:
        if name not in inputs:
            raise GraphError(f"graph {graph.name!r}: missing input {name!r} (inputs: {list(graph.inputs)})")
        x = np.asarray(inputs[name], np.float32)
        expected = graph.tensors[name].shape
        if x.shape[1:] != expected[1:]:
            raise GraphError(f"graph {graph.name!r}: input {name!r} has shape {x.shape}, expected (N, "
                             f"{', '.join(map(str, expected[1:]))})")
        values[name] = x
    for node in graph.nodes:
        args = [values[i] if i in values else _constant(graph, node, i) for i in node.inputs]
        values[node.outputs[0]] = _run_node(node, args).astype(np.float32, copy=False)
    return values


def _constant(graph: Graph, node: Node, name: str) -> np.ndarray:
    t = graph.tensors[name]
    if t.data is None:
        raise GraphError(f"node {node.name!r}: constant {name!r} has no data (synthesize weights first)")
    return t.data


def _run_node(node: Node, args: list[np.ndarray]) -> np.ndarray:
    try:
        rule = O.op_def_of(node.op).float_ref
    except UnsupportedError:
        raise UnsupportedError(f"node {node.name!r}: the float executor has no rule for {node.kind}") from None
    return rule(node.op, args)
