"""Sweep spec files (``sweeps/*.yaml``): schema, path and value validation, point generation.

``load_spec(path)`` reads a spec and returns a :class:`SweepSpec` whose :class:`PointSet` generates the design
points that survive the constraints on demand (constant memory, however many points), or raises
:class:`~accelsim.errors.ConfigError` naming the spec file and the key path *before* anything runs: an unknown
parameter path, an empty grid, a value the hardware schema or the workload ``quant:`` schema rejects (each
distinct parameter value is validated alone, and the first :data:`VALIDATED_POINTS` points in full), a
constraint outside the whitelist, constraints that drop every point (known when the raw points number at most
:data:`COUNT_SCAN_LIMIT`). The format is documented in ``docs/sweeps.md``.
"""
from __future__ import annotations

import itertools
import re
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from accelsim.config.hw import HardwareConfig, load_hw
from accelsim.config.loading import deep_merge, nest, read_yaml, split_key_path, validate_model
from accelsim.errors import ConfigError
from accelsim.report import NetworkTotals, fixed_columns, higher_is_better
from accelsim.sweep.points import (
    ConstraintError, Point, UnknownNameError, canonical_json, evaluate_constraint, grid_count, grid_points,
    parse_constraint, point_id, random_points, unique_points, unique_values, zip_points,
)
from accelsim.workloads import workload_spec, zoo_names
from accelsim.workloads.yaml_format import LayerOverride, QuantSpec, WorkloadSpec, with_quant

_COMPONENT_METRIC = re.compile(r"^(energy_\w+_pj|area_\w+_mm2)$")
#: Totals of a report that may be objectives (besides ``energy_<component>_pj`` and ``area_<unit>_mm2``): the
#: fields of :class:`accelsim.report.NetworkTotals`.
TOTALS_METRICS = tuple(c for c in fixed_columns(NetworkTotals) if not _COMPONENT_METRIC.match(c))
#: The totals where more is better (throughput, fraction of peak); every other objective is minimized.
HIGHER_IS_BETTER = higher_is_better(NetworkTotals)


#: Accuracy columns of a sweep that names a task (``accuracy`` is the objective alias of ``accuracy_pct``);
#: accuracy is maximized, its drop and standard error minimized.
ACCURACY_METRICS = ("accuracy_pct", "accuracy_drop_pct", "accuracy_stderr_pct", "float_accuracy_pct")
ACCURACY_HIGHER_IS_BETTER = ("accuracy_pct", "float_accuracy_pct")
OBJECTIVE_ALIASES = {"accuracy": "accuracy_pct"}


def minimized(metric: str) -> bool:
    """True if lower values of the report total ``metric`` are better (latency, energy, area, bytes, accuracy
    drop); accuracy, throughput and utilization are maximized."""
    return metric not in HIGHER_IS_BETTER and metric not in ACCURACY_HIGHER_IS_BETTER


#: Points whose full config load_spec validates (besides every distinct parameter value, validated alone).
VALIDATED_POINTS = 100
#: Most raw points (before constraints) scanned to count the points a spec keeps; past it the count is a bound.
COUNT_SCAN_LIMIT = 200_000

#: Suffixes of workload files; any other workload entry is a zoo network name.
WORKLOAD_SUFFIXES = (".yaml", ".yml", ".onnx", ".tflite")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Distribution(_Strict):
    """A random-sampling distribution: ``choices`` (uniform over a list) or ``low``/``high`` (uniform, or
    log-uniform with ``log``; ``integer`` rounds)."""

    choices: list[Any] | None = Field(None, min_length=1)
    low: float | None = None
    high: float | None = None
    integer: bool = False
    log: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> Distribution:
        ranged = self.low is not None or self.high is not None
        if (self.choices is None) == (not ranged):
            raise ValueError("either choices: [...] or low: and high:")
        if ranged:
            if self.low is None or self.high is None or self.low > self.high:
                raise ValueError("low <= high")
            if self.log and self.low <= 0:
                raise ValueError("low > 0 for a log range")
        return self


