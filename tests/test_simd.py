"""HVX-like SIMD model against closed forms from the HVX instruction rates ([ref:QEMUHexagon])."""
from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest

from accelsim.config.hw import SimdMacRates, SimdResources, SimdUnit, load_hw
from accelsim.errors import UnsupportedError
from accelsim.hw.layer import LayerShape
from accelsim.hw.simd import (
    PIXELS_PER_TILE,
    TILE_OVERHEAD_PACKETS,
    InstructionCounts,
    alu_counts,
    context_share,
    conv_counts,
    depthwise_counts,
    mac_rates,
    multiply_uses_per_instruction,
    output_counts,
    reduction_width,
    resource_bound_packets,
    simd_timing,
    unpack_cycles,
)
from accelsim.hw.unit import unit_peak_macs_per_cycle

# HVX 1024-bit, per [ref:QEMUHexagon] (DERIVED): 8x8 vrmpy 256 MAC/packet, vv accumulate 128, 16x8 128, 16x16 64.
RATES = {
    "W8A8": SimdMacRates(scalar_broadcast=256, vector_vector=128, widening=128),
    "W8A16": SimdMacRates(scalar_broadcast=128, vector_vector=64, widening=64),
    "W16A16": SimdMacRates(scalar_broadcast=64, vector_vector=64, widening=64),
}


def hvx(contexts: int = 1) -> SimdUnit:
    return SimdUnit(vector_bits=1024, contexts=contexts, multiply_resources=2, vliw_slots=4,
                    resources=SimdResources(load=1, store=1, shift=1, permute=1, alu=2),
                    macs_per_context_cycle=RATES)


def conv1x1(h=16, w=16, c=64, o=128, batch=1) -> LayerShape:
    return LayerShape(batch, h, w, c, h, w, o, weight_bits=8, name="c1", kind="Conv2D")


@pytest.mark.parametrize("w_bits, a_bits, rate, expected_macs_per_packet", [
    (8, 8, 256, 256), (8, 16, 128, 128), (16, 16, 64, 64)])
def test_1x1_conv_mac_loop_reaches_the_instruction_rate(w_bits, a_bits, rate, expected_macs_per_packet):
    # C a multiple of the reduction width and O a multiple of the 32 word lanes: no padding, multiply-bound
    rw = reduction_width(w_bits, a_bits)
    uses = multiply_uses_per_instruction(32 * rw, rate, 2)
    pixels, c, o = 64, 64, 128
    counts, padded, _ = conv_counts(pixels, o, 1, c, 32, rw, uses)
    assert padded == pixels * c * o
    assert pixels * c * o / resource_bound_packets(counts, hvx()) == expected_macs_per_packet


def test_multiply_resources_per_instruction_match_hvx():
    assert multiply_uses_per_instruction(128, 256, 2) == 1     # vrmpy(Vu.ub,Rt.b): one multiply resource
    assert multiply_uses_per_instruction(128, 128, 2) == 2     # Vx.w+=vrmpy(Vu.ub,Vv.b): both
    assert multiply_uses_per_instruction(64, 128, 2) == 1      # vdmpy(Vu.h,Rt.b)
    assert multiply_uses_per_instruction(64, 64, 2) == 2       # 16x16: double vector
    assert reduction_width(8, 8) == 4 and reduction_width(8, 16) == 2 and reduction_width(16, 16) == 2


def test_channel_padding_is_a_real_cost():
    # first layer: C = 3 padded to 4 at each of the 9 taps, O = 40 padded to 64 (two 32-lane vectors)
    counts, padded, _ = conv_counts(100, 40, 9, 3, 32, 4, Fraction(1))
    assert padded == 100 * 64 * 9 * 4
    assert counts.multiplies == 100 * 2 * 9


