"""Synthetic weights: determinism, the intended distribution, and quantization that matches the settings."""
from __future__ import annotations

import numpy as np
import pytest

from accelsim.graph import ops as O
from accelsim.graph.synthetic import synthesize_weights
from accelsim.workloads import load_workload
from accelsim.workloads.yaml_format import build_graph
from accelsim.workloads.zoo import zoo_spec


@pytest.fixture(scope="module")
def mobilenet():
    return load_workload("mobilenet_v1")


@pytest.fixture(scope="module")
def mobilenet_synth(mobilenet):
    return synthesize_weights(mobilenet, seed=0)


def _constants(graph):
    return {k: t.data for k, t in graph.tensors.items() if t.data is not None}


def test_same_seed_gives_identical_bytes_and_different_seed_differs(mobilenet, mobilenet_synth):
    again = _constants(synthesize_weights(mobilenet, seed=0))
    first = _constants(mobilenet_synth)
    assert first.keys() == again.keys() and len(first) == 2 * (1 + 2 * 13 + 1)  # conv, 13 dw+pw, fc
    assert all(first[k].tobytes() == again[k].tobytes() for k in first)
    other = _constants(synthesize_weights(mobilenet, seed=1))
    assert all(first[k].tobytes() != other[k].tobytes() for k in first if first[k].size > 100)


def test_weights_do_not_depend_on_other_layers(mobilenet_synth):
    spec = zoo_spec("mobilenet_v1")
    truncated = type(spec)(spec.name, spec.description, spec.input_shape, spec.quant, spec.layers[:5])
    small = synthesize_weights(build_graph(truncated), seed=0)
    for name in ("Conv2d_0/weights", "Conv2d_2_depthwise/weights"):
        assert np.array_equal(small.tensors[name].data, mobilenet_synth.tensors[name].data)


def test_metadata_labels_synthetic_weights(mobilenet, mobilenet_synth):
    assert mobilenet.metadata["synthetic_weights"] is False
    assert mobilenet_synth.metadata["synthetic_weights"] is True


def test_depthwise_channel_ranges_spread_over_10x(mobilenet_synth):
    for name in ("Conv2d_1_depthwise", "Conv2d_6_depthwise", "Conv2d_13_depthwise"):
        w = mobilenet_synth.tensors[f"{name}/weights"]
        real = np.abs(w.data.reshape(w.shape[0], -1).astype(np.float64)) * w.quant.scale[:, None]
        ranges = real.max(axis=1)
        assert ranges.max() / ranges.min() > 10, name


def test_per_channel_symmetric_uses_the_full_narrow_range(mobilenet_synth):
    w = mobilenet_synth.tensors["Conv2d_5_pointwise/weights"]
    per_channel_max = np.abs(w.data.reshape(w.shape[0], -1)).max(axis=1)
    assert np.all(per_channel_max == 127) and w.data.min() >= -127
    assert np.all(w.quant.zero_point == 0) and w.quant.axis == 0


def test_per_tensor_quantization_wastes_levels(mobilenet):
    """With one scale for the tensor, most channels of a spread-out layer use a small part of [-127, 127]."""
    spec = zoo_spec("mobilenet_v1")
    per_tensor = type(spec)(spec.name, spec.description, spec.input_shape,
                            spec.quant.model_copy(update={"per_channel": False}), spec.layers)
    g = synthesize_weights(build_graph(per_tensor), seed=0)
    w = g.tensors["Conv2d_6_depthwise/weights"]
    assert not w.quant.per_channel_quantized
    per_channel_max = np.abs(w.data.reshape(w.shape[0], -1).astype(np.int64)).max(axis=1)
    assert per_channel_max.max() == 127
    assert np.median(per_channel_max) < 32  # the median channel uses under a quarter of the levels


def test_weights_are_laplace_within_a_channel(mobilenet):
    """Excess kurtosis of a Laplace distribution is 3 (a Gaussian's 0): check it on a large layer before the
    channel max-abs clipping matters (dequantized, standardized per channel, pooled)."""
    g = synthesize_weights(mobilenet, seed=0)
    w = g.tensors["Conv2d_13_pointwise/weights"]  # 1024 x 1024
    real = w.data.reshape(w.shape[0], -1).astype(np.float64)
    z = (real - real.mean(axis=1, keepdims=True)) / real.std(axis=1, keepdims=True)
    excess_kurtosis = float(np.mean(z ** 4) - 3.0)
    assert excess_kurtosis == pytest.approx(3.0, abs=0.4)


