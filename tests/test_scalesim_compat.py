"""SCALE-Sim compatibility: our systolic model side by side with the real ``scalesim`` 3.0.0 package, and the
readers for SCALE-Sim's ``.cfg`` and topology CSV files (samples from its repository in tests/data/scalesim)."""
from __future__ import annotations

import configparser
import csv
from pathlib import Path

import pytest
from scalesim import scale_sim  # the peer under comparison: a test dependency (pyproject [test])

from accelsim.config.hw import load_hw
from accelsim.config.scalesim import load_scalesim_config
from accelsim.errors import ConfigError, UnsupportedError
from accelsim.hw.layer import layer_shape
from accelsim.hw.systolic import systolic_timing
from accelsim.workloads.scalesim_topology import load_scalesim_topology

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:scalesim.*")  # its own NumPy deprecation

DATA = Path(__file__).parent / "data" / "scalesim"
REPO = Path(__file__).parent.parent

# Small layers exercising partial folds, SCALE-Sim's ceil output size (L1, L4), a 1x1 conv (L2), its "DP"
# depthwise convention (DP3: one SCALE-Sim layer per channel) and a stride-3 5x5 conv.
CONV_TOPOLOGY = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
L1, 10, 9, 3, 3, 5, 40, 2,
L2, 6, 6, 1, 1, 24, 7, 1,
DP3, 7, 7, 3, 3, 3, 2, 1,
L4, 12, 12, 5, 5, 2, 17, 3,
"""
GEMM_TOPOLOGY = """Layer Name, M, N, K,
G1, 20, 50, 70,
G2, 3, 33, 9,
"""
ARRAYS = [(8, 8), (16, 4), (5, 12)]


def run_scalesim(workdir: Path, rows: int, cols: int, dataflow: str, topology_text: str, gemm: bool,
                 interface: str = "CALC") -> tuple[list[list[str]], list[list[str]]]:
    """Run SCALE-Sim in ``workdir``; return the COMPUTE_REPORT and DETAILED_ACCESS_REPORT data rows."""
    cfg = configparser.ConfigParser()
    cfg.read(DATA / "scale_bundled_32x32_ws.cfg")
    cfg["architecture_presets"].update(ArrayHeight=str(rows), ArrayWidth=str(cols), Dataflow=dataflow)
    cfg["run_presets"]["InterfaceBandwidth"] = interface
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / "run.cfg", "w") as f:
        cfg.write(f)
    (workdir / "topology.csv").write_text(topology_text)
    sim = scale_sim.scalesim(save_disk_space=True, verbose=False, config=str(workdir / "run.cfg"),
                             topology=str(workdir / "topology.csv"), layout=str(DATA / "layout_dummy.csv"),
                             input_type_gemm=gemm)
    sim.run_scale(top_path=str(workdir / "out"))
    out = workdir / "out" / cfg["general"]["run_name"]

    def rows_of(name: str) -> list[list[str]]:
        with open(out / name) as f:
            return [[c.strip() for c in row] for row in list(csv.reader(f))[1:]]

    return rows_of("COMPUTE_REPORT.csv"), rows_of("DETAILED_ACCESS_REPORT.csv")


def compare(tmp_path: Path, rows: int, cols: int, dataflow: str, topology_text: str, gemm: bool) -> int:
    """Assert per-layer agreement with SCALE-Sim; return the number of layers compared."""
    compute, detail = run_scalesim(tmp_path, rows, cols, dataflow, topology_text, gemm)
    (tmp_path / "ours.csv").write_text(topology_text)
    graph = load_scalesim_topology(tmp_path / "ours.csv")
    first = 0
    for node in graph.nodes:
        ours = systolic_timing(layer_shape(graph, node), rows, cols, dataflow)
        count = ours.groups if "DP" in node.name else 1       # SCALE-Sim: one layer per channel
        theirs, access = compute[first:first + count], detail[first:first + count]
        first += count
        # COMPUTE_REPORT: Total Cycles (col 2) minus Stall Cycles (col 3); CALC mode never stalls
        assert sum(int(r[3]) for r in theirs) == 0
        assert ours.scalesim_total_cycles == sum(int(r[2]) - int(r[3]) for r in theirs), node.name
        if count == 1:   # Overall Util % = 100·MACs / (Total Cycles·R·C)
            expected_util = 100 * ours.macs / (ours.scalesim_total_cycles * rows * cols)
            assert float(theirs[0][4]) == pytest.approx(expected_util, rel=1e-9)
        # DETAILED_ACCESS_REPORT: SRAM IFMAP reads (col 3), Filter reads (col 6), OFMAP writes (col 9).
        # SCALE-Sim over-counts OS ofmap writes by R + C per fold ([ref:ScaleSim]); ours are M·N.
        overcount = (rows + cols) * ours.folds if dataflow == "os" else 0
        assert ours.ifmap_sram_reads == sum(int(r[3]) for r in access), node.name
        assert ours.filter_sram_reads == sum(int(r[6]) for r in access), node.name
        assert ours.ofmap_sram_writes + overcount == sum(int(r[9]) for r in access), node.name
    assert first == len(compute)
    return len(graph.nodes)


@pytest.mark.parametrize("rows, cols", ARRAYS)
@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_conv_layers_match_scalesim(tmp_path, rows, cols, dataflow):
    assert compare(tmp_path, rows, cols, dataflow, CONV_TOPOLOGY, gemm=False) == 4


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_gemm_layers_match_scalesim(tmp_path, dataflow):
    assert compare(tmp_path, 8, 16, dataflow, GEMM_TOPOLOGY, gemm=True) == 2


def test_sample_inc5b_published_cycles():
    # [ref:ScaleSim]: Inc5b_3x3 on SCALE-Sim's bundled 32x32 WS config reports 77,111 cycles
    graph = load_scalesim_topology(DATA / "conv_inc5b_3x3.csv")
    cfg = load_scalesim_config(DATA / "scale_bundled_32x32_ws.cfg")
    t = systolic_timing(layer_shape(graph, graph.nodes[0]), cfg.array_height, cfg.array_width, cfg.dataflow)
    assert t.scalesim_total_cycles == 77_111


# ------------------------------------------------------------------------------------------ the readers
def test_load_sample_configs():
    ws = load_scalesim_config(DATA / "scale_bundled_32x32_ws.cfg")
    assert (ws.run_name, ws.array_height, ws.array_width, ws.dataflow) == ("scale_example_run_32x32_ws", 32, 32, "ws")
    assert (ws.ifmap_sram_kib, ws.filter_sram_kib, ws.ofmap_sram_kib) == (64, 64, 64)
    assert ws.bandwidth_words_per_cycle == (10,) and ws.interface_bandwidth == "CALC"
    assert (ws.read_request_buffer, ws.write_request_buffer, ws.memory_banks) == (32, 32, 1)
    assert (ws.ifmap_sram_bank_bandwidth, ws.ifmap_sram_bank_num, ws.ifmap_sram_bank_port) == (10, 10, 2)
    assert (ws.sparsity_support, ws.sparse_rep, ws.block_size) == (False, "ellpack_block", 8)
    tpu = load_scalesim_config(DATA / "google_tpu_v1_os_256.cfg")
    assert (tpu.array_height, tpu.array_width, tpu.dataflow, tpu.interface_bandwidth) == (256, 256, "os", "USER")
    assert (tpu.ifmap_sram_kib, tpu.filter_sram_kib, tpu.ofmap_sram_kib) == (6144, 6144, 2048)
    assert (tpu.filter_offset, tpu.ofmap_offset, tpu.read_request_buffer) == (10_000_000, 20_000_000, 512)
    assert tpu.dram_port_words_per_cycle() == (10, 10, 10)


def test_to_hardware_config_matches_the_shipped_scalesim_config():
    ours = load_scalesim_config(DATA / "scale_bundled_32x32_ws.cfg").to_hardware_config(clock_mhz=1000)
    shipped = load_hw(REPO / "hw_configs" / "scalesim_32x32_ws.yaml")
    assert ours.compute == shipped.compute
    assert ours.precision == shipped.precision
    for name, level in shipped.memories.items():
        mine = ours.memories[name]
        assert (mine.kind, mine.size_kib, mine.operands, mine.bandwidth_gb_s) == \
               (level.kind, level.size_kib, level.operands, level.bandwidth_gb_s)
    # 10 one-byte words per cycle at 500 MHz = 5 GB/s
    half = load_scalesim_config(DATA / "scale_bundled_32x32_ws.cfg").to_hardware_config(clock_mhz=500)
    assert half.memories["dram"].bandwidth_gb_s == pytest.approx(5.0)


def test_load_sample_topologies():
    resnet = load_scalesim_topology(DATA / "resnet18.csv")
    assert len(resnet.nodes) == 21 and resnet.metadata["form"] == "conv"
    conv1 = layer_shape(resnet, resnet.node("Conv1"))
    # 224x224x3, 7x7/2: SCALE-Sim's ceil((224 − 7 + 2)/2) = 110 output rows; VALID would give 109
    assert (conv1.out_h, conv1.out_w, conv1.out_channels, conv1.reduction) == (110, 110, 64, 147)
    assert conv1.pad_h == 1
    fc = layer_shape(resnet, resnet.node("FC"))
    assert (fc.output_pixels, fc.reduction, fc.out_channels) == (1, 512, 1000)
    assert resnet.tensors["Conv1/weights"].data is None and resnet.tensors["Conv1/weights"].dtype == "int8"
    mobilenet = load_scalesim_topology(DATA / "mobilenet.csv")
    conv2 = layer_shape(mobilenet, mobilenet.node("Conv2"))   # depthwise written as one filter over 32 channels
    assert (conv2.out_channels, conv2.reduction, conv2.groups) == (1, 288, 1)
    gemm = load_scalesim_topology(DATA / "gemm_256x128x256.csv")   # no newline after the last row
    g = layer_shape(gemm, gemm.node("Test 1"))
    assert gemm.metadata["form"] == "gemm" and (g.output_pixels, g.out_channels, g.reduction) == (256, 128, 256)


def test_depthwise_naming_convention(tmp_path):
    path = tmp_path / "dp.csv"
    path.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                    "Strides,\nConvDP1, 9, 9, 3, 3, 16, 2, 1\n")     # no trailing comma: accepted
    graph = load_scalesim_topology(path)
    dw = layer_shape(graph, graph.nodes[0])
    assert dw.is_depthwise and (dw.groups, dw.out_channels, dw.depth_multiplier) == (16, 32, 2)


@pytest.mark.parametrize("row, message", [
    ("L1, 10, 9, 3, x, 5, 40, 2,", "line 2: Filter Width: expected a positive integer, found 'x'"),
    ("L1, 10, 9, 3, 3, 5, 40,", "line 2: columns: expected 8 columns"),
    ("L1, 2, 9, 3, 3, 5, 40, 1,", "line 2: Filter Height"),
])
def test_topology_errors_name_file_and_line(tmp_path, row, message):
    path = tmp_path / "bad.csv"
    path.write_text(CONV_TOPOLOGY.splitlines()[0] + "\n" + row + "\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_scalesim_topology(path)
    assert "bad.csv" in str(info.value)


def test_topology_duplicate_names_sparsity_and_layout_files(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text(CONV_TOPOLOGY + "L2, 6, 6, 1, 1, 24, 7, 1,\n")
    with pytest.raises(ConfigError, match="line 6: Layer name: expected a unique layer name .already on line 3"):
        load_scalesim_topology(path)
    path.write_text(CONV_TOPOLOGY.splitlines()[0] + "\nL1, 10, 9, 3, 3, 5, 40, 2, 2:4,\n")
    with pytest.raises(UnsupportedError, match="sparsity"):
        load_scalesim_topology(path)
    with pytest.raises(ConfigError, match="layout_dummy.csv, line 1: column 2"):   # a layout file is not a topology
        load_scalesim_topology(DATA / "layout_dummy.csv")


def test_config_errors_name_the_key(tmp_path):
    text = (DATA / "scale_bundled_32x32_ws.cfg").read_text()
    bad = tmp_path / "bad.cfg"
    bad.write_text(text.replace("Dataflow : ws", "Dataflow : rs"))
    with pytest.raises(ConfigError, match="architecture_presets.Dataflow: expected os, ws or is"):
        load_scalesim_config(bad)
    bad.write_text(text.replace("ArrayHeight:    32", "ArrayHeight: -4"))
    with pytest.raises(ConfigError, match="bad.cfg: architecture_presets.ArrayHeight: expected an integer >= 1"):
        load_scalesim_config(bad)
    bad.write_text(text.replace("IfmapSramSzkB:   64\n", ""))
    with pytest.raises(ConfigError, match="IfmapSramSzkB: expected a value"):
        load_scalesim_config(bad)
    with pytest.raises(ConfigError, match="readable"):
        load_scalesim_config(tmp_path / "missing.cfg")
