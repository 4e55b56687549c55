"""Write a quantized accelsim graph as a .tflite flatbuffer (the inverse of ``load_tflite``).

For int8 / uint8 graphs, 16x8 graphs (int16 activations, int8 weights, int64 bias) and int4 weights (packed two
per byte, low nibble first). Every scale, zero point and fused activation is written as held, so LiteRT's
reference kernels run the same integer network. Layout changes: depthwise weights OHWI ``(C·mult, KH, KW, 1)``
go back to ``[1, KH, KW, C·mult]`` with the quantized dimension 3; explicit conv padding that is neither SAME nor
VALID becomes a PAD (with the input zero point) followed by a VALID conv; GlobalAveragePool becomes MEAN over
axes (1, 2) with keep_dims; Flatten becomes RESHAPE; Transpose, Slice (SLICE or STRIDED_SLICE) and Gather are
written as TRANSPOSE / SLICE / STRIDED_SLICE / GATHER. Float interfaces recorded by the importer
(``graph.metadata``) are written back as QUANTIZE / DEQUANTIZE.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType, ModuleType

import flatbuffers
import numpy as np

from accelsim.errors import UnsupportedError
from accelsim.graph import ops as O
from accelsim.graph.bias import bias_dtype, bias_quant_params
from accelsim.graph.importers.tables import HandlerTable
from accelsim.graph.importers.tflite import (
    ACTIVATIONS, FLOAT_INPUTS_KEY, FLOAT_OUTPUTS_KEY, TENSOR_TYPES, tflite_schema,
)
from accelsim.graph.ir import Graph, Node, Tensor
from accelsim.graph.ops.pool import pool_shape
from accelsim.graph.shapes import resolve_padding
from accelsim.graph.stats import is_depthwise
from accelsim.quant.params import QuantParams, dtype_info

_TYPE_CODES = {name: code for code, name in TENSOR_TYPES.items()}
_ACTIVATION_CODES = {name: code for code, name in ACTIVATIONS.items()}
_PADDING_CODES = {"SAME": 0, "VALID": 1}


def pack_int4(values: np.ndarray) -> np.ndarray:
    """Signed 4-bit values (int8 in [-8, 7]) -> bytes, two per byte, first element in the low nibble."""
    flat = np.asarray(values, np.int64).reshape(-1)
    if flat.size and (flat.min() < -8 or flat.max() > 7):
        raise UnsupportedError(f"int4 values must lie in [-8, 7], found [{flat.min()}, {flat.max()}]")
    if flat.size % 2:
        flat = np.append(flat, 0)
    nibbles = (flat & 0x0F).astype(np.uint8)
    return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8)


#: Operator versions LiteRT's reference resolver runs, by activation type (int4 weights: ``INT4_VERSIONS``).
MAC_VERSIONS = {
    "CONV_2D": {"int8": 3, "int16": 4, "uint8": 1},
    "DEPTHWISE_CONV_2D": {"int8": 3, "int16": 5, "uint8": 1},
    "FULLY_CONNECTED": {"int8": 4, "int16": 7, "uint8": 1},
}
INT4_VERSIONS = {"CONV_2D": 7, "DEPTHWISE_CONV_2D": 6, "FULLY_CONNECTED": 10}
OTHER_VERSIONS = {"int8": 2, "int16": 3, "uint8": 1}


def op_version(op_name: str, activation_dtype: str, weight_dtype: str | None) -> int:
    """The operator version to write for a type combination (RESHAPE: 1)."""
    if op_name in MAC_VERSIONS:
        if weight_dtype == "int4":
            return INT4_VERSIONS[op_name]
        return MAC_VERSIONS[op_name][activation_dtype]
    if op_name == "RESHAPE":
        return 1
    return OTHER_VERSIONS[activation_dtype]


def export_tflite(graph: Graph) -> bytes:
    """Serialize a quantized graph to .tflite bytes (identifier ``TFL3``, one subgraph)."""
    if graph.is_float:
        raise UnsupportedError(f"graph {graph.name!r} is a float graph; export_tflite writes quantized graphs only")
    sub_byte = sorted({t.dtype for t in graph.tensors.values() if not t.is_constant and t.bits < 8})
    if sub_byte:  # LiteRT's kernels take int8 / int16 activations only (int4 is a weight type there)
        first = next(t.name for t in graph.tensors.values() if not t.is_constant and t.dtype in sub_byte)
        raise UnsupportedError(f"graph {graph.name!r} has {'/'.join(sub_byte)} activations (e.g. tensor {first!r}); "
                               f"TFLite export supports int8, uint8 and int16 activations only")
    return _Writer(tflite_schema(), graph).model_bytes()


class _Writer:
    def __init__(self, S: ModuleType, graph: Graph) -> None:
        self.S, self.graph = S, graph
        self.buffers = [S.BufferT()]
        self.tensors: list = []
        self.index: dict[str, int] = {}
        self.opcodes: dict[int, tuple[int, object]] = {}
        self.operators: list = []

    # ------------------------------------------------------------------------------------ tensors
    def _add_tensor(self, name: str, shape: tuple[int, ...], dtype: str, quant: QuantParams | None,
                    data: np.ndarray | None, quantized_dimension: int = 0) -> int:
        S = self.S
        if dtype not in _TYPE_CODES:
            raise UnsupportedError(f"tensor {name!r} is {dtype}; TFLite export supports "
                                   f"{', '.join(sorted(_TYPE_CODES))}")
        t = S.TensorT()
        t.name, t.shape, t.type, t.buffer = name, [int(d) for d in shape], _TYPE_CODES[dtype], 0
        if data is not None:
            if dtype == "int4":
                raw = pack_int4(data)
            else:
                raw = np.frombuffer(np.ascontiguousarray(data, np.dtype(dtype).newbyteorder("<")).tobytes(), np.uint8)
            b = S.BufferT()
            b.data = raw
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        if quant is not None:
            if quant.per_channel_quantized and any(int(z) != 0 for z in quant.zero_point):
                # TFLite's int8 spec: per-channel (per-axis) weights are symmetric, zero point 0 ([ref:TFLiteQuantSpec];
                # LiteRT refuses them at prepare, conv.cc "zero_point != 0"). onnxruntime accepts them.
                raise UnsupportedError(f"tensor {name!r} has per-channel zero points other than 0 (asymmetric "
                                       "per-channel weights); TFLite allows per-channel weights only with zero "
                                       "point 0: quantize with symmetric weights, or export to ONNX")
            q = S.QuantizationParametersT()
            q.scale = [float(s) for s in quant.scale]
            q.zeroPoint = [int(z) for z in quant.zero_point]
            q.quantizedDimension = quantized_dimension if quant.per_channel_quantized else 0
            t.quantization = q
        self.tensors.append(t)
        self.index[name] = len(self.tensors) - 1
        return self.index[name]

    def tensor(self, name: str) -> int:
        """The TFLite index of an IR tensor, written on first use."""
        if name not in self.index:
            t = self.graph.tensors[name]
            axis = t.quant.axis if t.quant is not None and t.quant.axis is not None else 0
            self._add_tensor(t.name, t.shape, t.dtype, t.quant, t.data, axis)
        return self.index[name]

    def depthwise_weights(self, name: str) -> int:
        """OHWI depthwise weights ``(C·mult, KH, KW, 1)`` written as ``[1, KH, KW, C·mult]``, quantized dim 3."""
        if name not in self.index:
            t = self.graph.tensors[name]
            data = None if t.data is None else np.ascontiguousarray(t.data[..., 0].transpose(1, 2, 0)[None])
            o, kh, kw, _ = t.shape
            self._add_tensor(t.name, (1, kh, kw, o), t.dtype, t.quant, data, 3)
        return self.index[name]

    def constant_int32(self, name: str, values: np.ndarray) -> int:
        values = np.asarray(values, np.int32)
        return self._add_tensor(self._fresh(name), values.shape, "int32", None, values)

    def _fresh(self, base: str) -> str:
        name, k = base, 0
        while name in self.index or name in self.graph.tensors:
            k += 1
            name = f"{base}_{k}"
        return name

    # ------------------------------------------------------------------------------------ operators
    def operator(self, op_name: str, inputs: list[int], outputs: list[int], options_name: str | None,
                 options, version: int) -> None:
        S = self.S
        code = getattr(S.BuiltinOperator, op_name)
        if code not in self.opcodes:
            oc = S.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), version
            self.opcodes[code] = (len(self.opcodes), oc)
        elif self.opcodes[code][1].version < version:
            self.opcodes[code][1].version = version
        op = S.OperatorT()
        op.opcodeIndex = self.opcodes[code][0]
        op.inputs, op.outputs = list(inputs), list(outputs)
        if options_name is not None:
            op.builtinOptionsType = getattr(S.BuiltinOptions, options_name)
            op.builtinOptions = options
        self.operators.append(op)

    def node(self, node: Node) -> None:
        """Write one IR node with the exporter registered for its kind (``TFLITE_EXPORTERS``)."""
        self.tensor(node.outputs[0])
        handler = _TFLITE_EXPORTERS.get(node.kind)
        if handler is None:
            reason = NOT_EXPORTABLE.get(node.kind, "no TFLite equivalent")
            raise UnsupportedError(f"{self.where(node)}: {reason}")
        handler(self, node)

    def where(self, node: Node) -> str:
        return f"node {node.name!r} ({node.kind})"

    def io(self, node: Node) -> tuple[Tensor, list[int]]:
        """A node's first input tensor and its (already written) output index list."""
        return self.graph.tensors[node.inputs[0]], [self.tensor(node.outputs[0])]

    def concat_inputs(self, node: Node) -> list[int]:
        """Concat inputs; int8 ones quantized differently from the output are first requantized with QUANTIZE
        (LiteRT's int8 CONCATENATION requires equal scales, as the TFLite converter arranges)."""
        out = self.graph.tensors[node.outputs[0]]
        indices = []
        for name in node.inputs:
            t = self.graph.tensors[name]
            index = self.tensor(name)
            if t.dtype == "int8" and not t.quant.same_as(out.quant):
                moved = self._add_tensor(self._fresh(f"{name}_requantized"), t.shape, t.dtype, out.quant, None)
                self.operator("QUANTIZE", [index], [moved], None, None, op_version("QUANTIZE", t.dtype, None))
                index = moved
            indices.append(index)
        return indices

    def padding_code(self, padding: O.Padding, x: Tensor, kernel: tuple[int, int], stride: tuple[int, int],
                     dilation: tuple[int, int]) -> int | None:
        """TFLite SAME/VALID code of a padding, or None if explicit padding matches neither."""
        if isinstance(padding, str):
            return _PADDING_CODES[padding]
        hw = x.shape[1:3]
        for name in ("VALID", "SAME"):
            if tuple(padding) == resolve_padding(name, hw, kernel, stride, dilation):
                return _PADDING_CODES[name]
        return None

    def conv(self, node: Node, op: O.Conv2D, x: Tensor, out: list[int]) -> None:
        S = self.S
        w = self.graph.tensors[node.inputs[1]]
        padding = self.padding_code(op.padding, x, w.shape[1:3], op.stride, op.dilation)
        x_index = self.tensor(x.name)
        if padding is None:  # explicit padding: PAD with the zero point, then a VALID conv
            x_index, padding = self.pad(node, x, x_index, op.padding, None), _PADDING_CODES["VALID"]
        depthwise = is_depthwise(op, x.shape[3])
        if len(node.inputs) == 3:
            bias = [self.tensor(node.inputs[2])]
        elif depthwise:  # LiteRT's DEPTHWISE_CONV_2D requires a bias: write zeros
            bias = [self.zero_bias(node, x, w)]
        else:
            bias = [-1]
        if depthwise:
            opts = S.DepthwiseConv2DOptionsT()
            opts.depthMultiplier = w.shape[0] // x.shape[3]
            weights, name, options_name = self.depthwise_weights(w.name), "DEPTHWISE_CONV_2D", "DepthwiseConv2DOptions"
        else:
            opts = S.Conv2DOptionsT()
            weights, name, options_name = self.tensor(w.name), "CONV_2D", "Conv2DOptions"
        opts.padding = padding
        opts.strideH, opts.strideW = op.stride
        opts.dilationHFactor, opts.dilationWFactor = op.dilation
        opts.fusedActivationFunction = _ACTIVATION_CODES[op.activation]
        self.operator(name, [x_index, weights, *bias], out, options_name, opts, op_version(name, x.dtype, w.dtype))

    def pad(self, node: Node, x: Tensor, x_index: int, padding: tuple[int, int, int, int],
            value: int | None) -> int:
        """PAD (with the zero point, ``value=None``) or PADV2 (with ``value``) of an NHWC tensor by
        (top, bottom, left, right); returns the padded tensor's index."""
        top, bottom, left, right = padding
        shape = (x.shape[0], x.shape[1] + top + bottom, x.shape[2] + left + right, x.shape[3])
        padded = self._add_tensor(self._fresh(f"{node.name}_padded"), shape, x.dtype, x.quant, None)
        pads = self.constant_int32(f"{node.name}_pads", np.array([[0, 0], [top, bottom], [left, right], [0, 0]]))
        if value is None:
            self.operator("PAD", [x_index, pads], [padded], "PadOptions", self.S.PadOptionsT(),
                          op_version("PAD", x.dtype, None))
        else:
            fill = self._add_tensor(self._fresh(f"{node.name}_pad_value"), (), x.dtype, x.quant,
                                    np.array(value, dtype_info(x.dtype).storage))
            self.operator("PADV2", [x_index, pads, fill], [padded], "PadV2Options", self.S.PadV2OptionsT(),
                          op_version("PADV2", x.dtype, None))
        return padded

    def zero_bias(self, node: Node, x: Tensor, w: Tensor) -> int:
        """An all-zero bias at scale ``S_x·S_w[o]`` (int64 for 16-bit input activations)."""
        dtype = bias_dtype(x.dtype)
        quant = bias_quant_params(x.quant, w.quant)
        return self._add_tensor(self._fresh(f"{node.name}_bias"), (w.shape[0],), dtype, quant,
                                np.zeros(w.shape[0], dtype))

    # ------------------------------------------------------------------------------------ model
    def model_bytes(self) -> bytes:
        S, graph = self.S, self.graph
        float_inputs = dict(graph.metadata.get(FLOAT_INPUTS_KEY, {}))
        float_outputs = dict(graph.metadata.get(FLOAT_OUTPUTS_KEY, {}))
        inputs = []
        for name in graph.inputs:
            if name in float_inputs:
                t = graph.tensors[name]
                f = self._add_tensor(float_inputs[name], t.shape, "float32", None, None)
                self.operator("QUANTIZE", [f], [self.tensor(name)], None, None, op_version("QUANTIZE", t.dtype, None))
                inputs.append(f)
            else:
                inputs.append(self.tensor(name))
        for node in graph.nodes:
            self.node(node)
        outputs = []
        for name in graph.outputs:
            if name in float_outputs:
                t = graph.tensors[name]
                f = self._add_tensor(float_outputs[name], t.shape, "float32", None, None)
                self.operator("DEQUANTIZE", [self.tensor(name)], [f], None, None,
                              op_version("DEQUANTIZE", t.dtype, None))
                outputs.append(f)
            else:
                outputs.append(self.tensor(name))
        sub = S.SubGraphT()
        sub.tensors, sub.operators, sub.inputs, sub.outputs, sub.name = (
            self.tensors, self.operators, inputs, outputs, graph.name)
        model = S.ModelT()
        model.version = 3
        model.operatorCodes = [oc for _, oc in sorted(self.opcodes.values(), key=lambda p: p[0])]
        model.subgraphs, model.buffers, model.description = [sub], self.buffers, "accelsim export"
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


