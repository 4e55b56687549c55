"""The engine's fast paths equal the independent int64 reference (tests/int64_reference.py), including the
boundaries of their exactness conditions.

Exact float GEMM (accelsim.kernels.gemm): a dense conv / FC runs as im2col + float32 sgemm when
``max|q_x − Z_x| · max_o Σ|q_w − Z_w|`` ≤ 2^24, float64 up to 2^53. The boundary cases put the dot product itself
at (or one past) 2^24 and read it back through an identity requantization, so a single rounded accumulator
would change an output.
"""
from __future__ import annotations

import numpy as np
import pytest

import int64_reference as ref
from accelsim.errors import AccelsimError
from accelsim.engine.mac import FLOAT32_EXACT_MAX, FLOAT64_EXACT_MAX, GEMM_BLOCK_ELEMENTS, gemm_float_type
from accelsim.engine.runner import _plans, execute
from accelsim.engine.threads import chunk_ranges as _chunks
from accelsim.engine.threads import engine_threads
from accelsim.engine.threads import in_parallel as _in_parallel
from accelsim.graph.builder import GraphBuilder
from accelsim.quant.params import DTYPES, QuantParams

MODES = ["fixed_point", "fixed_point_single_round", "fixed_point_int64", "float32", "float32_recip"]
IDENTITY = QuantParams.per_tensor(1.0, 0)  # S_x·S_w/S_y = 1: the output is the accumulator itself (clamped)


def ints(rng, shape, dtype):
    info = DTYPES[dtype]
    return rng.integers(info.qmin, info.qmax + 1, shape).astype(info.storage)


def assert_matches_reference(graph, inputs, accumulator_bits=None, threads=None):
    result = execute(graph, inputs, accumulator_bits=accumulator_bits, on_overflow="report", threads=threads)
    want, overflows = ref.run_graph(graph, inputs, accumulator_bits)
    assert list(result.overflows) == overflows
    for node in graph.nodes:
        name = node.outputs[0]
        np.testing.assert_array_equal(result[name].astype(np.int64), want[name], err_msg=node.name)
    return result


def kernel_of(graph, node_index=0):
    plan = _plans(graph)[graph.nodes[node_index].name]
    return plan.kernel, plan.weights.dtype


@pytest.mark.parametrize("bound, expected", [
    (FLOAT32_EXACT_MAX - 1, np.float32), (FLOAT32_EXACT_MAX, np.float32), (FLOAT32_EXACT_MAX + 1, np.float64),
    (FLOAT64_EXACT_MAX, np.float64), (FLOAT64_EXACT_MAX + 1, None),
])
def test_gemm_float_type_boundaries(bound, expected):
    assert gemm_float_type(bound) is expected


def test_exactness_limits_are_the_float_significands():
    """2^24 (2^53) is the largest magnitude below which every integer is a float32 (float64): the next integer
    rounds."""
    assert int(np.float32(FLOAT32_EXACT_MAX)) == FLOAT32_EXACT_MAX
    assert int(np.float32(FLOAT32_EXACT_MAX) + np.float32(1)) != FLOAT32_EXACT_MAX + 1
    assert int(np.float64(FLOAT64_EXACT_MAX) + np.float64(1)) != FLOAT64_EXACT_MAX + 1


def boundary_fc(extra_weight: int):
    """FC, int8 x int8 with zero points 0, K = 1026 inputs; weights −128 (×1023), −127, −1 and
    ``extra_weight`` (0 or −1). Bound = 128 · Σ|w| = 2^24 (extra 0) or 2^24 + 128 (extra −1).

    Bias −2^24 and an identity requantization make output = dot − 2^24 (clamped to int8)."""
    b = GraphBuilder("boundary")
    k = 1026
    x = b.input("x", (6, k), "int8", IDENTITY)
    w = np.full((1, k), -128, np.int8)
    w[0, 1023], w[0, 1024], w[0, 1025] = -127, -1, extra_weight
    wt = b.constant("w", w, "int8", IDENTITY)
    bias = b.constant("b", np.array([-(1 << 24)], np.int32), "int32", None)
    y = b.fully_connected(x, wt, bias, IDENTITY)
    graph = b.build([y])
    bound = 128 * int(np.abs(w.astype(np.int64)).sum())
    return graph, bound


