"""Eyeriss's row-stationary dataflow (accelsim.hw.row_stationary) against closed forms worked by hand from Chen et
al., ISCA 2016 §IV and JSSC 2017 §IV, and the paper's AlexNet mapping (JSSC 2017 Table V active PEs)."""
from __future__ import annotations

import math

import pytest

from accelsim.errors import UnsupportedError
from accelsim.hw.layer import LayerShape
from accelsim.hw.row_stationary import (
    ifmap_rows_read,
    rlc_stored_ratio,
    row_stationary_timing,
    rs_mapping,
    spad_reuse,
    strip_rows,
)
from accelsim.hw.systolic import systolic_timing


def conv(h, c, o, k, s=1, pad=0, groups=1, batch=4, bits=16) -> LayerShape:
    oh = (h + 2 * pad - k) // s + 1
    return LayerShape(batch, h, h, c, oh, oh, o, k, k, s, s, groups, 2 * pad, 2 * pad, weight_bits=bits,
                      activation_bits=bits, output_bits=bits, name="c", kind="Conv2D")


# AlexNet CONV1-5 (Krizhevsky et al. 2012; Eyeriss JSSC 2017 Table V at batch 4)
CONV1 = conv(227, 3, 96, 11, s=4)
CONV2 = conv(27, 96, 256, 5, pad=2, groups=2)
CONV3 = conv(13, 256, 384, 3, pad=1)
CONV4 = conv(13, 384, 384, 3, pad=1, groups=2)
CONV5 = conv(13, 384, 256, 3, pad=1, groups=2)


@pytest.mark.parametrize("out_rows, expected", [(55, 14), (27, 14), (13, 13), (112, 14), (30, 10), (1, 1)])
def test_strip_rows_is_the_fewest_strips_that_fit_14_columns(out_rows, expected):
    assert strip_rows(out_rows, 14) == expected


@pytest.mark.parametrize("layer, pes", [(CONV1, 154), (CONV2, 135), (CONV3, 156), (CONV4, 156), (CONV5, 156)])
def test_alexnet_sets_occupy_the_papers_active_pes(layer, pes):
    """CONV1: one 11 x 14 strip; CONV2: two 5 x 14 strips stacked (5 x 27 rows doing work); CONV3-5: four 3 x 13
    sets stacked in 12 rows."""
    m = rs_mapping(layer, 12, 14)
    t = row_stationary_timing(layer, 12, 14)
    if layer is CONV1:
        assert (m.set_rows, m.strip_rows, m.strips, m.concurrent_sets, m.mapped_pes) == (11, 14, 4, 1, 154)
        assert t.active_pes == 151                                 # 11 x 55 / 4 strips: rows 55 of 56 used
    elif layer is CONV2:
        assert (m.set_rows, m.strip_rows, m.strips, m.sets_vertical) == (5, 14, 2, 2)
        assert t.active_pes == pes == 2 * 5 * 27 // 2
    else:
        assert (m.set_rows, m.strip_rows, m.strips, m.sets_vertical, m.mapped_pes) == (3, 13, 1, 4, pes)
        assert t.active_pes == pes


def test_compute_cycles_closed_form_conv3():
    # jobs = N·M·C·strips = 4·384·256·1 = 393,216 on 4 concurrent sets; each job F·S = 13·3 cycles per PE
    t = row_stationary_timing(CONV3, 12, 14)
    assert t.jobs == 393_216
    assert t.compute_cycles == 393_216 // 4 * 13 * 3 == 3_833_856
    assert t.macs == 4 * 13 * 13 * 384 * 3 * 3 * 256
    assert t.utilization == pytest.approx(t.macs / (3_833_856 * 168))
    assert t.utilization == pytest.approx(156 / 168)                  # 156 of 168 PEs, no idle step


def test_compute_cycles_closed_form_grouped_conv2():
    # per group C' = 48, M' = 128: jobs = 4·2·128·48·2 strips = 98,304 on 2 sets; F·S = 27·5
    t = row_stationary_timing(CONV2, 12, 14)
    assert t.compute_cycles == 98_304 // 2 * 27 * 5