def test_depthwise_vector_vector_rate():
    # 2x2 depthwise (4 taps: no tap padding), 64 channels: 128 MAC per packet per context
    uses = multiply_uses_per_instruction(128, 128, 2)
    counts, padded, _ = depthwise_counts(50, 64, 4, 32, 4, uses)
    assert padded == 50 * 64 * 4
    assert resource_bound_packets(counts, hvx()) == math.ceil(50 * 64 * 4 / 128) + 2  # + 2 weight-vector loads
    # 3x3 taps pad to 12: 3 steps per channel vector
    counts, padded, _ = depthwise_counts(50, 64, 9, 32, 4, uses)
    assert padded == 50 * 64 * 12


def test_requant_on_simd_costs_two_packets_per_32_outputs():
    # [ref:QEMUHexagon]: ~2 packets per output vector of 32 int32 values (two double-resource multiplies)
    counts = output_counts(100, 100 * 32, 32, 1024, requant_on_simd=True)
    assert resource_bound_packets(counts, hvx()) == 200
    packed = output_counts(100, 100 * 32, 8, 1024, requant_on_simd=True)
    assert packed.permutes == 75                  # 4 int32 vectors -> 1 byte vector takes 3 packs
    assert packed.stores == 25                    # 3200 bytes in 128-byte vectors
    assert output_counts(100, 3200, 8, 1024, requant_on_simd=False) == InstructionCounts(stores=100)


def test_resource_bound_includes_vliw_slots():
    counts = InstructionCounts(loads=1, stores=1, shifts=1, permutes=1, alu=2)
    assert resource_bound_packets(counts, hvx()) == 2           # 6 instructions / 4 slots
    assert resource_bound_packets(InstructionCounts(alu=5), hvx()) == 3


