"""Physical memory placement: read-only off-chip levels (flash), graph inputs/outputs on chip when they fit, and a
residency budget of capacity minus the tile buffers each layer needs (accelsim.mapping.residency)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accelsim.config.hw import load_hw, validate_hw
from accelsim.errors import ConfigError, MappingError
from accelsim.graph.builder import GraphBuilder
from accelsim.hw.layer import layer_shape
from accelsim.mapping import compute_cost, operand_bytes
from accelsim.mapping.residency import minimum_tile_bytes, plan_residency
from accelsim.quant.params import QuantParams
from accelsim.simulate import simulate

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"
Q = QuantParams.per_tensor(0.05, 0)


def config(sram_kib: float = 64, read_only: bool = False, graph_io: str = "dram", name: str = "t"):
    """A 16x16 OS array with one 'sram' level (all operands) and an off-chip level (flash when read_only)."""
    offchip = {"kind": "dram", "bandwidth_gb_s": 1.0, "dram_type": "lpddr"}
    if read_only:
        offchip.update(read_only=True, operands=["weights"])
    return validate_hw({
        "name": name, "clock_mhz": 500.0,
        "compute": {"systolic": {"rows": 16, "cols": 16, "dataflow": "os"}},
        "precision": {"modes": [{"weight_bits": 8, "activation_bits": 8, "throughput": 1.0}]},
        "scale_unit": {"lanes": 16},
        "memories": {"sram": {"kind": "sram", "size_kib": sram_kib, "bytes_per_cycle": 8.0}, "offchip": offchip},
        "graph_io": graph_io,
    }, "test.yaml")


def chain(h: int = 16, c: int = 16, layers: int = 3):
    """x -> conv1x1 -> conv1x1 -> ... (c channels each): every activation is h*h*c bytes."""
    b = GraphBuilder("chain")
    t = b.input("x", (1, h, h, c), "int8", Q)
    for i in range(layers):
        w = b.constant(f"w{i}", None, "int8", QuantParams.per_tensor(0.01), shape=(c, 1, 1, c))
        t = b.conv2d(t, w, None, Q, padding="SAME", name=f"conv{i}")
    return b.build([t])


# -------------------------------------------------------------------------------------------- config rules
def test_a_read_only_level_holds_weights_only():
    with pytest.raises(ConfigError, match=r"memories\.offchip\.operands.*\[weights\]"):
        data = config(read_only=True, graph_io="onchip").model_dump(mode="python")
        data["memories"]["offchip"]["operands"] = ["weights", "inputs", "outputs"]
        validate_hw(data, "x.yaml")


def test_a_read_only_off_chip_level_needs_graph_io_on_chip():
    with pytest.raises(ConfigError, match=r"graph_io.*onchip.*read_only"):
        config(read_only=True, graph_io="dram")


def test_read_only_is_an_off_chip_key():
    data = config().model_dump(mode="python")
    data["memories"]["sram"]["read_only"] = True
    with pytest.raises(ConfigError, match=r"memories\.sram\.read_only"):
        validate_hw(data, "x.yaml")


# ------------------------------------------------------------------------------------------ the tile reserve
def test_minimum_tile_bytes_is_the_smallest_double_buffered_tile_set():
    hw = config()
    graph = chain(h=16, c=64, layers=1)
    layer = layer_shape(graph, graph.nodes[0])
    cost = compute_cost(layer, hw)
    widths = operand_bytes(layer, hw)
    got = minimum_tile_bytes(layer, hw, widths, cost.channel_granule, cost.reduction_granule)
    # Closed form: tk = 16 (array columns), tc = 16 (rows / 1 tap); weights 16*16*1 B, bias+no scales 0 B/channel
    # (no bias tensor), one input band of 1 row x 16 px x 16 channels, one output row 16 px x 16 channels at the
    # 4-byte accumulator; all in 'sram'; doubled.
    assert (cost.channel_granule, cost.reduction_granule) == (16, 16)
    assert got == 2 * (16 * 16 + 1 * 16 * 16 + 16 * 16 * 4)


# ---------------------------------------------------------------------------------------- residency budget
def test_a_tensor_stays_on_chip_when_it_fits_next_to_the_tile_buffers_of_every_layer_it_lives_across():
    graph = chain(h=32, c=16, layers=3)          # activations 16 KiB each
    size = 32 * 32 * 16
    hw = config(sram_kib=40)                    # 40 KiB: two live activations (32 KiB) + tiles
    reserve = {n.name: 4096.0 for n in graph.nodes}
    plan = plan_residency(graph, hw, lambda node: reserve[node.name])
    # conv0's output and conv1's output are intermediates; each lives across two nodes with the other.
    outs = [n.outputs[0] for n in graph.nodes]
    assert outs[0] in plan.resident and outs[1] in plan.resident
    assert outs[2] not in plan.resident                       # a graph output with graph_io: dram
    assert plan.reserved_bytes["conv1"] == 2 * size            # conv0's output (input) + conv1's output
    # With a 9 KiB reserve per node, two 16 KiB tensors no longer fit next to the tiles (32 + 9 > 40): the
    # second intermediate goes to DRAM.
    plan = plan_residency(graph, hw, lambda node: 9 * 1024.0)
    assert outs[0] in plan.resident and outs[1] not in plan.resident


def test_the_whole_capacity_counts_not_a_fixed_half():
    # One 48 KiB intermediate in a 64 KiB level: more than half of it, yet it fits next to the tiles.
    graph = chain(h=64, c=12, layers=2)
    plan = plan_residency(graph, config(sram_kib=64), lambda node: 8 * 1024.0)
    assert graph.nodes[0].outputs[0] in plan.resident


def test_graph_io_on_chip_keeps_inputs_and_outputs_in_sram_when_they_fit():
    graph = chain(h=16, c=16, layers=2)
    on = simulate(graph, config(sram_kib=256, graph_io="onchip"))
    off = simulate(graph, config(sram_kib=256, graph_io="dram"))
    act = 16 * 16 * 16
    assert on.layers["ifmap_dram_bytes"].sum() == 0 and on.layers["ofmap_dram_bytes"].sum() == 0
    assert off.layers["ifmap_dram_bytes"].iloc[0] == act          # the graph input
    assert off.layers["ofmap_dram_bytes"].iloc[-1] == act         # the graph output
    # weights (16 x 16 B per layer) are the only off-chip traffic on chip-resident I/O
    assert on.totals["dram_read_bytes"] == 2 * 16 * 16 and on.totals["dram_write_bytes"] == 0


def test_nothing_is_written_to_a_read_only_flash():
    graph = chain(h=16, c=16, layers=3)
    report = simulate(graph, config(sram_kib=256, read_only=True, graph_io="onchip"))
    assert report.totals["dram_write_bytes"] == 0
    assert report.totals["dram_read_bytes"] == report.layers["weight_dram_bytes"].sum() == 3 * 16 * 16


def test_an_activation_that_does_not_fit_with_read_only_flash_is_a_mapping_error():
    graph = chain(h=64, c=16, layers=2)                          # 64 KiB activations
    with pytest.raises(MappingError, match=r"(?s)activation .*65,536 bytes.*'sram'.*'offchip' is read-only"):
        simulate(graph, config(sram_kib=96, read_only=True, graph_io="onchip"))


def test_ethos_u55_keeps_every_feature_map_in_sram_and_reads_only_weights_from_flash():
    """Vela's Shared_Sram mode [ref:Vela]: off-chip traffic = weights and their parameters, nothing written."""
    hw = load_hw(CONFIGS / "ethos_u55_256.yaml")
    assert hw.dram.read_only and hw.graph_io == "onchip"
    report = simulate("mobilenet_v2", hw)
    assert report.totals["dram_write_bytes"] == 0
    layers = report.layers
    assert layers["ifmap_dram_bytes"].sum() == 0 and layers["psum_dram_bytes"].sum() == 0
    assert np.isclose(report.totals["dram_read_bytes"],
                      (layers["weight_dram_bytes"] + layers["params_dram_bytes"]).sum())


