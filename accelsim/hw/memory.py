"""Memory levels as the mapper and the timing model see them: capacity, bandwidth and which operands they hold.

A hardware config lists its memories innermost first, ending with one DRAM level. For each operand (weights,
inputs, outputs) the *buffer* level is the outermost on-chip level holding it: tiles are staged there by DMA
from DRAM, double buffered. Levels inside it (register files, accumulators) see the datapath's operand stream.
Formulas and sources: ``docs/model.md`` §Memories.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.config.hw import HardwareConfig

OPERANDS: tuple[str, ...] = ("weights", "inputs", "outputs")


@dataclass(frozen=True)
class OnChipLevel:
    """One on-chip memory level: capacity in bytes, bandwidth in bytes/cycle, operands it holds."""

    name: str
    kind: str                      # register_file | sram
    size_bytes: int
    bytes_per_cycle: float
    banks: int
    operands: tuple[str, ...]


@dataclass(frozen=True)
class MemorySystem:
    """The on-chip levels, the buffer level of each operand and the DRAM bandwidth of one config."""

    levels: tuple[OnChipLevel, ...]          # innermost first
    buffer_of: dict[str, str]                # operand -> name of its outermost on-chip level
    dram_name: str
    dram_bytes_per_cycle: float
    double_buffered: bool = True

    def level(self, name: str) -> OnChipLevel:
        return next(lv for lv in self.levels if lv.name == name)

    def buffer_levels(self) -> tuple[OnChipLevel, ...]:
        """The distinct buffer levels (where tiles live), innermost first."""
        names = set(self.buffer_of.values())
        return tuple(lv for lv in self.levels if lv.name in names)

    def usable_bytes(self, level_name: str) -> float:
        """Capacity available to one tile set in ``level_name`` (half the level when double buffered)."""
        return usable_capacity_bytes(self.level(level_name).size_bytes, self.double_buffered)


def dram_bytes_per_cycle(bandwidth_gb_s: float, clock_mhz: float) -> float:
    """DRAM bytes per compute cycle: ``bandwidth_gb_s · 1e9 / (clock_mhz · 1e6)`` (1 GB = 1e9 bytes)."""
    return bandwidth_gb_s * 1e3 / clock_mhz


def usable_capacity_bytes(size_bytes: float, double_buffered: bool) -> float:
    """Bytes one set of tiles may occupy: the whole level, or half of it when double buffered (the other half
    receives the next tiles while the datapath works on these)."""
    return size_bytes / 2 if double_buffered else float(size_bytes)


def transfer_cycles(nbytes: float, bytes_per_cycle: float) -> float:
    """Cycles to move ``nbytes`` over a port of ``bytes_per_cycle`` (fractional: DMA bursts pipeline)."""
    return nbytes / bytes_per_cycle if nbytes > 0 else 0.0


def gb_per_s(nbytes: float, cycles: float, clock_mhz: float) -> float:
    """Average bandwidth in GB/s (1e9 bytes/s) of ``nbytes`` moved in ``cycles`` at ``clock_mhz``."""
    if cycles <= 0:
        return 0.0
    return nbytes / (cycles / (clock_mhz * 1e6)) / 1e9


def memory_system(hw: HardwareConfig, double_buffered: bool = True) -> MemorySystem:
    """Build the :class:`MemorySystem` of a config (levels innermost first; one buffer level per operand)."""
    levels = tuple(
        OnChipLevel(name, lv.kind, lv.size_bytes, float(lv.bytes_per_cycle), lv.banks, tuple(lv.operands))
        for name, lv in hw.onchip_levels().items()
    )
    buffer_of = {}
    for operand in OPERANDS:
        holders = [lv.name for lv in levels if operand in lv.operands]
        buffer_of[operand] = holders[-1]
    return MemorySystem(levels, buffer_of, hw.dram_name, hw.dram_bytes_per_cycle, double_buffered)


def inner_levels(mem: MemorySystem, operand: str) -> tuple[OnChipLevel, ...]:
    """On-chip levels holding ``operand`` inside its buffer level (innermost first), e.g. a vector register file."""
    holders = [lv for lv in mem.levels if operand in lv.operands]
    return tuple(holders[:-1])


def ceil_div(a: int, b: int) -> int:
    """Integer ceiling of ``a / b``."""
    return -(-a // b)


def fits(nbytes: float, capacity_bytes: float) -> bool:
    """Whether ``nbytes`` fit in ``capacity_bytes`` (with a tolerance for float rounding)."""
    return nbytes <= capacity_bytes * (1 + 1e-12) or math.isclose(nbytes, capacity_bytes)
