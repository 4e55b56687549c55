"""Systolic-array model against SCALE-Sim's closed forms ([ref:ScaleSim]) worked by hand."""
from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.errors import UnsupportedError
from accelsim.hw.layer import LayerShape
from accelsim.hw.systolic import (
    best_lowering,
    block_diagonal_groups,
    cycles_per_fold,
    fold_counts,
    gemm_shape,
    packed_reduction,
    pipelined_compute_cycles,
    register_accesses,
    register_file_bytes,
    spatial_temporal,
    sram_traffic,
    systolic_timing,
)


def conv(name="c", h=7, w=7, c=192, o=384, k=3, s=1, groups=1, batch=1) -> LayerShape:
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    return LayerShape(batch, h, w, c, oh, ow, o, k, k, s, s, groups, weight_bits=8, name=name, kind="Conv2D")


def test_inc5b_on_32x32_ws_matches_scalesim_published_figure():
    # SCALE-Sim's own test layer: M = 5·5 = 25, K = 3·3·192 = 1728, N = 384. WS: Sr = K -> 54 row folds,
    # Sc = N -> 12 col folds; 648 folds x (2·32 + 32 + 25 − 2 = 119) − 1 = 77,111 reported cycles.
    t = systolic_timing(conv(), 32, 32, "ws")
    assert (t.gemm_m, t.gemm_n, t.gemm_k) == (25, 384, 1728)
    assert (t.row_folds, t.col_folds, t.folds) == (54, 12, 648)
    assert t.cycles_per_fold == 119
    assert t.compute_cycles == 77_112
    assert t.scalesim_total_cycles == 77_111
    # SCALE-Sim's overall util = M·N·K / (cycles·R·C), on its own cycle count
    assert t.macs == 25 * 384 * 1728
    assert t.utilization == pytest.approx(25 * 384 * 1728 / (77_112 * 1024))


@pytest.mark.parametrize("dataflow, expected", [("os", (25, 384, 1728)), ("ws", (1728, 384, 25)),
                                                ("is", (1728, 25, 384))])
def test_spatial_temporal_mapping(dataflow, expected):
    assert spatial_temporal(25, 384, 1728, dataflow) == expected


def test_cycles_per_fold_fill_and_drain():
    # OS: R + C + T − 2; WS/IS: 2R + C + T − 2 (stationary operand preloaded over R cycles)
    assert cycles_per_fold(8, 4, 10, "os") == 8 + 4 + 10 - 2
    assert cycles_per_fold(8, 4, 10, "ws") == 16 + 4 + 10 - 2
    assert cycles_per_fold(8, 4, 10, "is") == 16 + 4 + 10 - 2


def test_pipelined_folds_with_a_double_buffered_stationary_operand():
    # Jouppi et al. 2017 §2: the next tile shifts in (R cycles) while the current one computes; folds start
    # max(T, R) apart, the first one costs SCALE-Sim's 2R + C + T - 2
    assert pipelined_compute_cycles(8, 4, 10, 1) == cycles_per_fold(8, 4, 10, "ws")
    assert pipelined_compute_cycles(8, 4, 10, 3) == (16 + 4 + 10 - 2) + 2 * 10     # stream-bound: T > R
    assert pipelined_compute_cycles(8, 4, 3, 3) == (16 + 4 + 3 - 2) + 2 * 8        # shift-bound: T < R
    with pytest.raises(ValueError, match="at least one fold"):
        pipelined_compute_cycles(8, 4, 3, 0)


def test_double_buffered_timing_keeps_traffic_and_the_scalesim_count():
    single = systolic_timing(conv(), 32, 32, "ws")
    double = systolic_timing(conv(), 32, 32, "ws", stationary_buffers=2)
    # 648 folds of T = 25 < R = 32: each later fold waits for its 32-cycle weight shift
    assert double.compute_cycles == (2 * 32 + 32 + 25 - 2) + 647 * 32
    assert double.scalesim_total_cycles == single.scalesim_total_cycles == 77_111
    assert (double.ifmap_sram_reads, double.filter_sram_reads, double.ofmap_sram_writes) == (
        single.ifmap_sram_reads, single.filter_sram_reads, single.ofmap_sram_writes)
    assert double.utilization == pytest.approx(single.utilization * single.compute_cycles / double.compute_cycles)
    inputs = systolic_timing(conv(), 32, 32, "is", stationary_buffers=2)   # IS: the inputs are stationary
    assert inputs.compute_cycles == pipelined_compute_cycles(32, 32, 384, inputs.folds)
    with pytest.raises(ValueError, match="stationary_buffers"):
        systolic_timing(conv(), 32, 32, "os", stationary_buffers=2)


