"""Tile search and DRAM/SRAM traffic per operand.

A layer is a loop nest over three tiled dimensions: output rows ``R`` (per image; the batch is an outer loop of
``R``), output channels ``K`` and input channels ``C`` (depthwise and non-MAC ops tie ``C`` to ``K``). A
candidate is a tile size per dimension plus one of three loop orders (outermost first):

* ``rows_outer``    ``R > K > C``: the ifmap row band stays while all output channels are produced;
* ``channels_outer`` ``K > R > C``: a weight block stays while every row band streams through;
* ``weights_outer``  ``K > C > R``: a (K, C) weight tile stays for every row band; partial sums spill when C is split.

Analytic traffic (the classic loop-nest reuse rule, e.g. Yang et al., "Interstellar", ASPLOS 2020 §4): an operand
tile is fetched again whenever a loop it depends on advances, so its DRAM traffic is its unique bytes times the
trip counts of the loops it does *not* depend on that sit outside its innermost dependent loop. Outputs split
over ``C`` with ``C`` outside ``R``/``K`` spill partial sums (accumulator width) to DRAM and read them back.
A tile set must fit in half of each buffer level when double buffered. When the whole weight tensor fits (with
the other operands' tiles), only candidates that load the weights once compete. Among the fitting candidates the
search minimises the objective (``latency`` then DRAM bytes, or ``dram_bytes`` then latency) with the ranking
estimate ``max(compute, bytes / B) + (first tile load + last tile store) / B`` (``B`` = source bytes/cycle;
``docs/model.md`` §4). It is a proxy, not the pipeline model of :mod:`accelsim.timing` that prices the chosen
tiling: when the layer is DRAM-bound it counts the first load and last store on top of the bytes they are part
of, so it leans towards smaller first and last tiles a little more than the pipeline would.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from accelsim.errors import MappingError
from accelsim.hw.layer import LayerShape
from accelsim.hw.memory import MemorySystem, ceil_div

LOOP_ORDERS: dict[str, tuple[str, str, str]] = {
    "rows_outer": ("R", "K", "C"),
    "channels_outer": ("K", "R", "C"),
    "weights_outer": ("K", "C", "R"),
}
#: What a tiling search ranks first: latency (then DRAM bytes) or DRAM bytes (then latency).
TilingObjective = Literal["latency", "dram_bytes"]
OBJECTIVES: tuple[str, ...] = get_args(TilingObjective)

#: Bytes per output channel of requantization parameters with per-channel scales: a 32-bit multiplier and an
#: 8-bit shift (TFLite QuantizeMultiplier form, docs/arithmetic.md).
SCALE_BYTES_PER_CHANNEL = 5
#: Candidates whose primary objective is within this relative margin of the best count as equal and are ranked
#: by the secondary objective, then by fewer tiles (fewer DMA descriptors and pipeline restarts, which the
#: model does not cost; without this the search would shave fill/drain cycles with needlessly tiny tiles).
TIE_TOLERANCE = 0.02


@dataclass(frozen=True)
class OperandBytes:
    """Widths the tiler needs, in bytes per element (weights may be compressed: ``weight_bytes_per_elem`` is the
    stored width times the compression ratio)."""

    weight: float
    activation: float
    output: float
    accumulator: float
    params_per_channel: float   # bias + per-channel scale bytes per output channel


@dataclass(frozen=True)
class Residency:
    """Where a layer's activations live between layers: ``inputs_from_dram`` is the share (0..1) of its
    activation-input bytes that come from DRAM (the rest is already in the activation level), and
    ``output_on_chip`` whether its output stays there instead of going to DRAM."""

    inputs_from_dram: float = 1.0
    output_on_chip: bool = False


@dataclass(frozen=True)
class Tiling:
    """The chosen tiling of one layer at one staging boundary and the bytes each operand moves across it
    (fills into the buffer level, drains out of it; at depth 0 these are the DRAM reads and writes)."""

    loop_order: str
    tile_rows: int               # output rows per tile (per image)
    tile_out_channels: int
    tile_in_channels: int
    num_tiles: int
    weight_fill_bytes: float
    ifmap_fill_bytes: float
    ofmap_drain_bytes: float    # final outputs + spilled partial sums
    psum_fill_bytes: float      # partial sums read back
    params_fill_bytes: float         # bias and per-channel scales
    first_tile_load_bytes: float     # what the pipeline must load before the first tile can start
    weight_refetch_factor: float     # weight fill bytes / weight bytes (1 = loaded once)
    tile_bytes_per_level: dict[str, float]   # bytes of one tile set in each buffer level (not doubled)

    @property
    def fill_bytes(self) -> float:
        return self.weight_fill_bytes + self.ifmap_fill_bytes + self.psum_fill_bytes + self.params_fill_bytes

    @property
    def drain_bytes(self) -> float:
        return self.ofmap_drain_bytes

    @property
    def boundary_bytes(self) -> float:
        return self.fill_bytes + self.drain_bytes


def candidate_sizes(extent: int, granule: int) -> np.ndarray:
    """Tile sizes tried for a dimension of ``extent``: ``ceil(extent / s)`` for s = 1, 2, 3, 4, 6, 8, 12, …,
    rounded up to a multiple of ``granule`` (the unit's natural width) and capped at ``extent``."""
    sizes = set()
    s = 1
    while True:
        for split in (s, 3 * s // 2) if s > 1 else (1,):
            t = ceil_div(extent, split)
            t = min(extent, ceil_div(t, granule) * granule)
            sizes.add(max(1, t))
        if ceil_div(extent, s) <= granule or s >= extent:
            break
        s *= 2
    return np.array(sorted(sizes), dtype=np.int64)


def _input_rows(tile_rows: np.ndarray, layer: LayerShape) -> np.ndarray:
    """Input rows one output-row band reads from DRAM: ``(tr − 1)·stride + KH`` capped at the input height
    (padding rows are generated on chip, not fetched)."""
    rows = (tile_rows - 1) * layer.stride_h + layer.kernel_h
    return np.minimum(rows, layer.in_h)


def search_tiling(layer: LayerShape, mem: MemorySystem, widths: OperandBytes, compute_cycles: float,
                  channel_granule: int = 1, reduction_granule: int = 1, objective: str = "latency",
                  residency: Residency = Residency()) -> Tiling:
    """Enumerate tile sizes x loop orders, keep those that fit, return the best for ``objective``.

    ``residency`` says which activations already sit in their buffer level (they stay on chip between layers):
    those bytes do not cross this boundary and need no tile room.

    ``compute_cycles`` is the layer's compute time (cycles), used for the latency estimate; ``channel_granule``
    and ``reduction_granule`` round output / input channel tiles to the unit's width (array columns / rows,
    SIMD lanes). Raises :class:`MappingError` naming the layer if even the smallest tile set does not fit.
    """
    if objective not in OBJECTIVES:
        raise MappingError(f"layer {layer.name!r}: unknown tiling objective {objective!r}; use one of {OBJECTIVES}")
    tied = layer.is_depthwise or not layer.has_weights      # C follows K
    rows_c = candidate_sizes(layer.out_h, 1)
    k_c = candidate_sizes(layer.out_channels, channel_granule)
    c_c = np.array([layer.in_channels]) if tied else candidate_sizes(layer.in_channels, reduction_granule)
    tr, tk, tc = (a.ravel() for a in np.meshgrid(rows_c, k_c, c_c, indexing="ij"))
    trips_r = layer.batch * -(-layer.out_h // tr)
    trips_k = -(-layer.out_channels // tk)
    trips_c = np.ones_like(tc) if tied else -(-layer.in_channels // tc)
    taps = layer.kernel_h * layer.kernel_w

    band_rows = _input_rows(tr, layer)
    n_in = layer.num_inputs
    # Input channels one (k, c) tile reads: tied ops read the K tile's own input channels.
    tile_in_ch = np.minimum(-(-tk // layer.depth_multiplier) if tied else tc, layer.in_channels)
    ifmap_tile = n_in * band_rows * layer.in_w * tile_in_ch * widths.activation
    weight_tile = (tk * taps * (1 if layer.is_depthwise else tc) * widths.weight) if layer.has_weights else 0 * tk
    params_tile = tk * widths.params_per_channel
    ofmap_tile = tr * layer.out_w * tk * np.where(trips_c > 1, widths.accumulator, widths.output)

    # Bytes each operand moves once over the whole layer (ifmap: every row band with its halo rows).
    # Exact over ragged bands: full bands of ``tr`` rows plus a last band of ``out_h mod tr`` rows.
    last_rows = layer.out_h % tr
    last_band = np.where(last_rows > 0, _input_rows(np.maximum(last_rows, 1), layer), 0)
    rows_read = (layer.out_h // tr) * band_rows + last_band
    ifmap_once = n_in * layer.batch * rows_read * layer.in_w * layer.in_channels * widths.activation
    ifmap_once = ifmap_once * residency.inputs_from_dram
    ifmap_tile = ifmap_tile * residency.inputs_from_dram
    final_out = 0.0 if residency.output_on_chip else outputs_bytes(layer, widths)
    weight_once = layer.weight_count * widths.weight
    params_once = layer.out_channels * widths.params_per_channel
    outputs = layer.outputs

    capacity = {lv.name: mem.usable_bytes(lv.name) for lv in mem.buffer_levels()}
    per_level = {name: np.zeros(len(tr)) for name in capacity}
    for operand, tile in (("inputs", ifmap_tile), ("weights", weight_tile + params_tile), ("outputs", ofmap_tile)):
        if mem.buffer_of[operand] is not None:
            per_level[mem.buffer_of[operand]] = per_level[mem.buffer_of[operand]] + tile
    fit = np.ones(len(tr), dtype=bool)
    for name, cap in capacity.items():
        fit &= per_level[name] <= cap
    if not fit.any():
        smallest = {name: float(per_level[name].min()) for name in capacity}
        raise MappingError(
            f"layer {layer.name!r} ({layer.kind}): no tile set fits the on-chip buffers even at the smallest tile; "
            f"needs {smallest} bytes per level, usable (double-buffered) capacity {capacity}")

    trips = {"R": trips_r, "K": trips_k, "C": trips_c}
    n_tiles = trips_r * trips_k * trips_c
    first_load = ifmap_tile + weight_tile + params_tile
    last_store = tr * layer.out_w * tk * widths.output * (0 if residency.output_on_chip else 1)
    rows = []
    for order_name, order in LOOP_ORDERS.items():
        w_factor = _refetch(order, {"K"} if layer.is_depthwise else {"K", "C"}, trips)
        i_factor = _refetch(order, {"R", "K"} if tied else {"R", "C"}, trips)
        p_factor = _refetch(order, {"K"}, trips)
        spills = _refetch(order, {"R", "K"}, trips) - 1     # > 0 only when C sits outside R or K
        psum = outputs * widths.accumulator * spills
        traffic = {
            "weights": weight_once * w_factor, "ifmap": ifmap_once * i_factor, "params": params_once * p_factor,
            "psum_read": psum, "ofmap": final_out + psum, "w_factor": w_factor,
        }
        total = traffic["weights"] + traffic["ifmap"] + traffic["params"] + psum + traffic["ofmap"]
        latency = (np.maximum(compute_cycles, total / mem.source_bytes_per_cycle)
                   + (first_load + last_store) / mem.source_bytes_per_cycle)
        rows.append((order_name, traffic, total, latency))

    primary = np.stack([r[3] if objective == "latency" else r[2] for r in rows])
    secondary = np.stack([r[2] if objective == "latency" else r[3] for r in rows])
    allowed = np.broadcast_to(fit, primary.shape)
    whole_weights = fit & (tk == layer.out_channels) & (tc == layer.in_channels)
    if layer.has_weights and whole_weights.any():
        # Weights that fit on chip are loaded once: only candidates that never refetch them compete.
        allowed = allowed & (np.stack([r[1]["w_factor"] for r in rows]) == 1)
    if mem.source_read_only:
        # Nothing can be written to a read-only source (flash): no partial-sum spills (outputs stay on chip).
        allowed = allowed & (np.stack([r[1]["psum_read"] for r in rows]) == 0)
        if not allowed.any():
            raise MappingError(f"layer {layer.name!r} ({layer.kind}): every tiling that fits spills partial sums, "
                               f"but the off-chip level {mem.source_name!r} is read-only")
    primary = np.where(allowed, primary, np.inf)
    near = primary <= primary.min() * (1 + TIE_TOLERANCE)
    tiles = np.broadcast_to(n_tiles, primary.shape)
    flat = np.lexsort((tiles.ravel(), np.where(near, secondary, np.inf).ravel()))[0]
    o, j = divmod(int(flat), len(tr))
    order_name, traffic, _, _ = rows[o]
    return Tiling(
        loop_order=order_name, tile_rows=int(tr[j]), tile_out_channels=int(tk[j]), tile_in_channels=int(tc[j]),
        num_tiles=int(n_tiles[j]), weight_fill_bytes=float(traffic["weights"][j]),
        ifmap_fill_bytes=float(traffic["ifmap"][j]), ofmap_drain_bytes=float(traffic["ofmap"][j]),
        psum_fill_bytes=float(traffic["psum_read"][j]), params_fill_bytes=float(traffic["params"][j]),
        first_tile_load_bytes=float(first_load[j]), weight_refetch_factor=float(traffic["w_factor"][j]),
        tile_bytes_per_level={name: float(per_level[name][j]) for name in capacity},
    )


def outputs_bytes(layer: LayerShape, widths: OperandBytes) -> float:
    """Bytes of the layer's final outputs."""
    return layer.outputs * widths.output


def _refetch(order: tuple[str, str, str], depends_on: set[str], trips: dict[str, np.ndarray]) -> np.ndarray:
    """Refetch factor of an operand: product of the trips of loops it does not depend on that enclose its
    innermost dependent loop with more than one trip (1 when every dependent loop has one trip)."""
    shape = next(iter(trips.values())).shape
    factor = np.ones(shape, dtype=np.float64)
    active = np.zeros(shape, dtype=bool)          # an inner dependent loop with > 1 trip exists
    for loop in reversed(order):                  # innermost first
        t = trips[loop]
        if loop in depends_on:
            active |= t > 1
        else:
            factor = np.where(active, factor * t, factor)
    return factor
