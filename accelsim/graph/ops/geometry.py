"""Window geometry and fused activations shared by the op families (no dependencies on the IR)."""
from __future__ import annotations

import math
from typing import Literal, Union

import numpy as np

from accelsim.quant.requant import Activation

__all__ = ["Activation", "Padding", "apply_activation", "as_nhwc", "resolve_padding", "window_output_size",
           "yaml_activation", "yaml_padding"]
#: "SAME" (TFLite: pad_before = total // 2), "VALID", or explicit (top, bottom, left, right).
Padding = Union[Literal["SAME", "VALID"], tuple[int, int, int, int]]


def resolve_padding(
    padding: Padding, in_hw: tuple[int, int], kernel_hw: tuple[int, int], stride: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
) -> tuple[int, int, int, int]:
    """Explicit (top, bottom, left, right) padding.

    SAME follows TFLite: ``out = ceil(in / s)``, ``total = max((out − 1)·s + K_eff − in, 0)``, ``before = total // 2``
    (TFLite SAME padding, [ref:TFLiteRef]), with the effective kernel ``K_eff = (K − 1)·d + 1``.
    """
    if padding == "VALID":
        return (0, 0, 0, 0)
    if padding == "SAME":
        pads = []
        for size, k, s, d in zip(in_hw, kernel_hw, stride, dilation):
            out = math.ceil(size / s)
            total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        return (pads[0], pads[1], pads[2], pads[3])
    return tuple(int(p) for p in padding)  # type: ignore[return-value]


def window_output_size(size: int, kernel: int, stride: int, dilation: int, pad_before: int, pad_after: int) -> int:
    """``floor((size + pads − ((k − 1)·d + 1)) / s) + 1``."""
    return (size + pad_before + pad_after - ((kernel - 1) * dilation + 1)) // stride + 1


def apply_activation(x: np.ndarray, activation: str) -> np.ndarray:
    """ReLU / ReLU6 / identity on float values."""
    if activation == "RELU":
        return np.maximum(x, 0)
    if activation == "RELU6":
        return np.clip(x, 0, 6)
    return x


def as_nhwc(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A 4-D shape as it is; any other as ``(N, 1, 1, features)``."""
    return shape if len(shape) == 4 else (shape[0], 1, 1, math.prod(shape[1:]))  # type: ignore[return-value]


def yaml_activation(op: object) -> str:
    """An op's fused activation as the workload YAML writes it (``none`` when it has none)."""
    return getattr(op, "activation", "NONE").lower()


def yaml_padding(p: Padding) -> str | list[int]:
    """Padding as the workload YAML writes it."""
    return p.lower() if isinstance(p, str) else [int(v) for v in p]