class RandomSampling(_Strict):
    """``samples`` points drawn with a fixed ``seed`` from one distribution per parameter."""

    samples: int = Field(gt=0)
    seed: int = 0
    space: dict[str, Distribution] = Field(min_length=1)


class Parameters(_Strict):
    """Exactly one way of combining parameter values into points."""

    grid: dict[str, list[Any]] | None = None
    zip_: dict[str, list[Any]] | None = Field(None, alias="zip")
    list_: list[dict[str, Any]] | None = Field(None, alias="list")
    random: RandomSampling | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Parameters:
        given = [k for k in ("grid", "zip_", "list_", "random") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("exactly one of grid, zip, list, random")
        return self


class DaskSettings(_Strict):
    """Run on a Dask distributed cluster: ``address`` of a scheduler, or ``local`` for a LocalCluster."""

    address: str = "local"
    workers: int = Field(2, gt=0, description="Worker processes of a local cluster.")


class SimulationSettings(_Strict):
    """Options passed to :func:`accelsim.simulate.simulate`."""

    timing_model: Literal["event", "closed_form"] = "event"
    tiling_objective: Literal["latency", "dram_bytes"] = "latency"


class SweepFile(_Strict):
    """The top level of a sweep spec file."""

    name: str
    description: str = ""
    base: str = Field(description="Hardware config path, relative to the spec file.")
    workloads: list[str] = Field(default_factory=list,
                                 description="Workload paths (relative to the spec) or zoo names; none with task:.")
    task: str | dict[str, Any] | None = Field(
        None, description="A task (docs/tasks.md): shipped name, task YAML path (relative to the spec) or a mapping "
        "with model: and data:. Each point then reports accuracy; the hardware half simulates the task's graph.")
    quant: dict[str, Any] = Field(default_factory=dict, description="Fixed settings of the workloads' quant: block.")
    parameters: Parameters
    constraints: list[str] = Field(default_factory=list)
    objectives: list[str] = Field(default_factory=lambda: ["latency_ms", "energy_pj", "area_mm2"], min_length=1)
    simulation: SimulationSettings = Field(default_factory=SimulationSettings)
    store_layers: bool = Field(True, description="Store the per-layer rows of every point.")
    plots: bool = Field(False, description="accelsim sweep writes the plots into DIR/plots when done.")
    dask: DaskSettings | None = None


@dataclass(frozen=True)
class SweepPoint:
    """One design point: a workload and the parameter values (dotted path -> value)."""

    index: int
    point_id: str
    workload: str
    parameters: dict[str, Any]

    @property
    def hw_values(self) -> dict[str, Any]:
        """The hardware-config parameters (every path not under ``quant.``)."""
        return {k: v for k, v in self.parameters.items() if not k.startswith("quant.")}

    @property
    def quant_values(self) -> dict[str, Any]:
        """The quant parameters, keys without the ``quant.`` prefix."""
        return {k[len("quant."):]: v for k, v in self.parameters.items() if k.startswith("quant.")}


@dataclass(frozen=True)
class PointCount:
    """How many points a spec has: ``raw`` parameter points before the constraints (closed form), ``kept`` of
    the first ``scanned`` of them pass the constraints, times ``workloads``. Exact when every raw point was
    scanned."""

    raw: int
    scanned: int
    kept: int
    workloads: int

    @property
    def exact(self) -> bool:
        return self.scanned >= self.raw

    @property
    def total(self) -> int | None:
        """Points (workloads x kept parameter points), None when not every raw point was scanned."""
        return self.kept * self.workloads if self.exact else None

    @property
    def dropped(self) -> int | None:
        """Parameter points dropped by the constraints, None when not known."""
        return self.raw - self.kept if self.exact else None

    def describe(self) -> str:
        """One line for ``accelsim sweep --check``."""
        w = self.workloads
        if self.exact:
            return (f"{self.total} points ({w} workload(s) x {self.kept} parameter points; {self.raw - self.kept} "
                    "dropped by constraints)")
        return (f"at least {self.kept * w}, at most {self.raw * w} points ({w} workload(s) x {self.raw} parameter "
                f"points before constraints; the constraints keep {self.kept} of the first {self.scanned}; not "
                f"counted further, past {COUNT_SCAN_LIMIT} raw points)")


class PointSet:
    """The design points of a spec, generated on demand in spec order: every workload (outer) times every raw
    parameter point that passes the constraints. Re-iterable; holds the generator recipe, never the points."""

    def __init__(self, raw: Callable[[], Iterator[Point]], raw_count: int, workloads: tuple[str, ...],
                 keep: Callable[[Point], bool] | None) -> None:
        self._raw, self.raw_count, self.workloads, self._keep = raw, raw_count, workloads, keep
        self._counts: dict[int, PointCount] = {}

    def parameter_points(self) -> Iterator[Point]:
        """The raw parameter points that pass the constraints, in spec order."""
        return self._raw() if self._keep is None else filter(self._keep, self._raw())

    def __iter__(self) -> Iterator[SweepPoint]:
        index = 0
        for label in self.workloads:
            for params in self.parameter_points():
                yield SweepPoint(index, point_id(label, params), label, params)
                index += 1

    def count(self, limit: int | None = COUNT_SCAN_LIMIT) -> PointCount:
        """Count the points: closed form without constraints, else a scan of at most ``limit`` raw points
        (None: all of them; constant memory, time linear in the points)."""
        if self._keep is None:
            return PointCount(self.raw_count, self.raw_count, self.raw_count, len(self.workloads))
        key = self.raw_count if limit is None else min(limit, self.raw_count)
        if key not in self._counts:
            kept = sum(1 for p in itertools.islice(self._raw(), key) if self._keep(p))
            self._counts[key] = PointCount(self.raw_count, key, kept, len(self.workloads))
        return self._counts[key]

    def __len__(self) -> int:
        """The exact number of points (with constraints: a full scan, time linear in the raw points)."""
        return self.count(limit=None).kept * len(self.workloads)

    def __getitem__(self, item: int | slice) -> SweepPoint | tuple[SweepPoint, ...]:
        """``points[i]`` or a slice (a tuple); non-negative indexes only, generated up to the last one taken."""
        if isinstance(item, slice):
            return tuple(itertools.islice(self, item.start, item.stop, item.step))
        if item < 0:
            raise IndexError("PointSet takes non-negative indexes")
        found = next(itertools.islice(self, item, None), None)
        if found is None:
            raise IndexError(item)
        return found

    def __eq__(self, other: object) -> bool:
        """Equal when both generate the same points (a full comparison: meant for small sets and tests)."""
        if not isinstance(other, (PointSet, tuple)):
            return NotImplemented
        return all(a == b for a, b in itertools.zip_longest(self, other))

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: the base config, workloads, fixed quant settings and its design points (a lazy
    :class:`PointSet`, or any tuple of :class:`SweepPoint` put in with ``dataclasses.replace``)."""

    file: str
    name: str
    description: str
    base_path: Path
    base: HardwareConfig
    workloads: dict[str, str]            # label in the spec -> absolute file path or zoo name
    quant: dict[str, Any]
    parameter_names: tuple[str, ...]
    points: PointSet | tuple[SweepPoint, ...]
    objectives: tuple[str, ...]
    simulation: SimulationSettings
    store_layers: bool
    plots: bool
    dask: DaskSettings | None = None
    task: Any = None                     # accelsim.tasks.Task when the spec names a task
    task_source: str = ""                # canonical JSON that reloads the task in a worker process

    def point_count(self, limit: int | None = COUNT_SCAN_LIMIT) -> PointCount:
        """How many points (see :meth:`PointSet.count`); a tuple of points counts as one list."""
        if isinstance(self.points, PointSet):
            return self.points.count(limit)
        n = len(self.points)
        return PointCount(n, n, n, 1)

    @property
    def dropped_points(self) -> int | None:
        """Parameter points removed by the constraints (None when not counted exactly)."""
        return self.point_count().dropped

    def quant_settings(self, point: SweepPoint) -> dict[str, Any]:
        """The settings merged into the workload's ``quant:`` block for ``point`` ({} = the workload's own); with a
        task, the task's PTQ settings (node names may hold dots)."""
        if self.task is not None:
            from accelsim.tasks.quant import merge_point_values
            return merge_point_values(self.quant, point.quant_values)
        return quant_settings(self.quant, point.quant_values)

    def fingerprint(self) -> str:
        """What every stored result depends on besides its point id: the base config's hash, the fixed quant
        settings and the simulation options. A results directory only accepts points of the same fingerprint."""
        fields = {"base_config_hash": self.base.config_hash(), "quant": self.quant,
                  "simulation": self.simulation.model_dump()}
        if self.task is not None:
            fields["task"] = self.task.fingerprint
        return canonical_json(fields)