def boundary_inputs(last: int) -> np.ndarray:
    """Rows whose dot products are 2^24 − {0, 1, 127, 128, 255} (all x = −128, then a few raised by one) and a
    row with ``last`` in the extra input."""
    x = np.full((6, 1026), -128, np.int8)
    x[:, 1025] = 0
    x[1, 1024] = -127            # − 1
    x[2, 1023] = -127            # − 127
    x[3, 0] = -127               # − 128
    x[4, 1023], x[4, 0] = -127, -127  # − 255
    x[5, 1025] = last
    return x


def test_float32_gemm_at_its_bound_is_exact():
    graph, bound = boundary_fc(extra_weight=0)
    assert bound == FLOAT32_EXACT_MAX
    assert kernel_of(graph) == ("gemm", np.float32)
    result = assert_matches_reference(graph, {"x": boundary_inputs(last=0)})
    np.testing.assert_array_equal(result[graph.outputs[0]][:, 0], [0, -1, -127, -128, -128, 0])


def test_just_above_the_float32_bound_runs_in_float64_and_is_exact():
    graph, bound = boundary_fc(extra_weight=-1)
    assert bound == FLOAT32_EXACT_MAX + 128
    assert kernel_of(graph) == ("gemm", np.float64)
    x = boundary_inputs(last=-1)            # row 5: dot = 2^24 + 1, not a float32
    result = assert_matches_reference(graph, {"x": x})
    np.testing.assert_array_equal(result[graph.outputs[0]][:, 0], [0, -1, -127, -128, -128, 1])
    # the same product in float32 rounds: this row is the case the bound exists for
    w = graph.tensors[graph.nodes[0].inputs[1]].data
    dot32 = x[5].astype(np.float32) @ w[0].astype(np.float32)
    assert int(dot32) != FLOAT32_EXACT_MAX + 1


def conv_graph(rng, x_shape, out_channels, kernel, stride, dilation, padding, x_dtype="int8", w_dtype="int8",
               mode="fixed_point", activation="NONE"):
    b = GraphBuilder("gemm_conv")
    info = DTYPES[x_dtype]
    zero_x = 0 if x_dtype == "int16" else int(rng.integers(info.qmin, info.qmax + 1))
    x = b.input("x", x_shape, x_dtype, QuantParams.per_tensor(0.05, zero_x))
    w_info = DTYPES[w_dtype]
    zw = [0 if w_dtype == "int16" else int(rng.integers(w_info.qmin, w_info.qmax + 1)) for _ in range(out_channels)]
    w = b.constant("w", ints(rng, (out_channels, *kernel, x_shape[3]), w_dtype), w_dtype,
                   QuantParams.per_channel(rng.uniform(0.002, 0.02, out_channels), zw, axis=0))
    bias_type = "int64" if x_dtype == "int16" else "int32"
    bias = b.constant("b", rng.integers(-20000, 20000, out_channels).astype(bias_type), bias_type, None)
    fan_in = kernel[0] * kernel[1] * x_shape[3]
    spread = (info.qmax - info.qmin) * (w_info.qmax - w_info.qmin) / 12
    out_scale = 0.05 * 0.01 * spread * np.sqrt(fan_in) / (info.qmax - info.qmin) * 2
    y = b.conv2d(x, w, bias, QuantParams.per_tensor(float(out_scale), 3 if x_dtype != "int16" else 0),
                 stride=stride, dilation=dilation, padding=padding, activation=activation, requant=mode)
    return b.build([y]), x_dtype


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", [
    dict(x_shape=(2, 9, 11, 3), out_channels=16, kernel=(3, 3), stride=(2, 2), dilation=(1, 1), padding="SAME"),
    dict(x_shape=(1, 10, 7, 5), out_channels=7, kernel=(3, 2), stride=(1, 2), dilation=(2, 1),
         padding=(1, 0, 2, 1)),
    dict(x_shape=(1, 6, 6, 40), out_channels=9, kernel=(1, 1), stride=(2, 2), dilation=(1, 1), padding="VALID"),
])
def test_im2col_gemm_geometry_and_modes(mode, case):
    rng = np.random.default_rng(7)
    graph, x_dtype = conv_graph(rng, mode=mode, activation="RELU6", **case)
    assert kernel_of(graph) == ("gemm", np.float32)
    assert_matches_reference(graph, {"x": ints(rng, case["x_shape"], x_dtype)})


