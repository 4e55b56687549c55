"""ONNX import, pass 1: the Q/DQ scan.

Folds QuantizeLinear / DequantizeLinear nodes into immutable quantization annotations (tensor name -> dtype, scale,
zero point, axis) and Identity / inference-mode Dropout into aliases, before any compute op is converted.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from accelsim.errors import UnsupportedError
from accelsim.quant.params import QuantParams

#: ONNX TensorProto element types of integer tensors -> accelsim storage type names.
ONNX_INT_TYPES = {2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 21: "uint4", 22: "int4"}
#: numpy integer dtypes of quantized initializers -> accelsim storage type names.
_NUMPY_INT_TYPES = {"int4": "int4", "uint4": "uint4", "int8": "int8", "uint8": "uint8", "int16": "int16",
                    "uint16": "uint16", "int32": "int32"}


def onnx_attrs(node) -> dict[str, object]:
    """The attributes of an ONNX node as Python values."""
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


@dataclass(frozen=True)
class ActQuant:
    """Quantization of an activation tensor, read from a QuantizeLinear / QLinear* node."""

    dtype: str
    quant: QuantParams


@dataclass(frozen=True)
class ConstQuant:
    """An integer initializer read by DequantizeLinear: its data, storage type and (per-tensor or per-axis)
    quantization."""

    data: np.ndarray
    dtype: str
    quant: QuantParams


@dataclass(frozen=True)
class Constants:
    """The model's constants (initializers and Constant nodes) seen through the tensor aliases."""

    file: str
    values: Mapping[str, np.ndarray]
    alias: Mapping[str, str]

    def unsupported(self, node, what: str) -> UnsupportedError:
        domain = f" ({node.domain})" if node.domain not in ("", "ai.onnx") else ""
        return UnsupportedError(f"{self.file}: node {node.name or '<unnamed>'!r} ({node.op_type}{domain}): {what}")

    def canon(self, name: str) -> str:
        """The ONNX tensor a name stands for (following Identity / Q / DQ aliases)."""
        while name in self.alias:
            name = self.alias[name]
        return name

    def get(self, node, name: str) -> np.ndarray:
        """The value of constant input ``name`` of ``node``; an UnsupportedError if it is not a constant."""
        name = self.canon(name)
        if name not in self.values:
            raise self.unsupported(node, f"input {name!r} must be a constant (initializer or Constant node)")
        return self.values[name]


@dataclass(frozen=True)
class QuantAnnotations:
    """The result of the Q/DQ scan (read-only mappings)."""

    act: Mapping[str, ActQuant]          # activation tensor (canonical name) -> its quantization
    const: Mapping[str, ConstQuant]      # DequantizeLinear output -> the integer initializer behind it
    alias: Mapping[str, str]             # ONNX tensor name -> the ONNX name it stands for
    rename: Mapping[str, str]            # ONNX tensor name -> IR name (graph outputs behind a DQ / Identity)
    absorbed: frozenset[int]             # indices of the nodes folded away (Q, DQ, Identity, Dropout)
    nhwc_inputs: frozenset[str] = frozenset()    # 4-D graph inputs declared NHWC (read through Transpose to NCHW)
    nhwc_reshapes: frozenset[str] = frozenset()  # Reshape outputs whose input and target are in NHWC order


def int_dtype(c: Constants, node, arr: np.ndarray) -> str:
    """The accelsim storage type of an integer array; an UnsupportedError for other types."""
    kind = str(np.asarray(arr).dtype)
    name = _NUMPY_INT_TYPES.get(kind)
    if name is None:
        raise c.unsupported(node, f"integer type {kind}; supported: int4, uint4, int8, uint8, int16, int32")
    return name


