"""Activation residency between layers: which intermediate tensors stay in the on-chip activation level."""
from __future__ import annotations

from dataclasses import dataclass

from accelsim.config.hw import HardwareConfig
from accelsim.graph.ir import Graph, Node
from accelsim.hw.memory import activation_level
from accelsim.mapping.assign import FREE_KINDS
from accelsim.mapping.tiling import Residency

#: Share of the activation level that resident activations may occupy; the rest holds the double-buffered tiles.
RESIDENT_FRACTION = 0.5


@dataclass(frozen=True)
class ResidencyPlan:
    """Which activation tensors stay in the on-chip activation level between layers, and how many bytes of it
    resident tensors hold while each node runs."""

    resident: frozenset[str]              # tensor names
    reserved_bytes: dict[str, float]      # node name -> bytes held by live resident tensors
    inputs_of: dict[str, tuple[str, ...]]  # node name -> its activation inputs
    output_of: dict[str, str]

    def residency(self, graph: Graph, node: Node) -> Residency:
        """The node's :class:`Residency`: the byte share of its activation inputs not held on chip, and
        whether its output stays on chip."""
        ins = self.inputs_of[node.name]
        total = sum(graph.tensors[t].storage_bytes for t in ins)
        from_dram = sum(graph.tensors[t].storage_bytes for t in ins if t not in self.resident)
        return Residency(from_dram / total if total else 1.0, self.output_of[node.name] in self.resident)


def plan_residency(graph: Graph, hw: HardwareConfig) -> ResidencyPlan:
    """Greedy first-fit in execution order: an intermediate activation stays on chip when it and the resident
    tensors live at the same time fit in :data:`RESIDENT_FRACTION` of the activation level
    (:func:`accelsim.hw.memory.activation_level`); graph inputs and outputs always go through DRAM. Reshape
    and Flatten outputs are views of their input (same residency, no bytes)."""
    level = activation_level(hw)
    budget = RESIDENT_FRACTION * hw.memories[level].size_bytes if level is not None else 0.0
    order = {n.name: i for i, n in enumerate(graph.nodes)}
    alias: dict[str, str] = {}
    for n in graph.nodes:
        if n.kind in FREE_KINDS:
            alias[n.outputs[0]] = alias.get(n.inputs[0], n.inputs[0])
    last_use: dict[str, int] = {}
    for n in graph.nodes:
        for t in n.inputs:
            base = alias.get(t, t)
            last_use[base] = max(last_use.get(base, -1), order[n.name])
    for t in graph.outputs:
        last_use[alias.get(t, t)] = len(graph.nodes)
    outputs = {alias.get(t, t) for t in graph.outputs}
    resident: set[str] = set()
    reserved: dict[str, float] = {}
    live: dict[str, tuple[int, float]] = {}        # tensor -> (last use, bytes)
    for i, n in enumerate(graph.nodes):
        live = {t: v for t, v in live.items() if v[0] >= i}
        out = n.outputs[0]
        if n.kind not in FREE_KINDS and out not in outputs and level is not None:
            size = graph.tensors[out].storage_bytes
            if sum(v[1] for v in live.values()) + size <= budget:
                resident.add(out)
                live[out] = (last_use.get(out, i), size)
        reserved[n.name] = sum(v[1] for v in live.values())
    for view, base in alias.items():
        if base in resident:
            resident.add(view)
    inputs_of = {n.name: tuple(t for t in n.inputs if not graph.tensors[t].is_constant) for n in graph.nodes}
    return ResidencyPlan(frozenset(resident), reserved, inputs_of, {n.name: n.outputs[0] for n in graph.nodes})
