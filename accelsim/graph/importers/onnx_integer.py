"""ONNX import: ConvInteger and MatMulInteger, the ONNX ops whose output is the raw int32 accumulator.

ONNX operator spec ([ref:ONNXOps], opset 10+): ``ConvInteger(x, w, x_zero_point?, w_zero_point?)`` and
``MatMulInteger(A, B, a_zero_point?, b_zero_point?)`` return ``Σ (x − Z_x)·(w − Z_w)`` as int32, with no scale.
In the IR such a node is an ordinary Conv2D / FullyConnected whose operands have scale 1 and whose output is an
``int32`` tensor of scale ``S_x·S_w`` (= 1) and zero point 0, requantized with the ``fixed_point`` rule: the
multiplier is exactly 1.0 (``quantize_multiplier(1.0) = (2^30, 1)``), and ``MultiplyByQuantizedMultiplier``
with it returns its int64 input unchanged (``SRDHM(2x, 2^30) = x``), so the output is the accumulator itself,
clamped to int32 (the accumulator-width check reports any overflow). The weight zero point may be per output
channel (ConvInteger ``w_zero_point`` of M entries, MatMulInteger ``b_zero_point`` per column); the activation
zero point is per tensor (a per-row ``a_zero_point`` is refused unless its entries are equal).
"""
from __future__ import annotations

import numpy as np

from accelsim.graph.importers.onnx_context import OnnxContext
from accelsim.graph.importers.onnx_fusion import FusedNode
from accelsim.graph.importers.onnx_handlers import QUANT_TABLE, _conv_attrs, _emit_quant_conv, emit_matmul
from accelsim.graph.importers.onnx_qdq import ActQuant, ConstQuant, int_dtype
from accelsim.quant.params import QuantParams

#: The requantization mode of raw-accumulator outputs: exact for the multiplier 1.0 (module docstring).
RAW_ACCUMULATOR_REQUANT = "fixed_point"


def _raw_weights(ctx: OnnxContext, node, w_index: int, zp_index: int, channel_axis: int) -> ConstQuant:
    """The constant integer operand of ConvInteger / MatMulInteger with scale 1 and its zero point (scalar or
    one per output channel along ``channel_axis`` of the ONNX layout)."""
    w = np.asarray(ctx.const(node, node.input[w_index]))
    dtype = int_dtype(ctx.constants, node, w)
    if dtype not in ("uint8", "int8"):
        raise ctx.unsupported(node, f"weights of type {dtype}; supported: uint8, int8")
    zp = (np.asarray(ctx.const(node, node.input[zp_index])).astype(np.int64).reshape(-1)
          if len(node.input) > zp_index and node.input[zp_index] else np.zeros(1, np.int64))
    channels = w.shape[channel_axis]
    if zp.size == 1:
        return ConstQuant(w, dtype, QuantParams.per_tensor(1.0, int(zp[0])))
    if zp.size != channels:
        raise ctx.unsupported(node, f"a weight zero point of {zp.size} entries; supported: 1 or one per output "
                                    f"channel ({channels})")
    return ConstQuant(w, dtype, QuantParams.per_channel(np.ones(channels, np.float32), zp, channel_axis % w.ndim))


def _raw_output(x_quant: QuantParams) -> ActQuant:
    """int32 accumulator output: scale S_x·S_w with S_w = 1, zero point 0 (requant multiplier exactly 1)."""
    return ActQuant("int32", QuantParams.per_tensor(float(x_quant.scale[0]), 0))


@QUANT_TABLE.handles("ConvInteger")
def conv_integer(ctx: OnnxContext, f: FusedNode) -> None:
    """ConvInteger (x, w, x_zero_point, w_zero_point) -> int32 Conv2D accumulator."""
    node = f.node
    x = ctx.act(node, node.input[0])
    w = _raw_weights(ctx, node, 1, 3, channel_axis=0)
    if np.asarray(w.data).ndim != 4:
        raise ctx.unsupported(node, "only 2-D convolutions (4-D OIHW weights) are supported")
    from dataclasses import replace

    raw = replace(ctx, requant=RAW_ACCUMULATOR_REQUANT)
    _emit_quant_conv(raw, node, x, w, None, _conv_attrs(ctx, node), "NONE", node.output[0], _raw_output(x.quant))


