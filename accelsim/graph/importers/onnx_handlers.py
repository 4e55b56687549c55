"""ONNX import, pass 3: the built-in handlers, one small function per ONNX op type, float and quantized.

Each handler takes the :class:`~accelsim.graph.importers.onnx_context.OnnxContext` and a
:class:`~accelsim.graph.importers.onnx_fusion.FusedNode` and adds IR nodes through the context. Each handler is
entered in the float and/or quantized table by the decorator above it; ``accelsim.graph.importers.onnx``
dispatches on those tables.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from accelsim.graph import ops as O
from accelsim.graph.bias import bias_quant_params
from accelsim.graph.importers.onnx_context import OnnxContext
from accelsim.graph.importers.onnx_fusion import FusedNode
from accelsim.graph.importers.onnx_qdq import ActQuant, ConstQuant, int_dtype, onnx_attrs, q_params
from accelsim.graph.importers.tables import HandlerTable
from accelsim.graph.ir import Tensor
from accelsim.quant.bnfold import fold_batch_norm
from accelsim.quant.params import QuantParams, dtype_info

#: An ONNX import handler: adds the IR nodes of one (fused) ONNX node through the context.
OnnxHandler = Callable[[OnnxContext, FusedNode], None]
#: The built-in handlers register themselves with ``@FLOAT_TABLE.handles(op_type)`` /
#: ``@QUANT_TABLE.handles(op_type)``; dispatch reads ``FLOAT_HANDLERS`` / ``QUANT_HANDLERS``.
FLOAT_TABLE = HandlerTable("float ONNX import handler")
QUANT_TABLE = HandlerTable("quantized ONNX import handler")
FLOAT_HANDLERS: dict[str, OnnxHandler] = FLOAT_TABLE.entries
QUANT_HANDLERS: dict[str, OnnxHandler] = QUANT_TABLE.entries


class ConvAttrs(NamedTuple):
    """The geometry of an ONNX Conv / QLinearConv."""

    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: O.Padding
    group: int


# ------------------------------------------------------------------------------------------------- layouts
def nchw_to_nhwc(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[0], shape[2], shape[3], shape[1]) if len(shape) == 4 else tuple(shape)


def nhwc_to_nchw(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[0], shape[3], shape[1], shape[2]) if len(shape) == 4 else tuple(shape)


def nchw_axis(axis: int, rank: int) -> int:
    """The NHWC axis of an NCHW axis (identity for ranks other than 4)."""
    axis %= rank
    return (0, 3, 1, 2)[axis] if rank == 4 else axis


def _is_channel_bias(shape: tuple[int, ...], channels: int, conv: bool) -> bool:
    """A constant that ONNX broadcasts along the channel axis: (1, C, 1, 1) / (C, 1, 1) for NCHW conv outputs,
    (C,) / (1, C) for FC outputs."""
    dims = list(shape)
    if math.prod(dims) != channels:
        return False
    if conv:
        return len(dims) >= 3 and dims[-3] == channels
    return len(dims) >= 1 and dims[-1] == channels


# ------------------------------------------------------------------------------------------------- shared
def _padding(ctx: OnnxContext, node, attrs: dict) -> O.Padding:
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
    if auto_pad == "SAME_UPPER":
        return "SAME"
    if auto_pad == "VALID":
        return "VALID"
    if auto_pad != "NOTSET":
        raise ctx.unsupported(node, f"auto_pad={auto_pad} is not supported; supported: NOTSET (explicit pads), "
                                    f"SAME_UPPER, VALID")
    pads = tuple(int(p) for p in attrs.get("pads", (0, 0, 0, 0)))
    if len(pads) != 4 or any(p < 0 for p in pads):
        raise ctx.unsupported(node, f"pads={list(pads)} is not supported; supported: 4 non-negative values")
    top, left, bottom, right = pads
    return (top, bottom, left, right)


def _conv_attrs(ctx: OnnxContext, node) -> ConvAttrs:
    attrs = onnx_attrs(node)
    strides = tuple(int(s) for s in attrs.get("strides", (1, 1)))
    dilations = tuple(int(d) for d in attrs.get("dilations", (1, 1)))
    group = int(attrs.get("group", 1))
    if len(strides) != 2 or len(dilations) != 2:
        raise ctx.unsupported(node, "only 2-D convolutions (4-D NCHW input) are supported")
    return ConvAttrs(strides, dilations, _padding(ctx, node, attrs), group)


def _fold_chain(ctx: OnnxContext, f: FusedNode, w: np.ndarray, b: np.ndarray | None, out_axis_len: int,
                conv: bool) -> tuple[np.ndarray, np.ndarray | None, O.Activation]:
    """Fold the fused BatchNormalization / constant Add nodes into float weights and bias; then the activation."""
    out = f.node.output[0]
    for nxt in f.folded:
        if nxt.op_type == "BatchNormalization":
            attrs = onnx_attrs(nxt)
            if int(attrs.get("training_mode", 0)):
                raise ctx.unsupported(nxt, "training_mode=1 is not supported; export in eval mode")
            gamma, beta, mean, var = (np.asarray(ctx.const(nxt, n), np.float32).reshape(-1) for n in nxt.input[1:5])
            w, b = fold_batch_norm(w, b, gamma, beta, mean, var, float(attrs.get("epsilon", 1e-5)), 0)
        else:
            other = nxt.input[1] if nxt.input[0] == out else nxt.input[0]
            c = np.asarray(ctx.constants.values[ctx.canon(other)], np.float32)
            if not _is_channel_bias(c.shape, out_axis_len, conv):
                raise ctx.unsupported(nxt, f"a constant Add after a Conv/Gemm/MatMul must be a per-channel bias "
                                           f"of {out_axis_len} values, got shape {c.shape}")
            b = c.reshape(-1) if b is None else b + c.reshape(-1)
        out = nxt.output[0]
    return w, b, ctx.activation(f)


def _quant_bias(ctx: OnnxContext, node, b_name: str, x_quant: QuantParams, w_quant: QuantParams,
                channels: int) -> np.ndarray:
    """int32 bias: a DequantizeLinear'd int32 initializer as stored, or a float bias quantized at S_x·S_w."""
    bq = ctx.quant.const.get(ctx.canon(b_name))
    if bq is not None:
        data = np.asarray(bq.data).astype(np.int64).reshape(-1)
    else:
        b = np.asarray(ctx.const(node, b_name), np.float64).reshape(-1)
        scale = bias_quant_params(x_quant, w_quant).scale.astype(np.float64)
        data = np.rint(b / scale)
    if data.shape[0] != channels:
        raise ctx.unsupported(node, f"bias has {data.shape[0]} values for {channels} output channels")
    return np.clip(data, -(1 << 31), (1 << 31) - 1).astype(np.int32)


def _qdq_weights(ctx: OnnxContext, node, w_name: str, what: str) -> ConstQuant:
    wq = ctx.quant.const.get(ctx.canon(w_name))
    if wq is None:
        raise ctx.unsupported(node, f"in a quantized model the {what} must be a DequantizeLinear of an integer "
                                    f"initializer")
    return wq


def _out_q(ctx: OnnxContext, node, out: str, given: ActQuant | None) -> tuple[str, QuantParams | None]:
    return (given.dtype, given.quant) if given is not None else ctx.out_quant(node, out)


