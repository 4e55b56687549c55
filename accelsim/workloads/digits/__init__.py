"""Shipped digits data and trained float models (real data for the quantization accuracy experiments).

The data is scikit-learn's ``load_digits()`` (UCI optdigits test set, CC BY 4.0): 1 797 grey 8x8 images with
pixel levels 0..16, split 75/25 stratified (1 347 train, 450 test). The models are two small CNNs trained by
``training/train_digits.py`` with seeds 0, 1 and 2, shipped as ONNX (BatchNorm not folded), as the float state
dict (``.npz``) and with a JSON sidecar holding the float test accuracy. See ``docs/digits.md``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelsim.errors import AccelsimError

DATA_DIR = Path(__file__).resolve().parent
SPLIT_FILE = "digits_split.npz"
MODEL_NAMES = ("digits_cnn", "digits_dsconv")
SEEDS = (0, 1, 2)
PIXEL_LEVELS = 16.0
"""Pixel levels run 0..16; images are divided by 16 to give the models' [0, 1] input range."""


@dataclass(frozen=True, eq=False)
class DigitsSplit:
    """The shipped train/test split; images float32 NHWC (N, 8, 8, 1) in [0, 1], labels int64 (N,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def _scale_to_nhwc(levels: np.ndarray) -> np.ndarray:
    """uint8 pixel levels (N, 8, 8) -> float32 (N, 8, 8, 1) in [0, 1]."""
    return (levels.astype(np.float32) / np.float32(PIXEL_LEVELS))[..., np.newaxis]


def load_digits_split() -> DigitsSplit:
    """Load the shipped digits split (no scikit-learn needed)."""
    with np.load(DATA_DIR / SPLIT_FILE) as archive:
        images, labels = archive["images"], archive["labels"].astype(np.int64)
        train, test = archive["train_indices"], archive["test_indices"]
    return DigitsSplit(
        train_images=_scale_to_nhwc(images[train]),
        train_labels=labels[train],
        test_images=_scale_to_nhwc(images[test]),
        test_labels=labels[test],
    )


def shipped_model_names() -> tuple[str, ...]:
    """Names of the shipped digits models."""
    return MODEL_NAMES


def _model_stem(name: str, seed: int) -> str:
    if name not in MODEL_NAMES:
        raise AccelsimError(f"unknown digits model {name!r}; shipped models: {', '.join(MODEL_NAMES)}")
    if seed not in SEEDS:
        raise AccelsimError(f"digits model {name!r} has no seed {seed!r}; shipped seeds: {SEEDS}")
    return f"{name}_seed{seed}"


def shipped_model_path(name: str, seed: int) -> Path:
    """Path of the shipped ONNX file of model ``name`` trained with ``seed`` (input ``input``, NCHW [N, 1, 8, 8])."""
    return DATA_DIR / f"{_model_stem(name, seed)}.onnx"


def shipped_weights_path(name: str, seed: int) -> Path:
    """Path of the float state dict (``.npz``, keys are the torch parameter names = the ONNX initializer names)."""
    return DATA_DIR / f"{_model_stem(name, seed)}.npz"


def shipped_model_info(name: str, seed: int) -> dict[str, object]:
    """The training sidecar: ``test_accuracy_pct``, ``test_correct``, ``test_count``, ``epochs``, versions, ..."""
    return json.loads((DATA_DIR / f"{_model_stem(name, seed)}.json").read_text())
