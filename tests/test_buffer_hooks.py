"""Memory and mapping hooks the Eyeriss global-buffer model needs, each general and off by default: a level that
is not double buffered, a narrower partial-sum width in a level, an activation codec at the DRAM interface
(Chen et al., JSSC 2017 §IV-B, §V-A, §V-C), and grouped convolutions tiled one group at a time. Closed forms
worked by hand; the default configs keep their old behaviour."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from accelsim.config.hw import load_hw
from accelsim.errors import ConfigError
from accelsim.hw.layer import LayerShape
from accelsim.hw.memory import memory_system
from accelsim.mapping import (
    boundary_widths,
    encode_dram_activations,
    group_slice,
    map_layer,
    operand_bytes,
    repeat_tiling,
)
from accelsim.mapping.tiling import Tiling

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"


def _hw(name: str):
    return load_hw(CONFIGS / f"{name}.yaml")


def conv(h, c, o, k, pad=0, groups=1, batch=4, bits=16) -> LayerShape:
    oh = h + 2 * pad - k + 1
    return LayerShape(batch, h, h, c, oh, oh, o, k, k, 1, 1, groups, 2 * pad, 2 * pad, weight_bits=bits,
                      activation_bits=bits, output_bits=bits, name="c", kind="Conv2D")


def test_a_level_without_double_buffering_gives_one_tile_set_all_of_it():
    eyeriss = memory_system(_hw("eyeriss_v1"), 0)
    assert eyeriss.usable_bytes("global_buffer") == 100 * 1024          # filled and drained between tile sets
    assert eyeriss.usable_bytes("glb_filters") == 8 * 1024 / 2          # the next pass's filters preload
    tpu = memory_system(_hw("tpu_v1"), 0)
    level = tpu.buffer_of["inputs"]
    assert tpu.usable_bytes(level) == tpu.level(level).size_bytes / 2   # default: double buffered


def test_psum_bits_of_the_psum_level_set_the_accumulator_width_at_that_boundary():
    hw = _hw("eyeriss_v1")
    widths = operand_bytes(conv(13, 256, 384, 3, pad=1), hw)
    assert widths.accumulator == 4.0                                     # precision.accumulator_bits = 32
    assert boundary_widths(widths, hw, memory_system(hw, 0)).accumulator == 2.0   # 16-bit psums in the GLB
    tpu = _hw("tpu_v1")
    tpu_widths = operand_bytes(conv(13, 256, 384, 3, pad=1, bits=8), tpu)
    assert boundary_widths(tpu_widths, tpu, memory_system(tpu, 0)) is tpu_widths


def _tiling(**bytes_) -> Tiling:
    base = dict(loop_order="RKC", tile_rows=1, tile_out_channels=1, tile_in_channels=1, num_tiles=3,
                weight_fill_bytes=1000.0, ifmap_fill_bytes=800.0, ofmap_drain_bytes=600.0, psum_fill_bytes=100.0,
                params_fill_bytes=10.0, first_tile_load_bytes=50.0, weight_refetch_factor=2.0,
                tile_bytes_per_level={"buf": 70.0}, psum_spill_bytes=100.0)
    base.update(bytes_)
    return Tiling(**base)


def test_encode_dram_activations_closed_form():
    tiling = _tiling()
    coded = encode_dram_activations(tiling, 0.5, raw_input_share=0.25)
    assert coded.ifmap_fill_bytes == 800 * (0.25 + 0.75 * 0.5)          # network-input share stays raw
    assert coded.ofmap_drain_bytes == (600 - 100) * 0.5 + 100           # final outputs coded, psum spills not
    assert coded.weight_fill_bytes == 1000 and coded.params_fill_bytes == 10 and coded.psum_fill_bytes == 100
    assert coded.tile_bytes_per_level == tiling.tile_bytes_per_level     # decoded on chip
    assert encode_dram_activations(tiling, 1.0, 0.7) is tiling


def test_repeat_tiling_scales_bytes_and_tiles_only():
    tiling = _tiling()
    twice = repeat_tiling(tiling, 2)
    assert (twice.num_tiles, twice.weight_fill_bytes, twice.ifmap_fill_bytes, twice.ofmap_drain_bytes,
            twice.psum_fill_bytes, twice.params_fill_bytes, twice.psum_spill_bytes) == (6, 2000, 1600, 1200, 200,
                                                                                       20, 200)
    assert (twice.first_tile_load_bytes, twice.weight_refetch_factor, twice.tile_bytes_per_level) == (
        50.0, 2.0, {"buf": 70.0})
    assert repeat_tiling(tiling, 1) is tiling


def test_group_slice_of_a_grouped_conv_and_not_of_a_depthwise_one():
    grouped = conv(27, 96, 256, 5, pad=2, groups=2)                      # AlexNet CONV2
    one, groups = group_slice(grouped)
    assert groups == 2 and (one.in_channels, one.out_channels, one.groups) == (48, 128, 1)
    assert one.macs * 2 == grouped.macs and one.weight_count * 2 == grouped.weight_count
    depthwise = conv(14, 32, 32, 3, pad=1, groups=32)
    assert group_slice(depthwise) == (depthwise, 1)
    assert group_slice(conv(14, 32, 64, 3))[1] == 1


@pytest.mark.parametrize("config", ["eyeriss_v1", "tpu_v1"])
def test_a_grouped_conv_moves_its_groups_bytes_once_each(config):
    """Each group reads only its own input channels: the DRAM bytes of a 2-group conv are twice those of one group
    run alone (an ungrouped tiling would re-read every input channel for every output-channel tile)."""
    hw = _hw(config)
    bits = 16 if config == "eyeriss_v1" else 8
    grouped = dataclasses.replace(conv(13, 384, 256, 3, pad=1, groups=2, bits=bits), per_channel=False)
    one, _ = group_slice(grouped)
    both, single = map_layer(grouped, hw).dram, map_layer(one, hw).dram
    assert both.ifmap_fill_bytes == pytest.approx(2 * single.ifmap_fill_bytes)
    assert both.weight_fill_bytes == pytest.approx(2 * single.weight_fill_bytes)
    assert both.ofmap_drain_bytes == pytest.approx(2 * single.ofmap_drain_bytes)


@pytest.mark.parametrize("level, key, value", [
    ("dram", "double_buffered", False), ("dram", "psum_bits", 16),
    ("global_buffer", "activation_stored_ratio", 0.5), ("dram", "activation_stored_ratio", 0.0),
    ("dram", "activation_stored_ratio", 1.5), ("global_buffer", "psum_bits", 4),
])
def test_hook_keys_are_checked(level, key, value):
    with pytest.raises(ConfigError, match=key):
        _hw("eyeriss_v1").with_values({f"memories.{level}.{key}": value})