# ---------------------------------------------------------------------------------------- handlers
_TABLE = HandlerTable("TFLite exporter")
_TFLITE_EXPORTERS = _TABLE.entries  # what dispatch reads

#: A TFLite exporter handler writes the operators of one IR node through the writer.
TFLiteExporter = Callable[[_Writer, Node], None]


@_TABLE.handles("Conv2D")
def _conv(w: _Writer, node: Node) -> None:
    x, out = w.io(node)
    w.conv(node, node.op, x, out)


@_TABLE.handles("FullyConnected")
def _fully_connected(w: _Writer, node: Node) -> None:
    x, out = w.io(node)
    opts = w.S.FullyConnectedOptionsT()
    opts.fusedActivationFunction = _ACTIVATION_CODES[node.op.activation]
    weights = w.graph.tensors[node.inputs[1]]
    ins = [w.tensor(n) for n in node.inputs]
    if len(ins) == 2:
        ins.append(-1)
    w.operator("FULLY_CONNECTED", ins, out, "FullyConnectedOptions", opts,
               op_version("FULLY_CONNECTED", x.dtype, weights.dtype))


@_TABLE.handles("Add")
def _add(w: _Writer, node: Node) -> None:
    x, out = w.io(node)
    opts = w.S.AddOptionsT()
    opts.fusedActivationFunction = _ACTIVATION_CODES[node.op.activation]
    opts.potScaleInt16 = False
    w.operator("ADD", [w.tensor(n) for n in node.inputs], out, "AddOptions", opts, op_version("ADD", x.dtype, None))


