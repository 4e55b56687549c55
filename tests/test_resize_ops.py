"""Resize (nearest, bilinear): the engine against LiteRT's reference kernels (RESIZE_NEAREST_NEIGHBOR,
RESIZE_BILINEAR; int8, int16 and uint8) and against onnxruntime's Resize on uint8 / int8 (every
coordinate_transformation_mode and nearest_mode), 0 mismatches over random and full-range inputs; the float
reference and ONNX import against onnxruntime float; the cost descriptor's closed form; the YAML round trip."""
from __future__ import annotations

import numpy as np
import pytest

from accelsim.execute import execute
from accelsim.graph import ops as O
from accelsim.graph.builder import GraphBuilder
from accelsim.graph.ops.resize import Resize
from accelsim.quant.params import QuantParams

from tflite_builder import S, TFLiteModel, run_reference  # noqa: E402

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from accelsim.graph.importers.onnx import import_model  # noqa: E402

_NP = {"uint8": np.uint8, "int8": np.int8, "int16": np.int16}


def _inputs(dtype: str, shape, seed: int) -> list[np.ndarray]:
    """A random input and one sweeping the type's range (every int8/uint8 code; int16 in steps)."""
    info = np.iinfo(_NP[dtype])
    rng = np.random.default_rng(seed)
    step = 1 if info.bits == 8 else 257
    sweep = np.resize(np.arange(info.min, info.max + 1, step), int(np.prod(shape))).reshape(shape)
    return [rng.integers(info.min, info.max + 1, shape).astype(_NP[dtype]), sweep.astype(_NP[dtype])]


def _engine(x: np.ndarray, dtype: str, op: Resize, requant: str) -> np.ndarray:
    b = GraphBuilder("r")
    qp = QuantParams.per_tensor(0.05, 0 if dtype == "int16" else 3)
    xi = b.input("x", x.shape, dtype, qp)
    y = b.op(op, [xi], dtype, qp, requant=requant)
    return execute(b.build([y]), {"x": x})[y]


# ------------------------------------------------------------------------------------------ LiteRT (TFLite)
_TFLITE_CASES = [  # (in H, W), (out H, W), align_corners, half_pixel_centers
    ((5, 7), (10, 14), False, False), ((5, 7), (10, 14), False, True), ((5, 7), (10, 14), True, False),
    ((6, 9), (4, 5), False, True), ((6, 9), (4, 5), True, False), ((4, 4), (7, 11), False, True),
    ((3, 5), (1, 1), False, False), ((8, 8), (8, 8), False, True),
]


def _litert(builtin: str, x: np.ndarray, dtype: str, out_hw, align: bool, half: bool) -> np.ndarray:
    m = TFLiteModel()
    zero = 0 if dtype == "int16" else 3
    xi = m.tensor("x", x.shape, dtype, 0.05, zero)
    size = m.tensor("size", [2], "int32", data=np.array(out_hw, np.int32))
    yi = m.tensor("y", (x.shape[0], *out_hw, x.shape[3]), dtype, 0.05, zero)
    if builtin == "RESIZE_BILINEAR":
        o = S.ResizeBilinearOptionsT()
        options = "ResizeBilinearOptions"
    else:
        o = S.ResizeNearestNeighborOptionsT()
        options = "ResizeNearestNeighborOptions"
    o.alignCorners, o.halfPixelCenters = align, half
    m.op(builtin, [xi, size], [yi], options, o, 4 if dtype == "int16" else 3)
    return run_reference(m.finish([xi], [yi]), [x])[0]


def _tflite_op(mode: str, out_hw, align: bool, half: bool) -> Resize:
    if mode == "nearest":
        coord = "align_corners" if align else "tf_half_pixel_for_nn" if half else "asymmetric"
        return Resize(out_hw, "nearest", coord, "round_prefer_ceil" if align else "floor")
    return Resize(out_hw, "bilinear", "align_corners" if align else "half_pixel" if half else "asymmetric")


