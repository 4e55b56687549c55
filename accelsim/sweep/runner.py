"""Running a sweep: every missing point on a local process pool, in process, or on a Dask cluster.

Workers evaluate :class:`PointTask` s with :func:`evaluate_point` (a top-level function, so it pickles for
spawned processes and Dask); each worker process loads the base config and builds each (workload, quant)
graph once. The main process streams the spec's points (checking the store for done ids a chunk at a time),
keeps at most a window of tasks in flight (:data:`WINDOW_PER_WORKER` per worker), writes each
:class:`PointResult` to the :class:`~accelsim.sweep.store.ResultStore` as it arrives and then drops it, with a
tqdm progress bar: its memory does not grow with the number of points. A point that raises is stored with
status ``error`` and its message. A pool worker that dies (SIGKILL, the OOM killer) breaks the pool: the points
in flight are retried once, one at a time on a new pool, and a point whose worker dies again is stored with
status ``error`` and :data:`WORKER_DIED`; on Dask, a task the scheduler gives up on (``KilledWorker``) too.

A spec that names a task (docs/tasks.md) runs in two phases on the same executor: first every distinct
accuracy key of its points (the point's PTQ settings and accumulator width, :func:`accuracy_key`) that the
store's ``accuracy_cache`` lacks is evaluated once (PTQ + integer execution of the task's evaluation set) and
stored as it finishes; then every point simulates the task's quantized graph and carries its key's accuracy. A
point whose evaluation failed (an accumulator overflow names the node) is stored with status ``error`` and that
message; the sweep goes on.
"""
from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tqdm import tqdm

from accelsim._version import __version__
from accelsim.config.hw import HardwareConfig, load_hw
from accelsim.graph.ir import Graph
from accelsim.simulate import simulate
from accelsim.sweep.points import canonical_json
from accelsim.sweep.spec import SweepPoint, SweepSpec
from accelsim.sweep.store import ResultStore
from accelsim.workloads import load_workload


#: Tasks in flight per worker: enough to keep every worker busy, few enough that memory stays bounded.
WINDOW_PER_WORKER = 4
#: Points whose done status is looked up in the store with one query.
DONE_CHUNK = 500
#: The error message stored for a point whose worker process died twice while evaluating it.
WORKER_DIED = "worker process died (killed or out of memory)"
#: Test hook, read once per process at import: a pool or Dask worker that gets this point id kills itself with
#: SIGKILL (never the main process: ``workers=0`` runs :func:`evaluate_point` directly).
KILL_POINT_ENV = "ACCELSIM_TEST_KILL_POINT"


@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs to evaluate one point (small and picklable)."""

    point_id: str
    base_path: str
    workload_source: str                      # absolute file path or zoo name
    quant_json: str                           # quant settings to merge into the workload's block; "" = none
    hw_values: tuple[tuple[str, Any], ...]    # dotted path -> value
    timing_model: str
    tiling_objective: str
    store_layers: bool
    task_source: str = ""                     # canonical JSON that reloads the spec's task; "" = no task
    accuracy_json: str = ""                   # the point's cached accuracy row (JSON), attached by the main process
    accuracy_only: bool = False               # evaluate the task's accuracy only (no simulation)
    accumulator_bits: int = 0                 # accumulator width of the accuracy evaluation (0 = per node default)


@dataclass(frozen=True)
class PointResult:
    """A worker's answer: the store row (totals and provenance) and the per-layer table (column names and one
    tuple of plain Python values per layer; empty without ``store_layers``)."""

    point_id: str
    row: dict[str, Any]
    layer_columns: tuple[str, ...] = ()
    layer_rows: tuple[tuple[Any, ...], ...] = ()


@dataclass(frozen=True)
class SweepSummary:
    """What a run did: points in the spec, already stored before this run, evaluated now, errors among them,
    and repeats (a random draw equal to an earlier point: stored once, not counted as evaluated)."""

    total_points: int
    already_done: int
    evaluated: int
    errors: int
    elapsed_s: float
    store: Path
    repeats: int = 0
    first_error: str = ""                     # "<point_id>: <message>" of the first point that failed


def make_task(spec: SweepSpec, point: SweepPoint,
              accuracy: dict[str, dict[str, Any]] | None = None) -> PointTask:
    """The worker task of one point of ``spec``; with a task, ``accuracy`` (accuracy key -> cached row) gives the
    point's accuracy."""
    quant = spec.quant_settings(point)
    attached = ""
    if spec.task is not None:
        key = accuracy_key(spec, point)
        row = (accuracy or {}).get(key) or {"status": "error", "error": f"no accuracy evaluation for {key}"}
        attached = canonical_json(row)
    return PointTask(
        point_id=point.point_id, base_path=str(spec.base_path), workload_source=spec.workloads[point.workload],
        quant_json=canonical_json(quant) if quant else "", hw_values=tuple(point.hw_values.items()),
        timing_model=spec.simulation.timing_model, tiling_objective=spec.simulation.tiling_objective,
        store_layers=spec.store_layers, task_source=spec.task_source, accuracy_json=attached,
    )


