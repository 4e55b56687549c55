"""The workload YAML format: schema and shape errors with key paths, quantization settings, dispatch, export
and ``accelsim info``."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from accelsim.cli.main import main as cli_main
from accelsim.errors import ConfigError, UnsupportedError
from accelsim.graph.stats import node_macs, param_count, total_macs
from accelsim.graph.synthetic import synthesize_weights
from accelsim.workloads import load_workload
from accelsim.workloads.export_yaml import graph_to_spec, spec_to_yaml
from accelsim.workloads.yaml_format import load_workload_yaml, read_workload_spec

HEADER = """\
name: tiny
input_shape: [1, 16, 16, 3]
"""

TINY = HEADER + """\
quant:
  overrides:
    c2: {weight_bits: 4, per_channel: false}
    head: {weight_bits: 16, activation_bits: 16}
layers:
  - {name: c1, op: conv, out_channels: 8, kernel: 3, stride: 2, activation: relu}
  - {name: dw, op: depthwise, kernel: 3, activation: relu6}
  - {name: c2, op: conv, out_channels: 8, kernel: 1}
  - {name: res, op: add, inputs: [c1, c2], activation: relu}
  - {name: p, op: maxpool, kernel: 2, stride: 2, padding: valid}
  - {name: b1, op: conv, out_channels: 4, kernel: 1, inputs: [p]}
  - {name: b2, op: conv, out_channels: 6, kernel: [1, 3], inputs: [p]}
  - {name: cat, op: concat, inputs: [b1, b2]}
  - {name: gap, op: gap}
  - {name: head, op: fc, out_channels: 10}
"""


def write(tmp_path: Path, text: str, name: str = "w.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_for(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_workload(path)
    assert str(path) in str(info.value)
    return info.value


# --------------------------------------------------------------------------------------------- building
def test_tiny_workload_shapes_counts_and_dtypes(tmp_path):
    g = load_workload(write(tmp_path, TINY))
    shapes = {n.name: g.tensors[n.outputs[0]].shape for n in g.nodes}
    assert shapes["c1"] == (1, 8, 8, 8)  # SAME, stride 2: ceil(16 / 2)
    assert shapes["p"] == (1, 4, 4, 8)
    assert shapes["cat"] == (1, 4, 4, 10)
    assert shapes["head"] == (1, 10)
    # closed-form counts: conv MACs = OH·OW·O·KH·KW·I
    expected_macs = {"c1": 8 * 8 * 8 * 9 * 3, "dw": 8 * 8 * 8 * 9, "c2": 8 * 8 * 8 * 8, "b1": 16 * 4 * 8,
                     "b2": 16 * 6 * 3 * 8, "head": 10 * 10}
    assert {n.name: node_macs(g, n) for n in g.nodes if node_macs(g, n)} == expected_macs
    assert param_count(g) == sum(expected_macs[k] // (64 if k in ("c1", "dw", "c2") else 16 if k[0] == "b" else 1)
                                 for k in expected_macs) + 8 + 8 + 8 + 4 + 6 + 10
    t = g.tensors
    assert t["c1/weights"].dtype == "int8" and t["c1/weights"].quant.per_channel_quantized
    assert t["c2/weights"].dtype == "int4" and not t["c2/weights"].quant.per_channel_quantized
    assert t["head/weights"].dtype == "int16" and t["head"].dtype == "int16"
    # bias width follows the input activations (TFLite 16x8: int64 only for int16 inputs); head reads int8
    assert t["head/bias"].dtype == "int32" and t["c1/bias"].dtype == "int32"
    assert t["c1/weights"].data is None and g.metadata["synthetic_weights"] is False


def test_overrides_survive_synthesis(tmp_path):
    g = synthesize_weights(load_workload(write(tmp_path, TINY)), seed=3)
    t = g.tensors
    assert g.metadata["synthetic_weights"] is True
    assert np.abs(t["c2/weights"].data).max() == 7 and t["c2/weights"].data.min() >= -7  # narrow-range int4
    assert np.abs(t["head/weights"].data).max() == 32767
    assert t["head"].quant.zero_point[0] == 0  # int16 activations are symmetric
    assert t["head/bias"].data.dtype == np.int32


def test_bias_is_int64_exactly_when_the_input_activations_are_16_bit(tmp_path):
    """TFLite 16x8 (and PTQ): int16 input activations -> int64 bias; an int16 output alone does not widen it."""
    g = synthesize_weights(load_workload(write(tmp_path, HEADER + """\
quant:
  activation_bits: 16
  overrides:
    a: {activation_bits: 8}
    c: {activation_bits: 16}
layers:
  - {name: a, op: conv, out_channels: 4, kernel: 1}
  - {name: b, op: conv, out_channels: 4, kernel: 1}
  - {name: c, op: conv, out_channels: 4, kernel: 1}
