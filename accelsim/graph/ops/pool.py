"""Pooling ops: AvgPool, MaxPool (windowed) and GlobalAveragePool."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.graph.ops.common import none_per_output, one_per_output, window_extents
from accelsim.graph.ops.geometry import (
    Activation, Padding, apply_activation, resolve_padding, window_output_size, yaml_activation, yaml_padding,
)
from accelsim.graph.ops.registry import (
    CostDescriptor, EngineModule, LoopExtents, OpDef, VectorKernel, register_op,
)

if TYPE_CHECKING:
    from accelsim.graph.ir import Graph, Node
    from accelsim.hw.layer import LayerShape


@dataclass(frozen=True)
class PoolWindow:
    """Attributes of a windowed pool: ``kernel`` and ``stride`` (H, W), padding, fused activation clamp.

    ``ceil_mode``: the output size rounds up, ``ceil((in + pads − k) / s) + 1``, dropping a last window that
    would start in the bottom / right padding (ONNX MaxPool / AveragePool ``ceil_mode``, the rule of PyTorch's
    ``pooling_output_shape``). ``count_include_pad`` (AvgPool only): the divisor counts the padding taps of the
    window clipped to the padded input (ONNX AveragePool ``count_include_pad=1``); otherwise only the valid
    taps (TFLite AVERAGE_POOL_2D, ONNX default).
    """

    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: Padding = "VALID"
    activation: Activation = "NONE"
    ceil_mode: bool = False
    count_include_pad: bool = False


@dataclass(frozen=True)
class AvgPool(PoolWindow):
    kind = "AvgPool"


@dataclass(frozen=True)
class MaxPool(PoolWindow):
    kind = "MaxPool"


@dataclass(frozen=True)
class GlobalAveragePool:
    """Mean over H and W, keeping dims (NHWC -> N11C)."""

    kind = "GlobalAveragePool"


def pooled_size(size: int, kernel: int, stride: int, pad_before: int, pad_after: int, ceil_mode: bool) -> int:
    """Output extent of a pool along one axis.

    Floor: ``floor((size + pads − k) / s) + 1``. Ceil (ONNX ``ceil_mode=1``, PyTorch ``pooling_output_shape``):
    ``ceil((size + pads − k) / s) + 1``, minus one when that last window would start at or after
    ``size + pad_before`` (in the trailing padding)."""
    if not ceil_mode:
        return window_output_size(size, kernel, stride, 1, pad_before, pad_after)
    out = -(-(size + pad_before + pad_after - kernel) // stride) + 1
    if (out - 1) * stride >= size + pad_before:
        out -= 1
    return out


def pool_pads(op: AvgPool | MaxPool, in_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) padding of a pool (SAME resolved TFLite's way)."""
    return resolve_padding(op.padding, in_hw, op.kernel, op.stride)


def pool_shape(op: AvgPool | MaxPool, x: tuple[int, ...]) -> tuple[int, ...]:
    n, h, w, c = x
    top, bottom, left, right = pool_pads(op, (h, w))
    if op.count_include_pad and isinstance(op, MaxPool):
        raise ValueError("count_include_pad applies to average pooling only")
    oh = pooled_size(h, op.kernel[0], op.stride[0], top, bottom, op.ceil_mode)
    ow = pooled_size(w, op.kernel[1], op.stride[1], left, right, op.ceil_mode)
    if oh <= 0 or ow <= 0:
        raise ValueError(f"pool window {op.kernel} does not fit the {h}x{w} input")
    return (n, oh, ow, c)