def _emit_quant_conv(ctx: OnnxContext, node, x: Tensor, w: ConstQuant, bias: np.ndarray | None, conv: ConvAttrs,
                     act: O.Activation, out: str, out_q: ActQuant | None = None) -> None:
    if w.quant.per_channel_quantized and w.quant.axis != 0:
        raise ctx.unsupported(node, f"per-axis conv weights along axis {w.quant.axis}; supported: axis 0")
    w_ohwi = np.ascontiguousarray(np.asarray(w.data).transpose(0, 2, 3, 1)).astype(dtype_info(w.dtype).storage)
    b = ctx.builder
    inputs = [x.name, b.add_const(f"{node.name or 'conv'}_weights", w_ohwi, w.dtype, w.quant)]
    if bias is not None:
        inputs.append(b.add_const(f"{node.name or 'conv'}_bias", bias, "int32", bias_quant_params(x.quant, w.quant)))
    dtype, quant = _out_q(ctx, node, out, out_q)
    ctx.emit(node, O.Conv2D(conv.stride, conv.dilation, conv.padding, conv.group, act), inputs, out, dtype, quant)


def _reorder_fc_columns(ctx: OnnxContext, x_name: str, w: np.ndarray) -> np.ndarray:
    """FC weights (O, C·H·W) in ONNX's NCHW flatten order -> the IR's NHWC flatten order (H·W·C)."""
    if x_name not in ctx.builder.chw_flat:
        return w
    c, h, wd = ctx.builder.chw_flat[x_name]
    return w.reshape(w.shape[0], c, h, wd).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)


def _fc_weights(ctx: OnnxContext, node, w: ConstQuant, trans_b: int) -> ConstQuant:
    """ONNX (K, O) (or (O, K) with transB) integer weights -> IR (O, K) with per-output-channel axis 0."""
    w_int, w_quant = np.asarray(w.data), w.quant
    if w_int.ndim != 2:
        raise ctx.unsupported(node, "FC weights must be 2-D")
    if not trans_b:
        w_int = w_int.T
        if w_quant.per_channel_quantized:
            if w_quant.axis != 1:
                raise ctx.unsupported(node, "per-axis MatMul weights must be quantized along the output axis 1")
            w_quant = QuantParams(w_quant.scale, w_quant.zero_point, 0)
    elif w_quant.per_channel_quantized and w_quant.axis != 0:
        raise ctx.unsupported(node, "per-axis Gemm(transB=1) weights must be quantized along axis 0")
    return ConstQuant(np.ascontiguousarray(w_int), w.dtype, w_quant)


def _emit_fc(ctx: OnnxContext, node, x: Tensor, w: ConstQuant, bias: np.ndarray | None, act: O.Activation,
             out: str, out_q: ActQuant | None = None) -> None:
    w_int = _reorder_fc_columns(ctx, x.name, w.data).astype(dtype_info(w.dtype).storage)
    b = ctx.builder
    inputs = [x.name, b.add_const(f"{node.name or 'fc'}_weights", w_int, w.dtype, w.quant)]
    if bias is not None:
        inputs.append(b.add_const(f"{node.name or 'fc'}_bias", bias, "int32", bias_quant_params(x.quant, w.quant)))
    dtype, quant = _out_q(ctx, node, out, out_q)
    ctx.emit(node, O.FullyConnected(act), inputs, out, dtype, quant)


def _float_fc(ctx: OnnxContext, f: FusedNode, w: np.ndarray, b: np.ndarray | None) -> None:
    node = f.node
    x = ctx.act(node, node.input[0])
    if x.shape[-1] != w.shape[1] and math.prod(x.shape[1:]) != w.shape[1]:
        raise ctx.unsupported(node, f"input {x.shape} does not match weights with {w.shape[1]} inputs")
    w, b, act = _fold_chain(ctx, f, w, b, w.shape[0], False)
    w = _reorder_fc_columns(ctx, x.name, w)
    inputs = [x.name, ctx.builder.add_const(f"{node.name or 'fc'}_weights", np.ascontiguousarray(w, np.float32),
                                            "float32", None)]
    if b is not None:
        inputs.append(ctx.builder.add_const(f"{node.name or 'fc'}_bias", b.astype(np.float32), "float32", None))
    ctx.emit(node, O.FullyConnected(act), inputs, f.output, "float32", None)


def _quant_fc(ctx: OnnxContext, f: FusedNode, w_name: str, trans_b: int, b_name: str) -> None:
    node = f.node
    x = ctx.act(node, node.input[0])
    w = _fc_weights(ctx, node, _qdq_weights(ctx, node, w_name, "weights"), trans_b)
    bias = None
    if b_name:
        bias = _quant_bias(ctx, node, b_name, x.quant, w.quant, w.data.shape[0])
    elif f.folded:  # QDQ MatMul + Add(DQ(int32 bias))
        add = f.folded[0]
        other = add.input[1] if add.input[0] == node.output[0] else add.input[0]
        bias = _quant_bias(ctx, add, other, x.quant, w.quant, w.data.shape[0])
    _emit_fc(ctx, node, x, w, bias, ctx.activation(f), f.output)


def _gemm_attrs(ctx: OnnxContext, node) -> tuple[float, float, int]:
    attrs = onnx_attrs(node)
    if int(attrs.get("transA", 0)):
        raise ctx.unsupported(node, "transA=1 is not supported")
    return float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0)), int(attrs.get("transB", 0))


def _qlinear_weights(ctx: OnnxContext, node, channel_axis: int) -> ConstQuant:
    """The integer weights (input 3), their dtype and (scale, zero point) from inputs 4 and 5 of a
    QLinearConv / QLinearMatMul / QGemm; per-channel scales run along ``channel_axis`` of the ONNX weight layout."""
    w_int = np.asarray(ctx.const(node, node.input[3]))
    w_scale = np.asarray(ctx.const(node, node.input[4]), np.float32).reshape(-1)
    w_zp = np.asarray(ctx.const(node, node.input[5])).astype(np.int64).reshape(-1)
    w_quant = (QuantParams.per_tensor(float(w_scale[0]), int(w_zp[0])) if w_scale.size == 1
               else QuantParams(w_scale, np.broadcast_to(w_zp, w_scale.shape), channel_axis))
    return ConstQuant(w_int, int_dtype(ctx.constants, node, w_int), w_quant)


def _qlinear_out(ctx: OnnxContext, node, scale_index: int) -> ActQuant:
    """The output quantization of a QLinear op from its (y_scale, y_zero_point) inputs."""
    return q_params(ctx.constants, node, node.input[scale_index], node.input[scale_index + 1], {})


def _reshape_quant(ctx: OnnxContext, node, x: Tensor) -> tuple[str, QuantParams | None]:
    return ctx.passthrough_quant(node, x, node.output[0])


def _mark_chw_flat(ctx: OnnxContext, out: str, x: Tensor) -> None:
    if len(x.shape) == 4 and x.shape[1] * x.shape[2] > 1 and x.shape[3] > 1:
        ctx.builder.chw_flat[out] = (x.shape[3], x.shape[1], x.shape[2])