def test_full_1x1_conv_closed_form():
    # 16x16x64 -> 128, one context: tiles of 4 pixels x 1 channel vector: 64·4 = 256 tiles. Per tile the MAC loop
    # issues 4 pixels x 16 steps = 64 vrmpy (32 packets, 16 weight loads) and stores 4 int32 vectors; + 2 overhead.
    t = simd_timing(conv1x1(), hvx(1), 8, 8)
    tiles = (256 // PIXELS_PER_TILE) * 4
    assert t.compute_cycles == tiles * (32 + TILE_OVERHEAD_PACKETS)
    assert t.macs == t.padded_macs == 256 * 64 * 128
    assert t.utilization == pytest.approx(32 / 34)
    assert t.kernel == "scalar_broadcast" and t.precision == "W8A8"
    assert t.multiplies == 256 * 4 * 16 and t.loads == 64 * 4 * 16 and t.stores == 256 * 4


def test_contexts_split_rows_with_ceil_division():
    one = simd_timing(conv1x1(h=8, w=16), hvx(1), 8, 8)
    four = simd_timing(conv1x1(h=8, w=16), hvx(4), 8, 8)
    assert four.compute_cycles == one.compute_cycles // 4        # 8 rows -> 2 per context
    three = simd_timing(conv1x1(h=8, w=16), hvx(3), 8, 8)       # 8 rows -> ceil(8/3) = 3 per context
    assert three.compute_cycles == one.compute_cycles * 3 // 8
    assert three.multiplies == one.multiplies                    # totals are over the whole layer
    share, used = context_share(conv1x1(h=7), 4, 32)
    assert (share.out_h, used) == (2, 4)


def test_fully_connected_splits_channels_and_is_load_bound():
    # batch 1: one row, so the 4 contexts split the 1000 outputs (32 vectors) 8 vectors each. No weight reuse:
    # one weight-vector load per vrmpy, the single load resource binds at 128 MAC/packet.
    fc = LayerShape(1, 1, 1, 512, 1, 1, 1000, weight_bits=8, name="fc", kind="FullyConnected")
    share, used = context_share(fc, 4, 32)
    assert (share.out_channels, used) == (256, 4)
    t = simd_timing(fc, hvx(4), 8, 8)
    assert t.packets == 8 * 128 + TILE_OVERHEAD_PACKETS * 8
    assert t.padded_macs == 1024 * 512


def test_storage_only_int4_unpack_cost():
    assert unpack_cycles(2048, 8, 1) == 16
    assert unpack_cycles(2048, 8, 4) == 4
    fc = LayerShape(1, 1, 1, 512, 1, 1, 1024, weight_bits=4, name="fc", kind="FullyConnected")
    t8 = simd_timing(fc, hvx(2), 8, 8)
    t4 = simd_timing(fc, hvx(2), 4, 8, storage_only=True, unpack_cycles_per_kib=8)
    assert t4.precision == "W8A8"
    assert t4.unpack_cycles == math.ceil(512 * 1024 / 2 / 1024 * 8 / 2)
    assert t4.compute_cycles == t8.compute_cycles + t4.unpack_cycles


def test_rates_fall_back_to_w8a8_scaled_by_mode_throughput():
    rates = mac_rates(hvx(), 4, 4, 4.0)
    assert rates.scalar_broadcast == 1024
    assert mac_rates(hvx(), 16, 16, 0.1) is RATES["W16A16"]
    unit = SimdUnit(vector_bits=1024, contexts=1, macs_per_context_cycle={"W16A16": RATES["W16A16"]})
    with pytest.raises(UnsupportedError, match="W8A8"):
        mac_rates(unit, 8, 8, 1.0)


def test_maxpool_and_add_alu_counts():
    # 2x2/2 max pool 8x8x256 -> 4x4x256: 16 pixels x 2 channel vectors (128 bytes each) = 32 output vectors,
    # 4 loads and 3 max each
    pool = LayerShape(1, 8, 8, 256, 4, 4, 256, 2, 2, 2, 2, name="p", kind="MaxPool")
    counts, tiles = alu_counts(pool, 1024)
    assert counts == InstructionCounts(loads=128, alu=96, stores=32) and tiles == 4
    add = LayerShape(1, 8, 8, 64, 8, 8, 64, num_inputs=2, name="a", kind="Add")
    counts, _ = alu_counts(add, 1024)
    assert counts == InstructionCounts(loads=64, alu=32, stores=32)   # 4096 bytes = 32 vectors
    t = simd_timing(add, hvx(1), 0, 8, requant_on_simd=True)
    # 3 rescales per output (TFLite ADD) = 384 int32 vectors x 2 packets dominate
    assert t.packets == 384 * 2 + TILE_OVERHEAD_PACKETS * 8
    assert simd_timing(LayerShape(1, 4, 4, 8, 1, 1, 128, name="r", kind="Reshape"), hvx(1), 0, 8).compute_cycles == 0


def test_unknown_kind():
    with pytest.raises(UnsupportedError, match="Frobnicate"):
        simd_timing(LayerShape(1, 1, 1, 10, 1, 1, 10, name="s", kind="Frobnicate"), hvx(1), 0, 8)


def test_shipped_hvx_config_peak_agrees_with_the_schema():
    # the schema's own peak (contexts x best class) for a conv, and half of it for depthwise (vv accumulate)
    hw = load_hw(Path(__file__).parent.parent / "hw_configs" / "hvx_690.yaml")
    conv = simd_timing(conv1x1(h=32, w=32, c=256, o=256), hw.compute.simd, 8, 8)
    assert conv.peak_macs_per_cycle == unit_peak_macs_per_cycle(hw, "simd", 8, 8) == 4 * 256
    # the inner loops run near peak; the kernel costs (accelsim.hw.hvx_kernels) come on top of them
    inner = conv.macs / ((conv.compute_cycles - conv.overhead_cycles) * conv.peak_macs_per_cycle)
    assert 0.9 < inner <= 1.0 and conv.overhead_cycles > 0 and conv.utilization < inner
    dw = LayerShape(1, 34, 34, 64, 32, 32, 64, 3, 3, groups=64, weight_bits=8, name="dw", kind="Conv2D")
    assert (simd_timing(dw, hw.compute.simd, 8, 8).peak_macs_per_cycle
            == unit_peak_macs_per_cycle(hw, "simd", 8, 8) / 2)
