"""Layout ops: Concat, Reshape, Flatten (views) and Pad."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.graph.ops.common import elementwise_extents, none_per_output, one_per_output
from accelsim.graph.ops.registry import CostDescriptor, EngineModule, OpDef, VectorKernel, register_op

if TYPE_CHECKING:
    from accelsim.graph.ir import Graph, Node


@dataclass(frozen=True)
class Concat:
    axis: int = -1
    kind = "Concat"


@dataclass(frozen=True)
class Reshape:
    shape: tuple[int, ...]
    kind = "Reshape"


@dataclass(frozen=True)
class Flatten:
    """NHWC -> (N, H·W·C)."""

    kind = "Flatten"


@dataclass(frozen=True)
class Pad:
    """Per-dimension (before, after) padding with the zero point (real 0)."""

    pads: tuple[tuple[int, int], ...]
    kind = "Pad"


def _concat_shape(op: Concat, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    rank = len(inputs[0])
    axis = op.axis % rank
    for s in inputs[1:]:
        if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, inputs[0])) if i != axis):
            raise ValueError(f"Concat inputs {inputs} differ outside axis {op.axis}")
    out = list(inputs[0])
    out[axis] = sum(s[axis] for s in inputs)
    return tuple(out)


def _reshape_shape(op: Reshape, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    shape = list(op.shape)
    total = math.prod(inputs[0])
    if shape.count(-1) == 1:
        known = math.prod(d for d in shape if d != -1)
        shape[shape.index(-1)] = total // known if known else 0
    if math.prod(shape) != total:
        raise ValueError(f"cannot reshape {inputs[0]} to {op.shape}")
    return tuple(shape)


def _flatten_shape(op: Flatten, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    return (inputs[0][0], math.prod(inputs[0][1:]))


def _pad_shape(op: Pad, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    if len(op.pads) != len(inputs[0]):
        raise ValueError(f"Pad has {len(op.pads)} (before, after) pairs for a {len(inputs[0])}-D input")
    return tuple(d + a + b for d, (a, b) in zip(inputs[0], op.pads))


def _concat_float(op: Concat, args: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(args, axis=op.axis)


def _reshape_float(op: Reshape, args: list[np.ndarray]) -> np.ndarray:
    return args[0].reshape((args[0].shape[0], *op.shape[1:]))   # the batch comes from the input


def _flatten_float(op: Flatten, args: list[np.ndarray]) -> np.ndarray:
    return args[0].reshape(args[0].shape[0], -1)


def _pad_float(op: Pad, args: list[np.ndarray]) -> np.ndarray:
    return np.pad(args[0], op.pads)


def _reshape_with_batch(op: Reshape, batch: int) -> Reshape:
    return Reshape((batch, *op.shape[1:]))


def _concat_yaml(graph: Graph, node: Node) -> dict[str, Any]:
    return dict(op="concat", axis=node.op.axis)


def _reshape_yaml(graph: Graph, node: Node) -> dict[str, Any]:
    return dict(op="reshape", shape=list(node.op.shape))


def _flatten_yaml(graph: Graph, node: Node) -> dict[str, Any]:
    return {"op": "flatten"}


def _pad_yaml(graph: Graph, node: Node) -> dict[str, Any]:
    return dict(op="pad", pads=[list(p) for p in node.op.pads])


_ENGINE = EngineModule("accelsim.engine.layout")
#: A view moves nothing: no ALU work, no rescale.
#: Concat and Pad on a SIMD unit: copies, one load and one store per output vector, no ALU instruction.
_COPY = VectorKernel(loads_per_output_vector=one_per_output, alu_per_output_vector=none_per_output)
_VIEW_COST = CostDescriptor(alu_ops_per_output=none_per_output, requant_per_output=none_per_output,
                            extents=elementwise_extents, is_view=True, preserves_quant=True)

CONCAT = register_op(OpDef(
    attrs=Concat, arity=(1, 64), infer_shape=_concat_shape, float_ref=_concat_float, engine=_ENGINE,
    ptq="calibrate",
    cost=CostDescriptor(alu_ops_per_output=one_per_output, requant_per_output=one_per_output,
                        extents=elementwise_extents, vector=_COPY),
    activation_inputs=None, keeps_dtype=False, to_yaml=_concat_yaml))
RESHAPE = register_op(OpDef(
    attrs=Reshape, arity=(1, 1), infer_shape=_reshape_shape, float_ref=_reshape_float, engine=_ENGINE,
    ptq="inherit", cost=_VIEW_COST, to_yaml=_reshape_yaml, with_batch=_reshape_with_batch))
FLATTEN = register_op(OpDef(
    attrs=Flatten, arity=(1, 1), infer_shape=_flatten_shape, float_ref=_flatten_float, engine=_ENGINE,
    ptq="inherit", cost=_VIEW_COST, to_yaml=_flatten_yaml))
PAD = register_op(OpDef(
    attrs=Pad, arity=(1, 1), infer_shape=_pad_shape, float_ref=_pad_float, engine=_ENGINE, ptq="inherit",
    cost=CostDescriptor(alu_ops_per_output=one_per_output, requant_per_output=none_per_output,
                        extents=elementwise_extents, preserves_quant=True, vector=_COPY),
    to_yaml=_pad_yaml))