@pytest.mark.parametrize("dtype", ["int8", "int16", "uint8"])
def test_resize_bilinear_equals_litert(dtype):
    """reference_ops::ResizeBilinearInteger (int8, int16: 10-bit fixed-point coordinates and weights) and
    reference_ops::ResizeBilinear (uint8: float32 weights, + 0.5, truncation), 0 mismatches."""
    compared = 0
    for in_hw, out_hw, align, half in _TFLITE_CASES:
        for x in _inputs(dtype, (2, *in_hw, 5), 1):
            ref = _litert("RESIZE_BILINEAR", x, dtype, out_hw, align, half)
            got = _engine(x, dtype, _tflite_op("bilinear", out_hw, align, half), "fixed_point")
            np.testing.assert_array_equal(got, ref, err_msg=str((in_hw, out_hw, align, half)))
            compared += got.size
    assert compared > 5000


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16"])
def test_resize_nearest_equals_litert(dtype):
    for in_hw, out_hw, align, half in _TFLITE_CASES:
        for x in _inputs(dtype, (2, *in_hw, 3), 2):
            ref = _litert("RESIZE_NEAREST_NEIGHBOR", x, dtype, out_hw, align, half)
            got = _engine(x, dtype, _tflite_op("nearest", out_hw, align, half), "fixed_point")
            np.testing.assert_array_equal(got, ref, err_msg=str((in_hw, out_hw, align, half)))


def test_tflite_bilinear_rounds_half_away_from_zero():
    """Closed form: 2× upsampling with asymmetric coordinates puts every odd output column halfway between two
    inputs (weights 512 / 512 of 1024): (−3 + −2)/2 = −2.5 → −3 and (2 + 3)/2 = 2.5 → 3."""
    x = np.array([[-3, -2], [2, 3]], np.int8).reshape(1, 2, 2, 1).transpose(0, 1, 2, 3)
    got = _engine(x, "int8", Resize((2, 4), "bilinear", "asymmetric"), "fixed_point")
    assert got[0, :, :, 0].tolist() == [[-3, -3, -2, -2], [2, 3, 3, 3]]


# ------------------------------------------------------------------------------------------ onnxruntime
def _ort_model(shape, mode, coord, nearest, scales, sizes, dtype):
    inits = [numpy_helper.from_array(np.zeros(0, np.float32), "roi")]
    inputs = ["xq", "roi"]
    if scales is not None:
        inits.append(numpy_helper.from_array(np.array(scales, np.float32), "scales"))
        inputs.append("scales")
    else:
        inits.append(numpy_helper.from_array(np.array(sizes, np.int64), "sizes"))
        inputs += ["", "sizes"]
    nodes = [helper.make_node("Resize", inputs, ["y"], name="rs", mode=mode, coordinate_transformation_mode=coord,
                              nearest_mode=nearest)]
    elem = TensorProto.UINT8 if dtype == "uint8" else TensorProto.INT8
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("xq", elem, list(shape))],
                              [helper.make_tensor_value_info("y", elem, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    return model


_ORT_GEOMETRIES = [((1, 3, 5, 7), [1, 1, 2, 2], None), ((2, 4, 6, 5), None, [2, 4, 9, 13]),
                   ((1, 2, 8, 8), [1, 1, 0.5, 0.75], None), ((1, 2, 7, 9), None, [1, 2, 3, 4]),
                   ((1, 3, 4, 6), [1, 1, 1.7, 2.3], None)]
_COORDS = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn"]


def _ort_vs_engine(model, x_nchw: np.ndarray, dtype: str) -> None:
    """onnxruntime's integer Resize against the engine on the IR of the same graph (NHWC, requant float32)."""
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"xq": x_nchw})[0]
    node = next(n for n in model.graph.node if n.op_type == "Resize")
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    n, c, h, w = x_nchw.shape
    if "scales" in inits:
        s = inits["scales"]
        size, given = (int(np.float32(s[2]) * np.float32(h)), int(np.float32(s[3]) * np.float32(w))), (s[2], s[3])
    else:
        size, given = tuple(int(v) for v in inits["sizes"][2:]), None
    op = Resize(size, "nearest" if attrs["mode"] == b"nearest" else "bilinear",
                attrs["coordinate_transformation_mode"].decode(), attrs["nearest_mode"].decode(),
                None if given is None else (float(given[0]), float(given[1])))
    got = _engine(np.ascontiguousarray(x_nchw.transpose(0, 2, 3, 1)), dtype, op, "float32")
    np.testing.assert_array_equal(got, ref.transpose(0, 2, 3, 1), err_msg=str((op, x_nchw.shape)))


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
@pytest.mark.parametrize("coord", _COORDS)
def test_resize_nearest_equals_onnxruntime(dtype, coord):
    for nearest in ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"):
        for shape, scales, sizes in _ORT_GEOMETRIES:
            for x in _inputs(dtype, shape, 3):
                _ort_vs_engine(_ort_model(shape, "nearest", coord, nearest, scales, sizes, dtype), x, dtype)


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
@pytest.mark.parametrize("coord", _COORDS)
def test_resize_bilinear_equals_onnxruntime(dtype, coord):
    """onnxruntime's 8-bit bilinear: float32 weights, truncation toward zero, 0 mismatches."""
    for shape, scales, sizes in _ORT_GEOMETRIES:
        for x in _inputs(dtype, shape, 4):
            _ort_vs_engine(_ort_model(shape, "linear", coord, "round_prefer_floor", scales, sizes, dtype), x, dtype)