def q_params(c: Constants, node, scale_name: str, zp_name: str, attrs: dict) -> ActQuant:
    """Per-tensor (S, Z, dtype) of an activation from a Q / DQ / QLinear node's scale and zero-point inputs."""
    scale = np.asarray(c.get(node, scale_name), np.float32)
    if scale.size != 1:
        raise c.unsupported(node, "per-axis quantization of an activation is not supported; activations are "
                                  "quantized per tensor")
    if zp_name:
        zp_arr = c.get(node, zp_name)
        dtype = int_dtype(c, node, zp_arr)
        zp = int(np.asarray(zp_arr).astype(np.int64).reshape(-1)[0])
    else:
        dtype = "uint8" if "output_dtype" not in attrs else ONNX_INT_TYPES.get(int(attrs["output_dtype"]), "?")
        zp = 0
    if dtype not in ("uint8", "int8", "int16", "uint16"):
        raise c.unsupported(node, f"activation type {dtype}; supported: uint8, int8, int16")
    if dtype == "uint16":
        raise c.unsupported(node, "uint16 activations are not supported; use int16 with zero point 0")
    return ActQuant(dtype, QuantParams.per_tensor(float(scale.reshape(-1)[0]), zp))


def dq_params(c: Constants, node, data: np.ndarray, attrs: dict) -> ActQuant:
    """Quantization of an integer initializer read by DequantizeLinear (per tensor or per axis)."""
    dtype = int_dtype(c, node, data)
    scale = np.asarray(c.get(node, node.input[1]), np.float32).reshape(-1)
    zp = (np.asarray(c.get(node, node.input[2])).astype(np.int64).reshape(-1)
          if len(node.input) > 2 and node.input[2] else np.zeros_like(scale, np.int64))
    if "block_size" in attrs and int(attrs["block_size"]) != 0:
        raise c.unsupported(node, "blocked quantization is not supported; supported: per tensor, per axis")
    if scale.size == 1:
        return ActQuant(dtype, QuantParams.per_tensor(float(scale[0]), int(zp[0])))
    axis = int(attrs.get("axis", 1)) % data.ndim
    return ActQuant(dtype, QuantParams(scale, zp, axis))


def scan_quantization(model, file: str, values: Mapping[str, np.ndarray],
                      layout_edges: bool = True) -> QuantAnnotations:
    """Fold Q/DQ nodes into tensor quantization annotations, and Identity / Dropout into aliases; with
    ``layout_edges`` (quantized models: the NHWC interface accelsim's own exporter writes) also the NCHW <-> NHWC
    Transposes of :func:`_layout_transpose`. A float model's Transposes stay ops (its outputs keep ONNX order)."""
    g = model.graph
    graph_outputs = {o.name for o in g.output}
    graph_inputs = {i.name for i in g.input}
    alias: dict[str, str] = {}
    rename: dict[str, str] = {}
    act: dict[str, ActQuant] = {}
    const: dict[str, ConstQuant] = {}
    absorbed: set[int] = set()
    c = Constants(file, values, alias)
    readers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    ranks = {i.name: len(i.type.tensor_type.shape.dim) for i in g.input}
    nhwc_inputs: set[str] = set()
    nhwc_reshapes: set[str] = set()
    folded_q: dict[str, np.ndarray] = {}   # QuantizeLinear of a float constant -> its integers
    for index, node in enumerate(g.node):
        if node.op_type == "Transpose" and layout_edges and _layout_transpose(
                c, node, readers, graph_outputs, ranks, values, alias, rename, nhwc_inputs, nhwc_reshapes):
            absorbed.add(index)
        elif node.op_type in ("Identity", "Dropout"):
            absorbed.add(index)
            _identity(c, node, graph_outputs, graph_inputs, alias, rename)
        elif node.op_type == "QuantizeLinear":
            absorbed.add(index)
            src = c.canon(node.input[0])
            aq = q_params(c, node, node.input[1], node.input[2] if len(node.input) > 2 else "", onnx_attrs(node))
            if src in values:   # a float constant quantized in the graph (quantize_static's Constant nodes)
                if aq.quant.per_channel_quantized:
                    raise c.unsupported(node, "quantizing a constant per axis is not supported; store the integer "
                                              "initializer and DequantizeLinear it")
                folded_q[node.output[0]] = quantize_linear_f32(np.asarray(values[src]), aq)
                const[node.output[0]] = ConstQuant(folded_q[node.output[0]], aq.dtype, aq.quant)
                continue
            old = act.get(src)
            if old is not None and (old.dtype != aq.dtype or not old.quant.same_as(aq.quant)):
                raise c.unsupported(node, f"tensor {src!r} is quantized twice with different parameters")
            act[src] = aq
            alias[node.output[0]] = src
        elif node.op_type == "DequantizeLinear":
            absorbed.add(index)
            src = c.canon(node.input[0])
            attrs = onnx_attrs(node)
            if src in values or src in folded_q:
                data = values[src] if src in values else folded_q[src]
                aq = dq_params(c, node, data, attrs)
                const[node.output[0]] = ConstQuant(data, aq.dtype, aq.quant)
            else:
                alias[node.output[0]] = src
                if node.output[0] in graph_outputs:
                    rename[src] = node.output[0]
                if src not in act:  # QOperator: the integer tensor comes from a QLinear op
                    act[src] = q_params(c, node, node.input[1], node.input[2] if len(node.input) > 2 else "", attrs)
    for inp in g.input:  # integer graph inputs of QOperator models: quantization from the op that reads them
        elem = inp.type.tensor_type.elem_type
        if elem in ONNX_INT_TYPES and inp.name not in values and inp.name not in act:
            found = integer_input_quant(model, c, inp.name)
            if found is not None:
                act[inp.name] = found
    return QuantAnnotations(MappingProxyType(act), MappingProxyType(const), MappingProxyType(alias),
                            MappingProxyType(rename), frozenset(absorbed), frozenset(nhwc_inputs),
                            frozenset(nhwc_reshapes))


