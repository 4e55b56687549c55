"""Inter-layer overlap: the next layer's weights are prefetched while the current layer computes.

Layers run one after another on the compute units, but the DRAM channel need not idle between them: the first
tile of layer ``i + 1`` waits for its whole working set, and the weight (and bias/scale) part of it does not
depend on layer ``i``. It can be loaded while layer ``i`` runs, into the room layer ``i`` leaves free in the
weight buffer level. TPU v1 stages weights from DRAM while the matrix unit computes ([ref:Jouppi17] §2: the
weight FIFO is four tiles deep); Arm Vela pre-buffers the next operation's first weight buffer under the current
operation, limited by that operation's cycles and the free SRAM ([ref:Vela] ``ethosu/vela/scheduler.py``, slack
buffering cycles and memory; ``npu_performance.py`` subtracts the slack from the first weight transfer).
Activation loads of layer ``i + 1`` still wait for layer ``i``: they start when it ends.

Per layer (:class:`LayerPipeline`): its tile pipeline, the load cycles of its first tile that are weights
(``prefetch_cycles``) and the weight level's free room while it runs (``room_cycles``, bytes / DRAM bytes per
cycle). At each boundary ``min(prefetch_{i+1}, room_i)`` cycles of load move under layer ``i``:

* **closed form** (:func:`network_closed_form`): hidden ``= min(prefetch, idle DRAM cycles of layer i, room)``
  (:func:`accelsim.timing.closed_form.prefetch_hidden_cycles`): an ideal DMA that only uses idle cycles;
* **event model** (:func:`network_event`): the moved load is one read transfer injected into layer ``i``'s simpy
  pipeline (:func:`accelsim.timing.events.simulate_steps`). The read DMA issues it in order, right after layer
  ``i``'s own last load (one in-order load queue: TPU v1 streams weight tiles in program order; Vela's
  slack for a streamed operation is its last weight slice's cycles), and it shares the channel first come
  first served with layer ``i``'s stores, not preempted. So it can only use the DRAM idle time after layer
  ``i``'s last load, and a store that arrives while it holds the channel waits: two things the closed form
  does not see. When layer ``i``'s idle DRAM time is all at its end (one tile, or compute-bound tail) the two
  agree exactly.

The event model composes collapsed single-layer simulations; :func:`accelsim.timing.events.simulate_network_steps`
runs the whole network in one simpy environment, every tile expanded, as its reference (tested equal).

Both report per layer its latency in the overlapped schedule (from the end of the previous layer to its own
end) and its ``hidden`` cycles (net cycles its prefetch saved: moved load minus what it delayed layer ``i``), so
``Σ latency = Σ isolated latency − Σ hidden`` = the network latency.
"""
from __future__ import annotations

from dataclasses import dataclass

from accelsim.timing.closed_form import (
    TileRun,
    dram_idle_cycles,
    pipeline_latency_cycles,
    prefetch_hidden_cycles,
)
from accelsim.timing.events import event_latency_cycles


@dataclass(frozen=True)
class LayerPipeline:
    """One layer as the network timing sees it (cycles at the compute clock)."""

    runs: tuple[TileRun, ...]       # its DRAM-boundary tile pipeline (empty: a free op, 0 cycles)
    prefetch_cycles: float = 0.0    # load cycles of its first tile that are weights/params (prefetchable)
    room_cycles: float = 0.0        # weight-level bytes free while it runs / DRAM bytes per cycle

    @property
    def prefetchable_cycles(self) -> float:
        """``prefetch_cycles``, at most its first tile's load (nothing else can be moved)."""
        first_load = next((r.step.load_cycles for r in self.runs if r.count > 0), 0.0)
        return max(0.0, min(self.prefetch_cycles, first_load))


@dataclass(frozen=True)
class NetworkTiming:
    """Per-layer latency in the overlapped schedule and hidden (saved) cycles, in layer order."""

    latency_cycles: tuple[float, ...]
    hidden_cycles: tuple[float, ...]

    @property
    def total_latency_cycles(self) -> float:
        return float(sum(self.latency_cycles))


def moved_cycles(layers: tuple[LayerPipeline, ...]) -> tuple[float, ...]:
    """Per layer, the cycles of its first-tile load moved under the previous timed layer:
    ``min(prefetchable cycles, room of the previous layer)``; 0 for the first timed layer (nothing precedes it)
    and for free ops."""
    moved, prev = [], None
    for layer in layers:
        if not layer.runs:
            moved.append(0.0)
            continue
        moved.append(max(0.0, min(layer.prefetchable_cycles, prev.room_cycles)) if prev is not None else 0.0)
        prev = layer
    return tuple(moved)


