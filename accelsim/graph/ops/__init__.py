"""Op attributes of the graph IR (one frozen dataclass per op kind) and the op registry.

Each op family module registers an :class:`~accelsim.graph.ops.registry.OpDef` per op; see
``docs/architecture.md`` ("Adding an op"). Layouts: activations NHWC; conv weights OHWI with I = C_in / groups
(depthwise: ``(C_in·mult, KH, KW, 1)``, TFLite order); FC weights ``(O, I)``.
"""
from __future__ import annotations

from typing import Union

from accelsim.graph.ops.activation import HardSigmoid, HardSwish, LeakyReLU, PReLU, Sigmoid, Tanh
from accelsim.graph.ops.conv import Conv2D, FullyConnected, is_depthwise
from accelsim.graph.ops.elementwise import Add, Mul, Sub
from accelsim.graph.ops.geometry import Activation, Padding
from accelsim.graph.ops.layout import Concat, Flatten, Gather, Pad, Reshape, Slice, Transpose
from accelsim.graph.ops.pool import AvgPool, GlobalAveragePool, MaxPool
from accelsim.graph.ops.resize import Resize
from accelsim.graph.ops.reduce import Mean, Softmax
from accelsim.graph.ops.registry import (
    CostDescriptor, EngineModule, LoopExtents, OpDef, OpRegistrationError, op_def, op_def_of, register_op,
    registered_ops, unregister_op,
)

Op = Union[Conv2D, FullyConnected, Add, Sub, Mul, AvgPool, MaxPool, GlobalAveragePool, Concat, Reshape, Flatten, Pad,
           Softmax, Mean, Transpose, Slice, Gather, HardSwish, HardSigmoid, Sigmoid, Tanh, LeakyReLU, PReLU, Resize]

#: Attribute class of every built-in op by kind.
OP_TYPES: dict[str, type] = {d.kind: d.attrs for d in registered_ops()}

#: Ops whose output is an integer accumulator requantized by a scale unit (those with a MAC count).
MAC_OPS: tuple[str, ...] = tuple(d.kind for d in registered_ops() if d.is_mac)

#: Ops that are free views of their input (no cycles, no traffic).
VIEW_OPS: tuple[str, ...] = tuple(d.kind for d in registered_ops() if d.cost.is_view)

__all__ = [
    "Activation", "Add", "AvgPool", "Concat", "Conv2D", "CostDescriptor", "EngineModule", "Flatten",
    "FullyConnected", "GlobalAveragePool", "LoopExtents", "MAC_OPS", "MaxPool", "Mean", "Mul", "OP_TYPES", "Op",
    "OpDef", "OpRegistrationError", "Pad", "Padding", "Reshape", "VIEW_OPS", "Transpose", "Slice", "Gather",
    "is_depthwise", "op_def", "op_def_of", "register_op", "registered_ops", "Softmax", "Sub", "unregister_op",
    "HardSigmoid", "HardSwish", "LeakyReLU", "PReLU", "Sigmoid", "Tanh", "Resize",
]
