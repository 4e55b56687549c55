"""Running a sweep: every missing point on a local process pool, in process, or on a Dask cluster.

Workers evaluate :class:`PointTask` s with :func:`evaluate_point` (a top-level function, so it pickles for
spawned processes and Dask); each worker process loads the base config and builds each (workload, quant)
graph once. The main process writes each :class:`PointResult` to the :class:`~accelsim.sweep.store.ResultStore`
as it arrives, with a tqdm progress bar. A point that raises is stored with status ``error`` and its message.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Generator, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tqdm import tqdm

from accelsim import __version__
from accelsim.config.hw import HardwareConfig, load_hw
from accelsim.graph.ir import Graph
from accelsim.simulate import simulate
from accelsim.sweep.points import canonical_json
from accelsim.sweep.spec import SweepPoint, SweepSpec
from accelsim.sweep.store import ResultStore
from accelsim.workloads import load_workload


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
    """What a run did: points in the spec, already stored before this run, evaluated now, errors among them."""

    total_points: int
    already_done: int
    evaluated: int
    errors: int
    elapsed_s: float
    store: Path


def make_task(spec: SweepSpec, point: SweepPoint) -> PointTask:
    """The worker task of one point of ``spec``."""
    quant = spec.quant_settings(point)
    return PointTask(
        point_id=point.point_id, base_path=str(spec.base_path), workload_source=spec.workloads[point.workload],
        quant_json=canonical_json(quant) if quant else "", hw_values=tuple(point.hw_values.items()),
        timing_model=spec.simulation.timing_model, tiling_objective=spec.simulation.tiling_objective,
        store_layers=spec.store_layers,
    )


# ------------------------------------------------------------------------------------------------ worker side
@lru_cache(maxsize=8)
def _base_config(path: str) -> HardwareConfig:
    return load_hw(path)


@lru_cache(maxsize=32)
def _graph(source: str, quant_json: str) -> Graph:
    """The workload graph with the quant settings merged into its YAML ``quant:`` block (cached per process)."""
    return load_workload(source, quant=json.loads(quant_json) if quant_json else None)


def evaluate_point(task: PointTask) -> PointResult:
    """Simulate one point; any exception becomes a row with status ``error`` and the message."""
    start = time.perf_counter()
    row: dict[str, Any] = {"point_id": task.point_id, "accelsim_version": __version__,
                           "timing_model": task.timing_model}
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    try:
        hw = _base_config(task.base_path)
        hw = hw.with_values(dict(task.hw_values)) if task.hw_values else hw
        row.update(config_hash=hw.config_hash(), hw_name=hw.name, clock_mhz=hw.clock_mhz,
                   dram_bytes_per_cycle=hw.dram_bytes_per_cycle)
        graph = _graph(task.workload_source, task.quant_json)
        report = simulate(graph, hw, objective=task.tiling_objective, timing_model=task.timing_model)
        meta = report.metadata
        row.update(status="ok", error="", workload_name=meta["workload_name"], energy_table=meta["energy_table"],
                   synthetic_weights=bool(meta["synthetic_weights"]))
        row.update(report.totals)  # numpy scalars are unwrapped by the store (sql_value)
        if task.store_layers:
            columns = tuple(report.layers.columns)
            rows = tuple(zip(*(report.layers[c].tolist() for c in columns)))  # tolist: plain Python scalars
    except Exception as exc:  # noqa: BLE001 - a failing point is recorded, the sweep goes on
        row.update(status="error", error=f"{type(exc).__name__}: {exc}")
    row["wall_time_s"] = time.perf_counter() - start
    return PointResult(task.point_id, row, columns, rows)


# ------------------------------------------------------------------------------------------------ executors
def _serial(tasks: list[PointTask]) -> Iterator[PointResult]:
    for task in tasks:
        yield evaluate_point(task)


def _process_pool(tasks: list[PointTask], workers: int) -> Iterator[PointResult]:
    """A spawn-context process pool (no fork of a threaded parent); results in completion order."""
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(evaluate_point, t) for t in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _dask(tasks: list[PointTask], address: str, workers: int) -> Iterator[PointResult]:
    """``address`` of a Dask scheduler, or ``local`` for a LocalCluster of ``workers`` single-threaded processes."""
    from dask.distributed import Client, LocalCluster
    from dask.distributed import as_completed as dask_as_completed

    cluster = None
    if address == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        futures = client.map(evaluate_point, tasks, pure=False)
        for future in dask_as_completed(futures):
            yield future.result()
            future.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_sweep(spec: SweepSpec, out_dir: str | Path, *, workers: int | None = None, dask: str | None = None,
              progress: bool = False) -> SweepSummary:
    """Evaluate every point of ``spec`` not yet stored in ``out_dir`` and store each as it finishes.

    ``dask``: a scheduler address or ``local`` (LocalCluster); None = the spec's ``dask:`` block if any, else a
    local process pool of ``workers`` processes (default: all cores). ``workers=0`` runs in this process.
    ``progress`` shows a tqdm bar (points done, rate, time left).
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    with ResultStore(out_dir) as store:
        store.prepare(spec.fingerprint(), {
            "name": spec.name, "spec_file": Path(spec.file).name, "objectives": list(spec.objectives),
            "parameters": list(spec.parameter_names), "workloads": list(spec.workloads),
        })
        done = store.done_ids()
        todo = [p for p in spec.points if p.point_id not in done]
        index = {p.point_id: p for p in todo}
        tasks = [make_task(spec, p) for p in todo]
        errors = 0
        with closing(_executor(tasks, workers, dask, spec)) as results, tqdm(total=len(spec.points), initial=len(spec.points) - len(todo), unit="pt", disable=not progress,
                  desc=spec.name, dynamic_ncols=True) as bar:
            for result in results:
                point = index[result.point_id]
                row = {**result.row, "point_index": point.index, "workload": point.workload,
                       "parameters_json": canonical_json(point.parameters), **point.parameters}
                store.add(row, result.layer_columns, result.layer_rows)
                errors += row["status"] != "ok"
                bar.update(1)
    return SweepSummary(len(spec.points), len(spec.points) - len(todo), len(todo), errors,
                        time.perf_counter() - start, out_dir / "results.sqlite")


def _executor(tasks: list[PointTask], workers: int | None, dask: str | None,
              spec: SweepSpec) -> Generator[PointResult, None, None]:
    """Results of ``tasks`` in completion order; closing the generator stops the workers."""
    if not tasks:
        return
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
        yield from _process_pool(tasks, min(workers or os.cpu_count() or 1, len(tasks)))
