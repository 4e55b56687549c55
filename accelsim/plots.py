"""Matplotlib figures of simulation and sweep results (Agg canvas; no pyplot, no global backend change).

* :func:`pareto_scatter` — two objectives of every point, the Pareto front highlighted;
* :func:`layer_breakdown` — per-layer latency (compute vs stall) and energy (by component) stacked bars;
* :func:`roofline` — per-layer arithmetic intensity vs achieved ops/cycle under the compute and DRAM roofs;
* :func:`metric_vs_parameter` — a metric against one parameter, one line per combination of the others;
* :func:`write_sweep_plots` — all of them for a results directory, as PNG and SVG in ``DIR/plots``.

Axis labels carry units; energies are shown in µJ and byte counts in MiB.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from accelsim.analysis import load_layers, load_meta, load_results, pareto_front
from accelsim.errors import AccelsimError
from accelsim.sweep.spec import minimized
from accelsim.sweep.store import StoreError

#: Unit suffix of a column name -> (unit shown, factor from the stored unit to the shown one).
UNITS = {
    "_pj": ("µJ", 1e-6), "_bytes": ("MiB", 1 / 2**20), "_ms": ("ms", 1.0), "_cycles": ("cycles", 1.0),
    "_mm2": ("mm²", 1.0), "_gb_s": ("GB/s", 1.0), "_kib": ("KiB", 1.0), "_mhz": ("MHz", 1.0),
    "_bits": ("bits", 1.0), "_macs_per_cycle": ("MAC/cycle", 1.0),
}
FORMATS = ("png", "svg")


def unit_of(name: str) -> tuple[str, float]:
    """(unit label, scale factor) of a column from its name's unit suffix; ("", 1) without one."""
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


# ------------------------------------------------------------------------------------------------ sweep figures
def pareto_scatter(df: pd.DataFrame, x: str, y: str, minimize: Sequence[bool] | None = None,
                   title: str = "") -> Figure:
    """Every ``ok`` point of ``df`` on objectives ``x`` and ``y``, the Pareto front highlighted and joined.

    ``minimize``: one flag per axis; None = each metric's own direction (:func:`accelsim.sweep.spec.minimized`:
    ``utilization`` and ``peak_macs_per_cycle`` are maximized, every other total minimized)."""
    ok = df[df["status"] == "ok"] if "status" in df else df
    flags = [minimized(x), minimized(y)] if minimize is None else list(minimize)
    front = pareto_front(ok, [x, y], minimize=flags)
    fig = _figure()
    ax = fig.add_subplot()
    ax.scatter(scaled(ok, x), scaled(ok, y), s=14, color="0.65", label=f"design points ({len(ok)})")
    ax.plot(scaled(front, x), scaled(front, y), "o-", color="tab:red", ms=5,
            drawstyle="steps-post" if flags[0] else "steps-pre",  # the staircase bounding what the front dominates
            label=f"Pareto front ({len(front)})")
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(y))
    ax.set_title(title or f"{axis_label(y)} vs {axis_label(x)}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def metric_vs_parameter(df: pd.DataFrame, parameter: str, metric: str, series: Sequence[str] = (),
                        max_series: int = 12) -> Figure:
    """``metric`` against ``parameter``, one line per combination of the ``series`` columns (at most
    ``max_series`` lines, the first ones in the data's order)."""
    ok = (df[df["status"] == "ok"] if "status" in df else df).copy()
    values = ok[parameter]
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric:
        xs = values.astype(float) * unit_of(parameter)[1]
    else:
        categories = list(dict.fromkeys(values.map(_short)))
        xs = values.map(_short).map({c: i for i, c in enumerate(categories)})
    ok["_x"], ok["_y"] = xs, scaled(ok, metric)
    keys = [f"_series{i}" for i in range(len(series))]
    for key, name in zip(keys, series):
        ok[key] = ok[name].map(_short)  # strings: hashable (mapping-valued parameters too) and printable
    n_lines = min(max_series, len(ok.groupby(keys, sort=False)) if series else 1)
    fig = _figure(6.4, 4.8 + (0.17 * n_lines if series else 0))
    ax = fig.add_subplot()
    groups = ok.groupby(keys, sort=False) if series else [((), ok)]
    for i, (key, group) in enumerate(groups):
        if i == max_series:
            break
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{s.split('.')[-1]}={k}" for s, k in zip(series, key)) or None
        group = group.sort_values("_x")
        ax.plot(group["_x"], group["_y"], "o-", ms=4, label=label)
    if not numeric:
        ax.set_xticks(range(len(categories)), categories)
    elif xs.min() > 0 and xs.max() / xs.min() >= 8:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(axis_label(parameter))
    ax.set_ylabel(axis_label(metric))
    ax.set_title(f"{axis_label(metric)} vs {parameter}")
    ax.grid(True, alpha=0.3)
    if series:
        fig.legend(loc="outside lower center", fontsize="x-small")
    return fig


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "..."


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
    fig.suptitle(title or "per-layer latency and energy")
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
    ax.set_title(title or "roofline (per layer)")
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
                      point_id: str | None = None) -> list[Path]:
    """Write the plots of a results directory into ``DIR/plots`` (PNG and SVG) and return their paths.

    Pareto scatter of ``x`` vs ``y`` (default: the first two objectives, plus first vs third when there are
    three); the first objective against every parameter; the per-layer breakdown and roofline of ``point_id``
    (default: the point best on the first objective) when per-layer rows are stored. An ``x`` or ``y`` that is
    not a column of the results is an :class:`~accelsim.errors.AccelsimError`.
    """
    directory = Path(directory)
    out = directory / "plots"
    meta = load_meta(directory)
    df = load_results(directory)
    for axis, column in (("x", x), ("y", y)):
        if column is not None and column not in df.columns:
            raise AccelsimError(f"{directory}: no column {column!r} in the results (plot {axis} axis)")
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
    for px, py in pairs:
        fig = pareto_scatter(ok, px, py, title=f"{name}: {axis_label(py)} vs {axis_label(px)}")
        paths += save(fig, out / _file_stem(f"pareto_{px}_vs_{py}"))
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
    label = f"{name}, point {best['point_id']} ({best['workload']})"
    paths += save(layer_breakdown(layers, title=f"per-layer latency and energy: {label}"),
                  out / f"layers_{best['point_id']}")
    paths += save(roofline(layers, float(best["peak_macs_per_cycle"]), float(best["dram_bytes_per_cycle"]),
                           title=f"roofline: {label}"), out / f"roofline_{best['point_id']}")
    return paths