def quantize_linear_f32(x: np.ndarray, aq: ActQuant) -> np.ndarray:
    """onnxruntime's QuantizeLinear of a float tensor, per tensor (MLAS ``quantize.cpp``, [ref:ORTQuant]): float32
    division by the scale, round half to even, plus the zero point, saturated to the type."""
    from accelsim.quant.params import dtype_info

    info = dtype_info(aq.dtype)
    q = np.rint(np.asarray(x, np.float32) / np.float32(aq.quant.scale[0])).astype(np.int64)
    q = q + int(aq.quant.zero_point[0])
    return np.clip(q, info.qmin, info.qmax).astype(info.storage)


_TO_NCHW = (0, 3, 1, 2)
_TO_NHWC = (0, 2, 3, 1)


def _single_reader(readers: Mapping[str, list], name: str, graph_outputs: set[str]):
    users = readers.get(name, [])
    return users[0] if len(users) == 1 and name not in graph_outputs else None


def _only_layout_readers(readers: Mapping[str, list], name: str) -> bool:
    """Whether every path from graph input ``name`` (through Identity / QuantizeLinear) ends in a
    ``Transpose(0, 3, 1, 2)``: then the input is NHWC as a whole."""
    users = readers.get(name, [])
    for n in users:
        if n.op_type in ("Identity", "QuantizeLinear") and n.input[0] == name:
            if not _only_layout_readers(readers, n.output[0]):
                return False
        elif not (n.op_type == "Transpose" and tuple(int(p) for p in onnx_attrs(n).get("perm", ())) == _TO_NCHW):
            return False
    return bool(users)


def _reaches_output_only(readers: Mapping[str, list], name: str, graph_outputs: set[str]) -> bool:
    """Whether tensor ``name`` is a graph output, or feeds one through single Identity / Q / DQ nodes only."""
    while name not in graph_outputs:
        nxt = _single_reader(readers, name, graph_outputs)
        if nxt is None or nxt.op_type not in ("Identity", "QuantizeLinear", "DequantizeLinear") or \
                nxt.input[0] != name:
            return False
        name = nxt.output[0]
    return not readers.get(name)