""")), seed=0)
    t = g.tensors
    assert [t[f"{n}/bias"].dtype for n in "abc"] == ["int64", "int32", "int64"]
    assert [g.tensors[n].dtype for n in "abc"] == ["int8", "int16", "int16"]
    assert t["b/bias"].data.dtype == np.int32 and t["a/bias"].data.dtype == np.int64


def test_defaults_and_requant_mode(tmp_path):
    spec = read_workload_spec(write(tmp_path, HEADER + "quant: {requant: float32}\nlayers:\n"
                                    "  - {name: a, op: conv, out_channels: 2, kernel: 1}\n"))
    q = spec.quant
    assert (q.weight_bits, q.activation_bits, q.per_channel, q.symmetric_weights) == (8, 8, True, True)
    g = load_workload_yaml(write(tmp_path, spec_to_yaml(spec), "again.yaml"))
    assert g.nodes[0].requant == "float32"


def test_relu_layer_is_a_clamp_on_a_1x1_max_pool(tmp_path):
    g = load_workload(write(tmp_path, HEADER + "layers:\n  - {name: r, op: relu6}\n"))
    op = g.nodes[0].op
    assert (g.nodes[0].kind, op.kernel, op.stride, op.activation) == ("MaxPool", (1, 1), (1, 1), "RELU6")


# ----------------------------------------------------------------------------------------------- errors
def test_wrong_type_names_the_key_path(tmp_path):
    err = error_for(tmp_path, HEADER + "layers:\n  - {name: a, op: conv, out_channels: 2, kernel: 1}\n"
                    "  - {name: b, op: conv, out_channels: two, kernel: 1}\n")
    assert err.key_path == "layers[1].out_channels"


def test_union_attribute_errors_name_the_attribute(tmp_path):
    err = error_for(tmp_path, HEADER + "layers:\n  - {name: a, op: conv, out_channels: 2, kernel: 0}\n")
    assert err.key_path == "layers[0].kernel" and "positive integer" in err.expected
    err = error_for(tmp_path, HEADER + "layers:\n  - {name: a, op: maxpool, kernel: 2, padding: full}\n")
    assert err.key_path == "layers[0].padding" and err.found == "full"


def test_unknown_op_names_the_key_path(tmp_path):
    err = error_for(tmp_path, HEADER + "layers:\n  - {name: a, op: convolution, kernel: 1}\n")
    assert err.key_path == "layers[0].op" and "depthwise" in err.expected


def test_unknown_attribute_is_rejected(tmp_path):
    err = error_for(tmp_path, HEADER + "layers:\n  - {name: a, op: add, kernel: 3}\n")
    assert err.key_path == "layers[0].kernel"


def test_kernel_larger_than_input_is_a_shape_error(tmp_path):
    err = error_for(tmp_path, HEADER + "layers:\n  - {name: a, op: conv, out_channels: 2, kernel: 1, stride: 4}\n"
                    "  - {name: b, op: conv, out_channels: 2, kernel: 7, padding: valid}\n")
    assert err.key_path == "layers[1].kernel"
    assert "(1, 4, 4, 2)" in str(err) and "7x7" in str(err)


def test_add_of_different_shapes_is_a_shape_error(tmp_path):
    err = error_for(tmp_path, HEADER + "layers:\n  - {name: a, op: conv, out_channels: 4, kernel: 1}\n"
                    "  - {name: b, op: conv, out_channels: 5, kernel: 1}\n  - {name: s, op: add, inputs: [a, b]}\n")
    assert err.key_path == "layers[2].inputs"
    assert "(1, 16, 16, 4)" in str(err) and "(1, 16, 16, 5)" in str(err)


def test_unknown_input_name(tmp_path):
    err = error_for(tmp_path, HEADER + "layers:\n  - {name: a, op: conv, out_channels: 4, kernel: 1}\n"
                    "  - {name: s, op: add, inputs: [a, nope]}\n")
    assert err.key_path == "layers[1].inputs[1]" and err.found == "nope"


def test_later_layer_as_input_is_rejected(tmp_path):
    err = error_for(tmp_path, HEADER + "layers:\n  - {name: a, op: add, inputs: [input, b]}\n"
                    "  - {name: b, op: conv, out_channels: 3, kernel: 1}\n")
    assert err.key_path == "layers[0].inputs[1]"


def test_bad_override(tmp_path):
    err = error_for(tmp_path, HEADER + "quant: {overrides: {a: {weight_bits: 5}}}\nlayers:\n"
                    "  - {name: a, op: conv, out_channels: 2, kernel: 1}\n")
    assert err.key_path == "quant.overrides.a.weight_bits"
    err = error_for(tmp_path, HEADER + "quant: {overrides: {zz: {weight_bits: 4}}}\nlayers:\n"
                    "  - {name: a, op: conv, out_channels: 2, kernel: 1}\n")
    assert err.key_path == "quant.overrides.zz"


def test_duplicate_layer_name(tmp_path):
    err = error_for(tmp_path, HEADER + "layers:\n  - {name: a, op: gap}\n  - {name: a, op: flatten}\n")
    assert err.key_path == "layers[1].name"


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(ConfigError):
        load_workload(tmp_path / "missing.yaml")
    other = tmp_path / "model.pb"
    other.write_text("x")
    with pytest.raises(ConfigError, match="suffix"):
        load_workload(other)
    with pytest.raises(ConfigError):
        load_workload("not_a_network")


@pytest.mark.skipif(importlib.util.find_spec("ai_edge_litert") is None, reason="TFLite schema needs ai-edge-litert")
def test_tflite_suffix_dispatches_to_the_tflite_importer(tmp_path):
    from accelsim.execute import execute
    from accelsim.graph.exporters.tflite import export_tflite

    g = synthesize_weights(load_workload("squeezenet"), seed=0)
    path = tmp_path / "squeezenet.tflite"
    path.write_bytes(export_tflite(g))
    h = load_workload(path)
    assert (total_macs(h), param_count(h), len(h.nodes)) == (total_macs(g), param_count(g), len(g.nodes))
    x = np.random.default_rng(0).integers(-128, 128, g.tensors["input"].shape).astype(np.int8)
    assert np.array_equal(execute(g, {"input": x})[g.outputs[0]], execute(h, {h.inputs[0]: x})[h.outputs[0]])


# ----------------------------------------------------------------------------------------------- export
@pytest.mark.parametrize("name", ["nasnet_mobile", "inception_v3", "resnet_v2_50", "squeezenet_1.1"])
def test_graph_to_yaml_round_trip(tmp_path, name):
    g = load_workload(name)
    text = spec_to_yaml(graph_to_spec(g))
    again = load_workload(write(tmp_path, text))
    assert [(n.name, n.op, n.inputs) for n in again.nodes] == [(n.name, n.op, n.inputs) for n in g.nodes]


def test_graph_to_yaml_keeps_overrides(tmp_path):
    g = load_workload(write(tmp_path, TINY))
    spec = graph_to_spec(g)
    assert spec.quant.overrides["c2"].weight_bits == 4 and spec.quant.overrides["c2"].per_channel is False
    assert spec.quant.overrides["head"].activation_bits == 16


def test_graph_to_yaml_refuses_mixed_requant_modes(tmp_path):
    """quant.requant is one mode for the whole workload: a graph whose nodes differ cannot be written."""
    g = load_workload(write(tmp_path, TINY))
    assert graph_to_spec(g).quant.requant == "fixed_point"
    mixed = g.replace(nodes=[dataclasses.replace(n, requant="fixed_point_single_round") if n.name == "head" else n
                             for n in g.nodes])
    with pytest.raises(UnsupportedError, match="fixed_point, fixed_point_single_round"):
        graph_to_spec(mixed)


# ------------------------------------------------------------------------------------------ accelsim info
def test_info_lists_every_layer_and_total_macs(tmp_path, capsys):
    path = Path(__file__).resolve().parents[1] / "workloads" / "mobilenet_v1_1.0_224.yaml"
    graph = load_workload(path)
    assert cli_main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for node in graph.nodes:
        assert any(line.split()[:1] == [node.name] for line in lines), node.name
    assert f"{total_macs(graph):,}" in out
    assert cli_main(["info", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in data["layers"]] == [n.name for n in graph.nodes]
    assert data["totals"]["macs"] == total_macs(graph) == sum(r["macs"] for r in data["layers"])
    assert data["totals"]["weight_bytes"] == sum(graph.tensors[n.inputs[1]].size for n in graph.nodes
                                                 if n.kind in ("Conv2D", "FullyConnected"))


def test_info_weight_bytes_follow_bit_widths(tmp_path, capsys):
    assert cli_main(["info", str(write(tmp_path, TINY)), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # c2 (8x1x1x8) is int4: half a byte per weight; head (10x10) int16: two bytes
    int8_weights = 8 * 9 * 3 + 8 * 9 + 4 * 8 + 6 * 3 * 8
    assert data["totals"]["weight_bytes"] == int8_weights + 64 / 2 + 100 * 2


def test_info_error_exit_code(tmp_path, capsys):
    assert cli_main(["info", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err


def test_exported_names_that_look_like_numbers_read_back_as_names(tmp_path):
    """accelsim's loader reads a plain 1e5 as a number (YAML 1.2); the exporter quotes such names, so a workload
    whose layers are named 1e5 / 2E-3 / 7 round-trips unchanged."""
    text = HEADER + ("layers:\n  - {name: '1e5', op: conv, out_channels: 2, kernel: 1}\n"
                     "  - {name: '2E-3', op: conv, out_channels: 2, kernel: 1}\n"
                     "  - {name: '7', op: conv, out_channels: 2, kernel: 1}\n")
    spec = read_workload_spec(write(tmp_path, text))
    exported = spec_to_yaml(spec)
    again = read_workload_spec(write(tmp_path, exported, "again.yaml"))
    assert [layer.name for layer in again.layers] == ["1e5", "2E-3", "7"]
