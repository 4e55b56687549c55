"""Bad ONNX input gets a clear error: an unsupported op names the node, the op type and the nearest supported
alternative; an attribute accelsim cannot honour is refused by name (never silently ignored)."""
from __future__ import annotations

import numpy as np
import pytest

from accelsim.errors import UnsupportedError
from accelsim.graph.importers.onnx import ATTRIBUTE_RULES, OP_HINTS, import_model

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def model_of(nodes, inputs, outputs, inits=(), opset=21):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 10
    return m


def x_info(shape=(1, 4, 6, 6)):
    return helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))


def y_info():
    return helper.make_tensor_value_info("y", TensorProto.FLOAT, None)


def conv_then(node, w_shape=(4, 4, 3, 3), conv_attrs=None):
    w = numpy_helper.from_array(np.ones(w_shape, np.float32), "w")
    conv = helper.make_node("Conv", ["x", "w"], ["c"], name="conv0", pads=[1, 1, 1, 1], **(conv_attrs or {}))
    return [conv, node] if node is not None else [conv], [w]


def test_unsupported_op_names_node_op_and_hint():
    nodes, inits = conv_then(helper.make_node("Einsum", ["c", "c"], ["y"], name="mix", equation="nchw,nchw->nchw"))
    with pytest.raises(UnsupportedError, match=r"node 'mix' \(Einsum\): op type 'Einsum' is not supported; "
                                               r"nearest supported alternative: rewrite the contraction as MatMul"):
        import_model(model_of(nodes, [x_info()], [y_info()], inits), "m.onnx")


def test_unsupported_op_without_hint_gets_difflib_close_matches():
    assert "GlobalLpPool" not in OP_HINTS
    nodes, inits = conv_then(helper.make_node("GlobalLpPool", ["c"], ["y"], name="lp"))
    with pytest.raises(UnsupportedError, match=r"node 'lp' \(GlobalLpPool\).*nearest supported op type\(s\): "
                                               r"GlobalAveragePool"):
        import_model(model_of(nodes, [x_info()], [y_info()], inits), "m.onnx")


@pytest.mark.parametrize("op_type, attrs, extra_inputs, message", [
    ("Reshape", {"allowzero": 1}, [("shape", np.array([1, -1], np.int64))], "allowzero=1 cannot be honoured"),
    ("MaxPool", {"storage_order": 1, "kernel_shape": [2, 2]}, [], "storage_order=1 cannot be honoured"),
])
def test_attribute_that_cannot_be_honoured_is_refused_by_name(op_type, attrs, extra_inputs, message):
    inits = [numpy_helper.from_array(v, n) for n, v in extra_inputs]
    node = helper.make_node(op_type, ["c", *[n for n, _ in extra_inputs]], ["y"], name="n1", **attrs)
    nodes, w = conv_then(node)
    with pytest.raises(UnsupportedError, match=rf"node 'n1' \({op_type}\): attribute {message}; supported: "):
        import_model(model_of(nodes, [x_info()], [y_info()], [*w, *inits]), "m.onnx")


def test_legacy_pad_value_attribute_is_refused():
    node = helper.make_node("Pad", ["c"], ["y"], name="pad0", mode="constant", pads=[0, 0, 1, 1, 0, 0, 1, 1],
                            value=2.5)
    nodes, w = conv_then(node)
    with pytest.raises(UnsupportedError, match=r"node 'pad0' \(Pad\): attribute value=2.5 cannot be honoured"):
        import_model(model_of(nodes, [x_info()], [y_info()], w, opset=10), "m.onnx")


def test_conv_kernel_shape_disagreeing_with_weights_is_refused():
    nodes, w = conv_then(None, conv_attrs={"kernel_shape": [5, 5]})
    nodes[0].output[0] = "y"
    with pytest.raises(UnsupportedError, match=r"node 'conv0' \(Conv\): kernel_shape=\[5, 5\] disagrees with the "
                                               r"weights' spatial shape \[3, 3\]"):
        import_model(model_of(nodes, [x_info()], [y_info()], w), "m.onnx")


def test_batch_norm_spatial_0_is_refused():
    stats = [numpy_helper.from_array(np.ones(4 * 36, np.float32), n) for n in ("g", "b", "m", "v")]
    bn = helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["y"], name="bn0", spatial=0)
    nodes, w = conv_then(bn)
    with pytest.raises(UnsupportedError, match=r"node 'bn0' \(BatchNormalization\): attribute spatial=0"):
        import_model(model_of(nodes, [x_info()], [y_info()], [*w, *stats], opset=8), "m.onnx")


def test_every_attribute_rule_names_what_is_supported():
    for op_type, rules in ATTRIBUTE_RULES.items():
        for name, (honoured, supported) in rules.items():
            assert callable(honoured) and supported, (op_type, name)


def test_constants_must_name_graph_inputs():
    nodes, w = conv_then(None)
    nodes[0].output[0] = "y"
    with pytest.raises(UnsupportedError, match=r"constants=\{'scale': \.\.\.\} names no graph input; graph inputs: x"):
        import_model(model_of(nodes, [x_info()], [y_info()], w), "m.onnx", constants={"scale": np.float32(1)})


def test_integer_input_type_must_match_its_reader():
    scal = lambda name, v, t: numpy_helper.from_array(np.array(v, t), name)  # noqa: E731
    inits = [scal("s", 0.1, np.float32), scal("z", 0, np.int8),
             numpy_helper.from_array(np.ones((4, 4, 1, 1), np.int8), "w"), scal("ws", 0.1, np.float32),
             scal("wz", 0, np.int8)]
    conv = helper.make_node("QLinearConv", ["x", "s", "z", "w", "ws", "wz", "s", "z"], ["y"], name="qc")
    x = helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 4, 3, 3])
    with pytest.raises(UnsupportedError, match=r"graph input 'x' is uint8 but the op reading it expects int8"):
        import_model(model_of([conv], [x], [helper.make_tensor_value_info("y", TensorProto.INT8, None)], inits),
                     "m.onnx")


def test_dropout_in_training_mode_is_refused():
    inits = [numpy_helper.from_array(np.array(0.5, np.float32), "ratio"),
             numpy_helper.from_array(np.array(True), "training")]
    node = helper.make_node("Dropout", ["c", "ratio", "training"], ["y"], name="drop")
    nodes, w = conv_then(node)
    with pytest.raises(UnsupportedError, match=r"node 'drop' \(Dropout\): training_mode=True cannot be honoured"):
        import_model(model_of(nodes, [x_info()], [y_info()], [*w, *inits]), "m.onnx")