def _float_model(shape, mode, coord, nearest, scales, sizes):
    inits = [numpy_helper.from_array(np.zeros(0, np.float32), "roi")]
    inputs = ["x", "roi"]
    if scales is not None:
        inits.append(numpy_helper.from_array(np.array(scales, np.float32), "scales"))
        inputs.append("scales")
    else:
        inits.append(numpy_helper.from_array(np.array(sizes, np.int64), "sizes"))
        inputs += ["", "sizes"]
    node = helper.make_node("Resize", inputs, ["y"], name="rs", mode=mode, coordinate_transformation_mode=coord,
                            nearest_mode=nearest)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    return model


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_float_import_equals_onnxruntime(mode):
    from accelsim.graph.float_exec import run_float

    rng = np.random.default_rng(5)
    for coord in _COORDS:
        for shape, scales, sizes in _ORT_GEOMETRIES:
            model = _float_model(shape, mode, coord, "round_prefer_floor", scales, sizes)
            x = rng.standard_normal(shape).astype(np.float32)
            ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
                None, {"x": x})[0]
            graph = import_model(model, "resize.onnx", batch_size=shape[0])
            assert isinstance(graph.nodes[0].op, Resize)
            out = run_float(graph, {"x": x.transpose(0, 2, 3, 1)})[graph.outputs[0]]
            np.testing.assert_allclose(out, ref.transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attr, value, word", [("mode", "cubic", "cubic"),
                                               ("coordinate_transformation_mode", "tf_crop_and_resize",
                                                "tf_crop_and_resize"),
                                               ("antialias", 1, "antialias")])
def test_unsupported_resize_attributes_are_refused_by_name(attr, value, word):
    from accelsim.errors import UnsupportedError

    model = _float_model((1, 2, 4, 4), "linear", "half_pixel", "floor", [1, 1, 2, 2], None)
    node = model.graph.node[0]
    for a in list(node.attribute):
        if a.name == attr:
            node.attribute.remove(a)
    node.attribute.append(helper.make_attribute(attr, value))
    with pytest.raises(UnsupportedError, match=f"rs.*{word}"):
        import_model(model, "resize.onnx")


