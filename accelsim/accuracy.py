"""Quantized accuracy on the digits held-out split, in the form of the whitepaper's Tables 2-5.

The general form (any float ONNX model with its data and metric, accuracy as a sweep metric) is
:mod:`accelsim.tasks`; this module keeps the whitepaper-table view of the shipped digits models and shares its
integer execution (:func:`accelsim.tasks.evaluate.integer_outputs`).

For each shipped digits model (``accelsim.workloads.digits``) and training seed: the float accuracy (numpy float
executor), weights-only quantization (quantize-dequantize weights, float activations; whitepaper Table 2), and
fully quantized variants run as an integer-only pipeline through ``accelsim.execute`` (quantized input image,
integer kernels, argmax of the final integer output). Activations are calibrated on the first
``calibration_images`` images of the training split.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from accelsim.errors import UnsupportedError
from accelsim.graph.float_exec import run_float
from accelsim.graph.importers.onnx import load_onnx
from accelsim.graph.ir import Graph
from accelsim.graph.ptq import PTQSettings, quantize_graph, quantize_weights_only
from accelsim.workloads.digits import MODEL_NAMES as MODELS
from accelsim.workloads.digits import SEEDS, load_digits_split, shipped_model_path


@dataclass(frozen=True)
class Column:
    """One accuracy column: how the model is evaluated.

    ``kind`` is ``float`` (no quantization), ``weights_only`` (fake-quantized weights, float activations) or
    ``integer`` (PTQ with ``settings``, integer-only execution).
    """

    key: str
    group: str
    title: str
    kind: str
    settings: PTQSettings | None = None


_ASYM_PT = PTQSettings(weight_symmetric=False, weight_per_channel=False)
_ASYM_PC = PTQSettings(weight_symmetric=False, weight_per_channel=True)
_SYM_PC = PTQSettings(weight_symmetric=True, weight_per_channel=True)

#: The columns of the whitepaper's Tables 2-5, in order.
COLUMNS: tuple[Column, ...] = (
    Column("float", "float", "fp32", "float"),
    Column("w8_pt", "W8 weights only", "asym pt", "weights_only", _ASYM_PT),
    Column("w8_pc", "W8 weights only", "asym pc", "weights_only", _ASYM_PC),
    Column("w8a8_asym_pt", "W8A8", "asym pt", "integer", _ASYM_PT),
    Column("w8a8_sym_pc", "W8A8", "sym pc", "integer", _SYM_PC),
    Column("w8a8_asym_pc", "W8A8", "asym pc", "integer", _ASYM_PC),
    Column("w4a8_pt", "W4A8", "asym pt", "integer",
           PTQSettings(weight_bits=4, weight_symmetric=False, weight_per_channel=False)),
    Column("w4a8_pc", "W4A8", "asym pc", "integer",
           PTQSettings(weight_bits=4, weight_symmetric=False, weight_per_channel=True)),
    Column("w8a16_pc", "W8A16", "sym pc", "integer",
           PTQSettings(weight_symmetric=True, weight_per_channel=True, activation_bits=16)),
)
"""Wn = n-bit weights, Am = m-bit activations; pt = per-layer (per-tensor) weight scales, pc = per-channel;
asym / sym = asymmetric / symmetric weights. Activations: int8 asymmetric, int16 symmetric (Z = 0)."""


@dataclass(frozen=True)
class DigitsData:
    """Digits images as float NHWC model inputs (pixel level / 16, in [0, 1]) and labels, split into calibration and test sets."""

    calibration_images: np.ndarray   # float32 (N_cal, 8, 8, 1)
    test_images: np.ndarray          # float32 (N_test, 8, 8, 1)
    test_labels: np.ndarray          # int64 (N_test,)


@dataclass(frozen=True)
class ModelResult:
    """Test accuracy (%) of one model and seed for each column key."""

    model: str
    seed: int
    test_count: int
    accuracy_pct: dict[str, float]


@dataclass(frozen=True)
class AccuracyTable:
    """Per-seed results and their mean per model."""

    columns: tuple[Column, ...]
    results: tuple[ModelResult, ...]
    calibration_count: int

    def mean_pct(self, model: str, key: str) -> float:
        values = [r.accuracy_pct[key] for r in self.results if r.model == model]
        return float(np.mean(values))

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.model for r in self.results))

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary: columns, per-seed accuracies and per-model means (percent)."""
        return {
            "columns": [{"key": c.key, "group": c.group, "title": c.title, "kind": c.kind} for c in self.columns],
            "calibration_images": self.calibration_count,
            "results": [{"model": r.model, "seed": r.seed, "test_images": r.test_count,
                         "accuracy_pct": r.accuracy_pct} for r in self.results],
            "mean_accuracy_pct": {m: {c.key: round(self.mean_pct(m, c.key), 4) for c in self.columns}
                                  for m in self.models},
        }


