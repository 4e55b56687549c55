"""Inter-layer weight prefetch (accelsim.timing.network): closed form and event model against hand-computed
schedules, against each other, and in simulate()."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.cli.main import main
from accelsim.config.hw import load_hw
from accelsim.graph.builder import GraphBuilder
from accelsim.hw.layer import layer_shape
from accelsim.mapping import Residency, map_layer
from accelsim.mapping.residency import plan_residency
from accelsim.quant.params import QuantParams
from accelsim.simulate import simulate
from accelsim.timing import TileRun, TileStep, event_latency_cycles, pipeline_latency_cycles, simulate_steps
from accelsim.timing.closed_form import dram_idle_cycles, prefetch_hidden_cycles, with_first_load_reduced
from accelsim.timing.events import simulate_network_steps
from accelsim.timing.network import (
    LayerPipeline,
    moved_cycles,
    network_closed_form,
    network_event,
    network_sequential,
    network_timing,
    prefetch_delay_cycles,
)
from accelsim.timing.pipeline import first_tile_weight_bytes, layer_pipeline, weight_room_bytes
from accelsim.workloads import load_workload

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"
Q = QuantParams.per_tensor(0.05, 0)


def steady(n: int, load: float, compute: float, scale: float, store: float) -> tuple[TileRun, ...]:
    return (TileRun(n, TileStep(load, compute, scale, store)),)


def two_layers(prev: tuple[TileRun, ...], nxt: tuple[TileRun, ...], prefetch: float, room: float):
    return (LayerPipeline(prev, 0.0, room), LayerPipeline(nxt, prefetch, 0.0))


# A next layer whose single tile loads 60 cycles, 50 of them weights: 60 + 300 + 0 + 40 = 400 cycles alone.
NEXT = steady(1, 60.0, 300.0, 0.0, 40.0)
NEXT_ALONE = 60.0 + 300.0 + 40.0


# ------------------------------------------------------------------------------------- closed-form pieces
def test_boundary_formula_is_the_smallest_of_load_idle_and_room():
    assert prefetch_hidden_cycles(50.0, 315.0, 1000.0) == 50.0      # load-limited
    assert prefetch_hidden_cycles(50.0, 12.0, 1000.0) == 12.0       # idle-limited
    assert prefetch_hidden_cycles(50.0, 315.0, 20.0) == 20.0        # room-limited
    assert prefetch_hidden_cycles(50.0, 0.0, 20.0) == 0.0


def test_idle_dram_cycles_of_a_compute_bound_pipeline():
    # 4 tiles: latency 10 + 4 x 100 + 5 + 20 = 435; the channel is busy 4 x (10 + 20) = 120 of them.
    assert dram_idle_cycles(steady(4, 10.0, 100.0, 5.0, 20.0)) == pytest.approx(435.0 - 120.0)
    # DRAM-bound: busy all the time.
    assert dram_idle_cycles(steady(3, 100.0, 10.0, 5.0, 100.0)) == pytest.approx(0.0)


def test_a_shorter_first_load_shortens_the_pipeline_by_as_much_in_both_models():
    for runs in (steady(5, 10.0, 100.0, 5.0, 20.0), steady(3, 100.0, 10.0, 5.0, 100.0),
                 steady(4, 10.0, 10.0, 100.0, 10.0)):
        reduced = with_first_load_reduced(runs, 7.0)
        assert pipeline_latency_cycles(reduced) == pytest.approx(pipeline_latency_cycles(runs) - 7.0)
        assert event_latency_cycles(reduced) == pytest.approx(event_latency_cycles(runs) - 7.0)


# ------------------------------------------------------------------------------------- the three regimes
@pytest.mark.parametrize("network", [network_closed_form, network_event])
def test_compute_bound_previous_layer_hides_the_whole_weight_load(network):
    # Previous: 1 tile, load 10, compute 400, store 20 -> 430 cycles, 400 of them DRAM-idle after its load.
    prev = steady(1, 10.0, 400.0, 0.0, 20.0)
    timing = network(two_layers(prev, NEXT, prefetch=50.0, room=1000.0))
    assert timing.hidden_cycles == (0.0, pytest.approx(50.0))
    assert timing.latency_cycles == (pytest.approx(430.0), pytest.approx(NEXT_ALONE - 50.0))
    assert timing.total_latency_cycles == pytest.approx(430.0 + NEXT_ALONE - 50.0)


@pytest.mark.parametrize("network", [network_closed_form, network_event])
def test_dram_bound_previous_layer_hides_nothing(network):
    # Previous: 3 tiles, load 100 + store 100 each, compute 10: the channel never idles (600 cycles).
    prev = steady(3, 100.0, 10.0, 5.0, 100.0)
    timing = network(two_layers(prev, NEXT, prefetch=50.0, room=1000.0))
    assert timing.hidden_cycles[1] == pytest.approx(0.0, abs=1e-9)
    assert timing.total_latency_cycles == pytest.approx(600.0 + NEXT_ALONE)


@pytest.mark.parametrize("network", [network_closed_form, network_event])
def test_room_limits_the_prefetch(network):
    # Same compute-bound previous layer, but only 20 cycles' worth of bytes free in the weight level.
    prev = steady(1, 10.0, 400.0, 0.0, 20.0)
    timing = network(two_layers(prev, NEXT, prefetch=50.0, room=20.0))
    assert timing.hidden_cycles[1] == pytest.approx(20.0)
    assert timing.total_latency_cycles == pytest.approx(430.0 + NEXT_ALONE - 20.0)


@pytest.mark.parametrize("network", [network_closed_form, network_event])
def test_idle_limited_single_tile_previous_layer(network):
    # Previous: load 10, compute 50, store 30 (90 cycles; 50 idle). A 60-cycle prefetch: 50 hidden. In the event
    # model the prefetch holds the channel 10..70, the store waits from 60 to 70: the previous layer takes 100.
    prev = steady(1, 10.0, 50.0, 0.0, 30.0)
    nxt = steady(1, 70.0, 300.0, 0.0, 40.0)
    timing = network(two_layers(prev, nxt, prefetch=60.0, room=1000.0))
    assert timing.hidden_cycles[1] == pytest.approx(50.0)
    assert timing.total_latency_cycles == pytest.approx(90.0 + 410.0 - 50.0)
    if network is network_event:
        assert timing.latency_cycles == (pytest.approx(100.0), pytest.approx(410.0 - 60.0))


# ------------------------------------------------------------------------------------- where they differ
def test_in_order_load_queue_only_uses_the_idle_time_after_the_last_load():
    """The event model earns its place: the read DMA issues the next layer's weights after the current layer's
    own last load (one in-order queue), so the DRAM idle time *between* loads is lost to the prefetch.

    Previous layer: 10 tiles, load 10, compute 100. Closed form: latency 10 + 1000 = 1010, 910 idle DRAM
    cycles, so a 500-cycle prefetch hides entirely. Event model: with two input slots the last load (tile 9)
    runs 810..820 (each load k >= 2 starts when compute k - 2 ends, at 100 (k - 1) + 10); the prefetch then
    holds the channel 820..1320, past the last compute (910..1010): the previous layer ends at 1320, so only
    1010 - 820 = 190 cycles are hidden."""
    prev = steady(10, 10.0, 100.0, 0.0, 0.0)
    nxt = steady(1, 600.0, 1000.0, 0.0, 0.0)
    layers = two_layers(prev, nxt, prefetch=500.0, room=10_000.0)
    closed, event = network_closed_form(layers), network_event(layers)
    assert closed.hidden_cycles[1] == pytest.approx(500.0)
    assert event.hidden_cycles[1] == pytest.approx(1010.0 - 820.0)
    assert event.latency_cycles[0] == pytest.approx(1320.0)
    assert event.total_latency_cycles - closed.total_latency_cycles == pytest.approx(500.0 - 190.0)


def test_store_waiting_behind_the_prefetch_delays_the_layer_that_stores():
    """FCFS contention between the previous layer's stores and the prefetch, computed by hand.

    Previous: 2 tiles, load 10, compute 50, store 60. Alone (event): loads 0..10, 10..20; compute 10..60,
    60..110; store 0 60..120, store 1 waits for the channel, 120..180 -> 180 cycles, 40 of them DRAM-idle.
    With a 45-cycle prefetch behind the last load (20..65), store 0 runs 65..125 and store 1 125..185: the
    layer ends 5 cycles later, so 40 of the 45 moved cycles are hidden. The closed form's bound is 170 (it
    lets store 1 follow compute 1 at once), so it sees only 30 idle cycles and hides 30."""
    prev = steady(2, 10.0, 50.0, 0.0, 60.0)
    assert event_latency_cycles(prev) == pytest.approx(180.0)
    assert event_latency_cycles(prev, 45.0) == pytest.approx(185.0)
    assert pipeline_latency_cycles(prev) == pytest.approx(170.0)
    layers = two_layers(prev, NEXT, prefetch=45.0, room=10_000.0)
    event, closed = network_event(layers), network_closed_form(layers)
    assert event.hidden_cycles[1] == pytest.approx(40.0)
    assert closed.hidden_cycles[1] == pytest.approx(30.0)
    assert event.latency_cycles == (pytest.approx(185.0), pytest.approx(NEXT_ALONE - 45.0))


# ------------------------------------------------------------------------------------- properties
stage = st.sampled_from([0.0, 1.0, 3.0, 10.0, 30.0, 100.0])


@settings(max_examples=60, deadline=None)
@given(first_load=stage, load=stage, compute=stage, scale=stage, store=stage, n=st.integers(1, 40),
       prefetch=st.sampled_from([1.0, 10.0, 50.0, 300.0]))
def test_collapsed_runs_with_a_prefetch_equal_the_full_event_simulation(first_load, load, compute, scale, store,
                                                                         n, prefetch):
    runs = (TileRun(1, TileStep(first_load, compute, scale, store)), TileRun(n, TileStep(load, compute, scale, store)))
    full = simulate_steps((runs[0].step,) + (runs[1].step,) * n, prefetch)
    assert event_latency_cycles(runs, prefetch) == pytest.approx(full, rel=1e-12, abs=1e-9)


near = st.sampled_from([40.0, 45.0, 50.0, 55.0, 60.0, 100.0])


@settings(max_examples=60, deadline=None)
@given(first_load=near, load=st.sampled_from([5.0, 10.0, 20.0]), compute=near, scale=near, store=near,
       n=st.integers(1, 60), prefetch=st.sampled_from([5.0, 45.0, 120.0, 1000.0]))
def test_collapsed_prefetch_runs_equal_the_full_simulation_near_balance(first_load, load, compute, scale, store, n,
                                                                        prefetch):
    """Stage times close to each other (long transients): the tail-delay shortcut or its fallback is exact."""
    runs = (TileRun(1, TileStep(first_load, compute, scale, store)), TileRun(n, TileStep(load, compute, scale, store)))
    full = simulate_steps((runs[0].step,) + (runs[1].step,) * n, prefetch)
    assert event_latency_cycles(runs, prefetch) == pytest.approx(full, rel=1e-12, abs=1e-9)


def test_prefetch_collapse_is_not_fooled_by_a_shrinking_tail_delay():
    """Scale-bound (60) turning DRAM-bound (20 + 45) after a few tiles: with a 300-cycle prefetch the increments
    equal the bottleneck period from 4 tiles on while the prefetch's delay still shrinks (290, 295, 300, then 285
    from 7 tiles on). Extrapolating from the increments gave 920 cycles instead of the simulated 905."""
    first, step = TileStep(50.0, 40.0, 60.0, 45.0), TileStep(20.0, 40.0, 60.0, 45.0)
    for n in (6, 7, 12, 40):
        runs = (TileRun(1, first), TileRun(n, step))
        assert event_latency_cycles(runs, 300.0) == pytest.approx(simulate_steps((first,) + (step,) * n, 300.0),
                                                                  rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(first_load=stage, load=stage, compute=stage, scale=stage, store=stage, n=st.integers(0, 20),
       moved=st.sampled_from([0.0, 0.5, 1.0]), prefetch=st.sampled_from([0.0, 1.0, 10.0, 50.0, 300.0]))
def test_prefetch_delay_is_the_simulated_growth_and_ignores_a_shorter_first_load(first_load, load, compute, scale,
                                                                                 store, n, moved, prefetch):
    """prefetch_delay_cycles (one-tile closed form, otherwise the collapsed simulation) equals the growth of the
    full simulation, also for the pipeline whose first load was shortened by a share of itself."""
    runs = (TileRun(1, TileStep(first_load, compute, scale, store)), TileRun(n, TileStep(load, compute, scale, store)))
    shorter = with_first_load_reduced(runs, moved * first_load)
    steps = tuple(step for run in shorter for step in (run.step,) * run.count)
    grown = simulate_steps(steps, prefetch) - simulate_steps(steps)
    assert prefetch_delay_cycles(runs, prefetch) == pytest.approx(grown, rel=1e-12, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(load=stage, compute=stage, scale=stage, store=stage, n=st.integers(1, 12),
       prefetch=st.sampled_from([0.0, 5.0, 50.0, 500.0]), room=st.sampled_from([0.0, 20.0, 1e9]))
def test_overlap_never_costs_and_hides_at_most_the_idle_dram_time(load, compute, scale, store, n, prefetch,
                                                                    room):
    """In both models the hidden cycles lie between 0 and min(moved load, the previous layer's idle DRAM cycles
    in that model), and the network latency is the sequential one minus them."""
    prev = steady(n, load, compute, scale, store)
    layers = two_layers(prev, NEXT, prefetch=min(prefetch, 60.0), room=room)
    moved = moved_cycles(layers)[1]
    busy = n * (load + store)
    for model, idle in (("event", event_latency_cycles(prev) - busy), ("closed_form", dram_idle_cycles(prev))):
        seq, timing = network_sequential(layers, model), network_timing(layers, model)
        assert -1e-9 <= timing.hidden_cycles[1] <= min(moved, idle) + 1e-9
        assert timing.total_latency_cycles == pytest.approx(seq.total_latency_cycles - timing.hidden_cycles[1])


@pytest.mark.parametrize("network", [network_closed_form, network_event])
def test_only_the_first_load_can_move(network):
    # A prefetch claim larger than the next layer's first load (60 cycles) moves 60 at most.
    prev = steady(1, 10.0, 400.0, 0.0, 20.0)
    timing = network(two_layers(prev, NEXT, prefetch=500.0, room=1e9))
    assert timing.hidden_cycles[1] == pytest.approx(60.0)


def test_free_ops_are_transparent_and_the_first_layer_hides_nothing():
    prev = steady(1, 10.0, 400.0, 0.0, 20.0)
    layers = (LayerPipeline(prev, 30.0, 1000.0), LayerPipeline((), 0.0, 0.0), LayerPipeline(NEXT, 50.0, 0.0))
    assert moved_cycles(layers) == (0.0, 0.0, 50.0)
    for model in ("event", "closed_form"):
        timing = network_timing(layers, model)
        assert timing.hidden_cycles == (0.0, 0.0, pytest.approx(50.0))
        assert timing.latency_cycles[1] == 0.0
        off = network_timing(layers, model, prefetch=False)
        assert off.hidden_cycles == (0.0, 0.0, 0.0)
        assert off.total_latency_cycles == pytest.approx(430.0 + NEXT_ALONE)


def whole_network_reference(layers: tuple[LayerPipeline, ...]) -> tuple[float, ...]:
    """Per-layer latencies of the network simulated in one simpy environment, every tile expanded."""
    moved = moved_cycles(layers)
    timed = [i for i, layer in enumerate(layers) if layer.runs]
    after = {i: moved[j] for i, j in zip(timed, timed[1:])}
    expanded = tuple((tuple(step for run in with_first_load_reduced(layer.runs, moved[i])
                            for step in (run.step,) * run.count), after.get(i, 0.0))
                     for i, layer in enumerate(layers))
    ends = simulate_network_steps(expanded)
    return tuple(end - start for start, end in zip((0.0,) + ends[:-1], ends))


layer_strategy = st.builds(
    lambda first, load, compute, scale, store, n, share, room: LayerPipeline(
        (TileRun(1, TileStep(first, compute, scale, store)), TileRun(n, TileStep(load, compute, scale, store))),
        share * first, room),
    first=stage, load=stage, compute=stage, scale=stage, store=stage, n=st.integers(0, 15),
    share=st.sampled_from([0.0, 0.5, 1.0]), room=st.sampled_from([0.0, 5.0, 1e9]))


@settings(max_examples=40, deadline=None)
@given(layers=st.lists(st.one_of(layer_strategy, st.just(LayerPipeline(()))), min_size=1, max_size=5))
def test_composed_event_network_equals_one_whole_network_simulation(layers):
    """network_event (collapsed single-layer simulations composed per boundary) against one simpy run of the
    whole network with every tile expanded."""
    layers = tuple(layers)
    assert network_event(layers).latency_cycles == pytest.approx(whole_network_reference(layers), rel=1e-12,
                                                                 abs=1e-9)


def test_composed_event_network_equals_one_whole_network_simulation_on_resnet18_tpu():
    hw = load_hw(CONFIGS / "tpu_v1.yaml")
    graph = load_workload("resnet_18", quant={"per_channel": False})
    plan = plan_residency(graph, hw)
    layers = []
    for node in graph.nodes:
        reserved = plan.reserved_bytes[node.name]
        mapping = map_layer(layer_shape(graph, node), hw, residency=plan.residency(graph, node),
                            reserved_bytes=reserved)
        layers.append(layer_pipeline(mapping, hw, reserved))
    layers = tuple(layers)
    reference = whole_network_reference(layers)
    assert network_event(layers).latency_cycles == pytest.approx(reference, rel=1e-12)
    assert sum(network_event(layers).hidden_cycles) > 0


# ------------------------------------------------------------------------------------- per-layer inputs
def test_first_tile_weights_and_room_of_a_depthwise_layer_on_a_unified_l2():
    """HVX 690: a 3x3 depthwise conv, 96 channels, per-channel int8 weights with int32 biases. The first tile's
    weights are its output channels x 9 taps x 1 byte plus 4 + 5 bytes of bias, multiplier and shift per channel;
    the room is the 1 MiB L2 minus two tile sets (double buffered) minus the resident activations."""
    b = GraphBuilder("dw")
    x = b.input("x", (1, 112, 112, 96), "int8", Q)
    w = b.constant("w", None, "int8", QuantParams.per_channel(np.full(96, 0.01), 0, axis=0), shape=(96, 3, 3, 1))
    bias = b.constant("b", None, "int32", QuantParams.per_channel(np.full(96, 5e-4), 0, axis=0), shape=(96,))
    graph = b.build([b.conv2d(x, w, bias, Q, padding="SAME", groups=96, name="dw")])
    hw = load_hw(CONFIGS / "hvx_690.yaml")
    resident = 100_000.0
    mapping = map_layer(layer_shape(graph, graph.nodes[0]), hw, residency=Residency(), reserved_bytes=resident)
    tiling = mapping.dram
    assert tiling.num_tiles > 1 and tiling.tile_out_channels < 96
    assert first_tile_weight_bytes(mapping, hw) == pytest.approx(tiling.tile_out_channels * (9 * 1 + 4 + 5))
    assert weight_room_bytes(mapping, hw, resident) == pytest.approx(
        1024 * 1024 - 2 * tiling.tile_bytes_per_level["l2"] - resident)
    pipeline = layer_pipeline(mapping, hw, resident)
    assert pipeline.prefetch_cycles == pytest.approx(first_tile_weight_bytes(mapping, hw) / hw.dram_bytes_per_cycle)


def test_compressed_weights_prefetch_their_stored_bytes():
    """With a codec the first tile's weights move at the stored (compressed) width."""
    hw = load_hw(CONFIGS / "tpu_v1.yaml")
    graph = conv_chain(28, (128, 128))
    layer = layer_shape(graph, graph.nodes[0])
    plain = map_layer(layer, hw)
    half = map_layer(layer, hw, compressed_weight_bytes=layer.weight_bytes / 2, codec="test")
    assert half.dram.tile_out_channels == plain.dram.tile_out_channels
    expected = half.dram.tile_out_channels * 9 * half.dram.tile_in_channels / 2 + half.dram.tile_out_channels * 4
    assert first_tile_weight_bytes(half, hw) == pytest.approx(expected)