def _successor_moved(layers: tuple[LayerPipeline, ...], moved: tuple[float, ...]) -> tuple[float, ...]:
    """Per layer, the cycles its next timed layer moves under it (0 for the last one and free ops)."""
    out = [0.0] * len(layers)
    prev = None
    for i, layer in enumerate(layers):
        if not layer.runs:
            continue
        if prev is not None:
            out[prev] = moved[i]
        prev = i
    return tuple(out)


def network_sequential(layers: tuple[LayerPipeline, ...], model: str = "event") -> NetworkTiming:
    """No overlap: every layer timed alone (``model`` ``event`` or ``closed_form``), nothing hidden."""
    latency = tuple(_isolated(layer.runs, model) for layer in layers)
    return NetworkTiming(latency, (0.0,) * len(layers))


def network_closed_form(layers: tuple[LayerPipeline, ...]) -> NetworkTiming:
    """Overlapped schedule by the closed form: per boundary hidden ``= min(moved, idle DRAM cycles of the
    previous timed layer)``, taken off the layer's isolated latency (every resource bound of
    :func:`pipeline_latency_cycles` contains the first load, so a shorter first load shortens it by as much)."""
    latency, hidden, prev = [], [], None
    for layer in layers:
        if not layer.runs:
            latency.append(0.0)
            hidden.append(0.0)
            continue
        h = 0.0
        if prev is not None:
            h = prefetch_hidden_cycles(layer.prefetchable_cycles, dram_idle_cycles(prev.runs), prev.room_cycles)
        latency.append(pipeline_latency_cycles(layer.runs) - h)
        hidden.append(h)
        prev = layer
    return NetworkTiming(tuple(latency), tuple(hidden))


def network_event(layers: tuple[LayerPipeline, ...]) -> NetworkTiming:
    """Overlapped schedule by the simpy event model: layer ``i`` takes its simulated latency, minus the load it
    moved under its predecessor (every event follows the first load, so a shorter first load shifts the whole
    schedule), plus the delay its successor's prefetch, injected after its last load, causes it
    (:func:`prefetch_delay_cycles`); layer ``i + 1`` starts when layer ``i`` and the prefetch are done. Hidden
    cycles of layer ``i + 1`` = moved − that delay of layer ``i``."""
    moved = moved_cycles(layers)
    after = _successor_moved(layers, moved)
    latency = []
    delay = [0.0] * len(layers)           # delay layer i suffered from its successor's prefetch
    for i, layer in enumerate(layers):
        if not layer.runs:
            latency.append(0.0)
            continue
        # Every event of the pipeline follows the first load, so a shorter first load shifts it all: reuse the
        # isolated latency (shared by identical layers) instead of simulating the shortened pipeline.
        alone = event_latency_cycles(layer.runs) - moved[i]
        delay[i] = prefetch_delay_cycles(layer.runs, after[i])
        latency.append(alone + delay[i])
    hidden = [0.0] * len(layers)
    prev = None
    for i, layer in enumerate(layers):
        if not layer.runs:
            continue
        if prev is not None:
            h = moved[i] - delay[prev]
            hidden[i] = 0.0 if abs(h) <= 1e-12 * max(1.0, latency[prev]) else h   # rounding of the collapses
        prev = i
    return NetworkTiming(tuple(latency), tuple(hidden))


def prefetch_delay_cycles(runs: tuple[TileRun, ...], prefetch_cycles: float) -> float:
    """Cycles the event model's pipeline ``runs`` grows when ``prefetch_cycles`` of the next layer's weights
    follow its last load (:func:`accelsim.timing.events.event_latency_cycles`). A shorter first load shifts the
    whole schedule, prefetch included, so the delay does not depend on it. One tile needs no simulation: the
    prefetch holds the channel from the end of the load and the tile's store asks for it after compute and
    scale, so the pipeline grows by ``max(0, prefetch − compute − scale)`` (equal to the simulation: tested)."""
    runs = tuple(r for r in runs if r.count > 0)
    if prefetch_cycles <= 0 or not runs:
        return 0.0
    if len(runs) == 1 and runs[0].count == 1:
        step = runs[0].step
        return max(0.0, prefetch_cycles - step.compute_cycles - step.scale_cycles)
    alone = event_latency_cycles(runs)
    delay = event_latency_cycles(runs, prefetch_cycles) - alone
    return 0.0 if abs(delay) <= 1e-12 * max(1.0, alone) else delay      # rounding of the two collapses


def network_timing(layers: tuple[LayerPipeline, ...], model: str = "event", prefetch: bool = True) -> NetworkTiming:
    """The network schedule under timing ``model`` (``event`` or ``closed_form``), with or without
    inter-layer weight prefetch."""
    if not prefetch:
        return network_sequential(layers, model)
    return network_event(layers) if model == "event" else network_closed_form(layers)


def _isolated(runs: tuple[TileRun, ...], model: str) -> float:
    if not runs:
        return 0.0
    return event_latency_cycles(runs) if model == "event" else pipeline_latency_cycles(runs)
