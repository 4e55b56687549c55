"""Bad-input corpus: every malformed hardware config, workload, sweep spec and SCALE-Sim file is a ConfigError
naming the file and the key path, through the Python API and through the CLI (exit code 2, no traceback);
alias bombs and deep nesting fail fast with bounded memory."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from accelsim.cli.main import main as cli_main
from accelsim.config.hw import load_hw
from accelsim.config.loading import MAX_FILE_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES, parse_yaml, read_yaml
from accelsim.config.scalesim import load_scalesim_config
from accelsim.errors import MISSING, MAX_LISTED_ERRORS, ConfigError, bounded_repr
from accelsim.sweep import load_spec
from accelsim.workloads import load_workload
from accelsim.workloads.scalesim_topology import load_scalesim_topology

REPO = Path(__file__).resolve().parents[1]

HW = """\
name: small_ws
clock_mhz: 1000
technology: {energy_table: horowitz45}
compute:
  systolic: {rows: 32, cols: 32, dataflow: ws}
precision:
  accumulator_bits: 32
  modes:
    - {weight_bits: 8, activation_bits: 8, throughput: 1.0}
scale_unit:
  lanes: 32
  per_channel: true
memories:
  ifmap_sram: {kind: sram, size_kib: 64, bytes_per_cycle: 32, operands: [inputs]}
  filter_sram: {kind: sram, size_kib: 64, bytes_per_cycle: 32, operands: [weights]}
  ofmap_sram: {kind: sram, size_kib: 64, bytes_per_cycle: 128, operands: [outputs]}
  dram: {kind: dram, bandwidth_gb_s: 10, dram_type: lpddr4}
"""
WORKLOAD = """\
name: tiny
input_shape: [1, 8, 8, 3]
layers:
  - {name: conv1, op: conv, out_channels: 4, kernel: 3}
  - {name: fc, op: fc, out_channels: 2}
"""
SWEEP = """\
name: s
base: hw_ok.yaml
workloads: [wl_ok.yaml]
parameters:
  grid:
    compute.systolic.rows: [16, 32]