#: The hardware parameter that changes a task's integer execution (every other one only changes its cost).
ACCUMULATOR_PATH = "precision.accumulator_bits"


def accuracy_key(spec: SweepSpec, point: SweepPoint) -> str:
    """What a point's accuracy depends on: its validated task PTQ settings (defaults filled in, so equal settings
    written differently share a key) and the accumulator width of the point's hardware."""
    return _accuracy_key(spec.file, canonical_json(spec.quant_settings(point)),
                         int(point.hw_values.get(ACCUMULATOR_PATH, spec.base.precision.accumulator_bits)))


@lru_cache(maxsize=4096)
def _accuracy_key(file: str, quant_json: str, accumulator_bits: int) -> str:
    from accelsim.tasks.quant import task_quant

    quant = task_quant(json.loads(quant_json), file)
    return canonical_json({"quant": quant.model_dump(mode="json"), "accumulator_bits": accumulator_bits})


# ------------------------------------------------------------------------------------------------ worker side
@lru_cache(maxsize=8)
def _base_config(path: str) -> HardwareConfig:
    return load_hw(path)


@lru_cache(maxsize=32)
def _graph(source: str, quant_json: str) -> Graph:
    """The workload graph with the quant settings merged into its YAML ``quant:`` block (cached per process)."""
    return load_workload(source, quant=json.loads(quant_json) if quant_json else None)


@lru_cache(maxsize=8)
def _task(task_source: str):
    """The spec's task, loaded once per process."""
    from accelsim.tasks.spec import load_task

    src = json.loads(task_source)
    if "mapping" in src:
        return load_task(src["mapping"], folder=src["folder"], file=src["file"])
    return load_task(src["ref"], folder=src["folder"], file=src["file"])


def _task_row(task: PointTask) -> dict[str, Any]:
    """Accuracy-only evaluation of a task point: the ``accuracy_cache`` row (raises on failure)."""
    from accelsim.tasks.evaluate import evaluate_task
    from accelsim.tasks.quant import TaskQuant

    quant = TaskQuant.model_validate(json.loads(task.quant_json) if task.quant_json else {})
    result = evaluate_task(_task(task.task_source), quant, task.accumulator_bits or None)
    return {"status": "ok", "error": "", **result.as_row()}


def _task_graph(task: PointTask) -> tuple[Graph, dict[str, Any]]:
    """The task's quantized graph of the point and its cached accuracy columns (AccelsimError if its evaluation
    failed: the point fails with that message)."""
    from accelsim.errors import AccelsimError
    from accelsim.tasks.evaluate import ACCURACY_COLUMNS, quantized_graph
    from accelsim.tasks.quant import TaskQuant

    acc = json.loads(task.accuracy_json) if task.accuracy_json else {"status": "error", "error": "not evaluated"}
    if acc.get("status") != "ok":
        raise AccelsimError(f"accuracy evaluation failed: {acc.get('error')}")
    quant = TaskQuant.model_validate(json.loads(task.quant_json) if task.quant_json else {})
    return quantized_graph(_task(task.task_source), quant.ptq_settings()), {c: acc.get(c) for c in ACCURACY_COLUMNS}