# ------------------------------------------------------------------------------------------------ float
@FLOAT_TABLE.handles("Conv")
def conv_float(ctx: OnnxContext, f: FusedNode) -> None:
    node = f.node
    x = ctx.act(node, node.input[0])
    w = np.asarray(ctx.const(node, node.input[1]), np.float32)
    if w.ndim != 4:
        raise ctx.unsupported(node, "only 2-D convolutions (4-D OIHW weights) are supported")
    b = np.asarray(ctx.const(node, node.input[2]), np.float32) if len(node.input) > 2 and node.input[2] else None
    conv = _conv_attrs(ctx, node)
    w, b, act = _fold_chain(ctx, f, w, b, w.shape[0], True)
    w_ohwi = np.ascontiguousarray(w.transpose(0, 2, 3, 1))
    inputs = [x.name, ctx.builder.add_const(f"{node.name or 'conv'}_weights", w_ohwi, "float32", None)]
    if b is not None:
        inputs.append(ctx.builder.add_const(f"{node.name or 'conv'}_bias", b.astype(np.float32), "float32", None))
    ctx.emit(node, O.Conv2D(conv.stride, conv.dilation, conv.padding, conv.group, act), inputs, f.output,
             "float32", None)


@FLOAT_TABLE.handles("Gemm")
def gemm_float(ctx: OnnxContext, f: FusedNode) -> None:
    node = f.node
    alpha, beta, trans_b = _gemm_attrs(ctx, node)
    w = np.asarray(ctx.const(node, node.input[1]), np.float32)
    w = (w if trans_b else w.T) * np.float32(alpha)
    b = None
    if len(node.input) > 2 and node.input[2]:
        c = np.asarray(ctx.const(node, node.input[2]), np.float32)
        if c.size not in (1, w.shape[0]):
            raise ctx.unsupported(node, f"C of shape {c.shape} is not a bias of {w.shape[0]} values")
        b = np.broadcast_to(c.reshape(-1), (w.shape[0],)).astype(np.float32) * np.float32(beta)
    _float_fc(ctx, f, w, b)


@FLOAT_TABLE.handles("MatMul")
def matmul_float(ctx: OnnxContext, f: FusedNode) -> None:
    w = np.asarray(ctx.const(f.node, f.node.input[1]), np.float32)
    if w.ndim != 2:
        raise ctx.unsupported(f.node, "MatMul needs a 2-D constant right operand")
    _float_fc(ctx, f, np.ascontiguousarray(w.T), None)


# ------------------------------------------------------------------------------------ float and QDQ alike
def _binary_inputs(ctx: OnnxContext, node, a_name: str, b_name: str) -> tuple[Tensor, Tensor]:
    """The two activation inputs of a broadcasting binary op; NCHW broadcasting maps onto NHWC when both are 4-D
    (or of equal rank)."""
    a, b = ctx.act(node, a_name), ctx.act(node, b_name)
    if len(a.shape) != len(b.shape):
        raise ctx.unsupported(node, f"broadcasting inputs of different ranks ({a.shape} and {b.shape}) is not "
                                    f"supported; supported: equal ranks (e.g. (N, C, 1, 1) with (N, C, H, W))")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ctx.unsupported(node, f"inputs {a.shape} and {b.shape} (NHWC) do not broadcast") from None
    return a, b


_BINARY_OPS = {"Add": O.Add, "Sub": O.Sub, "Mul": O.Mul}


def _nhwc_operand(ctx: OnnxContext, node, name: str, data: np.ndarray, x: Tensor) -> np.ndarray:
    """A constant operand of a broadcasting binary op, with ``x``'s rank and broadcastable in NHWC: ONNX's numpy
    broadcasting aligns trailing dimensions, so a scalar or a ``(C, 1, 1)`` constant gets leading 1s, then a 4-D
    one is moved to NHWC."""
    rank = len(x.shape)
    data = np.asarray(data)
    if data.ndim > rank:
        raise ctx.unsupported(node, f"constant {name!r} has rank {data.ndim} > the activation's {rank}")
    data = data.reshape((1,) * (rank - data.ndim) + data.shape)
    if rank == 4:
        data = np.ascontiguousarray(data.transpose(0, 2, 3, 1))
    try:
        np.broadcast_shapes(x.shape, data.shape)
    except ValueError:
        raise ctx.unsupported(node, f"constant {name!r} {data.shape} (NHWC) does not broadcast with the input "
                                    f"{x.shape}") from None
    return data


def _binary_constant(ctx: OnnxContext, node, name: str, other: str) -> str:
    """The constant operand of an Add / Sub / Mul (``x * 0.5``, a per-channel gain, a QDQ constant) as an IR
    constant (:func:`_nhwc_operand`). A float constant is quantized by PTQ (8-bit per tensor); a QDQ one keeps its
    DequantizeLinear's parameters."""
    x = ctx.act(node, other)
    canon = ctx.canon(name)
    cq = ctx.quant.const.get(canon)
    data = _nhwc_operand(ctx, node, name, cq.data if cq is not None else ctx.const(node, name), x)
    if cq is not None:
        if cq.quant.per_channel_quantized:
            raise ctx.unsupported(node, f"a per-axis quantized constant {name!r} is not supported; supported: per "
                                        f"tensor")
        return ctx.builder.add_const(canon, data, cq.dtype, cq.quant)
    if ctx.quantized:
        raise ctx.unsupported(node, f"constant {name!r} is float in a quantized model; supported: a constant read "
                                    f"through DequantizeLinear")
    return ctx.builder.add_const(canon, data.astype(np.float32), "float32", None)


@FLOAT_TABLE.handles("Add", "Sub", "Mul")
@QUANT_TABLE.handles("Add", "Sub", "Mul")
def add(ctx: OnnxContext, f: FusedNode) -> None:
    """Add / Sub / Mul of two activations with numpy broadcasting (float, or between QDQ pairs)."""
    node = f.node
    if all(ctx.is_const(i) for i in node.input):
        raise ctx.unsupported(node, f"{node.op_type} of two constants (fold it at export); supported: an activation "
                                    f"with an activation or a constant")
    if any(ctx.is_const(i) for i in node.input):
        inputs = [_binary_constant(ctx, node, name, other) if ctx.is_const(name) else ctx.act(node, name).name
                  for name, other in zip(node.input, reversed(node.input))]
        a, b = (ctx.builder.tensors[n] for n in inputs)
    else:
        a, b = _binary_inputs(ctx, node, node.input[0], node.input[1])
    act = ctx.activation(f)
    dtype, quant = ctx.out_quant(node, f.output)
    ctx.emit(node, _BINARY_OPS[node.op_type](act), [a.name, b.name], f.output, dtype, quant)


@QUANT_TABLE.handles("Div")
def div_quantized(ctx: OnnxContext, f: FusedNode) -> None:
    """Div in a quantized model: refused by name (onnxruntime divides in float between DequantizeLinear and
    QuantizeLinear; a Mul by the reciprocal would not be its arithmetic)."""
    raise ctx.unsupported(f.node, "Div in a quantized model is not supported (onnxruntime divides in float32); "
                                  "supported: Div by a constant in a float model, then accelsim's PTQ")


