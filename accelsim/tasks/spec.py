"""Tasks: a trained float model with its calibration set, evaluation set and metric.

A task is written as a mapping (a task YAML file, the ``task:`` key of a sweep spec, or a dict in Python)::

    name: my_net                # optional; default the model file's stem
    model: net.onnx             # a float ONNX model (PyTorch: export with torch.onnx.export)
    data: data.npz              # arrays calibration_inputs, eval_inputs, eval_labels; or module:function
    metric: top1                # top1 (default), top5, or module:function
    calibration_count: 200      # calibration inputs used for PTQ

Relative paths are relative to the file that holds the mapping. ``data: module:function`` names a function
``f(split)`` called with ``"calibration"`` (an iterable of input batches, or of ``(inputs, labels)``) and
``"evaluation"`` (an iterable of ``(inputs, labels)`` batches), so a data set on the user's disk streams batch by
batch. Inputs are float arrays in the model's NHWC layout (the importer's) or in its ONNX NCHW layout
(transposed on load). A user metric ``f(outputs, labels)`` returns one 0/1 correctness value per sample (the
accuracy is their mean, with the binomial standard error).

Everything is checked by :func:`load_task` before anything runs: the model must be a float model; the data
shapes must match the model input; top-k labels must be integers in [0, classes); the metric must import.
Every problem is a :class:`~accelsim.errors.ConfigError` naming the file and the key.
"""
from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from accelsim.config.loading import read_yaml, validate_model
from accelsim.errors import AccelsimError, ConfigError
from accelsim.graph.ir import Graph
from accelsim.workloads.yaml_format import _Strict

#: Array names of a task's ``.npz`` data file.
NPZ_ARRAYS = ("calibration_inputs", "eval_inputs", "eval_labels")
#: Built-in metrics: name -> k of top-k.
BUILTIN_METRICS = {"top1": 1, "top5": 5}

Batch = tuple[np.ndarray, np.ndarray]
#: A metric: (model outputs (N, classes) float or int, labels (N,)) -> per-sample correctness (N,) in {0, 1}.
Metric = Callable[[np.ndarray, np.ndarray], np.ndarray]


class TaskFile(_Strict):
    """The keys of a task mapping (see the module docstring)."""

    name: str | None = Field(None, min_length=1, description="Task name; default the model file's stem.")
    model: str = Field(min_length=1, description="Float ONNX model path (relative to the task's file).")
    data: str = Field(min_length=1, description="A .npz file (relative path) or module:function yielding batches.")
    metric: str = Field("top1", min_length=1, description="top1, top5 or module:function (per-sample 0/1).")
    calibration_count: int = Field(200, ge=1, le=100_000, description="Calibration inputs used by PTQ (images).")
    batch_size: int = Field(256, ge=1, le=65_536, description="Evaluation inputs per integer execution call.")


@dataclass(frozen=True, eq=False)
class Task:
    """A validated task: the float graph (batch 1), calibration inputs (float NHWC), a re-iterable evaluation
    set and the metric. ``fingerprint`` hashes the model bytes, data identity, metric and calibration count
    (the accuracy cache key's task half)."""

    name: str
    source: str
    graph: Graph
    calibration_inputs: np.ndarray
    eval_batches: Callable[[], Iterator[Batch]]
    eval_count: int
    metric_name: str
    metric: Metric
    num_classes: int
    batch_size: int
    fingerprint: str

    @property
    def node_names(self) -> frozenset[str]:
        return frozenset(n.name for n in self.graph.nodes)


# ------------------------------------------------------------------------------------------------ metrics
def topk_correct(outputs: np.ndarray, labels: np.ndarray, k: int = 1) -> np.ndarray:
    """1 where the label is among the ``k`` largest outputs of its row (ties: the lower index first), else 0."""
    flat = outputs.reshape(outputs.shape[0], -1)
    if k == 1:
        return (flat.argmax(axis=1) == labels).astype(np.int64)
    top = np.argsort(-flat, axis=1, kind="stable")[:, :k]
    return (top == labels[:, None]).any(axis=1).astype(np.int64)


def import_function(ref: str, file: str, key: str) -> Callable[..., Any]:
    """The function named ``module:function``; ConfigError naming ``file`` and ``key`` if it does not import."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(file, key, "module:function", ref)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's module: report it
        raise ConfigError(file, key, "an importable module:function", f"{ref} ({type(exc).__name__}: {exc})"
                          ) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(file, key, "an importable module:function", f"{ref} (module {module_name} has no "
                          f"callable {attr!r})")
    return fn


def _metric(ref: str, file: str) -> Metric:
    if ref in BUILTIN_METRICS:
        k = BUILTIN_METRICS[ref]
        return lambda outputs, labels: topk_correct(outputs, labels, k)
    return import_function(ref, file, "metric")


# ------------------------------------------------------------------------------------------------ data
def _to_layout(x: np.ndarray, nhwc: tuple[int, ...], file: str, key: str) -> np.ndarray:
    """``x`` in the graph's NHWC layout: as is when ``x.shape[1:]`` is the graph input's, transposed from NCHW
    when it is the ONNX layout's; else a ConfigError."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise ConfigError(file, key, "float model inputs", f"dtype {x.dtype}")
    if tuple(x.shape[1:]) == tuple(nhwc[1:]):
        return x.astype(np.float32, copy=False)
    if len(nhwc) == 4 and x.ndim == 4 and tuple(x.shape[1:]) == (nhwc[3], nhwc[1], nhwc[2]):
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).astype(np.float32, copy=False)
    chw = f" or NCHW (N, {nhwc[3]}, {nhwc[1]}, {nhwc[2]})" if len(nhwc) == 4 else ""
    raise ConfigError(file, key, f"inputs of the model's shape: NHWC (N, {', '.join(map(str, nhwc[1:]))}){chw}",
                      f"shape {tuple(x.shape)}")


