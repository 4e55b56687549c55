"""Matplotlib figures of simulation and sweep results (Agg canvas; no pyplot, no global backend change).

* :func:`pareto_scatter` — two objectives of every point, the Pareto front highlighted, a panel per workload;
* :func:`layer_breakdown` — per-layer latency (compute vs stall) and energy (by component) stacked bars;
* :func:`roofline` — per-layer arithmetic intensity vs achieved ops/cycle under the compute and DRAM roofs;
* :func:`metric_vs_parameter` — a metric against one parameter, one line per combination of the others
  (at most 10 lines a panel, more panels beyond);
* :func:`write_sweep_plots` — all of them for a results directory, as PNG and SVG in ``DIR/plots``, and the
  Pareto fronts as CSV tables.

Axis labels carry units; energies are shown in µJ and byte counts in MiB.
"""
from __future__ import annotations

import json
import re
import textwrap
import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from accelsim.analysis import (group_columns, has_accuracy, load_layers, load_meta, load_results, pareto_front,
                               split_groups)
from accelsim.errors import AccelsimError
from accelsim.report import result_unit
from accelsim.sweep.spec import minimized
from accelsim.sweep.store import StoreError

#: Unit suffix of a column name -> (unit shown, factor from the stored unit to the shown one).
UNITS = {
    "_pj": ("µJ", 1e-6), "_bytes": ("MiB", 1 / 2**20), "_ms": ("ms", 1.0), "_cycles": ("cycles", 1.0),
    "_mm2": ("mm²", 1.0), "_gb_s": ("GB/s", 1.0), "_kib": ("KiB", 1.0), "_mhz": ("MHz", 1.0),
    "_bits": ("bits", 1.0), "_macs_per_cycle": ("MAC/cycle", 1.0), "_pct": ("%", 1.0),
}
FORMATS = ("png", "svg")
#: Most panels in one Pareto figure of :func:`write_sweep_plots` (a 3 x 3 grid), and most such figures.
PARETO_PANELS = 9
PARETO_FIGURES = 10
#: Most panels of one :func:`metric_vs_parameter` figure; more lines than fit are drawn as unjoined points.
MAX_PANELS = 12


#: Unit of a report result (:func:`accelsim.report.result_unit`) -> (unit shown, factor to it).
SHOWN_UNITS = {
    "pJ": ("µJ", 1e-6), "bytes": ("MiB", 1 / 2**20), "ms": ("ms", 1.0), "cycles": ("cycles", 1.0),
    "mm²": ("mm²", 1.0), "GB/s": ("GB/s", 1.0), "bits": ("bits", 1.0), "MACs/cycle": ("MAC/cycle", 1.0),
    "fraction": ("fraction of peak", 1.0),
}


def unit_of(name: str) -> tuple[str, float]:
    """(unit label, scale factor) of a column: a report result's unit from its field metadata
    (:func:`accelsim.report.result_unit`), else the name's unit suffix (sweep parameters); ("", 1) without one."""
    unit = result_unit(name)
    if unit is not None:
        return SHOWN_UNITS.get(unit, ("", 1.0))
    for suffix, unit in UNITS.items():
        if name.endswith(suffix):
            return unit
    if name == "utilization":
        return "fraction of peak", 1.0
    return "", 1.0


def axis_label(name: str) -> str:
    """``latency_ms`` -> ``latency [ms]``; ``memories.vtcm.size_kib`` -> ``memories.vtcm.size_kib [KiB]``."""
    unit, _ = unit_of(name)
    if "." in name:
        text = name
    else:
        text = name
        for suffix in UNITS:
            if name.endswith(suffix):
                text = name[: -len(suffix)]
                break
        text = text.replace("_", " ")
    return f"{text} [{unit}]" if unit else text


def scaled(df: pd.DataFrame, name: str) -> pd.Series:
    """A column converted to the unit of :func:`axis_label`."""
    return df[name].astype(float) * unit_of(name)[1]


