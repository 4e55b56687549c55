"""Plots: non-empty PNG and SVG files with the expected axis labels (units included), roofline roofs at the
config's peak and DRAM bandwidth, and the accelsim plot command."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
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
        assert p.parent == results / "plots" and len(data) > 5000
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
    assert f"layers_{best}.png" in names


def test_unknown_plot_column_is_an_accelsim_error(results):
    from accelsim.errors import AccelsimError
    with pytest.raises(AccelsimError, match="no_such_metric"):
        write_sweep_plots(results, y="no_such_metric")
