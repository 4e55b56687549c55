"""Plots: non-empty PNG and SVG files with the expected axis labels (units included), roofline roofs at the
config's peak and DRAM bandwidth, Pareto panels and CSV fronts per workload (and --by group), every series of
a metric-vs-parameter plot drawn with ticks at the parameter values, per-point file names, and the accelsim
plot command."""
from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from accelsim.analysis import load_layers, load_results
from accelsim.cli.main import main as cli_main
from accelsim.plots import axis_label, layer_breakdown, metric_vs_parameter, pareto_scatter, roofline, write_sweep_plots
from accelsim.sweep import load_spec, run_sweep

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plots")
    spec = {"name": "plots", "base": str(REPO / "hw_configs" / "gemmini_default.yaml"), "workloads": ["resnet_18"],
            "quant": {"per_channel": False},
            "parameters": {"grid": {"compute.systolic.rows": [8, 16, 32], "compute.systolic.dataflow": ["os", "ws"]}},
            "objectives": ["latency_ms", "energy_pj", "area_mm2"]}
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    run_sweep(load_spec(folder / "spec.yaml"), folder / "out", workers=0)
    return folder / "out"


def test_axis_labels_carry_units():
    assert axis_label("latency_ms") == "latency [ms]"
    assert axis_label("energy_pj") == "energy [µJ]"
    assert axis_label("dram_read_bytes") == "dram read [MiB]"
    assert axis_label("area_mm2") == "area [mm²]"
    assert axis_label("memories.vtcm.size_kib") == "memories.vtcm.size_kib [KiB]"
    assert axis_label("compute.systolic.dataflow") == "compute.systolic.dataflow"


