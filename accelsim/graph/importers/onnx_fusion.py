"""ONNX import, pass 2: fusion.

Finds, structurally, the nodes that fold into a producer: BatchNormalization and a constant (bias) Add after a
float Conv / Gemm / MatMul, a DequantizeLinear'd bias Add after a QDQ MatMul / Gemm, and a Relu / Clip after
Conv, Gemm, MatMul, BatchNormalization or Add. The result is the simplified node list the handlers convert: one
:class:`FusedNode` per remaining node. The folding arithmetic (and its checks) runs in the handlers.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from accelsim.graph.importers.onnx_qdq import Constants, QuantAnnotations

#: ONNX ops fused into their producer as its activation.
ACTIVATION_OPS = ("Relu", "Clip")
#: ONNX ops that fusion folds into their producer (where they directly and solely follow one).
FUSED_OPS = ("BatchNormalization", *ACTIVATION_OPS)
_MAC_OPS = ("Conv", "Gemm", "MatMul")


@dataclass(frozen=True)
class FusedNode:
    """An ONNX node with the nodes fused into it.

    ``folded``: BatchNormalization / constant Add nodes folded into its weights and bias, in graph order;
    ``activation``: the Relu / Clip fused as its activation; ``output``: the ONNX name of the chain's result.
    """

    node: object
    folded: tuple[object, ...] = ()
    activation: object | None = None
    output: str = ""


@dataclass(frozen=True)
class Consumers:
    """Which nodes read each tensor, and which tensors are graph outputs."""

    readers: Mapping[str, tuple[object, ...]]
    graph_outputs: frozenset[str]

    def single(self, name: str):
        """The only consumer of ``name`` if it has exactly one and is not a graph output, else None."""
        users = self.readers.get(name, ())
        if len(users) == 1 and name not in self.graph_outputs:
            return users[0]
        return None


def consumers_of(model) -> Consumers:
    readers: dict[str, list] = {}
    for n in model.graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    return Consumers({k: tuple(v) for k, v in readers.items()}, frozenset(o.name for o in model.graph.output))


def fuse(model, c: Constants, ann: QuantAnnotations, quantized: bool) -> tuple[FusedNode, ...]:
    """The simplified node list: every node not absorbed by the Q/DQ scan, a Constant or fused into another."""
    users = consumers_of(model)
    fused_away: set[int] = set()
    result = []
    for index, node in enumerate(model.graph.node):
        if index in ann.absorbed or node.op_type == "Constant" or id(node) in fused_away:
            continue
        folded, out = _folded_chain(node, c, ann, quantized, users)
        activation, out = _activation_after(node, out, users)
        fused_away.update(id(n) for n in folded)
        if activation is not None:
            fused_away.add(id(activation))
        result.append(FusedNode(node, folded, activation, out if node.output else ""))
    return tuple(result)


def _folded_chain(node, c: Constants, ann: QuantAnnotations, quantized: bool, users: Consumers
                  ) -> tuple[tuple[object, ...], str]:
    """The BatchNormalization / bias Add nodes folded into a MAC node, and the chain's output name."""
    out = node.output[0] if node.output else ""
    if node.op_type not in _MAC_OPS:
        return (), out
    folded = []
    if not quantized:
        while (nxt := users.single(out)) is not None:
            if nxt.op_type == "BatchNormalization" and nxt.input[0] == out:
                pass
            elif nxt.op_type == "Add" and c.canon(_other_input(nxt, out)) in c.values:
                pass
            else:
                break
            folded.append(nxt)
            out = nxt.output[0]
        return tuple(folded), out
    has_bias = node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]
    if node.op_type in ("Gemm", "MatMul") and not has_bias:  # QDQ MatMul + Add(DQ(int32 bias))
        nxt = users.single(out)
        if nxt is not None and nxt.op_type == "Add":
            other = c.canon(_other_input(nxt, out))
            if other in ann.const or other in c.values:
                return (nxt,), nxt.output[0]
    return (), out


def _activation_after(node, out: str, users: Consumers) -> tuple[object | None, str]:
    """The Relu / Clip that directly and solely follows a MAC node's chain or an Add, and the output after it."""
    if node.op_type not in (*_MAC_OPS, "Add"):
        return None, out
    nxt = users.single(out)
    if nxt is not None and nxt.op_type in ACTIVATION_OPS and nxt.input[0] == out:
        return nxt, nxt.output[0]
    return None, out


def _other_input(add, out: str) -> str:
    return add.input[1] if add.input[0] == out else add.input[0]
