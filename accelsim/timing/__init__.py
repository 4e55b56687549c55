"""Timing of one layer's tile pipeline: a closed form and a simpy discrete-event model that agree."""
from accelsim.timing.closed_form import TileRun, TileStep, pipeline_latency_cycles
from accelsim.timing.events import event_latency_cycles, simulate_steps

__all__ = ["TileRun", "TileStep", "pipeline_latency_cycles", "event_latency_cycles", "simulate_steps"]
