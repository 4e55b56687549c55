"""The Eyeriss v1 reference set (accelsim.validation.eyeriss): accelsim's row-stationary model of eyeriss_v1.yaml
against the chip's published AlexNet CONV1-5 figures at batch 4 (Chen et al., JSSC 2017, Table V and abstract).

Asserted: the bands of issue #10 (total latency ±25 %, every layer ±40 %, DRAM traffic ±30 %), MAC counts,
active PEs; the mechanism behind the DRAM figure (without the run-length code the model's DRAM bytes lie above the
chip's, which codes its fmaps), and, on figures the model was not calibrated on, the run-length code's CONV1 fmap
saving and VGG-16's DRAM traffic.
"""
from __future__ import annotations

import json
import math

import pytest

from accelsim.cli.main import main
from accelsim.validation import REFERENCE_SETS
from accelsim.validation.eyeriss import (
    ACTIVE_PES, BANDS, LAYER_LATENCY_MS, LAYER_MEGA_MACS, TOTAL_LATENCY_MS, eyeriss_comparisons,
)


@pytest.fixture(scope="module")
def comparisons():
    return {(c.case.split(" ")[0], c.quantity): c for c in eyeriss_comparisons()}


def test_registered_as_a_reference_set():
    assert REFERENCE_SETS["eyeriss"] is eyeriss_comparisons


def test_reference_figures_are_consistent_with_the_papers_totals():
    # 4 frames in 115.3 ms = 34.7 frames/s (abstract: 35); Table V MACs = 4 x AlexNet's 666 M conv MACs
    assert 4 / (TOTAL_LATENCY_MS / 1e3) == pytest.approx(34.7, abs=0.05)
    assert sum(LAYER_MEGA_MACS.values()) == pytest.approx(4 * 665.78, rel=1e-4)
    assert sum(LAYER_LATENCY_MS.values()) < TOTAL_LATENCY_MS


def test_total_latency_within_25_percent(comparisons):
    total = comparisons["alexnet", "latency [ms]"]
    assert total.reference == TOTAL_LATENCY_MS and total.band == BANDS["total"] == 0.25
    assert total.within_band, total.ratio


@pytest.mark.parametrize("layer", list(LAYER_LATENCY_MS))
def test_each_layer_latency_within_40_percent(comparisons, layer):
    c = comparisons[layer, "latency [ms]"]
    assert c.reference == LAYER_LATENCY_MS[layer] and c.band == 0.40
    assert c.within_band, c.ratio
    assert "Table V" in c.source


@pytest.mark.parametrize("layer", list(LAYER_LATENCY_MS))
def test_layer_shapes_and_active_pes_match_the_chip(comparisons, layer):
    assert comparisons[layer, "MACs [M]"].within_band
    pes = comparisons[layer, "active PEs"]
    assert pes.reference == ACTIVE_PES[layer] and pes.within_band, pes.model


def test_dram_traffic_within_30_percent(comparisons):
    dram = comparisons["alexnet", "DRAM bytes"]
    assert dram.band == 0.30
    assert dram.reference == pytest.approx(0.0029 * 2663.15e6 * 2, rel=1e-3)   # 15.4 MB (JSSC 2017 §VI-A)
    assert dram.within_band, dram.ratio


def test_without_the_run_length_code_dram_lies_above_the_chip():
    """The chip codes every fmap but the network input (JSSC 2017 §IV-B); the same mapping with raw fmaps must
    move more than the chip's 15.4 MB, and only the fmap bytes change (weights are never coded)."""
    from accelsim.config.hw import load_hw
    from accelsim.simulate import simulate
    from accelsim.validation.common import config_path
    from accelsim.validation.eyeriss import DRAM_ACCESSES_PER_MAC, WORD_BYTES, alexnet_batch4_graph

    hw = load_hw(config_path("eyeriss_v1"))
    raw_hw = hw.with_values({"memories.dram.activation_stored_ratio": 1.0})
    graph = alexnet_batch4_graph()
    names = list(LAYER_LATENCY_MS)
    coded = simulate(graph, hw).layers.set_index("name").loc[names]
    raw = simulate(graph, raw_hw).layers.set_index("name").loc[names]
    reference = DRAM_ACCESSES_PER_MAC * sum(LAYER_MEGA_MACS.values()) * 1e6 * WORD_BYTES
    assert (raw["dram_read_bytes"] + raw["dram_write_bytes"]).sum() > reference
    assert (raw["weight_dram_bytes"] == coded["weight_dram_bytes"]).all()
    ratio = hw.dram.activation_stored_ratio
    # CONV1's input is the network input (stored raw); every later layer's fmaps shrink by the stored ratio
    assert coded.loc["conv1", "ifmap_dram_bytes"] == raw.loc["conv1", "ifmap_dram_bytes"]
    for name in names[1:]:
        assert coded.loc[name, "ifmap_dram_bytes"] == pytest.approx(raw.loc[name, "ifmap_dram_bytes"] * ratio)
    assert coded["ofmap_dram_bytes"].to_numpy() == pytest.approx(raw["ofmap_dram_bytes"].to_numpy() * ratio)