"""
TOPOLOGY = """\
Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv1, 16, 16, 3, 3, 8, 16, 1,
"""
CFG = (REPO / "tests" / "data" / "scalesim" / "scale_bundled_32x32_ws.cfg").read_text()

#: One scalar of each YAML kind, replaced by the bad values below (the key path the error must name).
SCALAR = {"hw": ("clock_mhz: 1000", "clock_mhz"), "workload": ("name: tiny", "name"), "sweep": ("name: s", "name")}
BASE = {"hw": HW, "workload": WORKLOAD, "sweep": SWEEP, "csv": TOPOLOGY, "cfg": CFG}
FILE_NAME = {"hw": "hw.yaml", "workload": "wl.yaml", "sweep": "spec.yaml", "csv": "topo.csv", "cfg": "arch.cfg"}
API: dict[str, Callable[[Path], object]] = {
    "hw": load_hw, "workload": load_workload, "sweep": load_spec, "csv": load_scalesim_topology,
    "cfg": load_scalesim_config,
}


def alias_levels(levels: int) -> str:
    """A flow list of ``levels`` anchors, each holding nine aliases of the previous one: 9**levels leaves."""
    items = ["&a0 [" + ", ".join(["lol"] * 9) + "]"]
    items += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "[" + ", ".join(items) + "]"


BILLION_LAUGHS = alias_levels(9)  # 9**9 = 387 million leaves, about 20 lines of YAML


def nested_block(depth: int) -> str:
    """``depth`` block mappings nested in one another (k: / k: / ...)."""
    return "".join("  " * i + "k:\n" for i in range(depth)) + "  " * depth + "k: 1\n"


@dataclass(frozen=True)
class Case:
    """A bad file of one kind: its bytes, the key path its error names (exact, or a prefix) and a phrase."""

    kind: str
    data: bytes | None  # None: a sparse file over MAX_FILE_BYTES
    key: str
    phrase: str
    key_is_prefix: bool = False


def _replace(kind: str, old: str, new: str) -> bytes:
    text = BASE[kind]
    assert old in text
    return text.replace(old, new, 1).encode()


def _scalar(kind: str, value: str) -> bytes:
    old, key = SCALAR[kind]
    return _replace(kind, old, f"{key}: {value}")


def corpus() -> list[pytest.param]:
    cases: list[tuple[str, Case]] = []
    for kind in ("hw", "workload", "sweep", "csv", "cfg"):
        cases += [
            (f"{kind}-binary", Case(kind, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "", "binary data")),
            (f"{kind}-utf16", Case(kind, BASE[kind].encode("utf-16"), "", "UTF-16 text (byte-order mark)")),
            (f"{kind}-latin1", Case(kind, BASE[kind].replace("s", "\xe9", 1).encode("latin-1"), "", "not UTF-8")),
            (f"{kind}-huge", Case(kind, None, "", "at most 16 MiB")),
        ]
    for kind in ("hw", "workload", "sweep"):
        key = SCALAR[kind][1]
        cases += [
            # 1. alias bombs where a scalar is expected: refused while composing, before anything expands
            (f"{kind}-billion-laughs", Case(kind, _scalar(kind, BILLION_LAUGHS), key, "nodes", True)),
            # an alias expansion under the node limit: the error quotes a bounded part of it
            (f"{kind}-alias-under-limit", Case(kind, _scalar(kind, alias_levels(5)), key, "more)")),
            # 2. nesting: 20,000 flow lists (refused while scanning) and block mappings deeper than the limit
            (f"{kind}-deep-flow", Case(kind, _scalar(kind, "[" * 20_000 + "]" * 20_000), "", "levels of nesting")),
            (f"{kind}-deep-block", Case(kind, (BASE[kind] + nested_block(MAX_YAML_DEPTH + 5)).encode(),
                                        "k.k.k", "levels of nesting", True)),
            (f"{kind}-deep-block-sequence", Case(kind, _scalar(kind, "\n" + "- " * 20_000 + "x"), key,
                                                 "levels of nesting", True)),
            (f"{kind}-deep-complex-keys", Case(kind, _scalar(kind, "\n  " + "? " * 3_000 + "x"), key,
                                               "levels of nesting", True)),
            (f"{kind}-recursive-alias", Case(kind, _scalar(kind, "&r [1, *r]"), f"{key}[1]", "recursive")),
            # 3. duplicate keys, block style
            (f"{kind}-duplicate-block", Case(kind, (BASE[kind] + f"{key}: again\n").encode(), key,
                                             "twice, on lines")),
            # 4. YAML tags
            (f"{kind}-python-tag", Case(kind, _scalar(kind, '!!python/object/apply:os.system ["echo pwned"]'),
                                        key, "tag !!python/object/apply:os.system at line")),
            (f"{kind}-local-tag", Case(kind, _scalar(kind, "!custom 3"), key, "tag !custom at line")),
            (f"{kind}-binary-tag", Case(kind, _scalar(kind, "!!binary aGVsbG8="), key, "tag !!binary at line")),
        ]
    cases += [
        # 3. duplicate keys in flow mappings
        ("hw-duplicate-flow", Case("hw", _replace("hw", "{rows: 32, cols: 32,", "{rows: 32, cols: 32, rows: 16,"),
                                   "compute.systolic.rows", "twice, on lines 5 and 5")),
        ("workload-duplicate-flow", Case("workload", _replace("workload", "kernel: 3}", "kernel: 3, kernel: 5}"),
                                         "layers[0].kernel", "twice")),
        ("sweep-duplicate-flow", Case("sweep", _replace("sweep", "  grid:\n    compute.systolic.rows: [16, 32]",
                                                        "  grid: {compute.systolic.rows: [16], "
                                                        "compute.systolic.rows: [32]}"),
                                      "parameters.grid.compute.systolic.rows", "twice")),
        # 3. values accepted silently before: bools for ints, non-finite and absurd numbers, strings for numbers
        ("hw-bool-rows", Case("hw", _replace("hw", "rows: 32", "rows: true"), "compute.systolic.rows",
                              "valid integer")),
        ("hw-float-rows", Case("hw", _replace("hw", "rows: 32", "rows: 32.0"), "compute.systolic.rows",
                               "valid integer")),
        ("hw-int-bool", Case("hw", _replace("hw", "per_channel: true", "per_channel: 1"),
                             "scale_unit.per_channel", "valid boolean")),
        ("hw-string-clock", Case("hw", _replace("hw", "clock_mhz: 1000", "clock_mhz: '1000'"), "clock_mhz",
                                 "valid number")),
        ("hw-inf-bandwidth", Case("hw", _replace("hw", "bandwidth_gb_s: 10", "bandwidth_gb_s: .inf"),
                                  "memories.dram.bandwidth_gb_s", "finite number")),
        ("hw-nan-clock", Case("hw", _replace("hw", "clock_mhz: 1000", "clock_mhz: .nan"), "clock_mhz",
                              "finite number")),
        ("hw-huge-sram", Case("hw", _replace("hw", "ifmap_sram: {kind: sram, size_kib: 64",
                                             "ifmap_sram: {kind: sram, size_kib: 1e300"),
                              "memories.ifmap_sram.size_kib", "less than or equal to 1073741824")),
        ("hw-huge-array", Case("hw", _replace("hw", "cols: 32", "cols: 100000"), "compute.systolic.cols",
                               "less than or equal to 65536")),
        ("hw-clock-100ghz", Case("hw", _replace("hw", "clock_mhz: 1000", "clock_mhz: 1e6"), "clock_mhz",
                                 "less than or equal to 100000")),
        # 3. a SCALE-Sim topology whose header is wrong but has the right column count
        ("csv-wrong-header", Case("csv", _replace("csv", "Num Filter, Strides", "Num Filters, Stride"),
                                  "column 7", "'Num Filter'")),
        ("csv-gemm-header", Case("csv", b"Layer Name, M, N, X,\nTest, 4, 4, 4,\n", "column 4", "'K'")),
        ("cfg-duplicate-key", Case("cfg", _replace("cfg", "ArrayWidth:", "ArrayHeight: 8\nArrayWidth:"), "",
                                   "already exists")),
    ]
    return [pytest.param(case, id=name) for name, case in cases]


CORPUS = corpus()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """Valid files of every kind next to which the bad ones are written."""
    (tmp_path / "hw_ok.yaml").write_text(HW)
    (tmp_path / "wl_ok.yaml").write_text(WORKLOAD)
    (tmp_path / "topo_ok.csv").write_text(TOPOLOGY)
    return tmp_path


def write_case(folder: Path, case: Case) -> Path:
    path = folder / FILE_NAME[case.kind]
    if case.data is None:
        with path.open("wb") as f:
            f.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is allocated
    else:
        path.write_bytes(case.data)
    return path


def check_error(message: str, path: Path, case: Case) -> None:
    assert str(path) in message
    assert (case.key or "<top level>") in message
    assert case.phrase in message
    assert len(message) < 2000  # the found value is quoted bounded


def cli_argv(case: Case, path: Path, folder: Path) -> list[list[str]]:
    hw, wl, topo = str(folder / "hw_ok.yaml"), str(folder / "wl_ok.yaml"), str(folder / "topo_ok.csv")
    return {
        "hw": [["run", str(path), wl]],
        "workload": [["info", str(path)], ["run", hw, str(path)]],
        "sweep": [["sweep", str(path), "--out", str(folder / "out"), "--check"]],
        "csv": [["run", hw, str(path)]],
        "cfg": [["run", str(path), topo]],
    }[case.kind]


def test_the_valid_files_load(files: Path) -> None:
    """The corpus' base files are valid: each error below comes from the one change made."""
    assert load_hw(files / "hw_ok.yaml").compute.systolic.rows == 32
    assert [n.name for n in load_workload(files / "wl_ok.yaml").nodes] == ["conv1", "fc"]
    (files / "spec.yaml").write_text(SWEEP)
    assert len(load_spec(files / "spec.yaml").points) == 2
    assert len(load_scalesim_topology(files / "topo_ok.csv").nodes) == 1
    assert load_hw(files / "hw_ok.yaml").clock_mhz == 1000.0  # an integer for a float field stays accepted


