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

The import runs as passes: a Q/DQ scan into immutable quantization annotations (``onnx_qdq``), fusion of
BatchNormalization / bias Add / Relu / Clip into their producers (``onnx_fusion``), then one handler per ONNX op
type from a table (``onnx_handlers``: float and quantized tables). :func:`register_onnx_handler` adds an op type.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from accelsim.errors import GraphError, ImportError_, UnsupportedError
from accelsim.graph.importers.onnx_context import IRBuilder, OnnxContext
from accelsim.graph.importers.onnx_fusion import ACTIVATION_OPS, FusedNode, fuse
from accelsim.graph.importers.onnx_handlers import (
    FLOAT_HANDLERS, FLOAT_TABLE, QUANT_HANDLERS, QUANT_TABLE, OnnxHandler, nchw_to_nhwc,
)
from accelsim.graph.importers.onnx_qdq import Constants, scan_quantization
from accelsim.graph.ir import Graph, Tensor
from accelsim.graph.ops.elementwise import ORT_S8_AS_U8_KEY
from accelsim.graph.ops.reduce import ORT_QLINEAR_SOFTMAX_KEY

#: ONNX op types the importer understands (default domain unless noted).
FLOAT_OPS = ("Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "Clip", "Add", "Sub", "Mul", "Softmax",
             "ReduceMean", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Concat", "Pad",
             "Identity", "Dropout", "Constant")
QUANT_OPS = ("QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "QGemm (com.microsoft)",
             "QLinearAdd (com.microsoft)", "QLinearMul (com.microsoft)", "QLinearSoftmax (com.microsoft)",
             "QLinearAveragePool (com.microsoft)", "QLinearGlobalAveragePool (com.microsoft)")
SUPPORTED_OPS = FLOAT_OPS + QUANT_OPS

#: Read-only views of the handler tables: ONNX op type -> handler, for float and for quantized models.
ONNX_FLOAT_HANDLERS: Mapping[str, OnnxHandler] = FLOAT_TABLE.view
ONNX_QUANT_HANDLERS: Mapping[str, OnnxHandler] = QUANT_TABLE.view
ONNX_HANDLERS: Mapping[str, Mapping[str, OnnxHandler]] = MappingProxyType(
    {"float": ONNX_FLOAT_HANDLERS, "quantized": ONNX_QUANT_HANDLERS})
#: Op types the passes always fold away (never dispatched, so they cannot take a handler). BatchNormalization,
#: Relu and Clip are fused where they follow a producer; a handler registered for them sees the others.
PASS_OPS = ("QuantizeLinear", "DequantizeLinear", "Identity", "Dropout", "Constant")


def register_onnx_handler(op_type: str, handler: OnnxHandler, *, quantized: bool, replace: bool = False) -> None:
    """Register ``handler(ctx, fused)`` for ONNX op type ``op_type`` in float (``quantized=False``) or quantized
    models; call twice for both. An existing entry is replaced only with ``replace=True``; op types folded by the
    passes (``PASS_OPS``) cannot take a handler. See docs/onnx.md for the handler contract."""
    if op_type in PASS_OPS:
        raise GraphError(f"ONNX op type {op_type!r} is folded by the import passes and cannot take a handler")
    (QUANT_TABLE if quantized else FLOAT_TABLE).register(op_type, handler, replace=replace)


def load_onnx(path: str | Path, *, batch_size: int | None = None) -> Graph:
    """Import the ONNX model at ``path`` as a float or quantized accelsim graph.

    ``batch_size`` fixes a symbolic (or overrides the) leading dimension of the graph inputs; a symbolic batch
    dimension defaults to 1. Raises :class:`ImportError_` if the file cannot be read as an ONNX model and
    :class:`UnsupportedError` for an op or attribute outside the supported set.
    """
    model = _read_model(Path(path))
    return import_model(model, Path(path).name, batch_size)


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


def import_model(model, file_name: str, batch_size: int | None = None) -> Graph:
    """Import a checked ``onnx.ModelProto`` (``file_name`` names it in messages): the Q/DQ scan, fusion, then
    the handler of each remaining node."""
    from onnx import numpy_helper

    g = model.graph
    values: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for n in g.node:  # Constant nodes are constants too
        if n.op_type == "Constant":
            values[n.output[0]] = _constant_value(n, file_name)
    quantized = any(n.op_type in ("QuantizeLinear", "DequantizeLinear") or n.op_type.startswith("QLinear")
                    for n in g.node)
    frozen = MappingProxyType(values)
    annotations = scan_quantization(model, file_name, frozen)
    constants = Constants(file_name, frozen, annotations.alias)
    fused = fuse(model, constants, annotations, quantized)
    ctx = OnnxContext(constants, annotations, quantized, "float32" if quantized else "fixed_point", IRBuilder())
    graph_inputs = [i for i in g.input if i.name not in values]
    for inp in graph_inputs:
        _add_input(ctx, inp, batch_size)
    handlers = QUANT_HANDLERS if quantized else FLOAT_HANDLERS
    for f in fused:
        _dispatch(ctx, handlers, f)
    return _finish(ctx, model, [ctx.ir(i.name) for i in graph_inputs])


