"""Round trip of accelsim's own exports: every zoo network, exported with ``export_onnx_qlinear`` and with
``export_tflite``, re-imports to the graph exported (same ops in the same order, shapes, dtypes, quantization
parameters, requantization modes and constant integers) and executes to identical integers.

Names may differ (the ONNX writer suffixes node names with their ONNX op type); everything else must agree,
with two spellings counted as one: a conv / pool padding is compared as the explicit (top, bottom, left, right)
it resolves to ("SAME" on a 3x3/1 conv is (1, 1, 1, 1)), and an absent bias equals an all-zero one (LiteRT's
DEPTHWISE_CONV_2D requires a bias, so the TFLite export writes zeros).
The ONNX graphs are built in the ``float32`` requantization mode, the semantics of ONNX's QOperator ops
(onnxruntime's, which the importer assigns); the TFLite ones in ``fixed_point`` (TFLite's).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import warnings

import numpy as np
import pytest

from accelsim.execute import execute
from accelsim.graph.exporters.onnx_qlinear import export_onnx_qlinear
from accelsim.graph.importers.onnx import import_model
from accelsim.graph.ir import Graph, Node
from accelsim.graph.shapes import resolve_padding
from accelsim.graph.synthetic import synthesize_weights
from accelsim.workloads.yaml_format import build_graph
from accelsim.workloads.zoo import ZOO

pytest.importorskip("onnx")
needs_litert = pytest.mark.skipif(importlib.util.find_spec("ai_edge_litert") is None,
                                  reason="the TFLite schema classes ship in ai-edge-litert (test extra)")

#: Networks executed end to end after the round trip, at a small input size where the network allows one
#: (global-pool heads); alexnet's FC head fixes its input size.
EXECUTED = {"mobilenet_v1_1.0_224": 64, "mobilenet_v2_1.0_224": 64, "resnet_18": 64, "resnet_v2_50": 64,
            "squeezenet_1.1": 64, "inception_v3": 96, "alexnet": None}


def zoo_graph(name: str, size: int | None, requant: str) -> Graph:
    spec = ZOO[name]()
    if size is not None:
        spec = dataclasses.replace(spec, input_shape=(1, size, size, spec.input_shape[3]))
    graph = synthesize_weights(build_graph(spec), seed=0)
    return graph.replace(nodes=[Node(n.name, n.op, n.inputs, n.outputs, requant) for n in graph.nodes])


def assert_same_graph(a: Graph, b: Graph) -> None:
    """Node by node in topological order: op (kind and attributes), requant mode, and every input / output
    tensor's shape, dtype, quantization and constant data; and the graph interface."""
    assert len(a.nodes) == len(b.nodes), ([n.kind for n in a.nodes], [n.kind for n in b.nodes])

    def same_tensor(s, t, where):
        assert (s.shape, s.dtype, s.is_constant) == (t.shape, t.dtype, t.is_constant), where
        assert (s.quant is None) == (t.quant is None), where
        if s.quant is not None:
            assert s.quant.same_as(t.quant), where
        if s.data is not None:
            assert np.array_equal(np.asarray(s.data), np.asarray(t.data)), where

    for na, nb in zip(a.nodes, b.nodes):
        where = f"{na.name} vs {nb.name}"
        assert resolved(a, na) == resolved(b, nb) and na.requant == nb.requant, where
        ins_a, ins_b = list(na.inputs), list(nb.inputs)
        if len(ins_a) == 2 and len(ins_b) == 3 and not np.asarray(b.tensors[ins_b[2]].data).any():
            ins_b = ins_b[:2]  # an all-zero bias written for LiteRT
        assert len(ins_a) == len(ins_b), where
        for i, j in zip((*ins_a, *na.outputs), (*ins_b, *nb.outputs)):
            same_tensor(a.tensors[i], b.tensors[j], f"{where}: {i} vs {j}")
    for i, j in zip((*a.inputs, *a.outputs), (*b.inputs, *b.outputs)):
        same_tensor(a.tensors[i], b.tensors[j], f"interface {i} vs {j}")