@_TABLE.handles("Sub", "Mul")
def _sub_mul(w: _Writer, node: Node) -> None:
    """SUB / MUL with broadcasting (TFLite broadcasts like numpy)."""
    x, out = w.io(node)
    name = node.kind.upper()
    opts = w.S.SubOptionsT() if name == "SUB" else w.S.MulOptionsT()
    opts.fusedActivationFunction = _ACTIVATION_CODES[node.op.activation]
    w.operator(name, [w.tensor(n) for n in node.inputs], out, f"{node.kind}Options", opts,
               op_version(name, x.dtype, None))


@_TABLE.handles("Softmax")
def _softmax(w: _Writer, node: Node) -> None:
    """SOFTMAX works on the last axis only."""
    x, out = w.io(node)
    if node.op.axis % len(x.shape) != len(x.shape) - 1:
        raise UnsupportedError(f"{w.where(node)}: TFLite SOFTMAX runs over the last axis; this Softmax is over "
                               f"axis {node.op.axis} of a {len(x.shape)}-D tensor")
    y = w.graph.tensors[node.outputs[0]]
    info = dtype_info(y.dtype)
    zero = 0 if x.dtype == "int16" else info.qmin  # activations.cc SoftmaxPrepare's checks
    scale_ok = info.bits == 16 or float(y.quant.scale[0]) == 2.0 ** -8
    if int(y.quant.zero_point[0]) != zero or not scale_ok:
        raise UnsupportedError(f"{w.where(node)}: LiteRT's SOFTMAX needs the output zero point {zero}"
                               f"{'' if info.bits == 16 else ' and scale 1/256'} ({x.dtype} -> {y.dtype}); this "
                               f"one has S = {float(y.quant.scale[0]):g}, Z = {int(y.quant.zero_point[0])}")
    opts = w.S.SoftmaxOptionsT()
    opts.beta = float(node.op.beta)
    w.operator("SOFTMAX", [w.tensor(x.name)], out, "SoftmaxOptions", opts, op_version("SOFTMAX", x.dtype, None))