@FLOAT_TABLE.handles("Div")
def div(ctx: OnnxContext, f: FusedNode) -> None:
    """Div of an activation by a constant, in a float model: a Mul by the float32 reciprocal (PTQ then quantizes
    it; the float reference differs from ``x / c`` by at most one float32 rounding). Dividing by an activation, or a
    Div in a quantized model (onnxruntime runs it in float: a reciprocal would not be its arithmetic), is refused."""
    node = f.node
    if not ctx.is_const(node.input[1]) or ctx.is_const(node.input[0]):
        raise ctx.unsupported(node, "Div by an activation is not supported; supported: an activation divided by a "
                                    "constant (a Mul by its reciprocal)")
    c = np.asarray(ctx.const(node, node.input[1]), np.float32)
    if not np.all(np.isfinite(c)) or np.any(c == 0):
        raise ctx.unsupported(node, f"constant divisor {node.input[1]!r} has zeros or non-finite values")
    x = ctx.act(node, node.input[0])
    reciprocal = _nhwc_operand(ctx, node, node.input[1], (np.float32(1) / c).astype(np.float32), x)
    name = ctx.builder.add_const(f"{ctx.canon(node.input[1])}_reciprocal", reciprocal, "float32", None)
    dtype, quant = ctx.out_quant(node, f.output)
    ctx.emit(node, O.Mul(ctx.activation(f)), [x.name, name], f.output, dtype, quant)


class PoolGeometry(NamedTuple):
    """The input and window of an ONNX pooling node, with its ``ceil_mode`` and ``count_include_pad``."""

    x: Tensor
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    padding: O.Padding
    ceil_mode: bool = False
    count_include_pad: bool = False


def _pool_geometry(ctx: OnnxContext, node, average: bool) -> PoolGeometry:
    """Input, kernel, strides, padding, ceil_mode and count_include_pad of MaxPool / AveragePool /
    QLinearAveragePool, with their checks."""
    attrs = onnx_attrs(node)
    x = ctx.act(node, node.input[0])
    kernel = tuple(int(k) for k in attrs.get("kernel_shape", ()))
    strides = tuple(int(s) for s in attrs.get("strides", (1, 1)))
    if len(kernel) != 2 or len(x.shape) != 4:
        raise ctx.unsupported(node, "only 2-D pooling of a 4-D NCHW input is supported")
    if any(int(d) != 1 for d in attrs.get("dilations", (1, 1))):
        raise ctx.unsupported(node, "dilations other than 1 are not supported")
    if int(attrs.get("storage_order", 0)):
        raise ctx.unsupported(node, "storage_order=1 is not supported (it only affects the Indices output)")
    if int(attrs.get("channels_last", 0)):
        raise ctx.unsupported(node, "channels_last=1 is not supported; supported: channels_last=0 (NCHW)")
    padding = _padding(ctx, node, attrs)
    if len(node.output) > 1 and node.output[1]:
        raise ctx.unsupported(node, "the Indices output of MaxPool is not supported")
    ceil_mode = bool(int(attrs.get("ceil_mode", 0)))
    if ceil_mode and not isinstance(padding, tuple):
        ceil_mode = False  # auto_pad SAME / VALID fixes the output size; ceil_mode has no effect there
    count_include_pad = average and bool(int(attrs.get("count_include_pad", 0)))
    return PoolGeometry(x, kernel, strides, padding, ceil_mode, count_include_pad)


@FLOAT_TABLE.handles("MaxPool")
@QUANT_TABLE.handles("MaxPool")
def max_pool(ctx: OnnxContext, f: FusedNode) -> None:
    """MaxPool (float, or integer between QDQ pairs / in QOperator form: keeps the input's quantization)."""
    node = f.node
    g = _pool_geometry(ctx, node, average=False)
    dtype, quant = ctx.passthrough_quant(node, g.x, node.output[0])
    ctx.emit(node, O.MaxPool(g.kernel, g.strides, g.padding, ceil_mode=g.ceil_mode), [g.x.name], node.output[0],
             dtype, quant)


@FLOAT_TABLE.handles("AveragePool")
@QUANT_TABLE.handles("AveragePool")
def average_pool(ctx: OnnxContext, f: FusedNode) -> None:
    node = f.node
    g = _pool_geometry(ctx, node, average=True)
    dtype, quant = ctx.out_quant(node, node.output[0])
    ctx.emit(node, _avg_pool_op(g), [g.x.name], node.output[0], dtype, quant)


def _avg_pool_op(g: PoolGeometry) -> O.AvgPool:
    return O.AvgPool(g.kernel, g.strides, g.padding, ceil_mode=g.ceil_mode, count_include_pad=g.count_include_pad)


@FLOAT_TABLE.handles("GlobalAveragePool")
@QUANT_TABLE.handles("GlobalAveragePool")
def global_average_pool(ctx: OnnxContext, f: FusedNode) -> None:
    node = f.node
    x = _global_pool_input(ctx, node)
    dtype, quant = ctx.out_quant(node, node.output[0])
    ctx.emit(node, O.GlobalAveragePool(), [x.name], node.output[0], dtype, quant)


def _global_pool_input(ctx: OnnxContext, node) -> Tensor:
    x = ctx.act(node, node.input[0])
    if len(x.shape) != 4:
        raise ctx.unsupported(node, "only 4-D NCHW inputs are supported")
    return x


@FLOAT_TABLE.handles("Flatten")
@QUANT_TABLE.handles("Flatten")
def flatten(ctx: OnnxContext, f: FusedNode) -> None:
    node = f.node
    x = ctx.act(node, node.input[0])
    axis = int(onnx_attrs(node).get("axis", 1)) % max(len(x.shape), 1)
    if axis != 1:
        raise ctx.unsupported(node, f"axis={axis} is not supported; supported: axis=1")
    dtype, quant = _reshape_quant(ctx, node, x)
    out = ctx.emit(node, O.Flatten(), [x.name], node.output[0], dtype, quant)
    _mark_chw_flat(ctx, out, x)


@FLOAT_TABLE.handles("Reshape")
@QUANT_TABLE.handles("Reshape")
def reshape(ctx: OnnxContext, f: FusedNode) -> None:
    node = f.node
    x = ctx.act(node, node.input[0])
    target = [int(v) for v in np.asarray(ctx.const(node, node.input[1])).reshape(-1)]
    if node.output[0] in ctx.quant.nhwc_reshapes:
        nhwc_reshape(ctx, node, x, target)
        return
    onnx_in = nhwc_to_nchw(x.shape)
    shape = [onnx_in[i] if v == 0 and i < len(onnx_in) else v for i, v in enumerate(target)]
    total = math.prod(onnx_in)
    shape = _batch_of_input(shape, onnx_in)
    if shape.count(-1) == 1:
        known = math.prod(v for v in shape if v != -1)
        shape[shape.index(-1)] = total // known if known else 0
    if math.prod(shape) != total:
        raise ctx.unsupported(node, f"cannot reshape {onnx_in} to {target}")
    if not shape or shape[0] != onnx_in[0]:
        raise ctx.unsupported(node, f"reshape {onnx_in} -> {shape} moves the batch axis; supported: reshapes "
                                    f"that keep the first (batch) dimension")
    dtype, quant = _reshape_quant(ctx, node, x)
    if len(onnx_in) == 4 and len(shape) == 2 and shape[0] == onnx_in[0]:
        out = ctx.emit(node, O.Flatten(), [x.name], node.output[0], dtype, quant)
        _mark_chw_flat(ctx, out, x)
        return
    spatial_trivial = (len(onnx_in) != 4 or onnx_in[2] * onnx_in[3] == 1) and \
                      (len(shape) != 4 or shape[2] * shape[3] == 1)
    if not spatial_trivial:   # the NCHW element order matters: reshape in ONNX order (onnx_layout)
        from accelsim.graph.importers.onnx_layout import reshape_any
        reshape_any(ctx, node, x, tuple(shape))
        return
    ctx.emit(node, O.Reshape(nchw_to_nhwc(tuple(shape))), [x.name], node.output[0], dtype, quant)


