"""Types shared by the engine's per-family runners."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from accelsim.errors import GraphError
from accelsim.graph.ir import Graph


@dataclass(frozen=True)
class RunOptions:
    """Options of one ``execute`` call that runners need: the requested accumulator width (None: per node
    default) and the number of worker threads."""

    accumulator_bits: int | None
    workers: int


class NodeRun(NamedTuple):
    """A runner's result: the node's output array and, for MAC nodes, how many final accumulators exceeded the
    accumulator width (``overflows``) at width ``accumulator_bits``."""

    output: np.ndarray
    overflows: int = 0
    accumulator_bits: int = 0


class OutputStage(NamedTuple):
    """Arguments of the kernels' requantizing output stage (``accelsim.kernels.output_rows``), in kernel order:
    range check and bounds of the accumulator, requantization mode and per-channel constants, output zero point
    and clamp."""

    check: bool
    acc_min: int
    acc_max: int
    mode_id: int
    multiplier: np.ndarray
    shift: np.ndarray
    float_multiplier: np.ndarray
    zero_out: int
    act_min: int
    act_max: int


class WindowGeometry(NamedTuple):
    """Strides, dilations and top / left padding of a window, in kernel order."""

    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    pad_top: int
    pad_left: int


def constant(graph: Graph, name: str) -> np.ndarray:
    """The data of constant tensor ``name``; GraphError for a shape-only tensor."""
    tensor = graph.tensors[name]
    if tensor.data is None:
        raise GraphError(
            f"tensor {name!r} has a shape but no data (shape-only weights); fill it with "
            f"accelsim.graph.synthetic before executing"
        )
    return tensor.data
