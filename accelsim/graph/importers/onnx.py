"""ONNX importer: float models and quantized models (QDQ and QOperator form) -> the accelsim graph IR.

Layouts: ONNX is NCHW with OIHW weights; the IR is NHWC with OHWI weights. Every 4-D activation is
transposed on import; axis attributes (Concat, Pad, Flatten) are mapped accordingly.

Float models become float graphs: BatchNormalization is folded into the preceding Conv / Gemm / MatMul
(``accelsim.quant.bnfold``), a constant Add after MatMul becomes its bias, Relu and Clip(0, 6) become the
producer's fused activation. Quantized models become quantized graphs with the model's exact scales and zero
points and requantization mode ``float32`` (onnxruntime semantics, [ref:ORT]):

* QDQ form: each QuantizeLinear -> DequantizeLinear pair on an activation gives that tensor its (S, Z, dtype);
  DequantizeLinear of an integer initializer gives a constant integer tensor (per-tensor or per-axis, int4 ok).
* QOperator form: QuantizeLinear at the inputs, QLinearConv / QLinearMatMul (and com.microsoft QLinearAdd,
  QLinearAveragePool, QLinearGlobalAveragePool), integer MaxPool / Flatten / Reshape, DequantizeLinear at the
  outputs.

A graph input keeps its ONNX name and gets the quantization of the QuantizeLinear that reads it; a graph output
keeps its ONNX name and carries the quantization of the DequantizeLinear that produces it. Anything outside the
supported set raises :class:`UnsupportedError` naming the op type, the node and what is supported (docs/onnx.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelsim.errors import GraphError, ImportError_, UnsupportedError
from accelsim.graph import ops as O
from accelsim.graph.bias import bias_quant_params
from accelsim.graph.ir import Graph, Node, Tensor
from accelsim.graph.shapes import infer_shape
from accelsim.quant.bnfold import fold_batch_norm
from accelsim.quant.params import QuantParams, dtype_info

#: ONNX op types the importer understands (default domain unless noted).
FLOAT_OPS = ("Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "Clip", "Add", "MaxPool", "AveragePool",
             "GlobalAveragePool", "Flatten", "Reshape", "Concat", "Pad", "Identity", "Dropout", "Constant")
QUANT_OPS = ("QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "QGemm (com.microsoft)",
             "QLinearAdd (com.microsoft)",
             "QLinearAveragePool (com.microsoft)", "QLinearGlobalAveragePool (com.microsoft)")
SUPPORTED_OPS = FLOAT_OPS + QUANT_OPS

#: ONNX TensorProto element types of integer tensors -> accelsim storage type names.
_ONNX_INT_TYPES = {2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 21: "uint4", 22: "int4"}

_ACTIVATION_OPS = ("Relu", "Clip")


def load_onnx(path: str | Path, *, batch_size: int | None = None) -> Graph:
    """Import the ONNX model at ``path`` as a float or quantized accelsim graph.

    ``batch_size`` fixes a symbolic (or overrides the) leading dimension of the graph inputs; a symbolic batch
    dimension defaults to 1. Raises :class:`ImportError_` if the file cannot be read as an ONNX model and
    :class:`UnsupportedError` for an op or attribute outside the supported set.
    """
    model = _read_model(Path(path))
    return _Importer(model, Path(path).name, batch_size).run()


def _read_model(path: Path):
    import onnx

    hint = ("Check that the file is a complete ONNX model (a truncated download or a different format "
            "gives this error); re-export it or load it with onnx.load to see the protobuf error.")
    if not path.is_file():
        raise ImportError_(f"{path}: no such ONNX model file.")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError and friends
        raise ImportError_(f"{path}: cannot be parsed as an ONNX model ({type(exc).__name__}: {exc}). {hint}") from None
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportError_(f"{path}: is not a valid ONNX model ({first}). {hint}") from None
    if not model.graph.node:
        raise ImportError_(f"{path}: the ONNX graph has no nodes. {hint}")
    return model


@dataclass(frozen=True)
class _ActQuant:
    """Quantization of an activation tensor, read from a QuantizeLinear / QLinear* node."""

    dtype: str
    quant: QuantParams


def _attrs(node) -> dict[str, object]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _nchw_to_nhwc(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[0], shape[2], shape[3], shape[1]) if len(shape) == 4 else tuple(shape)


def _nhwc_to_nchw(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[0], shape[3], shape[1], shape[2]) if len(shape) == 4 else tuple(shape)


def _nchw_axis(axis: int, rank: int) -> int:
    """The NHWC axis of an NCHW axis (identity for ranks other than 4)."""
    axis %= rank
    return (0, 3, 1, 2)[axis] if rank == 4 else axis


class _Importer:
    def __init__(self, model, file_name: str, batch_size: int | None) -> None:
        from onnx import numpy_helper

        self.model = model
        self.file = file_name
        self.batch_size = batch_size
        g = model.graph
        self.consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        for n in g.node:  # Constant nodes are constants too
            if n.op_type == "Constant":
                self.consts[n.output[0]] = _constant_value(n, file_name)
        self.consumers: dict[str, list] = {}
        for n in g.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.graph_outputs = [o.name for o in g.output]
        self.quantized = any(n.op_type in ("QuantizeLinear", "DequantizeLinear") or n.op_type.startswith("QLinear")
                             for n in g.node)
        self.alias: dict[str, str] = {}          # ONNX tensor name -> the ONNX name it stands for
        self.rename: dict[str, str] = {}         # ONNX tensor name -> IR name (graph outputs behind a DQ)
        self.act_quant: dict[str, _ActQuant] = {}
        self.const_quant: dict[str, tuple[np.ndarray, str, QuantParams]] = {}
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self.done: set[int] = set()              # ids of ONNX nodes absorbed by fusion
        self.chw_flat: dict[str, tuple[int, int, int]] = {}  # flattened tensors in ONNX (C, H, W) order
        self.requant = "float32" if self.quantized else "fixed_point"

    # ------------------------------------------------------------------------------------------- helpers
    def unsupported(self, node, what: str) -> UnsupportedError:
        domain = f" ({node.domain})" if node.domain not in ("", "ai.onnx") else ""
        return UnsupportedError(f"{self.file}: node {node.name or '<unnamed>'!r} ({node.op_type}{domain}): {what}")

    def canon(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def ir(self, name: str) -> str:
        name = self.canon(name)
        return self.rename.get(name, name)

    def is_const(self, name: str) -> bool:
        name = self.canon(name)
        return name in self.consts or name in self.const_quant

    def const(self, node, name: str) -> np.ndarray:
        name = self.canon(name)
        if name not in self.consts:
            raise self.unsupported(node, f"input {name!r} must be a constant (initializer or Constant node)")
        return self.consts[name]

    def act(self, node, name: str) -> Tensor:
        ir_name = self.ir(name)
        if ir_name not in self.tensors or self.tensors[ir_name].is_constant:
            raise self.unsupported(node, f"input {name!r} must be an activation produced by a supported op")
        if ir_name in self.chw_flat and node.op_type not in ("Gemm", "MatMul", "QLinearMatMul"):
            raise self.unsupported(node, f"input {name!r} is a flattened NCHW tensor, which only Gemm / MatMul may "
                                         f"consume (the IR flattens NHWC)")
        return self.tensors[ir_name]

    def single_consumer(self, name: str):
        users = self.consumers.get(name, [])
        if len(users) == 1 and name not in self.graph_outputs:
            return users[0]
        return None

    def add_const(self, name: str, data: np.ndarray, dtype: str, quant: QuantParams | None) -> str:
        base, k = name, 0
        while name in self.tensors:
            k += 1
            name = f"{base}_{k}"
        self.tensors[name] = Tensor(name, tuple(data.shape), dtype, quant, data, is_constant=True)
        return name

    def emit(self, node, op: O.Op, inputs: list[str], onnx_out: str, out_dtype: str,
             out_quant: QuantParams | None) -> str:
        """Add an IR node whose output is the ONNX tensor ``onnx_out``; returns the IR tensor name."""
        try:
            shape = infer_shape(op, [self.tensors[i].shape for i in inputs])
        except ValueError as exc:
            raise self.unsupported(node, str(exc)) from None
        out = self.ir(onnx_out)
        self.tensors[out] = Tensor(out, shape, out_dtype, out_quant)
        name = node.name or f"{node.op_type}_{len(self.nodes)}"
        while any(n.name == name for n in self.nodes):
            name += "_"
        requant = self.requant if out_dtype != "float32" else "fixed_point"
        self.nodes.append(Node(name, op, tuple(inputs), (out,), requant))
        return out

    def out_quant(self, node, onnx_out: str) -> tuple[str, QuantParams | None]:
        """(dtype, quant) of an op's output: float32 in float graphs, else from the QuantizeLinear reading it."""
        if not self.quantized:
            return "float32", None
        aq = self.act_quant.get(self.canon(onnx_out))
        if aq is None:
            raise self.unsupported(node, f"output {onnx_out!r} is not quantized: in a quantized model every "
                                         f"activation must feed a QuantizeLinear (QDQ) or come from a QLinear op")
        return aq.dtype, aq.quant

    # ------------------------------------------------------------------------------------------------ run
    def run(self) -> Graph:
        g = self.model.graph
        self._prescan_quantization()
        init_names = set(self.consts)
        for inp in g.input:
            if inp.name in init_names:
                continue
            self._add_input(inp)
        for node in g.node:
            if id(node) in self.done or node.op_type == "Constant":
                continue
            self._convert(node)
        outputs = []
        for o in g.output:
            name = self.ir(o.name)
            if name not in self.tensors:
                raise UnsupportedError(f"{self.file}: graph output {o.name!r} is not produced by a supported op")
            if name in self.chw_flat:
                raise UnsupportedError(f"{self.file}: graph output {o.name!r} is a flattened NCHW tensor; the IR "
                                       f"flattens NHWC, so its element order would differ")
            outputs.append(name)
        inputs = [self.ir(i.name) for i in g.input if i.name not in init_names]
        used = {i for n in self.nodes for i in n.inputs} | set(inputs) | {o for n in self.nodes for o in n.outputs}
        tensors = {k: v for k, v in self.tensors.items() if k in used}
        metadata = {"source": self.file, "format": "onnx", "quantized": self.quantized,
                    "opset": max((o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")),
                                 default=0)}
        try:
            return Graph(Path(self.file).stem, tensors, tuple(self.nodes), tuple(inputs), tuple(outputs), metadata)
        except GraphError as exc:
            raise UnsupportedError(f"{self.file}: the imported graph is not valid: {exc}") from None

    def _add_input(self, value_info) -> None:
        dims = []
        for i, d in enumerate(value_info.type.tensor_type.shape.dim):
            if d.HasField("dim_value") and not (i == 0 and self.batch_size):
                dims.append(int(d.dim_value))
            else:
                dims.append(int(self.batch_size or 1) if i == 0 else 0)
        if any(d <= 0 for d in dims):
            raise UnsupportedError(f"{self.file}: graph input {value_info.name!r} has a symbolic non-batch dimension "
                                   f"{dims}; only the batch (first) dimension may be symbolic")
        elem = value_info.type.tensor_type.elem_type
        if elem != 1:
            raise UnsupportedError(f"{self.file}: graph input {value_info.name!r} has ONNX element type {elem}; "
                                   f"supported: float32 (quantized models quantize it with QuantizeLinear)")
        shape = _nchw_to_nhwc(tuple(dims))
        name = self.ir(value_info.name)
        aq = self.act_quant.get(value_info.name)
        if self.quantized and aq is None:
            raise UnsupportedError(f"{self.file}: graph input {value_info.name!r} is not read by a QuantizeLinear")
        self.tensors[name] = Tensor(name, shape, aq.dtype if aq else "float32", aq.quant if aq else None)

    # -------------------------------------------------------------------------------- QDQ / Q / DQ pre-scan
    def _prescan_quantization(self) -> None:
        """Fold Q/DQ nodes into tensor quantization parameters, and Identity / Dropout into aliases, before
        converting the compute ops."""
        for node in self.model.graph.node:
            if node.op_type in ("Identity", "Dropout"):
                self._identity(node)
            elif node.op_type == "QuantizeLinear":
                self.done.add(id(node))
                src = self.canon(node.input[0])
                aq = self._q_params(node, node.input[1], node.input[2] if len(node.input) > 2 else "",
                                    _attrs(node))
                if src in self.consts:
                    raise self.unsupported(node, "quantizing a constant is not supported; store the integer "
                                                 "initializer and DequantizeLinear it")
                old = self.act_quant.get(src)
                if old is not None and (old.dtype != aq.dtype or not old.quant.same_as(aq.quant)):
                    raise self.unsupported(node, f"tensor {src!r} is quantized twice with different parameters")
                self.act_quant[src] = aq
                self.alias[node.output[0]] = src
            elif node.op_type == "DequantizeLinear":
                self.done.add(id(node))
                src = self.canon(node.input[0])
                attrs = _attrs(node)
                if src in self.consts:
                    data = self.consts[src]
                    aq = self._dq_params(node, data, attrs)
                    self.const_quant[node.output[0]] = (data, aq.dtype, aq.quant)
                else:
                    self.alias[node.output[0]] = src
                    if node.output[0] in self.graph_outputs:
                        self.rename[src] = node.output[0]
                    if src not in self.act_quant:  # QOperator: the integer tensor comes from a QLinear op
                        self.act_quant[src] = self._q_params(node, node.input[1],
                                                             node.input[2] if len(node.input) > 2 else "", attrs)

    def _q_params(self, node, scale_name: str, zp_name: str, attrs: dict) -> _ActQuant:
        """Per-tensor (S, Z, dtype) of an activation from a Q / DQ / QLinear node's scale and zero-point inputs."""
        scale = np.asarray(self.const(node, scale_name), np.float32)
        if scale.size != 1:
            raise self.unsupported(node, "per-axis quantization of an activation is not supported; activations are "
                                         "quantized per tensor")
        if zp_name:
            zp_arr = self.const(node, zp_name)
            dtype = self._int_dtype(node, zp_arr)
            zp = int(np.asarray(zp_arr).astype(np.int64).reshape(-1)[0])
        else:
            dtype = "uint8" if "output_dtype" not in attrs else _ONNX_INT_TYPES.get(int(attrs["output_dtype"]), "?")
            zp = 0
        if dtype not in ("uint8", "int8", "int16", "uint16"):
            raise self.unsupported(node, f"activation type {dtype}; supported: uint8, int8, int16")
        if dtype == "uint16":
            raise self.unsupported(node, "uint16 activations are not supported; use int16 with zero point 0")
        return _ActQuant(dtype, QuantParams.per_tensor(float(scale.reshape(-1)[0]), zp))

    def _int_dtype(self, node, arr: np.ndarray) -> str:
        kind = str(np.asarray(arr).dtype)
        name = {"int4": "int4", "uint4": "uint4", "int8": "int8", "uint8": "uint8", "int16": "int16",
                "uint16": "uint16", "int32": "int32"}.get(kind)
        if name is None:
            raise self.unsupported(node, f"integer type {kind}; supported: int4, uint4, int8, uint8, int16, int32")
        return name

    def _dq_params(self, node, data: np.ndarray, attrs: dict) -> _ActQuant:
        """Quantization of an integer initializer read by DequantizeLinear (per tensor or per axis)."""
        dtype = self._int_dtype(node, data)
        scale = np.asarray(self.const(node, node.input[1]), np.float32).reshape(-1)
        zp = (np.asarray(self.const(node, node.input[2])).astype(np.int64).reshape(-1)
              if len(node.input) > 2 and node.input[2] else np.zeros_like(scale, np.int64))
        if "block_size" in attrs and int(attrs["block_size"]) != 0:
            raise self.unsupported(node, "blocked quantization is not supported; supported: per tensor, per axis")
        if scale.size == 1:
            return _ActQuant(dtype, QuantParams.per_tensor(float(scale[0]), int(zp[0])))
        axis = int(attrs.get("axis", 1)) % data.ndim
        return _ActQuant(dtype, QuantParams(scale, zp, axis))

    # ------------------------------------------------------------------------------------------- dispatch
    def _convert(self, node) -> None:
        handlers = {
            "Conv": self._conv, "Gemm": self._gemm, "MatMul": self._matmul, "Add": self._add,
            "MaxPool": self._pool, "AveragePool": self._pool, "GlobalAveragePool": self._global_pool,
            "Flatten": self._flatten, "Reshape": self._reshape, "Concat": self._concat, "Pad": self._pad,
            "QLinearConv": self._qlinear_conv, "QLinearMatMul": self._qlinear_matmul, "QGemm": self._qgemm,
            "QLinearAdd": self._qlinear_add,
            "QLinearAveragePool": self._pool, "QLinearGlobalAveragePool": self._global_pool,
        }
        handler = handlers.get(node.op_type)
        if handler is None:
            if node.op_type in ("Relu", "Clip"):
                raise self.unsupported(node, "a standalone activation is supported only when it directly follows "
                                             "Conv, Gemm, MatMul, BatchNormalization or Add (it is fused there)")
            if node.op_type == "BatchNormalization":
                raise self.unsupported(node, "BatchNormalization is supported only directly after Conv / Gemm / "
                                             "MatMul (it is folded into their weights)")
            raise self.unsupported(node, f"op type {node.op_type!r} is not supported; supported: "
                                         f"{', '.join(SUPPORTED_OPS)}")
        handler(node)

    # ------------------------------------------------------------------------------------- fusion chains
    def _activation_of(self, node) -> O.Activation | None:
        """The fused activation a Relu / Clip node represents, or None if it is not Relu / Clip(0, 6)."""
        if node.op_type == "Relu":
            return "RELU"
        if node.op_type != "Clip":
            return None
        attrs = _attrs(node)
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

    def _follow_activation(self, out: str) -> tuple[str, O.Activation]:
        nxt = self.single_consumer(out)
        if nxt is not None and nxt.op_type in _ACTIVATION_OPS and nxt.input[0] == out:
            act = self._activation_of(nxt)
            self.done.add(id(nxt))
            return nxt.output[0], act
        return out, "NONE"

    def _follow_mac_chain(self, out: str, w: np.ndarray, b: np.ndarray | None, out_axis_len: int, conv: bool
                          ) -> tuple[str, np.ndarray, np.ndarray | None, O.Activation]:
        """Fold a following BatchNormalization and constant Add (bias) into float weights; then the activation."""
        while True:
            nxt = self.single_consumer(out)
            if nxt is None:
                break
            if nxt.op_type == "BatchNormalization" and nxt.input[0] == out:
                attrs = _attrs(nxt)
                if int(attrs.get("training_mode", 0)):
                    raise self.unsupported(nxt, "training_mode=1 is not supported; export in eval mode")
                gamma, beta, mean, var = (np.asarray(self.const(nxt, n), np.float32).reshape(-1)
                                          for n in nxt.input[1:5])
                w, b = fold_batch_norm(w, b, gamma, beta, mean, var, float(attrs.get("epsilon", 1e-5)), 0)
                self.done.add(id(nxt))
                out = nxt.output[0]
                continue
            if nxt.op_type == "Add":
                other = nxt.input[1] if nxt.input[0] == out else nxt.input[0]
                if not self.is_const(other) or self.canon(other) not in self.consts:
                    break
                c = np.asarray(self.consts[self.canon(other)], np.float32)
                if not _is_channel_bias(c.shape, out_axis_len, conv):
                    raise self.unsupported(nxt, f"a constant Add after a Conv/Gemm/MatMul must be a per-channel bias "
                                                f"of {out_axis_len} values, got shape {c.shape}")
                b = c.reshape(-1) if b is None else b + c.reshape(-1)
                self.done.add(id(nxt))
                out = nxt.output[0]
                continue
            break
        out, act = self._follow_activation(out)
        return out, w, b, act

    # --------------------------------------------------------------------------------------------- ops
    def _conv_attrs(self, node) -> tuple[tuple[int, int], tuple[int, int], O.Padding, int]:
        attrs = _attrs(node)
        strides = tuple(int(s) for s in attrs.get("strides", (1, 1)))
        dilations = tuple(int(d) for d in attrs.get("dilations", (1, 1)))
        group = int(attrs.get("group", 1))
        if len(strides) != 2 or len(dilations) != 2:
            raise self.unsupported(node, "only 2-D convolutions (4-D NCHW input) are supported")
        padding = self._padding(node, attrs)
        return strides, dilations, padding, group

    def _padding(self, node, attrs: dict) -> O.Padding:
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
        if auto_pad == "SAME_UPPER":
            return "SAME"
        if auto_pad == "VALID":
            return "VALID"
        if auto_pad != "NOTSET":
            raise self.unsupported(node, f"auto_pad={auto_pad} is not supported; supported: NOTSET (explicit pads), "
                                         f"SAME_UPPER, VALID")
        pads = tuple(int(p) for p in attrs.get("pads", (0, 0, 0, 0)))
        if len(pads) != 4 or any(p < 0 for p in pads):
            raise self.unsupported(node, f"pads={list(pads)} is not supported; supported: 4 non-negative values")
        top, left, bottom, right = pads
        return (top, bottom, left, right)

    def _conv(self, node) -> None:
        x = self.act(node, node.input[0])
        w_name = node.input[1]
        if self.quantized:
            self._quant_conv(node, x, w_name, node.input[2] if len(node.input) > 2 else "", node.output[0])
            return
        w = np.asarray(self.const(node, w_name), np.float32)
        if w.ndim != 4:
            raise self.unsupported(node, "only 2-D convolutions (4-D OIHW weights) are supported")
        b = np.asarray(self.const(node, node.input[2]), np.float32) if len(node.input) > 2 and node.input[2] else None
        stride, dilation, padding, group = self._conv_attrs(node)
        out, w, b, act = self._follow_mac_chain(node.output[0], w, b, w.shape[0], True)
        w_ohwi = np.ascontiguousarray(w.transpose(0, 2, 3, 1))
        inputs = [x.name, self.add_const(f"{node.name or 'conv'}_weights", w_ohwi, "float32", None)]
        if b is not None:
            inputs.append(self.add_const(f"{node.name or 'conv'}_bias", b.astype(np.float32), "float32", None))
        self.emit(node, O.Conv2D(stride, dilation, padding, group, act), inputs, out, "float32", None)

    def _quant_conv(self, node, x: Tensor, w_name: str, b_name: str, onnx_out: str) -> None:
        """Conv in QDQ form: weights (and bias) come from DequantizeLinear of integer initializers."""
        wq = self.const_quant.get(self.canon(w_name))
        if wq is None:
            raise self.unsupported(node, "in a quantized model the conv weights must be a DequantizeLinear of an "
                                         "integer initializer")
        w_int, w_dtype, w_quant = wq
        stride, dilation, padding, group = self._conv_attrs(node)
        out, act = self._follow_activation(onnx_out)
        bias = self._quant_bias(node, b_name, x.quant, w_quant, w_int.shape[0]) if b_name else None
        self._emit_quant_conv(node, x, w_int, w_dtype, w_quant, bias, stride, dilation, padding, group, act, out)

    def _emit_quant_conv(self, node, x: Tensor, w_int, w_dtype, w_quant, bias, stride, dilation, padding, group,
                         act, out) -> None:
        if w_quant.per_channel_quantized and w_quant.axis != 0:
            raise self.unsupported(node, f"per-axis conv weights along axis {w_quant.axis}; supported: axis 0")
        w_ohwi = np.ascontiguousarray(np.asarray(w_int).transpose(0, 2, 3, 1))
        w_ohwi = w_ohwi.astype(dtype_info(w_dtype).storage)
        inputs = [x.name, self.add_const(f"{node.name or 'conv'}_weights", w_ohwi, w_dtype, w_quant)]
        if bias is not None:
            inputs.append(self.add_const(f"{node.name or 'conv'}_bias", bias, "int32",
                                         bias_quant_params(x.quant, w_quant)))
        dtype, quant = self.out_quant(node, out)
        self.emit(node, O.Conv2D(stride, dilation, padding, group, act), inputs, out, dtype, quant)

    def _quant_bias(self, node, b_name: str, x_quant: QuantParams, w_quant: QuantParams, channels: int) -> np.ndarray:
        """int32 bias: a DequantizeLinear'd int32 initializer as stored, or a float bias quantized at S_x·S_w."""
        bq = self.const_quant.get(self.canon(b_name))
        if bq is not None:
            data = np.asarray(bq[0]).astype(np.int64).reshape(-1)
        else:
            b = np.asarray(self.const(node, b_name), np.float64).reshape(-1)
            scale = bias_quant_params(x_quant, w_quant).scale.astype(np.float64)
            data = np.rint(b / scale)
        if data.shape[0] != channels:
            raise self.unsupported(node, f"bias has {data.shape[0]} values for {channels} output channels")
        return np.clip(data, -(1 << 31), (1 << 31) - 1).astype(np.int32)

    def _gemm(self, node) -> None:
        attrs = _attrs(node)
        if int(attrs.get("transA", 0)):
            raise self.unsupported(node, "transA=1 is not supported")
        alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
        trans_b = int(attrs.get("transB", 0))
        if self.quantized:
            if alpha != 1.0 or beta != 1.0:
                raise self.unsupported(node, "alpha/beta other than 1 in a quantized model are not supported")
            self._quant_fc(node, node.input[1], trans_b, node.input[2] if len(node.input) > 2 else "")
            return
        w = np.asarray(self.const(node, node.input[1]), np.float32)
        w = (w if trans_b else w.T) * np.float32(alpha)
        b = None
        if len(node.input) > 2 and node.input[2]:
            c = np.asarray(self.const(node, node.input[2]), np.float32)
            if c.size not in (1, w.shape[0]):
                raise self.unsupported(node, f"C of shape {c.shape} is not a bias of {w.shape[0]} values")
            b = np.broadcast_to(c.reshape(-1), (w.shape[0],)).astype(np.float32) * np.float32(beta)
        self._float_fc(node, w, b)

    def _matmul(self, node) -> None:
        if self.quantized:
            self._quant_fc(node, node.input[1], 0, "")
            return
        w = np.asarray(self.const(node, node.input[1]), np.float32)
        if w.ndim != 2:
            raise self.unsupported(node, "MatMul needs a 2-D constant right operand")
        self._float_fc(node, np.ascontiguousarray(w.T), None)

    def _float_fc(self, node, w: np.ndarray, b: np.ndarray | None) -> None:
        x = self.act(node, node.input[0])
        if x.shape[-1] != w.shape[1] and math.prod(x.shape[1:]) != w.shape[1]:
            raise self.unsupported(node, f"input {x.shape} does not match weights with {w.shape[1]} inputs")
        out, w, b, act = self._follow_mac_chain(node.output[0], w, b, w.shape[0], False)
        w = self._reorder_fc_columns(x.name, w)
        inputs = [x.name, self.add_const(f"{node.name or 'fc'}_weights", np.ascontiguousarray(w, np.float32),
                                         "float32", None)]
        if b is not None:
            inputs.append(self.add_const(f"{node.name or 'fc'}_bias", b.astype(np.float32), "float32", None))
        self.emit(node, O.FullyConnected(act), inputs, out, "float32", None)

    def _reorder_fc_columns(self, x_name: str, w: np.ndarray) -> np.ndarray:
        """FC weights (O, C·H·W) in ONNX's NCHW flatten order -> the IR's NHWC flatten order (H·W·C)."""
        if x_name not in self.chw_flat:
            return w
        c, h, wd = self.chw_flat[x_name]
        return w.reshape(w.shape[0], c, h, wd).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)

    def _quant_fc(self, node, w_name: str, trans_b: int, b_name: str) -> None:
        x = self.act(node, node.input[0])
        wq = self.const_quant.get(self.canon(w_name))
        if wq is None:
            raise self.unsupported(node, "in a quantized model the weights must be a DequantizeLinear of an "
                                         "integer initializer")
        w_int, w_dtype, w_quant = wq
        w_int, w_quant = self._fc_weights(node, w_int, w_quant, trans_b)
        out = node.output[0]
        bias = None
        if b_name:
            bias = self._quant_bias(node, b_name, x.quant, w_quant, w_int.shape[0])
        else:  # QDQ MatMul + Add(DQ(int32 bias))
            nxt = self.single_consumer(out)
            if nxt is not None and nxt.op_type == "Add":
                other = nxt.input[1] if nxt.input[0] == out else nxt.input[0]
                if self.canon(other) in self.const_quant or self.canon(other) in self.consts:
                    bias = self._quant_bias(nxt, other, x.quant, w_quant, w_int.shape[0])
                    self.done.add(id(nxt))
                    out = nxt.output[0]
        out, act = self._follow_activation(out)
        self._emit_fc(node, x, w_int, w_dtype, w_quant, bias, act, out)

    def _fc_weights(self, node, w_int: np.ndarray, w_quant: QuantParams, trans_b: int
                    ) -> tuple[np.ndarray, QuantParams]:
        """ONNX (K, O) (or (O, K) with transB) integer weights -> IR (O, K) with per-output-channel axis 0."""
        w_int = np.asarray(w_int)
        if w_int.ndim != 2:
            raise self.unsupported(node, "FC weights must be 2-D")
        if not trans_b:
            w_int = w_int.T
            if w_quant.per_channel_quantized:
                if w_quant.axis != 1:
                    raise self.unsupported(node, "per-axis MatMul weights must be quantized along the output axis 1")
                w_quant = QuantParams(w_quant.scale, w_quant.zero_point, 0)
        elif w_quant.per_channel_quantized and w_quant.axis != 0:
            raise self.unsupported(node, "per-axis Gemm(transB=1) weights must be quantized along axis 0")
        return np.ascontiguousarray(w_int), w_quant

    def _emit_fc(self, node, x: Tensor, w_int, w_dtype, w_quant, bias, act, out) -> None:
        w_int = self._reorder_fc_columns(x.name, w_int).astype(dtype_info(w_dtype).storage)
        inputs = [x.name, self.add_const(f"{node.name or 'fc'}_weights", w_int, w_dtype, w_quant)]
        if bias is not None:
            inputs.append(self.add_const(f"{node.name or 'fc'}_bias", bias, "int32",
                                         bias_quant_params(x.quant, w_quant)))
        dtype, quant = self.out_quant(node, out)
        self.emit(node, O.FullyConnected(act), inputs, out, dtype, quant)

    def _add(self, node) -> None:
        if any(self.is_const(i) for i in node.input):
            raise self.unsupported(node, "Add with a constant is supported only as the bias right after Conv / "
                                         "Gemm / MatMul")
        a, b = (self.act(node, i) for i in node.input)
        if a.shape != b.shape:
            raise self.unsupported(node, f"broadcasting Add ({a.shape} + {b.shape}) is not supported; the inputs "
                                         f"must have equal shapes")
        out, act = self._follow_activation(node.output[0])
        dtype, quant = self.out_quant(node, out)
        self.emit(node, O.Add(act), [a.name, b.name], out, dtype, quant)

    def _pool(self, node) -> None:
        attrs = _attrs(node)
        qlinear = node.op_type.startswith("QLinear")
        x = self.act(node, node.input[0])
        kernel = tuple(int(k) for k in attrs.get("kernel_shape", ()))
        strides = tuple(int(s) for s in attrs.get("strides", (1, 1)))
        if len(kernel) != 2 or x.shape.__len__() != 4:
            raise self.unsupported(node, "only 2-D pooling of a 4-D NCHW input is supported")
        if any(int(d) != 1 for d in attrs.get("dilations", (1, 1))):
            raise self.unsupported(node, "dilations other than 1 are not supported")
        padding = self._padding(node, attrs)
        is_max = node.op_type == "MaxPool"
        if len(node.output) > 1 and node.output[1]:
            raise self.unsupported(node, "the Indices output of MaxPool is not supported")
        if int(attrs.get("ceil_mode", 0)):
            pads = padding if isinstance(padding, tuple) else None
            if pads is None or any(_ceil_changes(size, k, s, p0, p1) for size, k, s, p0, p1 in
                                   zip(x.shape[1:3], kernel, strides, pads[0::2], pads[1::2])):
                raise self.unsupported(node, "ceil_mode=1 changes the output size here; supported: ceil_mode=0 "
                                             "(floor)")
        padded = padding == "SAME" or (isinstance(padding, tuple) and any(padding))
        if not is_max and padded and int(attrs.get("count_include_pad", 0)):
            raise self.unsupported(node, "count_include_pad=1 with padding is not supported; the IR averages over "
                                         "the valid taps only (count_include_pad=0, TFLite semantics)")
        op_cls = O.MaxPool if is_max else O.AvgPool
        if qlinear:
            out = node.output[0]
            self.act_quant[out] = self._qlinear_out(node, node.input[3], node.input[4])
            dtype, quant = self.out_quant(node, out)
        else:
            out = node.output[0]
            dtype, quant = self._passthrough_quant(node, x, out) if is_max else self.out_quant(node, out)
        self.emit(node, op_cls(kernel, strides, padding), [x.name], out, dtype, quant)

    def _global_pool(self, node) -> None:
        x = self.act(node, node.input[0])
        if len(x.shape) != 4:
            raise self.unsupported(node, "only 4-D NCHW inputs are supported")
        out = node.output[0]
        if node.op_type == "QLinearGlobalAveragePool":
            if int(_attrs(node).get("channels_last", 0)):
                raise self.unsupported(node, "channels_last=1 is not supported")
            self.act_quant[out] = self._qlinear_out(node, node.input[3], node.input[4])
        dtype, quant = self.out_quant(node, out)
        self.emit(node, O.GlobalAveragePool(), [x.name], out, dtype, quant)

    def _passthrough_quant(self, node, x: Tensor, out: str) -> tuple[str, QuantParams | None]:
        """Reshape-like ops keep their input's quantization (a following Q/DQ must agree)."""
        if not self.quantized:
            return "float32", None
        aq = self.act_quant.get(self.canon(out))
        if aq is not None and (aq.dtype != x.dtype or not aq.quant.same_as(x.quant)):
            raise self.unsupported(node, "input and output quantization differ; supported: equal (S, Z)")
        return x.dtype, x.quant

    def _flatten(self, node) -> None:
        x = self.act(node, node.input[0])
        axis = int(_attrs(node).get("axis", 1)) % max(len(x.shape), 1)
        if axis != 1:
            raise self.unsupported(node, f"axis={axis} is not supported; supported: axis=1")
        dtype, quant = self._passthrough_quant(node, x, node.output[0])
        out = self.emit(node, O.Flatten(), [x.name], node.output[0], dtype, quant)
        if len(x.shape) == 4 and x.shape[1] * x.shape[2] > 1 and x.shape[3] > 1:
            self.chw_flat[out] = (x.shape[3], x.shape[1], x.shape[2])

    def _reshape(self, node) -> None:
        x = self.act(node, node.input[0])
        target = [int(v) for v in np.asarray(self.const(node, node.input[1])).reshape(-1)]
        onnx_in = _nhwc_to_nchw(x.shape)
        shape = [onnx_in[i] if v == 0 and i < len(onnx_in) else v for i, v in enumerate(target)]
        total = math.prod(onnx_in)
        if shape.count(-1) == 1:
            known = math.prod(v for v in shape if v != -1)
            shape[shape.index(-1)] = total // known if known else 0
        if math.prod(shape) != total:
            raise self.unsupported(node, f"cannot reshape {onnx_in} to {target}")
        dtype, quant = self._passthrough_quant(node, x, node.output[0])
        if len(onnx_in) == 4 and len(shape) == 2 and shape[0] == onnx_in[0]:
            out = self.emit(node, O.Flatten(), [x.name], node.output[0], dtype, quant)
            if x.shape[1] * x.shape[2] > 1 and x.shape[3] > 1:
                self.chw_flat[out] = (x.shape[3], x.shape[1], x.shape[2])
            return
        spatial_trivial = (len(onnx_in) != 4 or onnx_in[2] * onnx_in[3] == 1) and \
                          (len(shape) != 4 or shape[2] * shape[3] == 1)
        if not spatial_trivial:
            raise self.unsupported(node, f"reshape {onnx_in} -> {shape} reorders NCHW elements; supported: "
                                         f"flattening to (N, -1) and reshapes without spatial extent")
        self.emit(node, O.Reshape(_nchw_to_nhwc(tuple(shape))), [x.name], node.output[0], dtype, quant)

    def _concat(self, node) -> None:
        xs = [self.act(node, i) for i in node.input]
        axis = _nchw_axis(int(_attrs(node).get("axis", 1)), len(xs[0].shape))
        dtype, quant = self.out_quant(node, node.output[0]) if self.quantized else ("float32", None)
        self.emit(node, O.Concat(axis), [x.name for x in xs], node.output[0], dtype, quant)

    def _pad(self, node) -> None:
        attrs = _attrs(node)
        mode = attrs.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        if mode != "constant":
            raise self.unsupported(node, f"mode={mode} is not supported; supported: constant (zero)")
        x = self.act(node, node.input[0])
        pads = attrs.get("pads") if len(node.input) < 2 or not node.input[1] else \
            np.asarray(self.const(node, node.input[1])).reshape(-1).tolist()
        if len(node.input) > 2 and node.input[2]:
            value = np.asarray(self.const(node, node.input[2])).reshape(-1)
            if value.size and float(value[0]) != 0.0:
                raise self.unsupported(node, "a non-zero constant_value is not supported; supported: 0")
        if len(node.input) > 3 and node.input[3]:
            raise self.unsupported(node, "the axes input is not supported; give pads for every dimension")
        rank = len(x.shape)
        pads = [int(p) for p in pads]
        if len(pads) != 2 * rank or any(p < 0 for p in pads):
            raise self.unsupported(node, f"pads={pads} is not supported; supported: {2 * rank} non-negative values")
        pairs = [(pads[i], pads[i + rank]) for i in range(rank)]
        if rank == 4:
            pairs = [pairs[0], pairs[2], pairs[3], pairs[1]]
        dtype, quant = self._passthrough_quant(node, x, node.output[0])
        self.emit(node, O.Pad(tuple(pairs)), [x.name], node.output[0], dtype, quant)

    def _identity(self, node) -> None:
        """Identity / inference-mode Dropout: the output is another name of the input (folded in the pre-scan)."""
        self.done.add(id(node))
        if len(node.output) > 1 and node.output[1]:
            raise self.unsupported(node, "the mask output of Dropout is not supported")
        self.alias[node.output[0]] = node.input[0]
        if node.output[0] in self.graph_outputs:
            src = self.canon(node.input[0])
            if src in self.graph_outputs or src in self.consts or \
                    src in (i.name for i in self.model.graph.input):
                raise self.unsupported(node, "an Identity/Dropout output that is a graph output must come from an op "
                                             "whose result is not itself a graph input or output")
            self.rename[src] = node.output[0]

    # ----------------------------------------------------------------------------------- QOperator form
    def _qlinear_out(self, node, scale_name: str, zp_name: str) -> _ActQuant:
        return self._q_params(node, scale_name, zp_name, {})

    def _qlinear_weights(self, node, channel_axis: int) -> tuple[np.ndarray, str, QuantParams]:
        """The integer weights (input 3), their dtype and (scale, zero point) from inputs 4 and 5 of a
        QLinearConv / QLinearMatMul; per-channel scales run along ``channel_axis`` of the ONNX weight layout."""
        w_int = np.asarray(self.const(node, node.input[3]))
        w_scale = np.asarray(self.const(node, node.input[4]), np.float32).reshape(-1)
        w_zp = np.asarray(self.const(node, node.input[5])).astype(np.int64).reshape(-1)
        w_quant = (QuantParams.per_tensor(float(w_scale[0]), int(w_zp[0])) if w_scale.size == 1
                   else QuantParams(w_scale, np.broadcast_to(w_zp, w_scale.shape), channel_axis))
        return w_int, self._int_dtype(node, w_int), w_quant

    def _qlinear_conv(self, node) -> None:
        x = self.act(node, node.input[0])
        w_int, w_dtype, w_quant = self._qlinear_weights(node, channel_axis=0)
        self.act_quant[node.output[0]] = self._qlinear_out(node, node.input[6], node.input[7])
        stride, dilation, padding, group = self._conv_attrs(node)
        bias = None
        if len(node.input) > 8 and node.input[8]:
            bias = np.asarray(self.const(node, node.input[8])).astype(np.int32).reshape(-1)
        self._emit_quant_conv(node, x, w_int, w_dtype, w_quant, bias, stride, dilation, padding, group, "NONE",
                              node.output[0])

    def _qlinear_matmul(self, node) -> None:
        x = self.act(node, node.input[0])
        w_int, w_dtype, w_quant = self._qlinear_weights(node, channel_axis=1)
        self.act_quant[node.output[0]] = self._qlinear_out(node, node.input[6], node.input[7])
        w_int, w_quant = self._fc_weights(node, w_int, w_quant, 0)
        self._emit_fc(node, x, w_int, w_dtype, w_quant, None, "NONE", node.output[0])

    def _qgemm(self, node) -> None:
        """com.microsoft QGemm (A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp) with a quantized output."""
        attrs = _attrs(node)
        if int(attrs.get("transA", 0)) or float(attrs.get("alpha", 1.0)) != 1.0:
            raise self.unsupported(node, "transA=1 or alpha != 1 is not supported")
        if len(node.input) < 9 or not node.input[7]:
            raise self.unsupported(node, "a float output (no y_scale) is not supported; supported: quantized output")
        x = self.act(node, node.input[0])
        trans_b = int(attrs.get("transB", 0))
        # B is (N, K) with transB=1, (K, N) otherwise: the output channel is axis 0 or 1
        w_int, w_dtype, w_quant = self._qlinear_weights(node, channel_axis=0 if trans_b else 1)
        self.act_quant[node.output[0]] = self._qlinear_out(node, node.input[7], node.input[8])
        w_int, w_quant = self._fc_weights(node, w_int, w_quant, trans_b)
        bias = None
        if node.input[6]:
            bias = np.asarray(self.const(node, node.input[6])).astype(np.int32).reshape(-1)
        self._emit_fc(node, x, w_int, w_dtype, w_quant, bias, "NONE", node.output[0])

    def _qlinear_add(self, node) -> None:
        a, b = self.act(node, node.input[0]), self.act(node, node.input[3])
        if a.shape != b.shape:
            raise self.unsupported(node, f"broadcasting QLinearAdd ({a.shape} + {b.shape}) is not supported")
        self.act_quant[node.output[0]] = self._qlinear_out(node, node.input[6], node.input[7])
        dtype, quant = self.out_quant(node, node.output[0])
        self.emit(node, O.Add("NONE"), [a.name, b.name], node.output[0], dtype, quant)