def _dispatch(ctx: OnnxContext, handlers: Mapping[str, OnnxHandler], f: FusedNode) -> None:
    node = f.node
    handler = handlers.get(node.op_type)
    if handler is None:
        if node.op_type in ACTIVATION_OPS:
            raise ctx.unsupported(node, "a standalone activation is supported only when it directly follows "
                                        "Conv, Gemm, MatMul, BatchNormalization or Add (it is fused there)")
        if node.op_type == "BatchNormalization":
            raise ctx.unsupported(node, "BatchNormalization is supported only directly after Conv / Gemm / "
                                        "MatMul (it is folded into their weights)")
        registered = [k for k in handlers if not any(op.split(" ")[0] == k for op in SUPPORTED_OPS)]
        raise ctx.unsupported(node, f"op type {node.op_type!r} is not supported; supported: "
                                    f"{', '.join((*SUPPORTED_OPS, *registered))}")
    handler(ctx, f)


def _finish(ctx: OnnxContext, model, inputs: list[str]) -> Graph:
    """The graph outputs checked and the IR assembled (tensors no node uses are dropped)."""
    file, b = ctx.file, ctx.builder
    outputs = []
    for o in model.graph.output:
        name = ctx.ir(o.name)
        if name not in b.tensors:
            raise UnsupportedError(f"{file}: graph output {o.name!r} is not produced by a supported op")
        if name in b.chw_flat:
            raise UnsupportedError(f"{file}: graph output {o.name!r} is a flattened NCHW tensor; the IR "
                                   f"flattens NHWC, so its element order would differ")
        outputs.append(name)
    used = {i for n in b.nodes for i in n.inputs} | set(inputs) | {o for n in b.nodes for o in n.outputs}
    tensors = {k: v for k, v in b.tensors.items() if k in used}
    metadata = {"source": file, "format": "onnx", "quantized": ctx.quantized,
                "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)}
    if ctx.quantized and not any(n.op_type.startswith(("QLinear", "QGemm")) for n in model.graph.node):
        metadata[ORT_S8_AS_U8_KEY] = True
    if b.qlinear_softmax:
        metadata[ORT_QLINEAR_SOFTMAX_KEY] = tuple(b.qlinear_softmax)
    try:
        return Graph(Path(file).stem, tensors, tuple(b.nodes), tuple(inputs), tuple(outputs), metadata)
    except GraphError as exc:
        raise UnsupportedError(f"{file}: the imported graph is not valid: {exc}") from None


def _add_input(ctx: OnnxContext, value_info, batch_size: int | None) -> None:
    file = ctx.file
    dims = []
    for i, d in enumerate(value_info.type.tensor_type.shape.dim):
        if d.HasField("dim_value") and not (i == 0 and batch_size):
            dims.append(int(d.dim_value))
        else:
            dims.append(int(batch_size or 1) if i == 0 else 0)
    if any(d <= 0 for d in dims):
        raise UnsupportedError(f"{file}: graph input {value_info.name!r} has a symbolic non-batch dimension "
                               f"{dims}; only the batch (first) dimension may be symbolic")
    elem = value_info.type.tensor_type.elem_type
    if elem != 1:
        raise UnsupportedError(f"{file}: graph input {value_info.name!r} has ONNX element type {elem}; "
                               f"supported: float32 (quantized models quantize it with QuantizeLinear)")
    shape = nchw_to_nhwc(tuple(dims))
    name = ctx.ir(value_info.name)
    aq = ctx.quant.act.get(value_info.name)
    if ctx.quantized and aq is None:
        raise UnsupportedError(f"{file}: graph input {value_info.name!r} is not read by a QuantizeLinear")
    ctx.builder.tensors[name] = Tensor(name, shape, aq.dtype if aq else "float32", aq.quant if aq else None)


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


__all__ = ["load_onnx", "import_model", "register_onnx_handler", "SUPPORTED_OPS", "ONNX_HANDLERS",
           "ONNX_FLOAT_HANDLERS", "ONNX_QUANT_HANDLERS"]
