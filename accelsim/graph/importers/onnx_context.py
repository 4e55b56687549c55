"""ONNX import: the context every handler receives (immutable inputs of the passes + the IR being built)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from accelsim.errors import UnsupportedError
from accelsim.graph import ops as O
from accelsim.graph.importers.onnx_fusion import FusedNode
from accelsim.graph.importers.onnx_qdq import Constants, QuantAnnotations, onnx_attrs
from accelsim.graph.ir import Node, Tensor
from accelsim.graph.shapes import infer_shape
from accelsim.quant.params import QuantParams

#: ONNX ops that may read a flattened NCHW tensor (their weight columns are reordered to the IR's NHWC order).
FLAT_NCHW_READERS = ("Gemm", "MatMul", "QLinearMatMul")


@dataclass
class IRBuilder:
    """The IR under construction: tensors by name, nodes in order, and the flattened tensors whose elements are in
    ONNX (C, H, W) order rather than the IR's (H, W, C)."""

    tensors: dict[str, Tensor] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    chw_flat: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    #: Facts about the import recorded in the graph metadata (dynamic batch, integer interface, ...).
    notes: dict[str, object] = field(default_factory=dict)
    qlinear_softmax: list[str] = field(default_factory=list)  # nodes from com.microsoft QLinearSoftmax
    #: IR outputs of data-movement ops whose ONNX output is quantized differently from their input (onnxruntime
    #: runs such an op in float between DequantizeLinear and QuantizeLinear): IR tensor -> its (dtype, quant).
    requantize_after: dict[str, tuple[str, QuantParams]] = field(default_factory=dict)

    def add_const(self, name: str, data: np.ndarray, dtype: str, quant: QuantParams | None) -> str:
        """A constant tensor under ``name`` (made unique); returns its name."""
        base, k = name, 0
        while name in self.tensors:
            k += 1
            name = f"{base}_{k}"
        self.tensors[name] = Tensor(name, tuple(data.shape), dtype, quant, data, is_constant=True)
        return name

    def add_node(self, base_name: str, op: O.Op, inputs: list[str], out: Tensor, requant: str) -> None:
        """Add the output tensor and a node named ``base_name`` (made unique with trailing underscores)."""
        self.tensors[out.name] = out
        name = base_name
        while any(n.name == name for n in self.nodes):
            name += "_"
        self.nodes.append(Node(name, op, tuple(inputs), (out.name,), requant))