@pytest.mark.parametrize("case", CORPUS)
def test_bad_input_is_a_config_error(files: Path, case: Case) -> None:
    path = write_case(files, case)
    with pytest.raises(ConfigError) as info:
        API[case.kind](path)
    err = info.value
    assert err.file.startswith(str(path)), str(err)
    if case.key_is_prefix:
        assert err.key_path.startswith(case.key), str(err)
    else:
        assert err.key_path == case.key, str(err)
    check_error(str(err), path, case)


@pytest.mark.parametrize("case", CORPUS)
def test_bad_input_through_the_cli(files: Path, case: Case, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_case(files, case)
    for argv in cli_argv(case, path, files):
        assert cli_main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "Traceback" not in err
        check_error(err, path, case)


@pytest.mark.parametrize("case", [c for c in CORPUS if c.id in ("hw-billion-laughs", "workload-binary",
                                                                 "sweep-python-tag", "sweep-deep-flow")])
def test_bad_input_through_a_real_process(files: Path, case: Case) -> None:
    """The real entry point in a new process: exit code 2 and the message, no traceback."""
    path = write_case(files, case)
    for argv in cli_argv(case, path, files):
        proc = subprocess.run([sys.executable, "-m", "accelsim.cli.main", *argv], capture_output=True, text=True,
                              env=dict(os.environ), timeout=300)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        check_error(proc.stderr, path, case)


@pytest.mark.parametrize("kind", ["hw", "workload", "sweep"])
def test_alias_bomb_fails_fast_with_bounded_memory(files: Path, kind: str) -> None:
    path = files / FILE_NAME[kind]
    path.write_bytes(_scalar(kind, BILLION_LAUGHS))
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ConfigError, match="nodes"):
            API[kind](path)
        seconds = time.perf_counter() - start
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 5
    assert peak_bytes < 5 * 2**20  # measured: under 0.1 MiB


