"""Per-layer precision sensitivity of a task on a hardware config (``accelsim sensitivity TASK HW``).

For every MAC layer (Conv2D / FullyConnected, :func:`accelsim.graph.selectors.mac_layers`) and every lower width
the hardware's precision modes offer (:func:`lower_moves`): each weight width below the baseline's at the baseline
activation width (storage-only widths included), and each activation width below the baseline's at the baseline
weight width — for the layer's *output* activation, which is its consumers' input, so the consumers run in that
mode — ONLY that layer moves (a per-node override of the task's quantization) and one :class:`Measurement` is
taken:

* accuracy: PTQ + bit-exact integer execution of the whole evaluation set (:func:`accelsim.tasks.evaluate_task`),
  the drop measured against the baseline quantization's accuracy (not the float model's);
* ``sqnr_db``: SQNR of the **network output** (dequantized final tensor) against the float model's output on the
  same evaluation inputs, ``10 log10(sum r^2 / sum (r - q)^2)`` (the usual signal-to-quantization-noise ratio,
  written out in :func:`sqnr_db`); unlike the accuracy of a few hundred samples it moves with every move, so the
  search (:mod:`accelsim.dse.search`) predicts from it;
* hardware: ``simulate`` of the task's quantized graph (trained weights) with the layer moved; the saving is the
  whole-network total of the baseline minus that of the moved graph (latency cycles, energy pJ, DRAM read + write
  bytes), so residency and prefetch effects of the move are included.

A move PTQ or execution rejects (an activation move into an ``Add`` whose other input stays wider, an accumulator
overflow) is a row with ``status: failed`` and the message; the table goes on. Every measurement is memoised by
its PTQ settings in :class:`Evaluator`, so reruns (and the search that reuses this table) never execute a setting
twice in one process.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from accelsim.config.hw import HardwareConfig
from accelsim.errors import AccelsimError, UnsupportedError
from accelsim.graph.float_exec import run_float
from accelsim.graph.ptq import PTQSettings, with_batch_size
from accelsim.graph.selectors import mac_layers
from accelsim.quant.params import dequantize
from accelsim.tasks import Task, TaskAccuracy, TaskLayerOverride, TaskQuant, evaluate_task, quantized_graph
from accelsim.tasks.evaluate import integer_outputs
from accelsim.tasks.quant import task_quant

#: Whole-network hardware metrics of a measurement (minimised).
HW_METRICS = ("latency_cycles", "energy_pj", "dram_bytes")


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """``10 log10(sum r^2 / sum (r - t)^2)`` in dB (inf when ``test`` equals ``reference``)."""
    ref = np.asarray(reference, np.float64)
    noise = float(np.sum((ref - np.asarray(test, np.float64)) ** 2))
    signal = float(np.sum(ref ** 2))
    if noise == 0.0:
        return math.inf
    return 10.0 * math.log10(signal / noise) if signal > 0 else -math.inf


def lower_weight_bits(hw: HardwareConfig, base: TaskQuant) -> tuple[int, ...]:
    """Weight widths below ``base.weight_bits`` of ``hw``'s precision modes at ``base.activation_bits`` (compute
    and storage-only modes), widest first; UnsupportedError naming the modes when there is none."""
    widths = sorted({m.weight_bits for m in hw.precision.modes
                     if m.activation_bits == base.activation_bits and m.weight_bits < base.weight_bits},
                    reverse=True)
    if not widths:
        modes = ", ".join(m.key for m in hw.precision.modes)
        raise UnsupportedError(
            f"hardware {hw.name!r} has no precision mode with weights narrower than {base.weight_bits} bits at "
            f"{base.activation_bits}-bit activations (its modes: {modes}); nothing to move a layer to")
    return tuple(widths)


def lower_activation_bits(hw: HardwareConfig, base: TaskQuant) -> tuple[int, ...]:
    """Activation widths below ``base.activation_bits`` of ``hw``'s precision modes at ``base.weight_bits``, widest
    first (a layer's output at that width is its consumers' input; they keep ``base.weight_bits``)."""
    return tuple(sorted({m.activation_bits for m in hw.precision.modes
                         if m.weight_bits == base.weight_bits and m.activation_bits < base.activation_bits},
                        reverse=True))


def lower_moves(hw: HardwareConfig, base: TaskQuant) -> tuple[tuple[str, int], ...]:
    """The single-layer moves of the sensitivity table: ``("weight", bits)`` for every lower weight width and
    ``("activation", bits)`` for every lower output-activation width; UnsupportedError when there is none."""
    acts = lower_activation_bits(hw, base)
    try:
        weights = lower_weight_bits(hw, base)
    except UnsupportedError:
        if not acts:
            raise
        weights = ()
    return tuple(("weight", w) for w in weights) + tuple(("activation", a) for a in acts)


def default_base_quant(hw: HardwareConfig, weight_bits: int = 8, activation_bits: int = 8,
                       per_channel: bool | None = None, source: str = "baseline quantization") -> TaskQuant:
    """The baseline quantization: ``weight_bits`` / ``activation_bits``; per-channel weights unless ``hw``'s scale
    unit holds one multiplier per tensor without a fallback (``per_channel=None``; a bool forces it). A width the
    quantizer does not support is a ConfigError naming ``source``."""
    if per_channel is None:
        per_channel = hw.scale_unit.per_channel or hw.scale_unit.fallback != "none"
    return task_quant({"weight_bits": weight_bits, "activation_bits": activation_bits, "per_channel": per_channel},
                      source, key_prefix="base")


def with_layer_weight_bits(base: TaskQuant, bits: dict[str, int]) -> TaskQuant:
    """``base`` with the per-node weight widths ``bits`` (node name -> bits) added to its overrides."""
    overrides = dict(base.overrides)
    for node, w in bits.items():
        old = overrides.get(node, TaskLayerOverride())
        overrides[node] = TaskLayerOverride(weight_bits=w, activation_bits=old.activation_bits)
    return base.model_copy(update={"overrides": overrides})


@lru_cache(maxsize=8)
def _float_outputs(task: Task) -> np.ndarray:
    """The float model's final output on every evaluation batch, concatenated."""
    outs = []
    for x, _ in task.eval_batches():
        graph = with_batch_size(task.graph, len(x))
        outs.append(run_float(graph, {graph.inputs[0]: x})[graph.outputs[0]])
    return np.concatenate(outs)


