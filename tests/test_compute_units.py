"""Compute units behind one protocol (accelsim.hw.unit) and the op -> unit preference table written as data."""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pytest

from accelsim.config.hw import load_hw
from accelsim.graph.builder import GraphBuilder
from accelsim.hw.layer import layer_shape
from accelsim.hw.unit import (
    UNIT_MODELS, UnitWork, WorkContext, compute_units, multiplier_count, peak_macs_per_cycle,
)
from accelsim.mapping.assign import UNIT_PREFERENCE, assign_unit, op_class
from accelsim.quant.params import QuantParams
from accelsim.simulate import simulate

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"
Q = QuantParams.per_tensor(0.05, 0)


def hw(name: str):
    return load_hw(CONFIGS / f"{name}.yaml")


def mixed_graph():
    """A dense conv, a depthwise conv, an Add, a MaxPool, a Concat copy and a Flatten."""
    b = GraphBuilder("mixed")
    x = b.input("x", (1, 8, 8, 16), "int8", Q)
    w = b.constant("w", None, "int8", QuantParams.per_tensor(0.01), shape=(16, 3, 3, 16))
    y = b.conv2d(x, w, None, Q, padding="SAME", name="dense")
    dw = b.constant("dw", None, "int8", QuantParams.per_tensor(0.01), shape=(16, 3, 3, 1))
    z = b.depthwise_conv2d(y, dw, None, Q, padding="SAME", name="depthwise")
    s = b.add(y, z, Q, name="add")
    p = b.max_pool(s, 2, 2, name="pool")
    c = b.concat([p, p], Q, name="concat")
    f = b.flatten(c, name="flatten")
    return b.build([f])


def test_every_preferred_unit_kind_has_a_model():
    assert set(UNIT_PREFERENCE) == {"dense_mac", "depthwise_mac", "elementwise", "pooling", "concat_copy", "layout"}
    for kinds in UNIT_PREFERENCE.values():
        assert set(kinds) <= set(UNIT_MODELS)


def both_units():
    """HVX 690 with a 32 x 32 array added: a config with a systolic array and a SIMD unit."""
    return hw("hvx_690").with_values({"compute.systolic": {"rows": 32, "cols": 32}})


@pytest.mark.parametrize("config, expected", [
    # The documented rule (docs/model.md §2): MAC layers on the array when there is one, depthwise on the SIMD
    # unit when there is one; element ops (a Concat that rescales too) on the SIMD unit, else the scale unit's
    # lanes; views on no unit.
    ("both", {"dense": "systolic", "depthwise": "simd", "add": "simd", "pool": "simd", "concat": "simd",
              "flatten": "none"}),
    ("tpu_v1", {"dense": "systolic", "depthwise": "systolic", "add": "scale_unit", "pool": "scale_unit",
                "concat": "scale_unit", "flatten": "none"}),
    ("hvx_690", {"dense": "simd", "depthwise": "simd", "add": "simd", "pool": "simd", "concat": "simd",
                 "flatten": "none"}),
])
def test_assignment_follows_the_preference_table(config, expected):
    graph = mixed_graph()
    machine = both_units() if config == "both" else hw(config)
    got = {n.name: assign_unit(layer_shape(graph, n), machine) for n in graph.nodes}
    assert got == expected
    classes = {n.name: op_class(layer_shape(graph, n)) for n in graph.nodes}
    assert classes == {"dense": "dense_mac", "depthwise": "depthwise_mac", "add": "elementwise",
                       "pool": "pooling", "concat": "elementwise", "flatten": "layout"}


def test_peak_and_multipliers_are_the_sum_over_units():
    machine = both_units()
    units = compute_units(machine)
    mode = machine.mode(8, 8)
    array = machine.compute.systolic
    assert units["systolic"].peak_macs_per_cycle(mode) == array.rows * array.cols
    assert units["simd"].peak_macs_per_cycle(mode) == 4 * 256           # 4 contexts x 256 8x8 MACs/cycle
    assert peak_macs_per_cycle(machine, 8, 8) == array.rows * array.cols + 4 * 256
    assert multiplier_count(machine) == array.rows * array.cols + 4 * 256