@QUANT_TABLE.handles("MatMulInteger")
def matmul_integer(ctx: OnnxContext, f: FusedNode) -> None:
    """MatMulInteger (A, B, a_zero_point, b_zero_point) with a constant B -> int32 FullyConnected accumulator."""
    node = f.node
    if not ctx.is_const(node.input[1]):
        raise ctx.unsupported(node, "B is not a constant: an activation x activation MatMulInteger is not "
                                    "supported; nearest supported: MatMulInteger with a constant B (weights)")
    x = ctx.act(node, node.input[0])
    b_ndim = np.ndim(ctx.const(node, node.input[1]))
    w = _raw_weights(ctx, node, 1, 3, channel_axis=b_ndim - 1)
    emit_matmul(ctx, node, x, w, _raw_output(x.quant), requant=RAW_ACCUMULATOR_REQUANT)


@QUANT_TABLE.handles("Clip")
def integer_clip(ctx: OnnxContext, f: FusedNode) -> None:
    """A Clip on integers after a QOperator op (QLinearConv, QLinearAdd, a pool) with integer bounds: the
    producer's fused activation, when the bounds are exactly that activation's clamp
    (:func:`accelsim.quant.requant.activation_range` of NONE / RELU / RELU6 on the producer's output
    quantization, TFLite's rule [ref:TFLiteRef]); accelsim's ``export_onnx_qlinear`` writes fused activations
    this way. Other bounds are refused by name."""
    from dataclasses import replace as dc_replace

    from accelsim.graph.ir import Node, Tensor
    from accelsim.quant.requant import activation_range

    node = f.node
    bound_arrays = [np.asarray(ctx.const(node, n)) for n in node.input[1:3] if n]
    if node.attribute or not bound_arrays or any(a.dtype.kind not in "iu" for a in bound_arrays):
        raise ctx.unsupported(node, "a standalone activation is supported only when it directly follows Conv, "
                                    "Gemm, MatMul, BatchNormalization or Add (it is fused there), or as an integer "
                                    "Clip after a QOperator op")
    x = ctx.act(node, node.input[0])
    bounds = []
    for i in (1, 2):
        if len(node.input) > i and node.input[i]:
            bounds.append(int(np.asarray(ctx.const(node, node.input[i])).reshape(-1)[0]))
        else:
            bounds.append(None)
    b = ctx.builder
    producer = next((n for n in b.nodes if x.name in n.outputs), None)
    current = getattr(producer.op, "activation", None) if producer is not None else None
    readers = [n for n in b.nodes if x.name in n.inputs]
    if current != "NONE" or readers:
        raise ctx.unsupported(node, "an integer Clip is supported only directly after an op with a fused "
                                    "activation (QLinearConv, QLinearAdd, a pool) that nothing else reads")
    # Clip(min) without max is RELU; with both bounds RELU6 where they are its clamp (when RELU6's 6 lies beyond
    # the type's range its clamp equals RELU's, and accelsim's exporter writes RELU without max)
    for act in (("RELU",) if bounds[1] is None else ("RELU6", "RELU")):
        lo, hi = activation_range(act, x.quant, x.dtype)
        if bounds[0] in (lo, None) and bounds[1] in (hi, None):
            break
    else:
        raise ctx.unsupported(node, f"Clip({bounds[0]}, {bounds[1]}) on {x.dtype} (S={float(x.quant.scale[0])}, "
                                    f"Z={int(x.quant.zero_point[0])}) is no fused activation's clamp; supported: "
                                    f"the clamps of RELU and RELU6")
    out = ctx.ir(node.output[0])
    b.nodes[b.nodes.index(producer)] = Node(producer.name, dc_replace(producer.op, activation=act), producer.inputs,
                                           (out,), producer.requant)
    del b.tensors[x.name]
    b.tensors[out] = Tensor(out, x.shape, x.dtype, x.quant)
