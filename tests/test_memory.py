"""Memory-system view of hardware configs: bandwidths, capacities, staging levels."""
from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.config.hw import load_hw
from accelsim.hw.memory import (
    accumulator_level,
    activation_level,
    gb_per_s,
    memory_system,
    psum_level,
    staging_chain,
    staging_depths,
    usable_capacity_bytes,
)

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"


def test_dram_bytes_per_cycle_from_gb_s_and_clock():
    # SD855 LPDDR4X 34.1 GB/s at a 500 MHz clock: 34.1e9 / 500e6 = 68.2 bytes per cycle.
    hvx = load_hw(CONFIGS / "hvx_690.yaml")
    assert (hvx.dram.bandwidth_gb_s, hvx.clock_mhz) == (34.1, 500)
    assert hvx.dram_bytes_per_cycle == pytest.approx(68.2)


def test_gb_per_s_inverts_bytes_per_cycle():
    assert gb_per_s(68.2 * 1000, 1000, 500) == pytest.approx(34.1)
    assert gb_per_s(100, 0, 500) == 0.0


def test_double_buffering_halves_the_usable_capacity():
    assert usable_capacity_bytes(262144, double_buffered=True) == 131072
    assert usable_capacity_bytes(262144, double_buffered=False) == 262144


def test_hvx_stages_dram_to_l2_then_vtcm():
    hw = load_hw(CONFIGS / "hvx_690.yaml")
    assert staging_chain(hw, "weights") == ("vtcm", "l2")
    assert staging_depths(hw) == 2
    outer, inner = memory_system(hw, 0), memory_system(hw, 1)
    assert set(outer.buffer_of.values()) == {"l2"}
    assert outer.source_bytes_per_cycle == pytest.approx(34.1e9 / 500e6)  # DRAM GB/s / clock
    assert set(inner.buffer_of.values()) == {"vtcm"}
    assert inner.source_name == "l2" and inner.source_bytes_per_cycle == hw.memories["l2"].bytes_per_cycle
    assert inner.usable_bytes("vtcm") == 256 * 1024 / 2
    assert activation_level(hw) == "l2"


def test_split_operand_srams_have_one_buffer_each_and_no_activation_residency():
    hw = load_hw(CONFIGS / "scalesim_32x32_ws.yaml")
    mem = memory_system(hw, 0)
    assert mem.buffer_of == {"weights": "filter_sram", "inputs": "ifmap_sram", "outputs": "ofmap_sram"}
    assert activation_level(hw) is None


def test_reserved_bytes_shrink_only_the_activation_level():
    hw = load_hw(CONFIGS / "hvx_690.yaml")
    mem = memory_system(hw, 0, reserved_bytes=512 * 1024)
    assert mem.usable_bytes("l2") == (1024 - 512) * 1024 / 2
    assert mem.usable_bytes("vtcm") == 128 * 1024


def test_tpu_partial_sums_accumulate_in_the_accumulators_at_every_boundary():
    # Jouppi et al. ISCA 2017 §2 [ref:Jouppi17]: results collect in the 4 MiB accumulators; the Unified Buffer
    # holds activations (inputs and final outputs).
    hw = load_hw(CONFIGS / "tpu_v1.yaml")
    assert accumulator_level(hw) == "accumulators"
    outer, inner = memory_system(hw, 0), memory_system(hw, 1)
    assert outer.buffer_of == {"weights": "weight_fifo", "inputs": "unified_buffer", "outputs": "unified_buffer"}
    assert outer.psum_buffer == "accumulators"
    assert inner.buffer_of["outputs"] == "accumulators" and inner.psum_buffer == "accumulators"
    assert inner.source_name == "unified_buffer"


@pytest.mark.parametrize("config, depth, level", [
    ("gemmini_default", 0, "accumulator"),        # a single output level: the accumulator at every boundary
    ("scalesim_32x32_ws", 0, "ofmap_sram"),
    ("hvx_690", 0, "l2"),
    ("hvx_690", 1, "vtcm"),
])
def test_without_a_dedicated_accumulator_psums_stay_in_the_outputs_buffer(config, depth, level):
    hw = load_hw(CONFIGS / f"{config}.yaml")
    assert accumulator_level(hw) is None
    mem = memory_system(hw, depth)
    assert mem.psum_buffer == mem.buffer_of["outputs"] == level
    assert psum_level(hw, depth) == level


def test_memory_system_key_is_hashable_and_tells_boundaries_apart():
    hw = load_hw(CONFIGS / "hvx_690.yaml")
    keys = {memory_system(hw, 0).key(), memory_system(hw, 1).key(), memory_system(hw, 0, reserved_bytes=1024).key()}
    assert len(keys) == 3
    assert memory_system(hw, 0).key() == memory_system(hw, 0).key()