@dataclasses.dataclass(frozen=True)
class ToyDepthwiseEngine:
    """A test-only unit: depthwise convolutions at a fixed 64 MACs/cycle, operands streamed once."""

    kind: str = "toy"
    rate: int = 64

    def supports(self, layer, mode):
        return layer.is_depthwise

    def peak_macs_per_cycle(self, mode):
        return float(self.rate)

    def multipliers(self):
        return self.rate

    def work(self, layer, mode, context: WorkContext) -> UnitWork:
        return UnitWork(cycles=layer.macs / self.rate, reads={"weights": layer.weight_bytes,
                        "inputs": layer.input_bytes, "outputs": 0.0}, writes=layer.output_bytes,
                        peak=float(self.rate), macs_issued=layer.macs)


def test_a_unit_added_through_the_registry_runs_its_layers(monkeypatch):
    """Adding a unit kind: one model + one UNIT_MODELS entry (+ its place in the preference table)."""
    monkeypatch.setitem(UNIT_MODELS, "toy", lambda machine: ToyDepthwiseEngine())
    monkeypatch.setitem(UNIT_PREFERENCE, "depthwise_mac", ("toy", "simd", "systolic"))
    machine = hw("tpu_v1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = simulate(mixed_graph(), machine).layers.set_index("name")
    dw = rows.loc["depthwise"]
    assert dw["unit"] == "toy"
    assert dw["compute_cycles"] == dw["macs"] / 64 == 8 * 8 * 16 * 9 / 64
    assert rows.loc["dense", "unit"] == "systolic"                    # the toy supports depthwise only
    assert peak_macs_per_cycle(machine, 8, 8) == 256 * 256 + 64       # TPU v1: 256 x 256 array + the toy


# ---------------------------------------------------------------------------------------------- the compute config
def _tpu_data():
    import yaml

    return yaml.safe_load((CONFIGS / "tpu_v1.yaml").read_text())


def test_a_named_unit_with_an_explicit_kind_is_the_same_config():
    from accelsim.config.hw import validate_hw
    from accelsim.sweep.spec import hw_path_problem

    data = _tpu_data()
    array = data["compute"]["systolic"]
    keyed = validate_hw(data, "tpu.yaml")
    explicit = validate_hw({**data, "compute": {"systolic": {**array, "kind": "systolic"}, "simd": None}}, "tpu.yaml")
    named = validate_hw({**data, "compute": {"mxu": {**array, "kind": "systolic"}}}, "tpu.yaml")
    assert keyed.config_hash() == explicit.config_hash()            # the kind defaults to the key
    assert named.compute.systolic == keyed.compute.systolic and list(named.compute.units()) == ["mxu"]
    assert hw_path_problem("compute.mxu.rows", named) is None
    assert "one of kind, rows, cols, dataflow" in hw_path_problem("compute.mxu.colums", named)
    assert named.with_values({"compute.mxu.rows": 16}).compute.systolic.rows == 16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = simulate(mixed_graph(), keyed), simulate(mixed_graph(), named)
    assert a.totals == b.totals and a.layers.equals(b.layers)


@pytest.mark.parametrize("compute, key_path, expected", [
    ({"a": {"kind": "systolic", "rows": 2, "cols": 2}, "b": {"kind": "systolic", "rows": 4, "cols": 4}},
     "compute.b", "at most one unit of kind systolic"),
    ({"tpu": {"rows": 2, "cols": 2}}, "compute.tpu", "does not match any of the expected tags: 'systolic', 'simd'"),
    ({"systolic": {"rows": True, "cols": 2}}, "compute.systolic.rows", "valid integer"),
    ({"systolic": None}, "compute", "at least one of systolic, simd"),
])
def test_bad_compute_units_name_their_key_path(compute, key_path, expected):
    from accelsim.config.hw import validate_hw
    from accelsim.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        validate_hw({**_tpu_data(), "compute": compute}, "tpu.yaml")
    assert info.value.key_path == key_path and expected in info.value.expected


def test_the_report_records_how_the_simd_unit_ran_each_layer():
    """HVX runs dense convs as vrmpy scalar-broadcast dot products, depthwise with channels on the vector lanes
    (vector x vector), other ops on the vector ALU (accelsim.hw.simd kernels)."""
    from accelsim import simulate

    layers = simulate("mobilenet_v2", CONFIGS / "hvx_690.yaml").layers
    by_kind = layers.groupby("kind")["lowering"].agg(set).to_dict()
    assert by_kind["Conv2D"] == {"scalar_broadcast"} and by_kind["FullyConnected"] == {"scalar_broadcast"}
    assert by_kind["DepthwiseConv2D"] == {"vector_vector"}
    assert by_kind["Add"] == {"alu"}
