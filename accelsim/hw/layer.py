"""The hardware model's view of one graph node: its loop bounds, operand widths and byte counts.

Every cost model (systolic, SIMD, scale unit, memories) takes a :class:`LayerShape`, never the graph itself, so the
cost formulas stay small pure functions of numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.graph.ir import Graph, Node
from accelsim.graph.shapes import resolve_padding


@dataclass(frozen=True)
class LayerShape:
    """Loop bounds and precisions of one node.

    For Conv2D: output ``N × OH × OW × O``, kernel ``KH × KW``, input ``H × W × C``, ``groups``.
    FullyConnected is a 1×1 conv on a 1×1 map (``C`` = input features). Elementwise / pooling ops fill the
    output dims and leave the kernel as the window (1×1 for Add).
    """

    name: str
    kind: str                  # Conv2D | FullyConnected | Add | AvgPool | MaxPool | GlobalAveragePool | Concat | ...
    batch: int
    in_h: int
    in_w: int
    in_channels: int
    out_h: int
    out_w: int
    out_channels: int
    kernel_h: int = 1
    kernel_w: int = 1
    stride_h: int = 1
    stride_w: int = 1
    groups: int = 1
    pad_h: int = 0             # total padding rows (top + bottom)
    pad_w: int = 0
    weight_bits: int = 0       # 0 for ops without weights
    activation_bits: int = 8   # input activation width
    output_bits: int = 8
    bias_bits: int = 0
    per_channel: bool = False  # per-channel weight scales (needs a per-channel scale unit)
    requant: str = "fixed_point"
    num_inputs: int = 1        # activation inputs (2 for Add, k for Concat)

    # ---------------------------------------------------------------------------------- derived counts
    @property
    def is_depthwise(self) -> bool:
        return self.kind == "Conv2D" and self.groups > 1 and self.groups == self.in_channels

    @property
    def depth_multiplier(self) -> int:
        return self.out_channels // self.in_channels if self.is_depthwise else 1

    @property
    def reduction(self) -> int:
        """Taps per output: ``KH·KW·C_in/groups`` (the GEMM K dimension)."""
        return self.kernel_h * self.kernel_w * (self.in_channels // self.groups)

    @property
    def output_pixels(self) -> int:
        """``N·OH·OW`` (the GEMM M dimension)."""
        return self.batch * self.out_h * self.out_w

    @property
    def outputs(self) -> int:
        return self.output_pixels * self.out_channels

    @property
    def macs(self) -> int:
        return self.outputs * self.reduction if self.kind in ("Conv2D", "FullyConnected") else 0

    @property
    def has_weights(self) -> bool:
        return self.weight_bits > 0

    @property
    def weight_count(self) -> int:
        return self.out_channels * self.reduction if self.has_weights else 0

    @property
    def weight_bytes(self) -> float:
        """Packed weight bytes (4-bit weights take half a byte each)."""
        return self.weight_count * self.weight_bits / 8

    @property
    def bias_bytes(self) -> float:
        return self.out_channels * self.bias_bits / 8 if self.bias_bits else 0.0

    @property
    def input_bytes(self) -> float:
        return self.num_inputs * self.batch * self.in_h * self.in_w * self.in_channels * self.activation_bits / 8

    @property
    def output_bytes(self) -> float:
        return self.outputs * self.output_bits / 8

    @property
    def needs_requant(self) -> bool:
        """Whether the output passes through a scale unit (MAC ops always; rescaling Add/Concat/avg pools too)."""
        return self.kind in ("Conv2D", "FullyConnected", "Add", "Concat", "AvgPool", "GlobalAveragePool")


def layer_shape(graph: Graph, node: Node) -> LayerShape:
    """Describe ``node`` of ``graph`` as a :class:`LayerShape`."""
    x = graph.tensors[node.inputs[0]]
    y = graph.tensors[node.outputs[0]]
    out_bits, act_bits = y.bits, x.bits
    if node.kind in ("Conv2D", "FullyConnected"):
        w = graph.tensors[node.inputs[1]]
        bias_bits = graph.tensors[node.inputs[2]].bits if len(node.inputs) > 2 else 0
        per_channel = bool(w.quant is not None and w.quant.per_channel_quantized)
        if node.kind == "FullyConnected":
            n = y.shape[0]
            return LayerShape(node.name, node.kind, n, 1, 1, w.shape[1], 1, 1, w.shape[0],
                              weight_bits=w.bits, activation_bits=act_bits, output_bits=out_bits,
                              bias_bits=bias_bits, per_channel=per_channel, requant=node.requant)
        op = node.op
        n, h, wd, c = x.shape
        _, oh, ow, o = y.shape
        top, bottom, left, right = resolve_padding(op.padding, (h, wd), (w.shape[1], w.shape[2]), op.stride, op.dilation)
        return LayerShape(node.name, node.kind, n, h, wd, c, oh, ow, o, w.shape[1], w.shape[2],
                          op.stride[0], op.stride[1], op.groups, top + bottom, left + right,
                          weight_bits=w.bits, activation_bits=act_bits, output_bits=out_bits,
                          bias_bits=bias_bits, per_channel=per_channel, requant=node.requant)
    shape_in = x.shape if len(x.shape) == 4 else (x.shape[0], 1, 1, math.prod(x.shape[1:]))
    shape_out = y.shape if len(y.shape) == 4 else (y.shape[0], 1, 1, math.prod(y.shape[1:]))
    kernel = (1, 1)
    stride = (1, 1)
    if node.kind in ("AvgPool", "MaxPool"):
        kernel, stride = node.op.kernel, node.op.stride
    elif node.kind == "GlobalAveragePool":
        kernel = (shape_in[1], shape_in[2])
    activations = [graph.tensors[i] for i in node.inputs if not graph.tensors[i].is_constant]
    return LayerShape(node.name, node.kind, shape_in[0], shape_in[1], shape_in[2], shape_in[3],
                      shape_out[1], shape_out[2], shape_out[3], kernel[0], kernel[1], stride[0], stride[1],
                      activation_bits=act_bits, output_bits=out_bits, requant=node.requant,
                      num_inputs=len(activations))