def load_digits_data(calibration_count: int = 200) -> DigitsData:
    """The shipped digits split as model inputs; calibration = the first ``calibration_count`` training images."""
    split = load_digits_split()
    train, test = np.asarray(split.train_images, np.float32), np.asarray(split.test_images, np.float32)
    if not 1 <= calibration_count <= len(train):
        raise UnsupportedError(f"calibration_count must be in [1, {len(train)}], found {calibration_count}")
    return DigitsData(train[:calibration_count], test, np.asarray(split.test_labels, np.int64))


def float_predictions(graph: Graph, images: np.ndarray) -> np.ndarray:
    """Argmax class of a float graph on float NHWC images."""
    out = run_float(graph, {graph.inputs[0]: images})[graph.outputs[0]]
    return out.reshape(out.shape[0], -1).argmax(axis=1)


def integer_predictions(qgraph: Graph, images: np.ndarray) -> np.ndarray:
    """Argmax class of the final integer output of a quantized graph run by ``accelsim.execute``.

    The float images are quantized with the input tensor's (S, Z), rounding half away from zero (TFLite).
    """
    from accelsim.tasks.evaluate import integer_outputs

    out = integer_outputs(qgraph, images)
    return out.reshape(out.shape[0], -1).argmax(axis=1)


#: Progress callback of :func:`accuracy_table`: ``(step, total, what)`` before each evaluation, step from 1.
Progress = Callable[[int, int, str], None]


def evaluate_graph(float_graph: Graph, data: DigitsData, columns: tuple[Column, ...] = COLUMNS,
                   before_column: Callable[[Column], None] | None = None) -> dict[str, float]:
    """Test accuracy (%) of one float graph under each column's evaluation; ``before_column(column)`` is called
    before each one."""
    labels = data.test_labels
    cal = {float_graph.inputs[0]: data.calibration_images}
    accuracy: dict[str, float] = {}
    for col in columns:
        if before_column is not None:
            before_column(col)
        if col.kind == "float":
            pred = float_predictions(float_graph, data.test_images)
        elif col.kind == "weights_only":
            pred = float_predictions(quantize_weights_only(float_graph, col.settings), data.test_images)
        else:
            pred = integer_predictions(quantize_graph(float_graph, cal, col.settings), data.test_images)
        accuracy[col.key] = 100.0 * float(np.mean(pred == labels))
    return accuracy


def accuracy_table(models: tuple[str, ...] = MODELS, seeds: tuple[int, ...] = SEEDS,
                   columns: tuple[Column, ...] = COLUMNS, calibration_count: int = 200,
                   progress: Progress | None = None) -> AccuracyTable:
    """Evaluate every shipped model and seed (the ONNX files in ``accelsim/workloads/digits``).

    ``progress(step, total, what)`` is called before each of the ``len(models)·len(seeds)·len(columns)``
    evaluations, ``what`` naming the model, seed and column (e.g. ``digits_cnn seed 0: W8A8 asym pt``)."""
    data = load_digits_data(calibration_count)
    total = len(models) * len(seeds) * len(columns)
    steps = itertools.count(1)
    results = []
    for model in models:
        for seed in seeds:
            graph = load_onnx(shipped_model_path(model, seed), batch_size=1)

            def announce(col: Column, model: str = model, seed: int = seed) -> None:
                step = next(steps)
                if progress is not None:
                    progress(step, total, f"{model} seed {seed}: {col.group} {col.title}")

            results.append(ModelResult(model, seed, len(data.test_labels),
                                       evaluate_graph(graph, data, columns, announce)))
    return AccuracyTable(tuple(columns), tuple(results), calibration_count)


def format_table(table: AccuracyTable, per_seed: bool = True) -> str:
    """A plain-text table: two header rows (group, column), rows per model (and seed), the mean over seeds."""
    cols = table.columns
    width = [max(len(c.group), len(c.title), 6) for c in cols]
    label_w = max([len(m) + 12 for m in table.models] + [16])
    groups, titles = [], []
    previous = None
    for c, w in zip(cols, width):
        groups.append((c.group if c.group != previous else "").ljust(w))
        titles.append(c.title.ljust(w))
        previous = c.group
    lines = ["model".ljust(label_w) + " | " + " | ".join(groups),
             "".ljust(label_w) + " | " + " | ".join(titles),
             "-" * (label_w + sum(w + 3 for w in width))]
    for model in table.models:
        if per_seed:
            for r in table.results:
                if r.model == model:
                    cells = [f"{r.accuracy_pct[c.key]:.2f}".ljust(w) for c, w in zip(cols, width)]
                    lines.append(f"{model} seed {r.seed}".ljust(label_w) + " | " + " | ".join(cells))
        cells = [f"{table.mean_pct(model, c.key):.2f}".ljust(w) for c, w in zip(cols, width)]
        lines.append(f"{model} mean".ljust(label_w) + " | " + " | ".join(cells))
    n_test = table.results[0].test_count if table.results else 0
    lines.append(f"test accuracy % on {n_test} held-out digits images; W = weight bits, A = activation bits, "
                 f"pt = per-layer, pc = per-channel, asym/sym = weight zero point free/0;")
    lines.append(f"activations calibrated (min/max) on {table.calibration_count} training images; the WnAm columns "
                 f"run integer-only through accelsim.execute (argmax of the integer output)")
    return "\n".join(lines)