def test_throughput_packs_the_taps_of_a_pe():
    fast = row_stationary_timing(CONV3, 12, 14, throughput=2.0)
    assert fast.compute_cycles == 393_216 // 4 * 13 * math.ceil(3 / 2)


@pytest.mark.parametrize("taps, channels, filters, expected", [(3, 256, 384, (18, 4)), (11, 3, 96, (20, 1)),
                                                               (5, 48, 128, (22, 2)), (3, 1, 1, (1, 1)),
                                                               (13, 8, 8, (8, 1))])
def test_spad_reuse(taps, channels, filters, expected):
    """q = min(C', floor(12/S)); p = min(M', 24, floor(224/(q·S)))."""
    assert spad_reuse(channels, filters, taps, 12, 224, 24) == expected


def test_ifmap_rows_read_counts_the_strip_halos():
    assert ifmap_rows_read(55, 14, 4, 11) == 3 * (13 * 4 + 11) + (12 * 4 + 11)
    assert ifmap_rows_read(13, 13, 1, 3) == 15
    assert ifmap_rows_read(27, 14, 1, 5) == 18 + 17


def test_global_buffer_traffic_closed_form_conv3():
    t = row_stationary_timing(CONV3, 12, 14)
    # ifmap: N·C'·15 rows·15 columns (13 outputs + 2 halo, padded) once per ceil(384/18) = 22 filter passes
    assert t.glb_ifmap_reads == 4 * 256 * 15 * 15 * 22
    # filters: every weight once per image and strip
    assert t.glb_filter_reads == 384 * 256 * 9 * 4
    # psums: q = 4 channels per PE, 4 sets down a column add theirs: ceil(64 / 4) = 16 writes per output,
    # 15 reads back (no write-only psum traffic)
    outputs = 4 * 13 * 13 * 384
    assert (t.glb_psum_writes, t.glb_psum_reads) == (16 * outputs, 15 * outputs)


def test_scratchpad_accesses_per_mac():
    """[ref:Chen16] §III: every MAC reads a weight, an ifmap value and a psum and writes the psum."""
    t = row_stationary_timing(CONV3, 12, 14)
    assert t.spad_reads == {"weights": t.macs, "inputs": t.macs, "psums": t.macs}
    assert t.spad_writes["psums"] == t.macs
    assert t.spad_writes["inputs"] == 4 * 256 * 3 * 13 * 15 * 22        # each PE's ifmap row per filter pass
    assert t.spad_writes["weights"] == 384 * 256 * 9 * 4 * 13            # multicast to the 13 PEs of a set row


def test_fully_connected_layer_fills_every_pe():
    fc = LayerShape(4, 1, 1, 4096, 1, 1, 1000, weight_bits=16, activation_bits=16, name="fc",
                    kind="FullyConnected")
    t = row_stationary_timing(fc, 12, 14)
    assert t.mapping.concurrent_sets == 168
    assert t.compute_cycles == math.ceil(4 * 1000 * 4096 / 168)


def test_depthwise_runs_natively_and_beats_one_gemm_per_group():
    dw = conv(114, 32, 32, 3, groups=32, batch=1)
    t = row_stationary_timing(dw, 12, 14)
    # jobs = N·G·1·1·strips = 32·ceil(112/14) = 256 on 4 sets, 112·3 cycles each
    assert t.compute_cycles == 256 // 4 * 112 * 3
    ws = systolic_timing(dw, 12, 14, "ws")
    assert ws.compute_cycles / t.compute_cycles > 5


def test_filters_taller_than_the_array_fold_their_rows():
    tall = conv(40, 2, 2, 15, batch=1)
    m = rs_mapping(tall, 12, 14)
    assert (m.set_rows, m.row_folds) == (12, 2)
    t = row_stationary_timing(tall, 12, 14)
    # q = 1 (15 taps exceed the 12-word ifmap spad), one set per column: 2 channels x 2 row folds = 4 psum
    # writes per output, 3 reads back
    outputs = 26 * 26 * 2
    assert t.glb_psum_writes == 4 * outputs and t.glb_psum_reads == 3 * outputs


