"""Read a quantized .tflite flatbuffer into the accelsim graph IR.

``load_tflite(path_or_bytes)`` keeps every scale (float32), zero point and fused activation exactly, so the
imported graph executes bit-exactly against LiteRT's reference kernels. Supported: CONV_2D, DEPTHWISE_CONV_2D,
FULLY_CONNECTED, ADD, SUB, MUL (broadcasting), AVERAGE_POOL_2D, MAX_POOL_2D, MEAN (any axes), SOFTMAX,
CONCATENATION, RESHAPE, PAD, TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, GATHER (constant indices), HARD_SWISH,
LOGISTIC, TANH, LEAKY_RELU, PRELU, RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR, and
QUANTIZE / DEQUANTIZE at the graph edges (the float interface, recorded in ``graph.metadata``) and integer
QUANTIZE feeding a CONCATENATION (folded into the Concat's rescaling), PADV2 with the type's minimum before a
VALID MAX_POOL_2D (folded into the MaxPool's explicit padding), PAD with the zero point before a VALID conv
(folded into the conv's explicit padding), integer -> integer QUANTIZE elsewhere (e.g. a uint8 interface around an
int8 model) as a one-input Concat, the IR's rescaling copy. Types: int8,
uint8, int16 activations (16x8, int64 bias), int4 weights (two per byte, low nibble first).

The flatbuffer is decoded with the TFLite schema classes generated for the ``flatbuffers`` package, which ship
in the ``ai-edge-litert`` wheel (``ai_edge_litert.schema_py_generated``). See docs/tflite.md.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import NamedTuple, Union

import numpy as np

from accelsim.errors import AccelsimError, GraphError, ImportError_, UnsupportedError
from accelsim.graph import ops as O
from accelsim.graph.importers.tables import HandlerTable
from accelsim.graph.ir import Graph, Node, Tensor
from accelsim.graph.shapes import infer_shape
from accelsim.quant.params import QuantParams, dtype_info

#: TFLite TensorType enum value -> accelsim storage type name.
TENSOR_TYPES: dict[int, str] = {0: "float32", 2: "int32", 3: "uint8", 4: "int64", 7: "int16", 9: "int8", 17: "int4"}
#: TFLite ActivationFunctionType enum value -> fused activation name (others are unsupported).
ACTIVATIONS: dict[int, O.Activation] = {0: "NONE", 1: "RELU", 3: "RELU6"}
ACTIVATION_NAMES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
#: TFLite Padding enum.
PADDINGS: dict[int, O.Padding] = {0: "SAME", 1: "VALID"}

#: QUANTIZE / DEQUANTIZE: handled at the graph edges (and integer QUANTIZE folded into CONCATENATION), not by a
#: handler.
EDGE_OPS = ("QUANTIZE", "DEQUANTIZE")

#: Operators evaluated statically when they only compute a RESHAPE's int32 target shape (see
#: ``_Importer._static_shape_arithmetic``).
SHAPE_ARITHMETIC_OPS = ("SHAPE", "STRIDED_SLICE", "PACK", "CONCATENATION")

#: Requantization mode of FULLY_CONNECTED nodes. LiteRT's reference FC kernel (ai-edge-litert 2.3, BUILTIN_REF)
#: rounds once with the full 32-bit multiplier, for int8 and 16x8 alike: double rounding (its CONV_2D's rule)
#: gave 3 of 15 360 int8 outputs off by 1, the 16x8 conv rule (multiplier cut to 16 bits) 68 of 640 int16 ones;
#: single rounding 0. Conv and depthwise keep ``fixed_point``.
FC_REQUANT = "fixed_point_single_round"
#: Requantization mode by builtin operator (others: ``fixed_point``).
REQUANT_MODES = {"FULLY_CONNECTED": FC_REQUANT}

#: ``graph.metadata`` keys for the float interface: quantized tensor name -> the float tensor's name.
FLOAT_INPUTS_KEY = "tflite_float_inputs"
FLOAT_OUTPUTS_KEY = "tflite_float_outputs"


def tflite_schema() -> ModuleType:
    """The generated TFLite schema module (from the ai-edge-litert wheel); a clear error if it is missing."""
    try:
        from ai_edge_litert import schema_py_generated
    except ModuleNotFoundError as exc:
        raise UnsupportedError(
            "reading and writing .tflite files needs the TFLite schema classes shipped in the 'ai-edge-litert' "
            f"package, which is not installed ({exc}); install it with: pip install 'accelsim[tflite]'"
        ) from None
    return schema_py_generated


def op_names() -> dict[int, str]:
    """TFLite BuiltinOperator enum value -> name."""
    ops = tflite_schema().BuiltinOperator
    return {v: k for k, v in vars(ops).items() if not k.startswith("_") and isinstance(v, int)}


def unpack_int4(packed: np.ndarray, count: int) -> np.ndarray:
    """Signed 4-bit values stored two per byte, first element in the low nibble -> int8 array of ``count``."""
    nibbles = np.empty(packed.size * 2, np.int8)
    nibbles[0::2] = (packed & 0x0F).astype(np.int8)
    nibbles[1::2] = (packed >> 4).astype(np.int8)
    nibbles = np.where(nibbles > 7, nibbles - 16, nibbles).astype(np.int8)
    return nibbles[:count]


def load_tflite(path_or_bytes: str | Path | bytes) -> Graph:
    """Import the first subgraph of a .tflite model as a quantized accelsim graph.

    Raises :class:`ImportError_` for a file that is not a readable TFLite flatbuffer and
    :class:`UnsupportedError` for an op, activation or type outside the supported set (naming the operator index).
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        source, buf = "<bytes>", bytes(path_or_bytes)
    else:
        source = str(path_or_bytes)
        try:
            buf = Path(path_or_bytes).read_bytes()
        except OSError as exc:
            raise ImportError_(f"cannot read TFLite model {source}: {exc.strerror or exc}") from None
    S = tflite_schema()
    model = _parse(S, buf, source)
    try:
        return _Importer(S, model, buf, source).graph()
    except AccelsimError:
        raise
    except (ValueError, IndexError, TypeError, KeyError) as exc:
        raise ImportError_(f"{source}: the TFLite model is inconsistent and cannot be imported ({exc})") from None