# ------------------------------------------------------------------------------------------------ loading
def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec; every error names the spec file and the key path."""
    path = Path(path)
    file = str(path)
    raw = validate_model(SweepFile, read_yaml(path), file)
    base_path = (path.parent / raw.base).resolve()
    if not base_path.is_file():
        raise ConfigError(file, "base", "an existing hardware config file (relative to the spec)", raw.base)
    base = load_hw(base_path)
    mode = _mode_of(raw.parameters)
    source, raw_count, values = _raw_source(raw.parameters, file)
    names = list(values)
    if raw.task is not None:
        return _task_spec(raw, path, base_path, base, mode, source, raw_count, values)
    if not raw.workloads:
        raise ConfigError(file, "workloads", "at least one workload (or a task:)", raw.workloads)
    workloads = _resolve_workloads(raw.workloads, path.parent, file)
    quant_used = bool(raw.quant) or any(n.startswith("quant.") for n in names)
    workload_specs = _workload_specs(workloads, quant_used, file)
    for name in names:
        problem = _path_problem(name, base, workload_specs)
        if problem:
            raise ConfigError(file, _param_key(raw.parameters, mode, name), problem, name)
    _check_quant_block(raw.quant, workload_specs, file)
    _check_objectives(raw.objectives, file)
    keep = _constraint_filter(raw.constraints, base, raw.quant, file)
    points = PointSet(source, raw_count, tuple(workloads), keep)
    scanned = min(raw_count, COUNT_SCAN_LIMIT)
    first = list(itertools.islice(_kept(itertools.islice(source(), scanned), keep), VALIDATED_POINTS))
    if not first and scanned == raw_count:
        raise ConfigError(file, "constraints", f"constraints that keep at least one of the {raw_count} "
                          "points", "every point dropped")
    _validate_values(values, first, base, raw.quant, workload_specs, raw.parameters, mode, file)
    return SweepSpec(
        file=file, name=raw.name, description=raw.description, base_path=base_path, base=base,
        workloads=workloads, quant=dict(raw.quant), parameter_names=tuple(names), points=points,
        objectives=tuple(raw.objectives), simulation=raw.simulation, store_layers=raw.store_layers,
        plots=raw.plots, dask=raw.dask,
    )


def _task_spec(raw: SweepFile, path: Path, base_path: Path, base: HardwareConfig, mode: str,
               source: Callable[[], Iterator[Point]], raw_count: int, values: dict[str, list[Any]]) -> SweepSpec:
    """A sweep over a task (docs/tasks.md): the one workload is the task's graph, quantized per point."""
    from accelsim.tasks.quant import merge_point_values, quant_key_problem, task_quant
    from accelsim.tasks.spec import load_task

    file = str(path)
    if raw.workloads:
        raise ConfigError(file, "workloads", "no workloads with task: (the task's own graph is simulated)",
                          raw.workloads)
    try:
        task = load_task(raw.task, folder=path.parent, file=file)
    except ConfigError as exc:  # an inline mapping's keys live under task: in the spec
        raise (exc.moved(prefix="task") if isinstance(raw.task, dict) and exc.file == file else exc) from None
    if isinstance(raw.task, dict):
        task_source = canonical_json({"mapping": raw.task, "folder": str(path.parent.resolve()), "file": file})
    else:
        task_source = canonical_json({"ref": raw.task, "folder": str(path.parent.resolve()), "file": file})
    nodes = task.node_names
    for name in values:
        problem = (quant_key_problem(name[len("quant."):], nodes) if name.startswith("quant.")
                   else hw_path_problem(name, base))
        if problem:
            raise ConfigError(file, _param_key(raw.parameters, mode, name), problem, name)
    task_quant(raw.quant, file, nodes, graph=task.graph)
    objectives = [OBJECTIVE_ALIASES.get(o, o) for o in raw.objectives]
    _check_objectives(objectives, file, accuracy=True)
    keep = _constraint_filter(raw.constraints, base, raw.quant, file)
    scanned = min(raw_count, COUNT_SCAN_LIMIT)
    first = list(itertools.islice(_kept(itertools.islice(source(), scanned), keep), VALIDATED_POINTS))
    if not first and scanned == raw_count:
        raise ConfigError(file, "constraints", f"constraints that keep at least one of the {raw_count} "
                          "points", "every point dropped")
    for params in first:  # hardware half as for workloads; quant half against the task's PTQ settings
        _validate_point({k: v for k, v in params.items() if not k.startswith("quant.")}, f"(at point {params})",
                        base, raw.quant, {}, raw.parameters, mode, file)
    for name, distinct in values.items():
        for value in distinct:
            if name.startswith("quant."):
                task_quant(merge_point_values(raw.quant, {name[len("quant."):]: value}), file, nodes,
                           graph=task.graph)
            else:
                _validate_point({name: value}, f"(value {value!r} set alone on the base config)", base, raw.quant,
                                {}, raw.parameters, mode, file)
    label = f"task:{task.name}"
    return SweepSpec(
        file=file, name=raw.name, description=raw.description, base_path=base_path, base=base,
        workloads={label: label}, quant=dict(raw.quant), parameter_names=tuple(values),
        points=PointSet(source, raw_count, (label,), keep), objectives=tuple(objectives),
        simulation=raw.simulation, store_layers=raw.store_layers, plots=raw.plots, dask=raw.dask, task=task,
        task_source=task_source,
    )