def test_non_mac_layers_are_refused():
    pool = LayerShape(1, 4, 4, 8, 2, 2, 8, 2, 2, 2, 2, name="p", kind="MaxPool")
    with pytest.raises(UnsupportedError, match="multiply-accumulates"):
        row_stationary_timing(pool, 12, 14)


def test_eyeriss_unit_work_prices_the_words_at_their_widths():
    """SystolicModel on eyeriss_v1 (rs): global-buffer reads = filter words x 2 B, ifmap words x 2 B, psum words
    read back x 4 B (32-bit accumulators); writes = the psum writes but the last at 4 B plus the outputs at 2 B;
    the spad bytes are the register-file traffic, their psums at the spads' 16 bits."""
    from pathlib import Path

    from accelsim.config.hw import load_hw
    from accelsim.hw.unit import SystolicModel, WorkContext

    hw = load_hw(Path(__file__).resolve().parents[1] / "hw_configs" / "eyeriss_v1.yaml")
    array = hw.compute.systolic
    assert (array.dataflow, array.ifmap_spad_words, array.filter_spad_words, array.psum_spad_words) == \
        ("rs", 12, 224, 24)
    work = SystolicModel(hw, array).work(CONV3, hw.mode(16, 16), WorkContext())
    t = row_stationary_timing(CONV3, 12, 14)
    assert work.lowering == "row_stationary" and work.cycles == t.compute_cycles
    assert work.reads == {"weights": 2 * t.glb_filter_reads, "inputs": 2 * t.glb_ifmap_reads,
                          "outputs": 4 * t.glb_psum_reads}
    assert work.writes == 4 * (t.glb_psum_writes - CONV3.outputs) + 2 * CONV3.outputs
    # the PE spads hold 16-bit psums (pe_spads.psum_bits: 16, [ref:Chen17] §V-C)
    assert hw.memories["pe_spads"].psum_bits == 16
    assert work.rf_reads == t.macs * (2 + 2 + 2)
    assert work.rf_writes == 2 * t.macs + 2 * (t.spad_writes["weights"] + t.spad_writes["inputs"])
    assert work.peak == 168


@pytest.mark.parametrize("zeros, expected", [(0.0, 4 / 3), (0.5, 2 / 3), (0.75, 1 / 3), (1.0, 0.0)])
def test_rlc_stored_ratio_closed_form(zeros, expected):
    # JSSC 2017 Fig. 8: a (5-b run, 16-b level) pair per nonzero 16-b value, three pairs per 64-b word
    assert rlc_stored_ratio(zeros) == pytest.approx((1 - zeros) * 64 / 3 / 16)
    assert rlc_stored_ratio(zeros) == pytest.approx(expected)


def test_rlc_rejects_a_fraction_outside_0_1():
    with pytest.raises(ValueError):
        rlc_stored_ratio(1.5)


def test_eyeriss_config_codes_fmaps_at_the_papers_zero_fractions():
    """eyeriss_v1.yaml's DRAM activation_stored_ratio is the code's size at the mean of the two zero fractions the
    paper's text gives for AlexNet fmaps: almost 40 % (CONV2 ifmaps) and around 75 % (CONV5), JSSC 2017 §IV-B."""
    from pathlib import Path

    from accelsim.config.hw import load_hw

    hw = load_hw(Path(__file__).resolve().parents[1] / "hw_configs" / "eyeriss_v1.yaml")
    assert hw.dram.activation_stored_ratio == pytest.approx(rlc_stored_ratio((0.40 + 0.75) / 2), abs=5e-4)
    glb, filters = hw.memories["global_buffer"], hw.memories["glb_filters"]
    # JSSC 2017 §V-A: 100 KB for ifmaps and psums, 8 KB for filters; §V-C: 16-bit psums
    assert glb.operands == ("inputs", "outputs") and glb.size_kib == 100 and not glb.double_buffered
    assert filters.operands == ("weights",) and filters.size_kib == 8 and filters.double_buffered
    assert glb.psum_bits == 16
