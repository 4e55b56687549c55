"""Tasks (accelsim.tasks): shipped digits tasks against onnxruntime, the MobileNet-v2-structured model's structure
and training behaviour, evaluation (binomial standard error, accumulator overflow) and bad input before running."""
from __future__ import annotations

import importlib.util
import json
import math
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from accelsim.errors import AccumulatorOverflowError, ConfigError
from accelsim.graph import ops as O
from accelsim.tasks import (
    TaskQuant, binomial_stderr_pct, evaluate_task, float_accuracy_pct, load_task, shipped_task_names, topk_correct,
)
from accelsim.workloads import digits

ROOT = Path(__file__).resolve().parents[1]
MOBILENET_SCRIPT = ROOT / "training" / "train_mobilenet_digits.py"
MOBILENET_ONNX = digits.DATA_DIR / "digits_mobilenet_v2_seed0.onnx"


def _ort_top1_pct(model: Path, x_nchw: np.ndarray, labels: np.ndarray) -> float:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": x_nchw.astype(np.float32)})[0]
    return 100.0 * float(np.mean(logits.argmax(axis=1) == labels))


def _nchw_test_images(factor: int) -> tuple[np.ndarray, np.ndarray]:
    split = digits.load_digits_split()
    x = split.test_images.transpose(0, 3, 1, 2)
    x = np.repeat(np.repeat(x, factor, axis=2), factor, axis=3)
    return x, split.test_labels


# ------------------------------------------------------------------------------------------------ shipped
@pytest.mark.parametrize("name, onnx_file, factor", [
    ("digits_cnn", "digits_cnn_seed0.onnx", 1),
    ("digits_dsconv", "digits_dsconv_seed0.onnx", 1),
    ("digits_mobilenet_v2", "digits_mobilenet_v2_seed0.onnx", 4),
])
def test_shipped_task_float_accuracy_equals_onnxruntime(name, onnx_file, factor):
    """The float baseline (numpy executor on NHWC data) equals onnxruntime's top-1 on the ONNX file (NCHW)."""
    task = load_task(name)
    assert task.eval_count == 450 and task.calibration_inputs.shape[0] == 200
    x, labels = _nchw_test_images(factor)
    assert float_accuracy_pct(task) == pytest.approx(_ort_top1_pct(digits.DATA_DIR / onnx_file, x, labels), abs=1e-9)


def test_shipped_task_names():
    assert shipped_task_names() == ("digits_cnn", "digits_dsconv", "digits_mobilenet_v2")


def test_mobilenet_v2_structure():
    """Inverted residuals with expansion, depthwise 3x3, ReLU6, linear bottlenecks, 32x32 input, width <= 1."""
    graph = load_task("digits_mobilenet_v2").graph
    assert graph.tensors[graph.inputs[0]].shape == (1, 32, 32, 1)
    convs = [n for n in graph.nodes if isinstance(n.op, O.Conv2D)]
    depthwise = [n for n in convs if n.op.groups > 1 and n.op.groups == graph.tensors[n.inputs[0]].shape[-1]]
    assert len(depthwise) == 7
    assert all(graph.tensors[n.inputs[1]].shape[1:3] == (3, 3) for n in depthwise)
    adds = [n for n in graph.nodes if n.kind == "Add"]
    assert len(adds) == 3  # the stride-1 repeats with equal in/out channels
    # expansion: every depthwise conv after the first reads a 1x1 conv that widens its input 6x
    expanded = []
    for n in depthwise:
        producer = graph.producer(n.inputs[0])
        if isinstance(producer.op, O.Conv2D) and graph.tensors[producer.inputs[1]].shape[1:3] == (1, 1):
            c_in = graph.tensors[producer.inputs[0]].shape[-1]
            expanded.append(graph.tensors[n.inputs[0]].shape[-1] == 6 * c_in)
    assert expanded == [True] * 6
    # widths never exceed MobileNet-v2's at multiplier 1 (stem 32, stages 16/24/32/64)
    assert max(graph.tensors[n.outputs[0]].shape[-1] for n in convs if n.op.groups == 1) <= 1280
    assert graph.tensors[convs[0].outputs[0]].shape[-1] <= 32
    clip6 = [n for n in convs if str(n.op.activation).lower().find("relu6") >= 0]
    assert len(clip6) >= 2 * len(depthwise)      # expansion and depthwise carry ReLU6; projections are linear
    info = json.loads((digits.DATA_DIR / "digits_mobilenet_v2_seed0.json").read_text())
    assert info["width_multiplier"] <= 1 and info["test_accuracy_pct"] >= 95.0
    assert MOBILENET_ONNX.stat().st_size < 400_000


