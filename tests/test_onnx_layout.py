"""ONNX import of data-movement ops on ranks 2–5 (Reshape, Transpose, Slice, Split, Gather, Squeeze, Unsqueeze),
shape-subgraph folding and the Transpose clean-up, checked against onnxruntime: the imported float graph's
reference equals onnxruntime's float output, and in QOperator-form integer graphs every output integer equals
onnxruntime's. ShuffleNet-v2 (torchvision) imports with its published parameter count and MACs."""
from __future__ import annotations

import math
import warnings

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from accelsim.errors import UnsupportedError
from accelsim.execute import execute
from accelsim.graph import ops as O
from accelsim.graph.float_exec import run_float
from accelsim.graph.importers.onnx import load_onnx
from accelsim.graph.importers.onnx_layout import permutation_factors

RNG = np.random.default_rng(13)


def _ints(name: str, values) -> TensorProto:
    return numpy_helper.from_array(np.asarray(values, np.int64), name)


def _model(nodes, in_shape, out_names, inits=(), opset=17, in_type=TensorProto.FLOAT, out_type=None):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", in_type, in_shape)],
        [helper.make_tensor_value_info(o, out_type or in_type, None) for o in out_names], list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    # give each graph output its shape (the strict checker wants one): as onnxruntime computes it
    dtype = {TensorProto.FLOAT: np.float32, TensorProto.INT8: np.int8}[in_type]
    shapes = [y.shape for y in _ort(model, np.zeros(in_shape, dtype))]
    del model.graph.output[:]
    model.graph.output.extend(helper.make_tensor_value_info(o, out_type or in_type, s)
                              for o, s in zip(out_names, shapes))
    return model


def _ort(model, x):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})


def _as_onnx(y: np.ndarray) -> np.ndarray:
    """An IR output in ONNX order (4-D NHWC -> NCHW)."""
    return y.transpose(0, 3, 1, 2) if y.ndim == 4 else y


def _nhwc(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


def _import(model, tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    return load_onnx(path)


def _check_float(model, in_shape, tmp_path):
    graph = _import(model, tmp_path)
    x = RNG.standard_normal(in_shape).astype(np.float32)
    want = _ort(model, x)
    values = run_float(graph, {graph.inputs[0]: _nhwc(x)})
    for name, expected in zip(graph.outputs, want):
        np.testing.assert_array_equal(_as_onnx(values[name]), expected)
    return graph


SHUFFLE = [helper.make_node("Reshape", ["x", "s5"], ["r"]),
           helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3, 4]),
           helper.make_node("Reshape", ["t", "s4"], ["y"])]