def _kept(points: Iterator[Point], keep: Callable[[Point], bool] | None) -> Iterator[Point]:
    return points if keep is None else filter(keep, points)


def _resolve_workloads(entries: list[str], folder: Path, file: str) -> dict[str, str]:
    """label -> absolute path (files, relative to the spec) or zoo name."""
    out = {}
    for i, entry in enumerate(entries):
        if entry.lower().endswith(WORKLOAD_SUFFIXES):
            p = (folder / entry).resolve()
            if not p.is_file():
                raise ConfigError(file, f"workloads[{i}]", "an existing workload file (relative to the spec)", entry)
            out[entry] = str(p)
        elif entry in zoo_names():
            out[entry] = entry
        else:
            raise ConfigError(file, f"workloads[{i}]", "a workload file (.yaml, .onnx, .tflite) or a zoo name "
                              f"({', '.join(zoo_names())})", entry)
    return out


def _workload_specs(workloads: dict[str, str], quant_used: bool, file: str) -> dict[str, WorkloadSpec]:
    """The YAML specs of the workloads; with quant settings, every workload must be YAML or zoo."""
    specs = {}
    for i, (label, source) in enumerate(workloads.items()):
        if source.lower().endswith((".onnx", ".tflite")):
            if quant_used:
                raise ConfigError(file, f"workloads[{i}]", "a YAML workload or zoo name (quant settings apply to "
                                  "the workload YAML quant: block; imported models carry their own)", label)
            continue
        specs[label] = workload_spec(source)
    return specs


