"""Tasks: a trained float model with its calibration set, evaluation set and metric (docs/tasks.md).

``load_task(ref)`` validates a task (shipped name, task YAML, or mapping) before anything runs;
``evaluate_task(task, quant)`` runs PTQ + bit-exact integer execution of the evaluation set and returns a
:class:`TaskAccuracy` (accuracy with its binomial standard error, the float baseline and the drop).
"""
from accelsim.tasks.evaluate import (
    ACCURACY_COLUMNS, TaskAccuracy, binomial_stderr_pct, evaluate_task, float_accuracy_pct, quantized_graph,
)
from accelsim.tasks.quant import TaskLayerOverride, TaskQuant, task_quant
from accelsim.tasks.shipped import SHIPPED_TASKS, shipped_task_names
from accelsim.tasks.spec import Task, TaskFile, array_task, load_task, topk_correct

__all__ = [
    "ACCURACY_COLUMNS", "SHIPPED_TASKS", "Task", "TaskAccuracy", "TaskFile", "TaskLayerOverride", "TaskQuant",
    "array_task", "binomial_stderr_pct", "evaluate_task", "float_accuracy_pct", "load_task", "quantized_graph",
    "shipped_task_names", "task_quant", "topk_correct",
]