def _batch_of_input(shape: list[int], onnx_in: tuple[int, ...]) -> list[int]:
    """A target whose first entry is a fixed batch other than the input's (an export traced at batch 1, imported
    with ``batch_size=``: ShuffleNet's ``x.view(batch, ...)``) takes the input's batch, when its other entries hold
    exactly one sample's elements (then no other reading of the target exists)."""
    if not shape or not onnx_in or shape[0] in (-1, onnx_in[0]) or -1 in shape[1:] or 0 in shape[1:]:
        return shape
    if math.prod(shape[1:]) * onnx_in[0] == math.prod(onnx_in):
        return [onnx_in[0], *shape[1:]]
    return shape


def nhwc_reshape(ctx: OnnxContext, node, x: Tensor, target: list[int]) -> None:
    """A Reshape between layout Transposes (``onnx_qdq._layout_transpose``): input and target are in NHWC order,
    the IR's, so it is the IR Reshape itself (a 4-D input to ``(N, -1)`` is the IR Flatten)."""
    if len(x.shape) == 4 and ctx.canon(node.input[0]) == node.input[0]:
        raise ctx.unsupported(node, "a Reshape of a 4-D NCHW tensor followed by Transpose(0, 3, 1, 2) is not "
                                    "supported; supported: NHWC reshapes written as Transpose(0, 2, 3, 1) -> "
                                    "Reshape -> Transpose(0, 3, 1, 2)")
    shape = [x.shape[i] if v == 0 and i < len(x.shape) else v for i, v in enumerate(target)]
    total = math.prod(x.shape)
    if shape.count(-1) == 1:
        known = math.prod(v for v in shape if v != -1)
        shape[shape.index(-1)] = total // known if known else 0
    if math.prod(shape) != total:
        raise ctx.unsupported(node, f"cannot reshape {list(x.shape)} to {target}")
    dtype, quant = _reshape_quant(ctx, node, x)
    if len(x.shape) == 4 and len(shape) == 2 and shape[0] == x.shape[0]:
        ctx.emit(node, O.Flatten(), [x.name], node.output[0], dtype, quant)
    else:
        ctx.emit(node, O.Reshape(tuple(shape)), [x.name], node.output[0], dtype, quant)


@FLOAT_TABLE.handles("Concat")
@QUANT_TABLE.handles("Concat")
def concat(ctx: OnnxContext, f: FusedNode) -> None:
    node = f.node
    xs = [ctx.act(node, i) for i in node.input]
    axis = nchw_axis(int(onnx_attrs(node).get("axis", 1)), len(xs[0].shape))
    dtype, quant = ctx.out_quant(node, node.output[0])
    ctx.emit(node, O.Concat(axis), [x.name for x in xs], node.output[0], dtype, quant)


@FLOAT_TABLE.handles("Pad")
@QUANT_TABLE.handles("Pad")
def pad(ctx: OnnxContext, f: FusedNode) -> None:
    node = f.node
    attrs = onnx_attrs(node)
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    if mode != "constant":
        raise ctx.unsupported(node, f"mode={mode} is not supported; supported: constant (zero)")
    x = ctx.act(node, node.input[0])
    pads = attrs.get("pads") if len(node.input) < 2 or not node.input[1] else \
        np.asarray(ctx.const(node, node.input[1])).reshape(-1).tolist()
    if len(node.input) > 2 and node.input[2]:
        value = np.asarray(ctx.const(node, node.input[2])).reshape(-1)
        if value.size and float(value[0]) != 0.0:
            raise ctx.unsupported(node, "a non-zero constant_value is not supported; supported: 0")
    if len(node.input) > 3 and node.input[3]:
        raise ctx.unsupported(node, "the axes input is not supported; give pads for every dimension")
    rank = len(x.shape)
    pads = [int(p) for p in pads]
    if len(pads) != 2 * rank or any(p < 0 for p in pads):
        raise ctx.unsupported(node, f"pads={pads} is not supported; supported: {2 * rank} non-negative values")
    pairs = [(pads[i], pads[i + rank]) for i in range(rank)]
    if rank == 4:
        pairs = [pairs[0], pairs[2], pairs[3], pairs[1]]
    dtype, quant = _reshape_quant(ctx, node, x)
    ctx.emit(node, O.Pad(tuple(pairs)), [x.name], node.output[0], dtype, quant)


# --------------------------------------------------------------------------------------- QDQ (quantized)
@QUANT_TABLE.handles("Conv")
def conv_qdq(ctx: OnnxContext, f: FusedNode) -> None:
    """Conv in QDQ form: weights (and bias) come from DequantizeLinear of integer initializers."""
    node = f.node
    x = ctx.act(node, node.input[0])
    w = _qdq_weights(ctx, node, node.input[1], "conv weights")
    conv = _conv_attrs(ctx, node)
    act = ctx.activation(f)
    b_name = node.input[2] if len(node.input) > 2 else ""
    bias = _quant_bias(ctx, node, b_name, x.quant, w.quant, w.data.shape[0]) if b_name else None
    _emit_quant_conv(ctx, node, x, w, bias, conv, act, f.output)


@QUANT_TABLE.handles("Gemm")
def gemm_qdq(ctx: OnnxContext, f: FusedNode) -> None:
    node = f.node
    alpha, beta, trans_b = _gemm_attrs(ctx, node)
    if alpha != 1.0 or beta != 1.0:
        raise ctx.unsupported(node, "alpha/beta other than 1 in a quantized model are not supported")
    _quant_fc(ctx, f, node.input[1], trans_b, node.input[2] if len(node.input) > 2 else "")


@QUANT_TABLE.handles("MatMul")
def matmul_qdq(ctx: OnnxContext, f: FusedNode) -> None:
    _quant_fc(ctx, f, f.node.input[1], 0, "")


# ------------------------------------------------------------------------------------------- QOperator
def _qlinear_mac_operands(ctx: OnnxContext, node, channel_axis: int) -> tuple[Tensor, ConstQuant, ActQuant]:
    """QLinearConv / QLinearMatMul (x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, ...): the activation, the
    integer weights and the output quantization."""
    x = ctx.act(node, node.input[0])
    w = _qlinear_weights(ctx, node, channel_axis)
    return x, w, _qlinear_out(ctx, node, 6)


@QUANT_TABLE.handles("QLinearConv")
def qlinear_conv(ctx: OnnxContext, f: FusedNode) -> None:
    node = f.node
    x, w, out_q = _qlinear_mac_operands(ctx, node, channel_axis=0)
    conv = _conv_attrs(ctx, node)
    bias = None
    if len(node.input) > 8 and node.input[8]:
        bias = np.asarray(ctx.const(node, node.input[8])).astype(np.int32).reshape(-1)
    _emit_quant_conv(ctx, node, x, w, bias, conv, "NONE", node.output[0], out_q)


@QUANT_TABLE.handles("QLinearMatMul")
def qlinear_matmul(ctx: OnnxContext, f: FusedNode) -> None:
    node = f.node
    if not ctx.is_const(node.input[3]):
        raise ctx.unsupported(node, "B is not a constant: an activation x activation MatMul (as in attention) is "
                                    "not supported; nearest supported: QLinearMatMul with a constant B (weights)")
    x = ctx.act(node, node.input[0])
    w = _qlinear_weights(ctx, node, channel_axis=max(np.ndim(ctx.const(node, node.input[3])) - 1, 0))
    emit_matmul(ctx, node, x, w, _qlinear_out(ctx, node, 6))