@pytest.mark.parametrize("groups, shape", [(2, (1, 8, 3, 5)), (4, (2, 12, 4, 4)), (3, (1, 6, 1, 7))])
def test_channel_shuffle_imports_as_one_transpose(groups, shape, tmp_path):
    n, c, h, w = shape
    model = _model(SHUFFLE, shape, ["y"], [_ints("s5", [n, groups, c // groups, h, w]), _ints("s4", [n, c, h, w])])
    graph = _check_float(model, shape, tmp_path)
    moves = [node for node in graph.nodes if not O.op_def(node.kind).cost.is_view]
    assert [node.op for node in moves] == [O.Transpose((0, 1, 3, 2))]
    reshape = graph.producer(moves[0].inputs[0])
    assert reshape.op == O.Reshape((n, h * w, groups, c // groups))


def test_permutation_factors_of_a_channel_shuffle_closed_form():
    """A per-sample NHWC channel shuffle of C = g·k channels: output channel j·g + i is input channel i·k + j."""
    hw, g, k = 6, 3, 4
    c = g * k
    moved = np.array([p * c + i * k + j for p in range(hw) for j in range(k) for i in range(g)])
    assert permutation_factors(moved) == ((hw, g, k), (0, 2, 1))
    assert permutation_factors(np.arange(24)) == ((24,), (0,))
    assert permutation_factors(np.array([1, 0, 2])) is None


@pytest.mark.parametrize("nodes, in_shape, inits", [
    # 4-D -> 3-D (N, C, H·W) -> transpose -> back to 4-D
    ([helper.make_node("Reshape", ["x", "s3"], ["r"]), helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1]),
      helper.make_node("Reshape", ["t", "s4"], ["y"])], (1, 4, 3, 5),
     [_ints("s3", [1, 4, 15]), _ints("s4", [1, 15, 2, 2])]),
    # 4-D transposes of every kind
    ([helper.make_node("Transpose", ["x"], ["y"], perm=[0, 2, 3, 1])], (2, 3, 4, 5), []),
    ([helper.make_node("Transpose", ["x"], ["y"], perm=[0, 1, 3, 2])], (1, 3, 4, 5), []),
    ([helper.make_node("Transpose", ["x"], ["y"], perm=[3, 2, 1, 0])], (2, 3, 4, 5), []),
    # 5-D reshape and transpose, then back to 4-D
    ([helper.make_node("Reshape", ["x", "s5"], ["r"]), helper.make_node("Transpose", ["r"], ["t"],
                                                                          perm=[0, 3, 4, 2, 1]),
      helper.make_node("Reshape", ["t", "s4"], ["y"])], (1, 6, 2, 3), [_ints("s5", [1, 2, 3, 2, 3]),
                                                                     _ints("s4", [1, 2, 3, 6])]),
    # 2-D and 3-D inputs
    ([helper.make_node("Transpose", ["x"], ["y"], perm=[1, 0])], (4, 6), []),
    ([helper.make_node("Reshape", ["x", "s"], ["y"])], (2, 3, 8), [_ints("s", [2, 4, 6])]),
    # Slice: negative and clamped bounds, negative steps, on NCHW axes of a 4-D tensor
    ([helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"])], (2, 6, 5, 7),
     [_ints("st", [1, -1, 100]), _ints("en", [5, -100, 1]), _ints("ax", [1, 3, 2]), _ints("sp", [2, -2, -1])]),
    ([helper.make_node("Slice", ["x", "st", "en"], ["y"])], (1, 8), [_ints("st", [0, 2]), _ints("en", [1, 7])]),
    # Gather: scalar index drops a 4-D axis; 1-D indices keep it
    ([helper.make_node("Gather", ["x", "i"], ["y"], axis=1)], (2, 5, 3, 4),
     [numpy_helper.from_array(np.array(3, np.int64), "i")]),
    ([helper.make_node("Gather", ["x", "i"], ["y"], axis=3)], (1, 2, 3, 6), [_ints("i", [5, 0, -1, 2])]),
    ([helper.make_node("Gather", ["x", "i"], ["y"], axis=1)], (1, 6, 2), [_ints("i", [4, 4, 1])]),
    # 5-D slice and a Concat of 3-D tensors in ONNX order, back to 4-D
    ([helper.make_node("Reshape", ["x", "s5"], ["r"]),
      helper.make_node("Slice", ["r", "st", "en", "ax"], ["sl"]),
      helper.make_node("Reshape", ["sl", "s4"], ["y"])], (1, 8, 3, 4),
     [_ints("s5", [1, 2, 4, 3, 4]), _ints("st", [1, 1]), _ints("en", [4, 3]), _ints("ax", [2, 4]),
      _ints("s4", [1, 6, 3, 2])]),
    ([helper.make_node("Reshape", ["x", "s3"], ["r"]), helper.make_node("Concat", ["r", "r"], ["c"], axis=2),
      helper.make_node("Transpose", ["c"], ["y"], perm=[0, 2, 1])], (1, 4, 3, 5), [_ints("s3", [1, 4, 15])]),
    # Squeeze / Unsqueeze of activations
    ([helper.make_node("Unsqueeze", ["x", "a"], ["u"]), helper.make_node("Squeeze", ["u", "a"], ["y"])],
     (1, 3, 4, 5), [_ints("a", [2])]),
])
def test_data_movement_imports_equal_onnxruntime(nodes, in_shape, inits, tmp_path):
    _check_float(_model(nodes, in_shape, ["y"], inits), in_shape, tmp_path)


@pytest.mark.parametrize("opset, node_kw, inits, outs", [
    (13, {}, [_ints("sp", [2, 4, 2])], 3),
    (13, {}, [], 2),
    (18, {"num_outputs": 3}, [], 3),
])
def test_split_imports_as_slices_equal_onnxruntime(opset, node_kw, inits, outs, tmp_path):
    names = [f"y{i}" for i in range(outs)]
    inputs = ["x", "sp"] if inits else ["x"]
    node = helper.make_node("Split", inputs, names, axis=1, **node_kw)
    graph = _check_float(_model([node], (1, 8, 3, 3), names, inits, opset=opset), (1, 8, 3, 3), tmp_path)
    assert {n.kind for n in graph.nodes} == {"Slice"}


def test_shape_subgraph_is_folded(tmp_path):
    """torch's dynamic reshape target: Shape -> Gather -> Div -> Unsqueeze -> Concat (and a Slice bound from Shape
    -> Gather -> Add -> Div -> Mul), folded to constants before the handlers."""
    c = helper.make_node
    nodes = [
        c("Shape", ["x"], ["sh"]), c("Gather", ["sh", "zero_s"], ["b"], axis=0),
        c("Unsqueeze", ["b", "zero"], ["b1"]),
        c("Gather", ["sh", "one_s"], ["ch"], axis=0), c("Div", ["ch", "two"], ["half"]),
        c("Unsqueeze", ["half", "zero"], ["half1"]), c("Concat", ["b1", "half1", "minus1"], ["tgt"], axis=0),
        c("Cast", ["tgt"], ["tgt64"], to=TensorProto.INT64),
        c("Add", ["ch", "zero_s"], ["ch2"]), c("Mul", ["ch2", "one_s"], ["end"]),
        c("Unsqueeze", ["end", "zero"], ["end1"]),
        c("Slice", ["x", "zero", "end1", "one"], ["s"]), c("Reshape", ["s", "tgt64"], ["y"]),
    ]
    inits = [_ints("one", [1]), numpy_helper.from_array(np.array(2, np.int64), "two"), _ints("zero", [0]),
             _ints("minus1", [-1]), numpy_helper.from_array(np.array(0, np.int64), "zero_s"),
             numpy_helper.from_array(np.array(1, np.int64), "one_s")]
    model = _model(nodes, (2, 6), ["y"], inits)
    graph = _check_float(model, (2, 6), tmp_path)
    assert [n.kind for n in graph.nodes] == ["Slice", "Reshape"]


QSCALE, QZERO = np.float32(0.03), 5


def _qoperator(nodes, in_shape, out_names, inits=()):
    """x (float) -> QuantizeLinear -> data movement on int8 -> DequantizeLinear per output."""
    q = [helper.make_node("QuantizeLinear", ["x", "sc", "zp"], ["xq"])]
    dq = [helper.make_node("DequantizeLinear", [f"{o}_q", "sc", "zp"], [o]) for o in out_names]
    renamed = []
    for n in nodes:
        n = helper.make_node(n.op_type, ["xq" if i == "x" else (f"{i}_q" if i in out_names else i) for i in n.input],
                             [f"{o}_q" if o in out_names else o for o in n.output],
                             **{a.name: helper.get_attribute_value(a) for a in n.attribute})
        renamed.append(n)
    scales = [numpy_helper.from_array(np.array(QSCALE, np.float32), "sc"),
              numpy_helper.from_array(np.array(QZERO, np.int8), "zp")]
    return _model(q + renamed + dq, in_shape, out_names, [*inits, *scales])


@pytest.mark.parametrize("nodes, in_shape, inits, outs", [
    (SHUFFLE, (1, 8, 3, 5), [_ints("s5", [1, 2, 4, 3, 5]), _ints("s4", [1, 8, 3, 5])], ["y"]),
    ([helper.make_node("Transpose", ["x"], ["y"], perm=[0, 1, 3, 2])], (1, 3, 4, 5), [], ["y"]),
    ([helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"])], (1, 6, 5, 7),
     [_ints("st", [1, 6]), _ints("en", [5, 0]), _ints("ax", [1, 3]), _ints("sp", [1, -2])], ["y"]),
    ([helper.make_node("Split", ["x"], ["y0", "y1"], axis=1)], (1, 6, 2, 2), [], ["y0", "y1"]),
    ([helper.make_node("Gather", ["x", "i"], ["y"], axis=2)], (1, 3, 4, 5), [_ints("i", [3, 0, 3])], ["y"]),
])
def test_integer_data_movement_equals_onnxruntime_over_the_whole_int8_range(nodes, in_shape, inits, outs,
                                                                            tmp_path):
    """QOperator form: onnxruntime moves int8 codes; accelsim's engine gives the same integers (0 mismatches) for
    random inputs and for inputs whose codes sweep -128..127."""
    model = _qoperator(nodes, in_shape, outs, inits)
    graph = _import(model, tmp_path)
    size = math.prod(in_shape)
    for codes in (RNG.integers(-128, 128, in_shape), (np.arange(size) % 256 - 128).reshape(in_shape)):
        xq = codes.astype(np.int8)
        x = ((codes.astype(np.float32) - QZERO) * QSCALE).astype(np.float32)   # quantizes back to the codes
        want = _ort(model, x)
        got = execute(graph, {graph.inputs[0]: _nhwc(xq)})
        for name, expected in zip(graph.outputs, want):
            expected_codes = np.rint(expected / QSCALE).astype(np.int64) + QZERO
            np.testing.assert_array_equal(_as_onnx(got[name]).astype(np.int64), expected_codes)


def test_non_constant_gather_indices_are_refused_by_node_name(tmp_path):
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["x", "idx"], ["y"], axis=0, name="dyn_gather")]
    graph = helper.make_graph(nodes[1:], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, (2, 3)),
                                                helper.make_tensor_value_info("idx", TensorProto.INT64, (1,))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    graph.output[0].type.tensor_type.shape.dim.add().dim_value = 1
    graph.output[0].type.tensor_type.shape.dim.add().dim_value = 3
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(UnsupportedError):
        load_onnx(path)


# ------------------------------------------------------------------------------------ ShuffleNet-v2 x1.0
#: torchvision 0.28 documentation, ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1: 2,278,604 params, 0.14 GFLOPS
#: (the weights' meta["_ops"] = 0.145 G multiply-adds).
SHUFFLENET_PARAMS = 2_278_604
SHUFFLENET_MACS = 0.145e9


def _torchvision():
    """``import torchvision`` beside the CPU torch: its wheel links CUDA torch libraries, so registering fake
    kernels of its missing C ops fails; those ops (detection) are not needed, so that error is skipped while it
    is imported."""
    torch = pytest.importorskip("torch")
    import sys

    if "torchvision" in sys.modules:
        return sys.modules["torchvision"]
    import torch.library as library

    original = library.register_fake

    def tolerant(op, func=None, /, *args, **kwargs):
        def wrap(fn):
            try:
                return original(op, fn, *args, **kwargs)
            except RuntimeError as exc:
                if "torchvision::" not in f"{op} {exc}":
                    raise
                return fn
        return wrap if func is None else wrap(func)

    library.register_fake = tolerant
    try:
        import torchvision
    finally:
        library.register_fake = original
    return torchvision


def _reduce_mean_as_gap(ctx, f):
    """ReduceMean over (H, W) without keepdims = GlobalAveragePool + Reshape (used only when no ReduceMean handler
    is registered in this tree)."""
    node = f.node
    x = ctx.act(node, node.input[0])
    gap = ctx.emit(node, O.GlobalAveragePool(), [x.name], node.output[0] + "__gap", "float32", None)
    ctx.emit(node, O.Reshape((x.shape[0], x.shape[3])), [gap], node.output[0], "float32", None)


@pytest.fixture(scope="module")
def shufflenet(tmp_path_factory):
    torch = pytest.importorskip("torch")
    tv = _torchvision()
    torch.manual_seed(0)
    model = tv.models.shufflenet_v2_x1_0(weights=None).eval()
    path = tmp_path_factory.mktemp("tv") / "shufflenet_v2_x1_0.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), str(path), dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["logits"])
    bn = sum(m.num_features for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    from accelsim.graph.importers import onnx_handlers
    from accelsim.graph.importers.onnx import register_onnx_handler

    added = "ReduceMean" not in onnx_handlers.FLOAT_HANDLERS
    if added:
        register_onnx_handler("ReduceMean", _reduce_mean_as_gap, quantized=False)
    try:
        graph = load_onnx(path)
    finally:
        if added:
            onnx_handlers.FLOAT_HANDLERS.pop("ReduceMean")
    return path, graph, bn


def test_shufflenet_v2_imports_with_published_params_and_macs(shufflenet):
    """torch folds each BatchNorm into its conv on export (one bias per channel where torchvision counts BN weight
    and bias): the published count is the imported count plus one per BN channel."""
    from accelsim.graph.stats import param_count, total_macs

    _, graph, bn = shufflenet
    assert param_count(graph) + bn == SHUFFLENET_PARAMS
    assert total_macs(graph) == pytest.approx(SHUFFLENET_MACS, rel=0.02)
    shuffles = [n for n in graph.nodes if n.kind == "Transpose"]
    assert len(shuffles) == 16 and all(n.op == O.Transpose((0, 1, 3, 2)) for n in shuffles)


def test_shufflenet_v2_float_equals_onnxruntime_and_int8_runs(shufflenet):
    from accelsim.graph.ptq import PTQSettings, quantize_graph
    from accelsim.quant.params import quantize

    path, graph, _ = shufflenet
    x = RNG.standard_normal((1, 3, 224, 224)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": x})[0]
    got = run_float(graph, {graph.inputs[0]: _nhwc(x)})[graph.outputs[0]]
    assert np.max(np.abs(got - want)) <= 1e-4 * np.max(np.abs(want))
    calib = RNG.standard_normal((2, 224, 224, 3)).astype(np.float32)
    q = quantize_graph(graph, {graph.inputs[0]: calib}, PTQSettings())
    qin = q.tensors[q.inputs[0]]
    logits = execute(q, {q.inputs[0]: quantize(_nhwc(x), qin.quant, qin.dtype)})[q.outputs[0]]
    assert logits.shape == (1, 1000)
    assert len(np.unique(logits)) > 10   # a live network, not a constant output


@pytest.mark.parametrize("activation", ["QUInt8", "QInt8"])
def test_shufflenet_v2_qdq_channel_shuffles_equal_onnxruntime(shufflenet, activation, tmp_path):
    """onnxruntime's quantize_static (QDQ, per-tensor int8 weights) of the exported ShuffleNet, cut after the
    channel shuffle of the last block (stage4.3: all 16 shuffles and 13 channel splits, before conv5 and the
    ReduceMean head): given onnxruntime's quantized input, every output integer equals onnxruntime's (0
    mismatches)."""
    import onnx
    import onnx.utils
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    path, _, _ = shufflenet
    rng = np.random.default_rng(0)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter([{"x": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)}])

        def get_next(self):
            return next(self.feeds, None)

    qdq, pre = tmp_path / "qdq.onnx", tmp_path / "pre.onnx"
    quant_pre_process(str(path), str(pre), skip_symbolic_shape=True)   # onnxruntime's recommended preparation
    quantize_static(str(pre), str(qdq), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=getattr(QuantType, activation), weight_type=QuantType.QInt8)
    model = onnx.load(str(qdq))
    cut_at = next(n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"
                  and n.input[0].startswith("/stage4/stage4.3/Reshape_1_output_0"))
    cut = tmp_path / "cut.onnx"
    onnx.utils.extract_model(str(qdq), str(cut), ["x"], [cut_at])
    graph = load_onnx(cut)
    assert sum(n.kind == "Transpose" for n in graph.nodes) == 16
    x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    # the engine gets onnxruntime's own input integers (its QuantizeLinear output), so that only the network is
    # compared, not the float -> int quantization of the input
    sub = onnx.load(str(cut))
    x_q = next(n.output[0] for n in sub.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "x")
    elem = onnx.TensorProto.UINT8 if activation == "QUInt8" else onnx.TensorProto.INT8
    sub.graph.output.append(onnx.helper.make_tensor_value_info(x_q, elem, None))
    sess = ort.InferenceSession(sub.SerializeToString(), providers=["CPUExecutionProvider"])
    want, x_codes = sess.run(None, {"x": x})
    out = graph.tensors[graph.outputs[0]]
    got = execute(graph, {graph.inputs[0]: _nhwc(x_codes)})[graph.outputs[0]]
    scale, zero = float(out.quant.scale[0]), int(out.quant.zero_point[0])
    want_codes = np.rint(want / scale).astype(np.int64) + zero
    np.testing.assert_array_equal(_as_onnx(got).astype(np.int64), want_codes)


def test_reshape_that_moves_the_batch_axis_is_refused_by_node_name(tmp_path):
    node = helper.make_node("Reshape", ["x", "s"], ["y"], name="mix_batch")
    model = _model([node], (2, 6), ["y"], [_ints("s", [4, 3])])
    with pytest.raises(UnsupportedError, match=r"mix_batch.*moves the batch axis"):
        _import(model, tmp_path)
