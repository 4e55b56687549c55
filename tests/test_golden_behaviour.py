"""Behaviour frozen at tolerance 0: the cost model over every zoo network x shipped config and the engine on six
zoo networks equal the golden files in tests/data/golden (written by tests/golden_behaviour.py before the
op-registry / compute-unit restructuring, which must change no number)."""
from __future__ import annotations

import re

import pytest

import golden_behaviour as golden

#: Result columns renamed by the restructuring (old golden name -> current name): the per-level traffic of every
#: on-chip level (register files included) was reported as ``sram_<level>_{read,write}_bytes``.
_RENAMED = re.compile(r"^sram_(?P<level>.+)_(?P<direction>read|write)_bytes$")


def renamed(column: str) -> str:
    """The current name of a golden file's column (``sram_<level>_read_bytes`` -> ``onchip_<level>_read_bytes``;
    the ``sram_read_bytes`` / ``sram_write_bytes`` totals keep their names)."""
    match = _RENAMED.match(column)
    return f"onchip_{match['level']}_{match['direction']}_bytes" if match else column


@pytest.fixture(scope="module")
def simulate_golden() -> dict[str, dict]:
    return golden.load_simulate_golden()


@pytest.fixture(scope="module")
def simulate_now() -> dict[str, dict]:
    return golden.simulate_records()


def test_every_pair_is_covered(simulate_golden):
    assert len(simulate_golden) == len(golden.NETWORKS) * len(golden.CONFIGS)
    assert sum("layers" in r for r in simulate_golden.values()) >= 119


@pytest.mark.parametrize("network", golden.NETWORKS)
def test_simulate_is_unchanged(simulate_golden, simulate_now, network):
    for config in golden.CONFIGS:
        key = f"{network} @ {config.stem}"
        want, got = simulate_golden[key], simulate_now[key]
        assert got.get("quant") == want.get("quant") and got["errors"] == want["errors"], key
        if "layers" not in want:
            continue
        assert got["totals"] == want["totals"], key          # exact: every float bit for bit
        wanted = {renamed(column): values for column, values in want["layers"].items()}
        assert sorted(got["layers"]) == sorted(wanted), key
        for column, values in wanted.items():
            assert got["layers"][column] == values, f"{key}: column {column}"


def test_rename_map():
    assert renamed("sram_pe_spads_read_bytes") == "onchip_pe_spads_read_bytes"
    assert renamed("sram_global_buffer_write_bytes") == "onchip_global_buffer_write_bytes"
    assert renamed("sram_read_bytes") == "sram_read_bytes"
    assert renamed("energy_sram_global_buffer_pj") == "energy_sram_global_buffer_pj"


def test_execute_is_unchanged():
    want = golden.load_execute_golden()
    got = golden.execute_digests()
    assert sorted(got) == sorted(want)
    for network, tensors in want.items():
        assert got[network] == tensors, network