def emit_matmul(ctx: OnnxContext, node, x: Tensor, w: ConstQuant, out_q: ActQuant, requant: str | None = None) -> None:
    """A MatMul ``x @ B`` with a constant B as FullyConnected: 2-D ``x`` directly; a batched ``x`` (rank 3,
    ``(b, m, k)``) with a 2-D B, or an N-D B whose batch slices are all equal (numpy broadcasting), as
    Reshape ``(b·m, k)`` -> FullyConnected -> Reshape ``(b, m, n)``. ``requant`` overrides the node's mode."""
    if requant is not None:
        ctx = replace(ctx, requant=requant)
    b = np.asarray(w.data)
    if b.ndim > 2:
        if any(not np.array_equal(s, b.reshape(-1, *b.shape[-2:])[0]) for s in b.reshape(-1, *b.shape[-2:])):
            raise ctx.unsupported(node, f"B of shape {list(b.shape)} has different matrices per batch; supported: "
                                        f"a 2-D B or one shared by every batch (broadcast)")
        if w.quant.per_channel_quantized and w.quant.axis % b.ndim != b.ndim - 1:
            raise ctx.unsupported(node, "per-axis B must be quantized along its last (column) axis")
        b = b.reshape(-1, *b.shape[-2:])[0]
    if w.quant.per_channel_quantized:
        w = ConstQuant(b, w.dtype, QuantParams(w.quant.scale, w.quant.zero_point, 1))
    else:
        w = ConstQuant(b, w.dtype, w.quant)
    w = _fc_weights(ctx, node, w, 0)
    if len(x.shape) == 2:
        _emit_fc(ctx, node, x, w, None, "NONE", node.output[0], out_q)
        return
    if len(x.shape) != 3 or x.name in ctx.builder.chw_flat:
        raise ctx.unsupported(node, f"A of shape {list(x.shape)}; supported: 2-D, or 3-D (batched) A")
    lead, k = x.shape[:-1], x.shape[-1]
    rows = math.prod(lead)
    flat = ctx.emit(node, O.Reshape((rows, k)), [x.name], f"{node.output[0]}__rows", x.dtype, x.quant)
    fc_out = f"{node.output[0]}__fc"
    _emit_fc(ctx, node, ctx.builder.tensors[flat], w, None, "NONE", fc_out, out_q)
    ctx.emit(node, O.Reshape((*lead, w.data.shape[0])), [fc_out], node.output[0], out_q.dtype, out_q.quant)


@QUANT_TABLE.handles("QGemm")
def qgemm(ctx: OnnxContext, f: FusedNode) -> None:
    """com.microsoft QGemm (A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp) with a quantized output."""
    node = f.node
    attrs = onnx_attrs(node)
    if int(attrs.get("transA", 0)) or float(attrs.get("alpha", 1.0)) != 1.0:
        raise ctx.unsupported(node, "transA=1 or alpha != 1 is not supported")
    if len(node.input) < 9 or not node.input[7]:
        raise ctx.unsupported(node, "a float output (no y_scale) is not supported; supported: quantized output")
    x = ctx.act(node, node.input[0])
    trans_b = int(attrs.get("transB", 0))
    # B is (N, K) with transB=1, (K, N) otherwise: the output channel is axis 0 or 1
    w = _qlinear_weights(ctx, node, channel_axis=0 if trans_b else 1)
    out_q = _qlinear_out(ctx, node, 7)
    w = _fc_weights(ctx, node, w, trans_b)
    bias = None
    if node.input[6]:
        bias = np.asarray(ctx.const(node, node.input[6])).astype(np.int32).reshape(-1)
    _emit_fc(ctx, node, x, w, bias, "NONE", node.output[0], out_q)


@QUANT_TABLE.handles("QLinearAdd", "QLinearMul")
def qlinear_add(ctx: OnnxContext, f: FusedNode) -> None:
    """com.microsoft QLinearAdd / QLinearMul (A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp), broadcasting."""
    node = f.node
    if ctx.is_const(node.input[0]) and ctx.is_const(node.input[3]):
        raise ctx.unsupported(node, f"{node.op_type} of two constants; supported: an activation with an activation "
                              f"or a constant")
    if ctx.is_const(node.input[0]) or ctx.is_const(node.input[3]):
        names = []
        for k, other in ((0, 3), (3, 0)):
            if not ctx.is_const(node.input[k]):
                names.append(ctx.act(node, node.input[k]).name)
                continue
            x = ctx.act(node, node.input[other])
            folded = ctx.quant.const.get(ctx.canon(node.input[k]))   # a QuantizeLinear of a float constant
            data = _nhwc_operand(ctx, node, node.input[k],
                                 folded.data if folded is not None else ctx.const(node, node.input[k]), x)
            scale = float(np.asarray(ctx.const(node, node.input[k + 1])).reshape(-1)[0])
            zp_data = np.asarray(ctx.const(node, node.input[k + 2]))
            dtype = {np.dtype(np.uint8): "uint8", np.dtype(np.int8): "int8"}.get(zp_data.dtype)
            if dtype is None or np.asarray(ctx.const(node, node.input[k + 1])).size != 1:
                raise ctx.unsupported(node, f"constant {node.input[k]!r} must be uint8 / int8 with one scale")
            names.append(ctx.builder.add_const(ctx.canon(node.input[k]), data.astype(zp_data.dtype), dtype,
                                               QuantParams.per_tensor(scale, int(zp_data.reshape(-1)[0]))))
        a, b = (ctx.builder.tensors[n] for n in names)
    else:
        a, b = _binary_inputs(ctx, node, node.input[0], node.input[3])
    aq = _qlinear_out(ctx, node, 6)
    op = O.Add("NONE") if node.op_type == "QLinearAdd" else O.Mul("NONE")
    ctx.emit(node, op, [a.name, b.name], node.output[0], aq.dtype, aq.quant)


@QUANT_TABLE.handles("QLinearAveragePool")
def qlinear_average_pool(ctx: OnnxContext, f: FusedNode) -> None:
    """com.microsoft QLinearAveragePool (X, x_scale, x_zp, y_scale, y_zp)."""
    node = f.node
    g = _pool_geometry(ctx, node, average=True)
    aq = _qlinear_out(ctx, node, 3)
    ctx.emit(node, _avg_pool_op(g), [g.x.name], node.output[0], aq.dtype, aq.quant)


@QUANT_TABLE.handles("QLinearGlobalAveragePool")
def qlinear_global_average_pool(ctx: OnnxContext, f: FusedNode) -> None:
    """com.microsoft QLinearGlobalAveragePool (X, x_scale, x_zp, y_scale, y_zp), channels_last=0."""
    node = f.node
    x = _global_pool_input(ctx, node)
    if int(onnx_attrs(node).get("channels_last", 0)):
        raise ctx.unsupported(node, "channels_last=1 is not supported")
    aq = _qlinear_out(ctx, node, 3)
    ctx.emit(node, O.GlobalAveragePool(), [x.name], node.output[0], aq.dtype, aq.quant)


# ------------------------------------------------------------------------------------ activation ops (P1)
#: ONNX's HardSigmoid defaults (operator spec): alpha 0.2, beta 0.5 (PyTorch exports alpha 1/6).
ONNX_HARD_SIGMOID_ALPHA, ONNX_HARD_SIGMOID_BETA = 0.2, 0.5
#: ONNX's LeakyRelu default alpha.
ONNX_LEAKY_RELU_ALPHA = 0.01


