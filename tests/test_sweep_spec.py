"""Sweep specs: the shipped specs load with the closed-form point counts; every kind of bad spec is a
ConfigError naming the spec file and the key path, raised by load_spec before anything runs."""
from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from accelsim.config.hw import load_hw
from accelsim.errors import ConfigError
from accelsim.sweep import load_spec
from accelsim.sweep.points import ConstraintError, evaluate_constraint, parse_constraint, point_id

REPO = Path(__file__).resolve().parents[1]
SWEEPS = REPO / "sweeps"
GEMMINI = REPO / "hw_configs" / "gemmini_default.yaml"


def write_spec(tmp_path: Path, parameters: dict, **extra) -> Path:
    data = {"name": "t", "base": str(GEMMINI), "workloads": ["squeezenet"], "quant": {"per_channel": False},
            "parameters": parameters, **extra}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def expect_error(path: Path, key_path: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    assert info.value.file == str(path)
    assert info.value.key_path == key_path, str(info.value)
    assert str(path) in str(info.value) and key_path in str(info.value)
    return info.value


# ------------------------------------------------------------------------------------------------ shipped specs
def test_smoke_spec_counts_match_closed_form():
    spec = load_spec(SWEEPS / "smoke.yaml")
    sizes, flows = [8, 16, 32, 64], ["os", "ws", "is"]
    expected = [(r, c, f) for r, c, f in itertools.product(sizes, sizes, flows) if r * c <= 2048]
    got = [(p.parameters["compute.systolic.rows"], p.parameters["compute.systolic.cols"],
            p.parameters["compute.systolic.dataflow"]) for p in spec.points]
    assert got == expected
    assert 20 <= len(spec.points) <= 100
    assert spec.dropped_points == 4 * 4 * 3 - len(expected)
    assert len({p.point_id for p in spec.points}) == len(spec.points)


@pytest.mark.parametrize("name", ["smoke", "sram_dram", "precision", "compression", "quickstart"])
def test_shipped_specs_load(name):
    spec = load_spec(SWEEPS / f"{name}.yaml")
    assert spec.points and spec.base_path.is_file()


def test_precision_spec_keeps_supported_modes_only():
    spec = load_spec(SWEEPS / "precision.yaml")
    hvx = load_hw(REPO / "hw_configs" / "hvx_690.yaml")
    supported = {(m.weight_bits, m.activation_bits) for m in hvx.precision.modes}
    modes = {(p.parameters["quant.weight_bits"], p.parameters["quant.activation_bits"]) for p in spec.points}
    assert modes == supported
    assert len(spec.points) == len(spec.workloads) * len(supported) * 2


def test_point_id_depends_on_workload_and_values_only():
    a = point_id("squeezenet", {"x.y": 1, "z": "os"})
    assert a == point_id("squeezenet", {"z": "os", "x.y": 1})           # key order does not matter
    assert a != point_id("resnet_18", {"x.y": 1, "z": "os"})
    assert a != point_id("squeezenet", {"x.y": 2, "z": "os"})
    assert load_spec(SWEEPS / "smoke.yaml").points == load_spec(SWEEPS / "smoke.yaml").points


# ------------------------------------------------------------------------------------------------ combinations
def test_zip_list_and_random(tmp_path):
    spec = load_spec(write_spec(tmp_path, {"zip": {"compute.systolic.rows": [8, 16],
                                                   "compute.systolic.cols": [32, 64]}}))
    assert [tuple(p.parameters.values()) for p in spec.points] == [(8, 32), (16, 64)]
    spec = load_spec(write_spec(tmp_path, {"list": [{"compute.systolic.rows": 4}, {"clock_mhz": 500}]}))
    assert [p.parameters for p in spec.points] == [{"compute.systolic.rows": 4}, {"clock_mhz": 500}]
    random = {"random": {"samples": 30, "seed": 7, "space": {
        "compute.systolic.rows": {"low": 4, "high": 64, "integer": True, "log": True},
        "memories.dram.bandwidth_gb_s": {"low": 4.0, "high": 32.0},
        "compute.systolic.dataflow": {"choices": ["os", "ws"]}}}}
    first = load_spec(write_spec(tmp_path, random)).points
    assert first == load_spec(write_spec(tmp_path, random)).points     # seeded: reproducible
    for p in first:
        assert 4 <= p.parameters["compute.systolic.rows"] <= 64
        assert isinstance(p.parameters["compute.systolic.rows"], int)
        assert 4.0 <= p.parameters["memories.dram.bandwidth_gb_s"] <= 32.0
    assert {p.parameters["compute.systolic.dataflow"] for p in first} == {"os", "ws"}


def test_constraint_reads_base_config_values(tmp_path):
    # only rows is swept; cols (16) comes from the base config: rows * 16 <= 256 keeps rows <= 16
    spec = load_spec(write_spec(tmp_path, {"grid": {"compute.systolic.rows": [4, 8, 16, 32, 64]}},
                                constraints=["compute.systolic.rows * compute.systolic.cols <= 256"]))
    assert [p.parameters["compute.systolic.rows"] for p in spec.points] == [4, 8, 16]
    assert spec.dropped_points == 2


def test_constraint_evaluator_whitelist():
    tree = parse_constraint("a.b * 2 <= c and not (d == 'os') or -a.b > 3")
    values = {"a.b": 4, "c": 8, "d": "ws"}
    assert evaluate_constraint(tree, values.__getitem__) == (4 * 2 <= 8 and not ("ws" == "os") or -4 > 3)
    for bad in ["__import__('os').system('true')", "a.b()", "[x for x in y]", "a[0]", "lambda: 1", "a if b else c"]:
        with pytest.raises(ConstraintError):
            parse_constraint(bad)


# ------------------------------------------------------------------------------------------------ bad specs
def test_unknown_hardware_path(tmp_path):
    expect_error(write_spec(tmp_path, {"grid": {"compute.systolic.rowz": [8]}}), "parameters.grid.compute.systolic.rowz")
    err = expect_error(write_spec(tmp_path, {"grid": {"memories.vtcm.size_kib": [8]}}),
                       "parameters.grid.memories.vtcm.size_kib")
    assert "scratchpad" in str(err)  # names the levels that exist
    expect_error(write_spec(tmp_path, {"grid": {"clock_mhz.value": [8]}}), "parameters.grid.clock_mhz.value")


def test_unknown_quant_path_and_layer(tmp_path):
    expect_error(write_spec(tmp_path, {"grid": {"quant.weight_bitz": [8]}}), "parameters.grid.quant.weight_bitz")
    expect_error(write_spec(tmp_path, {"grid": {"quant.overrides.nolayer.weight_bits": [4]}}),
                 "parameters.grid.quant.overrides.nolayer.weight_bits")
    expect_error(write_spec(tmp_path, {"list": [{"compute.systolic.rows": 8}, {"quant.bits": 4}]}),
                 "parameters.list[1].quant.bits")


def test_empty_grid(tmp_path):
    expect_error(write_spec(tmp_path, {"grid": {}}), "parameters.grid")
    expect_error(write_spec(tmp_path, {"grid": {"compute.systolic.rows": []}}), "parameters.grid.compute.systolic.rows")
    expect_error(write_spec(tmp_path, {"zip": {"compute.systolic.rows": [8, 16], "compute.systolic.cols": [8]}}),
                 "parameters.zip")
    expect_error(write_spec(tmp_path, {}), "parameters")


def test_wrong_value_types(tmp_path):
    err = expect_error(write_spec(tmp_path, {"grid": {"compute.systolic.rows": [16, "big"]}}),
                       "parameters.grid.compute.systolic.rows")
    assert "big" in str(err)
    expect_error(write_spec(tmp_path, {"grid": {"compute.systolic.dataflow": ["ws", "diagonal"]}}),
                 "parameters.grid.compute.systolic.dataflow")
    expect_error(write_spec(tmp_path, {"grid": {"compute.systolic.rows": [0]}}), "parameters.grid.compute.systolic.rows")
    expect_error(write_spec(tmp_path, {"grid": {"quant.weight_bits": [8, 3]}}), "parameters.grid.quant.weight_bits")
    expect_error(write_spec(tmp_path, {"random": {"samples": 3, "space": {"compute.systolic.rows": {"low": 9}}}}),
                 "parameters.random.space.compute.systolic.rows")


def test_bad_constraints(tmp_path):
    grid = {"grid": {"compute.systolic.rows": [8, 16]}}
    expect_error(write_spec(tmp_path, grid, constraints=["compute.systolic.rows > 1000"]), "constraints")
    expect_error(write_spec(tmp_path, grid, constraints=["True", "open('x')"]), "constraints[1]")
    expect_error(write_spec(tmp_path, grid, constraints=["compute.systolic.rowz > 1"]), "constraints[0]")


def test_other_top_level_errors(tmp_path):
    grid = {"grid": {"compute.systolic.rows": [8]}}
    expect_error(write_spec(tmp_path, grid, objectives=["latency_ms", "speed"]), "objectives[1]")
    expect_error(write_spec(tmp_path, grid, workloads=["no_such_net"]), "workloads[0]")
    expect_error(write_spec(tmp_path, grid, base="missing.yaml"), "base")
    expect_error(write_spec(tmp_path, grid, quant={"weight_bits": 5}), "quant.weight_bits")
    expect_error(write_spec(tmp_path, grid, typo=1), "typo")


def test_cli_rejects_bad_spec_before_running(tmp_path):
    spec = write_spec(tmp_path, {"grid": {"compute.systolic.rowz": [8, 16]}})
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "accelsim.cli.main", "sweep", str(spec), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "parameters.grid.compute.systolic.rowz" in proc.stderr and str(spec) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