def resolved(graph: Graph, node: Node):
    """The node's op with a SAME / VALID padding written as the explicit padding it resolves to, and a negative
    Concat axis as the axis it counts to."""
    op = node.op
    if node.kind == "Concat":
        return dataclasses.replace(op, axis=op.axis % len(graph.tensors[node.outputs[0]].shape))
    padding = getattr(op, "padding", None)
    if not isinstance(padding, str):
        return op
    x = graph.tensors[node.inputs[0]].shape
    kernel = graph.tensors[node.inputs[1]].shape[1:3] if len(node.inputs) > 1 else op.kernel
    dilation = getattr(op, "dilation", (1, 1))
    return dataclasses.replace(op, padding=resolve_padding(padding, x[1:3], tuple(kernel), op.stride, dilation))


def assert_same_integers(a: Graph, b: Graph) -> None:
    x = a.tensors[a.inputs[0]]
    rng = np.random.default_rng(0)
    lo, hi = (0, 255) if x.dtype == "uint8" else (-128, 127)
    data = rng.integers(lo, hi + 1, size=x.shape).astype(x.dtype)
    ya = execute(a, {a.inputs[0]: data}).outputs[a.outputs[0]]
    yb = execute(b, {b.inputs[0]: data}).outputs[b.outputs[0]]
    assert ya.dtype == yb.dtype and int(np.count_nonzero(ya != yb)) == 0


@pytest.mark.parametrize("name", sorted(ZOO))
def test_onnx_export_reimports_to_the_same_graph(name):
    size = EXECUTED.get(name, None) if name in EXECUTED else None
    graph = zoo_graph(name, size, "float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean export imports without any lenient-loading warning
        back = import_model(export_onnx_qlinear(graph), f"{name}.onnx")
    assert_same_graph(graph, back)
    if name in EXECUTED:
        assert_same_integers(graph, back)


@needs_litert
@pytest.mark.parametrize("name", sorted(ZOO))
def test_tflite_export_reimports_to_the_same_graph(name):
    """TFLite's semantics: conv / depthwise / add / pools requantize with ``fixed_point``, FULLY_CONNECTED with
    LiteRT's single rounding (``FC_REQUANT``), which the importer assigns. A network with an op TFLite has no
    builtin for (MobileNet-v3's HardSigmoid) is refused by node name instead: no lossless TFLite form exists."""
    from accelsim.errors import UnsupportedError
    from accelsim.graph.exporters.tflite import NOT_EXPORTABLE, export_tflite
    from accelsim.graph.importers.tflite import FC_REQUANT, load_tflite

    graph = zoo_graph(name, EXECUTED.get(name), "fixed_point")
    graph = graph.replace(nodes=[Node(n.name, n.op, n.inputs, n.outputs, FC_REQUANT) if n.kind == "FullyConnected"
                                 else n for n in graph.nodes])
    refused = [n for n in graph.nodes if n.kind in NOT_EXPORTABLE]
    if refused:
        with pytest.raises(UnsupportedError, match=f"node '{refused[0].name}' \\({refused[0].kind}\\)"):
            export_tflite(graph)
        return
    back = load_tflite(export_tflite(graph))
    assert_same_graph(graph, back)
    if name in EXECUTED:
        assert_same_integers(graph, back)


@pytest.mark.parametrize("name", ["resnet_18", "mobilenet_v2_1.0_224"])
def test_onnx_float_io_export_reimports_to_the_same_graph(name):
    """``float_io=True`` wraps the interface in QuantizeLinear / DequantizeLinear: the re-imported graph has the
    same integer tensors and records the float interface."""
    graph = zoo_graph(name, 64, "float32")
    back = import_model(export_onnx_qlinear(graph, float_io=True), f"{name}.onnx")
    assert_same_graph(graph, back)
    assert back.metadata["interface"] == {"inputs": {graph.inputs[0]: "float32"},
                                          "outputs": {graph.outputs[0]: "float32"}}
    assert_same_integers(graph, back)
