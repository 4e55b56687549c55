"""Unary activation ops: HardSwish, HardSigmoid, Sigmoid (logistic), Tanh, LeakyReLU and PReLU.

Each op is elementwise on one activation input (PReLU also takes its slope, a constant broadcast over the last
(channel) axis). The integer arithmetic is chosen by the node's requantization mode (``accelsim.engine.activation``,
docs/arithmetic.md §8): ``fixed_point*`` follows LiteRT's reference kernels ([ref:TFLiteAct]),
``float32`` onnxruntime's float kernels and com.microsoft QLinear* lookup tables ([ref:ORTQuant]).

Cost: on 8-bit activations HardSwish, HardSigmoid, Sigmoid and Tanh run as a 256-entry lookup table that folds
the requantization in (8 HVX vlut32 per output vector, [ref:QEMUHexagon]; no scale-unit work); on 16-bit
activations they cost the reference kernel's element operations. LeakyReLU and PReLU cost their sign select,
zero points and clamps on the vector ALU and one rescale per output on the scale unit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.graph.ops.common import elementwise_extents, one_per_output
from accelsim.graph.ops.registry import CostDescriptor, EngineModule, OpDef, VectorKernel, register_op

if TYPE_CHECKING:
    from accelsim.graph.ir import Graph, Node
    from accelsim.hw.layer import LayerShape

#: Entries of the 8-bit lookup table a LUT-run activation uses (one per input code).
LUT_ENTRIES = 256
#: Table entries one HVX ``vlut32`` byte lookup reads ([ref:QEMUHexagon] ext.idef, V6_vlutvvb and V6_vlutvvb_oracc:
#: a 32-entry byte table segment per instruction, larger tables OR-accumulated segment by segment).
VLUT_TABLE_ENTRIES = 32
#: ALU instructions of one output vector of a 256-entry byte lookup: ``256 / 32 = 8`` vlut32(_or).
LUT_ALU_PER_VECTOR = LUT_ENTRIES // VLUT_TABLE_ENTRIES

#: Element operations per output of the reference fixed-point kernels on 16-bit data, counted from LiteRT's
#: reference sources ([ref:TFLiteAct]):
#: HardSwish (reference_ops::HardSwish): zero-point subtract, shift, 3 doubling high multiplies, 2 rounding
#: shifts, affine [-1, 1] -> [0, 1] (add + shift), zero-point add, 2 clamps = 12.
HARD_SWISH_WIDE_OPS = 12
#: Logistic / Tanh int16 (reference_integer_ops::Logistic / Tanh): multiply-round-shift (3), abs, index shift,
#: 2 table reads, fraction mask, interpolation multiply-add (2), sign select, final shift = 12.
SIGMOID_WIDE_OPS = 12
#: HardSigmoid on 16-bit data (no LiteRT kernel; ORT's float form): dequantize (2), multiply-add (2), 2 clamps,
#: quantize (2) = 8.
HARD_SIGMOID_WIDE_OPS = 8
#: LeakyReLU / PReLU (reference_ops::QuantizeLeakyRelu, BroadcastPrelu4DSlow): zero-point subtract, sign compare,
#: select, zero-point add, 2 clamps = 6 (PReLU: + the alpha zero-point subtract and the x·alpha multiply = 8);
#: the one rescale per output runs on the scale unit.
LEAKY_RELU_OPS = 6
PRELU_OPS = 8


def _as_float32(op: object, *fields: str) -> None:
    """Hold float attributes at float32 precision: every runtime (ONNX attributes, TFLite options) stores them so
    and computes with them so, and an op then round-trips through either format unchanged."""
    for name in fields:
        object.__setattr__(op, name, float(np.float32(getattr(op, name))))


@dataclass(frozen=True)
class HardSwish:
    """``x · relu6(x + 3) / 6`` (A. Howard et al., "Searching for MobileNetV3", ICCV 2019, §5.2)."""

    kind = "HardSwish"


@dataclass(frozen=True)
class HardSigmoid:
    """``max(0, min(1, alpha·x + beta))`` (ONNX HardSigmoid; PyTorch's Hardsigmoid is alpha 1/6, beta 0.5)."""

    alpha: float = 1.0 / 6.0
    beta: float = 0.5
    kind = "HardSigmoid"

    def __post_init__(self) -> None:
        _as_float32(self, "alpha", "beta")


@dataclass(frozen=True)
class Sigmoid:
    """The logistic function ``1 / (1 + exp(−x))``."""

    kind = "Sigmoid"


@dataclass(frozen=True)
class Tanh:
    """The hyperbolic tangent."""

    kind = "Tanh"


@dataclass(frozen=True)
class LeakyReLU:
    """``x`` for ``x ≥ 0``, ``alpha·x`` otherwise."""

    alpha: float = 0.01
    kind = "LeakyReLU"

    def __post_init__(self) -> None:
        _as_float32(self, "alpha")


@dataclass(frozen=True)
class PReLU:
    """``x`` for ``x ≥ 0``, ``slope·x`` otherwise; the slope (input 1) is a constant broadcast over the last axis
    (channels, NHWC) or a scalar."""

    kind = "PReLU"


# ---------------------------------------------------------------------------------------------- float forms
def hard_swish_float(x: np.ndarray) -> np.ndarray:
    return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0


def hard_sigmoid_float(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return np.clip(alpha * x + beta, 0.0, 1.0)


def sigmoid_float(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def leaky_relu_float(x: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(x >= 0, x, alpha * x)


def _same_shape(op: Any, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    return inputs[0]


def _prelu_shape(op: PReLU, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    x = inputs[0]
    if len(inputs) < 2:  # the activation alone (a workload layer before its slope constant is added)
        return x
    slope = inputs[1]
    size = int(np.prod(slope)) if slope else 1
    if size not in (1, x[-1]) or (size != 1 and any(d != 1 for d in slope[:-1]) and slope[-1] != size):
        raise ValueError(f"PReLU slope of shape {slope} does not broadcast over the channels of {x}; "
                         f"supported: a scalar or one slope per channel (last axis)")
    return x


def _float_ref(fn: Any) -> Any:
    return lambda op, args: fn(op, np.asarray(args[0], np.float64))


# ---------------------------------------------------------------------------------------------- costs
def _wide(layer: LayerShape) -> bool:
    return layer.activation_bits > 8


def _lut_or(ops: int) -> Any:
    """Per-output element ops: one table lookup on 8-bit data, else ``ops`` of the reference arithmetic."""
    return lambda layer: ops if _wide(layer) else 1


def _lut_or_vector(ops: int) -> Any:
    """Per output vector: 8 vlut32 on 8-bit data (:data:`LUT_ALU_PER_VECTOR`), else ``ops`` ALU instructions."""
    return lambda layer: ops if _wide(layer) else LUT_ALU_PER_VECTOR


def _no_requant(layer: LayerShape) -> int:
    """A LUT folds the requantization in; the 16-bit kernels rescale in their own arithmetic (counted as ALU)."""
    return 0


#: Output (scale, zero point) LiteRT prescribes, by storage type (activations.cc SigmoidPrepare / TanhPrepare and
#: the converter's quantizer, [ref:TFLiteAct]): LOGISTIC maps [0, 1) onto the type, TANH [−1, 1).
TFLITE_SIGMOID_OUTPUT = {"int8": (1.0 / 256, -128), "uint8": (1.0 / 256, 0), "int16": (1.0 / 32768, 0)}
TFLITE_TANH_OUTPUT = {"int8": (1.0 / 128, 0), "uint8": (1.0 / 128, 128), "int16": (1.0 / 32768, 0)}


def tflite_fixed_output(table: dict[str, tuple[float, int]]) -> Any:
    """Under the fixed-point (TFLite) modes the output parameters are the runtime's; onnxruntime calibrates."""
    return lambda op, dtype, mode: table.get(dtype) if mode.startswith("fixed_point") else None


def _lut_op(attrs: type, float_fn: Any, wide_ops: int, yaml_op: str, yaml_fields: Any = None,
            fixed_output: Any = None) -> OpDef:
    def to_yaml(graph: Graph, node: Node) -> dict[str, Any]:
        return dict(op=yaml_op, **(yaml_fields(node.op) if yaml_fields else {}))

    return register_op(OpDef(
        attrs=attrs, arity=(1, 1), infer_shape=_same_shape, float_ref=_float_ref(float_fn),
        engine=EngineModule("accelsim.engine.activation"), ptq="calibrate",
        cost=CostDescriptor(alu_ops_per_output=_lut_or(wide_ops), requant_per_output=_no_requant,
                            extents=elementwise_extents,
                            vector=VectorKernel(loads_per_output_vector=one_per_output,
                                                alu_per_output_vector=_lut_or_vector(wide_ops))),
        to_yaml=to_yaml, fixed_output=fixed_output))


HARD_SWISH = _lut_op(HardSwish, lambda op, x: hard_swish_float(x), HARD_SWISH_WIDE_OPS, "hardswish")
HARD_SIGMOID = _lut_op(HardSigmoid, lambda op, x: hard_sigmoid_float(x, op.alpha, op.beta), HARD_SIGMOID_WIDE_OPS,
                       "hardsigmoid", lambda op: dict(alpha=float(op.alpha), beta=float(op.beta)))
SIGMOID = _lut_op(Sigmoid, lambda op, x: sigmoid_float(x), SIGMOID_WIDE_OPS, "sigmoid",
                  fixed_output=tflite_fixed_output(TFLITE_SIGMOID_OUTPUT))
TANH = _lut_op(Tanh, lambda op, x: np.tanh(x), SIGMOID_WIDE_OPS, "tanh",
               fixed_output=tflite_fixed_output(TFLITE_TANH_OUTPUT))


def _rescale_one(layer: LayerShape) -> int:
    """One rescale per output: the identity or the alpha multiplier, by the input's sign (TFLite LEAKY_RELU /
    PRELU, [ref:TFLiteAct])."""
    return 1


def _leaky_yaml(graph: Graph, node: Node) -> dict[str, Any]:
    return dict(op="leaky_relu", alpha=float(node.op.alpha))


LEAKY_RELU = register_op(OpDef(
    attrs=LeakyReLU, arity=(1, 1), infer_shape=_same_shape,
    float_ref=_float_ref(lambda op, x: leaky_relu_float(x, op.alpha)),
    engine=EngineModule("accelsim.engine.activation"), ptq="calibrate",
    cost=CostDescriptor(alu_ops_per_output=lambda layer: LEAKY_RELU_OPS, requant_per_output=_rescale_one,
                        extents=elementwise_extents,
                        vector=VectorKernel(loads_per_output_vector=one_per_output,
                                            alu_per_output_vector=lambda layer: LEAKY_RELU_OPS)),
    to_yaml=_leaky_yaml))


def _prelu_float(op: PReLU, args: list[np.ndarray]) -> np.ndarray:
    x = np.asarray(args[0], np.float64)
    slope = np.asarray(args[1], np.float64).reshape(-1)
    return np.where(x >= 0, x, x * (slope if slope.size > 1 else slope[0]))


def _prelu_yaml(graph: Graph, node: Node) -> dict[str, Any]:
    """The workload form holds one slope for every channel: the mean of the node's (dequantized) slopes."""
    slope = graph.tensors[node.inputs[1]]
    if slope.data is None:
        return dict(op="prelu")
    values = np.asarray(slope.data, np.float64)
    if slope.quant is not None:
        values = (values - slope.quant.zero_point.astype(np.float64)) * slope.quant.scale.astype(np.float64)
    return dict(op="prelu", slope=float(np.mean(values)))


PRELU = register_op(OpDef(
    attrs=PReLU, arity=(2, 2), infer_shape=_prelu_shape, float_ref=_prelu_float,
    engine=EngineModule("accelsim.engine.activation"), ptq="calibrate",
    cost=CostDescriptor(alu_ops_per_output=lambda layer: PRELU_OPS, requant_per_output=_rescale_one,
                        extents=elementwise_extents,
                        vector=VectorKernel(loads_per_output_vector=one_per_output,
                                            alu_per_output_vector=lambda layer: PRELU_OPS)),
    activation_inputs=1, to_yaml=_prelu_yaml))
