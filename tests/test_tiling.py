"""Tile search: per-operand traffic against an independent loop-nest walk, loads-once vs refetch, capacity."""
from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from accelsim.config.hw import load_hw
from accelsim.errors import MappingError
from accelsim.hw.layer import LayerShape
from accelsim.hw.memory import memory_system
from accelsim.mapping.tiling import LOOP_ORDERS, OperandBytes, candidate_sizes, search_tiling

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"
WIDTHS = OperandBytes(weight=1.0, activation=1.0, output=1.0, accumulator=4.0, params_per_channel=0.0)


def conv(h=16, w=16, c=64, k=64, kernel=1, stride=1, batch=1) -> LayerShape:
    oh = (h - kernel) // stride + 1
    return LayerShape(batch, h, w, c, oh, (w - kernel) // stride + 1, k, kernel, kernel,
                      stride, stride, weight_bits=8, name="conv", kind="Conv2D")


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
    dw = layer.is_depthwise
    n_r = math.ceil(layer.batch / tb) * math.ceil(layer.out_h / tr)
    trips = {"R": n_r, "K": math.ceil(layer.out_channels / tk), "C": math.ceil(layer.in_channels / tc)}
    relevant = {"w": {"K", "C"}, "i": {"R", "C"}, "o": {"R", "K"}}
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
            return extent("K", k) * extent("C", c) * layer.kernel_h * layer.kernel_w
        if op == "i":
            band = min((rows - 1) * layer.stride_h + layer.kernel_h, layer.in_h)
            return images * band * layer.in_w * extent("C", c)
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
        keys = {"w": (None, at["K"], at["C"]), "i": (at["R"], None, at["C"]), "o": (at["R"], at["K"], None)}
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
                                   conv(7, 7, 512, 512, 3, batch=8)])
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