def _unary_activation_op(ctx: OnnxContext, node) -> O.Op:
    attrs = onnx_attrs(node)
    kind = node.op_type.removeprefix("QLinear")
    if kind == "HardSigmoid":
        return O.HardSigmoid(float(np.float32(attrs.get("alpha", ONNX_HARD_SIGMOID_ALPHA))),
                             float(np.float32(attrs.get("beta", ONNX_HARD_SIGMOID_BETA))))
    if kind == "LeakyRelu":
        return O.LeakyReLU(float(np.float32(attrs.get("alpha", ONNX_LEAKY_RELU_ALPHA))))
    return {"HardSwish": O.HardSwish, "Sigmoid": O.Sigmoid, "Tanh": O.Tanh}[kind]()


@FLOAT_TABLE.handles("HardSwish", "HardSigmoid", "Sigmoid", "Tanh", "LeakyRelu")
@QUANT_TABLE.handles("HardSwish", "HardSigmoid", "Sigmoid", "Tanh", "LeakyRelu")
def unary_activation(ctx: OnnxContext, f: FusedNode) -> None:
    """HardSwish, HardSigmoid, Sigmoid, Tanh, LeakyRelu (float, or between DequantizeLinear and QuantizeLinear)."""
    node = f.node
    x = ctx.act(node, node.input[0])
    dtype, quant = ctx.out_quant(node, node.output[0])
    ctx.emit(node, _unary_activation_op(ctx, node), [x.name], node.output[0], dtype, quant)


def _prelu_slope(ctx: OnnxContext, node, x: Tensor, data: np.ndarray) -> np.ndarray:
    """The slope as one value or one per channel: ONNX broadcasts it against NCHW, so (C, 1, 1), (1, C, 1, 1),
    (C,) on a 2-D input, or a scalar."""
    channels = x.shape[-1]
    shape = tuple(int(d) for d in np.shape(data))
    size = int(np.prod(shape)) if shape else 1
    if size == 1:
        return np.asarray(data).reshape(1)
    rank = len(x.shape)
    channel_axis = 1 if rank >= 2 else 0
    padded = (1,) * (rank - len(shape)) + shape
    if size != channels or len(padded) != rank or padded[channel_axis] != channels:
        raise ctx.unsupported(node, f"a slope of shape {shape} is not supported; supported: a scalar or one "
                                    f"slope per channel (shape (C, 1, 1))")
    return np.asarray(data).reshape(channels)


@FLOAT_TABLE.handles("PRelu")
@QUANT_TABLE.handles("PRelu")
def prelu(ctx: OnnxContext, f: FusedNode) -> None:
    """PRelu with a constant slope: float (also in quantized models, where onnxruntime's quantize_static leaves
    PRelu in float between DequantizeLinear and QuantizeLinear), or an integer initializer read by
    DequantizeLinear."""
    node = f.node
    x = ctx.act(node, node.input[0])
    if not ctx.is_const(node.input[1]):
        raise ctx.unsupported(node, "the slope must be a constant")
    if ctx.quantized and ctx.quant.const.get(ctx.canon(node.input[1])) is not None:
        sq = _qdq_weights(ctx, node, node.input[1], "PRelu slope")
        if sq.quant.per_channel_quantized:
            raise ctx.unsupported(node, "a per-axis quantized slope is not supported; supported: per tensor")
        slope = ctx.builder.add_const(ctx.ir(node.input[1]), _prelu_slope(ctx, node, x, sq.data), sq.dtype, sq.quant)
    else:
        data = _prelu_slope(ctx, node, x, np.asarray(ctx.const(node, node.input[1]), np.float32))
        slope = ctx.builder.add_const(ctx.ir(node.input[1]), data, "float32", None)
    dtype, quant = ctx.out_quant(node, node.output[0])
    ctx.emit(node, O.PReLU(), [x.name, slope], node.output[0], dtype, quant)


@QUANT_TABLE.handles("QLinearSigmoid", "QLinearLeakyRelu")
def qlinear_activation(ctx: OnnxContext, f: FusedNode) -> None:
    """com.microsoft QLinearSigmoid / QLinearLeakyRelu (X, x_scale, x_zp, y_scale, y_zp): onnxruntime's 256-entry
    float lookup table, which the ``float32`` mode reproduces."""
    node = f.node
    x = ctx.act(node, node.input[0])
    aq = _qlinear_out(ctx, node, 3)
    ctx.emit(node, _unary_activation_op(ctx, node), [x.name], node.output[0], aq.dtype, aq.quant)
@QUANT_TABLE.handles("QLinearConcat")
def qlinear_concat(ctx: OnnxContext, f: FusedNode) -> None:
    """com.microsoft QLinearConcat (y_scale, y_zero_point, then (x, x_scale, x_zero_point) per input): each input
    is requantized to the output's (S, Z) (in ``float32`` mode with onnxruntime's lookup-table arithmetic)."""
    node = f.node
    if len(node.input) < 5 or (len(node.input) - 2) % 3:
        raise ctx.unsupported(node, f"{len(node.input)} inputs; QLinearConcat takes y_scale, y_zero_point and a "
                                    f"(tensor, scale, zero_point) triple per input")
    out_q = _qlinear_out(ctx, node, 0)
    xs = []
    for i in range(2, len(node.input), 3):
        x = ctx.act(node, node.input[i])
        given = q_params(ctx.constants, node, node.input[i + 1], node.input[i + 2], {})
        if given.dtype != x.dtype or not given.quant.same_as(x.quant):
            raise ctx.unsupported(node, f"input {node.input[i]!r} is given (S, Z) = ({given.quant.scale[0]}, "
                                        f"{given.quant.zero_point[0]}) but its producer's quantization differs")
        xs.append(x)
    axis = nchw_axis(int(onnx_attrs(node).get("axis", 1)), len(xs[0].shape))
    ctx.emit(node, O.Concat(axis), [x.name for x in xs], node.output[0], out_q.dtype, out_q.quant)


def _resize_attr(attrs: dict, key: str, default: str) -> str:
    value = attrs.get(key, default)
    return value.decode() if isinstance(value, bytes) else str(value)


