"""Activation placement between layers: which activation tensors stay in the on-chip activation level.

Rules (``docs/model.md`` §3.2):

* **Capacity, not a fixed share.** While node ``j`` runs, the activation level holds the resident tensors live
  at ``j`` plus ``j``'s own tile buffers; a tensor stays on chip when, at every node of its live range, the live
  resident bytes plus it fit in ``capacity − tile_reserve_j``, where ``tile_reserve_j`` is the double-buffered
  smallest tile set ``j`` needs in that level (:func:`minimum_tile_bytes`). The tiler then gets the capacity
  the resident tensors leave (``reserved_bytes``), so buffers and resident tensors never overlap.
* **Graph inputs and outputs** go through DRAM (``graph_io: dram``), or stay in the activation level when they
  fit (``graph_io: onchip``, as Arm Vela places every feature map of an Ethos-U network in SRAM [ref:Vela]).
* **In place.** An elementwise op may write its output over an input of the same shape and width whose only
  consumer it is (Vela merges such ifm/ofm live ranges: ``ethosu/vela/live_range.py``, 5.2.0): the output then
  needs no room of its own while that op runs.
* **Cascades.** An intermediate map too large to stay whole, between adjacent ops that both stream block by
  block (the Ethos-U MAC engine), stays on chip as a double-buffered stripe (:func:`cascade_stripe_bytes`).
* **Read-only off-chip memory** (flash) holds weights only: an activation that does not fit on chip is a
  :class:`MappingError` naming the tensor, its size and the room left.

Greedy first-fit in execution order (graph inputs first, then each node's output as it is produced). Reshape
and Flatten outputs are views of their input (same placement, no bytes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from accelsim.config.hw import HardwareConfig
from accelsim.errors import MappingError
from accelsim.graph.ir import Graph, Node
from accelsim.hw.layer import LayerShape, layer_shape
from accelsim.hw.memory import activation_level, memory_system
from accelsim.mapping import unit_streaming
from accelsim.mapping.assign import FREE_KINDS, assign_unit, op_class
from accelsim.mapping.tiling import OperandBytes, Residency, candidate_sizes, is_vector_product


@dataclass(frozen=True)
class ResidencyPlan:
    """Which activation tensors stay in the on-chip activation level between layers, and how many bytes of it
    resident tensors hold while each node runs."""

    resident: frozenset[str]              # tensor names
    reserved_bytes: dict[str, float]      # node name -> bytes held by live resident tensors
    inputs_of: dict[str, tuple[str, ...]]  # node name -> its activation inputs
    output_of: dict[str, str]
    level: str | None = None              # the activation level (None: the config has none)
    first: str | None = None              # the first node that does work (nothing runs before it)

    def spills_intermediates(self, graph: Graph) -> bool:
        """Whether some intermediate activation (neither a graph input nor a graph output) goes off chip."""
        if self.level is None:
            return False
        edges = set(graph.inputs) | set(graph.outputs)
        return any(out not in self.resident and out not in edges for out in self.output_of.values())

    def residency(self, graph: Graph, node: Node) -> Residency:
        """The node's :class:`Residency`: the byte share of its activation inputs not held on chip, and
        whether its output stays on chip."""
        ins = self.inputs_of[node.name]
        total = sum(graph.tensors[t].storage_bytes for t in ins)
        from_dram = sum(graph.tensors[t].storage_bytes for t in ins if t not in self.resident)
        return Residency(from_dram / total if total else 1.0, self.output_of[node.name] in self.resident,
                         follows_layer=node.name != self.first)


def minimum_tile_bytes(layer: LayerShape, hw: HardwareConfig, widths: OperandBytes, channel_granule: int,
                       reduction_granule: int) -> float:
    """Bytes the layer's smallest DRAM-boundary tile set takes in the activation level, double buffered.

    The smallest candidates of the tile search (:func:`accelsim.mapping.tiling.candidate_sizes`): one output
    row, the smallest output- and input-channel tiles; per operand whose depth-0 buffer is the activation level:
    the weight tile with its bias/scale parameters, one input band (``KH`` rows) and one output row at
    accumulator width (conservative: the tile may hold partial sums). 0 without an activation level.

    A unit that streams its operands block by block (:class:`accelsim.hw.unit.BlockStreaming`, the Ethos-U MAC
    engine) keeps its input and output blocks in its own buffer; in the activation level it only holds its
    weight buffer (:func:`streamed_reserve_bytes`).
    """
    level = activation_level(hw)
    if level is None:
        return 0.0
    mem = memory_system(hw, 0)
    streaming = unit_streaming(layer, hw, assign_unit(layer, hw))
    if streaming is not None:
        if mem.buffer_of["weights"] != level:
            return 0.0
        return streamed_reserve_bytes(layer, widths, streaming.weight_reads, float(hw.memories[level].size_bytes),
                                      hw.weight_buffering)
    tied = layer.is_depthwise or not layer.has_weights
    tk = int(candidate_sizes(layer.out_channels, channel_granule).min())
    tc = min(-(-tk // layer.depth_multiplier), layer.in_channels) if tied else int(
        candidate_sizes(layer.in_channels, reduction_granule).min())
    taps = layer.kernel_h * layer.kernel_w
    footprint = {
        "weights": (tk * taps * (1 if layer.is_depthwise else tc) * widths.weight + tk * widths.params_per_channel)
        if layer.has_weights else 0.0,
        "inputs": layer.num_inputs * min(layer.kernel_h, layer.in_h) * layer.in_w * tc * widths.activation,
        "outputs": layer.out_w * tk * max(widths.accumulator, widths.output),
    }
    return 2.0 * sum(b for operand, b in footprint.items() if mem.buffer_of[operand] == level)


def streamed_reserve_bytes(layer: LayerShape, widths: OperandBytes, weight_reads: float, capacity_bytes: float,
                           policy: str = "when_reread") -> float:
    """Bytes of the activation level a block-streaming unit's layer holds while it runs: its weight buffer
    (weights at their stored width with bias/scales, at most the level) when its weights are buffered there: every
    layer's but a vector product's under ``weight_buffering: always``, a re-reading layer's (more than one output
    spatial block) under ``when_reread`` (conservatively: :func:`accelsim.mapping.tiling.weights_buffered` may
    still stream re-reads that hide under compute). Vela 5.2.0 [ref:Vela] places feature maps in fast storage
    after the weight buffers, around them (``ethosu/vela/scheduler.py`` ``use_fast_storage_for_feature_maps``:
    the buffered weights are the base usage a feature map must fit next to)."""
    if not layer.has_weights or is_vector_product(layer):
        return 0.0
    if policy != "always" and weight_reads <= 1.0:
        return 0.0
    return min(capacity_bytes, layer.weight_count * widths.weight + layer.out_channels * widths.params_per_channel)


def cascade_stripe_bytes(graph: Graph, producer: Node, consumer: Node, hw: HardwareConfig) -> float | None:
    """Bytes of the activation level an intermediate feature map takes when its producer and its only consumer,
    adjacent in execution order and both run by a block-streaming unit, run as a *cascade*: the pair works in
    horizontal stripes, the producer writing a stripe that the consumer then reads, so the map needs only a
    double-buffered stripe of the rows one band of the consumer's output blocks reads,
    ``2 × ((block_rows − 1) × stride + kernel) × W × C × bytes`` (at most the map). None when either op does not
    stream (a searched tiling), the consumer has several inputs, or either is a Concat (Vela lowers a Concat to
    one copy per input, each writing its slice of the output: no single producer op to cascade with).

    Arm Vela 5.2.0 [ref:Vela] ``ethosu/vela/cascade_builder.py`` (cascades of consecutive ops, each
    intermediate held as a rolling buffer sized from the consumer's IFM stripe; ``--verbose-schedule`` prints it
    as ``ccd``: twice the sum of the consumers' IFM stripes, e.g. MobileNet-v1's first four ops on Ethos-U65).
    Vela also grows the stripe to use the room it has; the minimum band is enough for the placement decision."""
    prod, cons = layer_shape(graph, producer), layer_shape(graph, consumer)
    if cons.num_inputs != 1 or "Concat" in (producer.kind, consumer.kind):
        return None
    streams = [unit_streaming(shape, hw, assign_unit(shape, hw)) for shape in (prod, cons)]
    if any(s is None for s in streams):
        return None
    rows = min(cons.in_h, (max(1, streams[1].block_rows) - 1) * cons.stride_h + cons.kernel_h)
    t = graph.tensors[producer.outputs[0]]
    return 2.0 * t.storage_bytes * rows / max(1, cons.in_h)


def plan_residency(graph: Graph, hw: HardwareConfig, tile_reserve: Callable[[Node], float] | None = None
                   ) -> ResidencyPlan:
    """Place every activation tensor (module docstring): ``tile_reserve(node)`` gives the bytes of the activation
    level the node's own tile buffers need (:func:`minimum_tile_bytes`; None = 0). Raises MappingError when the
    off-chip level is read-only and an activation does not fit on chip."""
    level = activation_level(hw)
    capacity = float(hw.memories[level].size_bytes) if level is not None else 0.0
    nodes = graph.nodes
    n = len(nodes)
    order = {node.name: i for i, node in enumerate(nodes)}
    alias: dict[str, str] = {}
    for node in nodes:
        if node.kind in FREE_KINDS:
            alias[node.outputs[0]] = alias.get(node.inputs[0], node.inputs[0])
    last_use: dict[str, int] = {}
    for node in nodes:
        for t in node.inputs:
            base = alias.get(t, t)
            last_use[base] = max(last_use.get(base, -1), order[node.name])
    graph_outputs = {alias.get(t, t) for t in graph.outputs}
    for t in graph_outputs:
        last_use[t] = n                       # held until the network ends (index n = after the last node)
    graph_inputs = [t for t in graph.inputs if not graph.tensors[t].is_constant]

    # room[j]: bytes resident tensors may take while node j runs (index n: after the last node).
    room = np.full(n + 1, capacity)
    if tile_reserve is not None and level is not None:
        room[:n] -= np.array([tile_reserve(node) for node in nodes], dtype=np.float64)
    held = np.zeros(n + 1)
    resident: set[str] = set()
    read_only = hw.dram.read_only

    consumers: dict[str, int] = {}
    for node in nodes:
        for t in set(node.inputs):
            consumers[alias.get(t, t)] = consumers.get(alias.get(t, t), 0) + 1

    def overwritable(i: int) -> bool:
        """Whether node ``i`` (elementwise) may write its output over a resident input it is the only consumer of."""
        node = nodes[i]
        out = graph.tensors[node.outputs[0]]
        if op_class(layer_shape(graph, node)) != "elementwise":
            return False
        return any(alias.get(t, t) in resident and consumers.get(alias.get(t, t)) == 1
                   and alias.get(t, t) not in graph_inputs and last_use.get(alias.get(t, t)) == i
                   and graph.tensors[t].shape == out.shape and graph.tensors[t].bits == out.bits
                   for t in node.inputs)

    def place(tensor: str, first: int, producer: str, in_place: bool = False) -> None:
        size = graph.tensors[tensor].storage_bytes
        last = max(last_use.get(tensor, first), first)
        is_graph_io = tensor in graph_outputs or tensor in graph_inputs
        wanted = level is not None and (hw.graph_io == "onchip" or not is_graph_io)
        start = first + 1 if in_place else first        # in place: it takes its input's bytes while produced
        if wanted and not np.all(held[start:last + 1] + size <= room[start:last + 1]) and not is_graph_io \
                and last == first + 1 and consumers.get(tensor) == 1:
            stripe = cascade_stripe_bytes(graph, nodes[first], nodes[last], hw)
            if stripe is not None and stripe < size:
                size = stripe                           # the pair runs as a cascade: a stripe buffer on chip
        if wanted and np.all(held[start:last + 1] + size <= room[start:last + 1]):
            held[start:last + 1] += size
            resident.add(tensor)
        elif read_only:
            j = first + int(np.argmax(held[first:last + 1] + size > room[first:last + 1]))
            where = f"while {nodes[j].name!r} runs" if j < n else "after the last node"
            raise MappingError(
                f"activation {tensor!r} ({producer}, {size:,.0f} bytes) does not fit in the on-chip level {level!r} "
                f"({max(0.0, room[j] - held[j]):,.0f} bytes free {where}) and the off-chip level "
                f"{hw.dram_name!r} is read-only: use a larger {level!r} or a smaller network")

    for t in graph_inputs:
        place(t, 0, "graph input")
    for i, node in enumerate(nodes):
        if node.kind not in FREE_KINDS:
            place(node.outputs[0], i, f"output of {node.name!r}", in_place=overwritable(i))
    for view, base in alias.items():
        if base in resident:
            resident.add(view)
    reserved = {node.name: float(held[i]) for i, node in enumerate(nodes)}
    inputs_of = {node.name: tuple(t for t in node.inputs if not graph.tensors[t].is_constant) for node in nodes}
    first = next((node.name for node in nodes if node.kind not in FREE_KINDS), None)
    return ResidencyPlan(frozenset(resident), reserved, inputs_of, {node.name: node.outputs[0] for node in nodes},
                         level, first)