def test_several_gemm_blocks_with_a_partial_last_block():
    rng = np.random.default_rng(3)
    x_shape, channels = (2, 40, 61, 32), 24
    pixels = x_shape[0] * x_shape[1] * x_shape[2]
    block = GEMM_BLOCK_ELEMENTS // max(x_shape[3], channels)  # pixels per block (accelsim.engine.mac._run_gemm)
    assert pixels > 2 * block and pixels % block
    graph, x_dtype = conv_graph(rng, x_shape, channels, (1, 1), (1, 1), (1, 1), "VALID")
    assert kernel_of(graph) == ("gemm", np.float32)
    assert_matches_reference(graph, {"x": ints(rng, x_shape, x_dtype)})


def test_int16_activations_run_in_float64():
    rng = np.random.default_rng(5)
    graph, x_dtype = conv_graph(rng, (1, 7, 6, 12), 10, (3, 3), (1, 1), (1, 1), "SAME", x_dtype="int16")
    assert kernel_of(graph) == ("gemm", np.float64)
    assert_matches_reference(graph, {"x": ints(rng, (1, 7, 6, 12), x_dtype)})


@pytest.mark.parametrize("bits", [14, 18])
def test_gemm_overflow_counts_and_saturation(bits):
    """Narrow accumulators: the final sums (GEMM + bias) are counted and saturated exactly as the reference does."""
    rng = np.random.default_rng(11)
    graph, x_dtype = conv_graph(rng, (1, 8, 8, 16), 12, (3, 3), (1, 1), (1, 1), "SAME", mode="float32")
    result = assert_matches_reference(graph, {"x": ints(rng, (1, 8, 8, 16), x_dtype)}, accumulator_bits=bits)
    assert result.overflows and result.overflows[0][1] > 0


def test_branch_free_fixed_point_equals_the_scalar_definition():
    """``output_rows.mbqm_lanes`` (vectorised fixed_point) equals ``requant.mbqm`` on every accumulator the stage
    feeds it (int32 after saturation) for multipliers from QuantizeMultiplier and shifts −31..+8, including the
    extremes and exact rounding ties; and the int64 reference's transcription."""
    from accelsim.kernels.output_rows import mbqm_lanes
    from accelsim.quant.requant import INT32_MAX, INT32_MIN, mbqm, quantize_multiplier

    rng = np.random.default_rng(13)
    xs = [INT32_MIN, INT32_MIN + 1, -(1 << 24) - 1, -3, -2, -1, 0, 1, 2, 3, 1 << 24, INT32_MAX - 1, INT32_MAX]
    xs += [int(v) for v in rng.integers(INT32_MIN, INT32_MAX, 40)]
    reals = [2.0**-40, 1e-9, 2.0**-31, 0.5, 0.75, 1.0 - 2.0**-40, 1.0, 1.5, 7.9, 200.0]
    reals += [float(v) for v in 10.0 ** rng.uniform(-9, 2, 30)]
    for real in reals:
        m, shift = quantize_multiplier(real)
        assert 0 <= m < 1 << 31
        for x in xs:
            if shift > 0 and abs(x) << shift > INT32_MAX:
                x >>= shift  # keep x·2^left within int32, as TFLite requires
            want = int(mbqm.py_func(np.int64(x), np.int64(m), np.int64(shift)))
            assert int(mbqm_lanes(np.int64(x), np.int64(m), np.int64(shift))) == want, (x, real)
            assert int(ref.mbqm(x, m, shift)) == want