def test_partial_folds_cost_full_folds():
    assert fold_counts(33, 32, 32, 32) == (2, 1)
    assert fold_counts(1, 1, 32, 32) == (1, 1)
    assert fold_counts(64, 65, 32, 16) == (2, 5)


def test_os_non_square_array_hand_count():
    # 1x1 conv 10x10x16 -> 40 filters on 8 rows x 16 cols, OS: Sr = M = 100 -> 13 folds, Sc = N = 40 -> 3 folds,
    # T = K = 16: 39 folds x (8 + 16 + 16 − 2 = 38) = 1482 cycles.
    t = systolic_timing(conv(h=10, w=10, c=16, o=40, k=1), 8, 16, "os")
    assert (t.row_folds, t.col_folds, t.cycles_per_fold, t.compute_cycles) == (13, 3, 38, 1482)
    assert t.scalesim_total_cycles == 1481


def test_sram_traffic_per_dataflow():
    m, n, k = 100, 40, 16
    # OS: ifmap re-streamed per column fold, filter per row fold; each output written once
    assert sram_traffic(m, n, k, 13, 3, "os") == (m * k * 3, k * n * 13, m * n, 0)
    # WS: weights read once, ifmap per column fold, partial sums written per row fold and read back between them
    assert sram_traffic(m, n, k, 2, 3, "ws") == (m * k * 3, k * n, m * n * 2, m * n)
    # IS: inputs read once, filters per column fold
    assert sram_traffic(m, n, k, 2, 4, "is") == (m * k, k * n * 4, m * n * 2, m * n)


def test_fully_connected_is_a_batch_by_out_gemm():
    fc = LayerShape(4, 1, 1, 512, 1, 1, 1000, weight_bits=8, name="fc", kind="FullyConnected")
    g = gemm_shape(fc)
    assert (g.m, g.n, g.k, g.count) == (4, 1000, 512, 1)
    # WS 32x32: Sr = 512 -> 16, Sc = 1000 -> 32 folds; (64 + 32 + 4 − 2 = 98) per fold
    t = systolic_timing(fc, 32, 32, "ws")
    assert t.compute_cycles == 16 * 32 * 98


def test_depthwise_is_one_gemm_per_group():
    # 3x3 depthwise, 16 channels, 10x10 -> 8x8: 16 GEMMs of M = 64, N = 1, K = 9.
    # OS 8x8: 8 row folds x 1 col fold per group, (8 + 8 + 9 − 2 = 23) per fold -> 16·8·23 cycles
    dw = conv(h=10, w=10, c=16, o=16, k=3, groups=16)
    t = systolic_timing(dw, 8, 8, "os")
    assert (t.gemm_m, t.gemm_n, t.gemm_k, t.groups) == (64, 1, 9, 16)
    assert t.folds == 16 * 8
    assert t.compute_cycles == 16 * 8 * 23
    assert t.scalesim_total_cycles == t.compute_cycles - 16   # one SCALE-Sim layer per channel
    assert t.ifmap_sram_reads == 16 * 64 * 9
    assert t.macs == dw.macs


def test_grouped_conv_splits_filters_and_channels():
    g = gemm_shape(conv(h=5, w=5, c=32, o=64, k=3, groups=4))
    assert (g.m, g.n, g.k, g.count) == (9, 16, 72, 4)