def _layout_transpose(c: Constants, node, readers, graph_outputs, ranks, values, alias, rename, nhwc_inputs,
                      nhwc_reshapes) -> bool:
    """A Transpose between ONNX's NCHW and the IR's NHWC, which the IR needs no node for (an alias), as an NHWC
    model interface or an NHWC-order reshape writes it (accelsim's own ``export_onnx_qlinear`` does):

    * ``perm=(0,3,1,2)`` on a 4-D graph input: the input is NHWC, i.e. already the IR layout;
    * ``perm=(0,2,3,1)`` whose result only reaches a graph output: the output is NHWC, the IR layout;
    * ``perm=(0,2,3,1)`` read only by a Reshape (to a non-4-D shape, or followed by ``perm=(0,3,1,2)``): the
      reshape works in NHWC element order, as the IR's does;
    * ``perm=(0,3,1,2)`` after such a Reshape to a 4-D shape (or after a Reshape of a non-4-D tensor to 4-D).

    Returns whether ``node`` was folded (its output aliased to its input)."""
    perm = tuple(int(p) for p in onnx_attrs(node).get("perm", ()))
    src, out = c.canon(node.input[0]), node.output[0]
    if perm == _TO_NCHW and src in ranks and ranks[src] == 4 and src not in values:
        if not _only_layout_readers(readers, src):
            return False  # another op reads the input as declared: keep the NCHW reading (the Transpose is refused)
        nhwc_inputs.add(src)
    elif perm == _TO_NHWC and _reaches_output_only(readers, out, graph_outputs):
        if out in graph_outputs:
            rename[src] = out
    elif perm == _TO_NHWC and (r := _single_reader(readers, out, graph_outputs)) is not None and \
            r.op_type == "Reshape" and r.input[0] == out and len(r.input) > 1 and r.input[1] in values:
        target = np.asarray(values[r.input[1]]).reshape(-1)
        if target.size == 4:
            t2 = _single_reader(readers, r.output[0], graph_outputs)
            if t2 is None or t2.op_type != "Transpose" or \
                    tuple(int(p) for p in onnx_attrs(t2).get("perm", ())) != _TO_NCHW:
                return False
        nhwc_reshapes.add(r.output[0])
    elif perm == _TO_NCHW and any(n.op_type == "Reshape" and n.output[0] == src and len(n.input) > 1 and
                                  n.input[1] in values and np.asarray(values[n.input[1]]).size == 4 and
                                  _single_reader(readers, src, graph_outputs) is node
                                  for users in readers.values() for n in users):
        nhwc_reshapes.add(src)
    else:
        return False
    alias[out] = src
    return True


#: Where an op that reads an integer tensor keeps its quantization: op type -> {input index: (scale input index,
#: zero-point input index)}; a scale index of None means the op has no scale (ConvInteger / MatMulInteger
#: compute on raw integers: scale 1). Input layouts from the ONNX operator spec (QLinearConv, QLinearMatMul,
#: ConvInteger, MatMulInteger, DequantizeLinear) and onnxruntime's com.microsoft contrib-op schemas
#: (onnxruntime/core/graph/contrib_ops/quantization_defs.cc: QLinearAdd/Mul, pools, QGemm, QLinearSigmoid, ...).
INTEGER_READERS: Mapping[str, Mapping[int, tuple[int | None, int]]] = MappingProxyType({
    "QLinearConv": {0: (1, 2)}, "QLinearMatMul": {0: (1, 2), 3: (4, 5)}, "QGemm": {0: (1, 2)},
    "QLinearAdd": {0: (1, 2), 3: (4, 5)}, "QLinearMul": {0: (1, 2), 3: (4, 5)},
    "QLinearAveragePool": {0: (1, 2)}, "QLinearGlobalAveragePool": {0: (1, 2)},
    "QLinearSigmoid": {0: (1, 2)}, "QLinearLeakyRelu": {0: (1, 2)}, "QLinearSoftmax": {0: (1, 2)},
    "DequantizeLinear": {0: (1, 2)}, "ConvInteger": {0: (None, 2)}, "MatMulInteger": {0: (None, 2)},
})
#: Ops that move integers without changing their quantization: an integer graph input may reach its reader
#: through them.
INTEGER_PASSTHROUGH = ("MaxPool", "Reshape", "Flatten", "Transpose", "Identity", "Pad", "Squeeze", "Unsqueeze")


