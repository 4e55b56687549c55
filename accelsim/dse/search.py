"""Mixed-precision search: the Pareto front of accuracy vs hardware cost over per-layer weight widths
(``accelsim search TASK HW``).

1. **Sensitivity** (:mod:`accelsim.dse.sensitivity`): every MAC layer moved alone to every lower weight width
   the hardware offers; its output SQNR, accuracy drop and whole-network saving (latency, energy, DRAM).
2. **Prediction** (additive, one term per layer, as HAWQ-V3's ILP sums one Hessian-weighted perturbation per
   layer, Yao et al. ICML 2021 [ref:Yao21]):

   * ``sqnr`` (default): output noise powers add — predicted noise-to-signal ratio
     ``N = N_base + sum_l max(N_l(w_l) - N_base, 0)`` with ``N = 10^(-SQNR/10)``. ASSUMPTION: each layer's
     quantization noise is independent of the others' and reaches the output additively; its error is measured
     on every verified assignment (``predicted_sqnr_db`` vs ``sqnr_db``; figures in docs/search.md);
     predicted SQNR ``-10 log10 N``;
   * ``drop``: accuracy drops add, ``sum_l max(drop_l(w_l), 0)`` (measured drops are noisy at a few hundred
     samples: the binomial standard error is reported with every accuracy).

   Hardware cost of an assignment: the baseline total minus the sum of the per-layer savings (per-layer rows
   interact only through residency and prefetch, which the verification below measures).
3. **Exact optimisation over the prediction**: for each of ``budgets`` cost budgets evenly spaced between the
   cheapest and the baseline assignment, per metric (latency, energy, DRAM), the assignment of least predicted
   noise within the budget is an integer linear program (one binary per (layer, width), one width per layer,
   the budget as a knapsack row), solved by ``scipy.optimize.milp`` (HiGHS branch and bound, exact) — HAWQ-V3's
   formulation, not HAQ's reinforcement-learning search ([ref:Wang19]).
4. **Verification**: every distinct assignment found (and the uniform ones) is measured whole: PTQ + bit-exact
   integer execution of the evaluation set (accuracy, SQNR) and ``simulate`` of its quantized graph (latency,
   energy, DRAM). The front reported is the non-dominated set of the *measured* (accuracy, metric) pairs; the
   plotted accuracy is never a prediction.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp

from accelsim.analysis import pareto_mask
from accelsim.dse.sensitivity import (
    HW_METRICS, Evaluator, Measurement, lower_weight_bits, sensitivity_table, with_layer_weight_bits,
)
from accelsim.errors import AccelsimError, UnsupportedError
from accelsim.tasks import TaskQuant

#: Accuracy predictors of the search (module docstring).
PREDICTORS = ("sqnr", "drop")
#: Uniform reference points (weight bits, activation bits), reported when the hardware has the mode.
UNIFORM_POINTS = ((8, 8), (4, 8), (8, 16))


def noise_ratio(sqnr: np.ndarray | float) -> np.ndarray:
    """Noise-to-signal power ratio ``10^(-SQNR/10)`` of an SQNR in dB."""
    return np.power(10.0, -np.asarray(sqnr, np.float64) / 10.0)


def min_proxy_assignment(proxy: np.ndarray, cost: np.ndarray, budget: float) -> tuple[int, ...] | None:
    """The choice (one column index per row) minimising ``sum proxy[l, k_l]`` subject to
    ``sum cost[l, k_l] <= budget`` (exact, ``scipy.optimize.milp``); ties go to the cheaper choice; None if no
    choice fits the budget.

    ``proxy`` and ``cost``: ``(layers, options)`` arrays of finite values.
    """
    proxy, cost = np.asarray(proxy, np.float64), np.asarray(cost, np.float64)
    n_layers, n_opts = proxy.shape
    if cost.min(axis=1).sum() > budget + 1e-9 * max(1.0, abs(budget)):
        return None
    # Tie-break: a cost term far below the proxy's resolution (proxy differences below 1e-9 x its span).
    span_p = float(np.ptp(proxy)) or 1.0
    span_c = float(np.ptp(cost)) or 1.0
    c = (proxy + 1e-9 * span_p * cost / span_c / n_layers).ravel()
    one_each = np.kron(np.eye(n_layers), np.ones(n_opts))
    constraints = [LinearConstraint(one_each, 1, 1),
                   LinearConstraint(cost.reshape(1, -1), -np.inf, budget + 1e-9 * max(1.0, abs(budget)))]
    res = milp(c, constraints=constraints, integrality=np.ones(c.size), bounds=Bounds(0, 1),
               options={"mip_rel_gap": 0.0})  # proven optimal, not HiGHS's default 0.01 % gap
    if res.x is None:
        return None
    x = np.round(res.x).reshape(n_layers, n_opts)
    return tuple(int(k) for k in x.argmax(axis=1))


@dataclass(frozen=True)
class SearchResult:
    """Candidates measured (one row per assignment, :func:`search` columns), the sensitivity table, the uniform
    reference points and the ILP solve count."""

    candidates: pd.DataFrame
    sensitivity: pd.DataFrame
    uniform: pd.DataFrame
    ilp_solves: int

    def front(self, metric: str) -> pd.DataFrame:
        """The verified candidates on the measured (accuracy max, ``metric`` min) front, sorted by ``metric``."""
        ok = self.candidates[self.candidates["status"] == "ok"]
        return ok[ok[f"front_{metric}"]].sort_values(metric, kind="stable")


def _measure_row(ev: Evaluator, quant: TaskQuant) -> dict[str, object]:
    try:
        m: Measurement = ev.measure(quant)
    except AccelsimError as exc:  # e.g. an accumulator overflow: the point fails, the search goes on
        return {"status": "failed", "error": str(exc)}
    return {"status": "ok", "error": "", "accuracy_pct": m.accuracy.accuracy_pct,
            "accuracy_stderr_pct": m.accuracy.accuracy_stderr_pct, "accuracy_drop_pct": m.accuracy.accuracy_drop_pct,
            "sqnr_db": m.sqnr_db, **{k: m.metric(k) for k in HW_METRICS}}


def assignment_quant(ev: Evaluator, bits: tuple[int, ...]) -> TaskQuant:
    """The task quantization of a per-layer weight-width assignment (``bits`` in MAC-layer order)."""
    names = [name for name, _ in ev.layers]
    if len(bits) != len(names):
        raise UnsupportedError(f"an assignment needs {len(names)} weight widths, got {len(bits)}")
    return with_layer_weight_bits(ev.base, {n: b for n, b in zip(names, bits) if b != ev.base.weight_bits})


def layer_bits_text(ev: Evaluator, bits: tuple[int, ...]) -> str:
    """The assignment as ``--layer-bits`` selectors (``name:<layer>=w<bits>`` for the layers off the baseline)."""
    names = [name for name, _ in ev.layers]
    return ",".join(f"name:{n}=w{b}" for n, b in zip(names, bits) if b != ev.base.weight_bits)


def _matrices(ev: Evaluator, sens: pd.DataFrame, widths: tuple[int, ...]
              ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(added noise ratio, accuracy drop, {metric: cost delta}) arrays, ``(layers, options)``, clipped at 0 for
    the first two; option 0 is the baseline width (all zero)."""
    names = [name for name, _ in ev.layers]
    n_base = float(noise_ratio(ev.measure(ev.base).sqnr_db))
    noise = np.zeros((len(names), len(widths) + 1))
    drop = np.zeros_like(noise)
    costs = {m: np.zeros_like(noise) for m in HW_METRICS}
    saving_col = {"latency_cycles": "latency_saving_cycles", "energy_pj": "energy_saving_pj",
                  "dram_bytes": "dram_saving_bytes"}
    table = sens[sens["moved"] == "weight"].set_index(["layer", "weight_bits"])
    for i, name in enumerate(names):
        for j, w in enumerate(widths, 1):
            row = table.loc[(name, w)]
            noise[i, j] = max(float(noise_ratio(row["sqnr_db"])) - n_base, 0.0)
            drop[i, j] = max(float(row["accuracy_drop_pct"]), 0.0)
            for m in HW_METRICS:
                costs[m][i, j] = -float(row[saving_col[m]])
    # a weight move that failed alone (NaN) is priced far above every measured one: chosen only if no budget
    # is met otherwise, and then verification records it failed
    for arr in (noise, drop):
        bad = np.isnan(arr)
        arr[bad] = 10.0 * float(np.nansum(arr)) + 1.0
    for m in HW_METRICS:
        costs[m][np.isnan(costs[m])] = 0.0
    return noise, drop, costs


