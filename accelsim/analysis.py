"""Sweep results as DataFrames, and Pareto fronts.

``load_results(dir)`` reads the ``points`` table of a results directory (one row per design point, parameters
as typed columns named by their dotted paths, every report total, status); ``load_layers(dir, point_id)`` the
per-layer rows of one point; ``pareto_front(df, objectives, by=...)`` the non-dominated rows of each
workload (and of each value of the ``by`` columns).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from accelsim.errors import AccelsimError
from accelsim.sweep.store import ResultStore, StoreError, connect, quote, sqlite_errors


def load_meta(directory: str | Path) -> dict[str, object]:
    """The sweep's recorded settings: ``name``, ``objectives``, ``parameters``, ``workloads``, ``fingerprint``."""
    with ResultStore(directory, create=False) as store:
        rows = store.meta()
    return {k: (v if k == "fingerprint" else json.loads(v)) for k, v in rows.items()}


def _read_sql(directory: str | Path, query: str, params: tuple[object, ...] = ()) -> pd.DataFrame:
    """``query`` on the store of ``directory`` (checked on open); SQLite errors become StoreErrors."""
    conn = connect(directory, create=False)
    try:
        with sqlite_errors(directory):
            try:
                return pd.read_sql_query(query, conn, params=params)
            except pd.errors.DatabaseError as exc:  # pandas wraps the sqlite3 error
                raise (exc.__cause__ or exc) from None
    finally:
        conn.close()


def load_results(directory: str | Path) -> pd.DataFrame:
    """Every stored point, ordered as in the spec; parameter columns hold the values of the spec (bools stay
    bools, mappings stay mappings) rather than SQLite's storage types."""
    df = _read_sql(directory, "SELECT * FROM points ORDER BY point_index, point_id")
    params = [json.loads(text) for text in df["parameters_json"]]
    for name in dict.fromkeys(k for p in params for k in p):
        df[name] = pd.Series([p.get(name) for p in params], index=df.index, dtype=object).infer_objects()
    df["synthetic_weights"] = df["synthetic_weights"].astype("boolean")
    return df


def load_layers(directory: str | Path, point_id: str) -> pd.DataFrame:
    """The per-layer rows of one point (as in :attr:`accelsim.report.Report.layers`), in execution order."""
    df = _read_sql(directory, f"SELECT * FROM layers WHERE {quote('point_id')} = ? ORDER BY layer_index",
                   (point_id,))
    if df.empty:
        raise StoreError(f"{directory}: no per-layer rows for point {point_id!r} (unknown point, a failed point, "
                         "or a sweep with store_layers: false)")
    return df.drop(columns=["point_id", "layer_index"]).dropna(axis=1, how="all")


