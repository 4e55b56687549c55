"""onnxruntime's own ``quantize_static`` on torchvision classifiers, imported by accelsim, against onnxruntime.

Matrix: mobilenet_v2, resnet18, squeezenet1_1, mobilenet_v3_small, efficientnet_b0 (torchvision, weights=None,
exported to float ONNX at 32x32, opset 17, then ``quant_pre_process``) x {QDQ, QOperator} x per_channel
{off, on} x activations {uint8, int8} (weights int8): 8 settings, calibrated by a CalibrationDataReader over 8
random N(0, 1) inputs. onnxruntime runs each model at its default optimization level (ORT_ENABLE_ALL).

What onnxruntime computes (read from its optimized graph, ``SessionOptions.optimized_model_filepath``; the test
checks it): QOperator models and QDQ models with uint8 activations run every conv / GEMM as QLinearConv / QGemm
(integers) and the rest as integer or elementwise-float ops (QLinearAdd, QLinearGlobalAveragePool, DQ -> float
elementwise -> Q): there every output integer of accelsim must equal onnxruntime's (0 mismatches, 8 inputs the
calibration did not see). In QDQ models with int8 activations onnxruntime leaves some convolutions (e.g. the
depthwise ones) as DequantizeLinear -> float Conv -> QuantizeLinear, whose float summation order is MLAS's own:
there each accelsim node, fed onnxruntime's own integer input tensors (read by adding the quantized tensors as
graph outputs of a copy of the model), must stay within 1 LSB of onnxruntime's output integer, and end to end
the top-1 class must be equal on >= 99 % of 200 random 32x32 inputs.

Which models pass in a given tree depends on the issue-13 ops (HardSwish, HardSigmoid, Sigmoid, Mul, QLinearConcat,
QLinearMul, QLinearSigmoid, ...) and on onnxruntime's float elementwise arithmetic being reproduced exactly.
"""
from __future__ import annotations

import warnings
from collections import Counter
from functools import cache
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from onnxruntime import quantization as Q  # noqa: E402
from onnxruntime.quantization.shape_inference import quant_pre_process  # noqa: E402
from torchvision_compat import import_torchvision  # noqa: E402

from accelsim.engine.runner import execute  # noqa: E402
from accelsim.graph.importers.onnx import load_onnx  # noqa: E402
from accelsim.graph.ir import Graph  # noqa: E402
from accelsim.graph.ops import op_def  # noqa: E402
from accelsim.quant.params import quantize  # noqa: E402

MODELS = ("mobilenet_v2", "resnet18", "squeezenet1_1", "mobilenet_v3_small", "efficientnet_b0",
          "shufflenet_v2_x1_0")  # the last one beyond the list: Slice / Transpose / channel shuffle
SETTINGS = tuple((fmt, per_channel, act) for fmt in ("QDQ", "QOperator") for per_channel in (False, True)
                 for act in ("uint8", "int8"))
SIZE = 32
CALIBRATION_INPUTS = 8
EXACT_INPUTS = 8
TOP1_INPUTS = 200
#: ONNX ops that are a float convolution / GEMM when they survive onnxruntime's optimizer.
FLOAT_GEMM_OPS = {"Conv", "Gemm", "MatMul", "FusedConv", "FusedGemm", "FusedMatMul", "NchwcConv"}


def _setting_id(setting: tuple[str, bool, str]) -> str:
    fmt, per_channel, act = setting
    return f"{fmt}-{'per_channel' if per_channel else 'per_tensor'}-{act}"


def _session(path: str | Path, optimized_path: str | Path | None = None) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if optimized_path is not None:
        opts.optimized_model_filepath = str(optimized_path)
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class _Reader(Q.CalibrationDataReader):
    def __init__(self, batches: list[np.ndarray]) -> None:
        self._it = iter([{"input": b} for b in batches])

    def get_next(self):
        return next(self._it, None)


def _inputs(seed: int, count: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, 1, 3, SIZE, SIZE)).astype(np.float32)