def output_sqnr_db(task: Task, settings: PTQSettings, accumulator_bits: int | None = None) -> float:
    """SQNR (dB) of the quantized network's dequantized output against the float model's on the evaluation set."""
    qgraph = quantized_graph(task, settings)
    out = qgraph.tensors[qgraph.outputs[0]]
    q = np.concatenate([integer_outputs(qgraph, x, accumulator_bits) for x, _ in task.eval_batches()])
    return sqnr_db(_float_outputs(task), dequantize(q, out.quant))


@dataclass(frozen=True)
class Measurement:
    """One quantization setting measured: accuracy (integer execution), output SQNR (dB) and the whole-network
    hardware totals of its quantized graph (cycles, pJ, DRAM read + write bytes)."""

    accuracy: TaskAccuracy
    sqnr_db: float
    latency_cycles: float
    energy_pj: float
    dram_bytes: float

    def metric(self, name: str) -> float:
        return float(getattr(self, name))


@dataclass
class Evaluator:
    """Measures quantization settings of ``task`` on ``hw``, memoised by PTQ settings (``executions`` counts
    the settings actually executed)."""

    task: Task
    hw: HardwareConfig
    base: TaskQuant
    memo: dict[PTQSettings, Measurement] = field(default_factory=dict)
    executions: int = 0

    @property
    def accumulator_bits(self) -> int:
        return self.hw.precision.accumulator_bits

    @property
    def layers(self) -> tuple[tuple[str, str], ...]:
        """``(name, kind)`` of the task graph's MAC layers in topological order."""
        return mac_layers(self.task.graph)

    def measure(self, quant: TaskQuant) -> Measurement:
        from accelsim.simulate import simulate

        settings = quant.ptq_settings()
        hit = self.memo.get(settings)
        if hit is not None:
            return hit
        self.executions += 1
        acc = evaluate_task(self.task, settings, self.accumulator_bits)
        sqnr = output_sqnr_db(self.task, settings, self.accumulator_bits)
        totals = simulate(quantized_graph(self.task, settings), self.hw).totals
        m = Measurement(acc, sqnr, float(totals["latency_cycles"]), float(totals["energy_pj"]),
                        float(totals["dram_read_bytes"]) + float(totals["dram_write_bytes"]))
        self.memo[settings] = m
        return m


