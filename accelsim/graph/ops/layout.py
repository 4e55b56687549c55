"""Layout ops: Concat, Reshape, Flatten (views), Pad and the data-movement ops Transpose, Slice (strided) and
Gather (constant indices).

Transpose, Slice and Gather move integers without arithmetic: the output codes equal the selected input codes and
the output keeps the input's (scale, zero point) (TFLite TRANSPOSE / SLICE / STRIDED_SLICE / GATHER reference
kernels and ONNX Transpose / Slice / Gather, [ref:TFLiteRef], [ref:ONNXLayoutOps]). Split is imported as one Slice per
output, so the IR needs no multi-output node.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.graph.ops.common import elementwise_extents, none_per_output, one_per_output
from accelsim.graph.ops.registry import CostDescriptor, EngineModule, OpDef, VectorKernel, register_op

if TYPE_CHECKING:
    from accelsim.graph.ir import Graph, Node
    from accelsim.hw.layer import LayerShape


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


@dataclass(frozen=True)
class Transpose:
    """Output axis ``i`` is input axis ``perm[i]`` (numpy / ONNX / TFLite convention)."""

    perm: tuple[int, ...]
    kind = "Transpose"


@dataclass(frozen=True)
class Slice:
    """Per axis: ``size`` elements starting at ``begin`` with step ``strides`` (empty: all 1); element ``j`` of
    axis ``a`` is input element ``begin[a] + j·strides[a]``. ``size`` −1: to the end of the axis (step 1 only).
    Covers TFLite SLICE and STRIDED_SLICE, ONNX Slice and each output of Split."""

    begin: tuple[int, ...]
    size: tuple[int, ...]
    strides: tuple[int, ...] = ()
    kind = "Slice"


@dataclass(frozen=True)
class Gather:
    """Take the constant ``indices`` along ``axis``; a scalar (``int``) index drops the axis (ONNX Gather with a
    0-D index), a tuple keeps it with ``len(indices)`` entries. Negative indices count from the end."""

    axis: int
    indices: tuple[int, ...] | int
    kind = "Gather"


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


def _transpose_shape(op: Transpose, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    x = inputs[0]
    if sorted(op.perm) != list(range(len(x))):
        raise ValueError(f"Transpose perm {op.perm} is not a permutation of the {len(x)} axes of {x}")
    return tuple(x[p] for p in op.perm)


def slice_steps(op: Slice, shape: tuple[int, ...]) -> tuple[tuple[int, int, int], ...]:
    """Per axis ``(begin, size, step)`` with ``size`` −1 resolved; ValueError when the slice leaves the tensor."""
    if len(op.begin) != len(shape) or len(op.size) != len(shape) or len(op.strides) not in (0, len(shape)):
        raise ValueError(f"Slice begin {op.begin} / size {op.size} / strides {op.strides} do not match the "
                         f"{len(shape)} axes of {shape}")
    out = []
    for axis, dim in enumerate(shape):
        b, n = op.begin[axis], op.size[axis]
        step = op.strides[axis] if op.strides else 1
        if step == 0:
            raise ValueError(f"Slice step 0 on axis {axis}")
        if n == -1:
            if step != 1:
                raise ValueError(f"Slice size -1 needs step 1 (axis {axis})")
            n = dim - b
        last = b + (n - 1) * step
        if n < 0 or (n > 0 and not (0 <= b < dim and 0 <= last < dim)):
            raise ValueError(f"Slice begin {b}, size {n}, step {step} leaves axis {axis} of {shape}")
        out.append((b, n, step))
    return tuple(out)


def slice_index(op: Slice, shape: tuple[int, ...]) -> tuple[slice, ...]:
    """The numpy basic index of a Slice on an input of ``shape``."""
    index = []
    for b, n, step in slice_steps(op, shape):
        end = b + n * step
        index.append(slice(b, None if end < 0 else end, step) if n else slice(0, 0))
    return tuple(index)


def _slice_shape(op: Slice, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    return tuple(n for _, n, _ in slice_steps(op, inputs[0]))


def gather_indices(op: Gather, shape: tuple[int, ...]) -> np.ndarray | int:
    """The non-negative indices of a Gather on ``shape``; ValueError when one is out of range."""
    axis = op.axis % len(shape)
    dim = shape[axis]
    idx = np.asarray(op.indices, np.int64)
    if np.any(idx < -dim) or np.any(idx >= dim):
        raise ValueError(f"Gather indices {op.indices} out of range for axis {op.axis} of {shape}")
    idx = np.where(idx < 0, idx + dim, idx)
    return int(idx) if idx.ndim == 0 else idx


def _gather_shape(op: Gather, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    x = inputs[0]
    if not -len(x) <= op.axis < len(x):
        raise ValueError(f"Gather axis {op.axis} outside the {len(x)} axes of {x}")
    idx = gather_indices(op, x)
    axis = op.axis % len(x)
    middle = () if isinstance(idx, int) else (len(idx),)
    return (*x[:axis], *middle, *x[axis + 1:])


def _concat_float(op: Concat, args: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(args, axis=op.axis)


def _reshape_float(op: Reshape, args: list[np.ndarray]) -> np.ndarray:
    return args[0].reshape((args[0].shape[0], *op.shape[1:]))   # the batch comes from the input


def _flatten_float(op: Flatten, args: list[np.ndarray]) -> np.ndarray:
    return args[0].reshape(args[0].shape[0], -1)


def _pad_float(op: Pad, args: list[np.ndarray]) -> np.ndarray:
    return np.pad(args[0], op.pads)


def _transpose_float(op: Transpose, args: list[np.ndarray]) -> np.ndarray:
    return np.transpose(args[0], op.perm)


def _slice_float(op: Slice, args: list[np.ndarray]) -> np.ndarray:
    return args[0][slice_index(op, args[0].shape)]


def _gather_float(op: Gather, args: list[np.ndarray]) -> np.ndarray:
    return np.take(args[0], gather_indices(op, args[0].shape), axis=op.axis % args[0].ndim)


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


def _transpose_yaml(graph: Graph, node: Node) -> dict[str, Any]:
    return dict(op="transpose", perm=list(node.op.perm))


def _slice_yaml(graph: Graph, node: Node) -> dict[str, Any]:
    out = dict(op="slice", begin=list(node.op.begin), size=list(node.op.size))
    if node.op.strides:
        out["strides"] = list(node.op.strides)
    return out


def _gather_yaml(graph: Graph, node: Node) -> dict[str, Any]:
    idx = node.op.indices
    return dict(op="gather", axis=node.op.axis, indices=idx if isinstance(idx, int) else list(idx))


def _two_per_output(layer: LayerShape) -> int:
    return 2


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

#: On a unit without vector instructions (the scale unit) each output element is one move (alu_ops_per_output 1),
#: as for Concat and Pad. Slice and Gather on a SIMD unit copy the selected rows: one load and one store per output
#: vector, no ALU work (the address arithmetic of a strided / gathered row runs on the scalar slots in parallel,
#: like Concat's copy).
#: Transpose assembles each output vector from two source vectors with one two-input vector shuffle (Hexagon
#: HVX vshuff / vdeal on the permute resource, [ref:HVXPRM], [ref:QEMUHexagon]): 2 loads + 1 permute per output
#: vector; exact for a two-group interleave (a channel shuffle with 2 groups), a lower bound for permutations
#: that gather from more vectors.
_TRANSPOSE_VECTORS = VectorKernel(loads_per_output_vector=_two_per_output, alu_per_output_vector=one_per_output)
_MOVE_COST = CostDescriptor(alu_ops_per_output=one_per_output, requant_per_output=none_per_output,
                            extents=elementwise_extents, preserves_quant=True, vector=_COPY)

TRANSPOSE = register_op(OpDef(
    attrs=Transpose, arity=(1, 1), infer_shape=_transpose_shape, float_ref=_transpose_float, engine=_ENGINE,
    ptq="inherit",
    cost=CostDescriptor(alu_ops_per_output=one_per_output, requant_per_output=none_per_output,
                        extents=elementwise_extents, preserves_quant=True, vector=_TRANSPOSE_VECTORS),
    to_yaml=_transpose_yaml))
SLICE = register_op(OpDef(
    attrs=Slice, arity=(1, 1), infer_shape=_slice_shape, float_ref=_slice_float, engine=_ENGINE, ptq="inherit",
    cost=_MOVE_COST, to_yaml=_slice_yaml))
GATHER = register_op(OpDef(
    attrs=Gather, arity=(1, 1), infer_shape=_gather_shape, float_ref=_gather_float, engine=_ENGINE, ptq="inherit",
    cost=_MOVE_COST, to_yaml=_gather_yaml))
