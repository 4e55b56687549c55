"""Test helper: build small .tflite models directly with the flatbuffers object API of the TFLite schema
(``ai_edge_litert.schema_py_generated``) and run them with LiteRT's reference kernels.

Written independently of ``accelsim.graph.exporters.tflite`` so that importer tests do not go through our own
exporter. Layouts are TFLite's: activations NHWC, conv weights OHWI, depthwise weights [1, KH, KW, C·mult].
"""
from __future__ import annotations

import flatbuffers
import numpy as np
import pytest

S = pytest.importorskip("ai_edge_litert.schema_py_generated")
interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")

TYPES = {"int8": S.TensorType.INT8, "uint8": S.TensorType.UINT8, "int16": S.TensorType.INT16,
         "int32": S.TensorType.INT32, "int64": S.TensorType.INT64, "int4": S.TensorType.INT4,
         "float32": S.TensorType.FLOAT32}
ACT = {"NONE": 0, "RELU": 1, "RELU6": 3, "TANH": 4}
PAD = {"SAME": 0, "VALID": 1}


def int4_bytes(values: np.ndarray) -> bytes:
    """Two signed nibbles per byte, first value in the low nibble (odd counts padded with 0)."""
    v = [int(x) & 0xF for x in np.asarray(values).reshape(-1)]
    if len(v) % 2:
        v.append(0)
    return bytes(lo | (hi << 4) for lo, hi in zip(v[0::2], v[1::2]))


class TFLiteModel:
    """Accumulates tensors and operators of one subgraph; ``finish`` serializes the model."""

    def __init__(self) -> None:
        self.tensors: list = []
        self.buffers = [S.BufferT()]
        self.ops: list = []
        self.codes: dict[int, list] = {}

    def tensor(self, name: str, shape, dtype: str, scale=None, zero_point=0, axis: int = 0, data=None) -> int:
        t = S.TensorT()
        t.name, t.shape, t.type, t.buffer = name, [int(d) for d in shape], TYPES[dtype], 0
        if data is not None:
            raw = int4_bytes(data) if dtype == "int4" else np.ascontiguousarray(data).astype(
                np.dtype(dtype).newbyteorder("<")).tobytes()
            b = S.BufferT()
            b.data = np.frombuffer(raw, np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        if scale is not None:
            q = S.QuantizationParametersT()
            scales = np.atleast_1d(np.asarray(scale, np.float32))
            q.scale = [float(s) for s in scales]
            q.zeroPoint = [int(z) for z in np.broadcast_to(np.asarray(zero_point), scales.shape)]
            q.quantizedDimension = axis
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, name: str, inputs, outputs, options_type: str | None = None, options=None, version: int = 1) -> None:
        code = getattr(S.BuiltinOperator, name)
        if code not in self.codes:
            oc = S.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), version
            self.codes[code] = [len(self.codes), oc]
        o = S.OperatorT()
        o.opcodeIndex = self.codes[code][0]
        o.inputs, o.outputs = list(inputs), list(outputs)
        if options_type:
            o.builtinOptionsType, o.builtinOptions = getattr(S.BuiltinOptions, options_type), options
        self.ops.append(o)

    # ---- op helpers (options set field by field, as in the schema)
    def conv(self, x, w, b, y, *, stride=1, padding="SAME", activation="NONE", dilation=1, version=3) -> None:
        o = S.Conv2DOptionsT()
        o.padding, o.strideH, o.strideW = PAD[padding], stride, stride
        o.dilationHFactor = o.dilationWFactor = dilation
        o.fusedActivationFunction = ACT[activation]
        self.op("CONV_2D", [x, w, b], [y], "Conv2DOptions", o, version)

    def depthwise(self, x, w, b, y, *, multiplier, stride=1, padding="SAME", activation="NONE", dilation=1,
                  version=3) -> None:
        o = S.DepthwiseConv2DOptionsT()
        o.padding, o.strideH, o.strideW, o.depthMultiplier = PAD[padding], stride, stride, multiplier
        o.dilationHFactor = o.dilationWFactor = dilation
        o.fusedActivationFunction = ACT[activation]
        self.op("DEPTHWISE_CONV_2D", [x, w, b], [y], "DepthwiseConv2DOptions", o, version)

    def fully_connected(self, x, w, b, y, *, activation="NONE", version=4) -> None:
        o = S.FullyConnectedOptionsT()
        o.fusedActivationFunction = ACT[activation]
        self.op("FULLY_CONNECTED", [x, w, b], [y], "FullyConnectedOptions", o, version)

    def add(self, a, b, y, *, activation="NONE") -> None:
        o = S.AddOptionsT()
        o.fusedActivationFunction = ACT[activation]
        self.op("ADD", [a, b], [y], "AddOptions", o, 2)

    def pool(self, name, x, y, *, kernel, stride, padding="VALID", activation="NONE") -> None:
        o = S.Pool2DOptionsT()
        o.padding, o.strideH, o.strideW = PAD[padding], stride, stride
        o.filterHeight = o.filterWidth = kernel
        o.fusedActivationFunction = ACT[activation]
        self.op(name, [x], [y], "Pool2DOptions", o, 2)

    def finish(self, inputs, outputs) -> bytes:
        sg = S.SubGraphT()
        sg.tensors, sg.operators, sg.inputs, sg.outputs, sg.name = self.tensors, self.ops, list(inputs), list(
            outputs), "main"
        m = S.ModelT()
        m.version, m.description = 3, "tests/tflite_builder"
        m.operatorCodes = [oc for _, oc in sorted(self.codes.values(), key=lambda p: p[0])]
        m.subgraphs, m.buffers = [sg], self.buffers
        fb = flatbuffers.Builder(1024)
        fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
        return bytes(fb.Output())


def run_reference(model: bytes, feeds: list[np.ndarray]) -> list[np.ndarray]:
    """Run with LiteRT's reference kernels (BUILTIN_REF, 1 thread); returns every output."""
    it = interpreter_module.Interpreter(
        model_content=model, experimental_op_resolver_type=interpreter_module.OpResolverType.BUILTIN_REF,
        num_threads=1)
    it.allocate_tensors()
    for detail, value in zip(it.get_input_details(), feeds):
        it.set_tensor(detail["index"], value)
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]


def same_out(size: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> int:
    """TFLite output size: SAME ceil(n / s), VALID ceil((n − (k − 1)·d) / s)."""
    if padding == "SAME":
        return -(-size // stride)
    return -(-(size - (kernel - 1) * dilation) // stride)
