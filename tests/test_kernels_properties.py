"""Property tests: over random shapes, strides, paddings, dilations, groups, dtypes, quantization parameters,
requantization modes and accumulator widths, the numba kernels equal the int64 reference on every integer."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import int64_reference as ref
from accelsim.execute import execute
from accelsim.graph.builder import GraphBuilder
from accelsim.graph.shapes import resolve_padding, window_output_size
from accelsim.quant.params import DTYPES, QuantParams

MODES = ["fixed_point", "fixed_point_single_round", "fixed_point_int64", "float32", "float32_recip"]
ACT_DTYPES = ["int2", "int4", "int8", "uint8", "int16"]
WEIGHT_DTYPES = ["int2", "uint2", "int4", "uint4", "int8", "uint8", "int16"]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ints(rng, shape, dtype):
    info = DTYPES[dtype]
    return rng.integers(info.qmin, info.qmax + 1, shape).astype(info.storage)


def zero_point(rng, dtype):
    info = DTYPES[dtype]
    return int(rng.integers(info.qmin, info.qmax + 1))


def assert_matches_reference(graph, rng, accumulator_bits=None):
    inputs = {n: ints(rng, graph.tensors[n].shape, graph.tensors[n].dtype) for n in graph.inputs}
    result = execute(graph, inputs, accumulator_bits=accumulator_bits, on_overflow="report")
    want, overflows = ref.run_graph(graph, inputs, accumulator_bits)
    assert list(result.overflows) == overflows
    for node in graph.nodes:
        name = node.outputs[0]
        np.testing.assert_array_equal(result[name].astype(np.int64), want[name], err_msg=node.name)


padding_st = st.one_of(st.sampled_from(["SAME", "VALID"]), st.tuples(*[st.integers(0, 2)] * 4))


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(1, 12), w=st.integers(1, 12), batch=st.integers(1, 2),
       kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)), padding=padding_st,
       groups=st.integers(1, 4), ci_g=st.integers(1, 4), co_g=st.integers(1, 5),
       x_dtype=st.sampled_from(ACT_DTYPES), w_dtype=st.sampled_from(WEIGHT_DTYPES),
       out_dtype=st.sampled_from(ACT_DTYPES), mode=st.sampled_from(MODES),
       activation=st.sampled_from(["NONE", "RELU", "RELU6"]), per_channel=st.booleans(), with_bias=st.booleans(),
       accumulator_bits=st.sampled_from([None, None, 16, 24, 32]), scale_factor=st.floats(0.05, 20))
def test_conv_equals_reference(seed, h, w, batch, kernel, stride, dilation, padding, groups, ci_g, co_g, x_dtype,
                               w_dtype, out_dtype, mode, activation, per_channel, with_bias, accumulator_bits,
                               scale_factor):
    pads = resolve_padding(padding, (h, w), kernel, stride, dilation)
    assume(window_output_size(h, kernel[0], stride[0], dilation[0], pads[0], pads[1]) > 0)
    assume(window_output_size(w, kernel[1], stride[1], dilation[1], pads[2], pads[3]) > 0)
    rng = np.random.default_rng(seed)
    c, o = groups * ci_g, groups * co_g
    b = GraphBuilder("prop")
    sx = float(rng.uniform(0.005, 0.1))
    x = b.input("x", (batch, h, w, c), x_dtype, QuantParams.per_tensor(sx, zero_point(rng, x_dtype)))
    sw = rng.uniform(0.001, 0.05, o if per_channel else 1)
    zw = [zero_point(rng, w_dtype) for _ in range(len(sw))] if rng.random() < 0.5 else [0] * len(sw)
    if per_channel:
        wq = QuantParams.per_channel(sw, zw, axis=0)
    else:
        wq = QuantParams.per_tensor(float(sw[0]), zw[0])
    wt = b.constant("w", ints(rng, (o, *kernel, ci_g), w_dtype), w_dtype, wq)
    bias = None
    if with_bias:
        bias_dtype = "int64" if max(DTYPES[x_dtype].bits, DTYPES[w_dtype].bits) >= 16 else "int32"
        bias = b.constant("b", rng.integers(-30000, 30000, o).astype(DTYPES[bias_dtype].storage), bias_dtype, None)
    fan_in = kernel[0] * kernel[1] * ci_g
    typical = (DTYPES[x_dtype].qmax - DTYPES[x_dtype].qmin) * (DTYPES[w_dtype].qmax - DTYPES[w_dtype].qmin) / 12
    sy = scale_factor * math.sqrt(fan_in) * typical * sx * float(np.mean(sw)) / (DTYPES[out_dtype].qmax + 1)
    y = b.conv2d(x, wt, bias, QuantParams.per_tensor(sy, zero_point(rng, out_dtype)), stride=stride,
                 dilation=dilation, padding=padding, groups=groups, activation=activation, out_dtype=out_dtype,
                 requant=mode)
    assert_matches_reference(b.build([y]), rng, accumulator_bits)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), shape=st.tuples(st.integers(1, 2), st.integers(1, 9), st.integers(1, 9),
                                                       st.integers(1, 6)),
       dtype=st.sampled_from(ACT_DTYPES), mode=st.sampled_from(MODES),
       kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)), stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.sampled_from(["SAME", "VALID"]), rescale=st.booleans(),
       activation=st.sampled_from(["NONE", "RELU", "RELU6"]))
def test_add_pool_concat_equal_reference(seed, shape, dtype, mode, kernel, stride, padding, rescale, activation):
    rng = np.random.default_rng(seed)
    pads = resolve_padding(padding, shape[1:3], kernel, stride)
    assume(window_output_size(shape[1], kernel[0], stride[0], 1, pads[0], pads[1]) > 0)
    assume(window_output_size(shape[2], kernel[1], stride[1], 1, pads[2], pads[3]) > 0)
    # TFLite's ADD shifts inputs left by 20 (15 for int16): keep |q − Z| within int32 after the shift
    zero = 0 if dtype == "int16" else None

    def quant():
        return QuantParams.per_tensor(float(rng.uniform(0.01, 0.2)),
                                      zero if zero is not None else zero_point(rng, dtype))

    b = GraphBuilder("prop")
    qa, qb = quant(), quant()
    a = b.input("a", shape, dtype, qa)
    c = b.input("c", shape, dtype, qb)
    s = b.add(a, c, quant(), activation=activation, requant=mode)
    pooled = b.avg_pool(s, kernel, stride, padding, out_quant=quant() if rescale else None)
    b.max_pool(s, kernel, stride, padding)
    b.global_average_pool(a, quant() if rescale else None)
    joined = b.concat([a, c, s], qa if rescale else quant(), axis=int(rng.integers(0, 4)), requant=mode)
    graph = b.build([pooled, joined])
    graph = graph.replace(nodes=[replace(n, requant=mode) for n in graph.nodes])
    assert_matches_reference(graph, rng)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), pixels=st.tuples(st.integers(1, 2), st.integers(1, 7), st.integers(1, 7)),
       channels_in=st.integers(32, 96), channels_out=st.integers(1, 40), stride=st.integers(1, 2),
       fully_connected=st.booleans(), x_dtype=st.sampled_from(["int8", "uint8"]),
       w_dtype=st.sampled_from(["int4", "uint4", "int8", "uint8"]), mode=st.sampled_from(MODES),
       accumulator_bits=st.sampled_from([None, None, 16, 20]))
def test_pointwise_and_gemm_equal_reference(seed, pixels, channels_in, channels_out, stride, fully_connected,
                                            x_dtype, w_dtype, mode, accumulator_bits):
    """1x1 convs and FC on the exact float GEMM path (stride 1 reads the pixel rows as they are, stride 2 through
    im2col), with per-channel weight zero points and narrow accumulators."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("pointwise")
    sx = float(rng.uniform(0.005, 0.1))
    shape = (pixels[0], channels_in) if fully_connected else (*pixels, channels_in)
    x = b.input("x", shape, x_dtype, QuantParams.per_tensor(sx, zero_point(rng, x_dtype)))
    sw = rng.uniform(0.001, 0.05, channels_out)
    zw = [zero_point(rng, w_dtype) for _ in range(channels_out)]
    w_shape = (channels_out, channels_in) if fully_connected else (channels_out, 1, 1, channels_in)
    wt = b.constant("w", ints(rng, w_shape, w_dtype), w_dtype, QuantParams.per_channel(sw, zw, axis=0))
    bias = b.constant("b", rng.integers(-30000, 30000, channels_out).astype(np.int32), "int32", None)
    typical = (DTYPES[x_dtype].qmax - DTYPES[x_dtype].qmin) * (DTYPES[w_dtype].qmax - DTYPES[w_dtype].qmin) / 12
    sy = math.sqrt(channels_in) * typical * sx * float(np.mean(sw)) / 128
    yq = QuantParams.per_tensor(sy, zero_point(rng, x_dtype))
    if fully_connected:
        y = b.fully_connected(x, wt, bias, yq, requant=mode)
    else:
        y = b.conv2d(x, wt, bias, yq, stride=stride, requant=mode)
    assert_matches_reference(b.build([y]), rng, accumulator_bits)
