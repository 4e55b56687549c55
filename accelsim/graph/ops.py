"""Op attributes of the graph IR: one frozen dataclass per op kind.

Layouts: activations NHWC; conv weights OHWI with I = C_in / groups (depthwise: ``(C_in·mult, KH, KW, 1)``,
output channel ``o`` reads input channel ``o // mult``, TFLite order); FC weights ``(O, I)``.
Fused activations are clamps on the requantized integer (TFLite, [ref:TFLiteRef]).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

Activation = Literal["NONE", "RELU", "RELU6"]
#: "SAME" (TFLite: pad_before = total // 2), "VALID", or explicit (top, bottom, left, right).
Padding = Union[Literal["SAME", "VALID"], tuple[int, int, int, int]]


@dataclass(frozen=True)
class Conv2D:
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: Padding = "VALID"
    groups: int = 1
    activation: Activation = "NONE"
    kind = "Conv2D"


@dataclass(frozen=True)
class FullyConnected:
    activation: Activation = "NONE"
    kind = "FullyConnected"


@dataclass(frozen=True)
class Add:
    activation: Activation = "NONE"
    kind = "Add"


@dataclass(frozen=True)
class AvgPool:
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: Padding = "VALID"
    activation: Activation = "NONE"
    kind = "AvgPool"


@dataclass(frozen=True)
class MaxPool:
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: Padding = "VALID"
    activation: Activation = "NONE"
    kind = "MaxPool"


@dataclass(frozen=True)
class GlobalAveragePool:
    """Mean over H and W, keeping dims (NHWC -> N11C)."""

    kind = "GlobalAveragePool"


@dataclass(frozen=True)
class Concat:
    axis: int = -1
    kind = "Concat"


@dataclass(frozen=True)
class Reshape:
    shape: tuple[int, ...]
    kind = "Reshape"


@dataclass(frozen=True)
class Flatten:
    """NHWC -> (N, H·W·C)."""

    kind = "Flatten"


@dataclass(frozen=True)
class Pad:
    """Per-dimension (before, after) padding with the zero point (real 0)."""

    pads: tuple[tuple[int, int], ...]
    kind = "Pad"


Op = Union[Conv2D, FullyConnected, Add, AvgPool, MaxPool, GlobalAveragePool, Concat, Reshape, Flatten, Pad]

OP_TYPES: dict[str, type] = {
    cls.kind: cls
    for cls in (Conv2D, FullyConnected, Add, AvgPool, MaxPool, GlobalAveragePool, Concat, Reshape, Flatten, Pad)
}

#: Ops whose output is an integer accumulator requantized by a scale unit.
MAC_OPS = ("Conv2D", "FullyConnected")