@pytest.fixture(scope="session")
def quantized(tmp_path_factory):
    """(model, setting) -> (quantized .onnx path, op counts of onnxruntime's optimized graph); made on first use."""
    root = tmp_path_factory.mktemp("ort_quantize")

    @cache
    def float_model(name: str) -> Path:
        torch.manual_seed(0)
        model = getattr(import_torchvision().models, name)(weights=None).eval()
        raw, pre = root / f"{name}.onnx", root / f"{name}_pre.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.zeros(1, 3, SIZE, SIZE),), str(raw), dynamo=False, opset_version=17,
                              input_names=["input"], output_names=["logits"])
        quant_pre_process(str(raw), str(pre))
        return pre

    @cache
    def get(name: str, setting: tuple[str, bool, str]) -> tuple[Path, Counter]:
        fmt, per_channel, act = setting
        out = root / f"{name}_{_setting_id(setting)}.onnx"
        Q.quantize_static(str(float_model(name)), str(out), _Reader(list(_inputs(1, CALIBRATION_INPUTS))),
                          quant_format=getattr(Q.QuantFormat, fmt), per_channel=per_channel,
                          activation_type=Q.QuantType.QUInt8 if act == "uint8" else Q.QuantType.QInt8,
                          weight_type=Q.QuantType.QInt8)
        optimized = out.with_suffix(".opt.onnx")
        _session(out, optimized)
        return out, Counter(n.op_type for n in onnx.load(str(optimized)).graph.node)
    return get


def _integer_source(model: onnx.ModelProto, tensor: str) -> str | None:
    """The ONNX tensor holding the integers of accelsim tensor ``tensor``: the input of the DequantizeLinear that
    produces it, the output of the QuantizeLinear that consumes it, or the tensor itself when an integer op
    (QLinear*) produces it."""
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and tensor in node.output:
            return node.input[0]
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" and node.input and node.input[0] == tensor:
            return node.output[0]
    for node in model.graph.node:
        if tensor in node.output and node.op_type not in ("DequantizeLinear",):
            return tensor if node.op_type.startswith("QLinear") or node.op_type in (
                "QGemm", "MaxPool", "Transpose", "Flatten", "Reshape", "Concat", "Relu") else None
    return None


def _ort_integers(path: Path, x_nchw: np.ndarray, tensors: list[str]) -> dict[str, np.ndarray]:
    """onnxruntime's integers of accelsim ``tensors`` (NHWC when 4-D) for each input in ``x_nchw`` (batch 1
    each), read from a copy of the model whose graph outputs are those tensors' integer sources."""
    model = onnx.load(str(path))
    sources = {t: _integer_source(model, t) for t in tensors}
    known = {o.name for o in model.graph.output}
    for s in dict.fromkeys(v for v in sources.values() if v is not None):
        if s not in known:
            model.graph.output.append(onnx.ValueInfoProto(name=s))
    augmented = path.with_name(path.stem + "_all_outputs.onnx")
    onnx.save(model, str(augmented))
    sess = _session(augmented)
    names = [o.name for o in sess.get_outputs()]
    runs = [dict(zip(names, sess.run(None, {"input": x}))) for x in x_nchw]
    out: dict[str, np.ndarray] = {}
    for t, s in sources.items():
        if s is not None:
            v = np.concatenate([r[s] for r in runs])
            out[t] = np.ascontiguousarray(v.transpose(0, 2, 3, 1)) if v.ndim == 4 else v
    return out


def _single_node_graph(graph: Graph, node) -> Graph:
    acts = node.inputs[:op_def(node.kind).activation_count(len(node.inputs))]
    tensors = {n: graph.tensors[n] for n in (*node.inputs, *node.outputs)}
    return Graph(f"{graph.name}/{node.name}", tensors, (node,), tuple(dict.fromkeys(acts)), tuple(node.outputs),
                 dict(graph.metadata))


def _run_ours(path: Path, x_nchw: np.ndarray) -> tuple[Graph, dict[str, np.ndarray]]:
    """accelsim's integers of every tensor for NCHW float inputs (one batch), the input quantized as ORT's
    QuantizeLinear (round half to even)."""
    graph = load_onnx(path, batch_size=len(x_nchw))
    t = graph.tensors[graph.inputs[0]]
    q = quantize(np.ascontiguousarray(x_nchw.transpose(0, 2, 3, 1)), t.quant, t.dtype, rounding="half_to_even")
    return graph, execute(graph, {graph.inputs[0]: q})


def _runs_float_gemm(ops: Counter) -> bool:
    return any(ops[k] for k in FLOAT_GEMM_OPS)


ALL_CASES = [(m, s) for m in MODELS for s in SETTINGS]
EXACT_CASES = [(m, s) for m, s in ALL_CASES if not (s[0] == "QDQ" and s[2] == "int8")]
FLOAT_CONV_CASES = [(m, s) for m, s in ALL_CASES if s[0] == "QDQ" and s[2] == "int8"]


@pytest.mark.parametrize("name, setting", ALL_CASES, ids=[f"{m}-{_setting_id(s)}" for m, s in ALL_CASES])
def test_quantize_static_model_imports(quantized, name, setting):
    path, _ = quantized(name, setting)
    graph = load_onnx(path)
    assert not graph.is_float
    assert {n.requant for n in graph.nodes} == {"float32"}          # onnxruntime's arithmetic
    assert graph.tensors[graph.inputs[0]].dtype == setting[2]
    assert graph.tensors[graph.outputs[0]].shape == (1, 1000)


