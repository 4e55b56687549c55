"""Elementwise ops: Add."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.graph.ops.common import elementwise_extents, inputs_per_output, one_per_output
from accelsim.graph.ops.geometry import Activation, apply_activation, yaml_activation
from accelsim.graph.ops.registry import CostDescriptor, EngineModule, OpDef, VectorKernel, register_op

if TYPE_CHECKING:
    from accelsim.graph.ir import Graph, Node
    from accelsim.hw.layer import LayerShape


@dataclass(frozen=True)
class Add:
    activation: Activation = "NONE"
    kind = "Add"


def _add_shape(op: Add, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    if inputs[0] != inputs[1]:
        raise ValueError(f"Add inputs differ in shape: {inputs[0]} vs {inputs[1]}")
    return inputs[0]


def _add_float(op: Add, args: list[np.ndarray]) -> np.ndarray:
    return apply_activation(args[0].astype(np.float64) + args[1], op.activation)


def _add_rescales(layer: LayerShape) -> int:
    """TFLite ADD rescales each input and then the sum ([ref:TFLiteRef]): ``inputs + 1`` per output."""
    return layer.num_inputs + 1


def _add_yaml(graph: Graph, node: Node) -> dict[str, Any]:
    return dict(op="add", activation=yaml_activation(node.op))


ADD = register_op(OpDef(
    attrs=Add, arity=(2, 2), infer_shape=_add_shape, float_ref=_add_float,
    engine=EngineModule("accelsim.engine.elementwise"), ptq="calibrate",
    cost=CostDescriptor(alu_ops_per_output=one_per_output, requant_per_output=_add_rescales,
                        extents=elementwise_extents,
                        vector=VectorKernel(loads_per_output_vector=inputs_per_output,
                                            alu_per_output_vector=one_per_output)),
    activation_inputs=2, to_yaml=_add_yaml))