def test_throughput_packs_the_reduction_dimension():
    assert packed_reduction(1728, 1.0) == 1728
    assert packed_reduction(1728, 4.0) == 432
    assert packed_reduction(9, 2.0) == 5          # a partial pack costs a full PE-cycle
    assert packed_reduction(100, 0.25) == 400
    layer = conv()
    base = systolic_timing(layer, 32, 32, "ws")
    fast = systolic_timing(layer, 32, 32, "ws", throughput=4.0)
    # WS: K on the rows: 1728/4 = 432 -> 14 row folds instead of 54; same per-fold cycles
    assert fast.row_folds == 14 and fast.cycles_per_fold == base.cycles_per_fold
    assert fast.compute_cycles == 14 * 12 * 119
    # OS: K streamed: 4x shorter folds; 16-bit at 1/4 rate: 4x longer
    os_slow = systolic_timing(layer, 32, 32, "os", throughput=0.25)
    assert os_slow.cycles_per_fold == 32 + 32 + 4 * 1728 - 2
    # SRAM counts are in real elements, independent of packing
    assert fast.filter_sram_reads == base.filter_sram_reads
    assert fast.utilization == pytest.approx(layer.macs / (fast.compute_cycles * 1024 * 4))


def test_invalid_inputs():
    with pytest.raises(UnsupportedError, match="dataflow"):
        systolic_timing(conv(), 32, 32, "rs")
    with pytest.raises(UnsupportedError, match="MaxPool"):
        systolic_timing(LayerShape(1, 4, 4, 8, 2, 2, 8, 2, 2, 2, 2, name="p", kind="MaxPool"), 8, 8, "os")
    with pytest.raises(ValueError):
        systolic_timing(conv(), 0, 32, "os")
    with pytest.raises(ValueError):
        packed_reduction(10, 0.0)


# ------------------------------------------------------------------------------------ depthwise lowerings
def depthwise(h=114, c=32, k=3, batch=1) -> LayerShape:
    return conv("dw", h=h, w=h, c=c, o=c, k=k, groups=c, batch=batch)


def test_per_group_is_one_gemm_per_channel():
    # 32 GEMMs of M = 112·112 = 12,544, K = 9, N = 1; WS on 256x256: one fold each of 2·256 + 256 + 12,544 − 2
    t = systolic_timing(depthwise(), 256, 256, "ws", lowering="per_group")
    assert (t.groups, t.gemm_m, t.gemm_k, t.gemm_n, t.folds) == (32, 12_544, 9, 1, 32)
    assert t.compute_cycles == 32 * (2 * 256 + 256 + 12_544 - 2)


def test_block_diagonal_stacks_groups_that_fit_one_fold():
    # floor(256/9) = 28 groups fit the rows; balanced over ceil(32/28) = 2 GEMMs: 16 groups each,
    # K = 16·9 = 144 rows, N = 16 columns; each GEMM one fold.
    assert block_diagonal_groups(32, 1, 9, 256, 256, "ws") == 16
    t = systolic_timing(depthwise(), 256, 256, "ws", lowering="block_diagonal")
    assert (t.groups, t.gemm_k, t.gemm_n, t.folds) == (2, 144, 16, 2)
    assert t.compute_cycles == 2 * (2 * 256 + 256 + 12_544 - 2)
    assert t.macs == 12_544 * 32 * 9                                  # the real MACs, not the zeros
    assert t.macs_issued == 2 * 12_544 * 144 * 16                     # the PEs multiply the zeros too
    assert t.filter_sram_reads == 2 * 144 * 16                         # the zeros are loaded like any weight
    assert t.lowering == "block_diagonal"


def test_block_diagonal_group_counts_per_dataflow():
    assert block_diagonal_groups(64, 1, 9, 32, 32, "ws") == 3         # rows: floor(32/9) = 3 -> 22 GEMMs of 3
    assert block_diagonal_groups(64, 1, 9, 32, 32, "is") == 3         # filters in time: only the rows limit
    assert block_diagonal_groups(64, 1, 9, 32, 32, "os") == 32        # taps in time: only the columns limit
    assert block_diagonal_groups(64, 2, 40, 32, 32, "ws") == 1        # K > rows: degenerates to one group