def test_activation_and_bias_quant_follow_the_tensors(mobilenet_synth):
    g = mobilenet_synth
    for node in g.nodes:
        if node.kind not in O.MAC_OPS:
            continue
        x, w, b = (g.tensors[i] for i in node.inputs)
        y = g.tensors[node.outputs[0]]
        # bias scale = input scale x weight scale (Jacob et al. 2018 eq. 8), zero point 0
        np.testing.assert_allclose(b.quant.scale, x.quant.scale[0] * w.quant.scale, rtol=1e-6)
        if node.op.activation in ("RELU", "RELU6"):
            assert y.quant.zero_point[0] == -128  # real range [0, r] maps 0 to qmin
            assert float(y.quant.scale[0]) * 255 <= 6.0 + 1e-5 or node.op.activation == "RELU"
    assert g.tensors["input"].quant.scale[0] == pytest.approx(2.0 / 255.0)


def test_resnet152_synthesis_covers_60m_parameters():
    g = synthesize_weights(load_workload("resnet_v1_152"), seed=0)
    weights = [g.tensors[n.inputs[1]] for n in g.nodes if n.kind in O.MAC_OPS]
    assert sum(w.data.size for w in weights) > 60_000_000
    assert all(w.data is not None and w.data.dtype == np.int8 for w in weights)


@pytest.mark.parametrize("symmetric", [True, False])
def test_nominal_weight_quant_honours_symmetric_weights(symmetric):
    """Shape-only workloads: nominal weight range ±4·sqrt(gain / fan_in) (gain 2 before a ReLU). Symmetric:
    narrow int8, S = amax / 127, Z = 0 (whitepaper eq. 10-11); asymmetric: S = 2·amax / 255,
    Z = round(−128 + amax / S) = round(−0.5) (eq. 1-3)."""
    graph = load_workload("mobilenet_v1", {"symmetric_weights": symmetric})
    assert graph.metadata["symmetric_weights"] is symmetric
    node = next(n for n in graph.nodes if n.kind == "Conv2D" and n.op.activation in ("RELU", "RELU6"))
    w = graph.tensors[node.inputs[1]]
    fan_in = w.size // w.shape[0]
    amax = 4.0 * np.sqrt(2.0 / fan_in)
    expected_scale = amax / 127 if symmetric else 2 * amax / 255
    np.testing.assert_allclose(w.quant.scale, expected_scale, rtol=1e-6)
    assert (w.quant.zero_point == (0 if symmetric else np.rint(-128 + amax / expected_scale))).all()


def test_calibrated_op_without_own_rule_gets_sampled_moments():
    """A calibrated two-input op the synthetic rules do not name (a test-registered y = a² + b²) gets the mean
    square of its float reference over independent Gaussian samples: E[y²] = E[a⁴] + 2·E[a²]·E[b²] + E[b⁴] =
    8·σ⁴ and y >= 0 (closed form of the normal distribution), within the sampling error of 8⁴ samples. (One-input
    calibrated ops take their range from the float function over every input code: ``_unary_output``.)"""
    from dataclasses import dataclass

    from accelsim.graph.builder import GraphBuilder
    from accelsim.graph.ops.common import elementwise_extents, one_per_output
    from accelsim.graph.synthetic import INPUT_MEAN_SQUARE, assign_quant_params

    @dataclass(frozen=True)
    class TestSumOfSquares:
        kind = "TestSumOfSquares"

    O.register_op(O.OpDef(
        attrs=TestSumOfSquares, arity=(2, 2), infer_shape=lambda op, shapes: shapes[0],
        float_ref=lambda op, args: args[0] * args[0] + args[1] * args[1],
        engine=O.EngineModule("accelsim.engine.elementwise"), ptq="calibrate", activation_inputs=None,
        cost=O.CostDescriptor(
            alu_ops_per_output=one_per_output, requant_per_output=one_per_output, extents=elementwise_extents,
            vector=O.registry.VectorKernel(one_per_output, one_per_output))))
    try:
        b = GraphBuilder("sq")
        b.input("a", (1, 16, 16, 8), "int8", None)
        b.input("b", (1, 16, 16, 8), "int8", None)
        b.op(TestSumOfSquares(), ["a", "b"], "int8", None, name="sq")
        tensors = assign_quant_params(b.tensors, b.nodes, b.inputs, {}, True, seed=None)
    finally:
        O.unregister_op("TestSumOfSquares")
    q = tensors[b.nodes[0].outputs[0]].quant
    rmax = float(q.scale[0]) * (127 - int(q.zero_point[0]))           # the range's upper end: 4·rms
    assert int(q.zero_point[0]) == -128                                # non-negative output: [0, rmax]
    assert rmax == pytest.approx(4 * np.sqrt(8) * INPUT_MEAN_SQUARE, rel=0.1)