def _mode_of(parameters: Parameters) -> str:
    return next(m for m in ("grid", "zip", "list", "random")
                if getattr(parameters, {"zip": "zip_", "list": "list_"}.get(m, m)) is not None)


def _raw_source(parameters: Parameters, file: str
                ) -> tuple[Callable[[], Iterator[Point]], int, dict[str, list[Any]]]:
    """The raw points (before constraints) as a re-callable generator, their number, and every parameter's
    distinct values (a random range: its two ends). Grid values are deduplicated per axis (so grid points are
    distinct); zip and list points, written out in the spec, are deduplicated whole; random draws are not.
    Empty value lists are errors."""
    if parameters.grid is not None or parameters.zip_ is not None:
        mode, axes = ("grid", parameters.grid) if parameters.grid is not None else ("zip", parameters.zip_)
        if not axes:
            raise ConfigError(file, f"parameters.{mode}", "at least one parameter", "an empty mapping")
        for name, values in axes.items():
            if not values:
                raise ConfigError(file, f"parameters.{mode}.{name}", "a non-empty list of values", values)
        distinct = {name: unique_values(values) for name, values in axes.items()}
        if mode == "grid":
            return partial(grid_points, distinct), grid_count(distinct), distinct
        try:
            fixed = tuple(unique_points(zip_points(axes)))
        except ValueError as exc:
            raise ConfigError(file, "parameters.zip", str(exc), {k: len(v) for k, v in axes.items()}) from None
        return partial(iter, fixed), len(fixed), distinct
    if parameters.list_ is not None:
        if not parameters.list_ or not all(parameters.list_):
            raise ConfigError(file, "parameters.list", "a non-empty list of non-empty points", parameters.list_)
        fixed = tuple(unique_points(parameters.list_))
        names = dict.fromkeys(k for p in fixed for k in p)
        return partial(iter, fixed), len(fixed), {n: unique_values([p[n] for p in fixed if n in p]) for n in names}
    sampling = parameters.random
    space = {k: d.model_dump(exclude_none=True) for k, d in sampling.space.items()}
    ends = {name: unique_values(d.choices if d.choices is not None else
                                [round(x) if d.integer else x for x in (d.low, d.high)])
            for name, d in sampling.space.items()}
    return partial(random_points, space, sampling.samples, sampling.seed), sampling.samples, ends


