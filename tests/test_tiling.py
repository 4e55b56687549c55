"""Tile search: per-operand traffic against an independent loop-nest walk, loads-once vs refetch, capacity."""
from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from accelsim.config.hw import load_hw
from accelsim.errors import MappingError
from accelsim.hw.layer import LayerShape
from accelsim.hw.memory import memory_system, staging_depths
from accelsim.mapping.tiling import (
    DIMS,
    LOOP_ORDERS,
    OBJECTIVES,
    OperandBytes,
    Residency,
    candidate_sizes,
    held_span_masks,
    held_spans,
    psum_spill_bytes,
    refetch_factor,
    refetch_factors,
    search_tiling,
)

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"
WIDTHS = OperandBytes(weight=1.0, activation=1.0, output=1.0, accumulator=4.0, params_per_channel=0.0)


def conv(h=16, w=16, c=64, k=64, kernel=1, stride=1, batch=1) -> LayerShape:
    oh = (h - kernel) // stride + 1
    return LayerShape(batch, h, w, c, oh, (w - kernel) // stride + 1, k, kernel, kernel,
                      stride, stride, weight_bits=8, name="conv", kind="Conv2D")


def depthwise(h=56, w=56, c=144, kernel=3, stride=1, batch=1) -> LayerShape:
    oh = (h - kernel) // stride + 1
    return LayerShape(batch, h, w, c, oh, (w - kernel) // stride + 1, c, kernel, kernel, stride, stride,
                      groups=c, weight_bits=8, name="dw", kind="Conv2D")


def scratchpad(size_kib: float):
    """A config with one unified SRAM of ``size_kib`` and a 16 B/cycle DRAM."""
    hw = load_hw(CONFIGS / "scalesim_32x32_ws.yaml")
    data = hw.model_dump(mode="python")
    data["memories"] = {"buf": {"kind": "sram", "size_kib": size_kib, "bytes_per_cycle": 64},
                        "dram": {"kind": "dram", "bandwidth_gb_s": 16.0, "dram_type": "lpddr4"}}
    data["clock_mhz"] = 1000
    from accelsim.config.hw import validate_hw

    return validate_hw(data, "")


def walk_loop_nest(layer: LayerShape, order: tuple[str, str, str], tr: int, tk: int, tc: int, tb: int = 1,
                   held: tuple[str, ...] = ()) -> dict[str, float]:
    """Bytes loaded per operand by literally walking the tile loop nest, and the most bytes each operand ever
    keeps in the buffer. An operand not in ``held`` keeps one tile; a held one keeps every tile it touched since
    a loop outside its reuse loop (the outermost loop with > 1 trip it does not depend on) last advanced. A tile
    not in the buffer is loaded; an output tile revisited before its reduction is complete is read back (partial
    sums) and every output tile leaving the buffer is written (partial sums at accumulator width, final outputs
    at output width). Independent of the analytic rules under test."""
    dw = layer.is_depthwise            # input channel c feeds output channel c only: C is tied to K
    n_r = math.ceil(layer.batch / tb) * math.ceil(layer.out_h / tr)
    trips = {"R": n_r, "K": math.ceil(layer.out_channels / tk), "C": 1 if dw else math.ceil(layer.in_channels / tc)}
    relevant = ({"w": {"K"}, "i": {"R", "K"}, "o": {"R", "K"}} if dw
                else {"w": {"K", "C"}, "i": {"R", "C"}, "o": {"R", "K"}})
    bands = math.ceil(layer.out_h / tr)

    def rows_of(r):            # (images, output rows per image) of row tile r
        g, b = divmod(r, bands)
        return min(tb, layer.batch - g * tb), min(tr, layer.out_h - b * tr)

    def extent(dim, i):
        total, t = {"K": (layer.out_channels, tk), "C": (layer.in_channels, tc)}[dim]
        return min(t, total - i * t)

    def tile_bytes(op, key):
        r, k, c = key
        images, rows = rows_of(r) if r is not None else (0, 0)
        if op == "w":
            return extent("K", k) * (1 if dw else extent("C", c)) * layer.kernel_h * layer.kernel_w
        if op == "i":
            band = min((rows - 1) * layer.stride_h + layer.kernel_h, layer.in_h)
            return images * band * layer.in_w * (extent("K", k) if dw else extent("C", c))
        return images * rows * layer.out_w * extent("K", k)

    names = {"w": "weights", "i": "inputs", "o": "outputs"}
    hold_loop = {}
    for op in "wio":
        outer = [d for d in order if d not in relevant[op] and trips[d] > 1]
        hold_loop[op] = order.index(outer[0]) if names[op] in held and outer else None
    buffer = {op: {} for op in "wio"}
    loads = {"w": 0.0, "i": 0.0, "psum_read": 0.0, "out": 0.0}
    peak = {op: 0.0 for op in "wio"}
    reduced: dict[tuple, int] = {}        # output tile -> input-channel tiles accumulated so far
    previous = None

    def evict_output(key):
        done = reduced[key] == trips["C"]
        loads["out"] += tile_bytes("o", key) * (WIDTHS.output if done else WIDTHS.accumulator)

    for idx in itertools.product(*(range(trips[d]) for d in order)):
        at = dict(zip(order, idx))
        keys = {"w": (None, at["K"], at["C"]), "i": (at["R"], at["K"] if dw else None, at["C"]),
                "o": (at["R"], at["K"], None)}
        for op in "wio":
            level = hold_loop[op]
            flush = previous is not None and level is not None and idx[:level] != previous[:level]
            single = level is None and keys[op] not in buffer[op]
            if flush or single:
                if op == "o":
                    for key in buffer[op]:
                        evict_output(key)
                buffer[op] = {}
            if keys[op] not in buffer[op]:
                nbytes = tile_bytes(op, keys[op])
                if op == "w":
                    loads["w"] += nbytes
                elif op == "i":
                    loads["i"] += nbytes
                elif reduced.get(keys[op], 0):
                    loads["psum_read"] += nbytes * WIDTHS.accumulator
                buffer[op][keys[op]] = nbytes
        reduced[keys["o"]] = reduced.get(keys["o"], 0) + 1
        for op in "wio":
            width = 1.0 if op != "o" else (WIDTHS.accumulator if trips["C"] > 1 else WIDTHS.output)
            peak[op] = max(peak[op], sum(buffer[op].values()) * width)
        previous = idx
    for key in buffer["o"]:
        evict_output(key)
    loads["peak"] = peak
    return loads


