"""Closed-form latency of a double-buffered tile pipeline: load -> compute -> scale -> store.

Each tile ``i`` needs ``load_i`` cycles of DRAM reads, ``compute_i`` cycles on its compute unit, ``scale_i``
cycles on the requantization unit and ``store_i`` cycles of DRAM writes; loads and stores share one DRAM
channel. With double buffering every stage overlaps the others, so the layer takes as long as its busiest
resource plus the pipeline fill before it and the drain after it (the classic bottleneck bound of a
software-pipelined loop; the same ``max(compute, memory)`` per pass as Arm Vela's estimator):

* compute-bound: ``load_0 + Σ compute_i + scale_last + store_last``
* scale-bound:   ``load_0 + compute_0 + Σ scale_i + store_last``
* DRAM-bound:    ``Σ (load_i + store_i) + max(0, compute_last + scale_last − store_{n−2} − store_{n−3})``:
  the channel is busy all the time except while the last tile is computed and scaled, when at most the stores
  of the two previous tiles (two output buffer slots) can overlap it.

The latency is the largest of the three. :mod:`accelsim.timing.events` simulates the same pipeline event by
event; in each regime the two agree exactly for identical tiles (``tests/test_timing.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

#: Stores of earlier tiles that can still be queued when the last tile's load completes: one per output
#: buffer slot (double buffering).
OVERLAPPING_STORES = 2


@dataclass(frozen=True)
class TileStep:
    """Per-tile stage times in cycles."""

    load_cycles: float
    compute_cycles: float
    scale_cycles: float
    store_cycles: float

    @property
    def bottleneck_cycles(self) -> float:
        """The steady-state cycles per tile of a run of identical tiles: the busiest resource,
        ``max(load + store, compute, scale)`` (loads and stores share the one DRAM channel)."""
        return max(self.load_cycles + self.store_cycles, self.compute_cycles, self.scale_cycles)


@dataclass(frozen=True)
class TileRun:
    """``count`` consecutive identical tiles."""

    count: int
    step: TileStep


def expand_totals(runs: tuple[TileRun, ...]) -> tuple[float, float, float, float]:
    """Total load, compute, scale and store cycles over all runs."""
    load = sum(r.count * r.step.load_cycles for r in runs)
    compute = sum(r.count * r.step.compute_cycles for r in runs)
    scale = sum(r.count * r.step.scale_cycles for r in runs)
    store = sum(r.count * r.step.store_cycles for r in runs)
    return load, compute, scale, store


def _last_steps(runs: tuple[TileRun, ...], n: int) -> list[TileStep]:
    """The last ``n`` tile steps (fewer if the pipeline is shorter), in order."""
    steps: list[TileStep] = []
    for run in reversed(runs):
        steps[:0] = [run.step] * min(run.count, n - len(steps))
        if len(steps) == n:
            break
    return steps


def pipeline_latency_cycles(runs: tuple[TileRun, ...]) -> float:
    """Latency in cycles of the tile pipeline ``runs`` (in execution order) by the bottleneck formula above."""
    runs = tuple(r for r in runs if r.count > 0)
    if not runs:
        return 0.0
    first, last = runs[0].step, runs[-1].step
    load, compute, scale, store = expand_totals(runs)
    compute_bound = first.load_cycles + compute + last.scale_cycles + last.store_cycles
    scale_bound = first.load_cycles + first.compute_cycles + scale + last.store_cycles
    overlap = sum(step.store_cycles for step in _last_steps(runs, OVERLAPPING_STORES + 1)[:-1])
    dram_bound = load + store + max(0.0, last.compute_cycles + last.scale_cycles - overlap)
    return max(compute_bound, scale_bound, dram_bound)


def dram_idle_cycles(runs: tuple[TileRun, ...]) -> float:
    """Cycles the DRAM channel idles during the pipeline ``runs``: its closed-form latency minus all load and
    store cycles (what a transfer that only takes otherwise idle cycles can use)."""
    load, _, _, store = expand_totals(tuple(r for r in runs if r.count > 0))
    return max(0.0, pipeline_latency_cycles(runs) - load - store)


def prefetch_hidden_cycles(prefetch_cycles: float, idle_dram_cycles: float, room_cycles: float) -> float:
    """Cycles of a layer's first weight load hidden under the previous layer (closed form, one boundary):
    ``min(prefetchable weight-load cycles, idle DRAM cycles of the previous layer's pipeline, room)``, where
    room is the weight level's free bytes while the previous layer runs, in DRAM cycles.

    The prefetch is taken to use only cycles the channel would otherwise idle (an ideal lowest-priority DMA),
    so it never delays the previous layer. Mechanism: TPU v1 stages the next weights from DRAM while the matrix
    unit computes ([ref:Jouppi17] §2, the weight FIFO); Vela pre-buffers the next operation's first weight
    buffer under the current one, limited by that operation's cycles and the free SRAM ([ref:Vela]
    ``ethosu/vela/scheduler.py``, slack buffering cycles and memory)."""
    return max(0.0, min(prefetch_cycles, idle_dram_cycles, room_cycles))


def with_first_load_reduced(runs: tuple[TileRun, ...], cycles: float) -> tuple[TileRun, ...]:
    """``runs`` with ``cycles`` taken off the first tile's load (loaded earlier, under the previous layer)."""
    runs = tuple(r for r in runs if r.count > 0)
    if not runs or cycles <= 0:
        return runs
    first = runs[0].step
    reduced = TileStep(max(0.0, first.load_cycles - cycles), first.compute_cycles, first.scale_cycles,
                       first.store_cycles)
    head = (TileRun(1, reduced),)
    rest = (TileRun(runs[0].count - 1, first),) if runs[0].count > 1 else ()
    return head + rest + runs[1:]
