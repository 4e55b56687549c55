"""Memory levels as the mapper and the timing model see them: capacity, bandwidth and which operands they hold.

A hardware config lists its memories innermost first, ending with one DRAM level. Each operand (weights, inputs,
outputs) is staged by DMA through its SRAM levels, outermost first: DRAM -> outermost SRAM (staging depth 0) ->
next SRAM (depth 1) ... Every staging boundary is tiled (double buffered); the innermost SRAM of an operand
serves the datapath, and register files inside it see the datapath's operand traffic.
Formulas and sources: ``docs/model.md`` §Memories.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import get_args

from accelsim.config.hw import HardwareConfig, Operand

OPERANDS: tuple[str, ...] = get_args(Operand)


@dataclass(frozen=True)
class OnChipLevel:
    """One on-chip memory level: capacity in bytes, bandwidth in bytes/cycle, operands it holds."""

    name: str
    kind: str                      # register_file | sram
    size_bytes: int
    bytes_per_cycle: float
    banks: int
    operands: tuple[str, ...]
    double_buffered: bool = True   # two tile sets per staging boundary (config key ``double_buffered``)


@dataclass(frozen=True)
class MemorySystem:
    """One staging boundary of a config: the buffer level of each operand and the bandwidth feeding them.

    ``depth`` 0 is the DRAM boundary (buffers = the outermost on-chip SRAM of each operand, fed by DRAM); depth
    ``d`` > 0 stages tiles from the level at depth ``d − 1`` into the next inner SRAM (e.g. L2 -> VTCM). An
    operand with fewer SRAM levels than ``depth + 1`` has no buffer at that depth (``None``): it streams from
    its outer buffer.
    """

    levels: tuple[OnChipLevel, ...]          # all on-chip levels, innermost first
    buffer_of: dict[str, str | None]         # operand -> buffer level name at this depth
    source_name: str                         # the level feeding the buffers (the DRAM level at depth 0)
    source_bytes_per_cycle: float
    depth: int = 0
    reserved_bytes: float = 0.0              # held by resident activations in the DRAM-boundary activation level
    resident_level: str | None = None        # that level (see :func:`activation_level`)
    psum_level: str | None = None            # where partial sums of this boundary's output tiles accumulate
                                             # (see :func:`psum_level`; None = the outputs' buffer level)
    source_read_only: bool = False           # the source cannot be written (flash): no drains, no psum spills

    def level(self, name: str) -> OnChipLevel:
        return next(lv for lv in self.levels if lv.name == name)

    def buffer_levels(self) -> tuple[OnChipLevel, ...]:
        """The distinct buffer levels at this depth (where tiles live), innermost first."""
        names = {n for n in self.buffer_of.values() if n is not None}
        return tuple(lv for lv in self.levels if lv.name in names)

    @property
    def psum_buffer(self) -> str | None:
        """The level holding partial sums at this boundary (:attr:`psum_level`, else the outputs' buffer)."""
        return self.psum_level if self.psum_level is not None else self.buffer_of["outputs"]

    def key(self) -> tuple:
        """A hashable summary of everything a tile search reads from this boundary (memoisation key)."""
        return (self.levels, tuple(sorted(self.buffer_of.items())), self.source_name, self.source_bytes_per_cycle,
                self.depth, self.reserved_bytes, self.resident_level, self.psum_level, self.source_read_only)

    def usable_bytes(self, level_name: str) -> float:
        """Capacity available to one tile set in ``level_name``: the level minus resident activations, halved
        when the level is double buffered (the default; config key ``double_buffered``)."""
        reserved = self.reserved_bytes if level_name == self.resident_level else 0.0
        level = self.level(level_name)
        return usable_capacity_bytes(level.size_bytes - reserved, double_buffered=level.double_buffered)


def staging_chain(hw: HardwareConfig, operand: str) -> tuple[str, ...]:
    """On-chip levels that stage ``operand`` by DMA, innermost first: its SRAM levels, or its register files
    when it has no SRAM (register files inside an SRAM only see the datapath's operand stream)."""
    holders = [(name, lv) for name, lv in hw.onchip_levels().items() if operand in lv.operands]
    srams = tuple(name for name, lv in holders if lv.kind == "sram")
    return srams or tuple(name for name, _ in holders)


def staging_depths(hw: HardwareConfig) -> int:
    """Number of staging boundaries (1 for a single SRAM level per operand)."""
    return max(len(staging_chain(hw, op)) for op in OPERANDS)


def usable_capacity_bytes(size_bytes: float, double_buffered: bool) -> float:
    """Bytes one set of tiles may occupy: the whole level, or half of it when double buffered (the other half
    receives the next tiles while the datapath works on these)."""
    return size_bytes / 2 if double_buffered else float(size_bytes)


def gb_per_s(nbytes: float, cycles: float, clock_mhz: float) -> float:
    """Average bandwidth in GB/s (1e9 bytes/s) of ``nbytes`` moved in ``cycles`` at ``clock_mhz``."""
    if cycles <= 0:
        return 0.0
    return nbytes / (cycles / (clock_mhz * 1e6)) / 1e9


def activation_level(hw: HardwareConfig) -> str | None:
    """The level where activations can stay between layers instead of going to DRAM: the outermost staging
    level of inputs when it is also that of outputs (a unified buffer); None for split ifmap/ofmap SRAMs."""
    inputs, outputs = staging_chain(hw, "inputs"), staging_chain(hw, "outputs")
    return inputs[-1] if inputs[-1] == outputs[-1] else None


def accumulator_level(hw: HardwareConfig) -> str | None:
    """A dedicated accumulator level: the innermost staging level of outputs when it holds outputs only and an
    outer level also stages outputs (TPU v1's 4 MiB accumulators below the matrix unit, whose requantized results
    go to the Unified Buffer: Jouppi et al., ISCA 2017 §2 [ref:Jouppi17]); None otherwise (a single output level,
    e.g. Gemmini's accumulator, is the outputs' buffer at every boundary anyway)."""
    chain = staging_chain(hw, "outputs")
    inner = chain[0]
    if len(chain) > 1 and tuple(hw.memories[inner].operands) == ("outputs",):
        return inner
    return None


def psum_level(hw: HardwareConfig, depth: int) -> str | None:
    """Where partial sums of the output tiles staged at boundary ``depth`` accumulate: the dedicated
    :func:`accumulator_level` when the config has one (partial sums never live in the outer output level there;
    only final, requantized outputs do), else the outputs' buffer level at that depth (None: no buffer)."""
    chain = staging_chain(hw, "outputs")
    if depth >= len(chain):
        return None
    acc = accumulator_level(hw)
    return acc if acc is not None else chain[len(chain) - 1 - depth]


#: Recently built memory systems: id(config) -> (config, {(depth, reserved bytes): MemorySystem}), least recently
#: used first out. Configs are frozen, and the entry keeps its config alive, so an id is never reused while its
#: entry exists. A few configs suffice (a simulation uses one; a sweep moves from one to the next).
_SYSTEMS: collections.OrderedDict[int, tuple[HardwareConfig, dict[tuple[int, float], MemorySystem]]] = (
    collections.OrderedDict())
_SYSTEMS_KEPT = 8


def memory_system(hw: HardwareConfig, depth: int = 0, reserved_bytes: float = 0.0) -> MemorySystem:
    """The :class:`MemorySystem` of ``hw`` at staging boundary ``depth`` (0 = DRAM -> outermost SRAM);
    ``reserved_bytes`` of the activation level are held by resident activations (depth 0 only). Memoised per
    config object."""
    entry = _SYSTEMS.get(id(hw))
    if entry is None or entry[0] is not hw:
        entry = _SYSTEMS[id(hw)] = (hw, {})
        if len(_SYSTEMS) > _SYSTEMS_KEPT:
            _SYSTEMS.popitem(last=False)
    else:
        _SYSTEMS.move_to_end(id(hw))
    key = (depth, float(reserved_bytes))
    mem = entry[1].get(key)
    if mem is None:
        mem = entry[1][key] = _build_memory_system(hw, depth, reserved_bytes)
    return mem


def _build_memory_system(hw: HardwareConfig, depth: int, reserved_bytes: float) -> MemorySystem:
    levels = tuple(
        OnChipLevel(name, lv.kind, lv.size_bytes, float(lv.bytes_per_cycle), lv.banks, tuple(lv.operands),
                    lv.double_buffered)
        for name, lv in hw.onchip_levels().items()
    )
    buffer_of: dict[str, str | None] = {}
    sources: dict[str, float] = {}
    for operand in OPERANDS:
        chain = staging_chain(hw, operand)
        if len(chain) <= depth:
            buffer_of[operand] = None
            continue
        buffer_of[operand] = chain[len(chain) - 1 - depth]
        if depth:
            parent = chain[len(chain) - depth]
            sources[parent] = float(hw.memories[parent].bytes_per_cycle)
    if depth == 0:
        return MemorySystem(levels, buffer_of, hw.dram_name, hw.dram_bytes_per_cycle, 0, reserved_bytes,
                            activation_level(hw), psum_level(hw, 0), hw.dram.read_only)
    source = min(sources, key=sources.get)
    return MemorySystem(levels, buffer_of, source, sources[source], depth, psum_level=psum_level(hw, depth))


def ceil_div(a: int, b: int) -> int:
    """Integer ceiling of ``a / b``."""
    return -(-a // b)