def _parse(S: ModuleType, buf: bytes, source: str):
    problem = ""
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        problem = "it does not carry the TFLite file identifier 'TFL3' at bytes 4..8"
    else:
        try:
            model = S.ModelT.InitFromPackedBuf(buf, 0)
            if not model.subgraphs:
                problem = "it contains no subgraph"
        except Exception as exc:  # any decoding failure of a damaged flatbuffer
            problem = f"decoding the flatbuffer failed ({type(exc).__name__}: {exc})"
    if problem:
        raise ImportError_(
            f"{source} is not a readable TFLite model: {problem}. The file may be truncated, corrupted or of "
            f"another format ({len(buf)} bytes read); TFLite models are FlatBuffers written by the TFLite "
            f"converter or ai-edge-litert, with identifier 'TFL3'."
        )
    return model


class _Importer:
    def __init__(self, S: ModuleType, model, buf: bytes, source: str) -> None:
        self.S, self.model, self.buf, self.source = S, model, buf, source
        self.sub = model.subgraphs[0]
        self.op_names = op_names()
        self.raw: list[Tensor] = []
        for index, t in enumerate(self.sub.tensors or []):
            name = t.name.decode() if isinstance(t.name, bytes) else (t.name or "")
            if not name or any(r.name == name for r in self.raw):
                name = f"{name or 'tensor'}_{index}"
            self.raw.append(self._tensor(index, t, name))
        self.names = [r.name for r in self.raw]

    # -------------------------------------------------------------------------------- tensors
    def _buffer_bytes(self, t) -> np.ndarray | None:
        if t.buffer <= 0 or t.buffer >= len(self.model.buffers or []):
            return None
        b = self.model.buffers[t.buffer]
        if b.data is not None and len(b.data):
            return np.asarray(b.data, np.uint8)
        if b.offset > 1 and b.size > 0:  # large models keep buffers after the flatbuffer
            if b.offset + b.size > len(self.buf):
                raise ImportError_(f"{self.source}: buffer {t.buffer} lies beyond the end of the file (truncated?)")
            return np.frombuffer(self.buf, np.uint8, b.size, b.offset)
        return None

    def _tensor(self, index: int, t, name: str) -> Tensor:
        if t.type not in TENSOR_TYPES:
            type_name = {v: k for k, v in vars(self.S.TensorType).items() if isinstance(v, int)}.get(t.type, t.type)
            raise UnsupportedError(f"{self.source}: tensor {index} {name!r} has type {type_name}; supported: "
                                   f"{', '.join(sorted(set(TENSOR_TYPES.values())))}")
        dtype = TENSOR_TYPES[t.type]
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
        q = t.quantization
        quant = None
        if q is not None and q.scale is not None and len(q.scale):
            scale = np.asarray(q.scale, np.float32)
            zero = np.asarray(q.zeroPoint if q.zeroPoint is not None else [0], np.int64)
            quant = (QuantParams(scale, zero[:1], None) if scale.size == 1
                     else QuantParams.per_channel(scale, zero, int(q.quantizedDimension)))
        data = None
        raw = self._buffer_bytes(t)
        if raw is not None:
            count = int(np.prod(shape, dtype=np.int64))
            if dtype == "int4":
                data = unpack_int4(raw, count).reshape(shape)
            else:
                storage = np.dtype(dtype)
                data = np.frombuffer(raw.tobytes(), storage.newbyteorder("<"), count).astype(storage).reshape(shape)
        return Tensor(name, shape, dtype, quant, data)

    # -------------------------------------------------------------------------------- operators
    def graph(self) -> Graph:
        tensors: dict[str, Tensor] = {}
        nodes: list[Node] = []
        inputs = [self.names[i] for i in self.sub.inputs]
        outputs = [self.names[i] for i in self.sub.outputs]
        float_inputs: dict[str, str] = {}
        float_outputs: dict[str, str] = {}
        consumers = self._consumers()
        folded = self._requantize_into_concat(consumers)
        self.pool_pads = self._padv2_into_max_pool(consumers)
        shape_arithmetic = self._static_shape_arithmetic()
        self.conv_pads = self._pad_into_conv(consumers, set(self.sub.outputs))

        def use(index: int) -> str:
            t = self.raw[index]
            tensors.setdefault(t.name, t)
            return t.name

        for op_index, op in enumerate(self.sub.operators or []):
            if op_index in shape_arithmetic:  # int32 target-shape arithmetic, resolved by the stored shapes
                continue
            op_name = self._op_name(op)
            if op_name not in _TFLITE_HANDLERS and op_name not in EDGE_OPS:
                code = self.model.operatorCodes[op.opcodeIndex]
                custom = f" ({code.customCode.decode()})" if code.customCode else ""
                raise UnsupportedError(f"{self.source}: operator {op_index} is {op_name}{custom}, which accelsim "
                                       f"cannot import; supported: {', '.join((*_TFLITE_HANDLERS, *EDGE_OPS))}")
            ins = [folded.get(i, i) for i in op.inputs]
            out = op.outputs[0]
            where = f"{self.source}: operator {op_index} ({op_name})"
            if (op_name == "QUANTIZE" and out in folded) or (op_name == "PADV2" and out in self.pool_pads) or (
                    op_name in ("PAD", "PADV2") and out in self.conv_pads):
                continue
            if op_name in ("QUANTIZE", "DEQUANTIZE"):
                src, dst = self.raw[ins[0]], self.raw[out]
                if op_name == "QUANTIZE" and src.dtype == "float32" and src.name in inputs:
                    inputs[inputs.index(src.name)] = use(out)
                    float_inputs[dst.name] = src.name
                    continue
                if op_name == "DEQUANTIZE" and dst.dtype == "float32" and dst.name in outputs:
                    outputs[outputs.index(dst.name)] = use(ins[0])
                    float_outputs[src.name] = dst.name
                    continue
                if op_name == "QUANTIZE" and src.dtype != "float32" and dst.dtype != "float32":
                    # integer -> integer QUANTIZE (TFLiteConverter's inference_input_type / inference_output_type
                    # uint8 around an int8 model): TFLite's Requantize (reference/requantize.h:
                    # clamp(MultiplyByQuantizedMultiplier(q - Z_in, S_in / S_out) + Z_out), whose int8 <-> uint8
                    # "^ 0x80" fast path is the same integers) is the rescale of a one-input Concat in fixed_point
                    nodes.append(Node(f"op{op_index}_requantize", O.Concat(-1), (use(ins[0]),), (use(out),),
                                      "fixed_point"))
                    continue
                raise UnsupportedError(f"{where}: {op_name} is supported only at the graph edges (float input -> "
                                       f"QUANTIZE, DEQUANTIZE -> float output), not inside the network")
            attrs, node_inputs = _TFLITE_HANDLERS[op_name](self, TFLiteOperator(op_name, op, ins, out, where))
            node_name = f"op{op_index}_{op_name.lower()}"
            if isinstance(attrs, list):  # SPLIT / SPLIT_V: one Slice node per output
                for k, (op_k, out_k) in enumerate(attrs):
                    nodes.append(Node(f"{node_name}_{k}", op_k, tuple(use(i) for i in node_inputs), (use(out_k),)))
                continue
            if isinstance(attrs, tuple):  # (op, Reshape): MEAN without keep_dims, STRIDED_SLICE shrinking axes
                pooled = Tensor(f"{node_name}_pooled", infer_shape(attrs[0], [self.raw[ins[0]].shape]),
                                self.raw[out].dtype, self.raw[out].quant)
                tensors[pooled.name] = pooled
                nodes.append(Node(node_name, attrs[0], tuple(use(i) for i in node_inputs), (pooled.name,)))
                nodes.append(Node(f"{node_name}_reshape", attrs[1], (pooled.name,), (use(out),)))
                continue
            requant = REQUANT_MODES.get(op_name, "fixed_point")
            nodes.append(Node(node_name, attrs, tuple(use(i) for i in node_inputs), (use(out),), requant))
        for name in inputs:
            tensors.setdefault(name, next(r for r in self.raw if r.name == name))
        metadata: dict[str, object] = {"source_format": "tflite"}
        if float_inputs:
            metadata[FLOAT_INPUTS_KEY] = float_inputs
        if float_outputs:
            metadata[FLOAT_OUTPUTS_KEY] = float_outputs
        name = (self.sub.name.decode() if isinstance(self.sub.name, bytes) else self.sub.name) or "tflite"
        try:
            return Graph(name, tensors, tuple(nodes), tuple(inputs), tuple(outputs), metadata)
        except GraphError as exc:
            raise GraphError(f"{self.source}: the imported graph is invalid: {exc}") from None

    def _op_name(self, op) -> str:
        """The builtin operator name (both opcode fields: codes above 127 live only in ``builtinCode``)."""
        code = self.model.operatorCodes[op.opcodeIndex]
        return self.op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")

    def _consumers(self) -> dict[int, list]:
        """{tensor index: the operators reading it}."""
        consumers: dict[int, list] = {}
        for op in self.sub.operators or []:
            for i in op.inputs:
                consumers.setdefault(i, []).append(op)
        return consumers

    def _requantize_into_concat(self, consumers: dict[int, list]) -> dict[int, int]:
        """Integer -> integer QUANTIZE ops that only feed CONCATENATIONs (how int8 concat inputs with other
        scales are written): {requantized tensor: original tensor}; the Concat node does the rescaling."""
        folded = {}
        for op in self.sub.operators or []:
            if self._op_name(op) != "QUANTIZE":
                continue
            src, dst = op.inputs[0], op.outputs[0]
            if (self.raw[src].dtype != "float32" and self.raw[dst].dtype != "float32"
                    and {self._op_name(u) for u in consumers.get(dst, [])} == {"CONCATENATION"}
                    and self.names[dst] not in [self.names[i] for i in self.sub.outputs]):
                folded[dst] = src
        return folded

    def _static_shape_arithmetic(self) -> set[int]:
        """Indices of the operators that only compute a RESHAPE's int32 target shape from static shapes: SHAPE of
        any tensor, and STRIDED_SLICE / PACK / CONCATENATION of constants and such results, whose int32 outputs
        feed nothing but these ops and the shape input of RESHAPEs. TensorFlow's converter writes Keras's
        ``Flatten`` under a dynamic batch this way (SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE). They compute no
        tensor of the network: the RESHAPE handler takes the output shape stored in the file (batch 1)."""
        ops = list(self.sub.operators or [])
        outputs = set(self.sub.outputs)
        producer = {int(o): i for i, op in enumerate(ops) for o in op.outputs}
        found: set[int] = set()
        for i, op in enumerate(ops):
            name = self._op_name(op)
            if (name not in SHAPE_ARITHMETIC_OPS or len(op.outputs) != 1 or op.outputs[0] in outputs
                    or self.raw[op.outputs[0]].dtype != "int32"):
                continue
            if name == "SHAPE" or all(self.raw[j].data is not None or producer.get(int(j)) in found
                                      for j in op.inputs if j >= 0):
                found.add(i)
        changed = True
        while changed:  # keep only ops whose results reach nothing but shape arithmetic and RESHAPE shapes
            changed = False
            for i in sorted(found):
                out = ops[i].outputs[0]
                users = [(k, list(u.inputs).index(out)) for k, u in enumerate(ops) if out in list(u.inputs)]
                if not users or not all(k in found or (self._op_name(ops[k]) == "RESHAPE" and pos == 1)
                                        for k, pos in users):
                    found.discard(i)
                    changed = True
        return found

    def _padv2_into_max_pool(self, consumers: dict[int, list]) -> dict[int, tuple[int, tuple[int, int, int, int]]]:
        """PADV2 ops padding H and W with the type's minimum and feeding only VALID MAX_POOL_2Ds (how explicit
        max-pool padding is written): {padded tensor: (source tensor, (top, bottom, left, right))}."""
        found = {}
        for op in self.sub.operators or []:
            if self._op_name(op) != "PADV2":
                continue
            src, pads_index, value_index = op.inputs[:3]
            x, pads, value = self.raw[src], self.raw[pads_index].data, self.raw[value_index].data
            users = consumers.get(op.outputs[0], [])
            if (pads is None or value is None or x.dtype not in TENSOR_TYPES.values() or x.dtype == "float32"
                    or pads.shape != (4, 2) or pads[0].any() or pads[3].any()):
                continue
            if int(value.reshape(-1)[0]) != dtype_info(x.dtype).qmin:
                continue
            if users and all(self._op_name(u) == "MAX_POOL_2D" and u.builtinOptions.padding == 1 for u in users):
                found[op.outputs[0]] = (src, (int(pads[1, 0]), int(pads[1, 1]), int(pads[2, 0]), int(pads[2, 1])))
        return found

    def _pad_into_conv(self, consumers: dict[int, list], graph_outputs: set[int]
                       ) -> dict[int, tuple[int, tuple[int, int, int, int]]]:
        """PAD (or PADV2 with the zero point) of H and W only, feeding only VALID CONV_2D / DEPTHWISE_CONV_2D ops
        (how explicit conv padding is written, accelsim's exporter included): {padded tensor: (source tensor,
        (top, bottom, left, right))}. The IR conv pads with the input zero point, as PAD does for quantized
        tensors (TFLite reference pad.cc), so the conv with explicit padding computes the same integers."""
        found = {}
        for op in self.sub.operators or []:
            name = self._op_name(op)
            if name not in ("PAD", "PADV2") or op.outputs[0] in graph_outputs:
                continue
            src = op.inputs[0]
            x, pads = self.raw[src], self.raw[op.inputs[1]].data
            if (pads is None or x.quant is None or x.dtype == "float32" or pads.shape != (4, 2)
                    or pads[0].any() or pads[3].any()):
                continue
            if name == "PADV2":
                value = self.raw[op.inputs[2]].data
                if value is None or int(value.reshape(-1)[0]) != int(x.quant.zero_point[0]):
                    continue
            users = consumers.get(op.outputs[0], [])
            if users and all(self._op_name(u) in ("CONV_2D", "DEPTHWISE_CONV_2D") and u.inputs[0] == op.outputs[0]
                             and u.builtinOptions.padding == 1 for u in users):
                found[op.outputs[0]] = (src, (int(pads[1, 0]), int(pads[1, 1]), int(pads[2, 0]), int(pads[2, 1])))
        return found

    def _activation(self, options, where: str) -> O.Activation:
        fused = int(getattr(options, "fusedActivationFunction", 0) or 0)
        if fused not in ACTIVATIONS:
            raise UnsupportedError(f"{where}: fused activation {ACTIVATION_NAMES.get(fused, fused)} is not "
                                   f"supported; supported: {', '.join(ACTIVATIONS.values())}")
        return ACTIVATIONS[fused]

    def _const(self, index: int, where: str) -> np.ndarray:
        data = self.raw[index].data
        if data is None:
            raise UnsupportedError(f"{where}: input {index} must be a constant tensor")
        return data

    def _to_ohwi_depthwise(self, index: int, where: str) -> None:
        """Depthwise weights [1, KH, KW, C·mult] (quantized dim 3) -> OHWI (C·mult, KH, KW, 1) (axis 0), in place."""
        t = self.raw[index]
        if t.shape[:1] == (1,) and len(t.shape) == 4:
            data = None if t.data is None else np.ascontiguousarray(t.data[0].transpose(2, 0, 1)[..., None])
            quant = t.quant
            if quant is not None and quant.per_channel_quantized:
                quant = QuantParams.per_channel(quant.scale, quant.zero_point, 0)
            shape = (t.shape[3], t.shape[1], t.shape[2], 1)
            self.raw[index] = Tensor(t.name, shape, t.dtype, quant, data)
        elif not (len(t.shape) == 4 and t.shape[3] == 1):
            raise UnsupportedError(f"{where}: depthwise weights have shape {t.shape}; expected [1, KH, KW, C*mult]")