_kill_point = os.environ.get(KILL_POINT_ENV) or None


def _worker_evaluate(task: PointTask) -> PointResult:
    """:func:`evaluate_point` in a pool or Dask worker (where the test hook applies)."""
    if _kill_point is not None and task.point_id == _kill_point:
        os.kill(os.getpid(), signal.SIGKILL)
    return evaluate_point(task)


def died_result(task: PointTask) -> PointResult:
    """The error row of a point whose worker process died."""
    return PointResult(task.point_id, {"point_id": task.point_id, "accelsim_version": __version__,
                                       "timing_model": task.timing_model, "status": "error",
                                       "error": WORKER_DIED, "wall_time_s": None})


def evaluate_point(task: PointTask) -> PointResult:
    """Simulate one point; any exception becomes a row with status ``error`` and the message."""
    start = time.perf_counter()
    row: dict[str, Any] = {"point_id": task.point_id, "accelsim_version": __version__,
                           "timing_model": task.timing_model}
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    if task.accuracy_only:
        try:
            row.update(_task_row(task))
        except Exception as exc:  # noqa: BLE001 - a failing evaluation is recorded (overflow names the node)
            row.update(status="error", error=f"{type(exc).__name__}: {exc}")
        row["wall_time_s"] = time.perf_counter() - start
        return PointResult(task.point_id, row)
    try:
        hw = _base_config(task.base_path)
        hw = hw.with_values(dict(task.hw_values)) if task.hw_values else hw
        row.update(config_hash=hw.config_hash(), hw_name=hw.name, clock_mhz=hw.clock_mhz,
                   dram_bytes_per_cycle=hw.dram_bytes_per_cycle)
        accuracy: dict[str, Any] = {}
        if task.task_source:
            graph, accuracy = _task_graph(task)
        else:
            graph = _graph(task.workload_source, task.quant_json)
        report = simulate(graph, hw, objective=task.tiling_objective, timing_model=task.timing_model)
        meta = report.metadata
        row.update(status="ok", error="", workload_name=meta["workload_name"], energy_table=meta["energy_table"],
                   synthetic_weights=bool(meta["synthetic_weights"]))
        row.update(report.totals)  # numpy scalars are unwrapped by the store (sql_value)
        row.update(accuracy)
        if task.store_layers:
            columns = tuple(report.layers.columns)
            rows = tuple(zip(*(report.layers[c].tolist() for c in columns)))  # tolist: plain Python scalars
    except Exception as exc:  # noqa: BLE001 - a failing point is recorded, the sweep goes on
        row.update(status="error", error=f"{type(exc).__name__}: {exc}")
    row["wall_time_s"] = time.perf_counter() - start
    return PointResult(task.point_id, row, columns, rows)


# ------------------------------------------------------------------------------------------------ executors
def _serial(tasks: Iterable[PointTask]) -> Iterator[PointResult]:
    for task in tasks:
        yield evaluate_point(task)


