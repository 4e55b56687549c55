"""Per-layer sensitivity (accelsim.dse.sensitivity) and the `accelsim sensitivity` command."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from accelsim.cli.main import main
from accelsim.config.hw import load_hw
from accelsim.dse import (
    Evaluator, default_base_quant, lower_activation_bits, lower_moves, lower_weight_bits, output_sqnr_db,
    sensitivity_row, sensitivity_table, sqnr_db,
)
from accelsim.errors import UnsupportedError
from accelsim.graph.selectors import mac_layers
from accelsim.simulate import simulate
from accelsim.tasks import TaskLayerOverride, TaskQuant, evaluate_task, load_task, quantized_graph

HVX = "hw_configs/hvx_690.yaml"


@pytest.fixture(scope="module")
def ev() -> Evaluator:
    hw = load_hw(HVX)
    return Evaluator(load_task("digits_cnn"), hw, default_base_quant(hw))


def test_sqnr_closed_form():
    # signal 3^2 + 4^2 = 25, noise (4 - 3)^2 = 1: 10 log10(25) dB
    assert sqnr_db(np.array([3.0, 4.0]), np.array([3.0, 3.0])) == pytest.approx(10 * math.log10(25.0))
    assert sqnr_db(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == math.inf


def test_lower_widths_from_precision_modes():
    w8a8 = TaskQuant()
    assert lower_weight_bits(load_hw(HVX), w8a8) == (4,)            # W4A8 is storage-only on HVX
    assert lower_weight_bits(load_hw("hw_configs/bitfusion.yaml"), w8a8) == (4, 2)
    assert lower_weight_bits(load_hw("hw_configs/bitfusion.yaml"), TaskQuant(weight_bits=4)) == (2,)
    with pytest.raises(UnsupportedError, match="W8A8"):
        lower_weight_bits(load_hw("hw_configs/gemmini_vector.yaml"), w8a8)


def test_base_quant_follows_scale_unit():
    assert default_base_quant(load_hw(HVX)).per_channel is True
    assert default_base_quant(load_hw("hw_configs/bitfusion.yaml")).per_channel is False   # per-tensor, no fallback
    assert default_base_quant(load_hw(HVX), per_channel=False).per_channel is False


def test_layer_at_its_own_precision_changes_nothing(ev):
    first = mac_layers(ev.task.graph)[0][0]
    row = sensitivity_row(ev, first, 8)
    assert row["accuracy_drop_pct"] == 0.0
    assert row["sqnr_loss_db"] == 0.0
    assert row["latency_saving_cycles"] == row["energy_saving_pj"] == row["dram_saving_bytes"] == 0.0


def test_moved_layer_equals_direct_evaluation(ev):
    name = mac_layers(ev.task.graph)[1][0]
    row = sensitivity_row(ev, name, 4)
    quant = TaskQuant(overrides={name: TaskLayerOverride(weight_bits=4)})
    direct = evaluate_task(ev.task, quant, accumulator_bits=32)
    assert row["accuracy_pct"] == direct.accuracy_pct
    base_acc = evaluate_task(ev.task, TaskQuant(), accumulator_bits=32).accuracy_pct
    assert row["accuracy_drop_pct"] == pytest.approx(base_acc - direct.accuracy_pct)
    moved = simulate(quantized_graph(ev.task, quant.ptq_settings()), HVX).totals
    base = simulate(quantized_graph(ev.task, TaskQuant().ptq_settings()), HVX).totals
    assert row["energy_saving_pj"] == pytest.approx(base["energy_pj"] - moved["energy_pj"])
    assert row["dram_saving_bytes"] == pytest.approx(
        base["dram_read_bytes"] + base["dram_write_bytes"] - moved["dram_read_bytes"] - moved["dram_write_bytes"])
    # the 4-bit layer's weights are half the bytes: less DRAM traffic, lower output SQNR
    assert row["dram_saving_bytes"] > 0
    assert row["sqnr_loss_db"] > 0


def test_output_sqnr_falls_with_weight_width(ev):
    s8 = output_sqnr_db(ev.task, TaskQuant().ptq_settings())
    s4 = output_sqnr_db(ev.task, TaskQuant(weight_bits=4).ptq_settings())
    s2 = output_sqnr_db(ev.task, TaskQuant(weight_bits=2).ptq_settings())
    assert s8 > s4 > s2


def test_table_covers_every_layer_and_width_and_is_memoised(ev):
    table = sensitivity_table(ev)
    layers = [n for n, _ in mac_layers(ev.task.graph)]
    assert list(table["layer"]) == layers                     # one lower width (4) on HVX
    assert set(table["weight_bits"]) == {4}
    before = ev.executions
    again = sensitivity_table(ev)
    assert ev.executions == before
    pd.testing.assert_frame_equal(table, again)


def test_cli_writes_table_and_plot(tmp_path, capsys):
    assert main(["sensitivity", "digits_cnn", HVX, "-q", "-o", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "sensitivity.csv")
    assert len(table) == 4 and (table["weight_bits"] == 4).all()
    assert (tmp_path / "sensitivity.png").stat().st_size > 0
    assert "baseline W8A8 (per-channel)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["sensitivity", "no_such_task", HVX], "shipped task"),
    (["sensitivity", "digits_cnn", "hw_configs/gemmini_vector.yaml"], "no precision mode with weights narrower"),
    (["search", "digits_cnn", "hw_configs/nvdla_small.yaml"], "no precision mode with weights narrower"),
    (["sensitivity", "digits_cnn", HVX, "--weight-bits", "5"], "base.weight_bits"),
])
def test_cli_errors_exit_without_traceback(argv, message, capsys, tmp_path):
    assert main([*argv, "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "sensitivity.csv").exists()


def test_activation_moves_from_precision_modes():
    bf = load_hw("hw_configs/bitfusion.yaml")
    assert lower_activation_bits(bf, TaskQuant()) == (4, 2)             # W8A4, W8A2 modes
    assert lower_activation_bits(load_hw(HVX), TaskQuant()) == ()        # HVX: 8- and 16-bit activations only
    assert lower_moves(bf, TaskQuant()) == (("weight", 4), ("weight", 2), ("activation", 4), ("activation", 2))
    assert lower_moves(load_hw(HVX), TaskQuant()) == (("weight", 4),)


def test_activation_move_equals_direct_evaluation():
    """A layer's output moved to 4 bits on Bit Fusion: accuracy and energy saving equal a direct evaluation and
    two direct simulations (per-tensor weights: Bit Fusion's scale unit)."""
    hw = load_hw("hw_configs/bitfusion.yaml")
    ev = Evaluator(load_task("digits_cnn"), hw, default_base_quant(hw))
    name = mac_layers(ev.task.graph)[0][0]
    row = sensitivity_row(ev, name, activation_bits=4)
    assert row["moved"] == "activation" and row["weight_bits"] == 8 and row["activation_bits"] == 4
    base_q = TaskQuant(per_channel=False)
    quant = TaskQuant(per_channel=False, overrides={name: TaskLayerOverride(activation_bits=4)})
    assert row["accuracy_pct"] == evaluate_task(ev.task, quant, accumulator_bits=32).accuracy_pct
    moved = simulate(quantized_graph(ev.task, quant.ptq_settings()), hw).totals
    base = simulate(quantized_graph(ev.task, base_q.ptq_settings()), hw).totals
    assert row["energy_saving_pj"] == pytest.approx(base["energy_pj"] - moved["energy_pj"])
    assert row["energy_saving_pj"] > 0          # the next conv runs W8A4 (twice the MACs per cycle)
    assert row["sqnr_loss_db"] > 0


def test_cli_table_on_bitfusion_has_weight_and_activation_moves(tmp_path):
    assert main(["sensitivity", "digits_cnn", "hw_configs/bitfusion.yaml", "-q", "--no-plot",
                 "-o", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "sensitivity.csv")
    assert len(table) == 4 * 4                  # 4 MAC layers x (w4, w2, a4, a2)
    assert sorted(table.groupby("moved").size().items()) == [("activation", 8), ("weight", 8)]


def test_activation_move_into_a_residual_add_is_a_failed_row():
    """MobileNet-v2's projection conv feeds a residual Add whose other input stays 8-bit: PTQ rejects the mixed
    widths, the row is recorded failed with the message and the table goes on."""
    hw = load_hw("hw_configs/bitfusion.yaml")
    ev = Evaluator(load_task("digits_mobilenet_v2"), hw, default_base_quant(hw))
    graph = ev.task.graph
    producer = {t: n.name for n in graph.nodes for t in n.outputs}
    macs = {n for n, _ in mac_layers(graph)}
    into_add = next(producer[t] for n in graph.nodes if n.kind == "Add" for t in n.inputs
                    if producer.get(t) in macs)
    row = sensitivity_row(ev, into_add, activation_bits=4)
    assert row["status"] == "failed" and "Add" in row["error"]
    assert math.isnan(row["accuracy_pct"]) and math.isnan(row["energy_saving_pj"])
    ok = sensitivity_row(ev, into_add, weight_bits=4)
    assert ok["status"] == "ok"