# ---------------------------------------------------------------------------------------- handlers
_TABLE = HandlerTable("TFLite import handler")
_TFLITE_HANDLERS = _TABLE.entries  # what dispatch reads

class TFLiteOperator(NamedTuple):
    """One TFLite operator as a handler sees it: builtin name, the operator, its input tensor indices (after
    folding), its output tensor index and the location prefix for error messages."""

    name: str
    op: object
    ins: list[int]
    out: int
    where: str


#: A handler returns the IR op (or an (op, Reshape) pair: MEAN without keep_dims, STRIDED_SLICE with shrunk axes;
#: or a list of (op, output tensor index), one node per output: SPLIT, SPLIT_V) and the TFLite tensor indices it
#: reads.
TFLiteResult = tuple[Union[O.Op, tuple[O.Op, O.Op], list[tuple[O.Op, int]]], list[int]]
TFLiteHandler = Callable[[_Importer, TFLiteOperator], TFLiteResult]


@_TABLE.handles("CONV_2D")
def _conv_2d(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    opts = t.op.builtinOptions
    ins, padding = _conv_input(imp, t)
    x, w = imp.raw[ins[0]], imp.raw[ins[1]]
    groups = x.shape[3] // w.shape[3] if w.shape[3] else 1
    return O.Conv2D((opts.strideH, opts.strideW), (opts.dilationHFactor, opts.dilationWFactor),
                    padding, groups, imp._activation(opts, t.where)), [i for i in ins if i >= 0]


def _conv_input(imp: _Importer, t: TFLiteOperator) -> tuple[list[int], O.Padding]:
    """The conv's inputs and padding, with a PAD folded into it (``_Importer._pad_into_conv``)."""
    if t.ins[0] in imp.conv_pads:
        src, pads = imp.conv_pads[t.ins[0]]
        return [src, *t.ins[1:]], pads
    return list(t.ins), PADDINGS[t.op.builtinOptions.padding]


@_TABLE.handles("DEPTHWISE_CONV_2D")
def _depthwise_conv_2d(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    opts = t.op.builtinOptions
    ins, padding = _conv_input(imp, t)
    x = imp.raw[ins[0]]
    imp._to_ohwi_depthwise(ins[1], t.where)
    return O.Conv2D((opts.strideH, opts.strideW), (opts.dilationHFactor, opts.dilationWFactor),
                    padding, x.shape[3], imp._activation(opts, t.where)), [i for i in ins if i >= 0]


@_TABLE.handles("FULLY_CONNECTED")
def _fully_connected(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    opts = t.op.builtinOptions
    if opts is not None and opts.weightsFormat != 0:
        raise UnsupportedError(f"{t.where}: shuffled FULLY_CONNECTED weights are not supported")
    if opts is not None and opts.keepNumDims and len(imp.raw[t.out].shape) != 2:
        raise UnsupportedError(f"{t.where}: keep_num_dims with a {len(imp.raw[t.out].shape)}-D output "
                               f"is not supported; supported: 2-D (N, O) outputs")
    return O.FullyConnected(imp._activation(opts, t.where)), [i for i in t.ins if i >= 0]


@_TABLE.handles("ADD", "SUB", "MUL")
def _binary(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    """ADD / SUB / MUL of two tensors with numpy broadcasting (TFLite BroadcastAdd/Sub/Mul)."""
    a, b = imp.raw[t.ins[0]].shape, imp.raw[t.ins[1]].shape
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        raise UnsupportedError(f"{t.where}: {t.name} inputs {a} and {b} do not broadcast") from None
    cls = {"ADD": O.Add, "SUB": O.Sub, "MUL": O.Mul}[t.name]
    return cls(imp._activation(t.op.builtinOptions, t.where)), t.ins


@_TABLE.handles("AVERAGE_POOL_2D", "MAX_POOL_2D")
def _pool_2d(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    opts = t.op.builtinOptions
    kernel, stride = (opts.filterHeight, opts.filterWidth), (opts.strideH, opts.strideW)
    if t.name == "MAX_POOL_2D" and t.ins[0] in imp.pool_pads:  # PADV2 with the type's minimum folded in
        source, padding = imp.pool_pads[t.ins[0]]
        return O.MaxPool(kernel, stride, padding, imp._activation(opts, t.where)), [source]
    cls = O.AvgPool if t.name == "AVERAGE_POOL_2D" else O.MaxPool
    return cls(kernel, stride, PADDINGS[opts.padding], imp._activation(opts, t.where)), t.ins[:1]


@_TABLE.handles("MEAN")
def _mean(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    opts = t.op.builtinOptions
    x = imp.raw[t.ins[0]]
    axes = sorted(int(a) % max(len(x.shape), 1) for a in imp._const(t.ins[1], t.where).reshape(-1))
    keep = bool(opts is not None and opts.keepDims)
    if len(x.shape) != 4 or axes != [1, 2]:  # any other axes: the general Mean op
        if not axes:
            raise UnsupportedError(f"{t.where}: MEAN over no axes is not supported; give at least one axis")
        return O.Mean(tuple(axes), keep), t.ins[:1]
    if keep:
        return O.GlobalAveragePool(), t.ins[:1]
    return (O.GlobalAveragePool(), O.Reshape(imp.raw[t.out].shape)), t.ins[:1]


@_TABLE.handles("SOFTMAX")
def _softmax(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    """SOFTMAX over the last axis with its β (SoftmaxOptions)."""
    opts = t.op.builtinOptions
    beta = float(opts.beta) if opts is not None else 1.0
    return O.Softmax(-1, beta), t.ins[:1]


@_TABLE.handles("CONCATENATION")
def _concatenation(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    opts = t.op.builtinOptions
    if imp._activation(opts, t.where) != "NONE":
        raise UnsupportedError(f"{t.where}: CONCATENATION with a fused activation is not supported")
    return O.Concat(int(opts.axis)), t.ins


@_TABLE.handles("RESHAPE")
def _reshape(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    """RESHAPE; a 4-D NHWC tensor to (N, H·W·C) is the IR Flatten (the same row-major order), which is how
    TFLite writes a flatten, accelsim's exporter included."""
    x, out = imp.raw[t.ins[0]].shape, imp.raw[t.out].shape
    if len(x) == 4 and len(out) == 2 and out == (x[0], int(np.prod(x[1:]))):
        return O.Flatten(), t.ins[:1]
    return O.Reshape(out), t.ins[:1]


@_TABLE.handles("PAD")
def _pad(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    pads = imp._const(t.ins[1], t.where).reshape(-1, 2)
    return O.Pad(tuple((int(a), int(b)) for a, b in pads)), t.ins[:1]


@_TABLE.handles("PADV2")
def _padv2(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    x = imp.raw[t.ins[0]]
    value = int(imp._const(t.ins[2], t.where).reshape(-1)[0])
    if x.quant is None or value != int(x.quant.zero_point[0]):
        raise UnsupportedError(f"{t.where}: PADV2 with the value {value} is supported only as padding with the "
                               f"zero point or, before a VALID MAX_POOL_2D, with the type's minimum")
    return _pad(imp, t)


@_TABLE.handles("TRANSPOSE")
def _transpose(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    """TRANSPOSE with a constant permutation (LiteRT is NHWC like the IR: the permutation is taken as is)."""
    perm = tuple(int(p) for p in imp._const(t.ins[1], t.where).reshape(-1))
    return O.Transpose(perm), t.ins[:1]


def _batch_size(begin: list[int], size: list[int], strides: list[int], shape: tuple[int, ...]) -> list[int]:
    """A slice over the whole batch axis follows the graph's batch (size −1)."""
    if begin[0] == 0 and strides[0] == 1 and size[0] == shape[0]:
        size[0] = -1
    return size


@_TABLE.handles("SLICE")
def _slice(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    """SLICE(x, begin, size) with constant begin / size (size −1: to the end)."""
    x = imp.raw[t.ins[0]]
    begin = [int(v) for v in imp._const(t.ins[1], t.where).reshape(-1)]
    size = [int(v) if int(v) >= 0 else d - b for v, b, d in zip(imp._const(t.ins[2], t.where).reshape(-1),
                                                                  begin, x.shape)]
    return O.Slice(tuple(begin), tuple(_batch_size(begin, size, [1] * len(size), x.shape))), t.ins[:1]


#: StridedSliceOptions bits the importer honours; the others (ellipsis, new axis, offset) are refused by name.
_BIG = 1 << 40


@_TABLE.handles("STRIDED_SLICE")
def _strided_slice(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    """STRIDED_SLICE with constant begin / end / strides, begin / end masks and shrink_axis_mask, clamped as
    TFLite's ``strided_slice_logic.h`` does ([ref:TFLiteRef]): a masked start / stop is the extreme of the axis,
    negative values count from the end, then starts and stops are clamped to [0, dim] (stride > 0) or [−1, dim − 1]
    (stride < 0). Shrunk axes become a Reshape after the Slice."""
    from accelsim.graph.importers.onnx_fold import onnx_slice_bounds

    opts = t.op.builtinOptions
    x = imp.raw[t.ins[0]]
    for name in ("ellipsisMask", "newAxisMask"):
        if opts is not None and int(getattr(opts, name, 0) or 0):
            raise UnsupportedError(f"{t.where}: STRIDED_SLICE with {name} is not supported; supported: "
                                   f"begin_mask, end_mask, shrink_axis_mask")
    if opts is not None and getattr(opts, "offset", False):
        raise UnsupportedError(f"{t.where}: STRIDED_SLICE with offset=true is not supported")
    begin_v, end_v, strides_v = ([int(v) for v in imp._const(i, t.where).reshape(-1)] for i in t.ins[1:4])
    bm, em, sm = ((int(getattr(opts, f, 0) or 0) if opts is not None else 0)
                  for f in ("beginMask", "endMask", "shrinkAxisMask"))
    begin, size, strides, keep = [], [], [], []
    for axis, dim in enumerate(x.shape):
        if axis >= len(begin_v):
            begin.append(0), size.append(dim), strides.append(1), keep.append(dim)
            continue
        step = strides_v[axis]
        if step == 0:
            raise UnsupportedError(f"{t.where}: STRIDED_SLICE stride 0 on axis {axis}")
        if sm >> axis & 1:
            b = begin_v[axis] + dim if begin_v[axis] < 0 else begin_v[axis]
            begin.append(b), size.append(1), strides.append(1)
            continue
        start = (-_BIG if step > 0 else _BIG) if bm >> axis & 1 else begin_v[axis]
        stop = (_BIG if step > 0 else -_BIG) if em >> axis & 1 else end_v[axis]
        b, n, st = onnx_slice_bounds(start, stop, step, dim)
        if n == 0:
            raise UnsupportedError(f"{t.where}: STRIDED_SLICE gives an empty axis {axis}")
        begin.append(b), size.append(n), strides.append(st), keep.append(n)
    size = _batch_size(begin, size, strides, x.shape)
    op = O.Slice(tuple(begin), tuple(size), tuple(strides) if any(s != 1 for s in strides) else ())
    if sm:
        return (op, O.Reshape(imp.raw[t.out].shape)), t.ins[:1]
    return op, t.ins[:1]


def _split_ops(x: Tensor, axis: int, parts: list[int], outs: list[int], where: str) -> list[tuple[O.Op, int]]:
    axis %= len(x.shape)
    if sum(parts) != x.shape[axis] or any(p <= 0 for p in parts) or len(parts) != len(outs):
        raise UnsupportedError(f"{where}: split sizes {parts} do not divide axis {axis} of {x.shape} into "
                               f"{len(outs)} parts")
    result, start = [], 0
    for n, out in zip(parts, outs):
        begin = [0] * len(x.shape)
        size = [-1] + list(x.shape[1:])
        begin[axis], size[axis] = start, n
        if axis == 0:
            size[0] = n
        result.append((O.Slice(tuple(begin), tuple(size)), out))
        start += n
    return result


@_TABLE.handles("SPLIT")
def _split(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    """SPLIT(axis, x) into ``num_splits`` equal parts: one Slice per output."""
    x = imp.raw[t.ins[1]]
    axis = int(imp._const(t.ins[0], t.where).reshape(-1)[0])
    outs = list(t.op.outputs)
    dim = x.shape[axis % len(x.shape)]
    if dim % len(outs):
        raise UnsupportedError(f"{t.where}: SPLIT of {dim} into {len(outs)} unequal parts")
    return _split_ops(x, axis, [dim // len(outs)] * len(outs), outs, t.where), [t.ins[1]]


@_TABLE.handles("SPLIT_V")
def _split_v(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    """SPLIT_V(x, size_splits, axis) (one size may be −1: the rest): one Slice per output."""
    x = imp.raw[t.ins[0]]
    axis = int(imp._const(t.ins[2], t.where).reshape(-1)[0])
    parts = [int(v) for v in imp._const(t.ins[1], t.where).reshape(-1)]
    if parts.count(-1) == 1:
        parts[parts.index(-1)] = x.shape[axis % len(x.shape)] - sum(p for p in parts if p != -1)
    return _split_ops(x, axis, parts, list(t.op.outputs), t.where), t.ins[:1]


@_TABLE.handles("GATHER")
def _gather(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    """GATHER(params, indices) with constant 0-D / 1-D indices and batch_dims 0."""
    opts = t.op.builtinOptions
    if opts is not None and int(getattr(opts, "batchDims", 0) or 0):
        raise UnsupportedError(f"{t.where}: GATHER with batch_dims != 0 is not supported")
    idx = np.asarray(imp._const(t.ins[1], t.where)).astype(np.int64)
    if idx.ndim > 1:
        raise UnsupportedError(f"{t.where}: GATHER with {idx.ndim}-D indices; supported: 0-D or 1-D constants")
    axis = int(getattr(opts, "axis", 0) or 0) if opts is not None else 0
    indices: tuple[int, ...] | int = int(idx) if idx.ndim == 0 else tuple(int(i) for i in idx)
    return O.Gather(axis, indices), t.ins[:1]
@_TABLE.handles("HARD_SWISH", "LOGISTIC", "TANH")
def _unary_activation(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    """HARD_SWISH, LOGISTIC, TANH: one input, no options."""
    return {"HARD_SWISH": O.HardSwish, "LOGISTIC": O.Sigmoid, "TANH": O.Tanh}[t.name](), t.ins[:1]


@_TABLE.handles("LEAKY_RELU")
def _leaky_relu(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    opts = t.op.builtinOptions
    return O.LeakyReLU(float(np.float32(opts.alpha if opts is not None else 0.0))), t.ins[:1]


@_TABLE.handles("PRELU")
def _prelu(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    """PRELU with a constant alpha of one value or one per channel (shape (C,), (1, 1, C), (1, 1, 1, C))."""
    x, alpha = imp.raw[t.ins[0]], imp.raw[t.ins[1]]
    data = imp._const(t.ins[1], t.where)
    channels = x.shape[-1]
    if data.size not in (1, channels) or (data.size > 1 and alpha.shape[-1] != channels):
        raise UnsupportedError(f"{t.where}: PRELU alpha of shape {alpha.shape} is not supported; supported: one "
                               f"alpha or one per channel (last axis)")
    if alpha.quant is not None and alpha.quant.per_channel_quantized:
        raise UnsupportedError(f"{t.where}: a per-channel quantized PRELU alpha is not supported")
    imp.raw[t.ins[1]] = Tensor(alpha.name, (int(data.size),), alpha.dtype, alpha.quant, data.reshape(-1))
    return O.PReLU(), t.ins[:2]
@_TABLE.handles("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR")
def _resize(imp: _Importer, t: TFLiteOperator) -> TFLiteResult:
    """RESIZE_* (input, int32 size [H', W']) with align_corners / half_pixel_centers -> Resize
    (accelsim.graph.ops.resize maps the flags to ONNX coordinate modes)."""
    opts = t.op.builtinOptions
    align = bool(opts.alignCorners) if opts is not None else False
    half = bool(opts.halfPixelCenters) if opts is not None else False
    if align and half:
        raise UnsupportedError(f"{t.where}: align_corners and half_pixel_centers together are not supported")
    size = tuple(int(v) for v in imp._const(t.ins[1], t.where).reshape(-1))
    if len(size) != 2:
        raise UnsupportedError(f"{t.where}: the size input must hold 2 values (H, W), got {list(size)}")
    if t.name == "RESIZE_BILINEAR":
        coord = "align_corners" if align else "half_pixel" if half else "asymmetric"
        return O.Resize(size, "bilinear", coord), t.ins[:1]
    coord = "align_corners" if align else "tf_half_pixel_for_nn" if half else "asymmetric"
    return O.Resize(size, "nearest", coord, "round_prefer_ceil" if align else "floor"), t.ins[:1]


#: Read-only view: TFLite builtin operator name -> import handler.
TFLITE_HANDLERS: Mapping[str, TFLiteHandler] = _TABLE.view
#: The builtin operators the importer reads (handlers, then the graph-edge ops), as shipped.
SUPPORTED_OPS = (*_TFLITE_HANDLERS, *EDGE_OPS)


def register_tflite_handler(builtin: str, handler: TFLiteHandler, *, replace: bool = False) -> None:
    """Register the import handler of TFLite builtin operator ``builtin`` (its ``BuiltinOperator`` name, e.g.
    ``"HARD_SWISH"``); an existing entry is replaced only with ``replace=True``."""
    if builtin in EDGE_OPS:
        raise GraphError(f"{builtin} is handled at the graph edges and cannot take a handler")
    _TABLE.register(builtin, handler, replace=replace)
