"""Plots: non-empty PNG and SVG files with the expected axis labels (units included), roofline roofs at the
config's peak and DRAM bandwidth, and the accelsim plot command."""
from __future__ import annotations

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
    # stacked latency bars add up to each layer's latency
    heights = np.array([a.get_height() for a in lat_ax.containers[0]]) + \
        np.array([b.get_height() for b in lat_ax.containers[1]])
    np.testing.assert_allclose(heights, layers["latency_cycles"].astype(float))
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
