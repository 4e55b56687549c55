"""Pooling ``ceil_mode`` and ``count_include_pad``: shapes and float reference against PyTorch, the integer engine
against onnxruntime's QLinearAveragePool / QLinearGlobalAveragePool ([ref:ORT], 0 mismatches) and against a
closed form written here (TFLite-style raw-sum average with padding counted), ONNX import of torch-exported
models (googlenet's MaxPool ceil_mode=1, inception's AveragePool count_include_pad=1) in float and after
``onnxruntime.quantization.quantize_static`` (QDQ / QOperator, uint8 / int8, per-channel on / off), the TFLite
exporter's refusal and the workload-YAML round trip."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from accelsim.errors import UnsupportedError
from accelsim.execute import execute
from accelsim.graph import ops as O
from accelsim.graph.builder import GraphBuilder
from accelsim.graph.ops.pool import pool2d, pool_shape, pooled_size
from accelsim.quant.params import QuantParams, quantize

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from accelsim.graph.importers.onnx import import_model, load_onnx  # noqa: E402

_NP = {"uint8": np.uint8, "int8": np.int8}


def _windows_by_enumeration(size: int, k: int, s: int, p0: int, p1: int, ceil: bool) -> int:
    """Count the windows by walking their starts: floor keeps windows that end inside the padded input; ceil also
    keeps a last partial window when it covers elements the full windows missed and starts inside the input or
    the leading padding."""
    count, start = 0, 0
    while True:
        if start + k <= size + p0 + p1:
            count += 1
        elif ceil and start - s + k < size + p0 + p1 and start < size + p0:
            count += 1
            break
        else:
            break
        start += s
    return count


@pytest.mark.parametrize("ceil", [False, True])
def test_pooled_size_matches_window_enumeration(ceil):
    for size in range(1, 14):
        for k in range(1, 6):
            for s in range(1, 4):
                for p0 in range(0, k // 2 + 1):
                    for p1 in range(0, k // 2 + 1):
                        if size + p0 + p1 < k:
                            continue
                        assert pooled_size(size, k, s, p0, p1, ceil) == \
                            _windows_by_enumeration(size, k, s, p0, p1, ceil), (size, k, s, p0, p1)


def test_float_reference_matches_torch():
    """Shape and values of the float reference equal torch's max_pool2d / avg_pool2d for random geometries."""
    rng = np.random.default_rng(0)
    checked = 0
    while checked < 150:
        h, w = (int(v) for v in rng.integers(3, 12, 2))
        k = tuple(int(v) for v in rng.integers(1, 5, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        p = (int(rng.integers(0, k[0] // 2 + 1)), int(rng.integers(0, k[1] // 2 + 1)))
        ceil, cip = bool(rng.integers(2)), bool(rng.integers(2))
        x = rng.standard_normal((1, h, w, 3))
        t = torch.tensor(x.transpose(0, 3, 1, 2))
        pads = (p[0], p[0], p[1], p[1])
        ref = torch.nn.functional.avg_pool2d(t, k, s, p, ceil_mode=ceil, count_include_pad=cip)
        got = pool2d(x, O.AvgPool(k, s, pads, ceil_mode=ceil, count_include_pad=cip))
        np.testing.assert_allclose(got, ref.numpy().transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-12)
        ref = torch.nn.functional.max_pool2d(t, k, s, p, ceil_mode=ceil)
        got = pool2d(x, O.MaxPool(k, s, pads, ceil_mode=ceil))
        np.testing.assert_array_equal(got, ref.numpy().transpose(0, 2, 3, 1))
        checked += 1


def test_count_include_pad_on_max_pool_is_refused():
    with pytest.raises(ValueError, match="count_include_pad"):
        pool_shape(O.MaxPool((3, 3), (1, 1), (1, 1, 1, 1), count_include_pad=True), (1, 5, 5, 2))


# ------------------------------------------------------------------------------ engine: fixed point, closed form
def _tflite_style_average(q: np.ndarray, k, s, pads, ceil, cip, zero) -> np.ndarray:
    """Closed form: per window, the raw sum of the valid stored values plus ``Z`` per counted padding tap, divided
    by the divisor (valid taps; with cip the taps inside the padded input) with round half away from zero."""
    n, h, w, c = q.shape
    top, bottom, left, right = pads
    oh = _windows_by_enumeration(h, k[0], s[0], top, bottom, ceil)
    ow = _windows_by_enumeration(w, k[1], s[1], left, right, ceil)
    out = np.zeros((n, oh, ow, c), np.int64)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * s[0] - top, j * s[1] - left
            rows = [r for r in range(r0, r0 + k[0]) if (-top <= r < h + bottom) or not cip]
            cols = [cc for cc in range(c0, c0 + k[1]) if (-left <= cc < w + right) or not cip]
            total = np.zeros((n, c), np.int64)
            divisor = 0
            for r in rows:
                for cc in cols:
                    inside = 0 <= r < h and 0 <= cc < w
                    if inside:
                        total += q[:, r, cc, :].astype(np.int64)
                        divisor += 1
                    elif cip:
                        total += zero
                        divisor += 1
            out[:, i, j, :] = np.sign(total) * ((np.abs(total) + divisor // 2) // divisor)
    return out


@pytest.mark.parametrize("ceil, cip", [(True, False), (False, True), (True, True)])
def test_fixed_point_average_with_modes_equals_closed_form(ceil, cip):
    rng = np.random.default_rng(3)
    qp = QuantParams.per_tensor(0.05, -9)
    for k, s, pads in [((3, 3), (2, 2), (1, 1, 1, 1)), ((2, 3), (2, 2), (0, 1, 1, 0)), ((3, 3), (1, 1), (1, 1, 1, 1))]:
        b = GraphBuilder("p")
        x = b.input("x", (2, 10, 9, 5), "int8", qp)
        y = b.op(O.AvgPool(k, s, pads, ceil_mode=ceil, count_include_pad=cip), [x], "int8", qp)
        graph = b.build([y])
        q = np.concatenate([rng.integers(-128, 128, (1, 10, 9, 5)), np.full((1, 10, 9, 5), 127)]).astype(np.int8)
        got = execute(graph, {"x": q})[y].astype(np.int64)
        np.testing.assert_array_equal(got, _tflite_style_average(q, k, s, pads, ceil, cip, -9))


# ---------------------------------------------------------------------- engine: onnxruntime QLinear pools, exact
def _qlinear_pool_model(dtype: str, shape, attrs: dict, q: tuple, op: str) -> onnx.ModelProto:
    sx, zx, sy, zy = q
    npd = _NP[dtype]
    inits = [numpy_helper.from_array(np.array(sx, np.float32), "xs"), numpy_helper.from_array(np.array(zx, npd), "xz"),
             numpy_helper.from_array(np.array(sy, np.float32), "ys"), numpy_helper.from_array(np.array(zy, npd), "yz")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"], name="quant"),
             helper.make_node(op, ["xq", "xs", "xz", "ys", "yz"], ["yq"], name="pool", domain="com.microsoft",
                              **attrs),
             helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"], name="dequant")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10
    return model


def _ort_vs_engine(model, dtype: str, xq: np.ndarray, q: tuple) -> tuple[int, int]:
    """(mismatches, outputs) of accelsim's engine against onnxruntime on the integer input ``xq`` (NCHW)."""
    sx, zx, sy, zy = q
    xf = ((xq.astype(np.float32) - np.float32(zx)) * np.float32(sx)).astype(np.float32)  # quantizes back to xq
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    ref = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(
        None, {"x": xf})[0]
    ref_q = (np.rint(ref / np.float32(sy)) + zy).astype(np.int64)
    graph = import_model(model, "pool.onnx", batch_size=xq.shape[0])
    assert {n.requant for n in graph.nodes} == {"float32"}
    ours = execute(graph, {"x": np.ascontiguousarray(xq.transpose(0, 2, 3, 1))})[graph.outputs[0]]
    ours = ours.astype(np.int64).transpose(0, 3, 1, 2)
    assert ours.shape == ref_q.shape
    return int((ours != ref_q).sum()), ours.size


def _inputs(dtype: str, shape, seed: int) -> list[np.ndarray]:
    """A random input and one that sweeps the whole type range (every code, repeated)."""
    info = np.iinfo(_NP[dtype])
    rng = np.random.default_rng(seed)
    sweep = np.resize(np.arange(info.min, info.max + 1), int(np.prod(shape))).reshape(shape)
    return [rng.integers(info.min, info.max + 1, shape).astype(_NP[dtype]), sweep.astype(_NP[dtype])]


_QPARAMS = {"uint8": [(0.02, 128, 0.021, 120), (0.1, 0, 0.1, 0), (0.0371, 7, 0.013, 4)],
            "int8": [(0.02, 3, 0.021, -5), (0.1, 0, 0.1, 0), (0.0371, -7, 0.013, 4)]}
_GEOMETRIES = [dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=0, count_include_pad=0),
               dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1),
               dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], ceil_mode=0, count_include_pad=1),
               dict(kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=1, count_include_pad=0),
               dict(kernel_shape=[5, 5], strides=[3, 3], pads=[2, 2, 2, 2], ceil_mode=1, count_include_pad=0),
               dict(kernel_shape=[2, 3], strides=[1, 2], pads=[0, 1, 1, 0], ceil_mode=1, count_include_pad=1)]


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
def test_qlinear_average_pool_equals_onnxruntime(dtype):
    """QLinearAveragePool: float32 dequantized window sums in onnxruntime's order, 0 mismatches."""
    total = 0
    for attrs in _GEOMETRIES:
        for q in _QPARAMS[dtype]:
            for xq in _inputs(dtype, (2, 8, 13, 11), 5):
                bad, n = _ort_vs_engine(_qlinear_pool_model(dtype, xq.shape, attrs, q, "QLinearAveragePool"),
                                        dtype, xq, q)
                assert bad == 0, (attrs, q)
                total += n
    assert total > 30_000


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
def test_qlinear_global_average_pool_and_whole_image_window_equal_onnxruntime(dtype):
    """QLinearGlobalAveragePool and a QLinearAveragePool whose window is the whole image (onnxruntime's fallback
    to its integer global average): 0 mismatches."""
    for q in _QPARAMS[dtype]:
        for xq in _inputs(dtype, (3, 21, 7, 7), 9):
            assert _ort_vs_engine(_qlinear_pool_model(dtype, xq.shape, {"channels_last": 0}, q,
                                                      "QLinearGlobalAveragePool"), dtype, xq, q)[0] == 0
            attrs = dict(kernel_shape=[7, 7], strides=[1, 1], pads=[0, 0, 0, 0])
            assert _ort_vs_engine(_qlinear_pool_model(dtype, xq.shape, attrs, q, "QLinearAveragePool"),
                                  dtype, xq, q)[0] == 0


# ---------------------------------------------------------------------------------- torch models through ONNX
class _PoolNet(torch.nn.Module):
    """googlenet's MaxPool(3, 2, ceil_mode=True), inception's AvgPool(3, 1, 1, count_include_pad=True), a concat
    of differently quantized branches, and ceil-mode pools with padding."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.mp = torch.nn.MaxPool2d(3, 2, ceil_mode=True)
        self.c2 = torch.nn.Conv2d(8, 8, 1)
        self.ap = torch.nn.AvgPool2d(3, 1, padding=1, count_include_pad=True)
        self.c3 = torch.nn.Conv2d(16, 8, 1)
        self.ap2 = torch.nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=True)
        self.mp2 = torch.nn.MaxPool2d(2, 2, padding=1, ceil_mode=True)

    def forward(self, x):
        y = self.mp(torch.relu(self.c1(x)))
        y = torch.cat([y, self.ap(torch.relu(self.c2(y)))], 1)
        return self.mp2(self.ap2(torch.relu(self.c3(y))))


class _Reader:
    def __init__(self, batches):
        self._it = iter([{"input": b[None]} for b in batches])

    def get_next(self):
        return next(self._it, None)


@pytest.fixture(scope="module")
def pool_net_onnx(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("poolnet") / "poolnet.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_PoolNet().eval(), torch.randn(1, 3, 15, 15), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["out"],
                          dynamic_axes={"input": {0: "n"}, "out": {0: "n"}})
    return path


def test_torch_pool_modes_float_import_matches_onnxruntime(pool_net_onnx):
    from accelsim.graph.float_exec import run_float

    x = np.random.default_rng(1).standard_normal((4, 3, 15, 15)).astype(np.float32)
    ref = ort.InferenceSession(str(pool_net_onnx), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    graph = load_onnx(pool_net_onnx, batch_size=4)
    pools = [n.op for n in graph.nodes if isinstance(n.op, (O.AvgPool, O.MaxPool))]
    assert any(p.ceil_mode for p in pools) and any(getattr(p, "count_include_pad", False) for p in pools)
    out = run_float(graph, {"input": x.transpose(0, 2, 3, 1)})[graph.outputs[0]]
    assert out.shape == ref.transpose(0, 2, 3, 1).shape == (4, 3, 3, 8)
    np.testing.assert_allclose(out, ref.transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
@pytest.mark.parametrize("act", ["QUInt8", "QInt8"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_torch_pool_modes_quantize_static_equal_onnxruntime(tmp_path, pool_net_onnx, fmt, act, per_channel):
    """onnxruntime.quantization.quantize_static of the pool model: every output integer equals onnxruntime's
    (default optimization level, which fuses QDQ pools into QLinearAveragePool)."""
    from onnxruntime import quantization as Q
    from onnxruntime.quantization.shape_inference import quant_pre_process

    x = np.random.default_rng(2).standard_normal((8, 3, 15, 15)).astype(np.float32)
    pre, out = tmp_path / "pre.onnx", tmp_path / "q.onnx"
    quant_pre_process(str(pool_net_onnx), str(pre))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Q.quantize_static(str(pre), str(out), _Reader(x), quant_format=getattr(Q.QuantFormat, fmt),
                          per_channel=per_channel, activation_type=getattr(Q.QuantType, act),
                          weight_type=Q.QuantType.QInt8)
    if fmt == "QOperator":
        kinds = {n.op_type for n in onnx.load(str(out)).graph.node}
        assert {"QLinearAveragePool", "QLinearConcat", "MaxPool"} <= kinds
    graph = load_onnx(out, batch_size=8)
    t = graph.tensors["input"]
    q = quantize(x.transpose(0, 2, 3, 1), t.quant, t.dtype, rounding="half_to_even")
    ours = execute(graph, {"input": q})[graph.outputs[0]].astype(np.int64)
    o = graph.tensors[graph.outputs[0]]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    ref = ort.InferenceSession(str(out), opts, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    ref_q = (np.rint(ref / np.float32(o.quant.scale[0])) + int(o.quant.zero_point[0])).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(ours, ref_q)


# ------------------------------------------------------------------------------------- exporters and YAML
def _quant_pool_graph(op, requant="fixed_point", out_quant=None):
    qp = QuantParams.per_tensor(0.05, 0)
    b = GraphBuilder("p")
    x = b.input("x", (1, 8, 8, 4), "int8", qp)
    y = b.op(op, [x], "int8", out_quant or qp, name="pool0", requant=requant)
    return b.build([y])


def test_tflite_exporter_refuses_modes_it_cannot_express():
    from accelsim.graph.exporters.tflite import export_tflite

    with pytest.raises(UnsupportedError, match="pool0.*ceil_mode"):
        export_tflite(_quant_pool_graph(O.MaxPool((3, 3), (2, 2), "VALID", ceil_mode=True)))
    with pytest.raises(UnsupportedError, match="pool0.*count_include_pad"):
        export_tflite(_quant_pool_graph(O.AvgPool((3, 3), (1, 1), "SAME", count_include_pad=True)))
    export_tflite(_quant_pool_graph(O.MaxPool((2, 2), (2, 2), "VALID", ceil_mode=True)))  # same size: allowed


def test_onnx_export_carries_the_modes_and_runs_in_onnxruntime():
    from accelsim.graph.exporters.onnx_qlinear import export_onnx_qlinear

    op = O.AvgPool((3, 3), (2, 2), (1, 1, 1, 1), ceil_mode=True, count_include_pad=True)
    graph = _quant_pool_graph(op, "float32", QuantParams.per_tensor(0.031, 3))
    model = export_onnx_qlinear(graph)
    node = next(n for n in model.graph.node if n.op_type == "QLinearAveragePool")
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    assert attrs["ceil_mode"] == 1 and attrs["count_include_pad"] == 1
    xq = np.random.default_rng(4).integers(-128, 128, (1, 8, 8, 4)).astype(np.int8)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {sess.get_inputs()[0].name: xq})[0]      # the export keeps NHWC graph I/O
    ours = execute(graph, {"x": xq})[graph.outputs[0]]
    assert ref.dtype == np.int8 and ours.shape == (1, 5, 5, 4) == ref.shape
    np.testing.assert_array_equal(ours, ref)


def test_yaml_round_trip_keeps_the_modes(tmp_path):
    from accelsim.workloads import load_workload

    text = """name: pools
input_shape: [1, 9, 9, 4]
layers:
  - {name: mp, op: maxpool, kernel: 3, stride: 2, padding: valid, ceil_mode: true}
  - {name: ap, op: avgpool, kernel: 3, stride: 1, padding: same, count_include_pad: true}
"""
    path = tmp_path / "pools.yaml"
    path.write_text(text)
    graph = load_workload(path)
    mp, ap = (n.op for n in graph.nodes)
    assert mp.ceil_mode and graph.tensors[graph.nodes[0].outputs[0]].shape == (1, 4, 4, 4)
    assert ap.count_include_pad and not ap.ceil_mode
    from accelsim.graph.ops import op_def_of

    assert op_def_of(mp).to_yaml(graph, graph.nodes[0])["ceil_mode"] is True
    assert op_def_of(ap).to_yaml(graph, graph.nodes[1])["count_include_pad"] is True


def test_ptq_of_the_pool_model_executes_close_to_float(pool_net_onnx):
    """PTQ of the imported float model (pools ``inherit``): the integer engine's dequantized output stays within a
    few output LSB of the float reference (PTQ error, not bit-exactness)."""
    from accelsim.graph.float_exec import run_float
    from accelsim.graph.ptq import PTQSettings, quantize_graph

    graph = load_onnx(pool_net_onnx, batch_size=2)
    x = np.random.default_rng(3).standard_normal((2, 15, 15, 3)).astype(np.float32)
    qgraph = quantize_graph(graph, {"input": x}, PTQSettings())
    assert any(getattr(n.op, "count_include_pad", False) for n in qgraph.nodes)
    t, out_t = qgraph.tensors["input"], qgraph.tensors[qgraph.outputs[0]]
    q = execute(qgraph, {"input": quantize(x, t.quant, t.dtype)})[qgraph.outputs[0]]
    real = (q.astype(np.float32) - out_t.quant.zero_point[0]) * out_t.quant.scale[0]
    ref = run_float(graph, {"input": x})[graph.outputs[0]]
    assert np.abs(real - ref).max() <= 6 * out_t.quant.scale[0]