def _param_key(parameters: Parameters, mode: str, name: str) -> str:
    """The spec key path where parameter ``name`` is set."""
    if mode == "list":
        index = next((i for i, p in enumerate(parameters.list_) if name in p), 0)
        return f"parameters.list[{index}].{name}"
    if mode == "random":
        return f"parameters.random.space.{name}"
    return f"parameters.{mode}.{name}"


# ------------------------------------------------------------------------------------------------ paths
def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap_optional(args[0])
    return annotation


def hw_path_problem(path: str, base: HardwareConfig) -> str | None:
    """None if ``path`` addresses a field of the hardware schema (dictionary keys such as memory level names
    must exist in ``base``), else what was expected."""
    node_type: Any = HardwareConfig
    node_data: Any = base.model_dump(mode="python")
    parts = split_key_path(path)
    for i, part in enumerate(parts):
        here = ".".join(str(p) for p in parts[:i]) or "the hardware config"
        t = _unwrap_optional(node_type)
        if isinstance(t, type) and issubclass(t, RootModel):
            t = t.model_fields["root"].annotation
        if get_origin(t) is Annotated:                   # a discriminated union: the member of this entry's kind
            kind = node_data.get("kind") or parts[i - 1] if isinstance(node_data, dict) else parts[i - 1]
            t = next((m for m in get_args(get_args(t)[0])
                      if get_args(m.model_fields["kind"].annotation) == (kind,)), t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            if part not in t.model_fields:
                return f"a key of {here} (one of {', '.join(t.model_fields)})"
            node_type = t.model_fields[part].annotation
        elif get_origin(t) is dict:
            keys = list(node_data) if isinstance(node_data, dict) else []
            if part not in keys:
                return f"an existing key of {here} (one of {', '.join(map(str, keys))})"
            node_type = get_args(t)[1]
        elif get_origin(t) in (tuple, list):
            size = len(node_data) if isinstance(node_data, (list, tuple)) else 0
            if not isinstance(part, int) or part >= size:
                return f"an index [0..{size - 1}] into {here}"
            node_type = get_args(t)[0]
        else:
            return f"a path ending at {here} (it has no sub-keys)"
        node_data = node_data[part] if isinstance(node_data, (dict, list, tuple)) else None
    return None


def quant_path_problem(path: str, workload_specs: dict[str, WorkloadSpec]) -> str | None:
    """None if ``path`` (without ``quant.``) is a workload quant setting: a QuantSpec field, or
    ``overrides.<layer>[.<field>]`` with a layer every workload has."""
    parts = path.split(".")
    if parts[0] != "overrides":
        if len(parts) == 1 and parts[0] in QuantSpec.model_fields:
            return None
        return f"a quant setting (one of {', '.join(QuantSpec.model_fields)})"
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in LayerOverride.model_fields):
        return f"quant.overrides.<layer>.<{'|'.join(LayerOverride.model_fields)}>"
    for label, spec in workload_specs.items():
        if parts[1] not in {layer.name for layer in spec.layers}:
            return f"the name of a layer of every workload ({label} has no layer {parts[1]!r})"
    return None


