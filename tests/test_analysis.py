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
