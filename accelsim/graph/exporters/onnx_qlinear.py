"""Write an 8-bit quantized accelsim graph as an ONNX QOperator graph that onnxruntime runs.

Mapping (opset 21 + ``com.microsoft`` 1); the ONNX model keeps accelsim's NHWC integer interface (same input and
output names, dtypes and shapes) and works in NCHW inside, with Transpose at the edges and around reshapes:

| accelsim | ONNX | exact vs accelsim ``float32`` mode? |
|---|---|---|
| Conv2D (any groups, per-channel weights, int32 bias) | QLinearConv (+ Clip for RELU/RELU6) | yes |
| FullyConnected | Reshape to (N, I, 1, 1), QLinearConv 1x1, Reshape: keeps the int32 bias | yes |
| Add | com.microsoft QLinearAdd (+ Clip) | yes (MLAS float order reproduced) |
| Mul | com.microsoft QLinearMul (+ Clip) | yes |
| Sub / Softmax | DequantizeLinear -> Sub / Softmax -> QuantizeLinear | yes |
| Mean | DequantizeLinear -> ReduceMean -> QuantizeLinear | within 1 LSB (float sum order) |
| AvgPool | com.microsoft QLinearAveragePool (ceil_mode, count_include_pad as the op's) | yes in `float32` mode |
| GlobalAveragePool | com.microsoft QLinearGlobalAveragePool | no: float-based |
| MaxPool | MaxPool on int8 / uint8 | yes |
| Concat | Concat (shared quantization) or com.microsoft QLinearConcat | shared: yes |
| Reshape / Flatten / Pad | Reshape / Pad with the zero point | yes |
| Transpose / Slice / Gather | Transpose / Slice / Gather on NCHW axes (data movement) | yes |
| Sigmoid / LeakyReLU | com.microsoft QLinearSigmoid / QLinearLeakyRelu | yes |
| HardSwish / HardSigmoid / Tanh / PReLU | DequantizeLinear → float op → QuantizeLinear | yes |

Int4 weights are written as int8 in [-8, 7], which QLinearConv runs exactly. 16-bit tensors are not supported
(onnxruntime's QLinear ops are 8-bit only). With ``float_io=True`` the model takes float inputs through
QuantizeLinear and returns float outputs through DequantizeLinear instead.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from accelsim.errors import UnsupportedError
from accelsim.graph import ops as O
from accelsim.graph.importers.tables import HandlerTable
from accelsim.graph.ir import Graph, Node, Tensor
from accelsim.quant.requant import activation_range

OPSET = 21
IR_VERSION = 10
_ONNX_TYPES = {"int8": TensorProto.INT8, "uint8": TensorProto.UINT8}
_TO_NCHW = (0, 3, 1, 2)
_TO_NHWC = (0, 2, 3, 1)


def export_onnx_qlinear(graph: Graph, *, float_io: bool = False) -> onnx.ModelProto:
    """An ONNX QOperator model of an int8/uint8 graph (see the module docstring for the op mapping)."""
    return _Writer(graph, float_io).model()


class _Writer:
    def __init__(self, graph: Graph, float_io: bool) -> None:
        self.graph, self.float_io = graph, float_io
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.names: set[str] = set()
        self.value: dict[str, str] = {}  # IR tensor -> ONNX value name (NCHW for 4-D activations)

    def fresh(self, base: str) -> str:
        name, k = base, 0
        while name in self.names or name in self.graph.tensors:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def const(self, base: str, array: np.ndarray) -> str:
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def emit(self, op_type: str, inputs: list[str], base: str, domain: str = "", **attrs) -> str:
        out = self.fresh(base)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.fresh(f"{base}_{op_type}"),
                                           domain=domain, **attrs))
        return out

    def qparams(self, t: Tensor, base: str) -> tuple[str, str]:
        """(scale, zero point) initializers of an 8-bit tensor (vectors when per channel)."""
        storage = np.uint8 if t.dtype == "uint8" else np.int8
        q = t.quant
        scale = q.scale if q.per_channel_quantized else q.scale[0]
        zero = q.zero_point if q.per_channel_quantized else q.zero_point[0]
        return (self.const(f"{base}_scale", np.asarray(scale, np.float32)),
                self.const(f"{base}_zero_point", np.asarray(zero).astype(storage)))

    def check(self, t: Tensor) -> None:
        if t.dtype not in _ONNX_TYPES and not (t.dtype == "int4" and t.is_constant):
            raise UnsupportedError(f"tensor {t.name!r} is {t.dtype}; the ONNX QLinear export supports int8 and "
                                   f"uint8 activations and int4/int8/uint8 weights")

    # ------------------------------------------------------------------------------------ ops
    def node(self, node: Node) -> None:
        """Write one IR node with the exporter registered for its kind (``ONNX_QLINEAR_EXPORTERS``)."""
        g = self.graph
        for name in (*node.inputs[:2], *node.outputs):
            self.check(g.tensors[name])
        handler = _ONNX_QLINEAR_EXPORTERS.get(node.kind)
        if handler is None:
            raise UnsupportedError(f"node {node.name!r} ({node.kind}): no ONNX QLinear equivalent")
        self.value[node.outputs[0]] = handler(self, node)

    def qlinear_conv(self, node: Node, x_value: str, x: Tensor, op: O.Conv2D, fc: bool = False) -> str:
        g = self.graph
        w = g.tensors[node.inputs[1]]
        out = g.tensors[node.outputs[0]]
        if w.data is None:
            raise UnsupportedError(f"node {node.name!r}: weights {w.name!r} have no data (fill them first with "
                                   f"accelsim.graph.synthetic)")
        storage = np.uint8 if w.dtype == "uint8" else np.int8
        weights = w.data.astype(storage)
        weights = weights[:, :, None, None] if fc else weights.transpose(0, 3, 1, 2)
        inputs = [x_value, *self.qparams(x, x.name), self.const(w.name, weights), *self.qparams(w, w.name),
                  *self.qparams(out, out.name)]
        if len(node.inputs) == 3:
            inputs.append(self.const(node.inputs[2], g.tensors[node.inputs[2]].data.astype(np.int32)))
        attrs = {}
        if not fc:
            kh, kw = w.shape[1:3]
            attrs = dict(kernel_shape=[kh, kw], strides=list(op.stride), dilations=list(op.dilation),
                         **_onnx_padding(op.padding), group=op.groups)
        y = self.emit("QLinearConv", inputs, node.name, **attrs)
        return self.clip(y, op.activation, out, node.name)

    def clip(self, value: str, activation: str, out: Tensor, base: str) -> str:
        """A fused activation as an integer Clip to the activation range (same clamp as accelsim)."""
        if activation == "NONE":
            return value
        lo, hi = activation_range(activation, out.quant, out.dtype)
        storage = np.uint8 if out.dtype == "uint8" else np.int8
        bounds = [self.const(f"{base}_min", np.asarray(lo).astype(storage))]
        if activation != "RELU":  # RELU's upper bound is the type's maximum: Clip with min only says RELU
            bounds.append(self.const(f"{base}_max", np.asarray(hi).astype(storage)))
        return self.emit("Clip", [value, *bounds], f"{base}_clip")

    def nhwc_reshape(self, x: Tensor, shape: tuple[int, ...], base: str) -> str:
        """Reshape with NHWC element order: NCHW values go back to NHWC first; 4-D results go to NCHW."""
        value = self.value[x.name]
        if len(x.shape) == 4:
            value = self.emit("Transpose", [value], f"{base}_nhwc", perm=list(_TO_NHWC))
        value = self.emit("Reshape", [value, self.const(f"{base}_shape", np.array(shape, np.int64))], base)
        if len(shape) == 4:
            value = self.emit("Transpose", [value], f"{base}_nchw", perm=list(_TO_NCHW))
        return value

    # ------------------------------------------------------------------------------------ model
    def model(self) -> onnx.ModelProto:
        g = self.graph
        if g.is_float:
            raise UnsupportedError(f"graph {g.name!r} is a float graph; export_onnx_qlinear needs a quantized graph")
        inputs, outputs = [], []
        for name in g.inputs:
            t = g.tensors[name]
            self.check(t)
            self.names.add(name)
            elem = TensorProto.FLOAT if self.float_io else _ONNX_TYPES[t.dtype]
            inputs.append(helper.make_tensor_value_info(name, elem, list(t.shape)))
            value = self.emit("QuantizeLinear", [name, *self.qparams(t, name)], f"{name}_q") if self.float_io else name
            if len(t.shape) == 4:
                value = self.emit("Transpose", [value], f"{name}_nchw", perm=list(_TO_NCHW))
            self.value[name] = value
        for node in g.nodes:
            self.node(node)
        for name in g.outputs:
            t = g.tensors[name]
            value = self.value[name]
            if len(t.shape) == 4:
                value = self.emit("Transpose", [value], f"{name}_nhwc", perm=list(_TO_NHWC))
            if self.float_io:
                value = self.emit("DequantizeLinear", [value, *self.qparams(t, f"{name}_out")], f"{name}_dq")
            self.nodes.append(helper.make_node("Identity", [value], [name], name=self.fresh(f"{name}_output")))
            elem = TensorProto.FLOAT if self.float_io else _ONNX_TYPES[t.dtype]
            outputs.append(helper.make_tensor_value_info(name, elem, list(t.shape)))
        onnx_graph = helper.make_graph(self.nodes, g.name, inputs, outputs, self.initializers)
        model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                             helper.make_opsetid("com.microsoft", 1)],
                                  producer_name="accelsim")
        model.ir_version = IR_VERSION
        return model


# ---------------------------------------------------------------------------------------- handlers
_TABLE = HandlerTable("ONNX QLinear exporter")
_ONNX_QLINEAR_EXPORTERS = _TABLE.entries  # what dispatch reads

#: An ONNX QLinear exporter handler writes the ONNX nodes of one IR node and returns its output value name.
OnnxQLinearExporter = Callable[[_Writer, Node], str]


def _onnx_padding(padding: O.Padding) -> dict[str, object]:
    """The IR padding as ONNX attributes: "SAME" as ``auto_pad=SAME_UPPER`` (the extra row / column at the end,
    TensorFlow's SAME; ONNX operator spec, Conv), "VALID" as ``auto_pad=VALID``, explicit (top, bottom, left,
    right) as ``pads`` (ONNX order: begins then ends), so the importer reads back the same padding spelling."""
    if padding == "SAME":
        return {"auto_pad": "SAME_UPPER"}
    if padding == "VALID":
        return {"auto_pad": "VALID"}
    top, bottom, left, right = padding
    return {"pads": [top, left, bottom, right]}


def _io(w: _Writer, node: Node) -> tuple[Tensor, Tensor]:
    return w.graph.tensors[node.inputs[0]], w.graph.tensors[node.outputs[0]]


@_TABLE.handles("Conv2D")
def _conv(w: _Writer, node: Node) -> str:
    x, _ = _io(w, node)
    return w.qlinear_conv(node, w.value[x.name], x, node.op)


@_TABLE.handles("FullyConnected")
def _fully_connected(w: _Writer, node: Node) -> str:
    x, out = _io(w, node)
    flat = w.nhwc_reshape(x, (x.shape[0], 1, 1, int(np.prod(x.shape[1:]))), f"{node.name}_in")
    y4 = w.qlinear_conv(node, flat, x, O.Conv2D(activation=node.op.activation), fc=True)
    return w.emit("Reshape", [y4, w.const(f"{node.name}_shape", np.array(out.shape, np.int64))], node.name)


@_TABLE.handles("Add", "Mul")
def _add_or_mul(w: _Writer, node: Node) -> str:
    """com.microsoft QLinearAdd / QLinearMul (+ Clip for a fused activation)."""
    _, out = _io(w, node)
    a, b = (w.graph.tensors[n] for n in node.inputs)
    y = w.emit(f"QLinear{node.kind}", [w.value[a.name], *w.qparams(a, a.name), w.value[b.name],
                                       *w.qparams(b, b.name), *w.qparams(out, out.name)],
               node.name, domain="com.microsoft")
    return w.clip(y, node.op.activation, out, node.name)


def _float_between_qdq(w: _Writer, node: Node, op_type: str, extra: tuple[str, ...] = (), **attrs) -> str:
    """DequantizeLinear of each input -> the float op -> QuantizeLinear (+ Clip): how onnxruntime runs a QDQ op
    it has no integer kernel for (accelsim's ``float32`` forms of Sub, Softmax and Mean compute the same)."""
    _, out = _io(w, node)
    floats = []
    for name in node.inputs:
        t = w.graph.tensors[name]
        floats.append(w.emit("DequantizeLinear", [w.value[name], *w.qparams(t, name)], f"{node.name}_dq"))
    y = w.emit(op_type, [*floats, *extra], f"{node.name}_float", **attrs)
    q = w.emit("QuantizeLinear", [y, *w.qparams(out, out.name)], node.name)
    return w.clip(q, getattr(node.op, "activation", "NONE"), out, node.name)


def _onnx_axis(axis: int, rank: int) -> int:
    """The NCHW axis of an IR (NHWC) axis of a rank-``rank`` activation (identity unless 4-D)."""
    axis %= rank
    return _TO_NHWC[axis] if rank == 4 else axis


@_TABLE.handles("Sub")
def _sub(w: _Writer, node: Node) -> str:
    return _float_between_qdq(w, node, "Sub")


@_TABLE.handles("Softmax")
def _softmax(w: _Writer, node: Node) -> str:
    x, _ = _io(w, node)
    return _float_between_qdq(w, node, "Softmax", axis=_onnx_axis(node.op.axis, len(x.shape)))


@_TABLE.handles("Mean")
def _mean(w: _Writer, node: Node) -> str:
    x, out = _io(w, node)
    rank = len(x.shape)
    axes = sorted(_onnx_axis(a, rank) for a in node.op.axes)
    if rank == 4 and not node.op.keepdims and len(out.shape) != 4:
        kept = [a for a in range(4) if a not in {b % 4 for b in node.op.axes}]
        if kept != [a for a in (0, 3, 1, 2) if a in kept]:
            raise UnsupportedError(f"node {node.name!r} (Mean): keepdims=false over axes {list(node.op.axes)} "
                                   f"leaves an NHWC order that NCHW ONNX cannot express without a Transpose")
    axes_value = w.const(f"{node.name}_axes", np.array(axes, np.int64))  # opset 18+: axes is an input
    return _float_between_qdq(w, node, "ReduceMean", (axes_value,), keepdims=int(node.op.keepdims))


@_TABLE.handles("AvgPool", "MaxPool")
def _pool(w: _Writer, node: Node) -> str:
    x, out = _io(w, node)
    op = node.op
    attrs = dict(kernel_shape=list(op.kernel), strides=list(op.stride), **_onnx_padding(op.padding),
                 ceil_mode=int(op.ceil_mode))
    if isinstance(op, O.MaxPool):
        y = w.emit("MaxPool", [w.value[x.name]], node.name, **attrs)
    else:
        y = w.emit("QLinearAveragePool", [w.value[x.name], *w.qparams(x, x.name), *w.qparams(out, out.name)],
                   node.name, domain="com.microsoft", count_include_pad=int(op.count_include_pad), **attrs)
    return w.clip(y, op.activation, out, node.name)


@_TABLE.handles("GlobalAveragePool")
def _global_average_pool(w: _Writer, node: Node) -> str:
    x, out = _io(w, node)
    return w.emit("QLinearGlobalAveragePool", [w.value[x.name], *w.qparams(x, x.name), *w.qparams(out, out.name)],
                  node.name, domain="com.microsoft", channels_last=0)


def _dq_op_q(w: _Writer, node: Node, op_type: str, extra_inputs: list[str], **attrs) -> str:
    """DequantizeLinear → float ``op_type`` → QuantizeLinear: how onnxruntime runs an activation without a QLinear
    kernel (its QDQ form); integer-exact against accelsim's ``float32`` mode."""
    x, out = _io(w, node)
    xf = w.emit("DequantizeLinear", [w.value[x.name], *w.qparams(x, x.name)], f"{node.name}_dq")
    yf = w.emit(op_type, [xf, *extra_inputs], f"{node.name}_float", **attrs)
    return w.emit("QuantizeLinear", [yf, *w.qparams(out, out.name)], node.name)


@_TABLE.handles("Sigmoid", "LeakyReLU")
def _qlinear_activation(w: _Writer, node: Node) -> str:
    """com.microsoft QLinearSigmoid / QLinearLeakyRelu (onnxruntime's 256-entry float lookup table)."""
    x, out = _io(w, node)
    attrs = dict(alpha=float(node.op.alpha)) if isinstance(node.op, O.LeakyReLU) else {}
    op_type = "QLinearSigmoid" if isinstance(node.op, O.Sigmoid) else "QLinearLeakyRelu"
    return w.emit(op_type, [w.value[x.name], *w.qparams(x, x.name), *w.qparams(out, out.name)], node.name,
                  domain="com.microsoft", **attrs)


@_TABLE.handles("HardSwish", "Tanh")
def _float_activation(w: _Writer, node: Node) -> str:
    return _dq_op_q(w, node, node.kind, [])


@_TABLE.handles("HardSigmoid")
def _hard_sigmoid(w: _Writer, node: Node) -> str:
    return _dq_op_q(w, node, "HardSigmoid", [], alpha=float(node.op.alpha), beta=float(node.op.beta))


@_TABLE.handles("PReLU")
def _prelu(w: _Writer, node: Node) -> str:
    """PRelu between DequantizeLinear and QuantizeLinear; the slope an integer initializer read by
    DequantizeLinear, shaped (C, 1, 1) to broadcast over NCHW channels."""
    x, _ = _io(w, node)
    slope = w.graph.tensors[node.inputs[1]]
    data = np.asarray(slope.data)
    if data.size > 1 and len(x.shape) == 4:
        data = data.reshape(-1, 1, 1)
    if slope.dtype in _ONNX_TYPES:
        sf = w.emit("DequantizeLinear", [w.const(slope.name, data), *w.qparams(slope, slope.name)],
                    f"{node.name}_slope")
    else:
        sf = w.const(slope.name, data.astype(np.float32))
    return _dq_op_q(w, node, "PRelu", [sf])


@_TABLE.handles("Concat")
def _concat(w: _Writer, node: Node) -> str:
    _, out = _io(w, node)
    ins = [w.graph.tensors[n] for n in node.inputs]
    axis = node.op.axis % len(out.shape)
    axis = _TO_NHWC[axis] if len(out.shape) == 4 else axis
    if all(t.quant.same_as(out.quant) for t in ins):
        return w.emit("Concat", [w.value[t.name] for t in ins], node.name, axis=axis)
    parts = [*w.qparams(out, out.name)]
    for t in ins:
        parts += [w.value[t.name], *w.qparams(t, t.name)]
    return w.emit("QLinearConcat", parts, node.name, domain="com.microsoft", axis=axis)


@_TABLE.handles("Reshape", "Flatten")
def _reshape(w: _Writer, node: Node) -> str:
    x, out = _io(w, node)
    return w.nhwc_reshape(x, out.shape, node.name)


@_TABLE.handles("Pad")
def _pad(w: _Writer, node: Node) -> str:
    x, _ = _io(w, node)
    pads = list(node.op.pads)
    if len(pads) == 4:
        pads = [pads[i] for i in _TO_NCHW]
    pad_values = [p[0] for p in pads] + [p[1] for p in pads]
    zero = np.asarray(x.quant.zero_point[0]).astype(np.uint8 if x.dtype == "uint8" else np.int8)
    return w.emit("Pad", [w.value[x.name], w.const(f"{node.name}_pads", np.array(pad_values, np.int64)),
                          w.const(f"{node.name}_value", zero)], node.name, mode="constant")


def _onnx_axis(axis: int, rank: int) -> int:
    """The ONNX (NCHW) axis of an IR axis (identity for ranks other than 4)."""
    axis %= rank
    return _TO_NHWC[axis] if rank == 4 else axis


@_TABLE.handles("Transpose")
def _transpose(w: _Writer, node: Node) -> str:
    """Transpose: on 4-D tensors the IR (NHWC) permutation composed with the NCHW <-> NHWC permutations."""
    x, out = _io(w, node)
    perm = list(node.op.perm)
    value = w.value[x.name]
    if len(x.shape) == 4:
        perm = [_TO_NHWC[perm[_TO_NCHW[i]]] for i in range(4)]
    return w.emit("Transpose", [value], node.name, perm=perm)


@_TABLE.handles("Slice")
def _slice(w: _Writer, node: Node) -> str:
    """Slice: ONNX Slice with starts / ends / axes / steps on the NCHW axes (a negative-step slice that runs to
    the start of an axis ends at -2**62, which ONNX clamps to -1)."""
    from accelsim.graph.ops.layout import slice_steps

    x, _ = _io(w, node)
    rank = len(x.shape)
    starts, ends, axes, steps = [], [], [], []
    for axis, (b, n, st) in enumerate(slice_steps(node.op, x.shape)):
        end = b + n * st
        starts.append(b)
        ends.append(end if end >= 0 else -(1 << 62))
        axes.append(_onnx_axis(axis, rank))
        steps.append(st)
    consts = [w.const(f"{node.name}_{k}", np.array(v, np.int64))
              for k, v in (("starts", starts), ("ends", ends), ("axes", axes), ("steps", steps))]
    return w.emit("Slice", [w.value[x.name], *consts], node.name)


@_TABLE.handles("Gather")
def _gather(w: _Writer, node: Node) -> str:
    """Gather with constant indices; a scalar index on a 4-D tensor gathers in NHWC order (the IR's order of the
    3-D result)."""
    x, _ = _io(w, node)
    rank = len(x.shape)
    value = w.value[x.name]
    idx = node.op.indices
    axis = node.op.axis % rank
    if rank == 4 and isinstance(idx, int):
        value = w.emit("Transpose", [value], f"{node.name}_nhwc", perm=list(_TO_NHWC))
    else:
        axis = _onnx_axis(axis, rank)
    indices = w.const(f"{node.name}_indices", np.array(idx, np.int64))
    return w.emit("Gather", [value, indices], node.name, axis=axis)


#: Op kinds this exporter deliberately has no handler for -> the reason (a node of such a kind raises
#: UnsupportedError naming it). Empty: every built-in op kind is exportable.
NOT_EXPORTABLE: Mapping[str, str] = MappingProxyType({})
#: Read-only view: accelsim op kind -> ONNX QLinear exporter handler.
ONNX_QLINEAR_EXPORTERS: Mapping[str, OnnxQLinearExporter] = _TABLE.view


def register_onnx_qlinear_exporter(kind: str, handler: OnnxQLinearExporter, *, replace: bool = False) -> None:
    """Register the ONNX QLinear exporter of op kind ``kind``; an existing entry is replaced only with ``replace``."""
    _TABLE.register(kind, handler, replace=replace)


@_TABLE.handles("Resize")
def _resize(w: _Writer, node: Node) -> str:
    """ONNX Resize on the integers (nearest, or linear run by onnxruntime's 8-bit kernel); a ``dequantized``
    bilinear Resize as DequantizeLinear -> float Resize -> QuantizeLinear (onnxruntime's QDQ form)."""
    x, out = _io(w, node)
    op = node.op
    n, _, _, c = x.shape
    sizes = w.const(f"{node.name}_sizes", np.array([n, c, *op.size], np.int64))
    scales = "" if op.scales is None else w.const(f"{node.name}_scales",
                                                  np.array([1, 1, *op.scales], np.float32))
    size_inputs = [scales] if scales else ["", sizes]
    attrs = dict(mode="nearest" if op.mode == "nearest" else "linear",
                 coordinate_transformation_mode=op.coordinate_mode, nearest_mode=op.nearest_mode)
    if op.mode == "bilinear" and op.dequantized:
        real = w.emit("DequantizeLinear", [w.value[x.name], *w.qparams(x, x.name)], f"{node.name}_dq")
        y = w.emit("Resize", [real, "", *size_inputs], node.name, **attrs)
        return w.emit("QuantizeLinear", [y, *w.qparams(out, out.name)], f"{node.name}_q")
    return w.emit("Resize", [w.value[x.name], "", *size_inputs], node.name, **attrs)
