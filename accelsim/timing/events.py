"""Discrete-event (simpy) model of the double-buffered tile pipeline of one layer.

Processes: a read DMA engine (loads tiles into a two-slot input buffer), the compute unit (needs a loaded
tile and a free accumulator slot), the scale unit (accumulators -> a two-slot output buffer) and a write DMA
engine (output buffer -> DRAM). Both DMA engines share one DRAM channel (a simpy ``Resource``, first come first
served), so reads and writes compete for bandwidth. Stall cycles are cycles the compute unit is not computing.

Runs of identical tiles are collapsed: each long run is simulated with ``k``, ``k + 1`` and ``k + 2`` tiles;
once both increments equal the run's bottleneck period (the pipeline runs at its busiest resource's rate) the
latency of ``count`` tiles is extrapolated linearly. Otherwise ``k`` is doubled, up to simulating the full run.
A whole network therefore costs a few short simulations per layer.

``prefetch_cycles`` injects the next layer's weight prefetch (:mod:`accelsim.timing.network`): one read
transfer of that many cycles that the read DMA issues in order, right after the layer's own last load (one
in-order load queue, as TPU v1's weight stream and Vela's DMA command stream are), then first come first
served with the layer's stores on the shared channel. It is not preempted: a store that arrives while it
holds the channel waits for it.
"""
from __future__ import annotations

from functools import lru_cache

import simpy

from accelsim.timing.closed_form import TileRun, TileStep

#: Tiles of a run simulated before extrapolating.
STEADY_TILES = 4
#: Input, accumulator and output buffer slots (double buffering).
BUFFER_SLOTS = 2


def simulate_steps(steps: tuple[TileStep, ...], prefetch_cycles: float = 0.0) -> float:
    """Latency in cycles of the pipeline over ``steps``, simulated event by event with simpy; with
    ``prefetch_cycles`` > 0 the next layer's weight prefetch follows the last load on the DRAM channel (the
    layer ends when both its last store and the prefetch are done)."""
    if not steps:
        return float(prefetch_cycles)
    env = simpy.Environment()
    dram = simpy.Resource(env, capacity=1)
    env.process(_layer(env, dram, steps, prefetch_cycles))
    env.run()
    return float(env.now)


def simulate_network_steps(layers: tuple[tuple[tuple[TileStep, ...], float], ...]) -> tuple[float, ...]:
    """End time in cycles of each layer of a network simulated in one simpy environment, uncollapsed: ``layers``
    holds per layer its tile steps (its first load already shortened by what it loaded under its predecessor)
    and the cycles of its successor's weights prefetched under it. All layers share one DRAM channel; a layer
    starts when its predecessor and the prefetch under it are done. The reference of
    :func:`accelsim.timing.network.network_event`, which composes collapsed single-layer simulations."""
    env = simpy.Environment()
    dram = simpy.Resource(env, capacity=1)
    ends: list[float] = []

    def network():
        for steps, prefetch_cycles in layers:
            if steps:
                yield env.process(_layer(env, dram, steps, prefetch_cycles))
            ends.append(float(env.now))

    env.process(network())
    env.run()
    return tuple(ends)


def _layer(env: simpy.Environment, dram: simpy.Resource, steps: tuple[TileStep, ...], prefetch_cycles: float):
    """simpy process: one layer's tile pipeline on the shared ``dram`` channel, plus a prefetch of
    ``prefetch_cycles`` after its last load; it ends when the last store and the prefetch are done."""
    in_free = simpy.Container(env, capacity=BUFFER_SLOTS, init=BUFFER_SLOTS)
    acc_free = simpy.Container(env, capacity=BUFFER_SLOTS, init=BUFFER_SLOTS)
    out_free = simpy.Container(env, capacity=BUFFER_SLOTS, init=BUFFER_SLOTS)
    loaded, computed, scaled = simpy.Store(env), simpy.Store(env), simpy.Store(env)
    last_granted = env.event()

    def read_dma():
        for i, step in enumerate(steps):
            yield in_free.get(1)
            with dram.request() as req:
                yield req
                if i == len(steps) - 1:
                    last_granted.succeed()
                yield env.timeout(step.load_cycles)
            yield loaded.put(step)

    def compute_unit():
        for _ in steps:
            step = yield loaded.get()
            yield acc_free.get(1)
            yield env.timeout(step.compute_cycles)
            yield in_free.put(1)
            yield computed.put(step)

    def scale_unit():
        for _ in steps:
            step = yield computed.get()
            yield out_free.get(1)
            yield env.timeout(step.scale_cycles)
            yield acc_free.put(1)
            yield scaled.put(step)

    def write_dma():
        for _ in steps:
            step = yield scaled.get()
            with dram.request() as req:
                yield req
                yield env.timeout(step.store_cycles)
            yield out_free.put(1)

    def weight_dma():
        yield last_granted                  # in order: after the layer's own last load
        with dram.request() as req:
            yield req
            yield env.timeout(prefetch_cycles)

    processes = [env.process(process()) for process in (read_dma, compute_unit, scale_unit, write_dma)]
    if prefetch_cycles > 0:
        processes.append(env.process(weight_dma()))
    yield env.all_of(processes)


