"""Accumulator width: overflows are detected and counted, never silently wrapped.

The expected counts are closed forms: with constant inputs and per-channel constant weights every accumulator
of a channel holds the same exact value, ``bias + taps · (x − Z_x) · w``.
"""
from __future__ import annotations

import numpy as np
import pytest

import int64_reference as ref
from accelsim.errors import AccumulatorOverflowError
from accelsim.execute import execute
from accelsim.graph.builder import GraphBuilder
from accelsim.quant.params import QuantParams

N, H, W, C, OUT = 1, 6, 5, 4, 6
TAPS = 3 * 3 * C
X_VALUE = 30000
BIG_W, SMALL_W = 32000, 3   # channels 0..2 overflow int32 (36 · 30000 · 32000 ≈ 3.5e10); 3..5 do not


def int16_graph():
    b = GraphBuilder("wide")
    x = b.input("x", (N, H, W, C), "int16", QuantParams.per_tensor(0.001, 0))
    w_data = np.empty((OUT, 3, 3, C), np.int16)
    w_data[:3], w_data[3:] = BIG_W, SMALL_W
    w = b.constant("w", w_data, "int16", QuantParams.per_channel(np.full(OUT, 1e-4), 0, axis=0))
    y = b.conv2d(x, w, None, QuantParams.per_tensor(50.0, 0), padding="VALID", name="wide_conv")
    return b.build([y]), y, np.full((N, H, W, C), X_VALUE, np.int16)


def expected_overflows() -> int:
    out_pixels = N * (H - 2) * (W - 2)
    assert TAPS * X_VALUE * BIG_W > 2**31 - 1 and TAPS * X_VALUE * SMALL_W < 2**31 - 1
    return out_pixels * 3


def test_raise_names_the_node_and_count():
    graph, _, x = int16_graph()
    with pytest.raises(AccumulatorOverflowError) as info:
        execute(graph, {"x": x}, accumulator_bits=32)
    err = info.value
    assert err.node == "wide_conv" and err.count == expected_overflows() and err.accumulator_bits == 32
    assert "wide_conv" in str(err) and str(expected_overflows()) in str(err)


def test_report_counts_and_saturates():
    graph, y, x = int16_graph()
    result = execute(graph, {"x": x}, accumulator_bits=32, on_overflow="report")
    assert result.overflows == (("wide_conv", expected_overflows()),)
    want, ref_overflows = ref.run_graph(graph, {"x": x}, accumulator_bits=32)
    assert ref_overflows == [("wide_conv", expected_overflows())]
    np.testing.assert_array_equal(result[y].astype(np.int64), want[y])
    # a saturated accumulator requantizes as INT32_MAX would: check one overflowing channel by closed form
    real = 0.001 * 1e-4 / 50.0
    assert abs(int(result[y][0, 0, 0, 0]) - round((2**31 - 1) * real)) <= 1


def test_same_graph_runs_with_64_bit_accumulation():
    graph, y, x = int16_graph()
    for bits in (None, 64):  # 16-bit operands default to a 64-bit accumulator
        result = execute(graph, {"x": x}, accumulator_bits=bits)
        assert result.overflows == ()
        want, _ = ref.run_graph(graph, {"x": x}, accumulator_bits=64)
        np.testing.assert_array_equal(result[y].astype(np.int64), want[y])
    exact = TAPS * X_VALUE * BIG_W * np.float64(0.001 * 1e-4 / 50.0)
    assert int(result[y][0, 0, 0, 0]) == min(32767, round(exact))


def test_narrow_accumulator_on_an_8_bit_network():
    """A design-space question: does a 20-bit accumulator suffice for an int8 3x3x32 conv? (closed form: no)."""
    b = GraphBuilder("narrow")
    x = b.input("x", (1, 5, 5, 32), "int8", QuantParams.per_tensor(0.05, 0))
    w = b.constant("w", np.full((4, 3, 3, 32), 127, np.int8), "int8", QuantParams.per_tensor(0.01))
    y = b.conv2d(x, w, None, QuantParams.per_tensor(40.0, 0), name="c")
    graph = b.build([y])
    xs = np.full((1, 5, 5, 32), 127, np.int8)
    result = execute(graph, {"x": xs}, accumulator_bits=20, on_overflow="report")
    assert 288 * 127 * 127 > 2**19 - 1  # every one of the 3 x 3 x 4 accumulators
    assert result.overflows == (("c", 3 * 3 * 4),)
    assert execute(graph, {"x": xs}).overflows == ()  # the default 32 bits fit


# ------------------------------------------------------------------------------------ 64-bit accumulators
INT64_MAX = (1 << 63) - 1


def int64_bias_graph(bias0: int, op: str = "conv", requant: str = "float32"):
    """int16 x int16 with an int64 bias: channel 0's bias is ``bias0``, so its partial sums can leave int64."""
    b = GraphBuilder("huge_bias")
    shapes = {"conv": ((1, 5, 5, 4), (4, 3, 3, 4), {}), "depthwise": ((1, 5, 5, 4), (8, 3, 3, 1), {"groups": 4}),
              "grouped": ((1, 5, 5, 4), (6, 3, 3, 2), {"groups": 2}), "fc": ((2, 12), (5, 12), None)}
    x_shape, w_shape, conv_args = shapes[op]
    rng = np.random.default_rng(7)
    x = b.input("x", x_shape, "int16", QuantParams.per_tensor(0.01, 0))
    w = b.constant("w", rng.integers(-30000, 30000, w_shape).astype(np.int16), "int16",
                   QuantParams.per_tensor(1e-3))
    bias_data = rng.integers(-10**6, 10**6, w_shape[0]).astype(np.int64)
    bias_data[0] = bias0
    bias = b.constant("b", bias_data, "int64", None)
    out_q = QuantParams.per_tensor(10.0, 0)
    if conv_args is None:
        y = b.fully_connected(x, w, bias, out_q, name="big", requant=requant)
    else:
        y = b.conv2d(x, w, bias, out_q, stride=2, padding="SAME", name="big", requant=requant, **conv_args)
    return b.build([y]), y, rng