def search(ev: Evaluator, budgets: int = 12, predictor: str = "sqnr", progress=None) -> SearchResult:
    """Sensitivity, ILP over the prediction per metric and budget, verification of every distinct assignment
    (module docstring). ``progress(step, total, text)`` reports measurements."""
    if predictor not in PREDICTORS:
        raise UnsupportedError(f"unknown predictor {predictor!r}; use one of {', '.join(PREDICTORS)}")
    if budgets < 2:
        raise UnsupportedError(f"budgets must be at least 2, got {budgets}")
    widths = lower_weight_bits(ev.hw, ev.base)
    options = (ev.base.weight_bits, *widths)
    sens = sensitivity_table(ev, progress, activations=False)  # the search moves weights only
    noise, drop, costs = _matrices(ev, sens, widths)
    proxy = noise if predictor == "sqnr" else drop
    base = ev.measure(ev.base)
    n_layers = proxy.shape[0]
    # every uniform weight width is a candidate too (the search space's own uniform points)
    found: dict[tuple[int, ...], set[str]] = {tuple([k] * n_layers): set() for k in range(len(options))}
    solves = 0
    for m in HW_METRICS:
        lo = float(costs[m].min(axis=1).sum())
        for budget in np.linspace(lo, 0.0, budgets):
            choice = min_proxy_assignment(proxy, costs[m], float(budget))
            solves += 1
            if choice is not None:
                found.setdefault(choice, set()).add(m)
    rows = []
    for i, choice in enumerate(sorted(found), 1):
        bits = tuple(options[k] for k in choice)
        if progress is not None:
            progress(i, len(found), f"verify assignment {i}")
        picked = (np.arange(n_layers), np.asarray(choice))
        pred_noise = float(noise_ratio(base.sqnr_db)) + float(noise[picked].sum())
        pred_drop = float(drop[picked].sum())
        rows.append({
            "weight_bits": ",".join(map(str, bits)), "layer_bits": layer_bits_text(ev, bits),
            **{f"layers_w{w}": sum(1 for b in bits if b == w) for w in options},
            "predicted_sqnr_db": -10.0 * math.log10(pred_noise) if pred_noise > 0 else math.inf,
            "predicted_accuracy_pct": base.accuracy.accuracy_pct - pred_drop,
            **{f"predicted_{m}": base.metric(m) + float(costs[m][picked].sum())
               for m in HW_METRICS},
            "found_for": ",".join(sorted(found[choice])) or "uniform",
            **_measure_row(ev, assignment_quant(ev, bits)),
        })
    cand = pd.DataFrame(rows)
    for m in HW_METRICS:
        cand[f"front_{m}"] = False
        ok = cand["status"] == "ok"
        if ok.any():
            vals = np.column_stack([-cand.loc[ok, "accuracy_pct"].to_numpy(float), cand.loc[ok, m].to_numpy(float)])
            cand.loc[ok, f"front_{m}"] = pareto_mask(vals)
    return SearchResult(cand, sens, uniform_points(ev, cand), solves)