# ------------------------------------------------------------------------------------- simulate()
def conv_chain(h: int, channels: tuple[int, ...], kernel: int = 3):
    """3x3 SAME convolutions channels[0] -> channels[1] -> ... on an h x h int8 input, each with an int32 bias."""
    b = GraphBuilder("conv_chain")
    x = b.input("x", (1, h, h, channels[0]), "int8", Q)
    for i, (c, k) in enumerate(zip(channels, channels[1:])):
        w = b.constant(f"w{i}", None, "int8", QuantParams.per_tensor(0.01), shape=(k, kernel, kernel, c))
        bias = b.constant(f"b{i}", None, "int32", QuantParams.per_tensor(0.0005), shape=(k,))
        x = b.conv2d(x, w, bias, Q, padding="SAME", name=f"conv{i}")
    return b.build([x])


def test_simulate_prefetch_against_the_closed_form_from_report_columns():
    """TPU v1, three ResNet-like 3x3 convolutions at 56 x 56 (compute-bound, activations resident in the
    Unified Buffer). Hidden cycles of each layer after the first, recomputed from the prefetch-off report:
    min(its first tile's weights + biases / B, the previous layer's latency - its DRAM bytes / B, the weight
    FIFO's free room while the previous layer runs / B), B = 34 GB/s at 700 MHz ([ref:Jouppi17])."""
    hw = load_hw(CONFIGS / "tpu_v1.yaml")
    graph = conv_chain(56, (64, 64, 64, 128))
    off = simulate(graph, hw, timing_model="closed_form", prefetch=False).layers
    on = simulate(graph, hw, timing_model="closed_form").layers
    bpc = 34e9 / 700e6

    def tile_weight_bytes(row):                       # int8 3x3 weights + int32 bias of one (K, C) tile
        return row.tile_out_channels * 9 * row.tile_in_channels + row.tile_out_channels * 4

    for i in (1, 2):
        prev, layer = off.iloc[i - 1], off.iloc[i]
        idle = prev.latency_cycles - (prev.dram_read_bytes + prev.dram_write_bytes) / bpc
        room = 256 * 1024 - min(2, prev.num_tiles) * tile_weight_bytes(prev)      # 256 KiB weight FIFO
        expected = min(tile_weight_bytes(layer) / bpc, idle, room / bpc)
        assert expected > 300
        assert on.prefetch_hidden_cycles.iloc[i] == pytest.approx(expected)
        assert on.latency_cycles.iloc[i] == pytest.approx(layer.latency_cycles - expected)
    assert on.latency_cycles.iloc[0] == pytest.approx(off.latency_cycles.iloc[0])