# ------------------------------------------------------------------------------------------------ Pareto
def pareto_mask(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` (n x k, every column minimized).

    Row a dominates row b when a <= b in every column and a < b in at least one; equal rows do not dominate
    each other. k = 2: sort by (x, y) and sweep once keeping rows whose y beats every earlier row's,
    O(n log n). k >= 3: sort lexicographically (a dominating row always comes first) and compare each row only
    against the front kept so far, O(k n f) for a front of f rows.
    """
    values = np.asarray(values, dtype=float)
    n, k = values.shape
    if n == 0:
        return np.zeros(0, dtype=bool)
    if k == 1:
        return values[:, 0] == values[:, 0].min()
    if k == 2:
        return _pareto_mask_2d(values)
    return _pareto_mask_nd(values)


def _pareto_mask_2d(values: np.ndarray) -> np.ndarray:
    order = np.lexsort((values[:, 1], values[:, 0]))  # by x, then y
    mask = np.zeros(len(values), dtype=bool)
    best_y = np.inf
    last: tuple[float, float] | None = None
    for i in order:
        x, y = values[i]
        if y < best_y:
            mask[i], best_y, last = True, y, (x, y)
        elif last is not None and (x, y) == last:  # an exact duplicate of the last front point
            mask[i] = True
    return mask


def _pareto_mask_nd(values: np.ndarray) -> np.ndarray:
    """k >= 3. A row dominated by any earlier row is dominated by a front row too (dominance is transitive),
    so the kept front is the only thing each row is compared with."""
    order = np.lexsort(values.T[::-1])  # by the first column, then the second, ...
    mask = np.zeros(len(values), dtype=bool)
    front = np.empty_like(values)
    size = 0
    for i in order:
        row = values[i]
        kept = front[:size]
        if not np.any(np.all(kept <= row, axis=1) & np.any(kept < row, axis=1)):
            mask[i] = True
            front[size] = row
            size += 1
    return mask


def group_columns(df: pd.DataFrame, by: Sequence[str] | None = None) -> list[str]:
    """The columns fronts are computed per: ``workload`` (when ``df`` has it; fronts never mix networks)
    followed by the columns of ``by``. A column ``df`` lacks is an :class:`~accelsim.errors.AccelsimError`."""
    columns = (["workload"] if "workload" in df.columns else []) + [c for c in (by or ()) if c != "workload"]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise AccelsimError(f"no column {missing[0]!r} to group by (columns: {', '.join(map(str, df.columns))})")
    return list(dict.fromkeys(columns))


def split_groups(df: pd.DataFrame, columns: Sequence[str]) -> list[tuple[dict[str, object], pd.DataFrame]]:
    """``df`` split by the values of ``columns``, as (column -> value, rows) in order of first appearance.

    Values are compared by their text, so mapping-valued parameters and missing values form groups too."""
    columns = list(columns)
    if not columns or df.empty:
        return [({}, df)] if not df.empty else []
    keys = [df[c].map(str).rename(c) for c in columns]
    return [({c: group[c].iloc[0] for c in columns}, group)
            for _, group in df.groupby(keys, sort=False, dropna=False)]


def pareto_front(df: pd.DataFrame, objectives: Sequence[str], minimize: bool | Sequence[bool] = True,
                 by: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of ``df`` not dominated on ``objectives`` (2 or more columns) within their group.

    Groups (:func:`group_columns`): one per ``workload`` — points of different networks are never compared —
    and per value of each column of ``by`` (e.g. ``["quant.weight_bits"]``: one front per workload and weight
    width). The result holds each group's front sorted by the first objective, groups in order of first
    appearance. ``minimize`` is one flag or one per objective (False = maximize, e.g. ``utilization``). Rows
    with a missing objective value or a ``status`` other than ``ok`` are left out.
    """
    objectives = list(objectives)
    flags = [minimize] * len(objectives) if isinstance(minimize, bool) else list(minimize)
    if len(flags) != len(objectives) or len(objectives) < 2:
        raise ValueError("pareto_front needs at least 2 objectives and one minimize flag per objective")
    ok = df if "status" not in df else df[df["status"] == "ok"]
    ok = ok.dropna(subset=objectives)
    signs = np.where(flags, 1.0, -1.0)
    fronts = [group[pareto_mask(group[objectives].to_numpy(dtype=float) * signs)]
              .sort_values(objectives[0], kind="stable")
              for _, group in split_groups(ok, group_columns(ok, by))]
    return pd.concat(fronts) if fronts else ok.iloc[:0]


# ------------------------------------------------------------------------------------------------ accuracy vs cost
#: The accuracy column of a sweep over a task (maximized) and its binomial standard error (docs/tasks.md).
ACCURACY_COLUMN = "accuracy_pct"
ACCURACY_STDERR_COLUMN = "accuracy_stderr_pct"


def has_accuracy(df: pd.DataFrame) -> bool:
    """True if ``df`` holds a measured accuracy for at least one successful point (a sweep that names a task)."""
    if ACCURACY_COLUMN not in df.columns:
        return False
    ok = df if "status" not in df else df[df["status"] == "ok"]
    return bool(ok[ACCURACY_COLUMN].notna().any())


def accuracy_front(df: pd.DataFrame, cost: str, by: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of ``df`` not dominated on (``cost`` minimized, ``accuracy_pct`` maximized), per workload and
    ``by`` value (:func:`pareto_front`), each group sorted by ascending cost (so by ascending accuracy too).
    A ``cost`` column ``df`` lacks is an :class:`~accelsim.errors.AccelsimError`."""
    for column in (cost, ACCURACY_COLUMN):
        if column not in df.columns:
            raise AccelsimError(f"no column {column!r} in the results (an accuracy front needs a sweep over a task "
                                "and a cost column such as energy_pj or latency_ms)")
    return pareto_front(df, [cost, ACCURACY_COLUMN], minimize=[True, False], by=by)


def point_quant_settings(df: pd.DataFrame, meta: dict[str, object] | None = None) -> pd.Series:
    """Each row's task quantization settings as a mapping (:class:`accelsim.tasks.quant.TaskQuant` keys): the
    defaults, then the sweep's fixed ``quant:`` settings (from the stored fingerprint in ``meta``), then the
    row's ``quant.*`` parameters (``parameters_json``) — the merge the sweep runner evaluates a point with
    (:func:`accelsim.tasks.quant.merge_point_values`)."""
    from accelsim.tasks.quant import TaskQuant, merge_point_values

    fixed: dict[str, object] = {}
    fingerprint = (meta or {}).get("fingerprint")
    if isinstance(fingerprint, str):
        fixed = dict(json.loads(fingerprint).get("quant") or {})
    defaults = TaskQuant().model_dump()
    out = []
    for text in (df["parameters_json"] if "parameters_json" in df else [None] * len(df)):
        params = json.loads(text) if isinstance(text, str) else {}
        values = {k[len("quant."):]: v for k, v in params.items() if k.startswith("quant.")}
        out.append({**defaults, **merge_point_values(fixed, values)})
    return pd.Series(out, index=df.index, dtype=object)


def precision_label(quant: dict[str, object]) -> str | None:
    """``W<weight bits>A<activation bits>`` (e.g. ``W4A8``) for a uniform-precision setting; None when
    ``layer_bits`` selectors or a per-node override of a bit width (one differing from the task-wide width) make
    it mixed precision. An override of ``per_channel`` alone keeps the precision uniform."""
    weight, act = quant.get("weight_bits", 8), quant.get("activation_bits", 8)
    if quant.get("layer_bits"):
        return None
    for override in dict(quant.get("overrides") or {}).values():
        o = dict(override or {})
        if o.get("weight_bits") not in (None, weight) or o.get("activation_bits") not in (None, act):
            return None
    return f"W{weight}A{act}"