def test_accumulations_beyond_int64_are_counted_named_and_reported():
    """Channel 0 holds INT64_MAX − 10^6 + 36·30000·30000 (Python ints: > 2^63 − 1; int64 numpy wraps it to a
    negative number): every one of its 9 outputs overflows the 64-bit accumulator. "raise" names the node,
    "report" saturates to INT64_MAX (requantized, the float32 mode gives f32(2^63)·S_x·S_w/S_y ≈ 9.2e12, clamped to
    32767) and the other channels keep their exact values."""
    graph, y, _ = int64_bias_graph(INT64_MAX - 10**6, "conv")
    w = graph.tensors["w"]
    w.data[0] = 30000
    bias = graph.tensors["b"].data
    xs = np.full((1, 5, 5, 4), 30000, np.int16)
    center = 36 * 30000 * 30000 + int(bias[0])          # the centre output: all 3x3x4 taps in the image
    assert center > INT64_MAX
    wrapped = np.array([bias[0]], np.int64) + np.array([36 * 30000 * 30000], np.int64)
    assert wrapped[0] < 0                               # what an unchecked int64 accumulator would hold
    with pytest.raises(AccumulatorOverflowError) as info:
        execute(graph, {"x": xs})
    assert (info.value.node, info.value.count, info.value.accumulator_bits) == ("big", 9, 64)
    assert "big" in str(info.value)
    result = execute(graph, {"x": xs}, on_overflow="report")
    assert result.overflows == (("big", 9),)
    out = result[y].astype(np.int64)
    assert np.all(out[..., 0] == 32767)
    # channels 1..3: exact sums (well inside int64) through the same float32 requantization, computed here
    real = np.float32(np.float32(0.01) * np.float32(1e-3)) / np.float32(10.0)
    pads = np.zeros((1, 7, 7, 4), np.int64)
    pads[:, 1:6, 1:6] = 30000
    for o in (1, 2, 3):
        for oh in range(3):
            for ow in range(3):
                acc = int(bias[o]) + int(np.sum(pads[0, 2 * oh:2 * oh + 3, 2 * ow:2 * ow + 3] *
                                                w.data[o].astype(np.int64)))
                want = min(max(int(np.rint(np.float32(acc) * real)), -32768), 32767)
                assert out[0, oh, ow, o] == want


@pytest.mark.parametrize("op", ["conv", "depthwise", "grouped", "fc"])
def test_a_bound_beyond_int64_still_computes_exactly_when_the_sums_fit(op):
    """A bias near INT64_MAX makes the static bound exceed int64 (the node runs on exact Python integers), but
    the actual sums fit: every output equals the independent int64 reference, no overflow is reported."""
    graph, y, rng = int64_bias_graph(INT64_MAX - (1 << 45), op)
    x_t = graph.tensors["x"]
    xs = rng.integers(-32768, 32767, x_t.shape).astype(np.int16)
    result = execute(graph, {"x": xs})
    assert result.overflows == ()
    want, ref_overflows = ref.run_graph(graph, {"x": xs})
    assert ref_overflows == []
    np.testing.assert_array_equal(result[y].astype(np.int64), want[y])
    assert len(set(result[y][..., 1:].ravel().tolist())) > 1   # the other channels are not all clamped


def test_48_bit_accumulators_saturate_before_the_16x8_requantizer():
    """A bias of 2^50 (the bound fits int64, so the normal kernels run) in TFLite's 16x8 mode: with
    accumulator_bits=48 each of channel 0's 9 sums is counted and saturated to 2^47 − 1, inside the requantizer's
    range; every output equals the independent reference run at 48 bits (saturated channel: clamped to 32767)."""
    graph, y, rng = int64_bias_graph(1 << 50, "conv", requant="fixed_point")
    xs = rng.integers(-32768, 32767, graph.tensors["x"].shape).astype(np.int16)
    result = execute(graph, {"x": xs}, accumulator_bits=48, on_overflow="report")
    assert result.overflows == (("big", 9),)
    want, ref_overflows = ref.run_graph(graph, {"x": xs}, accumulator_bits=48)
    assert ref_overflows == [("big", 9)]
    np.testing.assert_array_equal(result[y].astype(np.int64), want[y])
    assert np.all(result[y][..., 0] == 32767)


def test_16x8_sums_beyond_the_requantizer_range_are_overflows_by_default():
    """The same 2^50 bias with the default accumulator (64 bits for 16-bit operands): the fixed_point_int64
    requantizer only takes [-2^47, 2^47) (TFLite common.h), so the sums are checked at 48 bits, never wrapped
    in its int64 product: "raise" names the node, "report" equals the 48-bit reference."""
    graph, y, rng = int64_bias_graph(1 << 50, "conv", requant="fixed_point")
    xs = rng.integers(-32768, 32767, graph.tensors["x"].shape).astype(np.int16)
    with pytest.raises(AccumulatorOverflowError) as info:
        execute(graph, {"x": xs})
    assert (info.value.node, info.value.count, info.value.accumulator_bits) == ("big", 9, 48)
    result = execute(graph, {"x": xs}, accumulator_bits=64, on_overflow="report")
    assert result.overflows == (("big", 9),)
    want, _ = ref.run_graph(graph, {"x": xs}, accumulator_bits=48)
    np.testing.assert_array_equal(result[y].astype(np.int64), want[y])