def _pool_shape(op: AvgPool | MaxPool, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    return pool_shape(op, inputs[0])


def _gap_shape(op: GlobalAveragePool, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    n, _, _, c = inputs[0]
    return (n, 1, 1, c)


def pool2d(x: np.ndarray, op: AvgPool | MaxPool) -> np.ndarray:
    """Max or average pooling; the average divides by the valid taps, or with ``count_include_pad`` by the taps
    inside the padded input (a ceil-mode window reaching past the padding counts only up to its edge)."""
    n, h, wd, c = x.shape
    kh, kw = op.kernel
    top, bottom, left, right = pool_pads(op, (h, wd))
    _, oh, ow, _ = pool_shape(op, x.shape)
    # extra trailing rows / columns a ceil-mode window may reach beyond the padding (never counted)
    extra_h = max((oh - 1) * op.stride[0] + kh - (h + top + bottom), 0)
    extra_w = max((ow - 1) * op.stride[1] + kw - (wd + left + right), 0)
    is_max = isinstance(op, MaxPool)
    fill = -np.inf if is_max else 0.0
    xp = np.pad(x.astype(np.float64), ((0, 0), (top, bottom + extra_h), (left, right + extra_w), (0, 0)),
                constant_values=fill)
    ones = np.ones((1, h + top + bottom, wd + left + right, 1)) if op.count_include_pad else None
    valid = (np.pad(ones, ((0, 0), (0, extra_h), (0, extra_w), (0, 0))) if ones is not None else
             np.pad(np.ones((1, h, wd, 1)), ((0, 0), (top, bottom + extra_h), (left, right + extra_w), (0, 0))))
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


def _pool_float(op: AvgPool | MaxPool, args: list[np.ndarray]) -> np.ndarray:
    return apply_activation(pool2d(args[0], op), op.activation)


def _gap_float(op: GlobalAveragePool, args: list[np.ndarray]) -> np.ndarray:
    return args[0].astype(np.float64).mean(axis=(1, 2), keepdims=True)


def _pool_extents(graph: Graph, node: Node) -> LoopExtents:
    return window_extents(graph, node, node.op.kernel, node.op.stride)


def _gap_extents(graph: Graph, node: Node) -> LoopExtents:
    shape = graph.tensors[node.inputs[0]].shape
    return window_extents(graph, node, (shape[1], shape[2]))


def _window_taps(layer: LayerShape) -> int:
    """One add per window tap (average pools)."""
    return layer.kernel_h * layer.kernel_w


def _compares(layer: LayerShape) -> int:
    """One compare per window tap after the first (MaxPool)."""
    return layer.kernel_h * layer.kernel_w - 1


#: Pools on a SIMD unit work on each output pixel's channel vectors: they load the ``KH·KW`` window vectors and
#: issue their ALU operations per window tap (an add each for averages, a max after the first tap for MaxPool).
_AVERAGE_VECTORS = VectorKernel(loads_per_output_vector=_window_taps, alu_per_output_vector=_window_taps,
                                per_pixel_channels=True)
_MAX_VECTORS = VectorKernel(loads_per_output_vector=_window_taps, alu_per_output_vector=_compares,
                            per_pixel_channels=True)


def _pool_yaml(graph: Graph, node: Node) -> dict[str, Any]:
    op = node.op
    if isinstance(op, MaxPool) and op.kernel == (1, 1) and op.stride == (1, 1) and op.activation != "NONE":
        return {"op": op.activation.lower()}  # a standalone ReLU / ReLU6 is a 1x1 MaxPool with the clamp
    fields = dict(op="avgpool" if isinstance(op, AvgPool) else "maxpool", kernel=list(op.kernel),
                  stride=list(op.stride), padding=yaml_padding(op.padding), activation=yaml_activation(op))
    if op.ceil_mode:
        fields["ceil_mode"] = True
    if op.count_include_pad:
        fields["count_include_pad"] = True
    return fields


def _gap_yaml(graph: Graph, node: Node) -> dict[str, Any]:
    return {"op": "gap"}


_ENGINE = EngineModule("accelsim.engine.pool")

AVG_POOL = register_op(OpDef(
    attrs=AvgPool, arity=(1, 1), infer_shape=_pool_shape, float_ref=_pool_float, engine=_ENGINE, ptq="inherit",
    cost=CostDescriptor(alu_ops_per_output=_window_taps, requant_per_output=one_per_output, extents=_pool_extents,
                        vector=_AVERAGE_VECTORS),
    to_yaml=_pool_yaml))
MAX_POOL = register_op(OpDef(
    attrs=MaxPool, arity=(1, 1), infer_shape=_pool_shape, float_ref=_pool_float, engine=_ENGINE, ptq="inherit",
    cost=CostDescriptor(alu_ops_per_output=_compares, requant_per_output=none_per_output, extents=_pool_extents,
                        preserves_quant=True, vector=_MAX_VECTORS),
    to_yaml=_pool_yaml))
GLOBAL_AVERAGE_POOL = register_op(OpDef(
    attrs=GlobalAveragePool, arity=(1, 1), infer_shape=_gap_shape, float_ref=_gap_float, engine=_ENGINE,
    ptq="inherit",
    cost=CostDescriptor(alu_ops_per_output=_window_taps, requant_per_output=one_per_output, extents=_gap_extents,
                        vector=_AVERAGE_VECTORS),
    to_yaml=_gap_yaml))