# ------------------------------------------------------------------------------------------------ threads
def conv_depthwise_graph(rng, x_shape, mid_channels, multiplier, mode):
    """3x3 stride-2 conv (im2col GEMM) → depthwise 3x3 with a channel multiplier → 1x1 conv (plain GEMM)."""
    b = GraphBuilder("threads")
    q = lambda scale, zero: QuantParams.per_tensor(scale, zero)  # noqa: E731
    x = b.input("x", x_shape, "int8", q(0.05, -3))
    w1 = b.constant("w1", ints(rng, (mid_channels, 3, 3, x_shape[3]), "int8"), "int8", q(0.01, 0))
    y = b.conv2d(x, w1, None, q(0.4, 2), stride=2, padding="SAME", activation="RELU6", requant=mode)
    wd = b.constant("wd", ints(rng, (mid_channels * multiplier, 3, 3, 1), "int8"), "int8", q(0.02, 1))
    bd = b.constant("bd", rng.integers(-3000, 3000, mid_channels * multiplier).astype(np.int32), "int32", None)
    y = b.depthwise_conv2d(y, wd, bd, q(0.6, -1), padding="SAME", requant=mode)
    w2 = b.constant("w2", ints(rng, (24, 1, 1, mid_channels * multiplier), "int8"), "int8", q(0.01, 0))
    y = b.conv2d(y, w2, None, q(2.0, 0), requant=mode)
    return b.build([y])


@pytest.mark.parametrize("mode", ["fixed_point", "float32"])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_split_over_threads_equals_the_reference(monkeypatch, mode, threads):
    """Every layer split over 1–3 worker threads (threshold lowered so even small layers split; the 1x1 conv
    has several L2 blocks per thread) gives the reference's outputs."""
    import importlib

    monkeypatch.setattr(importlib.import_module("accelsim.engine.mac"), "PARALLEL_MIN_MACS", 0)
    rng = np.random.default_rng(17)
    x_shape = (2, 75, 61, 5)
    graph = conv_depthwise_graph(rng, x_shape, 48, 2, mode)
    pixels = 2 * 38 * 31
    assert pixels > 3 * (GEMM_BLOCK_ELEMENTS // 96)  # the 1x1 conv: more L2 blocks than threads
    assert [kernel_of(graph, i)[0] for i in range(3)] == ["gemm", "depthwise", "gemm"]
    assert_matches_reference(graph, {"x": ints(rng, x_shape, "int8")}, threads=threads)


def test_overflow_counts_add_up_over_threads(monkeypatch):
    """Narrow accumulators: the per-thread overflow counts sum to the reference's count."""
    import importlib

    monkeypatch.setattr(importlib.import_module("accelsim.engine.mac"), "PARALLEL_MIN_MACS", 0)
    rng = np.random.default_rng(19)
    graph = conv_depthwise_graph(rng, (1, 30, 30, 8), 16, 1, "fixed_point")
    result = assert_matches_reference(graph, {"x": ints(rng, (1, 30, 30, 8), "int8")}, accumulator_bits=12,
                                      threads=2)
    assert len(result.overflows) == 3 and all(count > 0 for _, count in result.overflows)


def test_chunks_cover_every_index_once():
    for count, chunk in [(1, 2), (7, 2), (10, 3), (3, 8), (100, 1)]:
        ranges = _chunks(count, chunk)
        assert len(ranges) == -(-count // chunk)
        assert [i for a, b in ranges for i in range(a, b)] == list(range(count))


def test_thread_count_knob(monkeypatch):
    import os

    monkeypatch.delenv("ACCELSIM_THREADS", raising=False)
    assert engine_threads() == len(os.sched_getaffinity(0))
    assert engine_threads(3) == 3
    monkeypatch.setenv("ACCELSIM_THREADS", "1")
    assert engine_threads() == 1
    assert engine_threads(2) == 2
    with pytest.raises(AccelsimError, match="threads"):
        engine_threads(0)


def test_helper_thread_errors_reach_the_caller_and_helpers_stay_usable():
    import threading
    import time

    caller = threading.current_thread()

    def fail_off_the_calling_thread(ranges):
        for _ in ranges:
            if threading.current_thread() is not caller:
                raise ValueError("helper failed")
            time.sleep(0.005)  # leave chunks for the helper
        return 0

    with pytest.raises(ValueError, match="helper failed"):
        _in_parallel(fail_off_the_calling_thread, _chunks(20, 1), 2)
    assert _in_parallel(lambda ranges: sum(end - start for start, end in ranges), _chunks(1000, 7), 2) == 1000
