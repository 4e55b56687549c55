"""accelsim validate, SCALE-Sim set: the shipped SCALE-Sim 3.0.0 figures equal a live run, and accelsim's compute
cycles equal them exactly on every layer and dataflow."""
from __future__ import annotations

import pytest

from accelsim.validation import all_comparisons
from accelsim.validation.scalesim import (
    DATAFLOWS, SCALESIM_VERSION, TOPOLOGY, run_scalesim, scalesim_comparisons, scalesim_installed_version,
    shipped_references,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:scalesim.*")


def test_the_test_line_installs_the_scalesim_version_the_references_came_from():
    assert scalesim_installed_version() == SCALESIM_VERSION


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_shipped_references_equal_a_live_scalesim_run(dataflow):
    assert run_scalesim(dataflow) == shipped_references()[dataflow]


def test_accelsim_compute_cycles_equal_scalesim_on_every_layer_and_dataflow():
    comparisons = scalesim_comparisons(live=False)
    layers = len(TOPOLOGY.strip().splitlines()) - 1
    assert len(comparisons) == layers * len(DATAFLOWS)
    for c in comparisons:
        assert c.band == 0.0 and c.within_band, (c.case, c.model, c.reference)
        assert c.model == c.reference


def test_validate_runs_the_registered_sets_by_name():
    assert {c.source.split(" [")[0] for c in all_comparisons(live=False, only=("scalesim",))} == {
        f"SCALE-Sim {SCALESIM_VERSION}"}