@pytest.mark.parametrize("name, setting", EXACT_CASES, ids=[f"{m}-{_setting_id(s)}" for m, s in EXACT_CASES])
def test_where_onnxruntime_computes_integers_every_output_integer_is_equal(quantized, name, setting):
    path, ops = quantized(name, setting)
    assert not _runs_float_gemm(ops), f"onnxruntime runs float convolutions here: {dict(ops)}"
    x = _inputs(2, EXACT_INPUTS)[:, 0]
    graph, ours = _run_ours(path, x)
    out = graph.outputs[0]
    activations = [graph.inputs[0], *(n.outputs[0] for n in graph.nodes)]
    ref = _ort_integers(path, x[:, None], activations)
    sess = _session(path)   # the augmented copy computes what the model computes
    logits = np.concatenate([sess.run(None, {"input": x[i:i + 1]})[0] for i in range(EXACT_INPUTS)])
    t = graph.tensors[out]
    np.testing.assert_array_equal(logits, ((ref[out].astype(np.int64) - t.quant.zero_point[0])
                                           * np.float32(t.quant.scale[0])).astype(np.float32))
    assert ours[out].shape == ref[out].shape == (EXACT_INPUTS, 1000)
    differing = {n.name: int(np.count_nonzero(ours[n.outputs[0]].astype(np.int64)
                                              != ref[n.outputs[0]].astype(np.int64)))
                 for n in graph.nodes if n.outputs[0] in ref}
    differing = {k: v for k, v in differing.items() if v}
    first = next(iter(differing), None)
    kinds = {n.name: n.kind for n in graph.nodes}
    mismatches = int(np.count_nonzero(ours[out].astype(np.int64) != ref[out].astype(np.int64)))
    assert mismatches == 0 and not differing, (
        f"{mismatches} of {ref[out].size} output integers differ; {len(differing)} of {len(graph.nodes)} nodes "
        f"differ, the first {first!r} ({kinds.get(first)}): {differing.get(first)} integers")


@pytest.mark.parametrize("name, setting", FLOAT_CONV_CASES,
                         ids=[f"{m}-{_setting_id(s)}" for m, s in FLOAT_CONV_CASES])
def test_int8_qdq_each_op_within_1_lsb_given_onnxruntime_inputs(quantized, name, setting):
    path, ops = quantized(name, setting)
    assert _runs_float_gemm(ops), "expected onnxruntime to keep float convolutions in int8 QDQ models"
    graph = load_onnx(path, batch_size=1)
    x = _inputs(3, 2)
    activations = sorted({t for n in graph.nodes for t in (*n.inputs, *n.outputs) if not graph.tensors[t].is_constant})
    ort_ints = _ort_integers(path, x, activations)
    compared, worst = 0, {}
    for node in graph.nodes:
        sub = _single_node_graph(graph, node)
        if any(t not in ort_ints for t in (*sub.inputs, *sub.outputs)):
            continue
        for i in range(len(x)):
            feeds = {t: ort_ints[t][i:i + 1].astype(sub.tensors[t].dtype) for t in sub.inputs}
            ours = execute(sub, feeds)[node.outputs[0]].astype(np.int64)
            diff = int(np.abs(ours - ort_ints[node.outputs[0]][i:i + 1].astype(np.int64)).max())
            worst[node.name] = max(worst.get(node.name, 0), diff)
        compared += 1
    macs = [n.name for n in graph.nodes if op_def(n.kind).is_mac]
    assert set(macs) <= set(worst), f"MAC nodes not compared: {sorted(set(macs) - set(worst))}"
    over = {k: v for k, v in worst.items() if v > 1}
    assert not over, f"ops more than 1 LSB from onnxruntime (of {compared}): {over}"


@pytest.mark.parametrize("name, setting", FLOAT_CONV_CASES,
                         ids=[f"{m}-{_setting_id(s)}" for m, s in FLOAT_CONV_CASES])
def test_int8_qdq_top1_equal_on_99_percent(quantized, name, setting):
    path, _ = quantized(name, setting)
    x = _inputs(4, TOP1_INPUTS)[:, 0]
    graph, result = _run_ours(path, x)
    ours = result[graph.outputs[0]]
    sess = _session(path)
    ref = np.concatenate([sess.run(None, {"input": x[i:i + 1]})[0] for i in range(TOP1_INPUTS)])
    agree = float(np.mean(np.argmax(ours, axis=1) == np.argmax(ref, axis=1)))
    assert agree >= 0.99, f"top-1 equal on {agree:.1%} of {TOP1_INPUTS} inputs"