@_TABLE.handles("Mean")
def _mean(w: _Writer, node: Node) -> None:
    x, out = w.io(node)
    opts = w.S.ReducerOptionsT()
    opts.keepDims = bool(node.op.keepdims)
    axes = w.constant_int32(f"{node.name}_axes", np.array([a % len(x.shape) for a in node.op.axes]))
    w.operator("MEAN", [w.tensor(x.name), axes], out, "ReducerOptions", opts, op_version("MEAN", x.dtype, None))


@_TABLE.handles("AvgPool", "MaxPool")
def _pool(w: _Writer, node: Node) -> None:
    x, out = w.io(node)
    op = node.op
    opts = w.S.Pool2DOptionsT()
    x_index = w.tensor(x.name)
    _refuse_pool_modes(w, node, x)
    opts.padding = w.padding_code(op.padding, x, op.kernel, op.stride, (1, 1))
    if opts.padding is None and isinstance(op, O.AvgPool):
        raise UnsupportedError(f"{w.where(node)}: explicit padding {op.padding} is neither SAME nor VALID, which "
                               f"TFLite's AVERAGE_POOL_2D cannot express (it averages the valid taps only)")
    if opts.padding is None:  # PADV2 with the type's minimum, then a VALID max pool: the same maximum
        x_index = w.pad(node, x, x_index, op.padding, int(dtype_info(x.dtype).qmin))
        opts.padding = _PADDING_CODES["VALID"]
    opts.strideH, opts.strideW = op.stride
    opts.filterHeight, opts.filterWidth = op.kernel
    opts.fusedActivationFunction = _ACTIVATION_CODES[op.activation]
    name = "AVERAGE_POOL_2D" if isinstance(op, O.AvgPool) else "MAX_POOL_2D"
    w.operator(name, [x_index], out, "Pool2DOptions", opts, op_version(name, x.dtype, None))


