"""accelsim validate: the shipped Vela figures equal a live run of Vela 5.2.0 on the same exported models, the
printed ratios are accelsim's own simulation over those figures, the per-layer matching follows its rule, and
the acceptance bands of issue #10 hold."""
from __future__ import annotations

import json
import math

import pytest

from accelsim.cli.main import main
from accelsim.config.hw import load_hw
from accelsim.graph.exporters.tflite import export_tflite
from accelsim.graph.synthetic import synthesize_weights
from accelsim.simulate import simulate
from accelsim.validation import (
    VELA_CASES, VELA_FIELDS, VELA_VERSION, config_path, run_vela, vela_comparisons, vela_installed_version,
    vela_shipped_references,
)
from accelsim.validation.vela import BANDS, log_pearson, match_vela_layers
from accelsim.workloads import load_workload

#: One case per network and every NPU at least once: a live Vela run takes about a second per case.
LIVE_CASES = [case for i, case in enumerate(VELA_CASES) if i % 5 == 0 or case.key == VELA_CASES[-1].key]
#: Quantities with an issue band asserted on every case.
BANDED = ("total cycles", "per-layer log-cycle r")


@pytest.fixture(scope="module")
def shipped_comparisons():
    return vela_comparisons(live=False)


def test_the_test_line_installs_the_vela_version_the_references_came_from():
    assert vela_installed_version() == VELA_VERSION


def test_cases_cover_four_networks_on_three_npus():
    assert len(VELA_CASES) == 12
    assert {c.config for c in VELA_CASES} == {"ethos_u55_256", "ethos_u55_128", "ethos_u65_256"}
    assert len({c.network for c in VELA_CASES}) == 4
    assert len(LIVE_CASES) >= 4 and {c.config for c in LIVE_CASES} == {c.config for c in VELA_CASES}


@pytest.mark.parametrize("case", LIVE_CASES, ids=lambda c: c.key)
def test_shipped_references_equal_a_live_vela_run(case):
    live = run_vela(export_tflite(synthesize_weights(load_workload(case.network))), case)
    shipped = vela_shipped_references()[case.key]
    assert set(shipped) == set(VELA_FIELDS) | {"layers"}
    assert live == shipped


