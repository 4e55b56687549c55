"""Evaluating a task: float baseline, and PTQ + bit-exact integer execution of the evaluation set.

``evaluate_task(task, quant)`` quantizes the task's float graph (:func:`accelsim.graph.ptq.quantize_graph`,
calibrated on the task's calibration inputs; Krishnamoorthi 2018 §3, [ref:Krishnamoorthi18]), runs every
evaluation batch through :func:`accelsim.execute.execute` (input quantized with the input tensor's (S, Z),
rounding half away from zero as TFLite does), and scores the integer outputs with the task's metric.

The accuracy is the mean of the per-sample 0/1 scores; its standard error is the binomial one,
``sqrt(p (1 - p) / n)`` (each evaluation sample a Bernoulli trial; e.g. Wasserman, *All of Statistics*,
§6.3.2), reported in percentage points. ``accumulator_bits`` is the execution's accumulator width (a hardware
config's ``precision.accumulator_bits``); a sum that does not fit raises
:class:`~accelsim.errors.AccumulatorOverflowError` naming the node.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from accelsim.graph.float_exec import run_float
from accelsim.graph.ir import Graph
from accelsim.graph.ptq import PTQSettings, quantize_graph, with_batch_size
from accelsim.quant.params import quantize
from accelsim.tasks.quant import TaskQuant
from accelsim.tasks.spec import Task

#: Integer evaluations of a task run in this process (a test counts executions of the accuracy cache).
EXECUTIONS = {"count": 0}


@dataclass(frozen=True)
class TaskAccuracy:
    """One evaluation: ``accuracy_pct`` ± ``accuracy_stderr_pct`` (binomial standard error, percentage points) on
    ``eval_count`` samples, the float model's ``float_accuracy_pct`` and ``accuracy_drop_pct`` = float - quantized."""

    accuracy_pct: float
    accuracy_stderr_pct: float
    float_accuracy_pct: float
    accuracy_drop_pct: float
    eval_count: int

    def as_row(self) -> dict[str, Any]:
        """The result columns (:data:`ACCURACY_COLUMNS`) and their values."""
        return dataclasses.asdict(self)


#: The result columns of a task evaluation, in order (the fields of :class:`TaskAccuracy`).
ACCURACY_COLUMNS = tuple(f.name for f in dataclasses.fields(TaskAccuracy))


def binomial_stderr_pct(accuracy_pct: float, n: int) -> float:
    """Standard error (percentage points) of an accuracy measured on ``n`` independent samples:
    ``100 sqrt(p (1 - p) / n)`` with ``p = accuracy_pct / 100``."""
    p = accuracy_pct / 100.0
    return 100.0 * math.sqrt(max(p * (1.0 - p), 0.0) / n) if n > 0 else float("nan")


def _score(task: Task, correct: list[np.ndarray]) -> tuple[float, int]:
    flat = np.concatenate(correct) if correct else np.zeros(0)
    return (100.0 * float(np.mean(flat)) if flat.size else float("nan")), int(flat.size)


def float_accuracy_pct(task: Task) -> float:
    """The float model's accuracy (%) on the evaluation set (numpy float executor); memoised per task."""
    return _float_accuracy(task)


@lru_cache(maxsize=16)
def _float_accuracy(task: Task) -> float:
    correct = []
    for x, y in task.eval_batches():
        graph = with_batch_size(task.graph, len(x))
        out = run_float(graph, {graph.inputs[0]: x})[graph.outputs[0]]
        correct.append(np.asarray(task.metric(out, y)).reshape(-1))
    return _score(task, correct)[0]


def quantized_graph(task: Task, settings: PTQSettings) -> Graph:
    """The task's graph after PTQ with ``settings`` (batch 1), calibrated on the task's calibration inputs."""
    return _quantized(task, settings)


@lru_cache(maxsize=32)
def _quantized(task: Task, settings: PTQSettings) -> Graph:
    return quantize_graph(task.graph, {task.graph.inputs[0]: task.calibration_inputs}, settings)


def integer_outputs(qgraph: Graph, inputs: np.ndarray, accumulator_bits: int | None = None) -> np.ndarray:
    """The final integer output of ``qgraph`` run by ``accelsim.execute`` on float NHWC ``inputs`` (quantized with
    the input tensor's (S, Z), rounding half away from zero, as TFLite does)."""
    from accelsim.execute import execute

    graph = with_batch_size(qgraph, inputs.shape[0])
    x = graph.tensors[graph.inputs[0]]
    q = quantize(inputs, x.quant, x.dtype, rounding="half_away_from_zero")
    return execute(graph, {x.name: q}, accumulator_bits=accumulator_bits)[graph.outputs[0]]


def evaluate_task(task: Task, quant: TaskQuant | PTQSettings = TaskQuant(),
                  accumulator_bits: int | None = None) -> TaskAccuracy:
    """PTQ + integer execution of the whole evaluation set (see the module docstring)."""
    settings = quant.ptq_settings() if isinstance(quant, TaskQuant) else quant
    EXECUTIONS["count"] += 1
    qgraph = quantized_graph(task, settings)
    correct = [np.asarray(task.metric(integer_outputs(qgraph, x, accumulator_bits), y)).reshape(-1)
               for x, y in task.eval_batches()]
    acc, n = _score(task, correct)
    base = float_accuracy_pct(task)
    return TaskAccuracy(acc, binomial_stderr_pct(acc, n), base, base - acc, n)
