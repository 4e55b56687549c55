"""Pareto fronts against a brute-force pairwise reference (2-D sweep and 3-D filter), with ties and
duplicates, maximize flags, and failed / missing rows left out."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from accelsim.analysis import pareto_front, pareto_mask


def brute_force_front(values: np.ndarray) -> np.ndarray:
    """Row i is on the front unless some row j is <= in every column and < in one (plain double loop)."""
    n = len(values)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if j != i and all(values[j] <= values[i]) and any(values[j] < values[i]):
                keep[i] = False
                break
    return keep


@settings(max_examples=200, deadline=None)
@given(arrays(np.int64, st.tuples(st.integers(0, 40), st.sampled_from([2, 3])), elements=st.integers(0, 6)))
def test_pareto_mask_equals_brute_force(values):
    # small integer ranges force many ties and exact duplicates
    np.testing.assert_array_equal(pareto_mask(values), brute_force_front(values))


def test_pareto_mask_random_floats_2d_and_3d():
    rng = np.random.default_rng(3)
    for k in (2, 3):
        values = rng.random((500, k))
        np.testing.assert_array_equal(pareto_mask(values), brute_force_front(values))


def test_pareto_front_hand_example_and_maximize():
    df = pd.DataFrame({"latency_ms": [1.0, 2.0, 3.0, 4.0, 2.0], "energy_pj": [5.0, 3.0, 4.0, 1.0, 3.0],
                       "status": ["ok"] * 5})
    front = pareto_front(df, ["latency_ms", "energy_pj"])
    # (3, 4) is dominated by (2, 3); the duplicate (2, 3) is kept: neither copy dominates the other
    assert front.index.tolist() == [0, 1, 4, 3]
    best_y = pareto_front(df, ["latency_ms", "energy_pj"], minimize=[True, False])
    assert best_y.index.tolist() == [0]             # lowest latency and highest energy at once


def test_pareto_front_skips_failed_and_missing_rows():
    df = pd.DataFrame({"a": [1.0, 0.0, np.nan, 2.0], "b": [1.0, 0.0, 0.0, 0.5],
                       "status": ["ok", "error", "ok", "ok"]})
    assert pareto_front(df, ["a", "b"]).index.tolist() == [0, 3]
    with pytest.raises(ValueError):
        pareto_front(df, ["a"])


@settings(max_examples=100, deadline=None)
@given(arrays(np.int64, st.tuples(st.integers(0, 40), st.sampled_from([3, 4, 5])), elements=st.integers(0, 4)))
def test_pareto_mask_nd_equals_brute_force_with_ties(values):
    np.testing.assert_array_equal(pareto_mask(values), brute_force_front(values))


def _two_workload_frame() -> pd.DataFrame:
    """Random (latency, energy) points of two workloads and two bit widths; the second workload's values are
    10x the first's, so one front over both would hold first-workload points only."""
    rng = np.random.default_rng(8)
    frames = [pd.DataFrame({"workload": name, "bits": rng.choice([4, 8], 60),
                            "latency_ms": rng.random(60) * scale, "energy_pj": rng.random(60) * scale,
                            "status": "ok"}) for name, scale in (("mobilenet_v2", 1.0), ("resnet_18", 10.0))]
    return pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=1)   # workloads interleaved


def test_pareto_front_is_computed_per_workload_and_by_group():
    df = _two_workload_frame()
    objectives = ["latency_ms", "energy_pj"]
    for by, columns in ((None, ["workload"]), (["bits"], ["workload", "bits"])):
        expected = set()
        for _, group in df.groupby(columns):
            keep = brute_force_front(group[objectives].to_numpy())
            expected |= set(group.index[keep])
        front = pareto_front(df, objectives, by=by)
        assert set(front.index) == expected and len(front) == len(expected)
        for _, group in front.groupby(columns, sort=False):          # each group's front sorted by latency
            assert group["latency_ms"].is_monotonic_increasing
    assert set(pareto_front(df, objectives)["workload"]) == {"mobilenet_v2", "resnet_18"}
    # one front over both workloads (the old behaviour) keeps no resnet_18 point at all
    mixed = brute_force_front(df[objectives].to_numpy())
    assert set(df[mixed]["workload"]) == {"mobilenet_v2"}


def test_pareto_front_groups_in_order_of_appearance_and_unknown_by_column():
    from accelsim.errors import AccelsimError

    df = _two_workload_frame()
    front = pareto_front(df, ["latency_ms", "energy_pj"], by=["bits"])
    first_seen = list(dict.fromkeys(zip(df["workload"], df["bits"])))
    assert list(dict.fromkeys(zip(front["workload"], front["bits"]))) == first_seen
    with pytest.raises(AccelsimError, match="no_such_column"):
        pareto_front(df, ["latency_ms", "energy_pj"], by=["no_such_column"])