def test_mobilenet_training_script_learns(tmp_path):
    """Behaviour, not bits: 4 epochs of the shipped recipe reach well above chance (>= 85 %) on the test split,
    and the exported ONNX loads as a task with the same float accuracy as the training script reports."""
    spec = importlib.util.spec_from_file_location("train_mobilenet_digits", MOBILENET_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    sys.path.insert(0, str(MOBILENET_SCRIPT.parent))
    try:
        spec.loader.exec_module(module)
        assert module.main(["--out-dir", str(tmp_path), "--epochs", "4"]) == 0
    finally:
        sys.path.remove(str(MOBILENET_SCRIPT.parent))
    info = json.loads((tmp_path / "digits_mobilenet_v2_seed0.json").read_text())
    assert info["test_accuracy_pct"] >= 85.0
    x, labels = _nchw_test_images(4)
    assert _ort_top1_pct(tmp_path / "digits_mobilenet_v2_seed0.onnx", x, labels) == pytest.approx(
        info["test_accuracy_pct"], abs=0.23)  # at most one image apart (float export vs torch)


# ------------------------------------------------------------------------------------------------ evaluation
def test_binomial_stderr_closed_form():
    assert binomial_stderr_pct(90.0, 100) == pytest.approx(3.0)          # 100 sqrt(0.9 * 0.1 / 100)
    assert binomial_stderr_pct(100.0, 450) == 0.0
    assert binomial_stderr_pct(50.0, 400) == pytest.approx(2.5)


def test_topk_correct():
    out = np.array([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4], [0.2, 0.3, 0.5]])
    labels = np.array([1, 2, 1])
    np.testing.assert_array_equal(topk_correct(out, labels, 1), [1, 0, 0])
    np.testing.assert_array_equal(topk_correct(out, labels, 2), [1, 1, 1])


def test_w8a8_accuracy_matches_accuracy_module_and_stderr():
    """Consistency: the task evaluation agrees with ``accelsim.accuracy`` (the whitepaper-table path: its own model
    load, data preparation and PTQ call; the integer execution is shared) for the same model and settings, and
    reports the binomial standard error (closed form written here) of its own accuracy."""
    from accelsim.accuracy import Column, evaluate_graph, load_digits_data
    from accelsim.graph.importers.onnx import load_onnx

    task = load_task("digits_dsconv")
    quant = TaskQuant(weight_bits=4, symmetric_weights=False, per_channel=False)
    result = evaluate_task(task, quant)
    column = Column("x", "W4A8", "asym pt", "integer", quant.ptq_settings())
    reference = evaluate_graph(load_onnx(digits.shipped_model_path("digits_dsconv", 0), batch_size=1),
                               load_digits_data(200), (column,))["x"]
    assert result.accuracy_pct == pytest.approx(reference)
    p = result.accuracy_pct / 100
    assert result.accuracy_stderr_pct == pytest.approx(100 * math.sqrt(p * (1 - p) / 450))
    assert result.accuracy_drop_pct == pytest.approx(result.float_accuracy_pct - result.accuracy_pct)
    assert result.eval_count == 450


def test_overflowing_accumulator_names_the_node():
    task = load_task("digits_cnn")
    with pytest.raises(AccumulatorOverflowError, match=r"node '.*Conv.*'.*16-bit accumulator"):
        evaluate_task(task, TaskQuant(), accumulator_bits=16)


# ------------------------------------------------------------------------------------------------ user tasks
def _write_npz(path: Path, factor: int = 1, nchw: bool = False, labels_offset: int = 0, **replace) -> Path:
    split = digits.load_digits_split()
    cal, x = split.train_images[:50], split.test_images[:100]
    if nchw:
        cal, x = cal.transpose(0, 3, 1, 2), x.transpose(0, 3, 1, 2)
    arrays = {"calibration_inputs": cal, "eval_inputs": x, "eval_labels": split.test_labels[:100] + labels_offset}
    arrays.update(replace)
    np.savez(path, **arrays)
    return path


def _task_yaml(tmp_path: Path, **keys) -> Path:
    path = tmp_path / "task.yaml"
    body = {"model": str(digits.shipped_model_path("digits_cnn", 0)), "data": "data.npz", **keys}
    path.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in body.items()) + "\n")
    return path


def test_user_task_npz_nhwc_and_nchw_agree(tmp_path):
    _write_npz(tmp_path / "data.npz")
    nhwc = evaluate_task(load_task(_task_yaml(tmp_path)))
    _write_npz(tmp_path / "nchw.npz", nchw=True)
    nchw = evaluate_task(load_task({"model": str(digits.shipped_model_path("digits_cnn", 0)), "data": "nchw.npz",
                                    "calibration_count": 50}, folder=tmp_path))
    assert nhwc.eval_count == nchw.eval_count == 100
    assert nhwc.accuracy_pct == nchw.accuracy_pct and nhwc.accuracy_pct > 90


