"""Quantization settings applied to a workload at load time: ``load_workload(path, quant=...)`` and
``accelsim run --quant KEY=VALUE``."""
from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.cli.main import main
from accelsim.cli.run import parse_quant_settings
from accelsim.errors import ConfigError
from accelsim.workloads import load_workload

ROOT = Path(__file__).resolve().parent.parent


def _weights(graph):
    return [graph.tensors[n.inputs[1]] for n in graph.nodes if n.kind in ("Conv2D", "FullyConnected")]


def test_per_tensor_and_bit_width_settings_reach_every_weight_tensor():
    graph = load_workload("resnet_18", quant={"per_channel": False, "weight_bits": 4})
    weights = _weights(graph)
    assert weights and all(w.dtype == "int4" and not w.quant.per_channel_quantized for w in weights)
    default = _weights(load_workload("resnet_18"))
    assert all(w.dtype == "int8" and w.quant.per_channel_quantized for w in default)


def test_a_layer_override_changes_only_that_layer():
    graph = load_workload(ROOT / "workloads" / "resnet_18.yaml", quant={"overrides": {"conv1": {"weight_bits": 16}}})
    dtypes = {n.name: graph.tensors[n.inputs[1]].dtype for n in graph.nodes if n.kind == "Conv2D"}
    assert dtypes["conv1"] == "int16"
    assert {d for name, d in dtypes.items() if name != "conv1"} == {"int8"}


def test_unknown_key_and_imported_models_are_clear_errors():
    with pytest.raises(ConfigError, match=r"quant\.per_chanel"):
        load_workload("resnet_18", quant={"per_chanel": False})
    with pytest.raises(ConfigError, match="quant: block"):
        load_workload("model.onnx", quant={"per_channel": False})


def test_cli_values_are_yaml_scalars_and_dotted_keys_nest():
    assert parse_quant_settings(["per_channel=false", "weight_bits=4", "overrides.conv1.weight_bits=8"]) == {
        "per_channel": False, "weight_bits": 4, "overrides": {"conv1": {"weight_bits": 8}}}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_quant_settings(["per_channel"])


def test_run_per_tensor_workload_on_a_per_tensor_scale_unit(capsys):
    """TPU v1's scale unit holds one multiplier per tensor: the per-channel zoo network is refused with a message
    naming the fix, and runs once its weights are quantized per tensor."""
    hw = str(ROOT / "hw_configs" / "tpu_v1.yaml")
    assert main(["run", hw, "squeezenet_1.1"]) == 2
    assert "per tensor" in capsys.readouterr().err
    assert main(["run", hw, "squeezenet_1.1", "--quant", "per_channel=false", "--timing", "closed_form"]) == 0
    assert "latency" in capsys.readouterr().out