def _path_problem(name: str, base: HardwareConfig, workload_specs: dict[str, WorkloadSpec]) -> str | None:
    if name.startswith("quant."):
        return quant_path_problem(name[len("quant."):], workload_specs)
    return hw_path_problem(name, base)


def _check_quant_block(quant: dict[str, Any], workload_specs: dict[str, WorkloadSpec], file: str) -> None:
    for spec in workload_specs.values():
        with_quant(spec, quant, file)  # the merge load_workload(quant=...) does; errors name quant.<key path>
    for layer in quant.get("overrides", {}):
        problem = quant_path_problem(f"overrides.{layer}", workload_specs)
        if problem:
            raise ConfigError(file, f"quant.overrides.{layer}", problem, layer)


def _check_objectives(objectives: list[str], file: str, accuracy: bool = False) -> None:
    """Objectives are report totals; with a task (``accuracy``) also the accuracy columns."""
    for i, name in enumerate(objectives):
        if accuracy and name in ACCURACY_METRICS:
            continue
        if name not in TOTALS_METRICS and not _COMPONENT_METRIC.match(name):
            extra = "" if accuracy else "; accuracy needs a task: (docs/tasks.md)"
            raise ConfigError(file, f"objectives[{i}]", f"a report total ({', '.join(TOTALS_METRICS)}, "
                              f"energy_<component>_pj, area_<component>_mm2){' or accuracy' if accuracy else ''}"
                              f"{extra}", name)


# ------------------------------------------------------------------------------------------------ constraints
def _lookup_in(base_dump: dict[str, Any], quant_dump: dict[str, Any], point: Point):
    """Name resolution for constraints: the point's parameters, then the base config (``memories.vtcm.size_kib``),
    or for ``quant.*`` ``quant_dump`` (the spec's quant block over the QuantSpec defaults)."""

    def lookup(name: str) -> Any:
        if name in point:
            return point[name]
        node: Any = quant_dump if name.startswith("quant.") else base_dump
        for part in split_key_path(name.removeprefix("quant.") if name.startswith("quant.") else name):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, (list, tuple)) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                raise KeyError(name)
        return node
    return lookup