#: Columns of the sensitivity table, in order.
SENSITIVITY_COLUMNS = (
    "layer", "kind", "moved", "weight_bits", "activation_bits", "accuracy_pct", "accuracy_stderr_pct",
    "accuracy_drop_pct", "sqnr_db", "sqnr_loss_db", "latency_saving_cycles", "energy_saving_pj",
    "dram_saving_bytes", "status", "error",
)


def sensitivity_row(ev: Evaluator, layer: str, weight_bits: int | None = None,
                    activation_bits: int | None = None) -> dict[str, object]:
    """One row: ``layer`` alone moved to ``weight_bits`` (weights) and/or ``activation_bits`` (its output
    activation; None keeps the baseline's); drops and savings against the baseline ``ev.base``."""
    kinds = dict(ev.layers)
    if layer not in kinds:
        raise UnsupportedError(f"{layer!r} is not a MAC layer of task {ev.task.name!r}")
    w = ev.base.weight_bits if weight_bits is None else weight_bits
    a = ev.base.activation_bits if activation_bits is None else activation_bits
    base = ev.measure(ev.base)
    overrides = dict(ev.base.overrides)
    old = overrides.get(layer, TaskLayerOverride())
    overrides[layer] = TaskLayerOverride(  # same settings as with_layer_weight_bits for a weight move (one memo key)
        weight_bits=w if w != ev.base.weight_bits else old.weight_bits,
        activation_bits=a if a != ev.base.activation_bits else old.activation_bits)
    what = [name for name, v, b in (("weight", w, ev.base.weight_bits), ("activation", a, ev.base.activation_bits))
            if v != b]
    head = {"layer": layer, "kind": kinds[layer], "moved": "+".join(what) or "none", "weight_bits": w,
            "activation_bits": a}
    try:
        moved = ev.measure(ev.base.model_copy(update={"overrides": overrides}))
    except AccelsimError as exc:  # e.g. an Add whose other input stays wider, an accumulator overflow
        return {**head, **{c: math.nan for c in SENSITIVITY_COLUMNS if c not in head and c not in ("status", "error")},
                "status": "failed", "error": str(exc)}
    return {
        **head, "status": "ok", "error": "", "accuracy_pct": moved.accuracy.accuracy_pct,
        "accuracy_stderr_pct": moved.accuracy.accuracy_stderr_pct,
        "accuracy_drop_pct": base.accuracy.accuracy_pct - moved.accuracy.accuracy_pct,
        "sqnr_db": moved.sqnr_db, "sqnr_loss_db": base.sqnr_db - moved.sqnr_db,
        "latency_saving_cycles": base.latency_cycles - moved.latency_cycles,
        "energy_saving_pj": base.energy_pj - moved.energy_pj,
        "dram_saving_bytes": base.dram_bytes - moved.dram_bytes,
    }


def sensitivity_table(ev: Evaluator, progress=None, activations: bool = True) -> pd.DataFrame:
    """Every MAC layer moved alone to every lower weight width and (``activations``) every lower output-activation
    width of the hardware (:func:`lower_moves`; :data:`SENSITIVITY_COLUMNS`); ``progress(step, total, text)`` is
    called before each measurement when given."""
    moves = lower_moves(ev.hw, ev.base) if activations else tuple(
        ("weight", w) for w in lower_weight_bits(ev.hw, ev.base))
    jobs = [(name, what, bits) for name, _ in ev.layers for what, bits in moves]
    rows = []
    for i, (name, what, bits) in enumerate(jobs, 1):
        if progress is not None:
            progress(i, len(jobs), f"{name} -> {what[0]}{bits}")
        rows.append(sensitivity_row(ev, name, bits if what == "weight" else None,
                                    bits if what == "activation" else None))
    return pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS))
