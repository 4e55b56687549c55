"""TPU v1 anchors (Jouppi et al., ISCA 2017 [ref:Jouppi17]): batching raises utilization up to the roof, the FC
4096 x 4096 at batch 256 sits near its weight-bandwidth bound, partial sums never reach DRAM."""
from __future__ import annotations

import math

import pytest

from accelsim.validation import REFERENCE_SETS
from accelsim.validation.tpu import FC_BATCHES, FC_FEATURES, RESNET_BATCHES, tpu_case, tpu_comparisons


def weight_bandwidth_bound(batch: int) -> float:
    """Closed form written here from the paper's figures: an FC n x n at batch b does b·n² MACs on 65,536 MACs
    per cycle and fetches n² int8 weights once at 34 GB/s / 700 MHz bytes per cycle."""
    n = FC_FEATURES
    compute = batch * n * n / 65536
    fetch = n * n / (34e9 / 700e6)
    return compute / max(compute, fetch)


def test_tpu_is_a_registered_reference_set():
    assert REFERENCE_SETS["tpu"] is tpu_comparisons


def test_every_banded_tpu_comparison_is_within_its_band():
    comparisons = tpu_comparisons()
    banded = [c for c in comparisons if c.band is not None]
    assert len(banded) == 2
    for c in banded:
        assert c.within_band, (c.case, c.quantity, c.ratio)
    assert all("[ref:Jouppi17]" in c.source for c in comparisons)


def test_fc_at_batch_256_is_within_20_percent_of_its_weight_bandwidth_bound():
    case = tpu_case("fc", 256)
    bound = weight_bandwidth_bound(256)
    assert bound == pytest.approx(0.1897, abs=1e-4)             # ≈ 19 %: the figure
    assert case["roofline_utilization"] == pytest.approx(bound)
    assert abs(case["utilization"] / bound - 1) <= 0.20


def test_fc_utilization_rises_monotonically_with_batch_and_never_passes_the_roof():
    utils = [tpu_case("fc", b)["utilization"] for b in FC_BATCHES]
    assert all(b > a for a, b in zip(utils, utils[1:])), utils
    for batch, util in zip(FC_BATCHES, utils):
        assert util <= weight_bandwidth_bound(batch) * (1 + 1e-9)
    assert utils[-1] > 25 * utils[1]          # batch 4096 vs 16: weight reuse, not a constant


@pytest.mark.parametrize("batch", FC_BATCHES)
def test_no_partial_sums_reach_dram_when_the_accumulators_hold_them(batch):
    # 2048 rows of 256 32-bit accumulators per half of the double-buffered 4 MiB (paper §2) hold the partial
    # sums of one 256-wide output tile for up to 2048 images: DRAM sees weights, inputs and outputs only.
    case = tpu_case("fc", batch)
    n = FC_FEATURES
    assert case["psum_dram_bytes"] == 0
    # nothing but weights (once per 2048 images: the rows of one accumulator buffer half), int32 bias and (where
    # they are not kept on chip) the network's inputs and outputs
    passes = math.ceil(batch / 2048)
    assert case["weight_dram_bytes"] == n * n * passes
    assert n * n * passes <= case["dram_bytes"] <= (n * n + 4 * n) * passes + 2 * batch * n + 1e-6


def test_resnet50_has_no_psum_dram_traffic_and_utilization_rises_from_batch_1_to_4():
    cases = [tpu_case("resnet50", b) for b in (1, 2, 4)]
    assert all(c["psum_dram_bytes"] == 0 for c in cases)
    utils = [c["utilization"] for c in cases]
    assert utils[0] < utils[1] < utils[2]
    assert all(c["utilization"] <= c["roofline_utilization"] for c in cases)


def test_resnet50_utilization_is_monotone_in_batch_1_to_16():
    """Batch 16's activations (12.8 MB each) overflow the 24 MiB Unified Buffer: simulate splits it into two passes
    of 8 (simulate's sub_batch), so utilization never falls as the batch grows."""
    utils = [tpu_case("resnet50", b)["utilization"] for b in RESNET_BATCHES]
    assert all(b >= a for a, b in zip(utils, utils[1:])), utils
    assert utils[-1] > 2 * utils[0]