def test_validate_prints_model_reference_and_ratio(tmp_path, capsys):
    out = tmp_path / "v.json"
    assert main(["validate", "--shipped", "--only", "vela", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    rows = json.loads(out.read_text())
    assert len(rows) == 7 * len(VELA_CASES)
    refs = vela_shipped_references()
    case = VELA_CASES[1]
    report = simulate(synthesize_weights(load_workload(case.network)), load_hw(config_path(case.config)))
    want_cycles = report.totals["latency_cycles"] / refs[case.key]["cycles_total"]
    row = next(r for r in rows if r["case"] == case.key and r["quantity"] == "total cycles")
    assert row["ratio"] == pytest.approx(want_cycles, rel=1e-12)
    assert f"{want_cycles:.2f}" in text and "Arm Vela 5.2.0" in text and "shipped figures" in text


def test_live_and_shipped_comparisons_agree(shipped_comparisons):
    live = vela_comparisons(live=True)
    assert [(c.case, c.quantity, c.model, c.reference) for c in live] == \
        [(c.case, c.quantity, c.model, c.reference) for c in shipped_comparisons]


# ----------------------------------------------------------------------------------------------- matching rule
def test_vela_rows_are_matched_by_name_then_by_kind_in_order():
    layers = [("conv1", "Conv2D"), ("pool", "MaxPool"), ("gap", "GlobalAveragePool"), ("flatten", "Flatten"),
              ("fc", "FullyConnected")]
    rows = [["Conv2D", "pool_padded", 100, 90],          # a renamed conv: the first free Conv2D
            ["PadV2", "pool_padded", 7, 7],              # accelsim has no Pad layer: unmatched
            ["MaxPool", "pool", 50, 40],
            ["Mean", "gap_intermediate", 30, 30],        # MEAN -> DepthwiseConv2D + Mul: both to the pool
            ["Mean", "flatten", 2, 2],                   # same name as a view, but a Mean: not the view
            ["FullyConnected", "fc", 20, 10]]
    matched, unmatched = match_vela_layers(rows, layers)
    assert matched == {"conv1": (100, 90), "pool": (50, 40), "gap": (32, 32), "fc": (20, 10)}
    assert unmatched == {"PadV2:pool_padded": (7, 7)}


def test_log_pearson_is_the_correlation_of_logs():
    x = [1.0, 10.0, 100.0, 1000.0]
    assert log_pearson(x, [2 * v for v in x]) == pytest.approx(1.0)       # a constant factor is r = 1
    y = [1.0, 100.0, 10.0, 1000.0]
    lx, ly = [math.log(v) for v in x], [math.log(v) for v in y]
    mx, my = sum(lx) / 4, sum(ly) / 4
    r = sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / math.sqrt(
        sum((a - mx) ** 2 for a in lx) * sum((b - my) ** 2 for b in ly))
    assert log_pearson(x, y) == pytest.approx(r) and r == pytest.approx(0.8)


# ----------------------------------------------------------------------------------------------------- bands
def test_compute_cycles_per_layer_correlate_with_vela_on_every_case(shipped_comparisons):
    rows = [c for c in shipped_comparisons if c.quantity == "per-layer compute r"]
    assert len(rows) == len(VELA_CASES)
    for c in rows:
        assert c.model >= 1 - BANDS["per-layer log-cycle r"], c


def test_npu_compute_cycles_within_ten_percent_of_vela_on_every_case(shipped_comparisons):
    rows = [c for c in shipped_comparisons if c.quantity == "NPU compute cycles"]
    assert len(rows) == len(VELA_CASES)
    for c in rows:
        assert abs(c.ratio - 1) <= 0.10, c


@pytest.mark.parametrize("quantity", BANDED)
def test_issue_bands_hold_on_every_case(shipped_comparisons, quantity):
    rows = [c for c in shipped_comparisons if c.quantity == quantity]
    assert len(rows) == len(VELA_CASES) and all(c.band == BANDS[quantity] for c in rows)
    out = [f"{c.case}: {c.ratio:.3f}" for c in rows if not c.within_band]
    assert not out, out


#: Cases whose off-chip bytes are known to fall outside the band, with the mechanism accelsim lacks (the Ethos-U65
#: gaps closed with cascade stripes and DRAM bursts of the NHWC network input, docs/validation.md). SqueezeNet on
#: U55-128: Vela buffers conv1's weights (its schedule: OFM block 3x16x32, 259 output planes, re-reads that would
#: not hide under compute); accelsim's SHRAM model rejects that block (20 banks > 18) and runs 4x16x16 (196
#: planes), whose 196 weight re-reads hide under compute, so it streams them from flash (+0.45 MB).
OFF_CHIP_GAPS: set[str] = set()


@pytest.mark.parametrize("case", [c.key for c in VELA_CASES])
def test_off_chip_bytes_band(shipped_comparisons, case):
    if case in OFF_CHIP_GAPS:
        pytest.xfail("known gap, see OFF_CHIP_GAPS")
    row = next(c for c in shipped_comparisons if c.case == case and c.quantity == "off-chip bytes")
    assert row.band == BANDS["off-chip bytes"]
    assert row.within_band, f"{case}: {row.ratio:.3f}"


def test_off_chip_bytes_gaps_are_still_gaps(shipped_comparisons):
    """The known gaps stay listed only while they are outside the band (remove a case once it passes)."""
    rows = {c.case: c for c in shipped_comparisons if c.quantity == "off-chip bytes"}
    assert all(not rows[case].within_band for case in OFF_CHIP_GAPS), \
        {case: round(rows[case].ratio, 3) for case in OFF_CHIP_GAPS if rows[case].within_band}


def test_off_chip_bytes_on_u65_follow_the_per_block_input_rereads(shipped_comparisons):
    """Ethos-U65 (feature maps in DRAM): off-chip bytes rose from main's 0.32 / 0.52 (ResNet-18 / SqueezeNet,
    inputs read once) once every output block re-reads its input block from DRAM; MobileNet-v2 in band."""
    rows = {c.case: c.ratio for c in shipped_comparisons if c.quantity == "off-chip bytes"}
    assert rows["resnet_18 @ ethos_u65_256"] > 0.45 and rows["squeezenet_1.1 @ ethos_u65_256"] > 0.7
    assert abs(rows["mobilenet_v2_1.0_224 @ ethos_u65_256"] - 1) <= BANDS["off-chip bytes"]


def test_sram_bytes_are_reported_for_information(shipped_comparisons):
    rows = [c for c in shipped_comparisons if c.quantity == "SRAM bytes"]
    assert len(rows) == len(VELA_CASES) and all(c.band is None and c.reference > 0 for c in rows)
    # every feature map in SRAM (Ethos-U55): the traffic there is the feature maps' re-reads; within 30 % of Vela's
    assert all(abs(c.ratio - 1) <= 0.30 for c in rows if "u55" in c.case), [(c.case, c.ratio) for c in rows]


def test_stored_weight_bytes_band_holds_on_every_case(shipped_comparisons):
    rows = [c for c in shipped_comparisons if c.quantity == "stored weight bytes"]
    assert len(rows) == len(VELA_CASES)
    out = [f"{c.case}: {c.ratio:.3f}" for c in rows if not c.within_band]
    assert not out, out


# ------------------------------------------------------------------------- held out: a network and a precision
def _live_compute_figures(graph, config: str, accelerator: str, system: str, memory: str):
    from accelsim.validation.vela import VelaCase, layer_pairs

    case = VelaCase("held_out", config, accelerator, system, memory)
    ref = run_vela(export_tflite(graph), case)
    report = simulate(graph, load_hw(config_path(config)))
    pairs = layer_pairs(report, ref["layers"])
    return (float(report.layers["compute_cycles"].sum()) / ref["cycles_npu"],
            log_pearson(pairs.model_compute, pairs.vela_npu), len(pairs.names), len(report.layers))


def test_held_out_network_compute_agrees_with_live_vela():
    """MobileNet-v2 1.4 is in no VELA_CASE and no engine parameter was fitted on it."""
    graph = synthesize_weights(load_workload("mobilenet_v2_1.4_224"))
    ratio, r, matched, layers = _live_compute_figures(graph, "ethos_u55_128", "ethos-u55-128",
                                                      "Ethos_U55_High_End_Embedded", "Shared_Sram")
    assert matched == layers
    assert abs(ratio - 1) <= 0.10 and r >= 0.95, (ratio, r)


def test_held_out_16_bit_activations_agree_with_live_vela():
    """int16 activations (TFLite 16x8): every MAC step at half rate, 40-bit accumulators."""
    graph = synthesize_weights(load_workload("resnet_18", quant={"activation_bits": 16}))
    ratio, r, _, _ = _live_compute_figures(graph, "ethos_u55_256", "ethos-u55-256",
                                           "Ethos_U55_High_End_Embedded", "Shared_Sram")
    assert abs(ratio - 1) <= 0.10 and r >= 0.95, (ratio, r)