@pytest.mark.parametrize("size_kib", [512, 64, 24, 8])
@pytest.mark.parametrize("layer", [conv(), conv(32, 32, 128, 256, kernel=3), conv(16, 16, 256, 512),
                                   conv(8, 8, 512, 64, 3), conv(1, 1, 1024, 1024, batch=64),
                                   conv(7, 7, 512, 512, 3, batch=8), depthwise(56, 56, 144, 3, 1, batch=2),
                                   depthwise(112, 112, 96, 3, 2)])
def test_traffic_matches_a_literal_walk_of_the_chosen_loop_nest(layer, size_kib):
    hw = scratchpad(size_kib)
    try:
        t = search_tiling(layer, memory_system(hw, 0), WIDTHS, compute_cycles=layer.macs / 1024)
    except MappingError:
        pytest.skip("no tile set fits")
    ref = walk_loop_nest(layer, LOOP_ORDERS[t.loop_order], t.tile_rows, t.tile_out_channels, t.tile_in_channels,
                         t.tile_images, t.held_operands)
    assert t.weight_fill_bytes == pytest.approx(ref["w"])
    assert t.ifmap_fill_bytes == pytest.approx(ref["i"])
    assert t.psum_fill_bytes == pytest.approx(ref["psum_read"])
    assert t.ofmap_drain_bytes == pytest.approx(ref["out"])
    # the footprints the search reserved hold what the walk keeps, within half the SRAM (double buffering)
    assert sum(ref["peak"].values()) <= t.tile_bytes_per_level["buf"] + 1e-6
    assert t.tile_bytes_per_level["buf"] <= size_kib * 1024 / 2


def test_weights_that_fit_are_loaded_once():
    layer = conv(32, 32, 64, 64, kernel=3)          # 36 KiB of weights
    t = search_tiling(layer, memory_system(scratchpad(256), 0), WIDTHS, compute_cycles=layer.macs / 1024)
    assert t.weight_refetch_factor == 1.0
    assert t.weight_fill_bytes == layer.weight_count