def test_write_sweep_plots_files(results):
    paths = write_sweep_plots(results)
    names = {p.name for p in paths}
    for stem in ("pareto_latency_ms_vs_energy_pj", "pareto_latency_ms_vs_area_mm2",
                 "latency_ms_vs_compute.systolic.rows", "latency_ms_vs_compute.systolic.dataflow"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names
    assert any(n.startswith("layers_") for n in names) and any(n.startswith("roofline_") for n in names)
    for p in paths:
        data = p.read_bytes()
        assert p.parent == results / "plots" and (len(data) > 5000 or p.suffix == ".csv")
        if p.suffix == ".png":
            assert data.startswith(b"\x89PNG\r\n\x1a\n")
    svg = (results / "plots" / "pareto_latency_ms_vs_energy_pj.svg").read_text()
    assert "latency [ms]" in svg and "energy [µJ]" in svg and "Pareto front" in svg


def test_figure_axes_and_roofs(results):
    df = load_results(results)
    fig = pareto_scatter(df, "latency_ms", "area_mm2")
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("latency [ms]", "area [mm²]")
    fig = metric_vs_parameter(df, "compute.systolic.rows", "energy_pj", series=["compute.systolic.dataflow"])
    assert fig.axes[0].get_xlabel() == "compute.systolic.rows" and fig.axes[0].get_ylabel() == "energy [µJ]"
    assert len(fig.axes[0].lines) == 2                                  # one line per dataflow
    row = df.iloc[0]
    layers = load_layers(results, row["point_id"])
    fig = layer_breakdown(layers)
    lat_ax, en_ax = fig.axes
    assert lat_ax.get_ylabel() == "latency [cycles]" and en_ax.get_ylabel() == "energy [µJ]"
    assert len(lat_ax.containers[0]) == len(layers)
    # the stall bars are the stored stall cycles, stacked on a non-negative busy part
    busy = np.array([a.get_height() for a in lat_ax.containers[0]])
    stall = np.array([b.get_height() for b in lat_ax.containers[1]])
    np.testing.assert_allclose(stall, layers["stall_cycles"].astype(float))
    assert np.all(busy >= 0) and layers["stall_cycles"].astype(float).sum() > 0
    fig = roofline(layers, peak_macs_per_cycle=row["peak_macs_per_cycle"], dram_bytes_per_cycle=16.0)
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("arithmetic intensity [ops/byte]")
    assert ax.get_ylabel().startswith("achieved throughput [ops/cycle]")
    roof_x, roof_y = ax.lines[0].get_data()
    assert roof_y.max() == pytest.approx(2 * 8 * 16)                    # 8 x 16 array: 2 ops per MAC
    np.testing.assert_allclose(roof_y[roof_x * 16.0 < roof_y.max()], roof_x[roof_x * 16.0 < roof_y.max()] * 16.0)
    for points in ax.collections:                                       # no layer above its roofs
        xy = points.get_offsets()
        assert np.all(xy[:, 1] <= np.minimum(2 * 8 * 16, xy[:, 0] * 16.0) * (1 + 1e-9))


def test_plot_command(results, capsys):
    assert cli_main(["plot", str(results), "--x", "area_mm2", "--y", "latency_ms"]) == 0
    assert (results / "plots" / "pareto_area_mm2_vs_latency_ms.png").stat().st_size > 5000
    assert "wrote" in capsys.readouterr().out
    assert cli_main(["plot", str(results), "--x", "no_such_metric"]) == 2


def _dominated(values: np.ndarray, i: int) -> bool:
    """Brute force: is row i dominated (every column minimized)?"""
    le = np.all(values <= values[i], axis=1)
    lt = np.any(values < values[i], axis=1)
    return bool(np.any(le & lt))


def test_higher_is_better_objectives_are_maximized(results, tmp_path):
    df = load_results(results)
    fig = pareto_scatter(df, "latency_ms", "utilization")
    front_x, front_y = fig.axes[0].lines[0].get_data()
    signed = np.column_stack([df["latency_ms"].astype(float), -df["utilization"].astype(float)])
    expected = sorted(float(x) for i, x in enumerate(df["latency_ms"].astype(float)) if not _dominated(signed, i))
    assert sorted(front_x) == pytest.approx(expected)
    assert max(front_y) == pytest.approx(df["utilization"].max())   # the best-utilized point is on the front
    # a sweep whose first objective is utilization: the per-layer plots show the best-utilized point
    copy = tmp_path / "out"
    shutil.copytree(results, copy, ignore=shutil.ignore_patterns("plots"))
    with sqlite3.connect(copy / "results.sqlite") as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'objectives'", ('["utilization", "latency_ms"]',))
    names = {p.name for p in write_sweep_plots(copy)}
    best = df.loc[df["utilization"].astype(float).idxmax(), "point_id"]
    assert any(n.startswith("layers_resnet_18_") and n.endswith(f"_{best}.png") for n in names)


def test_unknown_plot_column_is_an_accelsim_error(results):
    from accelsim.errors import AccelsimError
    with pytest.raises(AccelsimError, match="no_such_metric"):
        write_sweep_plots(results, y="no_such_metric")


# ------------------------------------------------------------------------------------------------ issue 8
@pytest.fixture(scope="module")
def two_workloads(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plots2")
    spec = {"name": "two", "base": str(REPO / "hw_configs" / "gemmini_default.yaml"),
            "workloads": ["squeezenet", "resnet_18"], "quant": {"per_channel": False},
            "parameters": {"grid": {"compute.systolic.rows": [8, 16, 32], "compute.systolic.dataflow": ["os", "ws"]}},
            "objectives": ["latency_ms", "energy_pj"]}
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    run_sweep(load_spec(folder / "spec.yaml"), folder / "out", workers=0)
    return folder / "out"


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart") / "out"
    run_sweep(load_spec(REPO / "sweeps" / "quickstart.yaml"), out, workers=0)
    return out


def _front_ids(df, x, y, columns):
    """Brute force: the point ids not dominated (both axes minimized) within their group of ``columns``."""
    ids = set()
    for _, group in df.groupby(columns):
        values = group[[x, y]].to_numpy(dtype=float)
        ids |= {group["point_id"].iloc[i] for i in range(len(group)) if not _dominated(values, i)}
    return ids


def test_pareto_panels_and_csv_per_workload(two_workloads):
    from accelsim.analysis import pareto_front
    df = load_results(two_workloads)
    fig = pareto_scatter(df, "latency_ms", "energy_pj")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["squeezenet", "resnet_18"]
    for ax in axes:                                                   # each panel: its workload's front
        group = df[df["workload"] == ax.get_title()]
        fx, fy = ax.lines[0].get_data()
        front = group[group["point_id"].isin(_front_ids(group, "latency_ms", "energy_pj", ["workload"]))]
        assert sorted(fx) == pytest.approx(sorted(front["latency_ms"]))
        assert sorted(fy) == pytest.approx(sorted(front["energy_pj"] * 1e-6))
        assert len(ax.collections[0].get_offsets()) == len(group)
    paths = write_sweep_plots(two_workloads)
    table = pd.read_csv(two_workloads / "plots" / "pareto_latency_ms_vs_energy_pj.csv")
    assert two_workloads / "plots" / "pareto_latency_ms_vs_energy_pj.csv" in paths
    assert set(table["point_id"]) == _front_ids(df, "latency_ms", "energy_pj", ["workload"])
    expected = pareto_front(df, ["latency_ms", "energy_pj"])
    assert table["point_id"].tolist() == expected["point_id"].tolist()
    assert table["workload"].tolist() == expected["workload"].tolist()
    np.testing.assert_array_equal(table[["latency_ms", "energy_pj"]], expected[["latency_ms", "energy_pj"]])
    np.testing.assert_array_equal(table["compute.systolic.rows"], expected["compute.systolic.rows"])
    assert set(table["workload"]) == {"squeezenet", "resnet_18"}


def test_plot_command_by_and_annotate(two_workloads, capsys):
    from accelsim.analysis import pareto_front
    assert cli_main(["plot", str(two_workloads), "--by", "compute.systolic.dataflow", "--annotate"]) == 0
    written = {Path(line.split("wrote ", 1)[1]) for line in capsys.readouterr().out.splitlines()}
    assert written == set((two_workloads / "plots").iterdir())      # every file written is reported
    df = load_results(two_workloads)
    table = pd.read_csv(two_workloads / "plots" / "pareto_latency_ms_vs_energy_pj.csv")
    columns = ["workload", "compute.systolic.dataflow"]
    assert set(table["point_id"]) == _front_ids(df, "latency_ms", "energy_pj", columns)
    expected = pareto_front(df, ["latency_ms", "energy_pj"], by=["compute.systolic.dataflow"])
    assert table["point_id"].tolist() == expected["point_id"].tolist()
    assert table.columns.tolist()[:4] == [*columns, "latency_ms", "energy_pj"]
    # one panel per (workload, dataflow); each front point numbered, its parameters in the legend
    fig = pareto_scatter(df, "latency_ms", "energy_pj", by=["compute.systolic.dataflow"],
                         annotate=["compute.systolic.rows"])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == [f"{w}, dataflow={d}" for w in ("squeezenet", "resnet_18")
                                               for d in ("os", "ws")]
    for ax in axes:
        workload, dataflow = ax.get_title().replace("dataflow=", "").split(", ")
        front = expected[(expected["workload"] == workload) & (expected["compute.systolic.dataflow"] == dataflow)]
        entries = [t.get_text() for t in ax.get_legend().get_texts()][2:]
        assert entries == [f"{i}: rows={r}" for i, r in enumerate(front["compute.systolic.rows"], start=1)]
        assert [t.get_text() for t in ax.texts] == [str(i) for i in range(1, len(front) + 1)]
    assert cli_main(["plot", str(two_workloads), "--by", "compute.systolic.rowz"]) == 2
    assert "compute.systolic.rowz" in capsys.readouterr().err


def test_metric_vs_parameter_draws_every_series(quickstart):
    df = load_results(quickstart)
    vtcm, dram, bits = "memories.vtcm.size_kib", "memories.dram.bandwidth_gb_s", "quant.weight_bits"
    fig = metric_vs_parameter(df, bits, "latency_ms", series=[vtcm, dram])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    drawn = [line for ax in axes for line in ax.get_lines()]
    assert len(drawn) == len(df.groupby([vtcm, dram])) == 15 and len(axes) == 2
    for ax in axes:
        assert len(ax.get_lines()) <= 10
        assert len({line.get_color() for line in ax.get_lines()}) == len(ax.get_lines())   # distinct colours
        assert [t.get_text() for t in ax.get_xticklabels()] == ["4", "8"]
    labels = [line.get_label() for line in drawn]
    assert len(set(labels)) == 15 and "size_kib=512, bandwidth_gb_s=34.1" in labels
    for line in drawn:                                                # each line: its rows' stored latencies
        kib, gbs = (float(v.split("=")[1]) for v in line.get_label().split(", "))
        rows = df[(df[vtcm] == kib) & (df[dram] == gbs)].sort_values(bits)
        np.testing.assert_array_equal(line.get_xdata(), rows[bits].astype(float))
        np.testing.assert_allclose(line.get_ydata(), rows["latency_ms"])
    fig = metric_vs_parameter(df, vtcm, "latency_ms", series=[dram, bits])
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 6 and len(fig.axes) == 1
    assert [t.get_text() for t in ax.get_xticklabels()] == ["32", "64", "128", "256", "512"]
    assert [t.get_text() for t in ax.get_xticklabels(minor=True)] == []


def test_quickstart_plot_files(quickstart):
    df = load_results(quickstart)
    paths = write_sweep_plots(quickstart)
    plots = quickstart / "plots"
    assert sorted(paths) == sorted(plots.iterdir()) and len(paths) == len(set(paths))
    best = df.loc[df["latency_ms"].idxmin()]
    params = {"memories.vtcm.size_kib": "size_kib", "memories.dram.bandwidth_gb_s": "bandwidth_gb_s",
              "quant.weight_bits": "weight_bits"}
    point = "_".join(f"{short}-{best[p]}" for p, short in params.items())
    stems = ["pareto_latency_ms_vs_energy_pj", "pareto_latency_ms_vs_area_mm2",
             *(f"latency_ms_vs_{p}" for p in params),
             f"layers_mobilenet_v2_{point}_{best['point_id']}", f"roofline_mobilenet_v2_{point}_{best['point_id']}"]
    expected = {plots / f"{stem}.{ext}" for stem in stems for ext in ("png", "svg")}
    expected |= {plots / "pareto_latency_ms_vs_energy_pj.csv", plots / "pareto_latency_ms_vs_area_mm2.csv",
                 plots / "pareto_latency_ms_energy_pj_area_mm2.csv"}
    assert set(paths) == expected
    svg = (plots / f"layers_mobilenet_v2_{point}_{best['point_id']}.svg").read_text()
    assert f"quickstart: mobilenet_v2, size_kib={best['memories.vtcm.size_kib']}" in svg


def test_point_stems_are_safe_bounded_and_unique(quickstart):
    from accelsim.plots import point_stem
    df = load_results(quickstart)
    stems = [point_stem("layers", row) for _, row in df.iterrows()]
    assert len(set(stems)) == len(df)
    row = df.iloc[0].copy()
    row["workload"] = "../workloads/a very/long:name " * 10
    row["parameters_json"] = '{"decompression": {"codecs": ["bitpack"], "output_bytes_per_cycle": 64}}'
    stem = point_stem("roofline", row)
    assert re.fullmatch(r"[\w.-]+", stem) and stem.endswith(f"_{row['point_id']}")
    assert len(stem) <= len("roofline_") + 100 + 1 + 16


def test_short_names_stay_distinct():
    from accelsim.plots import short_names
    assert short_names(["memories.l2.size_kib", "memories.vtcm.size_kib", "quant.weight_bits", "workload"]) == {
        "memories.l2.size_kib": "l2.size_kib", "memories.vtcm.size_kib": "vtcm.size_kib",
        "quant.weight_bits": "weight_bits", "workload": "workload"}
    assert short_names(["a.b", "b"]) == {"a.b": "a.b", "b": "b"}


def test_too_many_series_are_points_with_a_note_and_too_many_groups_an_error(two_workloads, monkeypatch, tmp_path):
    from accelsim.errors import AccelsimError
    rng = np.random.default_rng(5)                     # a random sweep: 150 distinct (a, b), each one point
    df = pd.DataFrame({"p_kib": rng.choice([32, 64, 128], 150), "a": rng.random(150), "b": rng.random(150),
                       "latency_ms": rng.random(150), "status": "ok"})
    with pytest.warns(UserWarning, match="150 combinations of a, b"):
        fig = metric_vs_parameter(df, "p_kib", "latency_ms", series=["a", "b"])
    (line,) = fig.axes[0].get_lines()                  # every point drawn, none joined
    assert len(line.get_xdata()) == 150 and line.get_linestyle() == "None"
    assert "all 150 points shown unjoined" in fig._suptitle.get_text().replace("\n", " ")
    copy = tmp_path / "out"
    shutil.copytree(two_workloads, copy, ignore=shutil.ignore_patterns("plots"))
    names = {p.name for p in write_sweep_plots(copy, by=["latency_ms"])}   # one group per point: 12 groups
    assert {f"pareto_latency_ms_vs_energy_pj_part{i}of2.png" for i in (1, 2)} <= names
    assert "pareto_latency_ms_vs_energy_pj.png" not in names
    monkeypatch.setattr("accelsim.plots.PARETO_FIGURES", 1)
    with pytest.raises(AccelsimError, match="make 12 groups; at most 9"):
        write_sweep_plots(copy, by=["latency_ms"])
