"""TEMPORARY (issue 13, helper P7): minimal stand-ins for the contract's HardSwish / HardSigmoid / Sigmoid / Mul
ops and their workload-YAML layer types, so the new zoo networks build in this branch before P1 / P2 land.
Shape rules and float references only (no engine, cost = one ALU op per output). The lead drops this commit at
merge; the real ops live in accelsim/graph/ops/activation.py and elementwise.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from accelsim.graph.ops.common import elementwise_extents, inputs_per_output, one_per_output
from accelsim.graph.ops.registry import CostDescriptor, EngineModule, OpDef, VectorKernel, op_def, register_op
from accelsim.workloads import yaml_format as Y


@dataclass(frozen=True)
class HardSwish:
    kind = "HardSwish"


@dataclass(frozen=True)
class HardSigmoid:
    alpha: float = 1 / 6
    beta: float = 0.5
    kind = "HardSigmoid"


@dataclass(frozen=True)
class Sigmoid:
    kind = "Sigmoid"


@dataclass(frozen=True)
class Mul:
    kind = "Mul"


def _same(op: object, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    return inputs[0]


def _broadcast(op: object, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    return tuple(np.broadcast_shapes(*inputs))


_FLOAT = {
    "HardSwish": lambda op, a: a[0] * np.clip(a[0] + 3.0, 0.0, 6.0) / 6.0,
    "HardSigmoid": lambda op, a: np.clip(op.alpha * a[0] + op.beta, 0.0, 1.0),
    "Sigmoid": lambda op, a: 1.0 / (1.0 + np.exp(-a[0])),
    "Mul": lambda op, a: a[0] * a[1],
}


def _register(attrs: type, arity: tuple[int, int], shape, yaml_op: str) -> None:
    try:
        op_def(attrs.kind)
        return  # the real op exists
    except Exception:
        pass
    register_op(OpDef(
        attrs=attrs, arity=arity, infer_shape=shape, float_ref=_FLOAT[attrs.kind],
        engine=EngineModule("accelsim.engine.elementwise"), ptq="inherit",  # synthetic.py rule
        cost=CostDescriptor(alu_ops_per_output=one_per_output, requant_per_output=one_per_output,
                            extents=elementwise_extents,
                            vector=VectorKernel(loads_per_output_vector=inputs_per_output,
                                                alu_per_output_vector=one_per_output)),
        activation_inputs=arity[1], to_yaml=lambda g, n: dict(op=yaml_op)))


_register(HardSwish, (1, 1), _same, "hardswish")
_register(HardSigmoid, (1, 1), _same, "hardsigmoid")
_register(Sigmoid, (1, 1), _same, "sigmoid")
_register(Mul, (2, 2), _broadcast, "mul")


class _UnaryLayer(Y._Layer):
    op: Literal["hardswish", "hardsigmoid", "sigmoid"]
    needs_4d: ClassVar[bool] = False

    def to_op(self, in_shapes):
        return {"hardswish": HardSwish(), "hardsigmoid": HardSigmoid(), "sigmoid": Sigmoid()}[self.op], None


class _MulLayer(Y._Layer):
    op: Literal["mul"]
    arity: ClassVar[tuple[int, int]] = (2, 2)
    needs_4d: ClassVar[bool] = False
    shape_key: ClassVar[str | None] = "inputs"

    def to_op(self, in_shapes):
        return Mul(), None


for _name, _cls in (("hardswish", _UnaryLayer), ("hardsigmoid", _UnaryLayer), ("sigmoid", _UnaryLayer),
                    ("mul", _MulLayer)):
    Y.LAYER_TYPES.setdefault(_name, _cls)