def uniform_points(ev: Evaluator, candidates: pd.DataFrame | None = None) -> pd.DataFrame:
    """The uniform W8A8 / W4A8 / W8A16 points (those ``ev.hw`` has a mode for) measured, with the number of
    verified ``candidates`` that dominate each on (accuracy, energy)."""
    modes = {(m.weight_bits, m.activation_bits) for m in ev.hw.precision.modes}
    rows = []
    for w, a in UNIFORM_POINTS:
        if (w, a) not in modes:
            continue
        quant = ev.base.model_copy(update={"weight_bits": w, "activation_bits": a, "overrides": {}})
        row = {"point": f"W{w}A{a}", "weight_bits": w, "activation_bits": a, **_measure_row(ev, quant)}
        if candidates is not None and row["status"] == "ok":
            ok = candidates[candidates["status"] == "ok"]
            row["dominated_by_energy"] = int(dominating(ok, row["accuracy_pct"], row["energy_pj"]).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def dominating(points: pd.DataFrame, accuracy_pct: float, cost: float, metric: str = "energy_pj") -> pd.Series:
    """Mask of ``points`` that dominate (``accuracy_pct``, ``cost``): accuracy >= and ``metric`` <=, one strict."""
    acc, c = points["accuracy_pct"].astype(float), points[metric].astype(float)
    return (acc >= accuracy_pct) & (c <= cost) & ((acc > accuracy_pct) | (c < cost))
