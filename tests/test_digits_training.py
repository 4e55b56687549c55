"""The shipped digits split and models, checked against scikit-learn, onnxruntime and a fresh retraining."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from accelsim.errors import AccelsimError
from accelsim.workloads import digits

TRAIN_SCRIPT = Path(__file__).resolve().parents[1] / "training" / "train_digits.py"
SHIPPED = [(name, seed) for name in digits.shipped_model_names() for seed in digits.SEEDS]
NHWC_OPS = {"Conv", "BatchNormalization", "Relu", "Clip", "Constant", "MaxPool", "AveragePool",
            "GlobalAveragePool", "Add", "Flatten", "Reshape", "Gemm", "MatMul"}


def _import_train_script():
    spec = importlib.util.spec_from_file_location("train_digits", TRAIN_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def split() -> digits.DigitsSplit:
    return digits.load_digits_split()


@pytest.fixture
def restore_torch_state():
    """train_model switches on deterministic algorithms and sets the thread count; undo it for other tests."""
    deterministic, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    yield
    torch.use_deterministic_algorithms(deterministic)
    torch.set_num_threads(threads)


def test_shipped_split_equals_fresh_sklearn_split(split):
    reference = load_digits()
    with np.load(digits.DATA_DIR / digits.SPLIT_FILE) as archive:
        split_seed = int(archive["split_seed"])
    train_idx, test_idx = train_test_split(
        np.arange(len(reference.target)), test_size=0.25, stratify=reference.target, random_state=split_seed
    )
    assert (len(train_idx), len(test_idx)) == (1347, 450)
    for images, labels, idx in [(split.train_images, split.train_labels, train_idx),
                                (split.test_images, split.test_labels, test_idx)]:
        assert images.dtype == np.float32 and images.shape == (len(idx), 8, 8, 1)
        np.testing.assert_array_equal(images[..., 0], (reference.images[idx] / 16.0).astype(np.float32))
        np.testing.assert_array_equal(labels, reference.target[idx])
    assert split.test_images.min() == 0.0 and split.test_images.max() == 1.0


def test_split_is_stratified(split):
    class_counts = np.bincount(load_digits().target, minlength=10)
    test_counts = np.bincount(split.test_labels, minlength=10)
    assert np.all(np.abs(test_counts - 0.25 * class_counts) <= 1.0)


def test_script_split_seed_matches_shipped_split():
    train_digits = _import_train_script()
    with np.load(digits.DATA_DIR / digits.SPLIT_FILE) as archive:
        assert int(archive["split_seed"]) == train_digits.SPLIT_SEED


@pytest.mark.parametrize(("name", "seed"), SHIPPED)
def test_shipped_onnx_accuracy_matches_sidecar(split, name, seed):
    info = digits.shipped_model_info(name, seed)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(digits.shipped_model_path(name, seed)), options,
                                   providers=["CPUExecutionProvider"])
    nchw = np.ascontiguousarray(split.test_images.transpose(0, 3, 1, 2))
    (logits,) = session.run(None, {"input": nchw})
    correct = int((logits.argmax(axis=1) == split.test_labels).sum())
    assert info["test_count"] == len(split.test_labels) == 450
    assert correct == info["test_correct"]
    assert correct / 450 >= 0.95
    assert info["seed"] == seed and info["model"] == name


@pytest.mark.parametrize(("name", "seed"), SHIPPED)
def test_shipped_onnx_graph_is_unfolded_and_nhwc_friendly(name, seed):
    model = onnx.load(str(digits.shipped_model_path(name, seed)))
    onnx.checker.check_model(model)
    op_types = [node.op_type for node in model.graph.node]
    assert set(op_types) <= NHWC_OPS
    assert op_types.count("BatchNormalization") == op_types.count("Conv")  # BatchNorm left for the importer
    assert model.opset_import[0].version >= 17
    (graph_input,) = model.graph.input
    dims = [d.dim_value or d.dim_param for d in graph_input.type.tensor_type.shape.dim]
    assert graph_input.name == "input" and dims[1:] == [1, 8, 8]


@pytest.mark.parametrize(("name", "seed"), SHIPPED)
def test_shipped_state_dict_equals_onnx_initializers(name, seed):
    initializers = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(digits.shipped_model_path(name, seed)))
                    .graph.initializer}
    with np.load(digits.shipped_weights_path(name, seed)) as weights:
        assert set(weights.files) == set(initializers)
        for key in weights.files:
            np.testing.assert_array_equal(weights[key], initializers[key], err_msg=key)


@pytest.mark.parametrize("name", digits.shipped_model_names())
def test_shipped_files_are_small(name):
    for seed in digits.SEEDS:
        for path in (digits.shipped_model_path(name, seed), digits.shipped_weights_path(name, seed)):
            assert path.stat().st_size < 200_000, path.name


def test_unknown_model_or_seed_is_an_accelsim_error():
    with pytest.raises(AccelsimError, match="digits_cnn"):
        digits.shipped_model_path("lenet", 0)
    with pytest.raises(AccelsimError, match="seed"):
        digits.shipped_model_path("digits_cnn", 7)


@pytest.mark.slow
def test_retraining_reproduces_shipped_digits_cnn_seed0(restore_torch_state, split, tmp_path):
    train_digits = _import_train_script()
    info = digits.shipped_model_info("digits_cnn", 0)
    config = train_digits.TrainConfig("digits_cnn", seed=0, epochs=info["epochs"], batch_size=info["batch_size"],
                                      learning_rate=info["learning_rate"])
    result = train_digits.train_model(config, train_digits.make_digits_data(info["split_seed"]))

    assert abs(result.test_accuracy_pct - info["test_accuracy_pct"]) <= 1.5

    onnx_path = tmp_path / "retrained.onnx"
    train_digits.export_onnx(result.model, onnx_path)
    nchw = np.ascontiguousarray(split.test_images.transpose(0, 3, 1, 2))
    (ort_logits,) = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {"input": nchw})
    with torch.no_grad():
        torch_logits = result.model(torch.from_numpy(nchw)).numpy()
    np.testing.assert_allclose(ort_logits, torch_logits, rtol=1e-4, atol=1e-4)
    assert int((ort_logits.argmax(axis=1) == split.test_labels).sum()) == result.test_correct

    same_platform = (torch.__version__ == info["torch_version"]
                     and torch.backends.cpu.get_cpu_capability() == info["torch_cpu_capability"])
    if same_platform:  # float reductions differ across CPU families; bit-identity is only promised on one
        retrained = train_digits.state_dict_arrays(result.model)
        with np.load(digits.shipped_weights_path("digits_cnn", 0)) as shipped:
            assert set(shipped.files) == set(retrained)
            for key in shipped.files:
                np.testing.assert_array_equal(retrained[key], shipped[key], err_msg=key)
        assert result.test_correct == info["test_correct"]