def residual(h: int = 32, c: int = 16):
    """x -> conv a -> conv b -> add(a, b): the add may overwrite b (its only consumer) but not a (also read by b)."""
    bld = GraphBuilder("res")
    x = bld.input("x", (1, h, h, c), "int8", Q)
    w = [bld.constant(f"w{i}", None, "int8", QuantParams.per_tensor(0.01), shape=(c, 1, 1, c)) for i in range(2)]
    a = bld.conv2d(x, w[0], None, Q, padding="SAME", name="a")
    b = bld.conv2d(a, w[1], None, Q, padding="SAME", name="b")
    y = bld.add(a, b, Q, name="add")
    return bld.build([y])


def test_an_elementwise_op_writes_over_an_input_it_is_the_only_consumer_of():
    """Vela merges an elementwise op's ifm/ofm live ranges ([ref:Vela] live_range.py): the Add's output takes b's
    bytes, so at the Add only a and b are held (2 x 16 KiB), not three tensors."""
    graph = residual()
    size = 32 * 32 * 16
    hw = config(sram_kib=40, graph_io="onchip")
    plan = plan_residency(graph, hw, lambda node: 4096.0)
    assert {"a", "b"} <= {graph.nodes[i].outputs[0] for i in range(2)}
    assert plan.reserved_bytes["add"] == 2 * size            # a + b; the output overwrites b
    assert graph.outputs[0] in plan.resident
    # Without the overwrite the output would need a third 16 KiB at the Add: 48 KiB > 40 KiB - 4 KiB.
    assert 3 * size > 40 * 1024 - 4096