def level_nodes(level: int) -> int:
    """Nodes of level ``level`` of ``alias_levels`` with every alias expanded: 10, then 1 + 9 x the previous."""
    return 10 if level == 0 else 1 + 9 * level_nodes(level - 1)


def expanded_nodes(levels: int) -> int:
    """Nodes of ``{a: alias_levels(levels)}`` with every alias expanded (document mapping, key, outer list)."""
    return 3 + sum(level_nodes(i) for i in range(levels))


def test_node_limit_counts_aliases_in_full(tmp_path: Path) -> None:
    assert expanded_nodes(5) < MAX_YAML_NODES < expanded_nodes(6)
    path = tmp_path / "a.yaml"
    path.write_text(f"a: {alias_levels(5)}\n")
    data = read_yaml(path)
    assert len(data["a"]) == 5 and data["a"][4][0] is data["a"][4][8]  # loads; aliases stay shared
    path.write_text(f"a: {alias_levels(6)}\n")
    with pytest.raises(ConfigError, match=f"at most {MAX_YAML_NODES} nodes .aliases counted in full., found "
                                          f"'{level_nodes(5)} nodes at line 1'"):
        read_yaml(path)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_without_size_is_read_bounded() -> None:
    with pytest.raises(ConfigError, match="/dev/zero: <top level>: expected a YAML file of at most 16 MiB"):
        read_yaml("/dev/zero")


def test_long_keys_are_quoted_bounded(files: Path) -> None:
    path = files / "hw.yaml"
    path.write_text(HW + "? " + "k" * 1_000_000 + "\n: 1\n")  # an explicit key: no 1024-character limit
    with pytest.raises(ConfigError) as info:
        load_hw(path)
    assert info.value.key_path == "k" * 1_000_000
    assert str(info.value) == (f"{path}: {'k' * 300}… (999700 more characters): expected a known key (this one is "
                               "not in the schema: a typo?), found 1")


def test_merge_keys_and_a_utf8_bom_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes("\ufeffbase: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  x: 3\n".encode())
    assert read_yaml(path) == {"base": {"x": 1, "y": 2}, "derived": {"x": 3, "y": 2}}


# ---------------------------------------------------------------------------------------- 5. every error listed
def test_every_validation_error_is_listed(files: Path) -> None:
    path = files / "hw.yaml"
    path.write_text(HW.replace("rows: 32", "rows: true").replace("cols: 32", "cols: -1")
                    .replace("clock_mhz: 1000\n", ""))
    with pytest.raises(ConfigError) as info:
        load_hw(path)
    err = info.value
    assert [(i.key_path, i.found) for i in err.issues] == [
        ("clock_mhz", MISSING), ("compute.systolic.rows", True), ("compute.systolic.cols", -1)]
    assert (err.key_path, err.found) == ("clock_mhz", MISSING)  # the first error stays on the attributes
    lines = str(err).splitlines()
    assert lines[0] == f"{path}: 3 errors:"
    assert lines[1] == "  clock_mhz: missing required key, expected a value"
    assert lines[2].startswith("  compute.systolic.rows: expected ") and lines[2].endswith("found True")
    assert lines[3] == "  compute.systolic.cols: expected Input should be greater than 0, found -1"
    assert "Field required" not in str(err) and "more error" not in str(err)


