"""Train the MobileNet-v2-structured digits network that accelsim ships as the task ``digits_mobilenet_v2``.

Structure (Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks", Table 2 layout,
[ref:Sandler18]): a 3x3 stride-2 stem conv, inverted residual blocks (1x1 expansion by ``t`` + ReLU6, depthwise
3x3 + ReLU6, linear 1x1 projection, residual Add when stride 1 and in == out channels), a 1x1 head conv, global
average pool and a fully connected classifier; BatchNorm after every conv. Channel counts are MobileNet-v2's
scaled by a width multiplier of 0.5 and truncated to the first stages (the digits are tiny); see
``BLOCKS`` below. Input: the 8x8 digits upscaled 4x by pixel repetition (nearest neighbour) to 32x32, the
smallest input the issue allows; the upscaling is data preparation (``upscale``), not a model op, so the
exported graph keeps NCHW ``[N, 1, 32, 32]``.

Data and split: the same as ``training/train_digits.py`` (scikit-learn digits, 75/25 stratified, split seed 1797).
Training: Adam, cosine schedule, cross-entropy, deterministic for a given ``--seed`` on one machine (2 threads,
deterministic algorithms); torch does not promise bit-identical float training across CPUs, so the test suite
checks behaviour (accuracy within a tolerance), not bits.

Usage (regenerates the shipped files)::

    python training/train_mobilenet_digits.py --out-dir accelsim/workloads/digits

writes ``digits_mobilenet_v2_seed0.onnx`` and ``digits_mobilenet_v2_seed0.json`` (sidecar with the float test
accuracy, epochs, versions).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_digits as base  # noqa: E402  (the shared data split, training loop helpers and ONNX export)

MODEL_NAME = "digits_mobilenet_v2"
UPSCALE = 4
"""8x8 digits -> 32x32 input by repeating each pixel 4x4 times."""
WIDTH_MULTIPLIER = 0.5
STEM_CHANNELS = 16
"""MobileNet-v2's 32 stem channels times the width multiplier."""
HEAD_CHANNELS = 128
"""MobileNet-v2's 1280 head channels scaled down for a 10-class 1 347-image task (kept small for a small ONNX)."""
BLOCKS: tuple[tuple[int, int, int, int], ...] = (
    # (expansion t, output channels c, repeats n, first stride s): MobileNet-v2 Table 2 rows 1-4, c x 0.5
    (1, 8, 1, 1),
    (6, 12, 2, 2),
    (6, 16, 2, 2),
    (6, 32, 2, 1),
)


def upscale(images: np.ndarray, factor: int = UPSCALE) -> np.ndarray:
    """Nearest-neighbour upscaling of the last two axes (H, W) by ``factor`` (pixel repetition)."""
    return np.repeat(np.repeat(images, factor, axis=-2), factor, axis=-1)


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, relu6: bool = True) -> nn.Sequential:
    """Conv (no bias, symmetric padding kernel // 2) + BatchNorm (+ ReLU6)."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if relu6:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """Expansion 1x1 (skipped when t = 1) + ReLU6, depthwise 3x3 + ReLU6, linear projection 1x1; residual Add
    when stride 1 and c_in == c_out (MobileNet-v2 Figure 4 / Table 1)."""

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(conv_bn(c_in, hidden, 1))
        layers += [conv_bn(hidden, hidden, 3, stride=stride, groups=hidden), conv_bn(hidden, c_out, 1, relu6=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class DigitsMobileNetV2(nn.Module):
    """Stem conv 3x3 s2, the inverted residual stages of ``BLOCKS``, head conv 1x1, GAP, FC to 10 classes."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(1, STEM_CHANNELS, 3, stride=2)]
        c_in = STEM_CHANNELS
        for t, c, n, s in BLOCKS:
            for i in range(n):
                layers.append(InvertedResidual(c_in, c, s if i == 0 else 1, t))
                c_in = c
        layers.append(conv_bn(c_in, HEAD_CHANNELS, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(HEAD_CHANNELS, base.NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


@dataclass(frozen=True)
class Result:
    model: nn.Module
    test_correct: int
    test_count: int
    train_accuracy_pct: float
    seconds: float


def to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 levels (N, 8, 8) -> float32 NCHW (N, 1, 32, 32) in [0, 1]."""
    return torch.from_numpy(upscale(images.astype(np.float32) / base.PIXEL_LEVELS)).unsqueeze(1)


def correct(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> int:
    model.eval()
    with torch.no_grad():
        return int((model(to_input(images)).argmax(dim=1).numpy() == labels).sum())


def train(seed: int, epochs: int, batch_size: int, learning_rate: float, data: base.DigitsData) -> Result:
    """Adam + cosine schedule + cross-entropy from ``seed``; deterministic on one machine."""
    import time

    torch.set_num_threads(base.NUM_THREADS)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = DigitsMobileNetV2()
    x = to_input(data.images[data.train_indices])
    y = torch.from_numpy(data.labels[data.train_indices].astype(np.int64))
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=gen)
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            opt.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            opt.step()
        sched.step()
    seconds = time.perf_counter() - start
    model.eval()
    return Result(model, correct(model, data.images[data.test_indices], data.labels[data.test_indices]),
                  len(data.test_indices),
                  100.0 * correct(model, data.images[data.train_indices], data.labels[data.train_indices])
                  / len(data.train_indices), seconds)


def export(model: nn.Module, path: Path) -> None:
    """ONNX export like ``train_digits.export_onnx`` (BatchNorm kept, opset 17) with a 32x32 input."""
    import warnings

    import onnx

    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (torch.zeros(1, 1, 8 * UPSCALE, 8 * UPSCALE),), str(path), dynamo=False,
                          opset_version=base.ONNX_OPSET, training=torch.onnx.TrainingMode.PRESERVE,
                          do_constant_folding=False, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    unexpected = {n.op_type for n in onnx.load(str(path)).graph.node} - base.ALLOWED_ONNX_OPS
    if unexpected:
        raise ValueError(f"{path.name}: exported graph has unexpected op types {sorted(unexpected)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    data = base.make_digits_data()
    r = train(args.seed, args.epochs, args.batch_size, args.learning_rate, data)
    stem = f"{MODEL_NAME}_seed{args.seed}"
    export(r.model, args.out_dir / f"{stem}.onnx")
    info = {
        "model": MODEL_NAME, "seed": args.seed, "epochs": args.epochs, "batch_size": args.batch_size,
        "learning_rate": args.learning_rate, "optimizer": "Adam, CosineAnnealingLR(T_max=epochs), cross-entropy",
        "input_scaling": f"pixel_level / 16 -> [0, 1], upscaled {UPSCALE}x (pixel repetition) to 32x32",
        "width_multiplier": WIDTH_MULTIPLIER, "split_seed": data.split_seed,
        "test_correct": r.test_correct, "test_count": r.test_count,
        "test_accuracy_pct": round(100.0 * r.test_correct / r.test_count, 4),
        "train_accuracy_pct": round(r.train_accuracy_pct, 4),
        "param_count": sum(p.numel() for p in r.model.parameters()), "training_time_s": round(r.seconds, 2),
        "num_threads": base.NUM_THREADS, "torch_version": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onnx_exporter": "torch.onnx.export(dynamo=False, training=PRESERVE)", "onnx_opset": base.ONNX_OPSET,
    }
    (args.out_dir / f"{stem}.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"{MODEL_NAME} seed {args.seed}: test {info['test_accuracy_pct']:.2f}% ({r.test_correct}/{r.test_count}), "
          f"train {r.train_accuracy_pct:.2f}%, {r.seconds:.1f} s, {info['param_count']} parameters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
