"""Cost and loop-extent helpers shared by the non-MAC op families."""
from __future__ import annotations

from typing import TYPE_CHECKING

from accelsim.graph.ops.geometry import as_nhwc
from accelsim.graph.ops.registry import LoopExtents

if TYPE_CHECKING:
    from accelsim.graph.ir import Graph, Node
    from accelsim.hw.layer import LayerShape


def window_extents(graph: Graph, node: Node, kernel: tuple[int, int] = (1, 1),
                   stride: tuple[int, int] = (1, 1)) -> LoopExtents:
    """Loop extents of a non-MAC op: its first input and its output (as NHWC) and a ``kernel`` window."""
    n, h, w, c = as_nhwc(graph.tensors[node.inputs[0]].shape)
    _, oh, ow, o = as_nhwc(graph.tensors[node.outputs[0]].shape)
    return LoopExtents(n, h, w, c, oh, ow, o, kernel[0], kernel[1], stride[0], stride[1])


def elementwise_extents(graph: Graph, node: Node) -> LoopExtents:
    """Loop extents of an op without a window (1×1)."""
    return window_extents(graph, node)


def none_per_output(layer: LayerShape) -> int:
    return 0


def one_per_output(layer: LayerShape) -> int:
    return 1


def inputs_per_output(layer: LayerShape) -> int:
    """One load per activation input (an elementwise op reads each input vector once)."""
    return layer.num_inputs