def _refuse_pool_modes(w: _Writer, node: Node, x: Tensor) -> None:
    """TFLite pools have neither ceil_mode nor count_include_pad: refuse them by name where they change the
    result (a ceil_mode that changes the output size; count_include_pad on a padded window)."""
    op = node.op
    floor_op = dataclasses.replace(op, ceil_mode=False, count_include_pad=False)
    if op.ceil_mode and pool_shape(op, tuple(x.shape)) != pool_shape(floor_op, tuple(x.shape)):
        raise UnsupportedError(f"{w.where(node)}: ceil_mode=True changes the output size here, which TFLite's "
                               f"pools cannot express (they round down); pad the input explicitly instead")
    if getattr(op, "count_include_pad", False) and any(resolve_padding(op.padding, x.shape[1:3], op.kernel,
                                                                       op.stride)):
        raise UnsupportedError(f"{w.where(node)}: count_include_pad=True with padding, which TFLite's "
                               f"AVERAGE_POOL_2D cannot express (it averages the valid taps only)")


@_TABLE.handles("GlobalAveragePool")
def _global_average_pool(w: _Writer, node: Node) -> None:
    x, out = w.io(node)
    opts = w.S.ReducerOptionsT()
    opts.keepDims = True
    axes = w.constant_int32(f"{node.name}_axes", np.array([1, 2]))
    w.operator("MEAN", [w.tensor(x.name), axes], out, "ReducerOptions", opts, op_version("MEAN", x.dtype, None))


