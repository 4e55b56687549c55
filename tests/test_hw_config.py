"""Hardware config schema: shipped configs against published figures, key-path errors, JSON Schema, hashing.

Expected values are the closed forms and figures of the cited sources (docs/references.md, SCALE-Sim's bundled
32x32 config), written out here, never computed by the code under test.
"""
from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest
import yaml

from accelsim.cli.main import main as cli_main
from accelsim.config.hw import HardwareConfig, RoundingMode, hardware_json_schema, load_hw, validate_hw
from accelsim.energy.tables import REQUANT_MODES
from accelsim.errors import MISSING, ConfigError, UnsupportedError
from accelsim.quant.requant import MODES
from accelsim.hw.unit import peak_gmac_s, peak_macs_per_cycle

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"
SHIPPED = sorted(CONFIGS.glob("*.yaml"))
EXPECTED_NAMES = {
    "hvx_685", "hvx_690", "tpu_v1", "eyeriss_v1", "gemmini_default", "gemmini_vector", "bitfusion", "ethos_u55_256",
    "nvdla_small",
    "scalesim_32x32_os", "scalesim_32x32_ws", "scalesim_32x32_is",
}
KIB_PER_MIB = 1024


def _hw(name: str) -> HardwareConfig:
    return load_hw(CONFIGS / f"{name}.yaml")


def test_every_named_config_is_shipped() -> None:
    assert {p.stem for p in SHIPPED} >= EXPECTED_NAMES


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_config_loads_and_names_its_sources(path: Path) -> None:
    hw = load_hw(path)
    assert hw.name == path.stem
    header = path.read_text().split("\nname:")[0]
    assert header.startswith("#") and ("Source" in header or "source" in header or "SCALE-Sim" in header)
    assert hw.dram.kind == "dram" and hw.dram_name == list(hw.memories)[-1]
    # Every operand has an on-chip home; DRAM backs every operand, a read-only flash only the weights.
    for operand in ("weights", "inputs", "outputs"):
        levels = list(hw.levels_for(operand))
        assert levels and levels[0] != hw.dram_name
        assert (levels[-1] == hw.dram_name) == (operand == "weights" or not hw.dram.read_only)


# --------------------------------------------------------------------------- peak MACs against the closed forms
@pytest.mark.parametrize("name, contexts", [("hvx_685", 2), ("hvx_690", 4)])
def test_hvx_peak_macs_per_context(name: str, contexts: int) -> None:
    """[ref:QEMUHexagon] (DERIVED): per 1024-bit context 8x8 = 256, 16x8 = 128, 16x16 = 64 MAC/cycle; vector x vector
    accumulate 128; int4 weights are storage-only, so W4A8 runs at the 8x8 rate."""
    hw = _hw(name)
    assert hw.compute.simd.contexts == contexts and hw.compute.simd.vector_bits == 1024
    assert peak_macs_per_cycle(hw, 8, 8) == 256 * contexts
    assert peak_macs_per_cycle(hw, 8, 16) == 128 * contexts
    assert peak_macs_per_cycle(hw, 16, 16) == 64 * contexts
    assert peak_macs_per_cycle(hw, 4, 8) == 256 * contexts
    assert hw.compute.simd.macs_per_context_cycle["W8A8"].vector_vector == 128
    # Peak 8-bit TOPS at the assumed 500 MHz: 680/685 ~0.51, 690 ~1.02 (DERIVED: contexts x 256 MAC x 2 ops x 500 MHz).
    tops = peak_gmac_s(hw, 8, 8) * 2 / 1e3
    assert tops == pytest.approx(0.512 if contexts == 2 else 1.024)
    # requantization on the SIMD unit: 32 int32 outputs per ~2 packets per context (§1.2).
    assert hw.compute.simd.requant_outputs_per_context_cycle == 16
    assert hw.scale_unit.shared_with_simd


def test_hvx_memories_and_dram() -> None:
    hvx690, hvx685 = _hw("hvx_690"), _hw("hvx_685")
    assert hvx690.memories["vtcm"].size_kib == 256  # quic/qemu v66g_1024 vtcm_size_kb 0x100
    assert hvx690.dram.bandwidth_gb_s == pytest.approx(4266e6 * 8 / 1e9, abs=0.05)  # LPDDR4X-4266 x 64 bit
    assert hvx685.dram.bandwidth_gb_s == pytest.approx(3733e6 * 8 / 1e9, abs=0.05)  # LPDDR4X-3733 x 64 bit
    # VRF = 32 registers x 128 B per context.
    assert hvx690.memories["vrf"].size_bytes == 4 * 32 * 128