def test_weights_that_do_not_fit_are_refetched_by_the_closed_form_factor():
    # 64x64x256 input, 3x3 conv to 256 channels: 576 KiB of weights and 1 MiB of input; a 64 KiB buffer (32 KiB
    # usable) holds neither. A weight tile is reloaded every time a loop it does not depend on (R, the row
    # bands) advances around it, so the factor is the product of the R trips enclosing the innermost weight loop.
    layer = conv(64, 64, 256, 256, kernel=3)
    t = search_tiling(layer, memory_system(scratchpad(64), 0), WIDTHS, compute_cycles=layer.macs / 1024,
                      objective="dram_bytes")
    trips = {"R": math.ceil(layer.out_h / t.tile_rows), "K": math.ceil(256 / t.tile_out_channels),
             "C": math.ceil(256 / t.tile_in_channels)}
    order = LOOP_ORDERS[t.loop_order]
    innermost_weight_loop = max(i for i, d in enumerate(order) if d in "KC" and trips[d] > 1)
    factor = trips["R"] if order.index("R") < innermost_weight_loop else 1
    assert factor > 1
    assert t.weight_refetch_factor == factor
    assert t.weight_fill_bytes == pytest.approx(layer.weight_count * factor)


def test_dram_bytes_objective_never_moves_more_than_latency_objective():
    layer = conv(64, 64, 256, 256, kernel=3)
    mem = memory_system(scratchpad(64), 0)
    by_bytes = search_tiling(layer, mem, WIDTHS, layer.macs / 1024, objective="dram_bytes")
    by_latency = search_tiling(layer, mem, WIDTHS, layer.macs / 1024, objective="latency")
    assert by_bytes.boundary_bytes <= by_latency.boundary_bytes


def test_nothing_fits_is_a_mapping_error_naming_the_layer():
    layer = LayerShape(1, 3, 100000, 8, 1, 99998, 8, 3, 3, weight_bits=8, name="huge_row", kind="Conv2D")
    with pytest.raises(MappingError, match="huge_row"):
        search_tiling(layer, memory_system(scratchpad(8), 0), WIDTHS, compute_cycles=1.0)


def test_candidate_sizes_are_multiples_of_the_granule_capped_at_the_extent():
    sizes = candidate_sizes(100, 32)
    assert sizes.max() == 100
    assert all(s % 32 == 0 or s == 100 for s in sizes)
    assert list(candidate_sizes(1, 1)) == [1]


# ------------------------------------------------------------------------------ loop-nest rules, closed forms
def test_refetch_factor_and_held_spans_follow_the_loop_order():
    # Order K > C > R with 2 K, 3 C and 4 R trips (one candidate).
    trips = {"R": np.array([4]), "K": np.array([2]), "C": np.array([3])}
    order = LOOP_ORDERS["KCR"]
    # weights {K, C}: their only irrelevant loop R is innermost -> loaded once
    assert refetch_factor(order, frozenset("KC"), trips)[0] == 1
    # ifmap {R, C}: K encloses C and R -> once per K trip
    assert refetch_factor(order, frozenset("RC"), trips)[0] == 2
    # outputs {R, K}: C encloses R -> each output tile is visited once per C trip
    assert refetch_factor(order, frozenset("RK"), trips)[0] == 3
    spans = held_spans(order, frozenset("RK"), trips)
    assert spans["R"][0] and not spans["K"][0]     # holding outputs across C spans all rows, one K tile
    spans = held_spans(order, frozenset("RC"), trips)
    assert spans["R"][0] and spans["C"][0]         # holding the ifmap across K spans everything


def test_vectorised_rules_equal_the_per_order_rules():
    rng = np.random.default_rng(0)
    trip_arr = rng.integers(1, 4, size=(3, 50))
    trips = dict(zip(DIMS, trip_arr))
    for relevant in (frozenset("KC"), frozenset("RC"), frozenset("RK"), frozenset("K")):
        factors, masks = refetch_factors(relevant, trip_arr), held_span_masks(relevant, trip_arr)
        for o, order in enumerate(LOOP_ORDERS.values()):
            assert (factors[o] == refetch_factor(order, relevant, trips)).all()
            for dim, mask in held_spans(order, relevant, trips).items():
                assert (masks[dim][o] == mask).all()


def test_psum_spill_bytes_closed_form():
    # 1000 outputs revisited 3 times (4 visits) at 4-byte accumulators: 3 x 4000 bytes written and read back
    assert psum_spill_bytes(1000, 4.0, np.array([4.0, 1.0])).tolist() == [12000.0, 0.0]


def test_partial_sums_stay_on_chip_when_the_output_footprint_fits():
    # 2.25 MiB of weights force the reduction (C) to be split in a 256 KiB buffer, but the 4x4x256 outputs at
    # 4-byte accumulators (16 KiB) fit: no partial sum leaves the buffer and every operand crosses DRAM once.
    layer = conv(4, 4, 1024, 256, kernel=3)
    t = search_tiling(layer, memory_system(scratchpad(256), 0), WIDTHS, compute_cycles=layer.macs / 1024)
    assert t.tile_in_channels < 1024
    assert t.psum_fill_bytes == 0 and t.psum_spill_bytes == 0
    unique = layer.weight_count + 4 * 4 * 1024 + layer.outputs      # 8-bit weights, ifmap and outputs
    assert t.boundary_bytes == pytest.approx(unique)