@_TABLE.handles("Concat")
def _concat(w: _Writer, node: Node) -> None:
    x, out = w.io(node)
    opts = w.S.ConcatenationOptionsT()
    opts.axis = node.op.axis
    w.operator("CONCATENATION", w.concat_inputs(node), out, "ConcatenationOptions", opts,
               op_version("CONCATENATION", x.dtype, None))


@_TABLE.handles("Reshape", "Flatten")
def _reshape(w: _Writer, node: Node) -> None:
    x, out = w.io(node)
    shape = w.graph.tensors[node.outputs[0]].shape
    opts = w.S.ReshapeOptionsT()
    opts.newShape = list(shape)
    new_shape = w.constant_int32(f"{node.name}_shape", np.array(shape))
    w.operator("RESHAPE", [w.tensor(x.name), new_shape], out, "ReshapeOptions", opts,
               op_version("RESHAPE", x.dtype, None))


@_TABLE.handles("Pad")
def _pad(w: _Writer, node: Node) -> None:
    x, out = w.io(node)
    pads = w.constant_int32(f"{node.name}_pads", np.array(node.op.pads))
    w.operator("PAD", [w.tensor(x.name), pads], out, "PadOptions", w.S.PadOptionsT(), op_version("PAD", x.dtype, None))


@_TABLE.handles("Transpose")
def _transpose(w: _Writer, node: Node) -> None:
    x, out = w.io(node)
    perm = w.constant_int32(f"{node.name}_perm", np.array(node.op.perm))
    w.operator("TRANSPOSE", [w.tensor(x.name), perm], out, "TransposeOptions", w.S.TransposeOptionsT(),
               op_version("TRANSPOSE", x.dtype, None))