@FLOAT_TABLE.handles("Resize", "Upsample")
@QUANT_TABLE.handles("Resize", "Upsample")
def resize(ctx: OnnxContext, f: FusedNode) -> None:
    """Resize (opset 11+: X, roi, scales, sizes; opset 10: X, scales) and Upsample (opset 7–9) of the H and W axes,
    nearest or linear; integer Resize keeps its input's quantization (QDQ pairs around it must agree). Refused by
    name: cubic, tf_crop_and_resize, antialias, axes, keep_aspect_ratio_policy other than stretch, scaling N or C."""
    node = f.node
    attrs = onnx_attrs(node)
    x = ctx.act(node, node.input[0])
    if len(x.shape) != 4:
        raise ctx.unsupported(node, "only 4-D NCHW inputs are supported")
    mode = _resize_attr(attrs, "mode", "nearest")
    if mode not in ("nearest", "linear"):
        raise ctx.unsupported(node, f"mode={mode} is not supported; supported: nearest, linear (bilinear)")
    coord = _resize_attr(attrs, "coordinate_transformation_mode", "half_pixel")
    if coord not in _RESIZE_COORDS:
        raise ctx.unsupported(node, f"coordinate_transformation_mode={coord} is not supported; supported: "
                                    f"{', '.join(_RESIZE_COORDS)}")
    nearest = _resize_attr(attrs, "nearest_mode", "round_prefer_floor")
    if int(attrs.get("antialias", 0)):
        raise ctx.unsupported(node, "antialias=1 is not supported; supported: antialias=0")
    if "axes" in attrs:
        raise ctx.unsupported(node, "the axes attribute is not supported; give scales or sizes for all 4 axes")
    policy = _resize_attr(attrs, "keep_aspect_ratio_policy", "stretch")
    if policy != "stretch":
        raise ctx.unsupported(node, f"keep_aspect_ratio_policy={policy} is not supported; supported: stretch")
    n, h, w, c = x.shape
    legacy = node.op_type == "Upsample" or len(node.input) == 2   # opset ≤ 10: (X, scales), no roi
    if legacy:
        coord = "asymmetric"   # the only mapping before opset 11
    scales_name = node.input[1] if legacy and len(node.input) > 1 else \
        node.input[2] if len(node.input) > 2 else ""
    sizes_name = "" if legacy else node.input[3] if len(node.input) > 3 else ""
    if scales_name:
        scales = np.asarray(ctx.const(node, scales_name), np.float32).reshape(-1)
    else:
        scales = np.asarray(attrs.get("scales", ()), np.float32).reshape(-1)   # Upsample-7 attribute
    if scales.size:
        if scales.size != 4 or scales[0] != 1 or scales[1] != 1:
            raise ctx.unsupported(node, f"scales={scales.tolist()} is not supported; supported: [1, 1, s_h, s_w]")
        size = (int(np.float32(scales[2]) * np.float32(h)), int(np.float32(scales[3]) * np.float32(w)))
        given: tuple[float, float] | None = (float(scales[2]), float(scales[3]))
    elif sizes_name:
        sizes = [int(v) for v in np.asarray(ctx.const(node, sizes_name)).reshape(-1)]
        if len(sizes) != 4 or sizes[0] != n or sizes[1] != c:
            raise ctx.unsupported(node, f"sizes={sizes} is not supported; supported: [N, C, H', W'] with N and C "
                                        f"unchanged")
        size, given = (sizes[2], sizes[3]), None
    else:
        raise ctx.unsupported(node, "neither scales nor sizes is given")
    if legacy and mode == "nearest":
        # before opset 11 onnxruntime truncates the coordinate when upsampling and rounds it up when downsampling
        down = [s < 1 for s in given]
        if down[0] != down[1]:
            raise ctx.unsupported(node, f"opset-10 nearest Resize that upsamples one axis and downsamples the other "
                                        f"(scales {list(given)}) is not supported")
        nearest = "ceil" if down[0] else "floor"
    # QDQ form (the input is a DequantizeLinear output): onnxruntime keeps a linear Resize in float between the
    # DQ and Q nodes (its QDQ fusion turns only nearest into an integer Resize)
    dequantized = ctx.quantized and mode == "linear" and ctx.canon(node.input[0]) != node.input[0]
    try:
        op = O.Resize(size, "nearest" if mode == "nearest" else "bilinear", coord, nearest, given, dequantized)
    except ValueError as exc:
        raise ctx.unsupported(node, str(exc)) from None
    dtype, quant = ctx.passthrough_quant(node, x, node.output[0])
    ctx.emit(node, op, [x.name], node.output[0], dtype, quant)


_RESIZE_COORDS = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn")
# ------------------------------------------------------------------------------- reductions (float and QDQ)
def _onnx_softmax_axis(ctx: OnnxContext, node, x: Tensor) -> int:
    """The NHWC axis of an ONNX Softmax / QLinearSoftmax ``axis`` (opset-13 semantics: one axis)."""
    rank = len(x.shape)
    axis = int(onnx_attrs(node).get("axis", -1))
    if not -rank <= axis < rank:
        raise ctx.unsupported(node, f"axis={axis} is out of range for a {rank}-D input")
    return nchw_axis(axis, rank)


@FLOAT_TABLE.handles("Softmax")
@QUANT_TABLE.handles("Softmax")
def softmax(ctx: OnnxContext, f: FusedNode) -> None:
    """Softmax along one axis (float, or between QDQ pairs: onnxruntime computes it in float)."""
    node = f.node
    x = ctx.act(node, node.input[0])
    axis = _onnx_softmax_axis(ctx, node, x)
    dtype, quant = ctx.out_quant(node, node.output[0])
    ctx.emit(node, O.Softmax(axis), [x.name], node.output[0], dtype, quant)


@QUANT_TABLE.handles("QLinearSoftmax")
def qlinear_softmax(ctx: OnnxContext, f: FusedNode) -> None:
    """com.microsoft QLinearSoftmax (X, X_scale, X_zp, Y_scale, Y_zp), opset >= 13 semantics."""
    node = f.node
    x = ctx.act(node, node.input[0])
    if int(onnx_attrs(node).get("opset", 13)) < 13:
        raise ctx.unsupported(node, "opset < 13 (softmax over the flattened trailing axes) is not supported; "
                                    "supported: opset=13 (one axis)")
    axis = _onnx_softmax_axis(ctx, node, x)
    aq = _qlinear_out(ctx, node, 3)
    ctx.emit(node, O.Softmax(axis), [x.name], node.output[0], aq.dtype, aq.quant)
    ctx.builder.qlinear_softmax.append(ctx.builder.nodes[-1].name)  # its own LUT arithmetic (engine.reduce)


@FLOAT_TABLE.handles("ReduceMean")
@QUANT_TABLE.handles("ReduceMean")
def reduce_mean(ctx: OnnxContext, f: FusedNode) -> None:
    """ReduceMean over axes given as the attribute (opset < 18) or the second input (opset 18)."""
    node = f.node
    x = ctx.act(node, node.input[0])
    attrs = onnx_attrs(node)
    rank = len(x.shape)
    if len(node.input) > 1 and node.input[1]:
        axes = [int(a) for a in np.asarray(ctx.const(node, node.input[1])).reshape(-1)]
    else:
        axes = [int(a) for a in attrs.get("axes", [])]
    if not axes:
        if int(attrs.get("noop_with_empty_axes", 0)):
            raise ctx.unsupported(node, "noop_with_empty_axes=1 without axes (an identity) is not supported")
        axes = list(range(rank))
    if any(not -rank <= a < rank for a in axes):
        raise ctx.unsupported(node, f"axes {axes} are out of range for a {rank}-D input")
    ir_axes = tuple(sorted({nchw_axis(a, rank) for a in axes}))
    keepdims = bool(int(attrs.get("keepdims", 1)))
    if not keepdims and rank == 4:
        kept = [a for a in range(4) if a not in ir_axes]           # NHWC order of the kept axes
        onnx_kept = [a for a in (0, 3, 1, 2) if a not in ir_axes]  # their NCHW order
        if kept != onnx_kept:
            raise ctx.unsupported(node, f"keepdims=0 over axes {axes} leaves dimensions whose NCHW order differs "
                                        f"from NHWC; supported: keepdims=1, or axes leaving C last or alone")
    dtype, quant = ctx.out_quant(node, node.output[0])
    ctx.emit(node, O.Mean(ir_axes, keepdims), [x.name], node.output[0], dtype, quant)