def integer_input_quant(model, c: Constants, name: str) -> ActQuant | None:
    """(dtype, S, Z) of an integer graph input of a QOperator model, read from the first op that states it
    (:data:`INTEGER_READERS`, through :data:`INTEGER_PASSTHROUGH` ops); None when no op does."""
    frontier, seen = [name], set()
    while frontier:
        tensor = frontier.pop(0)
        seen.add(tensor)
        for node in model.graph.node:
            for index, inp in enumerate(node.input):
                if inp != tensor:
                    continue
                if node.op_type == "QLinearConcat" and index >= 2 and (index - 2) % 3 == 0:
                    return q_params(c, node, node.input[index + 1], node.input[index + 2], {})
                where = INTEGER_READERS.get(node.op_type, {}).get(index)
                if where is not None:
                    scale_i, zp_i = where
                    zp_name = node.input[zp_i] if len(node.input) > zp_i else ""
                    if scale_i is None:
                        return integer_params(c, node, zp_name, model_elem_type(model, name))
                    return q_params(c, node, node.input[scale_i], zp_name,
                                    {"output_dtype": model_elem_type(model, name)})
                if node.op_type in INTEGER_PASSTHROUGH and index == 0:
                    frontier.extend(o for o in node.output if o and o not in seen)
    return None


def model_elem_type(model, name: str) -> int:
    """The ONNX element type of graph input ``name`` (0 when it is not a graph input)."""
    for inp in model.graph.input:
        if inp.name == name:
            return int(inp.type.tensor_type.elem_type)
    return 0


def integer_params(c: Constants, node, zp_name: str, elem_type: int) -> ActQuant:
    """Quantization of a raw-integer operand of ConvInteger / MatMulInteger: scale 1, the (scalar) zero point."""
    if zp_name:
        zp_arr = np.asarray(c.get(node, zp_name))
        flat = zp_arr.astype(np.int64).reshape(-1)
        if flat.size > 1 and np.any(flat != flat[0]):
            raise c.unsupported(node, "a per-row activation zero point is not supported; supported: one zero "
                                      "point per tensor (scalar, or equal entries)")
        dtype, zp = int_dtype(c, node, zp_arr), int(flat[0])
    else:
        dtype, zp = ONNX_INT_TYPES.get(elem_type, "uint8"), 0
    if dtype not in ("uint8", "int8"):
        raise c.unsupported(node, f"operand type {dtype}; supported: uint8, int8")
    return ActQuant(dtype, QuantParams.per_tensor(1.0, zp))


def _identity(c: Constants, node, graph_outputs: set[str], graph_inputs: set[str], alias: dict[str, str],
              rename: dict[str, str]) -> None:
    """Identity / inference-mode Dropout: the output is another name of the input."""
    if len(node.output) > 1 and node.output[1]:
        raise c.unsupported(node, "the mask output of Dropout is not supported")
    alias[node.output[0]] = node.input[0]
    if node.output[0] in graph_outputs:
        src = c.canon(node.input[0])
        if src in graph_outputs or src in c.values or src in graph_inputs:
            raise c.unsupported(node, "an Identity/Dropout output that is a graph output must come from an op "
                                      "whose result is not itself a graph input or output")
        rename[src] = node.output[0]