def test_partial_sums_spill_by_the_closed_form_when_they_do_not_fit():
    # 64 KiB buffer (32 KiB usable): 512 KiB of weights and 2 MiB of 32-bit partial sums fit nowhere; when the
    # search spills, the spill is one accumulator-width copy of the outputs per extra visit of each output tile.
    layer = conv(32, 32, 512, 512, kernel=1)
    for objective in OBJECTIVES:
        t = search_tiling(layer, memory_system(scratchpad(64), 0), WIDTHS, layer.macs / 1024, objective=objective)
        order = LOOP_ORDERS[t.loop_order]
        trips = {"R": math.ceil(32 / t.tile_rows), "K": math.ceil(512 / t.tile_out_channels),
                 "C": math.ceil(512 / t.tile_in_channels)}
        inner = order[order.index("C") + 1:]
        revisits = trips["C"] if "outputs" not in t.held_operands and any(trips[d] > 1 for d in inner) else 1
        assert t.psum_fill_bytes == layer.outputs * 4 * (revisits - 1)
        assert t.ofmap_drain_bytes == layer.outputs * 1 + t.psum_fill_bytes


def test_batch_inside_the_row_loop_lets_one_weight_tile_serve_every_image():
    # FC 1024 -> 1024 at batch 64 in a 256 KiB buffer: the 1 MiB weight matrix never fits, yet streaming the
    # batch inside each weight tile (inputs, 64 KiB, and 32-bit partial sums of a K tile held on chip) reads
    # every byte once: DRAM bytes = weights + inputs + outputs.
    layer = conv(1, 1, 1024, 1024, batch=64)
    t = search_tiling(layer, memory_system(scratchpad(256), 0), WIDTHS, compute_cycles=layer.macs / 1024)
    assert t.weight_refetch_factor == 1 and t.psum_spill_bytes == 0
    assert t.tile_images > 1 or LOOP_ORDERS[t.loop_order][-1] == "R"
    assert t.boundary_bytes == pytest.approx(1024 * 1024 + 64 * 1024 + 64 * 1024)


def tpu_fc(batch: int, features: int = 4096) -> LayerShape:
    return LayerShape(batch, 1, 1, features, 1, 1, features, 1, 1, weight_bits=8, name="fc",
                      kind="FullyConnected")


def test_tpu_partial_sums_live_in_the_accumulators_and_never_reach_dram():
    # Jouppi et al. ISCA 2017 §2 [ref:Jouppi17]: weights stream from DRAM through the 256 KiB weight FIFO,
    # activations come from the Unified Buffer, partial sums collect in the 4 MiB accumulators.
    hw = load_hw(CONFIGS / "tpu_v1.yaml")
    layer = tpu_fc(256)
    widths = OperandBytes(weight=1.0, activation=1.0, output=1.0, accumulator=4.0, params_per_channel=0.0)
    t = search_tiling(layer, memory_system(hw, 0), widths, compute_cycles=layer.macs / 65536,
                      channel_granule=256, reduction_granule=256)
    assert t.psum_fill_bytes == 0 and t.psum_spill_bytes == 0
    assert t.boundary_bytes == pytest.approx(4096 * 4096 + 2 * 256 * 4096)     # weights once, inputs, outputs
    levels = t.tile_bytes_per_level
    assert 0 < levels["accumulators"] <= 4 * 2**20 / 2           # 32-bit partial sums, double buffered
    assert levels["weight_fifo"] <= 256 * 1024 / 2
    # the Unified Buffer holds the ifmap tile and final outputs at 8 bits, not partial sums
    assert levels["unified_buffer"] < levels["accumulators"] + 256 * 4096


