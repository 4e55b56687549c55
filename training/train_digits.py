"""Train the two small digits CNNs that accelsim ships, and export them to ONNX.

Data: scikit-learn's ``load_digits()`` (UCI optdigits, 1 797 grey 8x8 images, pixel levels 0..16, 10 classes),
split 75/25 stratified with a fixed split seed that does not depend on the training seed. Inputs are the
pixel levels divided by 16, so the network sees [0, 1].

Models (BatchNorm after every conv, ReLU6 activations, 8x8 input):

* ``digits_cnn``: conv3x3(1->16) -> conv3x3(16->32, stride 2) -> conv3x3(32->32) -> global average pool -> FC(32->10)
* ``digits_dsconv``: conv3x3(1->32) stem -> three depthwise-separable blocks (dw3x3 + pw1x1: 32->32, 32->64 with
  stride 2, 64->64), the stride-1 blocks with a residual Add -> global average pool -> FC(64->10)

Training is deterministic for a given ``--seed`` on one machine (2 torch threads, deterministic algorithms);
torch does not promise bit-identical float training across CPUs (even two AVX-512 CPUs of different vendors
round some reductions differently), so the script records the training machine's fingerprint (CPU model, a
hash of its CPU flags, torch / MKL / oneDNN versions) in ``training_fingerprint.json``; the test suite checks
bit-identity only on a machine with that fingerprint.

Usage (regenerates the files shipped in ``accelsim/workloads/digits/``)::

    python training/train_digits.py --out-dir accelsim/workloads/digits --seeds 0 1 2

For each model and seed the script writes ``<model>_seed<k>.onnx`` (eval mode, BatchNorm not folded),
``<model>_seed<k>.npz`` (the float state dict) and ``<model>_seed<k>.json`` (test accuracy, seed, epochs,
versions, training time); it also writes ``digits_split.npz`` (uint8 images, labels, split indices) and
``training_fingerprint.json`` (``machine_fingerprint()`` of the machine that trained them).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

SPLIT_SEED = 1797
"""random_state of the stratified train/test split; fixed, independent of the training seed."""
TEST_FRACTION = 0.25
PIXEL_LEVELS = 16.0
"""load_digits pixels are integer levels 0..16; dividing by 16 maps them to [0, 1]."""
NUM_CLASSES = 10
NUM_THREADS = 2
ONNX_OPSET = 17
FINGERPRINT_FILE = "training_fingerprint.json"
"""Written next to the models: the ``machine_fingerprint()`` of the machine that trained them (the test suite
checks bit-identical retraining only on a machine with this fingerprint)."""
MODEL_NAMES = ("digits_cnn", "digits_dsconv")
ALLOWED_ONNX_OPS = frozenset(
    {"Conv", "BatchNormalization", "Relu", "Clip", "Constant", "MaxPool", "AveragePool", "GlobalAveragePool",
     "Add", "Flatten", "Reshape", "Gemm", "MatMul"}
)
"""Op types the exported graphs may contain (NHWC-friendly; Constant holds Clip's min and max)."""


@dataclass(frozen=True)
class DigitsData:
    """The digits images and the fixed stratified split (indices into ``load_digits()`` order)."""

    images: np.ndarray  # uint8 (1797, 8, 8), pixel levels 0..16
    labels: np.ndarray  # uint8 (1797,)
    train_indices: np.ndarray  # int64
    test_indices: np.ndarray  # int64
    split_seed: int


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run."""

    model_name: str
    seed: int
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 3e-3


@dataclass(frozen=True)
class TrainResult:
    """A trained model (eval mode) and its float accuracy on the test split."""

    config: TrainConfig
    model: nn.Module
    test_correct: int
    test_count: int
    train_accuracy_pct: float
    training_time_s: float

    @property
    def test_accuracy_pct(self) -> float:
        return 100.0 * self.test_correct / self.test_count


def make_digits_data(split_seed: int = SPLIT_SEED) -> DigitsData:
    """Load scikit-learn's digits and split them 75/25, stratified by label, with ``split_seed``."""
    digits = load_digits()
    images = digits.images.astype(np.uint8)
    labels = digits.target.astype(np.uint8)
    train_indices, test_indices = train_test_split(
        np.arange(len(labels), dtype=np.int64), test_size=TEST_FRACTION, stratify=labels, random_state=split_seed
    )
    return DigitsData(images, labels, train_indices, test_indices, split_seed)


def to_input_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 pixel levels (N, 8, 8) -> float32 NCHW tensor (N, 1, 8, 8) in [0, 1]."""
    return torch.from_numpy(images.astype(np.float32) / PIXEL_LEVELS).unsqueeze(1)


def conv_bn_relu6(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias, 'same'-style symmetric padding) + BatchNorm + ReLU6."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU6(),
    )


class DigitsCNN(nn.Module):
    """Three 3x3 convs (16, 32 stride 2, 32 channels), global average pool, FC to 10 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu6(1, 16, 3),
            conv_bn_relu6(16, 32, 3, stride=2),
            conv_bn_relu6(32, 32, 3),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(32, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class DepthwiseSeparable(nn.Module):
    """Depthwise 3x3 + BN + ReLU6, pointwise 1x1 + BN + ReLU6; residual Add when stride 1 and c_in == c_out."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.depthwise = conv_bn_relu6(c_in, c_in, 3, stride=stride, groups=c_in)
        self.pointwise = conv_bn_relu6(c_in, c_out, 1)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pointwise(self.depthwise(x))
        return x + y if self.residual else y


class DigitsDSConv(nn.Module):
    """MobileNet-style: conv3x3 stem (32 channels), three depthwise-separable blocks (32, 64 stride 2, 64), GAP, FC."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn_relu6(1, 32, 3)
        self.blocks = nn.Sequential(
            DepthwiseSeparable(32, 32, stride=1),
            DepthwiseSeparable(32, 64, stride=2),
            DepthwiseSeparable(64, 64, stride=1),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(64, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


def build_model(model_name: str) -> nn.Module:
    """A freshly initialised model (uses the current torch RNG state)."""
    builders = {"digits_cnn": DigitsCNN, "digits_dsconv": DigitsDSConv}
    if model_name not in builders:
        raise ValueError(f"unknown model {model_name!r}; expected one of {sorted(builders)}")
    return builders[model_name]()


def count_correct(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> int:
    """Number of images whose argmax logit equals the label (model in eval mode)."""
    model.eval()
    with torch.no_grad():
        predictions = model(to_input_tensor(images)).argmax(dim=1).numpy()
    return int((predictions == labels).sum())


def train_model(config: TrainConfig, data: DigitsData) -> TrainResult:
    """Train ``config.model_name`` from seed ``config.seed``: Adam, cosine learning-rate schedule, cross-entropy.

    Deterministic: seeds torch, enables deterministic algorithms and uses ``NUM_THREADS`` threads.
    """
    torch.set_num_threads(NUM_THREADS)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(config.seed)
    shuffle_generator = torch.Generator().manual_seed(config.seed)

    model = build_model(config.model_name)
    train_x = to_input_tensor(data.images[data.train_indices])
    train_y = torch.from_numpy(data.labels[data.train_indices].astype(np.int64))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    loss_fn = nn.CrossEntropyLoss()

    start_s = time.perf_counter()
    for _ in range(config.epochs):
        model.train()
        order = torch.randperm(len(train_y), generator=shuffle_generator)
        for first in range(0, len(order), config.batch_size):
            batch = order[first:first + config.batch_size]
            optimizer.zero_grad()
            loss_fn(model(train_x[batch]), train_y[batch]).backward()
            optimizer.step()
        schedule.step()
    training_time_s = time.perf_counter() - start_s

    model.eval()
    test_correct = count_correct(model, data.images[data.test_indices], data.labels[data.test_indices])
    train_correct = count_correct(model, data.images[data.train_indices], data.labels[data.train_indices])
    return TrainResult(
        config=config,
        model=model,
        test_correct=test_correct,
        test_count=len(data.test_indices),
        train_accuracy_pct=100.0 * train_correct / len(data.train_indices),
        training_time_s=training_time_s,
    )


def state_dict_arrays(model: nn.Module) -> dict[str, np.ndarray]:
    """The float tensors of the state dict (weights, BN statistics) as float32 arrays, keyed by torch name."""
    return {
        name: tensor.detach().numpy().astype(np.float32)
        for name, tensor in model.state_dict().items()
        if tensor.is_floating_point()
    }


def export_onnx(model: nn.Module, path: Path) -> None:
    """Export ``model`` (eval mode) to ONNX, opset ``ONNX_OPSET``, input ``input`` NCHW [N, 1, 8, 8], dynamic N.

    Uses the TorchScript exporter (``dynamo=False``: the dynamo exporter needs onnxscript) with
    ``TrainingMode.PRESERVE``: in EVAL mode that exporter folds BatchNorm into the convs, and accelsim's
    importer is meant to do the folding itself. Raises ValueError if the graph holds an op outside
    ``ALLOWED_ONNX_OPS``.
    """
    import onnx

    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is deprecated
        torch.onnx.export(
            model,
            (torch.zeros(1, 1, 8, 8),),
            str(path),
            dynamo=False,
            opset_version=ONNX_OPSET,
            training=torch.onnx.TrainingMode.PRESERVE,
            do_constant_folding=False,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
    op_types = {node.op_type for node in onnx.load(str(path)).graph.node}
    unexpected = op_types - ALLOWED_ONNX_OPS
    if unexpected:
        raise ValueError(f"{path.name}: exported graph has unexpected op types {sorted(unexpected)}")


def sidecar(result: TrainResult, data: DigitsData) -> dict[str, object]:
    """The metadata recorded next to each exported model."""
    config = result.config
    return {
        "model": config.model_name,
        "seed": config.seed,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "optimizer": "Adam, CosineAnnealingLR(T_max=epochs), cross-entropy",
        "input_scaling": "pixel_level / 16 -> [0, 1]",
        "split_seed": data.split_seed,
        "test_correct": result.test_correct,
        "test_count": result.test_count,
        "test_accuracy_pct": round(result.test_accuracy_pct, 4),
        "train_accuracy_pct": round(result.train_accuracy_pct, 4),
        "param_count": sum(p.numel() for p in result.model.parameters()),
        "training_time_s": round(result.training_time_s, 2),
        "num_threads": NUM_THREADS,
        "torch_version": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "sklearn_version": sklearn.__version__,
        "machine": platform.machine(),
        "onnx_exporter": "torch.onnx.export(dynamo=False, training=PRESERVE)",
        "onnx_opset": ONNX_OPSET,
    }


def _cpuinfo_field(name: str) -> str:
    """First value of ``name`` in /proc/cpuinfo (Linux), or "" where there is none."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return ""


def _torch_build_line(marker: str) -> str:
    """The line of ``torch.__config__.show()`` that contains ``marker`` (library versions), or ""."""
    return next((line.strip(" -") for line in torch.__config__.show().splitlines() if marker in line), "")


def machine_fingerprint() -> dict[str, str]:
    """What float training results depend on beyond the seed: CPU model and flags, torch and its math libraries.

    Two machines with equal fingerprints are expected (not guaranteed) to train bit-identical weights; machines
    with different ones are not (torch makes no cross-CPU promise for float reductions).
    """
    flags = " ".join(sorted(_cpuinfo_field("flags").split()))
    return {
        "cpu_model": _cpuinfo_field("model name") or platform.processor() or platform.machine(),
        "cpu_flags_sha256": hashlib.sha256(flags.encode()).hexdigest(),
        "machine": platform.machine(),
        "torch_version": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkl": _torch_build_line("Math Kernel Library"),
        "onednn": _torch_build_line("MKL-DNN"),
        "num_threads": str(NUM_THREADS),
    }


def save_fingerprint(path: Path) -> None:
    """Write ``machine_fingerprint()`` of this machine to ``path`` (JSON)."""
    path.write_text(json.dumps(machine_fingerprint(), indent=2) + "\n")


def save_split(data: DigitsData, path: Path) -> None:
    """Write the images (uint8 levels 0..16), labels and split indices so accelsim needs no scikit-learn."""
    np.savez_compressed(
        path,
        images=data.images,
        labels=data.labels,
        train_indices=data.train_indices,
        test_indices=data.test_indices,
        split_seed=np.int64(data.split_seed),
    )


def save_result(result: TrainResult, data: DigitsData, out_dir: Path) -> None:
    """Write ``<model>_seed<k>.onnx``, ``.npz`` (float state dict) and ``.json`` (sidecar) into ``out_dir``."""
    stem = f"{result.config.model_name}_seed{result.config.seed}"
    export_onnx(result.model, out_dir / f"{stem}.onnx")
    np.savez_compressed(out_dir / f"{stem}.npz", **state_dict_arrays(result.model))
    (out_dir / f"{stem}.json").write_text(json.dumps(sidecar(result, data), indent=2) + "\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, required=True, help="directory for the split, models and sidecars")
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--learning-rate", type=float, default=TrainConfig.learning_rate)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    data = make_digits_data()
    save_split(data, args.out_dir / "digits_split.npz")
    save_fingerprint(args.out_dir / FINGERPRINT_FILE)
    for model_name in args.models:
        for seed in args.seeds:
            config = TrainConfig(model_name, seed, args.epochs, args.batch_size, args.learning_rate)
            result = train_model(config, data)
            save_result(result, data, args.out_dir)
            print(
                f"{model_name} seed {seed}: test {result.test_accuracy_pct:.2f}% "
                f"({result.test_correct}/{result.test_count}), train {result.train_accuracy_pct:.2f}%, "
                f"{result.training_time_s:.1f} s"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
