"""Graph IR validation: an invalid graph raises a GraphError that names the node (issue: shape mismatch,
missing quantization parameters, unsupported bit width), plus the structural errors."""
from __future__ import annotations

import numpy as np
import pytest

from accelsim.errors import GraphError
from accelsim.graph import GraphBuilder, Graph, Node, Tensor
from accelsim.graph import ops as O
from accelsim.quant.params import QuantParams

Q = QuantParams.per_tensor(0.1, 0)


def _conv_builder(x_dtype="int8", w_dtype="int8", x_quant=Q):
    b = GraphBuilder("g")
    x = b.input("x", (1, 6, 6, 4), x_dtype, x_quant)
    w = b.constant("w", np.ones((8, 3, 3, 4), np.int8), w_dtype, QuantParams.per_channel(np.ones(8), 0, 0))
    return b, x, w


def test_shape_mismatch_names_the_node():
    b, x, w = _conv_builder()
    y = b.conv2d(x, w, None, Q, name="conv1")
    tensors = dict(b.tensors)
    tensors[y] = Tensor(y, (1, 6, 6, 8), "int8", Q)      # VALID 3x3 gives 4x4, not 6x6
    with pytest.raises(GraphError, match=r"node 'conv1' \(Conv2D\).*\(1, 6, 6, 8\).*\(1, 4, 4, 8\)"):
        Graph("g", tensors, tuple(b.nodes), ("x",), (y,))


def test_weights_that_do_not_match_the_input_channels_name_the_node():
    b = GraphBuilder("g")
    x = b.input("x", (1, 6, 6, 4), "int8", Q)
    w = b.constant("w", np.ones((8, 3, 3, 5), np.int8), "int8", Q)
    tensors = {**b.tensors, "y": Tensor("y", (1, 4, 4, 8), "int8", Q)}
    node = Node("conv1", O.Conv2D(), (x, w), ("y",))
    with pytest.raises(GraphError, match=r"node 'conv1'.*4 channels.*5"):
        Graph("g", tensors, (node,), ("x",), ("y",))


def test_missing_quant_params_name_the_node():
    b, x, w = _conv_builder(x_quant=None)
    y = b.conv2d(x, w, None, Q, name="conv1")
    with pytest.raises(GraphError, match=r"node 'conv1'.*'x'.*no quantization parameters"):
        b.build([y])


@pytest.mark.parametrize("x_dtype, w_dtype, what", [("int32", "int8", "activation 'x' is int32"),
                                                     ("int8", "int32", "weights 'w' are int32")])
def test_unsupported_bit_width_names_the_node(x_dtype, w_dtype, what):
    b, x, w = _conv_builder(x_dtype, w_dtype)
    y = b.conv2d(x, w, None, Q, name="conv1", out_dtype="int8")
    with pytest.raises(GraphError, match=rf"node 'conv1'.*{what}"):
        b.build([y])


def test_add_inputs_must_share_the_output_type():
    b = GraphBuilder("g")
    a = b.input("a", (1, 2, 2, 3), "int8", Q)
    c = b.input("c", (1, 2, 2, 3), "int16", Q)
    s = b.add(a, c, Q, name="sum")
    with pytest.raises(GraphError, match=r"node 'sum' \(Add\): input 'c' is int16 but output 'sum' is int8"):
        b.build([s])


def test_unknown_input_and_cycle_name_the_node():
    t = {n: Tensor(n, (1, 2, 2, 3), "int8", Q) for n in ("x", "a", "b")}
    pool = O.MaxPool((1, 1))
    with pytest.raises(GraphError, match=r"node 'n1'.*'ghost'"):
        Graph("g", {**t, "ghost_out": t["a"]}, (Node("n1", pool, ("ghost",), ("a",)),), ("x",), ("a",))
    cycle = (Node("n1", pool, ("b",), ("a",)), Node("n2", pool, ("a",), ("b",)))
    with pytest.raises(GraphError, match=r"node 'n1'.*cycle"):
        Graph("g", t, cycle, ("x",), ("b",))


def test_nodes_are_kept_in_topological_order():
    t = {n: Tensor(n, (1, 2, 2, 3), "int8", Q) for n in ("x", "a", "b")}
    pool = O.MaxPool((1, 1))
    g = Graph("g", t, (Node("second", pool, ("a",), ("b",)), Node("first", pool, ("x",), ("a",))), ("x",), ("b",))
    assert [n.name for n in g.nodes] == ["first", "second"]