def _module(tmp_path: Path, monkeypatch, name: str, source: str) -> str:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)
    return name


def test_data_and_metric_functions(tmp_path, monkeypatch):
    """``data: module:function`` streams batches; a user metric ``module:function`` equal to top-1 gives the
    same accuracy as the built-in one on the same data."""
    _write_npz(tmp_path / "data.npz")
    mod = _module(tmp_path, monkeypatch, "my_digits_data", f"""
        import numpy as np
        ARCHIVE = {str(tmp_path / 'data.npz')!r}
        def batches(split):
            a = np.load(ARCHIVE)
            if split == "calibration":
                yield a["calibration_inputs"]
                return
            for i in range(0, 100, 32):
                yield a["eval_inputs"][i:i + 32], a["eval_labels"][i:i + 32]
        def top1(outputs, labels):
            return (outputs.reshape(len(labels), -1).argmax(axis=1) == labels).astype(int)
        """)
    model = str(digits.shipped_model_path("digits_cnn", 0))
    streamed = load_task({"model": model, "data": f"{mod}:batches", "metric": f"{mod}:top1", "calibration_count": 50})
    assert streamed.eval_count == 100
    builtin = load_task({"model": model, "data": "data.npz", "calibration_count": 50}, folder=tmp_path)
    assert evaluate_task(streamed).accuracy_pct == evaluate_task(builtin).accuracy_pct


def test_bad_task_input_is_reported_before_running(tmp_path, monkeypatch):
    model = str(digits.shipped_model_path("digits_cnn", 0))
    _write_npz(tmp_path / "data.npz")
    cases = [
        ({"model": model, "data": "data.npz", "metric": "no_such_module_xyz:f"}, "metric", "importable"),
        ({"model": model, "data": "missing.npz"}, "data", "existing .npz"),
        ({"model": str(tmp_path / "none.onnx"), "data": "data.npz"}, "model", "existing ONNX"),
        ({"model": model, "data": "data.npz", "typo": 1}, "typo", ""),
    ]
    _write_npz(tmp_path / "shape.npz", eval_inputs=np.zeros((100, 9, 9, 1), np.float32))
    cases.append(({"model": model, "data": "shape.npz"}, "data.eval_inputs", "NHWC (N, 8, 8, 1)"))
    _write_npz(tmp_path / "labels.npz", labels_offset=5)
    cases.append(({"model": model, "data": "labels.npz"}, "data.eval_labels", "labels in [0, 10)"))
    _write_npz(tmp_path / "nolabels.npz")
    with np.load(tmp_path / "nolabels.npz") as a:
        np.savez(tmp_path / "nolabels.npz", calibration_inputs=a["calibration_inputs"], eval_inputs=a["eval_inputs"])
    cases.append(({"model": model, "data": "nolabels.npz"}, "data", "eval_labels"))
    for mapping, key, expected in cases:
        with pytest.raises(ConfigError) as info:
            load_task(mapping, folder=tmp_path, file="my_task.yaml")
        assert info.value.file == "my_task.yaml" and info.value.key_path == key, (mapping, str(info.value))
        assert expected in str(info.value)
    with pytest.raises(ConfigError, match="shipped task"):
        load_task("no_such_task")


def test_quantized_model_is_rejected(tmp_path):
    """A model that is already quantized (QDQ, from onnxruntime's quantizer) is not a float model."""
    from onnxruntime import quantization
    from onnxruntime.quantization.shape_inference import quant_pre_process

    split = digits.load_digits_split()
    cal = np.ascontiguousarray(split.train_images[:32].transpose(0, 3, 1, 2))

    class Reader:
        def __init__(self):
            self._it = iter([{"input": cal}])

        def get_next(self):
            return next(self._it, None)

    pre, out = tmp_path / "pre.onnx", tmp_path / "q.onnx"
    quant_pre_process(str(digits.shipped_model_path("digits_cnn", 0)), str(pre))
    quantization.quantize_static(str(pre), str(out), Reader(), quant_format=quantization.QuantFormat.QDQ)
    _write_npz(tmp_path / "data.npz")
    with pytest.raises(ConfigError) as info:
        load_task({"model": "q.onnx", "data": "data.npz"}, folder=tmp_path, file="t.yaml")
    assert info.value.key_path == "model" and "float model" in str(info.value)