def test_tpu_v1() -> None:
    """ISCA 2017: 256 x 256 = 65,536 int8 MACs, 92 TOPS, 24 MiB UB + 4 MiB accumulators, 34 GB/s."""
    hw = _hw("tpu_v1")
    assert peak_macs_per_cycle(hw, 8, 8) == 65_536
    assert peak_gmac_s(hw, 8, 8) * 2 / 1e3 == pytest.approx(92, rel=0.01)
    assert hw.memories["unified_buffer"].size_kib == 24 * KIB_PER_MIB
    assert hw.memories["accumulators"].size_kib == 4 * KIB_PER_MIB
    assert hw.dram.bandwidth_gb_s == 34 and hw.compute.systolic.dataflow == "ws"
    # UB -> matrix unit 167 GiB/s at 700 MHz is 256 B/cycle.
    assert hw.memories["unified_buffer"].bytes_per_cycle == pytest.approx(167 * 2**30 / 700e6, rel=0.01)


def test_eyeriss_gemmini_nvdla_ethos() -> None:
    eyeriss = _hw("eyeriss_v1")
    assert peak_macs_per_cycle(eyeriss, 16, 16) == 168  # 12 x 14 PEs
    assert peak_gmac_s(eyeriss, 16, 16) == pytest.approx(33.6)  # at 200 MHz
    # the 108 KB global buffer as the chip uses it: 100 KB ifmaps/psums + 8 KB filters (JSSC 2017 §V-A)
    assert eyeriss.memories["global_buffer"].size_kib + eyeriss.memories["glb_filters"].size_kib == 108
    gemmini = _hw("gemmini_default")
    assert peak_macs_per_cycle(gemmini, 8, 8) == 256
    assert gemmini.memories["scratchpad"].size_kib == 256 and gemmini.memories["accumulator"].size_kib == 64
    assert gemmini.scale_unit.rounding == "float32" and not gemmini.scale_unit.per_channel
    nvdla = _hw("nvdla_small")
    assert peak_macs_per_cycle(nvdla, 8, 8) == 8 * 8  # atomic-C x atomic-K
    assert nvdla.memories["cbuf"].size_bytes == 32 * 8 * 512  # banks x width x depth
    ethos = _hw("ethos_u55_256")
    assert peak_macs_per_cycle(ethos, 8, 8) == 256
    assert peak_macs_per_cycle(ethos, 8, 16) == 128  # 16-bit activations at half rate (Vela)
    assert peak_gmac_s(ethos, 8, 8) == pytest.approx(256 * 0.5)  # 0.256 TMAC/s at 500 MHz
    assert ethos.precision.accumulator_bits == 40 and ethos.memories["shram"].size_kib == 48
    assert ethos.memories["sram"].bytes_per_cycle * ethos.clock_mhz * 1e6 == pytest.approx(4e9)  # Vela: 4 GB/s


def test_bitfusion_composable_precisions() -> None:
    """Bit Fusion: per Fusion Unit 64 / (w x a) MACs per cycle; bf_e 512 FUs: 512 MAC/cycle at 8 bit, 8192 at 2."""
    hw = _hw("bitfusion")
    fus = 16 * 32
    for w in (2, 4, 8):
        for a in (2, 4, 8):
            assert peak_macs_per_cycle(hw, w, a) == fus * 64 // (w * a)
    assert peak_macs_per_cycle(hw, 4, 4) == 4 * peak_macs_per_cycle(hw, 8, 8)
    assert peak_gmac_s(hw, 2, 2) / 1e3 == pytest.approx(4.1, rel=0.01)  # 4.1 TMAC/s at 500 MHz
    assert [hw.memories[n].size_kib for n in ("wbuf", "ibuf", "obuf")] == [64, 32, 16]


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_scalesim_equivalents(dataflow: str) -> None:
    """SCALE-Sim scale_bundled_32x32_ws.cfg: 32 x 32, 64 KB ifmap/filter/ofmap SRAMs, Bandwidth 10 words/cycle."""
    hw = _hw(f"scalesim_32x32_{dataflow}")
    array = hw.compute.systolic
    assert (array.rows, array.cols, array.dataflow) == (32, 32, dataflow)
    assert [hw.memories[n].size_kib for n in ("ifmap_sram", "filter_sram", "ofmap_sram")] == [64, 64, 64]
    assert hw.dram_bytes_per_cycle == pytest.approx(10)  # 1-byte words
    assert list(hw.levels_for("inputs")) == ["ifmap_sram", "dram"]
    assert list(hw.levels_for("weights")) == ["filter_sram", "dram"]
    assert list(hw.levels_for("outputs")) == ["ofmap_sram", "dram"]