def _figure(width_in: float = 6.4, height_in: float = 4.8) -> Figure:
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, stem: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` (150 dpi for PNG); returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        with rc_context({"svg.fonttype": "none"}):  # SVG text stays text (searchable, editable)
            fig.savefig(path, dpi=150)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------------------------ labels
def short_names(columns: Sequence[str]) -> dict[str, str]:
    """Each dotted column name shortened to its shortest trailing part that no other column ends with:
    ``memories.vtcm.size_kib`` -> ``size_kib``, or ``vtcm.size_kib`` when ``memories.l2.size_kib`` is there too."""
    columns = list(dict.fromkeys(columns))
    short = {}
    for c in columns:
        parts = c.split(".")
        for n in range(1, len(parts) + 1):
            tail = ".".join(parts[-n:])
            if not any(o != c and (o == tail or o.endswith("." + tail)) for o in columns):
                break
        short[c] = tail
    return short


def values_label(values: dict[str, object], names: dict[str, str] | None = None) -> str:
    """``{"quant.weight_bits": 4, ...}`` -> ``weight_bits=4, ...`` (names shortened by :func:`short_names`;
    ``workload`` shows as its bare value)."""
    names = names or short_names(list(values))
    return ", ".join(_short(v) if c == "workload" else f"{names.get(c, c)}={_short(v)}" for c, v in values.items())


def point_parameters(row: pd.Series, order: Sequence[str] = ()) -> dict[str, object]:
    """The parameter values of one stored point (its ``parameters_json``; {} without one), the names of
    ``order`` (the sweep's parameter order) first."""
    text = row.get("parameters_json")
    values = json.loads(text) if isinstance(text, str) else {}
    return {k: values[k] for k in dict.fromkeys([*order, *values]) if k in values}


def point_label(row: pd.Series, order: Sequence[str] = ()) -> str:
    """``mobilenet_v2, size_kib=512, bandwidth_gb_s=34.1, weight_bits=4``: a point's workload and parameters."""
    return values_label({"workload": row["workload"], **point_parameters(row, order)})


def point_stem(kind: str, row: pd.Series, order: Sequence[str] = (), max_chars: int = 100) -> str:
    """File name stem of a per-point figure: ``<kind>_<workload and parameters>_<point_id>``, file-name safe,
    the descriptive part cut to ``max_chars``; the point id at the end keeps stems unique."""
    text = _file_stem(point_label(row, order).replace(", ", "_").replace("=", "-").replace("...", "_"))
    text = re.sub(r"_{2,}", "_", text).replace("-_", "-")
    return f"{kind}_{text[:max_chars].rstrip('_.-')}_{row['point_id']}"


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "..."


def _fit(fig: Figure, title: str) -> str:
    """``title`` wrapped at spaces to the figure's width (about 7.5 pt a character at the default 12 pt)."""
    width = max(20, int(fig.get_figwidth() * 72 / 7.5))
    return "\n".join(textwrap.fill(line, width) for line in title.split("\n"))


def _tick_text(value: float) -> str:
    return f"{value:g}"


# ------------------------------------------------------------------------------------------------ sweep figures
def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = min(n, max_cols)
    return -(-n // cols), cols


def pareto_scatter(df: pd.DataFrame, x: str, y: str, minimize: Sequence[bool] | None = None, title: str = "",
                   by: Sequence[str] | None = None, annotate: bool | Sequence[str] = False) -> Figure:
    """Every ``ok`` point of ``df`` on objectives ``x`` and ``y``, the Pareto front highlighted and joined; one
    panel per group of :func:`accelsim.analysis.pareto_front` (per workload, and per value of the ``by``
    columns), titled with the group's values, each with its own front and axes.

    ``minimize``: one flag per axis; None = each metric's own direction (:func:`accelsim.sweep.spec.minimized`:
    ``utilization`` and ``peak_macs_per_cycle`` are maximized, every other total minimized). ``annotate``:
    True numbers each front point and lists its parameters (``parameters_json``) in the legend, a list of
    columns lists those columns' values instead; the group's own columns are left out of the labels."""
    ok = df[df["status"] == "ok"] if "status" in df else df
    flags = [minimized(x), minimized(y)] if minimize is None else list(minimize)
    columns = group_columns(ok, by)
    groups = split_groups(ok, columns) or [({}, ok)]
    if len(groups) > MAX_PANELS * 3:
        raise AccelsimError(f"pareto_scatter: {len(groups)} groups (workload{', ' + ', '.join(by) if by else ''}); "
                            f"at most {MAX_PANELS * 3} panels fit one figure: plot subsets of the rows")
    rows, cols = _grid(len(groups), 3)
    fig = _figure((6.4 if cols == 1 else 4.6 * cols) + (3.0 * cols if annotate else 0.0),
                  4.8 if rows == 1 else 3.9 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (key, group) in zip(axes, groups):
        front = pareto_front(group, [x, y], minimize=flags, by=by)
        ax.scatter(scaled(group, x), scaled(group, y), s=14, color="0.65", label=f"design points ({len(group)})")
        ax.plot(scaled(front, x), scaled(front, y), "o-", color="tab:red", ms=5,
                drawstyle="steps-post" if flags[0] else "steps-pre",  # the staircase bounding what it dominates
                label=f"Pareto front ({len(front)})")
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel(axis_label(y))
        ax.locator_params(nbins=5)  # close values in a small panel: few ticks, full numbers (no offset)
        ax.ticklabel_format(useOffset=False)
        if len(groups) > 1 or len(key) > 1:
            ax.set_title(values_label(key), fontsize="medium")
        ax.grid(True, alpha=0.3)
        if annotate:
            _annotate(ax, front, x, y, annotate, set(key))
        else:
            ax.legend(fontsize="small")
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    fig.suptitle(_fit(fig, title or f"{axis_label(y)} vs {axis_label(x)}"))
    return fig


def _annotate(ax, front: pd.DataFrame, x: str, y: str, annotate: bool | Sequence[str], skip: set[str]) -> None:
    """Number the front points (1, 2, ... in order of ``x``) and list each number's parameter values in the
    legend, which then sits right of the panel: numbers stay legible where front points crowd."""
    for i, (_, row) in enumerate(front.iterrows(), start=1):
        values = point_parameters(row) if annotate is True else {c: row[c] for c in annotate}
        values = {c: v for c, v in values.items() if c not in skip}
        ax.annotate(str(i), (float(row[x]) * unit_of(x)[1], float(row[y]) * unit_of(y)[1]), xytext=(4, 3),
                    textcoords="offset points", fontsize=7, color="tab:red", fontweight="bold")
        ax.plot([], [], " ", label=f"{i}: {values_label(values) or row['point_id']}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="x-small", borderaxespad=0)


def metric_vs_parameter(df: pd.DataFrame, parameter: str, metric: str, series: Sequence[str] = (),
                        max_series_per_panel: int = 10) -> Figure:
    """``metric`` against ``parameter``, one line per combination of the ``series`` columns.

    Every series is drawn: beyond ``max_series_per_panel`` (at most 20) lines the figure gets more panels
    (consecutive values of the first series column kept together where they fit), each with its own legend
    and distinct colours (tab10, or tab20 above 10 lines per panel), titled with the first series column's
    values it shows. A numeric parameter with at most 12 distinct values gets ticks at exactly those values;
    text, bool and mapping values are categories in order of appearance. More lines than ``MAX_PANELS`` panels
    hold (a random sweep, say) are drawn as unjoined points of one colour, with a warning and a note in the
    title."""
    if not 1 <= max_series_per_panel <= 20:
        raise ValueError("max_series_per_panel must be between 1 and 20 (colours must stay distinct)")
    ok = (df[df["status"] == "ok"] if "status" in df else df).copy()
    values = ok[parameter]
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric:
        xs = values.astype(float) * unit_of(parameter)[1]
    else:
        categories = list(dict.fromkeys(values.map(_short)))
        xs = values.map(_short).map({c: i for i, c in enumerate(categories)})
    ok["_x"], ok["_y"] = xs, scaled(ok, metric)
    series = list(series)
    names = short_names(series)
    lines = split_groups(ok, series) if series else [({}, ok)]
    note = ""
    if len(lines) > MAX_PANELS * max_series_per_panel:  # e.g. a random sweep: every line a single point
        note = (f"{len(lines)} combinations of {', '.join(names.values())} exceed {MAX_PANELS} panels of "
                f"{max_series_per_panel} lines: all {len(ok)} points shown unjoined, not told apart")
        warnings.warn(note, stacklevel=2)
        series, lines = [], [({}, ok)]
    panels = _pack_panels(lines, max_series_per_panel)
    rows, cols = _grid(len(panels), 1 if len(panels) <= 2 else 2)
    legend_in = 2.6 if series else 0.0
    fig = _figure((6.0 + legend_in) * cols, max(4.8 if rows == 1 else 3.2, 0.19 * max(map(len, panels)) + 1.4)
                  * rows)
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True).ravel()
    colours = matplotlib.colormaps["tab10" if max_series_per_panel <= 10 else "tab20"].colors
    for ax, panel in zip(axes, panels):
        for colour, (key, group) in zip(colours, panel):
            group = group.sort_values("_x")
            ax.plot(group["_x"], group["_y"], marker="o", ls="none" if note else "-", ms=4, color=colour,
                    label=values_label(key, names) or None)
        if not numeric:
            ax.set_xticks(range(len(categories)), categories)
        else:
            if xs.min() > 0 and xs.max() / xs.min() >= 8:
                ax.set_xscale("log", base=2)
            distinct = sorted({float(v) for v in xs if np.isfinite(v)})
            if len(distinct) <= 12:
                ax.set_xticks(distinct, [_tick_text(v) for v in distinct])
                ax.set_xticks([], minor=True)
        ax.set_xlabel(axis_label(parameter))
        ax.set_ylabel(axis_label(metric))
        ax.grid(True, alpha=0.3)
        if len(panels) > 1:
            first = series[0]
            shown = list(dict.fromkeys(_short(k[first]) for k, _ in panel))
            ax.set_title(f"{names[first]} = {', '.join(shown)}", fontsize="medium")
        if series:
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="x-small", borderaxespad=0)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(_fit(fig, f"{axis_label(metric)} vs {parameter}" + (f"\n({note})" if note else "")))
    return fig


def _pack_panels(lines: list[tuple[dict[str, object], pd.DataFrame]], size: int
                 ) -> list[list[tuple[dict[str, object], pd.DataFrame]]]:
    """Lines split into panels of at most ``size``: runs of lines sharing the first series value are packed
    whole into a panel while they fit; a run longer than ``size`` is cut."""
    runs: dict[str, list[tuple[dict[str, object], pd.DataFrame]]] = {}
    for key, group in lines:
        runs.setdefault(str(next(iter(key.values()), "")), []).append((key, group))
    panels: list[list[tuple[dict[str, object], pd.DataFrame]]] = [[]]
    for run in runs.values():
        if panels[-1] and len(panels[-1]) + len(run) > size:
            panels.append([])
        for line in run:
            if len(panels[-1]) == size:
                panels.append([])
            panels[-1].append(line)
    return panels


# ------------------------------------------------------------------------------------------------ layer figures
def layer_breakdown(layers: pd.DataFrame, title: str = "") -> Figure:
    """Stacked bars per layer: latency split into compute and stall cycles, energy split by component."""
    names = layers["name"].astype(str).tolist()
    pos = np.arange(len(names))
    fig = _figure(max(6.4, 0.16 * len(names) + 2), 7.0)
    ax_lat, ax_en = fig.subplots(2, 1, sharex=True)
    stall = layers["stall_cycles"].astype(float).to_numpy()
    busy = layers["latency_cycles"].astype(float).to_numpy() - stall
    ax_lat.bar(pos, busy, label="compute / on-chip", color="tab:blue")
    ax_lat.bar(pos, stall, bottom=busy, label="stall (DRAM)", color="tab:orange")
    ax_lat.set_ylabel("latency [cycles]")
    ax_lat.legend(fontsize="small")
    components = [c for c in layers.columns
                  if re.fullmatch(r"energy_\w+_pj", c) and c != "energy_pj" and layers[c].astype(float).sum() > 0]
    bottom = np.zeros(len(names))
    for c in components:
        v = layers[c].astype(float).to_numpy() * 1e-6
        ax_en.bar(pos, v, bottom=bottom, label=c[len("energy_"):-len("_pj")])
        bottom += v
    ax_en.set_ylabel("energy [µJ]")
    ax_en.legend(fontsize="small", ncols=2)
    ax_en.set_xticks(pos, names, rotation=90, fontsize=6 if len(names) > 30 else 8)
    ax_en.set_xlabel("layer (execution order)")
    for ax in (ax_lat, ax_en):
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(_fit(fig, title or "per-layer latency and energy"))
    return fig


def roofline(layers: pd.DataFrame, peak_macs_per_cycle: float, dram_bytes_per_cycle: float,
             title: str = "") -> Figure:
    """Layers as (arithmetic intensity = 2·MACs / DRAM bytes, achieved 2·MACs / latency cycles) under the
    compute roof ``2 · peak_macs_per_cycle`` and the bandwidth roof ``intensity · dram_bytes_per_cycle``.
    Layers without MACs or without DRAM traffic (fully on-chip) are left out and counted in the legend."""
    macs = layers["macs"].astype(float)
    dram = layers["dram_read_bytes"].astype(float) + layers["dram_write_bytes"].astype(float)
    latency = layers["latency_cycles"].astype(float)
    shown = (macs > 0) & (dram > 0) & (latency > 0)
    intensity = 2 * macs[shown] / dram[shown]
    achieved = 2 * macs[shown] / latency[shown]
    compute_roof = 2 * peak_macs_per_cycle
    ridge = compute_roof / dram_bytes_per_cycle
    lo = min([ridge / 8, *intensity]) / 2
    hi = max([ridge * 8, *intensity]) * 2
    grid = np.geomspace(lo, hi, 200)
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(grid, np.minimum(compute_roof, grid * dram_bytes_per_cycle), "k-", lw=1.5,
            label=f"roof: {compute_roof:g} ops/cycle, {dram_bytes_per_cycle:.3g} B/cycle")
    kinds = layers.loc[shown, "kind"].astype(str)
    for kind in dict.fromkeys(kinds):
        sel = kinds == kind
        ax.scatter(intensity[sel], achieved[sel], s=18, label=kind)
    hidden = int((macs > 0).sum() - shown.sum())
    if hidden:
        ax.plot([], [], " ", label=f"{hidden} MAC layer(s) without DRAM traffic not shown")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity [ops/byte] (2·MACs / DRAM bytes)")
    ax.set_ylabel("achieved throughput [ops/cycle] (2·MACs / latency)")
    ax.set_title(_fit(fig, title or "roofline (per layer)"))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


# ------------------------------------------------------------------------------------------------ directory
def _determined_by(df: pd.DataFrame, p: str, q: str) -> bool:
    """True if each value of parameter ``p`` comes with a single value of ``q`` (e.g. a constraint ties cols
    to rows): then ``q`` cannot separate lines of a plot against ``p``."""
    keys = df[[p, q]].map(_short)
    return bool(keys.groupby(p)[q].nunique().max() <= 1)


def _file_stem(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text)


def write_sweep_plots(directory: str | Path, x: str | None = None, y: str | None = None,
                      point_id: str | None = None, by: Sequence[str] = (), annotate: bool = False) -> list[Path]:
    """Write the plots of a results directory into ``DIR/plots`` and return the path of every file written.

    * Pareto scatter of ``x`` vs ``y`` (default: the first two objectives, plus first vs third when there are
      three), one panel per workload and value of the ``by`` columns (at most 9 panels a figure; more make
      ``_part<i>of<n>`` figures), front points labelled with their parameters when ``annotate``; each front
      also as a CSV table ``pareto_<x>_vs_<y>.csv``, and with three or more objectives the front on all of
      them as ``pareto_<o1>_<o2>_<o3>....csv`` (group columns, objectives, parameters, point_id);
    * the first objective against every parameter;
    * the per-layer breakdown and roofline of ``point_id`` (default: the point best on the first objective)
      when per-layer rows are stored, titled and named by the point's workload and parameters.

    An ``x``, ``y`` or ``by`` column that is not in the results is an :class:`~accelsim.errors.AccelsimError`.
    """
    directory = Path(directory)
    out = directory / "plots"
    meta = load_meta(directory)
    df = load_results(directory)
    by = list(by)
    for what, column in [("plot x axis", x), ("plot y axis", y)] + [("--by", c) for c in by]:
        if column is not None and column not in df.columns:
            raise AccelsimError(f"{directory}: no column {column!r} in the results ({what}); parameters: "
                                f"{', '.join(map(str, meta.get('parameters', []))) or 'none'}")
    ok = df[df["status"] == "ok"]
    if ok.empty:
        return []
    objectives = list(meta.get("objectives", ["latency_ms", "energy_pj"]))
    parameters = list(meta.get("parameters", []))
    name = str(meta.get("name", directory.name))
    pairs = [(x or objectives[0], y or (objectives[1] if len(objectives) > 1 else "energy_pj"))]
    if x is None and y is None and len(objectives) > 2:
        pairs.append((objectives[0], objectives[2]))
    paths: list[Path] = []
    groups = split_groups(ok, group_columns(ok, by))
    if len(groups) > PARETO_PANELS * PARETO_FIGURES:
        raise AccelsimError(f"{directory}: the Pareto fronts per workload{' and ' + ', '.join(by) if by else ''} "
                            f"make {len(groups)} groups; at most {PARETO_PANELS * PARETO_FIGURES} "
                            f"({PARETO_FIGURES} figures of {PARETO_PANELS} panels) are plotted: --by a column "
                            "with fewer distinct values")
    chunks = [groups[i:i + PARETO_PANELS] for i in range(0, len(groups), PARETO_PANELS)]
    if has_accuracy(ok):  # a sweep over a task: accuracy-vs-cost figures (plots_accuracy) replace those pairs
        from accelsim.plots_accuracy import write_accuracy_plots
        from accelsim.sweep.spec import ACCURACY_METRICS
        accuracy_pairs = [(px, py) for px, py in pairs if {px, py} & set(ACCURACY_METRICS)]
        costs = [py if px in ACCURACY_METRICS else px for px, py in accuracy_pairs] if x or y else None
        paths += write_accuracy_plots(directory, costs=costs, by=by, annotate=annotate)
        pairs = [pair for pair in pairs if pair not in accuracy_pairs]
    for px, py in pairs:
        stem = _file_stem(f"pareto_{px}_vs_{py}")
        for i, chunk in enumerate(chunks):
            fig = pareto_scatter(pd.concat([g for _, g in chunk]), px, py, by=by,
                                 annotate=parameters if annotate else False,
                                 title=f"{name}: {axis_label(py)} vs {axis_label(px)}")
            paths += save(fig, out / (stem if len(chunks) == 1 else f"{stem}_part{i + 1}of{len(chunks)}"))
        paths.append(write_front_csv(ok, [px, py], out / f"{stem}.csv", parameters, by))
    if len(objectives) > 2 and x is None and y is None:
        paths.append(write_front_csv(ok, objectives, out / f"{_file_stem('pareto_' + '_'.join(objectives))}.csv",
                                     parameters, by))
    series_extra = ["workload"] if ok["workload"].nunique() > 1 else []
    metric = objectives[0]
    for p in parameters:
        others = [q for q in parameters if q != p and not _determined_by(ok, p, q)] + series_extra
        fig = metric_vs_parameter(ok, p, metric, series=others)
        paths += save(fig, out / _file_stem(f"{metric}_vs_{p}"))
    if point_id is None:
        values = ok[objectives[0]].astype(float)
        best = ok.loc[values.idxmin() if minimized(objectives[0]) else values.idxmax()]
    elif (ok["point_id"] == point_id).any():
        best = ok[ok["point_id"] == point_id].iloc[0]
    else:
        raise StoreError(f"{directory}: no successful point {point_id!r}")
    try:
        layers = load_layers(directory, str(best["point_id"]))
    except StoreError:  # the sweep stored no per-layer rows
        return paths
    label = f"{name}: {point_label(best, parameters)}"
    paths += save(layer_breakdown(layers, title=f"per-layer latency and energy\n{label}"),
                  out / point_stem("layers", best, parameters))
    paths += save(roofline(layers, float(best["peak_macs_per_cycle"]), float(best["dram_bytes_per_cycle"]),
                           title=f"roofline\n{label}"), out / point_stem("roofline", best, parameters))
    return paths


def write_front_csv(df: pd.DataFrame, objectives: Sequence[str], path: str | Path, parameters: Sequence[str] = (),
                    by: Sequence[str] = ()) -> Path:
    """Write the Pareto front of ``df`` on ``objectives`` (each metric in its own direction, per workload and
    ``by`` value, as :func:`~accelsim.analysis.pareto_front`) as CSV: the group columns, the objectives in
    their stored units, the other parameters (mapping values as JSON), ``point_id``. Returns the path."""
    objectives = list(objectives)
    front = pareto_front(df, objectives, minimize=[minimized(o) for o in objectives], by=by)
    columns = list(dict.fromkeys([*group_columns(df, by), *objectives, *parameters, "point_id"]))
    table = front[columns].map(lambda v: json.dumps(v) if isinstance(v, (dict, list)) else v)  # mappings as JSON
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    return path


# ------------------------------------------------------------------------------------ sensitivity / search
def sensitivity_plot(table: pd.DataFrame, title: str = "") -> Figure:
    """Per MAC layer (x, topological order): output SQNR loss (dB, top) and energy saving (µJ, bottom) of moving
    that layer alone to each lower weight width (``w<bits>``) or output-activation width (``a<bits>``) (the
    ``accelsim sensitivity`` table)."""
    fig = _figure(max(6.4, 0.3 * table["layer"].nunique() + 2), 6.4)
    ax_q, ax_e = fig.subplots(2, 1, sharex=True)
    order = list(dict.fromkeys(table["layer"]))
    labels = [f"a{a}" if moved == "activation" else f"w{w}"
              for moved, w, a in zip(table["moved"], table["weight_bits"], table["activation_bits"])]
    moves = list(dict.fromkeys(labels))
    step = 0.8 / max(len(moves), 1)
    for i, move in enumerate(moves):
        part = table[[label == move for label in labels]].set_index("layer").reindex(order)
        x = np.arange(len(order)) + (i - (len(moves) - 1) / 2) * step
        ax_q.bar(x, part["sqnr_loss_db"].astype(float), step, label=move)
        ax_e.bar(x, part["energy_saving_pj"].astype(float) * 1e-6, step, label=move)
    ax_q.set_ylabel("output SQNR loss (dB)")
    ax_e.set_ylabel("energy saving (µJ)")
    ax_e.set_xticks(np.arange(len(order)))
    ax_e.set_xticklabels([f"{i}" for i in range(len(order))])
    ax_e.set_xlabel("MAC layer (topological index)")
    ax_q.legend(title="moved to")
    fig.suptitle(title or "per-layer sensitivity")
    return fig


def search_front_plot(candidates: pd.DataFrame, uniform: pd.DataFrame, metric: str, title: str = "") -> Figure:
    """Measured accuracy (%, ± binomial standard error) against ``metric`` of every verified assignment, the
    measured front joined, and the uniform points (``accelsim search``)."""
    fig = _figure()
    ax = fig.subplots()
    ok = candidates[candidates["status"] == "ok"]
    ax.errorbar(scaled(ok, metric), ok["accuracy_pct"], yerr=ok["accuracy_stderr_pct"], fmt="o", color="0.6",
                ms=4, lw=0.8, label="verified assignments")
    front = ok[ok[f"front_{metric}"]].sort_values(metric)
    ax.plot(scaled(front, metric), front["accuracy_pct"], "o-", color="C0", label="measured front")
    good = uniform[uniform["status"] == "ok"] if len(uniform) else uniform
    for i, (_, row) in enumerate(good.iterrows()):
        ax.errorbar([float(row[metric]) * unit_of(metric)[1]], [row["accuracy_pct"]],
                    yerr=[row["accuracy_stderr_pct"]], fmt="s", ms=8, color=f"C{i + 1}",
                    label=f"uniform {row['point']}")
    ax.set_xlabel(axis_label(metric))
    ax.set_ylabel("accuracy (%), measured")
    ax.legend(fontsize="small")
    fig.suptitle(title or f"accuracy vs {metric}")
    return fig