@dataclass(frozen=True)
class OnnxContext:
    """What an ONNX import handler works with: the model's constants and quantization annotations (read-only),
    whether the model is quantized, its requantization mode, and the :class:`IRBuilder` to add nodes to."""

    constants: Constants
    quant: QuantAnnotations
    quantized: bool
    requant: str
    builder: IRBuilder

    @property
    def file(self) -> str:
        return self.constants.file

    def unsupported(self, node, what: str) -> UnsupportedError:
        """The error for an unsupported feature of ``node`` (names the file, node and op type)."""
        return self.constants.unsupported(node, what)

    def attrs(self, node) -> dict[str, object]:
        return onnx_attrs(node)

    def canon(self, name: str) -> str:
        return self.constants.canon(name)

    def ir(self, name: str) -> str:
        """The IR tensor name of an ONNX tensor name."""
        name = self.canon(name)
        return self.quant.rename.get(name, name)

    def is_const(self, name: str) -> bool:
        name = self.canon(name)
        return name in self.constants.values or name in self.quant.const

    def const(self, node, name: str) -> np.ndarray:
        return self.constants.get(node, name)

    def act(self, node, name: str) -> Tensor:
        """The IR activation tensor an input of ``node`` reads; an UnsupportedError if there is none."""
        ir_name = self.ir(name)
        tensors = self.builder.tensors
        if ir_name not in tensors or tensors[ir_name].is_constant:
            raise self.unsupported(node, f"input {name!r} must be an activation produced by a supported op")
        if ir_name in self.builder.chw_flat and node.op_type not in FLAT_NCHW_READERS:
            raise self.unsupported(node, f"input {name!r} is a flattened NCHW tensor, which only Gemm / MatMul may "
                                         f"consume (the IR flattens NHWC)")
        return tensors[ir_name]

    def out_quant(self, node, onnx_out: str) -> tuple[str, QuantParams | None]:
        """(dtype, quant) of an op's output: float32 in float graphs, else from the QuantizeLinear reading it."""
        if not self.quantized:
            return "float32", None
        aq = self.quant.act.get(self.canon(onnx_out))
        if aq is None:
            raise self.unsupported(node, f"output {onnx_out!r} is not quantized: in a quantized model every "
                                         f"activation must feed a QuantizeLinear (QDQ) or come from a QLinear op")
        return aq.dtype, aq.quant

    def passthrough_quant(self, node, x: Tensor, out: str) -> tuple[str, QuantParams | None]:
        """Reshape-like ops keep their input's quantization. Where the Q/DQ after them gives the output other
        (S, Z) — onnxruntime then runs the op in float between DequantizeLinear and QuantizeLinear — the data movement
        keeps the input's and :meth:`emit` adds a requantizing copy (a one-input Concat, whose ``float32`` rescale is
        onnxruntime's DequantizeLinear -> QuantizeLinear arithmetic); in the TFLite modes that is refused."""
        if not self.quantized:
            return "float32", None
        aq = self.quant.act.get(self.canon(out))
        if aq is not None and (aq.dtype != x.dtype or not aq.quant.same_as(x.quant)):
            if self.requant != "float32" or aq.quant.per_channel_quantized:
                raise self.unsupported(node, "input and output quantization differ; supported: equal (S, Z)")
            self.builder.requantize_after[self.ir(out)] = (aq.dtype, aq.quant)
        return x.dtype, x.quant

    def emit(self, node, op: O.Op, inputs: list[str], onnx_out: str, out_dtype: str,
             out_quant: QuantParams | None) -> str:
        """Add an IR node whose output is the ONNX tensor ``onnx_out``; returns the IR tensor name."""
        tensors = self.builder.tensors
        try:
            shape = infer_shape(op, [tensors[i].shape for i in inputs])
        except ValueError as exc:
            raise self.unsupported(node, str(exc)) from None
        out = self.ir(onnx_out)
        requant = self.requant if out_dtype != "float32" else "fixed_point"
        name = node.name or f"{node.op_type}_{len(self.builder.nodes)}"
        pending = self.builder.requantize_after.pop(out, None)
        if pending is not None:   # the data movement, then the requantizing copy to the output's (S, Z)
            moved = f"{out}/moved"
            self.builder.add_node(name, op, inputs, Tensor(moved, shape, out_dtype, out_quant), requant)
            self.builder.add_node(f"{name}/requantize", O.Concat(-1), [moved],
                                  Tensor(out, shape, pending[0], pending[1]), requant)
            return out
        self.builder.add_node(name, op, inputs, Tensor(out, shape, out_dtype, out_quant), requant)
        return out

    def activation(self, fused: FusedNode) -> O.Activation:
        """The fused activation of a node: NONE, or what its fused Relu / Clip(0, 6) / Clip(0, inf) means."""
        node = fused.activation
        if node is None:
            return "NONE"
        if node.op_type == "Relu":
            return "RELU"
        attrs = onnx_attrs(node)
        lo = attrs.get("min", None)
        hi = attrs.get("max", None)
        if len(node.input) > 1 and node.input[1]:
            lo = float(np.asarray(self.const(node, node.input[1])).reshape(-1)[0])
        if len(node.input) > 2 and node.input[2]:
            hi = float(np.asarray(self.const(node, node.input[2])).reshape(-1)[0])
        if lo == 0.0 and hi == 6.0:
            return "RELU6"
        if lo == 0.0 and hi is None:
            return "RELU"
        raise self.unsupported(node, f"Clip({lo}, {hi}) is not supported; supported: Clip(0, 6) and Clip(0, inf) "
                                     f"fused into the producer")