@pytest.mark.parametrize("timing_model", ["event", "closed_form"])
def test_simulate_totals_are_the_overlapped_schedule(timing_model):
    hw = load_hw(CONFIGS / "tpu_v1.yaml")
    graph = conv_chain(28, (128, 128, 256, 256))
    on = simulate(graph, hw, timing_model=timing_model)
    off = simulate(graph, hw, timing_model=timing_model, prefetch=False)
    assert off.totals["prefetch_hidden_cycles"] == 0.0
    assert (off.layers.prefetch_hidden_cycles == 0).all()
    assert on.totals["prefetch_hidden_cycles"] > 0
    assert on.totals["latency_cycles"] == pytest.approx(on.layers.latency_cycles.sum())
    assert on.totals["latency_cycles"] == pytest.approx(
        off.totals["latency_cycles"] - on.totals["prefetch_hidden_cycles"])
    assert on.layers.prefetch_hidden_cycles.iloc[0] == 0.0          # nothing runs before the first layer
    assert on.metadata["prefetch"] is True and off.metadata["prefetch"] is False


def test_scalesim_mode_times_layers_alone():
    hw = load_hw(CONFIGS / "scalesim_32x32_ws.yaml")
    report = simulate(conv_chain(28, (32, 32, 32)), hw, scalesim_compat=True)
    assert report.metadata["prefetch"] is False
    assert report.totals["prefetch_hidden_cycles"] == 0.0