def _check_labels(labels: np.ndarray, count: int, num_classes: int, topk: bool, file: str, key: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (count,):
        raise ConfigError(file, key, f"one label per input, shape ({count},)", f"shape {labels.shape}")
    if topk:
        if not np.issubdtype(labels.dtype, np.integer):
            raise ConfigError(file, key, "integer class labels", f"dtype {labels.dtype}")
        if count and (labels.min() < 0 or labels.max() >= num_classes):
            bad = labels[(labels < 0) | (labels >= num_classes)]
            raise ConfigError(file, key, f"labels in [0, {num_classes}) (the model's {num_classes} outputs)",
                              f"{int(bad[0])} ({bad.size} label(s) out of range)")
        return labels.astype(np.int64)
    return labels


def _batched(x: np.ndarray, y: np.ndarray, batch: int) -> Callable[[], Iterator[Batch]]:
    def gen() -> Iterator[Batch]:
        for i in range(0, len(y), batch):
            yield x[i:i + batch], y[i:i + batch]
    return gen


def array_task(name: str, source: str, graph: Graph, calibration: np.ndarray, eval_inputs: np.ndarray,
               eval_labels: np.ndarray, *, metric: str = "top1", calibration_count: int = 200,
               batch_size: int = 256, file: str = "", identity: str = "") -> Task:
    """A task from in-memory arrays (validated as :func:`load_task` does; ``file`` names the error source)."""
    file = file or source
    if not graph.is_float:
        raise ConfigError(file, "model", "a float model (the task quantizes it itself)", "a quantized model")
    nhwc = graph.tensors[graph.inputs[0]].shape
    num_classes = int(np.prod(graph.tensors[graph.outputs[0]].shape[1:]))
    cal = _to_layout(calibration, nhwc, file, "data.calibration_inputs")
    if len(cal) == 0:
        raise ConfigError(file, "data.calibration_inputs", "at least one calibration input", "none")
    cal = cal[:calibration_count]
    x = _to_layout(eval_inputs, nhwc, file, "data.eval_inputs")
    if len(x) == 0:
        raise ConfigError(file, "data.eval_inputs", "at least one evaluation input", "none")
    y = _check_labels(eval_labels, len(x), num_classes, metric in BUILTIN_METRICS, file, "data.eval_labels")
    fn = _metric(metric, file)
    digest = hashlib.sha256(identity.encode())
    for a in (cal, x, np.asarray(y)):
        digest.update(np.ascontiguousarray(a).tobytes())
    digest.update(f"{metric}|{calibration_count}".encode())
    return Task(name, source, graph, cal, _batched(x, y, batch_size), len(x), metric, fn, num_classes,
                batch_size, digest.hexdigest()[:16])


def _function_task(name: str, source: str, graph: Graph, spec: TaskFile, file: str, identity: str) -> Task:
    """A task whose data come from ``module:function``: the calibration set is read whole (at most
    ``calibration_count`` inputs), the evaluation set streams; its first batch is checked here."""
    fn = import_function(spec.data, file, "data")
    nhwc = graph.tensors[graph.inputs[0]].shape
    num_classes = int(np.prod(graph.tensors[graph.outputs[0]].shape[1:]))
    topk = spec.metric in BUILTIN_METRICS
    parts, have = [], 0
    for batch in _call(fn, "calibration", file):
        inputs = batch[0] if isinstance(batch, tuple) else batch
        parts.append(_to_layout(inputs, nhwc, file, "data (calibration batch)"))
        have += len(parts[-1])
        if have >= spec.calibration_count:
            break
    if not have:
        raise ConfigError(file, "data", "a function whose calibration split yields at least one input", spec.data)
    cal = np.concatenate(parts)[:spec.calibration_count]
    first = next(iter(_call(fn, "evaluation", file)), None)
    if first is None:
        raise ConfigError(file, "data", "a function whose evaluation split yields (inputs, labels) batches",
                          spec.data)
    _check_batch(first, nhwc, num_classes, topk, file)

    def batches() -> Iterator[Batch]:
        for b in _call(fn, "evaluation", file):
            yield _check_batch(b, nhwc, num_classes, topk, file)

    count = sum(len(b[1]) for b in batches())  # one pass: labels are checked on every batch before anything runs
    digest = hashlib.sha256(f"{identity}|{spec.data}|{spec.metric}|{spec.calibration_count}".encode())
    digest.update(np.ascontiguousarray(cal).tobytes())
    return Task(name, source, graph, cal, batches, count, spec.metric, _metric(spec.metric, file), num_classes,
                spec.batch_size, digest.hexdigest()[:16])


def _call(fn: Callable[..., Any], split: str, file: str) -> Iterable[Any]:
    try:
        return fn(split)
    except Exception as exc:  # noqa: BLE001 - the user's function failed: name it
        raise ConfigError(file, "data", f"a function that yields the {split} split",
                          f"{type(exc).__name__}: {exc}") from None


def _check_batch(batch: Any, nhwc: tuple[int, ...], num_classes: int, topk: bool, file: str) -> Batch:
    if not (isinstance(batch, tuple) and len(batch) == 2):
        raise ConfigError(file, "data", "evaluation batches as (inputs, labels) tuples", type(batch).__name__)
    x = _to_layout(batch[0], nhwc, file, "data (evaluation inputs)")
    return x, _check_labels(batch[1], len(x), num_classes, topk, file, "data (evaluation labels)")


# ------------------------------------------------------------------------------------------------ loading
def _load_graph(path: Path, file: str) -> Graph:
    from accelsim.graph.importers.onnx import load_onnx

    if path.suffix.lower() != ".onnx":
        raise ConfigError(file, "model", "a float ONNX model (.onnx)", str(path))
    if not path.is_file():
        raise ConfigError(file, "model", "an existing ONNX file (relative to the task's file)", str(path))
    try:
        graph = load_onnx(path, batch_size=1)
    except AccelsimError as exc:
        raise ConfigError(file, "model", "an ONNX model accelsim imports", f"{path.name}: {exc}") from None
    if not graph.is_float:
        raise ConfigError(file, "model", "a float model (the task quantizes it itself; not a QDQ/QOperator model)",
                          path.name)
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ConfigError(file, "model", "a model with one input and one output",
                          f"{len(graph.inputs)} inputs, {len(graph.outputs)} outputs")
    return graph


def task_from_mapping(data: Mapping[str, Any], file: str, folder: Path) -> Task:
    """Validate a task mapping (paths relative to ``folder``; errors name ``file``)."""
    spec = validate_model(TaskFile, dict(data), file)
    model_path = (folder / spec.model).resolve()
    graph = _load_graph(model_path, file)
    name = spec.name or model_path.stem
    identity = hashlib.sha256(model_path.read_bytes()).hexdigest()
    if spec.metric not in BUILTIN_METRICS:
        _metric(spec.metric, file)  # importable before anything runs
    if spec.data.lower().endswith(".npz"):
        data_path = (folder / spec.data).resolve()
        if not data_path.is_file():
            raise ConfigError(file, "data", "an existing .npz file (relative to the task's file)", spec.data)
        try:
            with np.load(data_path, allow_pickle=False) as archive:
                missing = [a for a in NPZ_ARRAYS if a not in archive.files]
                if missing:
                    raise ConfigError(file, "data", f"a .npz with arrays {', '.join(NPZ_ARRAYS)}",
                                      f"{data_path.name} lacks {', '.join(missing)}")
                arrays = {a: archive[a] for a in NPZ_ARRAYS}
        except (OSError, ValueError) as exc:
            raise ConfigError(file, "data", "a readable .npz file", f"{data_path.name}: {exc}") from None
        return array_task(name, str(model_path), graph, arrays["calibration_inputs"], arrays["eval_inputs"],
                          arrays["eval_labels"], metric=spec.metric, calibration_count=spec.calibration_count,
                          batch_size=spec.batch_size, file=file, identity=identity)
    if ":" in spec.data:
        return _function_task(name, str(model_path), graph, spec, file, identity)
    raise ConfigError(file, "data", "a .npz file or module:function", spec.data)


def load_task(task: str | Path | Mapping[str, Any], folder: str | Path | None = None, file: str = "") -> Task:
    """A validated :class:`Task`: a shipped task name (:func:`accelsim.tasks.shipped.shipped_task_names`), a task
    YAML file, or a task mapping (relative paths against ``folder``, default the working directory).
    Shipped tasks and task files are loaded once per process."""
    if isinstance(task, Mapping):
        return task_from_mapping(task, file or "task", Path(folder) if folder is not None else Path.cwd())
    return _load_named(str(task), str(Path(folder).resolve()) if folder is not None else "", file)


@lru_cache(maxsize=16)
def _load_named(ref: str, folder: str, file: str) -> Task:
    from accelsim.tasks.shipped import SHIPPED_TASKS, shipped_task

    if ref in SHIPPED_TASKS:
        return shipped_task(ref)
    path = Path(folder, ref) if folder else Path(ref)
    if path.suffix.lower() in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(file or ref, "task", "an existing task YAML file", ref)
        return task_from_mapping(read_yaml(path) or {}, str(path), path.parent)
    raise ConfigError(file or ref, "task", f"a shipped task ({', '.join(SHIPPED_TASKS)}), a task .yaml file or a "
                      "mapping with model: and data:", ref)
