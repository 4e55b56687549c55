"""Accuracy-vs-cost figures of a sweep over a task (issue 12): measured accuracy against energy, latency or DRAM.

* :func:`accuracy_pareto` — ``accuracy_pct`` (maximized, with its binomial standard error as error bars) against
  one cost (minimized), one panel per workload, the Pareto front drawn as the staircase bounding what it
  dominates, uniform-precision points (W8A8, W4A8, W8A16, ...) coloured and named in the legend, mixed-precision
  points (per-layer ``layer_bits`` / ``overrides``) grey, the float model's accuracy as a dashed line;
* :func:`write_accuracy_plots` — those figures for a results directory (PNG and SVG in ``DIR/plots``) and each
  front as a CSV table; :func:`accelsim.plots.write_sweep_plots` (``accelsim plot``) calls it whenever the
  results hold accuracy.

The accuracy and its standard error are those the sweep measured (PTQ + bit-exact integer execution of the
task's evaluation set, docs/tasks.md); nothing here predicts accuracy.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from accelsim.analysis import (ACCURACY_COLUMN, ACCURACY_STDERR_COLUMN, accuracy_front, group_columns, has_accuracy,
                               load_meta, load_results, point_quant_settings, precision_label, split_groups)
from accelsim.errors import AccelsimError
from accelsim.plots import (MAX_PANELS, _annotate, _figure, _file_stem, _fit, _grid, axis_label, save, scaled,
                            values_label)

#: Costs drawn against accuracy by default (each only when the results have it), besides cost objectives.
DEFAULT_COSTS = ("energy_pj", "latency_ms")
#: Label of points whose precision differs per layer.
MIXED = "mixed precision"


def _precision_labels(df: pd.DataFrame, meta: dict[str, object] | None) -> pd.Series:
    """Each row's uniform precision (``W8A8``) or :data:`MIXED`; an existing ``precision`` column wins."""
    if "precision" in df.columns:
        return df["precision"].fillna(MIXED).astype(str)
    return point_quant_settings(df, meta).map(lambda q: precision_label(q) or MIXED)