def _constraint_filter(constraints: list[str], base: HardwareConfig, quant: dict[str, Any],
                       file: str) -> Callable[[Point], bool] | None:
    """A predicate true for the points where every constraint holds (None without constraints); a bad
    constraint is a ConfigError naming ``constraints[i]``, at parse time or when a point evaluates it."""
    trees = []
    for i, text in enumerate(constraints):
        try:
            trees.append(parse_constraint(text))
        except ConstraintError as exc:
            raise ConfigError(file, f"constraints[{i}]", f"a constraint expression ({exc})", text) from None
    if not trees:
        return None
    base_dump = base.model_dump(mode="python")
    quant_dump = deep_merge(QuantSpec().model_dump(), quant)

    def keep(point: Point) -> bool:
        lookup = _lookup_in(base_dump, quant_dump, point)
        for i, tree in enumerate(trees):
            try:
                value = evaluate_constraint(tree, lookup)
            except UnknownNameError as exc:
                raise ConfigError(file, f"constraints[{i}]", "names of parameters or base config keys "
                                  f"({exc})", constraints[i]) from None
            except (ConstraintError, TypeError, ZeroDivisionError, OverflowError, ValueError) as exc:
                raise ConfigError(file, f"constraints[{i}]", f"an expression that evaluates ({exc})",
                                  constraints[i]) from None
            if not value:
                return False
        return True
    return keep


# ------------------------------------------------------------------------------------------------ values
def quant_settings(spec_quant: dict[str, Any], point_quant_values: dict[str, Any]) -> dict[str, Any]:
    """The spec's fixed quant settings with a point's ``quant.*`` values (keys without the prefix) merged in:
    what is merged into each workload's ``quant:`` block (:func:`accelsim.workloads.yaml_format.with_quant`)."""
    return deep_merge(spec_quant, nest(point_quant_values))


def _validate_values(values: dict[str, list[Any]], first: list[Point], base: HardwareConfig,
                     quant: dict[str, Any], workload_specs: dict[str, WorkloadSpec], parameters: Parameters,
                     mode: str, file: str) -> None:
    """Validate the first kept points in full, and each distinct parameter value set alone on the base config
    and quant block (a value rejected alone passes if one of the full points holds it)."""
    in_full: set[tuple[str, str]] = set()
    for params in first:
        _validate_point(params, f"(at point {params})", base, quant, workload_specs, parameters, mode, file)
        in_full.update((k, canonical_json(v)) for k, v in params.items())
    for name, distinct in values.items():
        for value in distinct:
            if (name, canonical_json(value)) in in_full:
                continue
            _validate_point({name: value}, f"(value {value!r} set alone on the base config)", base, quant,
                            workload_specs, parameters, mode, file)


def _validate_point(params: Point, where: str, base: HardwareConfig, quant: dict[str, Any],
                    workload_specs: dict[str, WorkloadSpec], parameters: Parameters, mode: str,
                    file: str) -> None:
    """Build the hardware config and quant block of ``params``; a rejected value names the parameter's key
    path."""
    hw_values = {k: v for k, v in params.items() if not k.startswith("quant.")}
    quant_values = {k[len("quant."):]: v for k, v in params.items() if k.startswith("quant.")}
    try:
        base.with_values(hw_values)
    except ConfigError as exc:
        name = next((k for k in hw_values if exc.key_path == k or exc.key_path.startswith(k + ".")), None)
        key = _param_key(parameters, mode, name) if name else exc.key_path
        raise ConfigError(file, key, f"{exc.expected} {where}", exc.found) from None
    if not quant_values:
        return
    settings = quant_settings(quant, quant_values)
    for spec in workload_specs.values():
        try:
            with_quant(spec, settings, file)
        except ConfigError as exc:  # key path quant.<...>: the parameter's own path when the point sets it
            name = next((k for k in params if exc.key_path == k or exc.key_path.startswith((k + ".", k + "["))),
                        None)  # quant.layer_bits[i]: entry i of the parameter's value
            key = _param_key(parameters, mode, name) if name else exc.key_path
            entry = f" (at {exc.key_path})" if name and name != exc.key_path else ""
            raise ConfigError(file, key, f"{exc.expected}{entry} {where}", exc.found) from None