# ------------------------------------------------------------------------------------------- error messages
BASE = {
    "name": "t",
    "clock_mhz": 500,
    "compute": {"systolic": {"rows": 4, "cols": 4, "dataflow": "ws"}},
    "precision": {"modes": [{"weight_bits": 8, "activation_bits": 8, "throughput": 1.0}]},
    "scale_unit": {"lanes": 4},
    "memories": {
        "buf": {"kind": "sram", "size_kib": 16, "bytes_per_cycle": 16},
        "dram": {"kind": "dram", "bandwidth_gb_s": 8, "dram_type": "lpddr4"},
    },
}
SIMD = {
    "contexts": 2,
    "macs_per_context_cycle": {
        "W8A8": {"scalar_broadcast": 256, "vector_vector": 128, "widening": 128},
        "W16A16": {"scalar_broadcast": 64, "vector_vector": 64, "widening": 64},
    },
}


def _with(data: dict, path: str, value: object) -> dict:
    """A deep copy of ``data`` with a dotted path set (``None`` deletes the key)."""
    out = json.loads(json.dumps(data))
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is None:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


def _load_error(tmp_path: Path, data: dict) -> ConfigError:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as info:
        load_hw(path)
    err = info.value
    assert err.file == str(path)
    message = str(err)
    assert str(path) in message and err.key_path in message and err.expected in message
    return err


def test_base_config_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(BASE, sort_keys=False))
    hw = load_hw(path)
    assert peak_macs_per_cycle(hw, 8, 8) == 16 and hw.technology.energy_table == "horowitz45"


@pytest.mark.parametrize(
    "path, value, key_path, expected_part, found",
    [
        ("compute.systolic.colums", 4, "compute.systolic.colums", "a known key", 4),
        ("compute.systolic.rows", "thirty-two", "compute.systolic.rows", "valid integer", "thirty-two"),
        ("compute.systolic.rows", -4, "compute.systolic.rows", "greater than 0", -4),
        ("compute.systolic.dataflow", "xs", "compute.systolic.dataflow", "'os', 'ws', 'is' or 'rs'", "xs"),
        ("compute.systolic.depthwise", ["diagonal"], "compute.systolic.depthwise[0]",
         "'per_group', 'block_diagonal' or 'channel_parallel'", "diagonal"),
        ("compute.systolic.psum_spad_words", 0, "compute.systolic.psum_spad_words", "greater than 0", 0),
        ("compute.systolic.stationary_buffers", 3, "compute.systolic.stationary_buffers", "less than or equal to 2",
         3),
        ("clock_mhz", None, "clock_mhz", "a value", MISSING),
        ("technology", {"energy_table": "horowitz99"}, "technology.energy_table", "horowitz45", "horowitz99"),
        ("scale_unit.rounding", "round_half_up", "scale_unit.rounding", "fixed_point", "round_half_up"),
        ("memories.buf.kind", "cache", "memories.buf.kind", "'register_file', 'sram' or 'dram'", "cache"),
        ("memories.buf.size_kib", 0, "memories.buf.size_kib", "greater than 0", 0),
        ("precision.modes.0.weight_bits", 64, "precision.modes[0].weight_bits", "less than or equal to 32", 64),
    ],
)
def test_field_errors_name_file_key_expected_found(
    tmp_path: Path, path: str, value: object, key_path: str, expected_part: str, found: object
) -> None:
    err = _load_error(tmp_path, _with(BASE, path, value))
    assert err.key_path == key_path
    assert expected_part in err.expected
    assert err.found == found


