"""Mixed-precision search (accelsim.dse.search) and the `accelsim search` command."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from accelsim.cli.main import main
from accelsim.config.hw import load_hw
from accelsim.dse import Evaluator, assignment_quant, default_base_quant, min_proxy_assignment, search
from accelsim.errors import UnsupportedError
from accelsim.graph.selectors import mac_layers
from accelsim.simulate import simulate
from accelsim.tasks import TaskLayerOverride, TaskQuant, evaluate_task, load_task, quantized_graph

HVX = "hw_configs/hvx_690.yaml"
BITFUSION = "hw_configs/bitfusion.yaml"


def _brute_force(proxy: np.ndarray, cost: np.ndarray, budget: float) -> float | None:
    """Least total proxy over every choice (one option per row) whose total cost is within ``budget``."""
    best = None
    rows = range(proxy.shape[0])
    for choice in itertools.product(range(proxy.shape[1]), repeat=proxy.shape[0]):
        if sum(cost[r, k] for r, k in zip(rows, choice)) <= budget:
            total = sum(proxy[r, k] for r, k in zip(rows, choice))
            best = total if best is None else min(best, total)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_ilp_optimum_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    layers, options = 5, 3
    proxy = rng.uniform(0, 1, (layers, options))
    cost = rng.uniform(-5, 5, (layers, options))
    lo, hi = cost.min(axis=1).sum(), cost.max(axis=1).sum()
    for budget in np.linspace(lo - 1, hi, 9):
        expected = _brute_force(proxy, cost, budget)
        choice = min_proxy_assignment(proxy, cost, float(budget))
        if expected is None:
            assert choice is None
            continue
        assert choice is not None
        assert sum(cost[r, k] for r, k in enumerate(choice)) <= budget + 1e-9
        assert sum(proxy[r, k] for r, k in enumerate(choice)) == pytest.approx(expected, abs=1e-9)


def test_ilp_tie_goes_to_cheaper_choice():
    proxy = np.zeros((2, 2))
    cost = np.array([[0.0, -3.0], [0.0, -1.0]])
    assert min_proxy_assignment(proxy, cost, 0.0) == (1, 1)


@pytest.fixture(scope="module")
def hvx_result():
    hw = load_hw(HVX)
    ev = Evaluator(load_task("digits_dsconv"), hw, default_base_quant(hw))
    return ev, search(ev, budgets=5)


def _dominates(a: pd.Series, b: pd.Series, metric: str) -> bool:
    return (a["accuracy_pct"] >= b["accuracy_pct"] and a[metric] <= b[metric]
            and (a["accuracy_pct"] > b["accuracy_pct"] or a[metric] < b[metric]))


@pytest.mark.parametrize("metric", ["latency_cycles", "energy_pj", "dram_bytes"])
def test_front_points_are_non_dominated(hvx_result, metric):
    _, result = hvx_result
    ok = result.candidates[result.candidates["status"] == "ok"]
    front = result.front(metric)
    assert len(front) >= 1
    for _, p in front.iterrows():
        assert not any(_dominates(q, p, metric) for _, q in ok.iterrows())
    for _, p in ok[~ok[f"front_{metric}"]].iterrows():   # every point off the front is dominated by one on it
        assert any(_dominates(q, p, metric) for _, q in ok.iterrows())


def test_front_accuracy_is_measured_by_direct_evaluation(hvx_result):
    ev, result = hvx_result
    names = [n for n, _ in mac_layers(ev.task.graph)]
    front = pd.concat([result.front(m) for m in ("latency_cycles", "energy_pj", "dram_bytes")]).drop_duplicates(
        "weight_bits")
    for _, row in front.iterrows():
        bits = [int(b) for b in row["weight_bits"].split(",")]
        quant = TaskQuant(overrides={n: TaskLayerOverride(weight_bits=b) for n, b in zip(names, bits) if b != 8})
        direct = evaluate_task(ev.task, quant, accumulator_bits=32)
        assert row["accuracy_pct"] == direct.accuracy_pct
        assert row["accuracy_stderr_pct"] == direct.accuracy_stderr_pct
        totals = simulate(quantized_graph(ev.task, quant.ptq_settings()), HVX).totals
        assert row["energy_pj"] == pytest.approx(totals["energy_pj"])
        assert row["latency_cycles"] == pytest.approx(totals["latency_cycles"])


def test_uniform_points_and_extremes(hvx_result):
    ev, result = hvx_result
    assert list(result.uniform["point"]) == ["W8A8", "W4A8", "W8A16"]       # the modes HVX has
    w4 = evaluate_task(ev.task, TaskQuant(weight_bits=4), accumulator_bits=32)
    assert result.uniform.set_index("point").loc["W4A8", "accuracy_pct"] == w4.accuracy_pct
    # every uniform weight width is verified as an assignment
    n = len(mac_layers(ev.task.graph))
    assert {",".join(["8"] * n), ",".join(["4"] * n)} <= set(result.candidates["weight_bits"])


def test_single_layer_prediction_is_exact_for_hardware(hvx_result):
    """One layer moved: the predicted cost (baseline - that layer's measured saving) is the measured cost."""
    ev, result = hvx_result
    one = result.candidates[result.candidates["layers_w4"] == 1]
    for _, row in one.iterrows():
        for m in ("latency_cycles", "energy_pj", "dram_bytes"):
            assert row[f"predicted_{m}"] == pytest.approx(row[m])


def test_assignment_quant_rejects_wrong_length(hvx_result):
    ev, _ = hvx_result
    with pytest.raises(UnsupportedError, match="weight widths"):
        assignment_quant(ev, (8, 4))


def test_search_arguments_checked(hvx_result):
    ev, _ = hvx_result
    with pytest.raises(UnsupportedError, match="predictor"):
        search(ev, predictor="hessian")


def test_cli_search_on_a_systolic_config(tmp_path, capsys):
    assert main(["search", "digits_cnn", BITFUSION, "--budgets", "3", "-q", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "measured front, accuracy vs energy" in out
    cand = pd.read_csv(tmp_path / "candidates.csv")
    assert (cand["status"] == "ok").all()
    uniform = pd.read_csv(tmp_path / "uniform.csv")
    assert list(uniform["point"]) == ["W8A8", "W4A8"]                       # no W8A16 mode on Bit Fusion
    for m in ("latency_cycles", "energy_pj", "dram_bytes"):
        assert (tmp_path / f"accuracy_vs_{m}.png").stat().st_size > 0
        front = pd.read_csv(tmp_path / f"front_{m}.csv")
        assert front[f"front_{m}"].all() and len(front) >= 1


def test_layer_bits_column_reproduces_the_assignment(hvx_result):
    """The `layer_bits` selectors printed for an assignment, given back as task quant.layer_bits, measure the same."""
    ev, result = hvx_result
    mixed = result.candidates[(result.candidates["layers_w4"] > 0) & (result.candidates["layers_w8"] > 0)]
    row = mixed.iloc[0]
    again = evaluate_task(ev.task, TaskQuant(layer_bits=row["layer_bits"]), accumulator_bits=32)
    assert again.accuracy_pct == row["accuracy_pct"]


def test_overflowing_point_is_recorded_failed_and_search_goes_on():
    """16-bit accumulators on Bit Fusion: W8A8 overflows in the first conv (7511 sums of 8x8-bit products over
    2^15), W4A8 fits; with a W4A8 baseline the search runs and the uniform W8A8 point is a failed row naming the
    node."""
    hw = load_hw(BITFUSION).with_values({"precision.accumulator_bits": 16})
    ev = Evaluator(load_task("digits_cnn"), hw, default_base_quant(hw, weight_bits=4))
    result = search(ev, budgets=2)
    assert (result.candidates["status"] == "ok").all()
    uniform = result.uniform.set_index("point")
    assert uniform.loc["W4A8", "status"] == "ok"
    assert uniform.loc["W8A8", "status"] == "failed"
    assert "/features/features.0/features.0.0/Conv" in uniform.loc["W8A8", "error"]
    assert "overflow" in uniform.loc["W8A8", "error"]


def test_overflowing_baseline_is_a_clear_error():
    from accelsim.errors import AccumulatorOverflowError

    hw = load_hw(BITFUSION).with_values({"precision.accumulator_bits": 16})
    ev = Evaluator(load_task("digits_cnn"), hw, default_base_quant(hw))
    with pytest.raises(AccumulatorOverflowError, match="features.0"):
        search(ev, budgets=2)


def test_search_sensitivity_holds_weight_moves_only(hvx_result):
    _, result = hvx_result
    assert set(result.sensitivity["moved"]) == {"weight"}
