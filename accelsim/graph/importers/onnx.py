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

The import runs as passes: constant folding of shape subgraphs (``onnx_fold``), a Q/DQ scan into immutable
quantization annotations (``onnx_qdq``), fusion of
BatchNormalization / bias Add / Relu / Clip into their producers (``onnx_fusion``), then one handler per ONNX op
type from a table (``onnx_handlers``: float and quantized tables; ``onnx_layout``: data movement with layout
tracking), and the clean-up of the Transposes the layout tracking inserted (``onnx_layout.simplify_layout``).
:func:`register_onnx_handler` adds an op type.
"""
from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from accelsim.errors import GraphError, ImportError_, ModelWarning, UnsupportedError
from accelsim.graph.importers.onnx_context import IRBuilder, OnnxContext
from accelsim.graph.importers.onnx_fold import fold_shape_subgraphs
from accelsim.graph.importers.onnx_fusion import ACTIVATION_OPS, FusedNode, fuse
from accelsim.graph.importers.onnx_handlers import (
    FLOAT_HANDLERS, FLOAT_TABLE, QUANT_HANDLERS, QUANT_TABLE, OnnxHandler, nchw_to_nhwc, nhwc_to_nchw,
)
from accelsim.graph.importers import onnx_integer  # noqa: F401  (registers ConvInteger, MatMulInteger)
from accelsim.graph.importers.onnx_layout import LAYOUT_OPS, simplify_layout
from accelsim.graph.importers.onnx_qdq import ONNX_INT_TYPES, Constants, scan_quantization
from accelsim.graph.ir import Graph, Tensor
from accelsim.graph.ops.elementwise import ORT_S8_AS_U8_KEY
from accelsim.graph.ops.reduce import ORT_QLINEAR_SOFTMAX_KEY

#: ONNX op types the importer understands (default domain unless noted).
FLOAT_OPS = ("Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "Clip", "Add", "Sub", "Mul", "Div", "Softmax",
             "ReduceMean", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Concat", "Pad",
             "Identity", "Dropout", "Constant", "HardSwish", "HardSigmoid", "Sigmoid", "Tanh", "LeakyRelu", "PRelu",
             "Resize", "Upsample")
QUANT_OPS = ("QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger",
             "QGemm (com.microsoft)",
             "QLinearAdd (com.microsoft)", "QLinearMul (com.microsoft)", "QLinearSoftmax (com.microsoft)",
             "QLinearAveragePool (com.microsoft)", "QLinearGlobalAveragePool (com.microsoft)",
             "QLinearSigmoid (com.microsoft)", "QLinearLeakyRelu (com.microsoft)", "QLinearConcat (com.microsoft)")
SUPPORTED_OPS = FLOAT_OPS + QUANT_OPS + LAYOUT_OPS

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


def load_onnx(path: str | Path, *, batch_size: int | None = None,
              constants: Mapping[str, np.ndarray] | None = None) -> Graph:
    """Import the ONNX model at ``path`` as a float or quantized accelsim graph.

    ``batch_size`` fixes a symbolic (or overrides the) leading dimension of the graph inputs; a dynamic batch
    dimension (symbolic, 0 or -1) becomes 1 with a :class:`~accelsim.errors.ModelWarning` and
    ``metadata["dynamic_batch"]``. ``constants`` binds graph inputs to fixed values (a model that takes its
    weights, scales or zero points as inputs, as ONNX's backend test cases do): they become initializers.
    Raises :class:`ImportError_` if the file cannot be read as an ONNX model and :class:`UnsupportedError` for an
    op or attribute outside the supported set. A model the ONNX checker rejects is still imported (with a
    warning) when it is otherwise readable: onnxruntime runs such models.
    """
    model = _read_model(Path(path))
    return import_model(model, Path(path).name, batch_size, constants=constants)


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
    except Exception as exc:  # lenient: onnxruntime runs models the strict checker rejects (missing shapes, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        warnings.warn(f"{path}: the ONNX checker rejects the model ({first}); importing it anyway",
                      ModelWarning, stacklevel=3)
    if not model.graph.node:
        raise ImportError_(f"{path}: the ONNX graph has no nodes. {hint}")
    return model


#: ONNX ops whose presence makes a model quantized (besides QuantizeLinear / DequantizeLinear / QLinear*).
INTEGER_OPS = ("ConvInteger", "MatMulInteger", "QGemm")


def import_model(model, file_name: str, batch_size: int | None = None, *,
                 constants: Mapping[str, np.ndarray] | None = None) -> Graph:
    """Import a checked ``onnx.ModelProto`` (``file_name`` names it in messages): the Q/DQ scan, fusion, then
    the handler of each remaining node. ``constants`` binds graph inputs to values (see :func:`load_onnx`)."""
    from onnx import numpy_helper

    model = fold_shape_subgraphs(model, batch_size)
    g = model.graph
    values: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for n in g.node:  # Constant nodes are constants too
        if n.op_type == "Constant":
            values[n.output[0]] = _constant_value(n, file_name)
    input_names = {i.name for i in g.input}
    for name, value in (constants or {}).items():
        if name not in input_names:
            raise UnsupportedError(f"{file_name}: constants={{{name!r}: ...}} names no graph input; graph inputs: "
                                   f"{', '.join(sorted(input_names))}")
        values[name] = np.asarray(value)
    quantized = any(n.op_type in ("QuantizeLinear", "DequantizeLinear", *INTEGER_OPS) or
                    n.op_type.startswith("QLinear") for n in g.node) or any(
        i.type.tensor_type.elem_type in ONNX_INT_TYPES for i in g.input if i.name not in values)
    frozen = MappingProxyType(values)
    annotations = scan_quantization(model, file_name, frozen, layout_edges=quantized)
    constants = Constants(file_name, frozen, annotations.alias)
    fused = fuse(model, constants, annotations, quantized)
    ctx = OnnxContext(constants, annotations, quantized, "float32" if quantized else "fixed_point", IRBuilder())
    graph_inputs = [i for i in g.input if i.name not in values]
    for inp in graph_inputs:
        _add_input(ctx, inp, batch_size)
    handlers = QUANT_HANDLERS if quantized else FLOAT_HANDLERS
    for node in g.node:  # every node, also those the passes fold away
        check_attributes(ctx, node)
    for f in fused:
        _dispatch(ctx, handlers, f)
    simplify_layout(ctx.builder, {ctx.ir(o.name) for o in g.output})
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
        raise ctx.unsupported(node, f"op type {node.op_type!r} is not supported; "
                                    f"{nearest_supported(node.op_type, handlers)}; supported: "
                                    f"{', '.join((*SUPPORTED_OPS, *registered))}")
    handler(ctx, f)


#: Unsupported ONNX op type -> the nearest supported way to express it (shown in the error). Ops not listed get
#: difflib's closest supported op type names.
OP_HINTS: Mapping[str, str] = MappingProxyType({
    "Einsum": "rewrite the contraction as MatMul / Gemm with a constant right operand",
    "GroupNormalization": "export in eval mode with BatchNormalization after a Conv (folded into its weights)",
    "InstanceNormalization": "BatchNormalization after a Conv (folded into its weights)",
    "LayerNormalization": "no normalization with runtime statistics is supported; fold it into a Conv / Gemm",
    "ConvTranspose": "Resize followed by Conv",
    "Gelu": "Relu or Clip(0, 6) fused into the producer",
    "Elu": "Relu or Clip(0, 6) fused into the producer",
    "Selu": "Relu or Clip(0, 6) fused into the producer",
    "Softplus": "Relu fused into the producer",
    "DynamicQuantizeLinear": "static quantization (QuantizeLinear with constant scale and zero point)",
    "MatMulIntegerToFloat": "MatMulInteger (int32 output) or QLinearMatMul",
    "DynamicQuantizeMatMul": "QLinearMatMul with static activation quantization",
    "QAttention": "QLinearMatMul with constant weights",
    "GlobalMaxPool": "MaxPool with kernel_shape equal to the input's spatial size",
    "ReduceMax": "MaxPool with kernel_shape equal to the reduced extent",
    "ReduceSum": "GlobalAveragePool (a mean) or a Conv with unit weights",
    "Sum": "Add of two tensors of equal shape",
    "Cast": "QuantizeLinear / DequantizeLinear for int <-> float conversions",
    "Loop": "unroll the loop at export (torch.onnx.export with static shapes)",
    "If": "fold the condition at export (constant-fold the graph)",
})


def nearest_supported(op_type: str, handlers: Mapping[str, OnnxHandler]) -> str:
    """The nearest supported alternative to an unsupported op type: :data:`OP_HINTS`, else difflib's closest
    supported op type names, else a pointer to docs/onnx.md."""
    if op_type in OP_HINTS:
        return f"nearest supported alternative: {OP_HINTS[op_type]}"
    names = sorted({op.split(" ")[0] for op in SUPPORTED_OPS} | set(handlers))
    close = difflib.get_close_matches(op_type, names, n=3, cutoff=0.5)
    if close:
        return f"nearest supported op type(s): {', '.join(close)}"
    return "see docs/onnx.md for the supported ops"


def _enum_attr(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


#: Attributes accelsim cannot honour, per ONNX op type: attribute -> (predicate on its value that accelsim
#: honours, what is supported). A node whose attribute fails its predicate is refused by name, so no attribute is
#: silently ignored. Values follow the ONNX operator spec (onnx/defs, opset 21).
ATTRIBUTE_RULES: Mapping[str, Mapping[str, tuple[Callable[[object], bool], str]]] = MappingProxyType({
    "Reshape": {"allowzero": (lambda v: int(v) == 0, "allowzero=0 (a 0 in the shape copies the input dimension)")},
    "Dropout": {"training_mode": (lambda v: int(v) == 0, "inference mode")},
    "MaxPool": {"storage_order": (lambda v: int(v) == 0, "storage_order=0 (row major)")},
    "Pad": {"value": (lambda v: float(v) == 0.0, "value=0 (zero padding)")},
    "Gemm": {"transA": (lambda v: int(v) == 0, "transA=0")},
    "Conv": {"auto_pad": (lambda v: _enum_attr(v) in ("NOTSET", "SAME_UPPER", "VALID"),
                          "auto_pad NOTSET, SAME_UPPER or VALID")},
    "ConvInteger": {"auto_pad": (lambda v: _enum_attr(v) in ("NOTSET", "SAME_UPPER", "VALID"),
                                 "auto_pad NOTSET, SAME_UPPER or VALID")},
    "QLinearConv": {"auto_pad": (lambda v: _enum_attr(v) in ("NOTSET", "SAME_UPPER", "VALID"),
                                 "auto_pad NOTSET, SAME_UPPER or VALID")},
    "QuantizeLinear": {"saturate": (lambda v: True, "any (only float8 outputs use it)"),
                       "precision": (lambda v: int(v) == 0, "precision=0 (the scale's own type)")},
    "BatchNormalization": {"spatial": (lambda v: int(v) == 1, "spatial=1 (per-channel statistics)")},
})


def check_attributes(ctx: OnnxContext, node) -> None:
    """Refuse by name an attribute value accelsim cannot honour (:data:`ATTRIBUTE_RULES`), and a Conv-family
    ``kernel_shape`` that disagrees with the weights."""
    attrs = ctx.attrs(node)
    for name, (honoured, supported) in ATTRIBUTE_RULES.get(node.op_type, {}).items():
        if name in attrs and not honoured(attrs[name]):
            raise ctx.unsupported(node, f"attribute {name}={_enum_attr(attrs[name])} cannot be honoured; "
                                        f"supported: {supported}")
    if node.op_type == "Dropout" and len(node.input) > 2 and node.input[2] and ctx.is_const(node.input[2]) and \
            bool(np.asarray(ctx.const(node, node.input[2])).reshape(-1)[0]):
        raise ctx.unsupported(node, "training_mode=True cannot be honoured; supported: inference mode (Dropout is "
                                    "an identity)")
    w_index = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}.get(node.op_type)
    if w_index is not None and "kernel_shape" in attrs and len(node.input) > w_index and ctx.is_const(
            node.input[w_index]):
        name = ctx.canon(node.input[w_index])
        w = ctx.constants.values.get(name)
        w = ctx.quant.const[name].data if w is None and name in ctx.quant.const else w
        if w is not None and tuple(np.shape(w)[2:]) != tuple(int(k) for k in attrs["kernel_shape"]):
            raise ctx.unsupported(node, f"kernel_shape={list(attrs['kernel_shape'])} disagrees with the weights' "
                                        f"spatial shape {list(np.shape(w)[2:])}")


def _finish(ctx: OnnxContext, model, inputs: list[str]) -> Graph:
    """The graph outputs checked and the IR assembled (tensors no node uses are dropped)."""
    file, b = ctx.file, ctx.builder
    fold_fc_idiom(b, {ctx.ir(o.name) for o in model.graph.output})
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
    _warn_missing_output_shapes(ctx, model, outputs)
    metadata = {"source": file, "format": "onnx", "quantized": ctx.quantized,
                "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0),
                **b.notes}
    if ctx.quantized and not any(n.op_type.startswith(("QLinear", "QGemm")) for n in model.graph.node):
        metadata[ORT_S8_AS_U8_KEY] = True
    if b.qlinear_softmax:
        metadata[ORT_QLINEAR_SOFTMAX_KEY] = tuple(b.qlinear_softmax)
    if ctx.quantized:  # the model's own interface: integer (no float interface is invented) or float via Q/DQ
        elem = {i.name: i.type.tensor_type.elem_type for i in (*model.graph.input, *model.graph.output)}
        metadata["interface"] = {
            "inputs": {n: _interface_type(elem.get(n, 0), b.tensors[ctx.ir(n)].dtype) for n in
                       (i.name for i in model.graph.input if ctx.ir(i.name) in inputs)},
            "outputs": {o.name: _interface_type(elem.get(o.name, 0), b.tensors[ctx.ir(o.name)].dtype)
                        for o in model.graph.output}}
    try:
        return Graph(Path(file).stem, tensors, tuple(b.nodes), tuple(inputs), tuple(outputs), metadata)
    except GraphError as exc:
        raise UnsupportedError(f"{file}: the imported graph is not valid: {exc}") from None


def fold_fc_idiom(b, protected: set[str]) -> None:
    """``[Reshape to (N, 1, 1, K)] -> Conv2D 1x1 -> Flatten`` on a 1x1 spatial map is a FullyConnected: the same
    dot products over the same K inputs per output channel (how ONNX exporters, accelsim's own
    ``export_onnx_qlinear`` among them, write FC as QLinearConv). Rewritten in place as one FullyConnected node
    reading the Reshape's 2-D (N, K) or 4-D (N, 1, 1, K) input, so a re-imported export is the graph exported.
    ``protected``: graph outputs, which keep their producers."""
    from accelsim.graph import ops as O
    from accelsim.graph.ir import Node, Tensor

    def readers(name: str) -> list:
        return [n for n in b.nodes if name in n.inputs]

    def producer(name: str):
        return next((n for n in b.nodes if name in n.outputs), None)

    for conv in [n for n in b.nodes if isinstance(n.op, O.Conv2D)]:
        op, x = conv.op, b.tensors[conv.inputs[0]]
        w = b.tensors[conv.inputs[1]]
        if (len(x.shape) != 4 or x.shape[1:3] != (1, 1) or w.shape[1:3] != (1, 1) or op.groups != 1
                or op.stride != (1, 1) or op.dilation != (1, 1) or op.padding not in ("VALID", "SAME", (0, 0, 0, 0))):
            continue
        out = conv.outputs[0]
        users = readers(out)
        if out in protected or len(users) != 1 or not isinstance(users[0].op, O.Flatten):
            continue
        flatten = users[0]
        src, drop = x.name, [conv, flatten]
        reshape = producer(x.name)
        if (reshape is not None and isinstance(reshape.op, O.Reshape) and len(readers(x.name)) == 1
                and x.name not in protected):
            before = b.tensors[reshape.inputs[0]].shape
            if before in ((x.shape[0], x.shape[3]), x.shape):
                src = reshape.inputs[0]
                drop.append(reshape)
        weights = Tensor(w.name, (w.shape[0], w.shape[3]), w.dtype, w.quant,
                         None if w.data is None else np.ascontiguousarray(w.data.reshape(w.shape[0], -1)))
        b.tensors[w.name] = weights
        fc = Node(conv.name, O.FullyConnected(op.activation), (src, *conv.inputs[1:]), flatten.outputs, conv.requant)
        index = b.nodes.index(conv)
        b.nodes[index] = fc
        for n in drop[1:]:
            b.nodes.remove(n)
        for n in drop:
            for t in n.outputs:
                if t != flatten.outputs[0]:
                    b.tensors.pop(t, None)


def _interface_type(elem: int, ir_dtype: str) -> str:
    """The element type of a graph input / output as the model declares it (float32 or an integer type)."""
    return "float32" if elem == 1 else ONNX_INT_TYPES.get(elem, ir_dtype)


def _warn_missing_output_shapes(ctx: OnnxContext, model, outputs: list[str]) -> None:
    """Lenient loading: a graph output declared without a (full) shape gets the inferred one, with a warning."""
    for o, name in zip(model.graph.output, outputs):
        tt = o.type.tensor_type
        known = o.type.HasField("tensor_type") and tt.HasField("shape") and all(
            d.HasField("dim_value") or (i == 0 and d.HasField("dim_param")) for i, d in enumerate(tt.shape.dim))
        if not known:
            shape = ctx.builder.tensors[name].shape
            warnings.warn(f"{ctx.file}: graph output {o.name!r} declares no complete shape; inferred "
                          f"{list(nhwc_to_nchw(shape))} (NCHW as ONNX sees it)", ModelWarning, stacklevel=4)
            ctx.builder.notes.setdefault("inferred_output_shapes", {})[o.name] = shape


def _add_input(ctx: OnnxContext, value_info, batch_size: int | None) -> None:
    file = ctx.file
    dims = []
    for i, d in enumerate(value_info.type.tensor_type.shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0 and not (i == 0 and batch_size):
            dims.append(int(d.dim_value))
        elif i == 0:
            if not batch_size:  # dynamic batch: symbolic, 0 or -1
                given = d.dim_param if d.HasField("dim_param") else int(d.dim_value)
                warnings.warn(f"{file}: graph input {value_info.name!r} has a dynamic batch dimension "
                              f"({given!r}); importing with batch 1 (pass batch_size= to choose)",
                              ModelWarning, stacklevel=4)
                ctx.builder.notes.setdefault("dynamic_batch", {})[value_info.name] = str(given)
            dims.append(int(batch_size or 1))
        else:
            dims.append(0)
    if any(d <= 0 for d in dims):
        raise UnsupportedError(f"{file}: graph input {value_info.name!r} has a symbolic non-batch dimension "
                               f"{dims}; only the batch (first) dimension may be symbolic")
    elem = value_info.type.tensor_type.elem_type
    integer = elem in ONNX_INT_TYPES
    if elem != 1 and not (integer and ctx.quantized):
        raise UnsupportedError(f"{file}: graph input {value_info.name!r} has ONNX element type {elem}; "
                               f"supported: float32, and uint8 / int8 / int16 inputs read by a QLinear op, "
                               f"ConvInteger / MatMulInteger or DequantizeLinear")
    # an NHWC interface (read through Transpose(0, 3, 1, 2)) is already the IR layout
    shape = tuple(dims) if value_info.name in ctx.quant.nhwc_inputs else nchw_to_nhwc(tuple(dims))
    name = ctx.ir(value_info.name)
    aq = ctx.quant.act.get(value_info.name)
    if ctx.quantized and aq is None:
        what = ("is an integer input, but no QLinear op, ConvInteger / MatMulInteger or DequantizeLinear reads "
                "it, so its scale and zero point are unknown") if integer else "is not read by a QuantizeLinear"
        raise UnsupportedError(f"{file}: graph input {value_info.name!r} {what}")
    if integer and aq.dtype != ONNX_INT_TYPES[elem]:
        raise UnsupportedError(f"{file}: graph input {value_info.name!r} is {ONNX_INT_TYPES[elem]} but the op "
                               f"reading it expects {aq.dtype} (its zero point's type)")
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