DRAM = {"kind": "dram", "bandwidth_gb_s": 8, "dram_type": "lpddr4"}
SRAM = {"kind": "sram", "size_kib": 16, "bytes_per_cycle": 16}


@pytest.mark.parametrize(
    "data, key_path, expected_part",
    [
        (_with(BASE, "memories", {"buf": SRAM}), "memories", "exactly one level of kind dram"),
        (_with(BASE, "memories", {"dram": DRAM, "buf": SRAM}), "memories.dram", "listed last"),
        (_with(BASE, "memories", {"buf": SRAM, "d1": DRAM, "d2": DRAM}), "memories.d2.kind", "one dram level"),
        (_with(BASE, "memories", {"dram": DRAM}), "memories", "on-chip level"),
        (_with(BASE, "memories.buf.dram_type", "ddr3"), "memories.buf.dram_type", "dram only"),
        (_with(BASE, "memories.dram.size_kib", 64), "memories.dram.size_kib", "on-chip only"),
        (_with(BASE, "memories.buf.bytes_per_cycle", None), "memories.buf.bytes_per_cycle", "a number > 0"),
        (_with(BASE, "memories.dram.dram_type", None), "memories.dram.dram_type", "DRAM type"),
        (_with(BASE, "memories.buf.operands", ["weights", "inputs"]), "memories", "holding outputs"),
        (_with(BASE, "compute", {}), "compute", "at least one of systolic, simd"),
        (_with(BASE, "compute.systolic", {"rows": 4, "cols": 4, "dataflow": "os", "stationary_buffers": 2}),
         "compute.systolic.stationary_buffers", "1 for dataflow os"),
        (_with(BASE, "scale_unit.fallback", "simd"), "scale_unit.fallback", "needs a compute.simd unit"),
        (_with(BASE, "scale_unit.shared_with_simd", True), "scale_unit.shared_with_simd", "no compute.simd"),
        (_with(BASE, "precision.accumulator_bits", 12), "precision.accumulator_bits", "at least 16 bits"),
        (_with(BASE, "precision.modes", [{"weight_bits": 8, "activation_bits": 8, "throughput": 1},
                                         {"weight_bits": 8, "activation_bits": 8, "throughput": 1}]),
         "precision.modes[1]", "listed once"),
        (_with(BASE, "precision.modes", [{"weight_bits": 8, "activation_bits": 8, "throughput": 1},
                                         {"weight_bits": 4, "activation_bits": 16, "storage_only": True}]),
         "precision.modes[1]", "a compute mode with activation_bits 16"),
        (_with(BASE, "precision.modes", [{"weight_bits": 8, "activation_bits": 8, "throughput": 1},
                                         {"weight_bits": 16, "activation_bits": 16, "throughput": 2}]),
         "precision.modes[1].throughput", "at most 1"),
        (_with(BASE, "precision.modes", [{"weight_bits": 8, "activation_bits": 8}]),
         "precision.modes[0].throughput", "a number > 0"),
        (_with(_with(BASE, "compute", {"simd": SIMD}), "precision.modes",
               [{"weight_bits": 8, "activation_bits": 8, "throughput": 1},
                {"weight_bits": 16, "activation_bits": 16, "throughput": 0.5}]),
         "precision.modes[1].throughput", "0.25"),
        (_with(_with(BASE, "compute", {"simd": SIMD}), "precision.modes",
               [{"weight_bits": 8, "activation_bits": 8, "throughput": 1}]),
         "compute.simd.macs_per_context_cycle.W16A16", "a compute mode of precision.modes"),
    ],
)
def test_cross_field_errors_name_file_key_expected(tmp_path: Path, data: dict, key_path: str,
                                                   expected_part: str) -> None:
    err = _load_error(tmp_path, data)
    assert err.key_path == key_path
    assert expected_part in err.expected


def test_yaml_syntax_and_missing_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml.*valid YAML"):
        load_hw(bad)
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_hw(tmp_path / "missing.yaml")


def test_user_energy_table_path_resolved_against_config(tmp_path: Path) -> None:
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "mine.yaml").write_text("name: mine\n")
    path = tmp_path / "hw.yaml"
    path.write_text(yaml.safe_dump(_with(BASE, "technology", {"energy_table": "tables/mine.yaml"}), sort_keys=False))
    hw = load_hw(path)
    assert Path(hw.technology.energy_table) == (tmp_path / "tables" / "mine.yaml").resolve()
    err = _load_error(tmp_path, _with(BASE, "technology", {"energy_table": "tables/absent.yaml"}))
    assert err.key_path == "technology.energy_table" and err.found == "tables/absent.yaml"