@_TABLE.handles("Slice")
def _slice(w: _Writer, node: Node) -> None:
    """SLICE for unit steps, else STRIDED_SLICE (a negative-step slice that runs to the start of an axis sets
    that axis's end_mask bit)."""
    from accelsim.graph.ops.layout import slice_steps

    x, out = w.io(node)
    steps = slice_steps(node.op, x.shape)
    begin = np.array([b for b, _, _ in steps])
    if all(st == 1 for _, _, st in steps):
        size = w.constant_int32(f"{node.name}_size", np.array([n for _, n, _ in steps]))
        w.operator("SLICE", [w.tensor(x.name), w.constant_int32(f"{node.name}_begin", begin), size], out,
                   "SliceOptions", w.S.SliceOptionsT(), op_version("SLICE", x.dtype, None))
        return
    opts = w.S.StridedSliceOptionsT()
    ends = [b + n * st for b, n, st in steps]
    opts.endMask = sum(1 << a for a, e in enumerate(ends) if e < 0)
    ends = [max(e, 0) for e in ends]
    w.operator("STRIDED_SLICE", [w.tensor(x.name), w.constant_int32(f"{node.name}_begin", begin),
                                 w.constant_int32(f"{node.name}_end", np.array(ends)),
                                 w.constant_int32(f"{node.name}_strides", np.array([st for _, _, st in steps]))],
               out, "StridedSliceOptions", opts, op_version("STRIDED_SLICE", x.dtype, None))


@_TABLE.handles("Gather")
def _gather(w: _Writer, node: Node) -> None:
    x, out = w.io(node)
    opts = w.S.GatherOptionsT()
    opts.axis = node.op.axis % len(x.shape)
    indices = w.constant_int32(f"{node.name}_indices", np.array(node.op.indices))
    w.operator("GATHER", [w.tensor(x.name), indices], out, "GatherOptions", opts, op_version("GATHER", x.dtype, None))
#: Operator versions of the activation builtins LiteRT's reference resolver registers, by activation type.
ACTIVATION_VERSIONS = {
    "HARD_SWISH": {"int8": 1, "uint8": 1},
    "LOGISTIC": {"int8": 2, "uint8": 1, "int16": 3},
    "TANH": {"int8": 2, "uint8": 1, "int16": 3},
    "LEAKY_RELU": {"int8": 2, "uint8": 1, "int16": 2},
    "PRELU": {"int8": 1, "uint8": 1},
}


def _activation_version(w: _Writer, node: Node, name: str, dtype: str) -> int:
    versions = ACTIVATION_VERSIONS[name]
    if dtype not in versions:
        raise UnsupportedError(f"{w.where(node)}: LiteRT's {name} has no {dtype} kernel; supported: "
                               f"{', '.join(versions)}")
    return versions[dtype]


@_TABLE.handles("HardSwish", "Sigmoid", "Tanh")
def _unary_activation(w: _Writer, node: Node) -> None:
    x, out = w.io(node)
    name = {"HardSwish": "HARD_SWISH", "Sigmoid": "LOGISTIC", "Tanh": "TANH"}[node.kind]
    fixed = O.op_def(node.kind).fixed_output
    prescribed = None if fixed is None else fixed(node.op, x.dtype, "fixed_point")
    y = w.graph.tensors[node.outputs[0]]
    if prescribed is not None and not y.quant.same_as(QuantParams.per_tensor(*prescribed)):
        raise UnsupportedError(f"{w.where(node)}: LiteRT's {name} needs the output scale {prescribed[0]} and zero "
                               f"point {prescribed[1]}, found {float(y.quant.scale[0])}, "
                               f"{int(y.quant.zero_point[0])} (quantize with a fixed_point requant mode)")
    w.operator(name, [w.tensor(x.name)], out, None, None, _activation_version(w, node, name, x.dtype))


