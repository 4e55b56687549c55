"""Tasks shipped with accelsim that run offline: the digits data (``accelsim.workloads.digits``, docs/digits.md)
with the trained digits models.

* ``digits_cnn``, ``digits_dsconv``: the training-seed-0 models of ``training/train_digits.py``, 8x8 input.
* ``digits_mobilenet_v2``: the MobileNet-v2-structured network of ``training/train_mobilenet_digits.py``
  ([ref:Sandler18]), input upscaled 4x to 32x32 by pixel repetition.

Calibration: the first :data:`CALIBRATION_COUNT` training images (as ``accelsim accuracy`` does); evaluation:
the 450 held-out test images; metric top-1.
"""
from __future__ import annotations

import hashlib

import numpy as np

from accelsim.errors import ConfigError
from accelsim.graph.importers.onnx import load_onnx
from accelsim.tasks.spec import Task, array_task
from accelsim.workloads.digits import DATA_DIR, load_digits_split

CALIBRATION_COUNT = 200
#: Shipped task name -> (ONNX file in accelsim/workloads/digits, input upscale factor).
SHIPPED_TASKS: dict[str, tuple[str, int]] = {
    "digits_cnn": ("digits_cnn_seed0.onnx", 1),
    "digits_dsconv": ("digits_dsconv_seed0.onnx", 1),
    "digits_mobilenet_v2": ("digits_mobilenet_v2_seed0.onnx", 4),
}


def shipped_task_names() -> tuple[str, ...]:
    return tuple(SHIPPED_TASKS)


def upscale_nhwc(images: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of NHWC images by ``factor`` (each pixel repeated factor x factor times)."""
    if factor == 1:
        return images
    return np.repeat(np.repeat(images, factor, axis=1), factor, axis=2)


def shipped_task(name: str) -> Task:
    """The shipped task ``name`` (ConfigError listing the names if unknown)."""
    if name not in SHIPPED_TASKS:
        raise ConfigError(name, "task", f"a shipped task ({', '.join(SHIPPED_TASKS)})", name)
    file, factor = SHIPPED_TASKS[name]
    path = DATA_DIR / file
    split = load_digits_split()
    return array_task(name, f"shipped:{name}", load_onnx(path, batch_size=1),
                      upscale_nhwc(split.train_images[:CALIBRATION_COUNT], factor),
                      upscale_nhwc(split.test_images, factor), split.test_labels,
                      calibration_count=CALIBRATION_COUNT,
                      identity=hashlib.sha256(path.read_bytes()).hexdigest())