def _expand(runs: tuple[TileRun, ...], counts: tuple[int, ...]) -> tuple[TileStep, ...]:
    return tuple(step for run, n in zip(runs, counts) for step in (run.step,) * n)


def _latency_with_run(runs: tuple[TileRun, ...], counts: tuple[int, ...], i: int,
                      base: float) -> tuple[float, int | None]:
    """Latency with run ``i`` at its full count and the others at ``counts`` (``base`` is the latency at
    ``counts``), by periodic extrapolation, and the count ``k`` of run ``i`` from which it extrapolated (None when
    it simulated the full run).

    Extrapolation needs the run to have reached its steady state. Equal increments alone are not proof: while
    buffered loads hide a DRAM limit slightly above the compute time, the increment stays at the compute time for
    a few tiles before it grows. So the last two increments must both equal the run's bottleneck period
    (``TileStep.bottleneck_cycles``), a lower bound on the cycles per tile that a saturated resource then
    sustains; otherwise ``k`` doubles, up to simulating the full run.
    """
    full = runs[i].count
    period = runs[i].step.bottleneck_cycles

    def sim(m: int) -> float:
        return _simulated(_expand(runs, counts[:i] + (m,) + counts[i + 1:]), 0.0)

    k = counts[i]
    l0 = base
    while full - k > 2:
        l1, l2 = sim(k + 1), sim(k + 2)
        tolerance = 1e-9 * max(1.0, l2)
        if abs((l1 - l0) - period) <= tolerance and abs((l2 - l1) - period) <= tolerance:
            return l0 + (full - k) * period, k
        k = min(2 * k, full - 2)
        l0 = sim(k)
    return sim(full), None


@lru_cache(maxsize=16384)
def _simulated(steps: tuple[TileStep, ...], prefetch_cycles: float) -> float:
    """:func:`simulate_steps`, memoized (the prefetch variant of a pipeline reuses its plain simulations)."""
    return simulate_steps(steps, prefetch_cycles)


@lru_cache(maxsize=4096)
def _collapsed(runs: tuple[TileRun, ...]) -> tuple[float, tuple[int | None, ...]]:
    """Latency of ``runs`` (no empty runs) by periodic extrapolation of each long run, and per long run the
    count it extrapolated from (None: simulated in full)."""
    counts = tuple(min(r.count, STEADY_TILES) for r in runs)
    long = [i for i, r in enumerate(runs) if r.count > counts[i]]
    base = _simulated(_expand(runs, counts), 0.0)
    results = [_latency_with_run(runs, counts, i, base) for i in long]
    return base + sum(latency - base for latency, _ in results), tuple(k for _, k in results)


@lru_cache(maxsize=4096)
def event_latency_cycles(runs: tuple[TileRun, ...], prefetch_cycles: float = 0.0) -> float:
    """Latency in cycles of ``runs`` (in order), long runs collapsed by exact periodic extrapolation; with
    ``prefetch_cycles`` of the next layer's weights loaded under it (see :func:`simulate_steps`).

    The prefetch follows the last load, so it only changes the pipeline's tail. When the last long run reached
    its steady state at ``k`` tiles (the plain collapse extrapolated from there) and the prefetch adds the same
    delay to the truncated pipeline at ``k``, ``k + 1`` and ``k + 2`` tiles (whose plain simulations the collapse
    already ran), the latency is the plain one plus that delay; otherwise the full run is simulated with the
    prefetch."""
    runs = tuple(r for r in runs if r.count > 0)
    alone, steady_from = _collapsed(runs)
    if prefetch_cycles <= 0:
        return alone
    counts = tuple(min(r.count, STEADY_TILES) for r in runs)
    long = [i for i, r in enumerate(runs) if r.count > counts[i]]
    if long and steady_from[-1] is not None:
        i, k = long[-1], steady_from[-1]
        delays = []
        for m in (k, k + 1, k + 2):
            steps = _expand(runs, counts[:i] + (m,) + counts[i + 1:])
            delays.append(_simulated(steps, prefetch_cycles) - _simulated(steps, 0.0))
        if max(delays) - min(delays) <= 1e-9 * max(1.0, abs(delays[0]), prefetch_cycles):
            return alone + delays[0]
    # No steady tail to reuse (the plain collapse simulated the full run too): simulate it with the prefetch.
    # The period test alone would not do: the prefetch's delay can still shrink while the increments already
    # equal the bottleneck period.
    return _simulated(_expand(runs, tuple(r.count for r in runs)), prefetch_cycles)