def _new_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _process_pool(tasks: Iterable[PointTask], workers: int) -> Iterator[PointResult]:
    """A spawn-context process pool (no fork of a threaded parent) with at most ``WINDOW_PER_WORKER * workers``
    tasks in flight; results in completion order. When a worker dies the pool is replaced and the tasks that
    were in flight are retried once, each alone on the new pool; a task whose worker dies on its retry gets
    :func:`died_result`."""
    tasks = iter(tasks)
    window = WINDOW_PER_WORKER * workers
    pending: dict[Future, PointTask] = {}
    retry: deque[PointTask] = deque()  # were in flight when a worker died: run again, each alone
    carry: deque[PointTask] = deque()  # never ran (a submit the broken pool refused): run first
    isolated = False                   # the one pending task is a retry running alone
    pool = _new_pool(workers)
    try:
        while True:
            if not pending:
                isolated = bool(retry)
            if isolated:
                batch = [retry.popleft()] if not pending else []
            else:
                batch = [carry.popleft() for _ in range(min(len(carry), window - len(pending)))]
                batch += itertools.islice(tasks, window - len(pending) - len(batch))
            broken = False
            for i, task in enumerate(batch):
                try:
                    pending[pool.submit(_worker_evaluate, task)] = task
                except BrokenProcessPool:  # a worker died since the last wait
                    (retry if isolated else carry).extendleft(reversed(batch[i:]))
                    broken = True
                    break
            if not broken:
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                if not any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                    for future in done:
                        del pending[future]
                        yield future.result()
                    continue
            for future, task in pending.items():  # the pool is broken: every pending future has an outcome
                if future.exception() is None:
                    yield future.result()
                elif isolated:
                    yield died_result(task)
                else:
                    retry.append(task)
            pending.clear()
            pool.shutdown(wait=True, cancel_futures=True)
            pool = _new_pool(workers)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _dask(tasks: Iterable[PointTask], address: str, workers: int) -> Iterator[PointResult]:
    """``address`` of a Dask scheduler, or ``local`` for a LocalCluster of ``workers`` single-threaded processes.
    At most ``WINDOW_PER_WORKER * workers`` tasks are submitted at a time; each future is released once its
    result is taken. A task Dask gives up on (its workers died repeatedly: ``KilledWorker``) gets
    :func:`died_result`."""
    from dask.distributed import Client, LocalCluster
    from dask.distributed import as_completed as dask_as_completed

    cluster = None
    if address == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(address)
    tasks = iter(tasks)
    owner: dict[str, PointTask] = {}  # future key -> task, for the futures in flight
    completed = dask_as_completed()

    def submit(more: int) -> None:
        for task in itertools.islice(tasks, more):
            future = client.submit(_worker_evaluate, task, pure=False)
            owner[future.key] = task
            completed.add(future)

    try:
        submit(WINDOW_PER_WORKER * workers)
        for future in completed:
            task = owner.pop(future.key)
            try:
                result = future.result()
            except Exception:  # noqa: BLE001 - the scheduler gave up on the task (KilledWorker)
                result = died_result(task)
            future.release()
            yield result
            submit(1)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@dataclass
class _Tally:
    """Running counts of a sweep (the main process's only state besides the points in flight)."""

    total: int = 0
    done: int = 0
    repeats: int = 0
    evaluated: int = 0
    errors: int = 0
    first_error: str = ""


def _todo(spec: SweepSpec, store: ResultStore, in_flight: dict[str, SweepPoint], tally: _Tally,
          skipped: Callable[[], None], accuracy: dict[str, dict[str, Any]] | None = None) -> Iterator[PointTask]:
    """The tasks of the spec's points that are neither stored, in flight nor repeated, in spec order. Done ids
    are looked up :data:`DONE_CHUNK` points at a time; every yielded point goes into ``in_flight`` (the caller
    removes it once stored). ``tally`` counts ``total``, ``done`` and ``repeats``; ``skipped()`` is called
    for each point not yielded."""
    points = iter(spec.points)
    while chunk := list(itertools.islice(points, DONE_CHUNK)):
        tally.total += len(chunk)
        done = store.done_among([p.point_id for p in chunk])
        seen = set(in_flight)
        for point in chunk:
            if point.point_id in done:
                tally.done += 1
            elif point.point_id in seen:
                tally.repeats += 1
            if point.point_id in done or point.point_id in seen:
                skipped()
                continue
            seen.add(point.point_id)
            in_flight[point.point_id] = point
            yield make_task(spec, point, accuracy)


