"""The hardware model's view of one graph node: its loop bounds, operand widths and byte counts.

Every cost model (systolic, SIMD, scale unit, memories) takes a :class:`LayerShape`, never the graph itself, so the
cost formulas stay small pure functions of numbers.
"""
from __future__ import annotations

from dataclasses import astuple, dataclass
from functools import cached_property

from accelsim.graph.ir import Graph, Node
from accelsim.graph.ops import CostDescriptor, LoopExtents, op_def
from accelsim.graph.ops.conv import depthwise


@dataclass(frozen=True, kw_only=True)
class LayerShape(LoopExtents):
    """A node as the cost models see it: its op's loop extents (positional, :class:`LoopExtents`) plus, by keyword,
    its name, op kind and operand widths.

    For Conv2D: output ``N × OH × OW × O``, kernel ``KH × KW``, input ``H × W × C``, ``groups``.
    FullyConnected is a 1×1 conv on a 1×1 map (``C`` = input features). Elementwise / pooling ops fill the
    output dims and leave the kernel as the window (1×1 for Add).
    """

    name: str
    kind: str                  # Conv2D | FullyConnected | Add | AvgPool | MaxPool | GlobalAveragePool | Concat | ...
    weight_bits: int = 0       # 0 for ops without weights
    activation_bits: int = 8   # input activation width
    output_bits: int = 8
    bias_bits: int = 0
    per_channel: bool = False  # per-channel weight scales (needs a per-channel scale unit)
    requant: str = "fixed_point"
    num_inputs: int = 1        # activation inputs (2 for Add, k for Concat)
    lut_fused: bool = False    # a LUT activation the MAC engine applies in its producer's output unit: no pass of
                               # its own (accelsim.hw.ethos.lut_fusion)
    output_lut: bool = False   # the layer's output passes through such a fused LUT activation
    output_linear: bool = False  # the MAC engine stores the output NHWC, not in 16-channel bricks
                                 # (accelsim.hw.ethos.linear_format_outputs)

    # ---------------------------------------------------------------------------------- derived counts
    @cached_property
    def cost(self) -> CostDescriptor:
        """The op's cost descriptor (op registry); UnsupportedError for an unregistered kind."""
        return op_def(self.kind).cost

    @property
    def is_depthwise(self) -> bool:
        return depthwise(self.kind, self.groups, self.in_channels)

    @property
    def depth_multiplier(self) -> int:
        return self.out_channels // self.in_channels if self.is_depthwise else 1

    @cached_property
    def reduction(self) -> int:
        """Taps per output: ``KH·KW·C_in/groups`` (the GEMM K dimension)."""
        return self.kernel_h * self.kernel_w * (self.in_channels // self.groups)

    @cached_property
    def output_pixels(self) -> int:
        """``N·OH·OW`` (the GEMM M dimension)."""
        return self.batch * self.out_h * self.out_w

    @cached_property
    def outputs(self) -> int:
        return self.output_pixels * self.out_channels

    @property
    def is_mac(self) -> bool:
        """Whether the op multiplies and accumulates (its cost descriptor has a MAC count)."""
        return self.cost.macs is not None

    @cached_property
    def macs(self) -> int:
        """Multiply-accumulates by the op's cost descriptor (0 for ops that are ALU work)."""
        macs = self.cost.macs
        return macs(self) if macs is not None else 0

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
        """Whether the output passes through a scale unit: the op's cost descriptor counts rescales per output
        (MAC ops always; rescaling Add / Concat / average pools too)."""
        return self.cost.requant_per_output(self) > 0


def layer_shape(graph: Graph, node: Node) -> LayerShape:
    """Describe ``node`` of ``graph`` as a :class:`LayerShape`: its op's loop extents (cost descriptor) and the
    widths of its tensors."""
    definition = op_def(node.kind)
    e = definition.cost.extents(graph, node)
    x = graph.tensors[node.inputs[0]]
    y = graph.tensors[node.outputs[0]]
    loops = astuple(e)
    if definition.has_weights:
        w = graph.tensors[node.inputs[1]]
        bias_bits = graph.tensors[node.inputs[2]].bits if len(node.inputs) > 2 else 0
        per_channel = bool(w.quant is not None and w.quant.per_channel_quantized)
        return LayerShape(*loops, name=node.name, kind=node.kind, weight_bits=w.bits, activation_bits=x.bits,
                          output_bits=y.bits, bias_bits=bias_bits, per_channel=per_channel, requant=node.requant)
    activations = [graph.tensors[i] for i in node.inputs if not graph.tensors[i].is_constant]
    return LayerShape(*loops, name=node.name, kind=node.kind, activation_bits=x.bits, output_bits=y.bits,
                      requant=node.requant, num_inputs=len(activations))