def test_cli_no_prefetch_flag(tmp_path):
    import json

    on, off = tmp_path / "on.json", tmp_path / "off.json"
    args = ["run", str(CONFIGS / "tpu_v1.yaml"), "resnet_18", "--quant", "per_channel=false", "-q"]
    assert main(args + ["--json", str(on)]) == 0
    assert main(args + ["--no-prefetch", "--json", str(off)]) == 0
    t_on, t_off = json.loads(on.read_text())["totals"], json.loads(off.read_text())["totals"]
    assert t_off["prefetch_hidden_cycles"] == 0.0 < t_on["prefetch_hidden_cycles"]
    assert t_on["latency_cycles"] == pytest.approx(t_off["latency_cycles"] - t_on["prefetch_hidden_cycles"])


def test_activation_residency_leaves_less_room_on_a_unified_buffer():
    """HVX stages weights and activations in the same L2: resident activations shrink the room for the next
    layer's weights, so the hidden cycles never exceed what the free L2 holds."""
    hw = load_hw(CONFIGS / "hvx_690.yaml")
    report = simulate("mobilenet_v2", hw, timing_model="closed_form")
    hidden = report.layers.prefetch_hidden_cycles.to_numpy()
    assert (hidden >= 0).all() and hidden.sum() > 0
    assert np.all(hidden <= 1024 * 1024 / hw.dram_bytes_per_cycle)