# --------------------------------------------------------------------------------- convenience and hashing
def test_mode_lookup_and_unsupported_mode() -> None:
    hw = _hw("hvx_690")
    assert hw.mode(4, 8).storage_only and hw.precision.compute_mode_for(hw.mode(4, 8)).key == "W8A8"
    with pytest.raises(UnsupportedError, match="W2A2.*W8A8"):
        hw.mode(2, 2)
    assert list(hw.onchip_levels()) == ["vrf", "vtcm", "l2"]


def test_config_hash_is_stable_and_content_based() -> None:
    explicit = _with(BASE, "compute.systolic.dataflow", "ws")
    explicit = _with(explicit, "technology", {"energy_table": "horowitz45", "node_nm": None})
    implicit = _with(_with(BASE, "compute.systolic.dataflow", None), "description", "other words")
    a, b = validate_hw(explicit, "a"), validate_hw(implicit, "b")
    assert a.config_hash() == b.config_hash()  # defaults filled in, description ignored
    assert len(a.config_hash()) == 16
    bigger = a.with_values({"memories.buf.size_kib": 32})
    assert bigger.memories["buf"].size_kib == 32 and bigger.config_hash() != a.config_hash()
    assert _hw("tpu_v1").config_hash() == _hw("tpu_v1").config_hash()
    # a key added later with its default leaves the hash of configs without it alone; set, it counts
    one = validate_hw(_with(explicit, "compute.systolic.stationary_buffers", 1), "one")
    assert one.config_hash() == a.config_hash()
    assert a.with_values({"compute.systolic.stationary_buffers": 2}).config_hash() != a.config_hash()
    two = _with(BASE, "memories", {"a": SRAM, "b": {**SRAM, "size_kib": 64}, "dram": DRAM})
    swapped = _with(BASE, "memories", {"b": {**SRAM, "size_kib": 64}, "a": SRAM, "dram": DRAM})
    assert validate_hw(two, "x").config_hash() != validate_hw(swapped, "y").config_hash()  # hierarchy order


def test_with_values_revalidates_and_names_the_key() -> None:
    hw = _hw("hvx_690")
    assert hw.with_values({"memories.vtcm.size_kib": 512}).memories["vtcm"].size_kib == 512
    assert hw.with_values({"precision.modes[0].throughput": 1.0}).mode(8, 8).throughput == 1.0
    with pytest.raises(ConfigError) as info:
        hw.with_values({"memories.vtcm.size_kib": -1})
    assert info.value.key_path == "memories.vtcm.size_kib"
    with pytest.raises(ConfigError) as info:
        hw.with_values({"memories.vtcm.sise_kib": 1})
    assert info.value.key_path == "memories.vtcm.sise_kib"
    with pytest.raises(ConfigError) as info:
        hw.with_values({"memories.nowhere.size_kib": 1})
    assert info.value.key_path == "memories.nowhere.size_kib"


# ------------------------------------------------------------------------------------------------ JSON Schema
def test_json_schema_is_json_and_documents_the_top_level_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == json.loads(json.dumps(hardware_json_schema()))
    top = {"name", "description", "clock_mhz", "technology", "compute", "precision", "scale_unit", "memories",
           "decompression", "graph_io", "weight_buffering", "framework"}
    assert set(schema["properties"]) == top
    assert set(schema["required"]) == {"name", "clock_mhz", "compute", "precision", "scale_unit", "memories"}
    assert all(schema["properties"][key].get("description") for key in top)


def test_json_schema_accepts_shipped_configs_and_rejects_typos() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(hardware_json_schema())
    for path in SHIPPED:
        validator.validate(yaml.safe_load(path.read_text()))
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(_with(BASE, "compute.systolic.colums", 4))


def test_rounding_and_energy_modes_match_the_requantizer() -> None:
    """The schema's rounding names (config layer) are exactly accelsim.quant.requant's modes, which the energy
    layer also costs."""
    assert set(typing.get_args(RoundingMode)) == set(MODES) == set(REQUANT_MODES)