def run_sweep(spec: SweepSpec, out_dir: str | Path, *, workers: int | None = None, dask: str | None = None,
              progress: bool = False) -> SweepSummary:
    """Evaluate every point of ``spec`` not yet stored in ``out_dir`` and store each as it finishes.

    ``dask``: a scheduler address or ``local`` (LocalCluster); None = the spec's ``dask:`` block if any, else a
    local process pool of ``workers`` processes (default: all cores). ``workers=0`` runs in this process.
    ``progress`` shows a tqdm bar (points done, rate, time left). Memory stays bounded whatever the number of
    points: points are generated, submitted and stored as a stream.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    with ResultStore(out_dir) as store:
        store.prepare(spec.fingerprint(), {
            "name": spec.name, "spec_file": Path(spec.file).name, "objectives": list(spec.objectives),
            "parameters": list(spec.parameter_names), "workloads": list(spec.workloads),
        })
        tally = _Tally()
        accuracy = _accuracy_phase(spec, store, workers, dask) if spec.task is not None else None
        in_flight: dict[str, SweepPoint] = {}
        total = spec.point_count().total if progress else None
        with tqdm(total=total, unit="pt", disable=not progress, desc=spec.name, dynamic_ncols=True) as bar:
            tasks = _todo(spec, store, in_flight, tally, lambda: bar.update(1), accuracy)
            with closing(_executor(tasks, workers, dask, spec)) as results:
                for result in results:
                    point = in_flight.pop(result.point_id)
                    row = {**result.row, "point_index": point.index, "workload": point.workload,
                           "parameters_json": canonical_json(point.parameters), **point.parameters}
                    store.add(row, result.layer_columns, result.layer_rows)
                    tally.evaluated += 1
                    if row["status"] != "ok":
                        tally.errors += 1
                        tally.first_error = tally.first_error or f"{row['point_id']}: {row['error']}"
                    bar.update(1)
    return SweepSummary(tally.total, tally.done, tally.evaluated, tally.errors, time.perf_counter() - start,
                        out_dir / "results.sqlite", tally.repeats, tally.first_error)


def _accuracy_phase(spec: SweepSpec, store: ResultStore, workers: int | None,
                    dask: str | None) -> dict[str, dict[str, Any]]:
    """Evaluate every distinct accuracy key of the spec's points that the store's cache lacks, once each, on the
    sweep's executor; store each as it finishes. Returns every key's row (cached and new). Points are scanned
    only when a parameter can change the key (a ``quant.*`` path or the accumulator width)."""
    task_fp = spec.task.fingerprint
    cache = store.cached_accuracy(task_fp)
    varies = any(n.startswith("quant.") or n == ACCUMULATOR_PATH for n in spec.parameter_names)
    points = spec.points if varies else itertools.islice(spec.points, 1)
    todo: dict[str, PointTask] = {}
    for point in points:
        key = accuracy_key(spec, point)
        if key in cache or key in todo:
            continue
        task = make_task(spec, point)
        bits = json.loads(key)["accumulator_bits"]
        todo[key] = PointTask(
            point_id=f"accuracy:{key}", base_path=task.base_path, workload_source=task.workload_source,
            quant_json=task.quant_json, hw_values=(), timing_model=task.timing_model,
            tiling_objective=task.tiling_objective, store_layers=False, task_source=spec.task_source,
            accuracy_only=True, accumulator_bits=bits)
    if not todo:
        return cache
    with closing(_executor(iter(todo.values()), workers, dask, spec)) as results:
        for result in results:
            key = result.point_id[len("accuracy:"):]
            row = result.row
            if row.get("error") != WORKER_DIED:  # a death is not a property of the settings: not cached
                store.add_accuracy(task_fp, key, row)
            cache[key] = row
    return cache


def _executor(tasks: Iterator[PointTask], workers: int | None, dask: str | None,
              spec: SweepSpec) -> Generator[PointResult, None, None]:
    """Results of ``tasks`` in completion order; closing the generator stops the workers."""
    first = next(tasks, None)
    if first is None:
        return
    tasks = itertools.chain([first], tasks)
    if dask is None and spec.dask is not None:
        if workers == 0:  # an explicit "run in this process" wins over the spec's dask: block
            yield from _serial(tasks)
            return
        dask, workers = spec.dask.address, workers if workers is not None else spec.dask.workers
    if dask is not None:
        yield from _dask(tasks, dask, workers or 2)
    elif workers == 0:
        yield from _serial(tasks)
    else:
        known = spec.point_count(limit=0).total  # free without constraints; a small sweep needs few workers
        yield from _process_pool(tasks, min(workers or os.cpu_count() or 1, known or sys.maxsize))