def test_run_length_code_saves_what_the_paper_states_in_conv1(comparisons):
    """Not calibrated on: JSSC 2017 §IV-B, "nearly 30 %" of CONV1's fmap DRAM accesses saved (its input is not
    coded). CONV5 ("nearly 75 %") is shown only: one stored/raw ratio for every layer under-credits the sparse deep
    layers (docs/validation.md)."""
    conv1, conv5 = comparisons["conv1", "fmap DRAM saved by RLC"], comparisons["conv5", "fmap DRAM saved by RLC"]
    assert conv1.reference == 0.30 and conv5.reference == 0.75 and conv1.band is None
    assert 0.20 <= conv1.model <= 0.35
    assert 0.0 < conv5.model < conv5.reference


def test_power_is_shown_for_information(comparisons):
    power = comparisons["alexnet", "on-chip power [mW]"]
    assert power.band is None and power.reference == 278.0 and power.model > 0


def test_vgg16_is_shown_for_information(comparisons):
    """A network the model was not built on: VGG-16 at batch 3 (abstract: 0.7 frames/s, 0.0035 DRAM accesses per
    MAC). No band: the chip's VGG-16 times are not explained by its dataflow (docs/validation.md)."""
    fps = comparisons["vgg_16", "frames/s"]
    dram = comparisons["vgg_16", "DRAM bytes"]
    assert fps.band is None and dram.band is None and fps.reference == 0.7
    # the model is compute-bound at full PE use: frames/s = 3 / (3 x 15.35 G MACs / (168 MAC/cycle x 200 MHz))
    assert fps.model == pytest.approx(168 * 200e6 / 15.35e9, rel=0.05)
    assert dram.reference == pytest.approx(0.0035 * 3 * 15.347e9 * 2, rel=1e-3)
    # not calibrated on: the same buffers and fmap code put VGG-16's DRAM traffic within 30 % of the chip's
    assert abs(math.log(dram.ratio)) < math.log(1.3), dram.ratio


def test_validate_only_eyeriss_prints_the_set(tmp_path, capsys):
    out = tmp_path / "e.json"
    assert main(["validate", "--only", "eyeriss", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    rows = json.loads(out.read_text())
    # totals, per-layer latency/MACs/PEs, DRAM + 2 RLC rows, chip energy + per-layer energies + power, 2 access
    # energy ratios, 2 VGG rows
    assert len(rows) == 1 + 3 * len(LAYER_LATENCY_MS) + 3 + 1 + len(LAYER_LATENCY_MS) + 1 + 2 + 2
    assert "Chen et al., JSSC 2017" in text and "eyeriss_v1" in text


def test_chip_energy_per_batch_within_30_percent(comparisons):
    # 278 mW x 115.3 ms ([ref:Chen17] abstract, Table V) = 32.05 mJ, DRAM excluded
    c = comparisons["alexnet", "chip energy [mJ]"]
    assert c.reference == pytest.approx(278e-3 * 115.3e-3 * 1e3)
    assert c.band == 0.30 and c.within_band, c.ratio
    layers = sum(comparisons[name, "chip energy [mJ]"].model for name in LAYER_LATENCY_MS)
    assert layers == pytest.approx(c.model)


@pytest.mark.parametrize("quantity, reference", [("global buffer / RF", 6.0), ("DRAM / RF", 200.0)])
def test_access_energy_ratios_within_2x_of_1_6_200(comparisons, quantity, reference):
    c = comparisons["eyeriss_v1", quantity]
    assert c.reference == reference
    assert 0.5 <= c.ratio <= 2.0, c.ratio
    assert c.within_band