def _ceil_changes(size: int, k: int, s: int, p0: int, p1: int) -> bool:
    """Whether ceil_mode=1 gives a different output size than floor (the window count does not divide evenly)."""
    return (size + p0 + p1 - k) % s != 0


def _is_channel_bias(shape: tuple[int, ...], channels: int, conv: bool) -> bool:
    """A constant that ONNX broadcasts along the channel axis: (1, C, 1, 1) / (C, 1, 1) for NCHW conv outputs,
    (C,) / (1, C) for FC outputs."""
    dims = list(shape)
    if math.prod(dims) != channels:
        return False
    if conv:
        return len(dims) >= 3 and dims[-3] == channels
    return len(dims) >= 1 and dims[-1] == channels


def _constant_value(node, file_name: str) -> np.ndarray:
    from onnx import numpy_helper

    attrs = {a.name: a for a in node.attribute}
    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"].t)
    for key, dtype in (("value_float", np.float32), ("value_int", np.int64)):
        if key in attrs:
            a = attrs[key]
            return np.asarray(a.f if key == "value_float" else a.i, dtype)
    for key, dtype in (("value_floats", np.float32), ("value_ints", np.int64)):
        if key in attrs:
            a = attrs[key]
            return np.asarray(list(a.floats) if key == "value_floats" else list(a.ints), dtype)
    raise UnsupportedError(f"{file_name}: node {node.name!r} (Constant): only tensor / float / int values are "
                           f"supported")


__all__ = ["load_onnx", "SUPPORTED_OPS"]
