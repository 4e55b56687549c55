"""Reduction ops: Softmax over one axis and Mean over any axes."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.graph.ops.common import one_per_output
from accelsim.graph.ops.geometry import as_nhwc
from accelsim.graph.ops.activation import TFLITE_SIGMOID_OUTPUT, tflite_fixed_output
from accelsim.graph.ops.registry import CostDescriptor, EngineModule, LoopExtents, OpDef, VectorKernel, register_op

if TYPE_CHECKING:
    from accelsim.graph.ir import Graph, Node
    from accelsim.hw.layer import LayerShape


@dataclass(frozen=True)
class Softmax:
    """``exp(β·(x − max)) / Σ exp(β·(x − max))`` along ``axis`` (TFLite SOFTMAX, ONNX Softmax opset 13)."""

    axis: int = -1
    beta: float = 1.0
    kind = "Softmax"


@dataclass(frozen=True)
class Mean:
    """The mean over ``axes`` (TFLite MEAN, ONNX ReduceMean); ``keepdims`` keeps them as size 1."""

    axes: tuple[int, ...]
    keepdims: bool = True
    kind = "Mean"


#: Graph metadata key: names of the Softmax nodes imported from onnxruntime's com.microsoft QLinearSoftmax, which
#: the engine's ``float32`` mode computes with that kernel's float lookup table (accelsim.engine.reduce).
ORT_QLINEAR_SOFTMAX_KEY = "onnx_qlinear_softmax_nodes"


def resolved_axes(axes: tuple[int, ...], rank: int) -> tuple[int, ...]:
    """``axes`` as sorted non-negative, distinct axes of a rank-``rank`` tensor; ValueError when out of range."""
    out = set()
    for a in axes:
        if not -rank <= a < rank:
            raise ValueError(f"axis {a} is out of range for a {rank}-D tensor")
        out.add(a % rank)
    return tuple(sorted(out))


def _softmax_shape(op: Softmax, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    resolved_axes((op.axis,), len(inputs[0]))
    return tuple(inputs[0])


def _mean_shape(op: Mean, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    x = inputs[0]
    axes = resolved_axes(op.axes, len(x))
    if not axes:
        raise ValueError("Mean needs at least one axis")
    if op.keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes)


def _softmax_float(op: Softmax, args: list[np.ndarray]) -> np.ndarray:
    x = args[0].astype(np.float64) * op.beta
    e = np.exp(x - x.max(axis=op.axis, keepdims=True))
    return e / e.sum(axis=op.axis, keepdims=True)


def _mean_float(op: Mean, args: list[np.ndarray]) -> np.ndarray:
    return args[0].astype(np.float64).mean(axis=resolved_axes(op.axes, args[0].ndim), keepdims=op.keepdims)


def _reduce_extents(graph: Graph, node: Node, reduced: int) -> LoopExtents:
    """A reduction over ``reduced`` elements per output, as a ``reduced × 1`` window over the flat output."""
    n, h, w, c = as_nhwc(graph.tensors[node.inputs[0]].shape)
    _, oh, ow, o = as_nhwc(graph.tensors[node.outputs[0]].shape)
    return LoopExtents(n, h, w, c, oh, ow, o, kernel_h=reduced)


def _softmax_extents(graph: Graph, node: Node) -> LoopExtents:
    shape = graph.tensors[node.inputs[0]].shape
    return _reduce_extents(graph, node, shape[node.op.axis % len(shape)])


def _mean_extents(graph: Graph, node: Node) -> LoopExtents:
    shape = graph.tensors[node.inputs[0]].shape
    return _reduce_extents(graph, node, math.prod(shape[a] for a in resolved_axes(node.op.axes, len(shape))))


def _taps(layer: LayerShape) -> int:
    """One add per reduced element (Mean) — the window height ``KH`` of the reduction's extents."""
    return layer.kernel_h * layer.kernel_w


#: Softmax per output element, as TFLite's integer kernel computes it ([ref:TFLiteRef] reference_ops::Softmax):
#: its share of the row max (1 compare), the difference and its rescale (2), exp (1 table lookup on a SIMD
#: unit with a gather LUT), its share of the row sum (1 add) and the product with the row's reciprocal (1
#: multiply): 6 ALU operations; the one reciprocal per row is amortised over the row.
SOFTMAX_ALU_PER_OUTPUT = 6


def _softmax_alu(layer: LayerShape) -> int:
    return SOFTMAX_ALU_PER_OUTPUT


def _two_loads(layer: LayerShape) -> int:
    """Softmax reads its input twice: once for the row max and sum, once for the outputs."""
    return 2


def _softmax_yaml(graph: Graph, node: Node) -> dict[str, Any]:
    return dict(op="softmax", axis=node.op.axis, beta=node.op.beta)


def _mean_yaml(graph: Graph, node: Node) -> dict[str, Any]:
    return dict(op="mean", axes=list(node.op.axes), keepdims=node.op.keepdims)


_ENGINE = EngineModule("accelsim.engine.reduce")

SOFTMAX = register_op(OpDef(
    attrs=Softmax, arity=(1, 1), infer_shape=_softmax_shape, float_ref=_softmax_float, engine=_ENGINE,
    ptq="calibrate",
    cost=CostDescriptor(alu_ops_per_output=_softmax_alu, requant_per_output=one_per_output,
                        extents=_softmax_extents,
                        vector=VectorKernel(loads_per_output_vector=_two_loads, alu_per_output_vector=_softmax_alu)),
    keeps_dtype=False, to_yaml=_softmax_yaml,  # TFLite: int8 input -> int8 or int16 output
    # probabilities in [0, 1): under the TFLite modes LOGISTIC's prescribed output parameters ([ref:TFLiteAct])
    fixed_output=tflite_fixed_output(TFLITE_SIGMOID_OUTPUT)))
#: Mean: one add per reduced element and one rescale per output (TFLite MEAN folds 1/n into its multiplier,
#: [ref:TFLiteRef]); a SIMD unit loads the ``n`` input vectors of each output vector.
MEAN = register_op(OpDef(
    attrs=Mean, arity=(1, 1), infer_shape=_mean_shape, float_ref=_mean_float, engine=_ENGINE, ptq="calibrate",
    cost=CostDescriptor(alu_ops_per_output=_taps, requant_per_output=one_per_output, extents=_mean_extents,
                        vector=VectorKernel(loads_per_output_vector=_taps, alu_per_output_vector=_taps)),
    to_yaml=_mean_yaml))
