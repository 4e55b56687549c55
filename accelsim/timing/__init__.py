"""Timing of one layer's tile pipeline (a closed form and a simpy discrete-event model that agree) and of the
network schedule with inter-layer weight prefetch (:mod:`accelsim.timing.network`)."""
from accelsim.timing.closed_form import TileRun, TileStep, pipeline_latency_cycles
from accelsim.timing.events import event_latency_cycles, simulate_steps
from accelsim.timing.network import LayerPipeline, NetworkTiming, network_timing

__all__ = ["LayerPipeline", "NetworkTiming", "TileRun", "TileStep", "event_latency_cycles", "network_timing",
           "pipeline_latency_cycles", "simulate_steps"]
