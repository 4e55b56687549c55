"""Elementwise binary ops: Add, Sub, Mul, with numpy broadcasting of their two NHWC inputs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.graph.ops.common import inputs_per_output, one_per_output
from accelsim.graph.ops.geometry import Activation, apply_activation, as_nhwc, yaml_activation
from accelsim.graph.ops.registry import CostDescriptor, EngineModule, LoopExtents, OpDef, VectorKernel, register_op

if TYPE_CHECKING:
    from accelsim.graph.ir import Graph, Node
    from accelsim.hw.layer import LayerShape


@dataclass(frozen=True)
class Add:
    activation: Activation = "NONE"
    kind = "Add"


@dataclass(frozen=True)
class Sub:
    """``a − b`` (TFLite SUB, ONNX Sub)."""

    activation: Activation = "NONE"
    kind = "Sub"


@dataclass(frozen=True)
class Mul:
    """``a · b`` (TFLite MUL, ONNX Mul / com.microsoft QLinearMul)."""

    activation: Activation = "NONE"
    kind = "Mul"


BinaryOp = Add | Sub | Mul

#: Graph metadata key the ONNX importer sets on QDQ models: onnxruntime on x86-64 runs their int8 QDQ groups as
#: uint8 (QDQS8ToU8Transformer: values and zero points + 128; session option session.qdqisint8allowed defaults to
#: 0 there, [ref:ORT]); the engine reproduces it where the arithmetic is not shift-invariant (QLinearAdd).
ORT_S8_AS_U8_KEY = "onnx_qdq_int8_as_uint8"


def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...], what: str = "binary op") -> tuple[int, ...]:
    """The numpy broadcast of two shapes (right-aligned; a dimension of 1 stretches); ValueError otherwise."""
    try:
        return tuple(int(d) for d in np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        raise ValueError(f"{what} inputs do not broadcast: {tuple(a)} vs {tuple(b)}") from None


def _binary_shape(op: BinaryOp, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    return broadcast_shape(inputs[0], inputs[1], op.kind)


def _add_float(op: Add, args: list[np.ndarray]) -> np.ndarray:
    return apply_activation(args[0].astype(np.float64) + args[1], op.activation)


def _sub_float(op: Sub, args: list[np.ndarray]) -> np.ndarray:
    return apply_activation(args[0].astype(np.float64) - args[1], op.activation)


def _mul_float(op: Mul, args: list[np.ndarray]) -> np.ndarray:
    return apply_activation(args[0].astype(np.float64) * args[1], op.activation)


def binary_extents(graph: Graph, node: Node) -> LoopExtents:
    """Loop extents of a broadcasting binary op: one pass over its output (a broadcast input is re-read)."""
    n, h, w, c = as_nhwc(graph.tensors[node.outputs[0]].shape)
    return LoopExtents(n, h, w, c, h, w, c)


def _add_rescales(layer: LayerShape) -> int:
    """TFLite ADD / SUB rescale each input and then the sum ([ref:TFLiteRef]): ``inputs + 1`` per output."""
    return layer.num_inputs + 1


def _binary_yaml(graph: Graph, node: Node) -> dict[str, Any]:
    return dict(op=node.op.kind.lower(), activation=yaml_activation(node.op))


#: A SIMD unit loads one vector of each input and issues one ALU instruction (add, subtract or multiply) per
#: output vector; the rescales run on the scale unit (``requant_per_output``).
_BINARY_VECTORS = VectorKernel(loads_per_output_vector=inputs_per_output, alu_per_output_vector=one_per_output)
_ENGINE = EngineModule("accelsim.engine.elementwise")

ADD = register_op(OpDef(
    attrs=Add, arity=(2, 2), infer_shape=_binary_shape, float_ref=_add_float, engine=_ENGINE, ptq="calibrate",
    cost=CostDescriptor(alu_ops_per_output=one_per_output, requant_per_output=_add_rescales,
                        extents=binary_extents, vector=_BINARY_VECTORS),
    activation_inputs=2, to_yaml=_binary_yaml))
SUB = register_op(OpDef(
    attrs=Sub, arity=(2, 2), infer_shape=_binary_shape, float_ref=_sub_float, engine=_ENGINE, ptq="calibrate",
    cost=CostDescriptor(alu_ops_per_output=one_per_output, requant_per_output=_add_rescales,
                        extents=binary_extents, vector=_BINARY_VECTORS),
    activation_inputs=2, to_yaml=_binary_yaml))
#: TFLite MUL multiplies the two zero-point-corrected inputs and rescales the product once
#: (reference_integer_ops::Mul, [ref:TFLiteRef]): one rescale per output.
MUL = register_op(OpDef(
    attrs=Mul, arity=(2, 2), infer_shape=_binary_shape, float_ref=_mul_float, engine=_ENGINE, ptq="calibrate",
    cost=CostDescriptor(alu_ops_per_output=one_per_output, requant_per_output=one_per_output,
                        extents=binary_extents, vector=_BINARY_VECTORS),
    activation_inputs=2, to_yaml=_binary_yaml))
