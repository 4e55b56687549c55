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
from accelsim.graph.stats import is_depthwise
from accelsim.graph.shapes import resolve_padding, window_output_size


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


def apply_activation(x: np.ndarray, activation: str) -> np.ndarray:
    """ReLU / ReLU6 / identity on float values."""
    if activation == "RELU":
        return np.maximum(x, 0)
    if activation == "RELU6":
        return np.clip(x, 0, 6)
    return x


def _run_node(node: Node, args: list[np.ndarray]) -> np.ndarray:
    op = node.op
    if isinstance(op, O.Conv2D):
        bias = args[2] if len(args) > 2 else None
        return apply_activation(conv2d(args[0], args[1], bias, op), op.activation)
    if isinstance(op, O.FullyConnected):
        x = args[0].reshape(args[0].shape[0], -1).astype(np.float64)
        y = x @ args[1].astype(np.float64).T
        if len(args) > 2:
            y += args[2]
        return apply_activation(y, op.activation)
    if isinstance(op, O.Add):
        return apply_activation(args[0].astype(np.float64) + args[1], op.activation)
    if isinstance(op, (O.AvgPool, O.MaxPool)):
        return apply_activation(pool2d(args[0], op), op.activation)
    if isinstance(op, O.GlobalAveragePool):
        return args[0].astype(np.float64).mean(axis=(1, 2), keepdims=True)
    if isinstance(op, O.Concat):
        return np.concatenate(args, axis=op.axis)
    if isinstance(op, O.Reshape):
        return args[0].reshape((args[0].shape[0], *op.shape[1:]))
    if isinstance(op, O.Flatten):
        return args[0].reshape(args[0].shape[0], -1)
    if isinstance(op, O.Pad):
        return np.pad(args[0], op.pads)
    raise UnsupportedError(f"node {node.name!r}: the float executor has no rule for {node.kind}")


def conv2d(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, op: O.Conv2D) -> np.ndarray:
    """Grouped 2-D convolution, NHWC input, OHWI weights (I = C_in / groups), float64 accumulation."""
    n, h, wd, c = x.shape
    o, kh, kw, ci = w.shape
    top, bottom, left, right = resolve_padding(op.padding, (h, wd), (kh, kw), op.stride, op.dilation)
    xp = np.pad(x.astype(np.float64), ((0, 0), (top, bottom), (left, right), (0, 0)))
    oh = window_output_size(h, kh, op.stride[0], op.dilation[0], top, bottom)
    ow = window_output_size(wd, kw, op.stride[1], op.dilation[1], left, right)
    groups, per_group = op.groups, o // op.groups
    w64 = w.astype(np.float64)
    out = np.zeros((n, oh, ow, o), np.float64)
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * op.dilation[0], j * op.dilation[1]
            patch = xp[:, r0:r0 + (oh - 1) * op.stride[0] + 1:op.stride[0],
                       c0:c0 + (ow - 1) * op.stride[1] + 1:op.stride[1], :]
            if is_depthwise(op, c):  # depthwise: output channel o reads input channel o // multiplier
                out += patch[..., np.arange(o) // per_group] * w64[:, i, j, 0]
                continue
            for g in range(groups):
                xs = patch[..., g * ci:(g + 1) * ci]
                out[..., g * per_group:(g + 1) * per_group] += xs @ w64[g * per_group:(g + 1) * per_group, i, j, :].T
    if bias is not None:
        out += bias
    return out


def pool2d(x: np.ndarray, op: O.AvgPool | O.MaxPool) -> np.ndarray:
    """Max or average pooling over the valid taps (padding is ignored: count_include_pad = 0)."""
    n, h, wd, c = x.shape
    kh, kw = op.kernel
    top, bottom, left, right = resolve_padding(op.padding, (h, wd), op.kernel, op.stride)
    oh = window_output_size(h, kh, op.stride[0], 1, top, bottom)
    ow = window_output_size(wd, kw, op.stride[1], 1, left, right)
    is_max = isinstance(op, O.MaxPool)
    fill = -np.inf if is_max else 0.0
    xp = np.pad(x.astype(np.float64), ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
    valid = np.pad(np.ones((1, h, wd, 1)), ((0, 0), (top, bottom), (left, right), (0, 0)))
    acc = np.full((n, oh, ow, c), fill)
    count = np.zeros((1, oh, ow, 1))
    for i in range(kh):
        for j in range(kw):
            sl = (slice(None), slice(i, i + (oh - 1) * op.stride[0] + 1, op.stride[0]),
                  slice(j, j + (ow - 1) * op.stride[1] + 1, op.stride[1]), slice(None))
            if is_max:
                acc = np.maximum(acc, xp[sl])
            else:
                acc = acc + xp[sl]
                count = count + valid[sl]
    return acc if is_max else acc / count