# ------------------------------------------------------------------------------------------ cost and YAML
def test_resize_cost_closed_form():
    """SIMD kernel: per output vector of ``vector_bits / 8`` int8 elements, 1 load and 0 ALU for nearest; 4 loads
    and 6 ALU (3 lerps of a multiply and an add) for bilinear; one store each; no rescale."""
    from accelsim.hw.layer import layer_shape
    from accelsim.hw.simd import alu_counts

    for mode, loads, alu in (("nearest", 1, 0), ("bilinear", 4, 6)):
        b = GraphBuilder("r")
        x = b.input("x", (1, 8, 8, 20), "int8", QuantParams.per_tensor(0.1, 0))
        y = b.op(Resize((16, 15), mode, "half_pixel", "floor"), [x], "int8", QuantParams.per_tensor(0.1, 0))
        graph = b.build([y])
        layer = layer_shape(graph, graph.nodes[0])
        vectors = -(-(16 * 15 * 20) // (1024 // 8))          # 38 vectors of 128 int8 lanes
        counts, tiles = alu_counts(layer, 1024)
        assert (counts.loads, counts.alu, counts.stores, tiles) == (loads * vectors, alu * vectors, vectors, 16)
        assert layer.cost.requant_per_output(layer) == 0 and layer.cost.preserves_quant
        assert layer.cost.alu_ops_per_output(layer) == max(alu, 1)      # scale-unit lanes: a move for nearest


def test_yaml_round_trip(tmp_path):
    from accelsim.workloads import load_workload

    path = tmp_path / "resize.yaml"
    path.write_text("""name: up
input_shape: [1, 5, 7, 4]
layers:
  - {name: up, op: resize, size: [10, 14], mode: bilinear, coordinate_mode: half_pixel}
  - {name: nn, op: resize, size: [20, 28], mode: nearest, coordinate_mode: asymmetric, nearest_mode: floor}
""")
    graph = load_workload(path)
    up, nn = (n.op for n in graph.nodes)
    assert up == Resize((10, 14), "bilinear", "half_pixel", "floor")
    assert nn == Resize((20, 28), "nearest", "asymmetric", "floor")
    assert graph.tensors[graph.outputs[0]].shape == (1, 20, 28, 4)
    from accelsim.graph.ops import op_def_of

    assert op_def_of(up).to_yaml(graph, graph.nodes[0])["size"] == [10, 14]
    assert isinstance(O.Resize, type)


# ------------------------------------------------------------------------- quantize_static of a torch model
class _UpNet(torch.nn.Module):
    """Two upsampling branches as torch exports them: interpolate(nearest) (asymmetric, floor) and
    interpolate(bilinear, align_corners=False) (pytorch_half_pixel), concatenated."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.c3 = torch.nn.Conv2d(16, 4, 1)

    def forward(self, x):
        y = torch.relu(self.c1(x))
        a = torch.nn.functional.interpolate(y, scale_factor=2, mode="nearest")
        b = torch.nn.functional.interpolate(torch.relu(self.c2(y)), scale_factor=2, mode="bilinear",
                                            align_corners=False)
        return self.c3(torch.cat([a, b], 1))


class _Reader:
    def __init__(self, batches):
        self._it = iter([{"input": b[None]} for b in batches])

    def get_next(self):
        return next(self._it, None)


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
@pytest.mark.parametrize("act", ["QUInt8", "QInt8"])
def test_torch_upsampling_quantize_static_equals_onnxruntime(tmp_path, fmt, act):
    """QOperator runs Resize on the integers; QDQ keeps a linear Resize in float between DQ and Q (imported as
    ``dequantized``): every output integer equals onnxruntime's at its default optimization level."""
    import warnings

    from onnxruntime import quantization as Q
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from accelsim.graph.importers.onnx import load_onnx
    from accelsim.quant.params import quantize

    torch.manual_seed(0)
    src, pre, out = tmp_path / "up.onnx", tmp_path / "pre.onnx", tmp_path / "q.onnx"
    x = np.random.default_rng(1).standard_normal((8, 3, 9, 11)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_UpNet().eval(), torch.randn(1, 3, 9, 11), str(src), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["out"],
                          dynamic_axes={"input": {0: "n"}, "out": {0: "n"}})
        quant_pre_process(str(src), str(pre))
        Q.quantize_static(str(pre), str(out), _Reader(x), quant_format=getattr(Q.QuantFormat, fmt),
                          activation_type=getattr(Q.QuantType, act), weight_type=Q.QuantType.QInt8)
    graph = load_onnx(out, batch_size=8)
    resizes = [n.op for n in graph.nodes if isinstance(n.op, Resize)]
    assert sorted(r.mode for r in resizes) == ["bilinear", "nearest"]
    assert any(r.dequantized for r in resizes) == (fmt == "QDQ")
    t = graph.tensors["input"]
    q = quantize(x.transpose(0, 2, 3, 1), t.quant, t.dtype, rounding="half_to_even")
    ours = execute(graph, {"input": q})[graph.outputs[0]].astype(np.int64)
    o = graph.tensors[graph.outputs[0]]
    ref = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    ref_q = (np.rint(ref / np.float32(o.quant.scale[0])) + int(o.quant.zero_point[0])).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(ours, ref_q)


# ------------------------------------------------------------------------------------- importers, exporters
@pytest.mark.parametrize("builtin", ["RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"])
def test_tflite_import_and_export_round_trip_equal_litert(builtin):
    """A LiteRT-built RESIZE_* model imports to Resize and executes equal to LiteRT; export_tflite of that graph
    runs in LiteRT to the same integers and re-imports to the same op."""
    from accelsim.graph.exporters.tflite import export_tflite
    from accelsim.graph.importers.tflite import load_tflite

    for in_hw, out_hw, align, half in _TFLITE_CASES:
        m = TFLiteModel()
        xi = m.tensor("x", (1, *in_hw, 6), "int8", 0.05, 3)
        size = m.tensor("size", [2], "int32", data=np.array(out_hw, np.int32))
        yi = m.tensor("y", (1, *out_hw, 6), "int8", 0.05, 3)
        o = S.ResizeBilinearOptionsT() if builtin == "RESIZE_BILINEAR" else S.ResizeNearestNeighborOptionsT()
        o.alignCorners, o.halfPixelCenters = align, half
        m.op(builtin, [xi, size], [yi], "ResizeBilinearOptions" if builtin == "RESIZE_BILINEAR"
             else "ResizeNearestNeighborOptions", o, 3)
        model = m.finish([xi], [yi])
        x = _inputs("int8", (1, *in_hw, 6), 7)[0]
        ref = run_reference(model, [x])[0]
        graph = load_tflite(model)
        assert isinstance(graph.nodes[0].op, Resize)
        np.testing.assert_array_equal(execute(graph, {graph.inputs[0]: x})[graph.outputs[0]], ref)
        again = export_tflite(graph)
        np.testing.assert_array_equal(run_reference(again, [x])[0], ref)
        assert load_tflite(again).nodes[0].op == graph.nodes[0].op


def test_tflite_export_refuses_mappings_it_cannot_express():
    from accelsim.errors import UnsupportedError
    from accelsim.graph.exporters.tflite import export_tflite

    b = GraphBuilder("r")
    qp = QuantParams.per_tensor(0.05, 3)
    x = b.input("x", (1, 4, 4, 2), "int8", qp)
    y = b.op(Resize((8, 8), "bilinear", "pytorch_half_pixel"), [x], "int8", qp, name="up0")
    with pytest.raises(UnsupportedError, match="up0.*pytorch_half_pixel"):
        export_tflite(b.build([y]))


@pytest.mark.parametrize("op", [Resize((10, 14), "bilinear", "half_pixel"),
                                Resize((7, 9), "bilinear", "align_corners", dequantized=True),
                                Resize((10, 14), "nearest", "asymmetric", "floor"),
                                Resize((9, 11), "nearest", "half_pixel", "round_prefer_floor", (1.9, 1.7))])
def test_onnx_export_runs_in_onnxruntime_to_the_same_integers(op):
    """export_onnx_qlinear writes Resize (or DQ -> Resize -> Q for the dequantized form); onnxruntime without
    graph rewrites (its layout optimizer would move the Resize to NHWC, another kernel) gives the engine's
    integers."""
    from accelsim.graph.exporters.onnx_qlinear import export_onnx_qlinear

    b = GraphBuilder("r")
    qp = QuantParams.per_tensor(0.05, 3)
    x = b.input("x", (2, 5, 7, 4), "uint8", qp)
    y = b.op(op, [x], "uint8", qp, requant="float32")
    graph = b.build([y])
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(export_onnx_qlinear(graph).SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    for xq in _inputs("uint8", (2, 5, 7, 4), 8):
        np.testing.assert_array_equal(execute(graph, {"x": xq})[y], sess.run(None, {"x": xq})[0])


def test_ptq_of_float_graphs_with_resize_and_pool_modes_executes_close_to_float(tmp_path):
    """PTQ (``inherit`` for Resize and the pools) of the torch upsampling model: the integer engine's dequantized
    output stays within a few output LSB of the float reference (a coarse check: PTQ error, not bit-exactness)."""
    import warnings

    from accelsim.graph.float_exec import run_float
    from accelsim.graph.importers.onnx import load_onnx
    from accelsim.graph.ptq import PTQSettings, quantize_graph
    from accelsim.quant.params import quantize

    torch.manual_seed(0)
    path = tmp_path / "up.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_UpNet().eval(), torch.randn(1, 3, 9, 11), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["out"])
    graph = load_onnx(path)
    x = np.random.default_rng(2).standard_normal((1, 9, 11, 3)).astype(np.float32)
    qgraph = quantize_graph(graph, {"input": x}, PTQSettings())
    resizes = [n for n in qgraph.nodes if isinstance(n.op, Resize)]
    assert len(resizes) == 2
    for n in resizes:   # inherit: the output keeps the input's quantization
        assert qgraph.tensors[n.outputs[0]].quant.same_as(qgraph.tensors[n.inputs[0]].quant)
    t = qgraph.tensors["input"]
    out_t = qgraph.tensors[qgraph.outputs[0]]
    q = execute(qgraph, {"input": quantize(x, t.quant, t.dtype)})[qgraph.outputs[0]]
    real = (q.astype(np.float32) - out_t.quant.zero_point[0]) * out_t.quant.scale[0]
    ref = run_float(graph, {"input": x})[graph.outputs[0]]
    assert np.abs(real - ref).max() <= 6 * out_t.quant.scale[0]


@pytest.mark.parametrize("op_type, opset", [("Resize", 10), ("Upsample", 9)])
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_legacy_resize_and_upsample_import_equal_onnxruntime(op_type, opset, mode):
    """Before opset 11 (Resize-10, Upsample-9: inputs X, scales) the mapping is asymmetric and nearest truncates
    when upsampling, rounds up when downsampling; the float import equals onnxruntime."""
    from accelsim.graph.float_exec import run_float

    rng = np.random.default_rng(9)
    for scales in ([1, 1, 2, 2], [1, 1, 1.5, 2.5], [1, 1, 0.5, 0.5], [1, 1, 0.6, 0.75]):
        if op_type == "Upsample" and scales[2] < 1:
            continue  # Upsample only enlarges
        node = helper.make_node(op_type, ["x", "scales"], ["y"], mode=mode, name="r")
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 8])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                                  [numpy_helper.from_array(np.array(scales, np.float32), "scales")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 7
        x = rng.standard_normal((1, 3, 6, 8)).astype(np.float32)
        ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, {"x": x})[0]
        imported = import_model(model, "legacy.onnx")
        out = run_float(imported, {"x": x.transpose(0, 2, 3, 1)})[imported.outputs[0]]
        np.testing.assert_allclose(out, ref.transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-6)