@_TABLE.handles("LeakyReLU")
def _leaky_relu(w: _Writer, node: Node) -> None:
    x, out = w.io(node)
    opts = w.S.LeakyReluOptionsT()
    opts.alpha = float(node.op.alpha)
    w.operator("LEAKY_RELU", [w.tensor(x.name)], out, "LeakyReluOptions", opts,
               _activation_version(w, node, "LEAKY_RELU", x.dtype))


@_TABLE.handles("PReLU")
def _prelu(w: _Writer, node: Node) -> None:
    x, out = w.io(node)
    slope = w.graph.tensors[node.inputs[1]]
    if slope.dtype != x.dtype:
        raise UnsupportedError(f"{w.where(node)}: LiteRT's PRELU needs its alpha of the input's type {x.dtype}, "
                               f"found {slope.dtype}")
    w.operator("PRELU", [w.tensor(x.name), w.tensor(slope.name)], out, None, None,
               _activation_version(w, node, "PRELU", x.dtype))


#: Op kinds this exporter deliberately has no handler for -> the reason (a node of such a kind raises
#: UnsupportedError naming it).
NOT_EXPORTABLE: Mapping[str, str] = MappingProxyType({
    "HardSigmoid": "TFLite has no HARD_SIGMOID builtin (the converter lowers it to MUL / ADD / RELU6 ops)",
})
#: Read-only view: accelsim op kind -> TFLite exporter handler.
TFLITE_EXPORTERS: Mapping[str, TFLiteExporter] = _TABLE.view


def register_tflite_exporter(kind: str, handler: TFLiteExporter, *, replace: bool = False) -> None:
    """Register the TFLite exporter of op kind ``kind``; an existing entry is replaced only with ``replace``."""
    _TABLE.register(kind, handler, replace=replace)


#: Resize (mode, coordinate_mode, nearest_mode) -> TFLite (align_corners, half_pixel_centers); RESIZE_* version
#: 3 covers int8 / uint8 / int16 in LiteRT's registration ([ref:TFLiteRef], register_ref.cc).
_RESIZE_OPTIONS = {("nearest", "asymmetric", "floor"): (False, False),
                   ("nearest", "align_corners", "round_prefer_ceil"): (True, False),
                   ("nearest", "tf_half_pixel_for_nn", "floor"): (False, True),
                   ("bilinear", "asymmetric"): (False, False), ("bilinear", "align_corners"): (True, False),
                   ("bilinear", "half_pixel"): (False, True)}


@_TABLE.handles("Resize")
def _resize(w: _Writer, node: Node) -> None:
    """RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR with align_corners / half_pixel_centers; a mapping TFLite cannot
    express (other coordinate or nearest modes, explicit scales, the dequantized QDQ form) is refused by name."""
    x, out = w.io(node)
    op = node.op
    key = (op.mode, op.coordinate_mode, op.nearest_mode) if op.mode == "nearest" else (op.mode, op.coordinate_mode)
    flags = _RESIZE_OPTIONS.get(key)
    if flags is None:
        raise UnsupportedError(f"{w.where(node)}: {op.mode} Resize with coordinate_mode={op.coordinate_mode}"
                               + (f", nearest_mode={op.nearest_mode}" if op.mode == "nearest" else "")
                               + " has no TFLite equivalent (RESIZE_* express asymmetric, align_corners and "
                                 "half-pixel centers only)")
    if op.scales is not None or op.dequantized:
        raise UnsupportedError(f"{w.where(node)}: Resize with explicit scales or in dequantized (QDQ) form has no "
                               f"TFLite equivalent")
    if op.mode == "nearest":
        name, opts_name, opts = "RESIZE_NEAREST_NEIGHBOR", "ResizeNearestNeighborOptions", \
            w.S.ResizeNearestNeighborOptionsT()
    else:
        name, opts_name, opts = "RESIZE_BILINEAR", "ResizeBilinearOptions", w.S.ResizeBilinearOptionsT()
    opts.alignCorners, opts.halfPixelCenters = flags
    size = w.constant_int32(f"{node.name}_size", np.array(op.size, np.int32))
    w.operator(name, [w.tensor(x.name), size], out, opts_name, opts, 3)