def test_channel_parallel_is_a_dense_gemm_over_the_channels_with_unshared_inputs():
    t = systolic_timing(depthwise(), 256, 256, "ws", lowering="channel_parallel")
    assert (t.groups, t.gemm_k, t.gemm_n, t.folds) == (1, 9, 32, 1)
    assert t.compute_cycles == 2 * 256 + 256 + 12_544 - 2
    assert t.ifmap_sram_reads == 32 * 12_544 * 9 and t.filter_sram_reads == 9 * 32
    assert t.macs_issued == t.macs == 12_544 * 32 * 9


def test_best_lowering_picks_the_fastest_supported_and_dense_layers_ignore_it():
    per_group = systolic_timing(depthwise(), 256, 256, "ws")
    best = best_lowering(depthwise(), 256, 256, "ws", 1.0, ("per_group", "block_diagonal"))
    assert best.lowering == "block_diagonal" and per_group.compute_cycles / best.compute_cycles == 16
    assert best_lowering(depthwise(), 256, 256, "ws", 1.0, ("per_group",)).lowering == "per_group"
    dense = conv()
    for lowerings in (("per_group",), ("block_diagonal", "channel_parallel")):
        t = best_lowering(dense, 32, 32, "ws", 1.0, lowerings)
        assert t.lowering == "per_group" and t.compute_cycles == 77_112
    with pytest.raises(UnsupportedError, match="unknown depthwise lowering"):
        systolic_timing(depthwise(), 8, 8, "ws", lowering="diagonal")


# ------------------------------------------------------------------------------------- register traffic
@pytest.mark.parametrize("dataflow, writes", [("os", (1, 1, 1)), ("ws", (0, 1, 1)), ("is", (1, 0, 1))])
def test_register_accesses_per_mac(dataflow, writes):
    a = register_accesses(dataflow)
    assert (a.weight_reads, a.input_reads, a.psum_reads) == (1, 1, 1)     # Chen ISCA 2016 §III: 3 reads per MAC
    assert (a.weight_writes, a.input_writes, a.psum_writes) == writes


def test_register_file_bytes_of_a_ws_layer():
    # W8A8, 32-bit psums: reads 1 + 1 + 4 bytes per MAC; writes 1 (input latch) + 4 (psum) per MAC plus one
    # weight byte per stationary load (the filter elements the array loaded)
    t = systolic_timing(conv(), 32, 32, "ws")
    reads, writes = register_file_bytes(t, 1.0, 1.0, 4.0)
    assert reads == t.macs * 6
    assert writes == t.macs * 5 + t.filter_sram_reads


def test_systolic_unit_records_the_lowering_and_scalesim_mode_keeps_per_group():
    from accelsim.config.hw import load_hw
    from accelsim.hw.unit import SystolicModel, WorkContext

    hw = load_hw(Path(__file__).resolve().parents[1] / "hw_configs" / "tpu_v1.yaml")
    assert hw.compute.systolic.depthwise == ("per_group", "block_diagonal")
    model = SystolicModel(hw, hw.compute.systolic)
    mode = hw.mode(8, 8)
    native = model.work(depthwise(), mode, WorkContext())
    compat = model.work(depthwise(), mode, WorkContext(scalesim_compat=True))
    assert native.lowering == "block_diagonal" and compat.lowering == "per_group"
    # native: two block-diagonal GEMMs (16 groups each), one fold each, pipelined by the TPU's double-buffered
    # weights (2R + C + T - 2 + max(T, R)); compat: SCALE-Sim's 32 per-group folds, one cycle less per GEMM
    assert hw.compute.systolic.stationary_buffers == 2
    assert native.cycles == (2 * 256 + 256 + 12_544 - 2) + 12_544
    assert compat.cycles == 32 * (2 * 256 + 256 + 12_544 - 2) - 32
    assert model.work(conv(), mode, WorkContext()).lowering == ""          # dense: the array's only way
    assert native.macs_issued == 2 * 12_544 * 144 * 16                # block-diagonal zeros are multiplied
    assert native.rf_reads == native.macs_issued * (1 + 1 + 4)
    assert compat.macs_issued == compat.rf_reads / 6 == depthwise().macs