def test_sub_granule_tiles_only_when_no_granule_wide_tile_fits():
    # TPU v1 at W16A16: a 256 x 256 tile of 16-bit weights (+ bias) overflows half the 256 KiB weight FIFO, so
    # the smallest granule-wide tile does not fit: a narrower tile runs on part of the array instead of failing.
    hw = load_hw(CONFIGS / "tpu_v1.yaml")
    layer = LayerShape(1, 14, 14, 256, 7, 7, 512, 1, 1, 2, 2, weight_bits=16, activation_bits=16,
                       output_bits=16, bias_bits=32, name="layer4.0.downsample", kind="Conv2D")
    widths = OperandBytes(weight=2.0, activation=2.0, output=2.0, accumulator=4.0, params_per_channel=4.0)
    t = search_tiling(layer, memory_system(hw, 0), widths, compute_cycles=1000.0, channel_granule=256,
                      reduction_granule=256)
    assert t.array_use < 1
    assert t.array_use == pytest.approx(min(1, t.tile_out_channels / 256) * min(1, t.tile_in_channels / 256))
    assert t.tile_bytes_per_level["weight_fifo"] <= 128 * 1024
    small = search_tiling(dataclasses.replace(layer, weight_bits=8), memory_system(hw, 0),
                          dataclasses.replace(widths, weight=1.0), compute_cycles=1000.0, channel_granule=256,
                          reduction_granule=256)
    assert small.array_use == 1.0                 # 8-bit weights fit granule-wide tiles


def test_tpu_w16a16_resnet18_maps_every_layer():
    """Regression: tile granules rounded up to the full 256-wide array made layer4.0.downsample unmappable."""
    import warnings

    from accelsim import load_workload, simulate

    graph = load_workload("resnet_18", quant={"per_channel": False, "weight_bits": 16, "activation_bits": 16})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = simulate(graph, load_hw(CONFIGS / "tpu_v1.yaml"))
    row = report.layers.set_index("name").loc["layer4.0.downsample"]
    assert "of the array" in row["lowering"]
    assert row["compute_cycles"] > 0 and row["latency_cycles"] >= row["compute_cycles"]


@pytest.mark.parametrize("config", ["hvx_690", "tpu_v1", "gemmini_default", "eyeriss_v1", "bitfusion",
                                    "scalesim_32x32_ws"])
def test_pruning_never_changes_the_chosen_tiling(config):
    # Candidates are pruned by a bound before the hold choices are expanded; the bound is exact, so the search
    # with and without pruning must return the same tiling on any layer, boundary and objective.
    from accelsim.mapping.tiling import _search

    hw = load_hw(CONFIGS / f"{config}.yaml")
    rng = np.random.default_rng(1)
    layers = [conv(56, 56, 64, 64, 3), conv(14, 14, 256, 1024), conv(7, 7, 512, 512, 3, batch=4),
              conv(1, 1, 2048, 1000, batch=16), conv(28, 28, 192, 32, 1, 1),
              LayerShape(1, 112, 112, 96, 56, 56, 96, 3, 3, 2, 2, groups=96, weight_bits=8, name="dw",
                         kind="Conv2D")]
    for layer in layers:
        for depth in range(staging_depths(hw)):
            mem = memory_system(hw, depth)
            compute = float(layer.macs) / float(rng.choice([64, 1024, 65536]))
            residency = Residency(float(rng.choice([1.0, 0.5])), bool(rng.choice([False, True])))
            for objective in OBJECTIVES:
                args = (layer, mem, WIDTHS, compute, 16, 16, objective, residency)
                for relaxed in (False, True):
                    try:
                        fast = _search(*args, relaxed=relaxed)
                    except MappingError:
                        with pytest.raises(MappingError):
                            _search(*args, relaxed=relaxed, prune=False)
                        continue
                    assert fast == _search(*args, relaxed=relaxed, prune=False)


def test_spilled_partial_sums_are_charged_to_the_level_that_holds_them():
    # TPU v1 at the DRAM boundary: a spill leaves from (and returns to) the accumulators; final outputs leave from
    # the Unified Buffer; weights fill the weight FIFO; DRAM is the source of every fill and sink of every drain.
    from accelsim.mapping import _charge_boundary
    from accelsim.mapping.tiling import Tiling

    hw = load_hw(CONFIGS / "tpu_v1.yaml")
    mem = memory_system(hw, 0)
    t = Tiling("KCR", 1, 256, 256, 4, weight_fill_bytes=100.0, ifmap_fill_bytes=20.0, ofmap_drain_bytes=7.0 + 50.0,
               psum_fill_bytes=50.0, params_fill_bytes=1.0, first_tile_load_bytes=0.0, weight_refetch_factor=1.0,
               tile_bytes_per_level={}, psum_spill_bytes=50.0)
    reads = {name: 0.0 for name in hw.onchip_levels()}
    writes = dict(reads)
    _charge_boundary(mem, t, reads, writes)
    assert writes == {"weight_fifo": 101.0, "accumulators": 50.0, "unified_buffer": 20.0}
    assert reads == {"weight_fifo": 0.0, "accumulators": 50.0, "unified_buffer": 7.0}