def accuracy_pareto(df: pd.DataFrame, cost: str, meta: dict[str, object] | None = None, title: str = "",
                    by: Sequence[str] | None = None, annotate: bool | Sequence[str] = False) -> Figure:
    """Measured accuracy of every ``ok`` point of ``df`` against ``cost``, a panel per workload (and ``by`` value).

    Each point carries an error bar of ± one ``accuracy_stderr_pct``. Points are coloured by their precision
    (:func:`accelsim.analysis.precision_label`, from ``meta``'s fixed quant settings and each point's
    ``quant.*`` parameters; or a ``precision`` column of ``df``), drawn as squares for per-tensor and circles
    for per-channel weight scales when both occur; the accuracy front
    (:func:`accelsim.analysis.accuracy_front`) is ringed in red and joined by the staircase bounding the region
    it dominates; the float model's accuracy (``float_accuracy_pct``) is a dashed line. ``annotate`` numbers the
    front points and lists their parameters as :func:`accelsim.plots.pareto_scatter` does."""
    if not has_accuracy(df):
        raise AccelsimError("accuracy_pareto: the results hold no measured accuracy (a sweep needs task: to "
                            "measure it; docs/tasks.md)")
    if cost not in df.columns:
        raise AccelsimError(f"accuracy_pareto: no column {cost!r} in the results")
    ok = df[df["status"] == "ok"] if "status" in df else df
    ok = ok.dropna(subset=[cost, ACCURACY_COLUMN]).copy()
    ok["_precision"] = _precision_labels(ok, meta)
    ok["_per_channel"] = [bool(q.get("per_channel", True)) for q in point_quant_settings(ok, meta)]
    markers = {True: "o", False: "s"} if ok["_per_channel"].nunique() > 1 else {True: "o", False: "o"}
    groups = split_groups(ok, group_columns(ok, by)) or [({}, ok)]
    if len(groups) > MAX_PANELS * 3:
        raise AccelsimError(f"accuracy_pareto: {len(groups)} groups; at most {MAX_PANELS * 3} panels fit one figure")
    labels = sorted(set(ok["_precision"]) - {MIXED}, key=_precision_order) + ([MIXED] if (ok["_precision"] == MIXED)
                                                                               .any() else [])
    colours = dict(zip([lb for lb in labels if lb != MIXED], matplotlib.colormaps["tab10"].colors))
    colours[MIXED] = "0.6"
    rows, cols = _grid(len(groups), 3)
    fig = _figure((6.4 if cols == 1 else 4.8 * cols) + (3.0 * cols if annotate else 0.0),
                  4.8 if rows == 1 else 3.9 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (key, group) in zip(axes, groups):
        xs, ys = scaled(group, cost), group[ACCURACY_COLUMN].astype(float)
        err = (group[ACCURACY_STDERR_COLUMN].astype(float).fillna(0.0) if ACCURACY_STDERR_COLUMN in group
               else None)
        for label in labels:
            for per_channel in (True, False):
                sel = (group["_precision"] == label) & (group["_per_channel"] == per_channel)
                if sel.any():
                    count = int((group["_precision"] == label).sum())
                    first = per_channel or not ((group["_precision"] == label) & group["_per_channel"]).any()
                    ax.errorbar(xs[sel], ys[sel], yerr=None if err is None else err[sel], fmt=markers[per_channel],
                                ms=5, capsize=2, lw=0.8, color=colours[label],
                                label=f"{label} ({count})" if first else None)
        if markers[True] != markers[False]:
            for per_channel, text in ((True, "per-channel weights"), (False, "per-tensor weights")):
                ax.plot([], [], markers[per_channel], color="0.2", ms=5, ls="none", label=text)
        front = accuracy_front(group, cost, by=by)
        ax.plot(scaled(front, cost), front[ACCURACY_COLUMN].astype(float), "-", color="tab:red", lw=1.2,
                drawstyle="steps-post", zorder=3)  # cost ascending: accuracy holds until the next front point
        ax.plot(scaled(front, cost), front[ACCURACY_COLUMN].astype(float), "o", mfc="none", mec="tab:red", ms=10,
                mew=1.5, zorder=4, label=f"Pareto front ({len(front)})")
        if "float_accuracy_pct" in group and group["float_accuracy_pct"].notna().any():
            ax.axhline(float(group["float_accuracy_pct"].dropna().iloc[0]), ls="--", color="0.3", lw=1,
                       label="float model")
        ax.set_xlabel(axis_label(cost))
        ax.set_ylabel(axis_label(ACCURACY_COLUMN) + " (± s.e.)")
        ax.locator_params(nbins=5)
        ax.ticklabel_format(useOffset=False)
        ax.grid(True, alpha=0.3)
        if len(groups) > 1 or len(key) > 1:
            ax.set_title(values_label(key), fontsize="medium")
        if annotate:
            _annotate(ax, front, cost, ACCURACY_COLUMN, annotate, set(key))
        else:
            ax.legend(fontsize="small", loc="lower right")
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    fig.suptitle(_fit(fig, title or f"measured accuracy vs {axis_label(cost)}"))
    return fig


def _precision_order(label: str) -> tuple[int, int, str]:
    """W8A8 before W4A8 before W8A16 ...: by activation bits, then descending weight bits; other labels after
    them, by text (a fixed order, so colours do not change between figures or runs)."""
    weight, _, act = label[1:].partition("A")
    try:
        return int(act), -int(weight), label
    except ValueError:
        return 99, 0, label


def write_accuracy_plots(directory: str | Path, costs: Sequence[str] | None = None, by: Sequence[str] = (),
                         annotate: bool = False) -> list[Path]:
    """Write ``accuracy_vs_<cost>.png`` / ``.svg`` (:func:`accuracy_pareto`) and the front as
    ``accuracy_vs_<cost>.csv`` (group columns, accuracy, its standard error, the cost, the precision, the sweep's
    parameters, point_id) into ``DIR/plots`` for each cost: by default energy and latency, and every other cost
    objective of the sweep. Returns the paths written; [] when the results hold no measured accuracy."""
    directory = Path(directory)
    meta = load_meta(directory)
    df = load_results(directory)
    if not has_accuracy(df):
        return []
    ok = df[df["status"] == "ok"]
    parameters = [str(p) for p in meta.get("parameters", [])]
    if costs is None:
        objectives = [str(o) for o in meta.get("objectives", [])]
        from accelsim.sweep.spec import ACCURACY_METRICS
        costs = [c for c in dict.fromkeys([*DEFAULT_COSTS, *objectives]) if c not in ACCURACY_METRICS]
    name = str(meta.get("name", directory.name))
    out = directory / "plots"
    paths: list[Path] = []
    for cost in costs:
        if cost not in ok.columns:
            raise AccelsimError(f"{directory}: no column {cost!r} in the results (accuracy plot cost)")
        stem = _file_stem(f"accuracy_vs_{cost}")
        fig = accuracy_pareto(ok, cost, meta=meta, by=by, annotate=parameters if annotate else False,
                              title=f"{name}: measured accuracy vs {axis_label(cost)}")
        paths += save(fig, out / stem)
        front = accuracy_front(ok, cost, by=by)
        front = front.assign(precision=_precision_labels(front, meta))
        columns = list(dict.fromkeys([*group_columns(ok, by), ACCURACY_COLUMN, ACCURACY_STDERR_COLUMN, cost,
                                      "precision", *parameters, "point_id"]))
        table = front[[c for c in columns if c in front.columns]]
        table = table.map(lambda v: json.dumps(v) if isinstance(v, (dict, list)) else v)
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / f"{stem}.csv", index=False)
        paths.append(out / f"{stem}.csv")
    return paths
