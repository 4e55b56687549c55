"""MAC ops: Conv2D (plain, grouped, depthwise) and FullyConnected.

Layouts: activations NHWC; conv weights OHWI with I = C_in / groups (depthwise: ``(C_in·mult, KH, KW, 1)``,
output channel ``o`` reads input channel ``o // mult``, TFLite order); FC weights ``(O, I)``.
Fused activations are clamps on the requantized integer (TFLite, [ref:TFLiteRef]).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.graph.ops.geometry import (
    Activation, Padding, apply_activation, resolve_padding, window_output_size, yaml_activation, yaml_padding,
)
from accelsim.graph.ops.registry import CostDescriptor, EngineModule, LoopExtents, OpDef, register_op

if TYPE_CHECKING:
    from accelsim.graph.ir import Graph, Node
    from accelsim.hw.layer import LayerShape


@dataclass(frozen=True)
class Conv2D:
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: Padding = "VALID"
    groups: int = 1
    activation: Activation = "NONE"
    kind = "Conv2D"


@dataclass(frozen=True)
class FullyConnected:
    activation: Activation = "NONE"
    kind = "FullyConnected"


def depthwise(kind: str, groups: int, input_channels: int) -> bool:
    """Whether a layer is a depthwise convolution: a Conv2D with one group per input channel (so each filter reads
    one input channel; ``groups > 1`` keeps a 1-channel plain conv out)."""
    return kind == Conv2D.kind and groups > 1 and groups == input_channels


def is_depthwise(op: object, input_channels: int) -> bool:
    """:func:`depthwise` of an op attribute instance."""
    return isinstance(op, Conv2D) and depthwise(op.kind, op.groups, input_channels)


# ------------------------------------------------------------------------------------------------ shapes
def conv2d_shape(op: Conv2D, x: tuple[int, ...], w: tuple[int, ...]) -> tuple[int, ...]:
    n, h, wd, c = x
    o, kh, kw, ci = w
    if c != ci * op.groups:
        raise ValueError(f"input has {c} channels but weights expect {ci} x {op.groups} groups")
    if o % op.groups:
        raise ValueError(f"{o} output channels are not divisible by {op.groups} groups")
    top, bottom, left, right = resolve_padding(op.padding, (h, wd), (kh, kw), op.stride, op.dilation)
    oh = window_output_size(h, kh, op.stride[0], op.dilation[0], top, bottom)
    ow = window_output_size(wd, kw, op.stride[1], op.dilation[1], left, right)
    if oh <= 0 or ow <= 0:
        raise ValueError(f"kernel {kh}x{kw} does not fit the {h}x{wd} input")
    return (n, oh, ow, o)


def _conv_shape(op: Conv2D, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    if len(inputs[0]) != 4 or len(inputs[1]) != 4:
        raise ValueError(f"Conv2D needs a 4-D NHWC input and 4-D OHWI weights, got {inputs[0]} and {inputs[1]}")
    return conv2d_shape(op, inputs[0], inputs[1])


def _fc_shape(op: FullyConnected, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    x, w = inputs[0], inputs[1]
    features = math.prod(x[1:])
    if len(w) != 2 or w[1] != features:
        raise ValueError(f"input {x} flattens to {features} features but weights are {w}")
    return (x[0], w[0])


# ------------------------------------------------------------------------------------------------ float reference
def conv2d(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, op: Conv2D) -> np.ndarray:
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


def _conv_float(op: Conv2D, args: list[np.ndarray]) -> np.ndarray:
    bias = args[2] if len(args) > 2 else None
    return apply_activation(conv2d(args[0], args[1], bias, op), op.activation)


def _fc_float(op: FullyConnected, args: list[np.ndarray]) -> np.ndarray:
    x = args[0].reshape(args[0].shape[0], -1).astype(np.float64)
    y = x @ args[1].astype(np.float64).T
    if len(args) > 2:
        y += args[2]
    return apply_activation(y, op.activation)


# ------------------------------------------------------------------------------------------------ cost
def _conv_extents(graph: Graph, node: Node) -> LoopExtents:
    op = node.op
    w = graph.tensors[node.inputs[1]].shape
    n, h, wd, c = graph.tensors[node.inputs[0]].shape
    _, oh, ow, o = graph.tensors[node.outputs[0]].shape
    top, bottom, left, right = resolve_padding(op.padding, (h, wd), (w[1], w[2]), op.stride, op.dilation)
    return LoopExtents(n, h, wd, c, oh, ow, o, w[1], w[2], op.stride[0], op.stride[1], op.groups,
                       top + bottom, left + right)


def _fc_extents(graph: Graph, node: Node) -> LoopExtents:
    w = graph.tensors[node.inputs[1]].shape
    return LoopExtents(graph.tensors[node.outputs[0]].shape[0], 1, 1, w[1], 1, 1, w[0])


def _macs(layer: LayerShape) -> int:
    """``N·OH·OW·O · KH·KW·(C_in / groups)``."""
    return layer.outputs * layer.reduction


def _no_alu(layer: LayerShape) -> int:
    return 0


def _one_per_output(layer: LayerShape) -> int:
    return 1


# ------------------------------------------------------------------------------------------------ YAML
def _conv_yaml(graph: Graph, node: Node) -> dict[str, Any]:
    op = node.op
    w = graph.tensors[node.inputs[1]]
    c_in = graph.tensors[node.inputs[0]].shape[-1]
    dw = is_depthwise(op, c_in)
    data: dict[str, Any] = dict(op="depthwise" if dw else "conv", kernel=[w.shape[1], w.shape[2]],
                                stride=list(op.stride), padding=yaml_padding(op.padding), dilation=list(op.dilation),
                                activation=yaml_activation(op), bias=len(node.inputs) == 3)
    if dw:
        data["depth_multiplier"] = w.shape[0] // c_in
    else:
        data.update(out_channels=w.shape[0], groups=op.groups)
    return data


def _fc_yaml(graph: Graph, node: Node) -> dict[str, Any]:
    return dict(op="fc", out_channels=graph.tensors[node.inputs[1]].shape[0], activation=yaml_activation(node.op),
                bias=len(node.inputs) == 3)


_ENGINE = EngineModule("accelsim.engine.mac")

CONV2D = register_op(OpDef(
    attrs=Conv2D, arity=(2, 3), infer_shape=_conv_shape, float_ref=_conv_float, engine=_ENGINE, ptq="weights",
    cost=CostDescriptor(alu_ops_per_output=_no_alu, requant_per_output=_one_per_output, extents=_conv_extents,
                        macs=_macs),
    has_weights=True, keeps_dtype=False, to_yaml=_conv_yaml))
FULLY_CONNECTED = register_op(OpDef(
    attrs=FullyConnected, arity=(2, 3), infer_shape=_fc_shape, float_ref=_fc_float, engine=_ENGINE, ptq="weights",
    cost=CostDescriptor(alu_ops_per_output=_no_alu, requant_per_output=_one_per_output, extents=_fc_extents,
                        macs=_macs),
    has_weights=True, keeps_dtype=False, to_yaml=_fc_yaml))
