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