def test_errors_of_every_layer_are_listed(files: Path) -> None:
    path = files / "wl.yaml"
    path.write_text(WORKLOAD.replace("out_channels: 4, kernel: 3}", "out_channels: -4, kernel: 3, stride: 0}")
                    .replace("op: fc,", "op: fcc,"))
    with pytest.raises(ConfigError) as info:
        load_workload(path)
    assert [(i.key_path, i.found) for i in info.value.issues] == [
        ("layers[0].out_channels", -4), ("layers[0].stride", 0), ("layers[1].op", "fcc")]
    assert info.value.issues[1].expected == "a positive integer or a [h, w] pair of them"  # one per union key


def test_parse_yaml_text_is_checked_like_a_file() -> None:
    """For values given on a command line: tags and syntax errors are ConfigErrors naming the source."""
    assert parse_yaml("1e3", "--quant weight_bits") == 1000.0
    with pytest.raises(ConfigError, match="--quant weight_bits: <top level>: expected no YAML tags .* found "
                                          "'tag !!python/object:os.system at line 1'"):
        parse_yaml("!!python/object:os.system", "--quant weight_bits")
    with pytest.raises(ConfigError, match="a syntax error at line 1, column 2"):
        parse_yaml("[", "--quant weight_bits")


def test_error_list_is_bounded(files: Path) -> None:
    path = files / "hw.yaml"
    path.write_text(HW + "".join(f"extra_{i}: {i}\n" for i in range(MAX_LISTED_ERRORS + 7)))
    with pytest.raises(ConfigError) as info:
        load_hw(path)
    lines = str(info.value).splitlines()
    assert lines[0].endswith(f"{MAX_LISTED_ERRORS + 7} errors:")
    assert [ln.split(":")[0].strip() for ln in lines[1:-1]] == [f"extra_{i}" for i in range(MAX_LISTED_ERRORS)]
    assert lines[-1] == "  … and 7 more"


def test_bounded_repr() -> None:
    assert bounded_repr({"a": [1, (2,)], "b": None}) == repr({"a": [1, (2,)], "b": None})
    assert bounded_repr("x" * 1000) == repr("x" * 300) + "… (700 more characters)"
    shared = ["lol"] * 9
    for _ in range(8):
        shared = [shared] * 9  # 9**9 leaves by reference: repr() would never finish
    text = bounded_repr(shared)
    assert len(text) < 600 and text.startswith("[[[[[[[[['lol', 'lol'") and text.endswith("… (8 more)]")


# ------------------------------------------------------------------------------- 6. quant overrides, every path
OVERRIDE = {"overrides": {"nosuchlayer": {"weight_bits": 4}}}


def test_unknown_override_layer_is_refused_everywhere(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wl = files / "wl_ok.yaml"
    with pytest.raises(ConfigError) as info:
        load_workload(wl, quant=OVERRIDE)
    api = info.value
    assert (api.file, api.key_path, api.found) == (str(wl), "quant.overrides.nosuchlayer", "nosuchlayer")
    assert api.expected == "the name of a layer (conv1, fc)"
    in_file = files / "wl.yaml"
    in_file.write_text(WORKLOAD + "quant: {overrides: {nosuchlayer: {weight_bits: 4}}}\n")
    with pytest.raises(ConfigError) as info:
        load_workload(in_file)
    assert (info.value.key_path, info.value.expected) == (api.key_path, api.expected)  # the same check
    assert load_workload(wl, quant={"overrides": {"conv1": {"weight_bits": 4}}}).tensors["conv1/weights"].dtype \
        == "int4"
    assert cli_main(["run", str(files / "hw_ok.yaml"), str(wl), "--quant",
                     "overrides.nosuchlayer.weight_bits=4"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(wl) in err and "quant.overrides.nosuchlayer" in err
    spec = files / "spec.yaml"
    spec.write_text(SWEEP + "quant: {overrides: {nosuchlayer: {weight_bits: 4}}}\n")
    with pytest.raises(ConfigError) as info:
        load_spec(spec)
    assert (info.value.file, info.value.key_path, info.value.expected) == (str(spec), api.key_path, api.expected)


def test_unknown_override_layer_of_a_zoo_network_lists_names_bounded() -> None:
    with pytest.raises(ConfigError) as info:
        load_workload("mobilenet_v2", quant=OVERRIDE)
    names = info.value.expected[len("the name of a layer ("):-1].split(", ")
    assert len(names) == 21 and names[-1].startswith("… and ") and names[-1].endswith(" more")
    assert info.value.key_path == "quant.overrides.nosuchlayer"
