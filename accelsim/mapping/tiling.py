"""Tile search and the bytes each operand moves across one staging boundary, with partial-sum residency.

A layer is a loop nest over three tiled dimensions: rows ``R`` (the batch times the output rows; a tile is a band
of rows of one image or a group of whole images), output channels ``K`` and input channels ``C`` (depthwise and
non-MAC ops tie ``C`` to ``K``). A candidate is a tile size per dimension, one of the six loop orders
(:data:`LOOP_ORDERS`, outermost first, e.g. ``KCR``) and, per operand, what the buffer keeps:

* **one tile** (the classic reuse rule; Yang et al., "Interstellar", ASPLOS 2020 §4 [ref:Yang20]): an operand's
  tile is fetched again whenever a loop it does not depend on advances around a loop it depends on, so its bytes
  are its once-through bytes times those loops' trip counts (:func:`refetch_factor`); outputs revisited before
  their reduction (``C``) completes spill partial sums at accumulator width and read them back;
* **its footprint across its reuse loop**: the buffer holds every tile the loops inside the operand's outermost
  irrelevant loop touch (a per-level footprint as in Timeloop's buffer model, Parashar et al., ISPASS 2019
  [ref:Parashar19]), so the operand crosses the boundary once (:func:`held_spans`). For outputs this is
  partial-sum residency: accumulators and output buffers keep the partial sums across the reduction loop when the
  output footprint of the loops inside it fits, and nothing spills.

Footprints per level: weights (+ bias/scales) in the weights' buffer, ifmap in the inputs' buffer, partial sums
(accumulator width) in :attr:`MemorySystem.psum_buffer` (a dedicated accumulator level such as TPU v1's) and final
outputs (output width) in the outputs' buffer. Every level is double buffered (a tile set may use half of it).
When the whole weight tensor fits, only candidates that load the weights once compete. Among the fitting
candidates the search minimises the objective (``latency`` then DRAM bytes, or ``dram_bytes`` then latency) with
the ranking estimate ``max(compute, bytes / B) + (first tile load + last output store) / B`` (``B`` = source
bytes/cycle; ``docs/model.md`` §4). It is a proxy, not the pipeline model of :mod:`accelsim.timing` that prices
the chosen tiling. Tile sizes are multiples of the unit's granule (array rows/columns, SIMD lanes); only when no
such tile set fits are smaller tiles tried, and the unit then runs at the tile's share of its width
(:attr:`Tiling.array_use`). Searches are vectorised over all candidates and memoised on their inputs.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import itertools
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from accelsim.config.hw import SCALE_BYTES_PER_CHANNEL  # noqa: F401  (re-exported: the default scale-set size)
from accelsim.errors import MappingError
from accelsim.hw.layer import LayerShape
from accelsim.hw.memory import MemorySystem, ceil_div
from accelsim.hw.unit import BlockStreaming

DIMS: tuple[str, str, str] = ("R", "K", "C")
#: The six loop orders of (R, K, C), outermost first, by name (``"KCR"``: K outermost, R innermost).
LOOP_ORDERS: dict[str, tuple[str, str, str]] = {"".join(p): p for p in itertools.permutations(DIMS)}
#: What a tiling search ranks first: latency (then DRAM bytes) or DRAM bytes (then latency).
TilingObjective = Literal["latency", "dram_bytes"]
OBJECTIVES: tuple[str, ...] = get_args(TilingObjective)
#: Operands a buffer may hold across their reuse loop, in the order of the hold bits of a candidate.
HOLDABLE: tuple[str, str, str] = ("weights", "inputs", "outputs")

#: Candidates whose primary objective is within this relative margin of the best count as equal and are ranked
#: by the secondary objective, then by fewer tiles (fewer DMA descriptors and pipeline restarts, which the
#: model does not cost; without this the search would shave fill/drain cycles with needlessly tiny tiles), then
#: by the smaller on-chip footprint.
TIE_TOLERANCE = 0.02
#: Memoised searches kept, least recently used evicted first (a network repeats layer shapes; a sweep maps the
#: same shapes on the same boundaries many times). Bounded: a sweep's main process must not grow per point.
CACHE_ENTRIES = 512


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
    follows_layer: bool = True        # a layer runs before this one (a copy of its weights can overlap that one)


@dataclass(frozen=True)
class Tiling:
    """The chosen tiling of one layer at one staging boundary and the bytes each operand moves across it
    (fills into the buffer level, drains out of it; at depth 0 these are the DRAM reads and writes)."""

    loop_order: str              # a key of LOOP_ORDERS, outermost first; "block" for a unit's block streaming
    tile_rows: int               # output rows per tile (per image; the whole image when tile_images > 1)
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
    tile_bytes_per_level: dict[str, float]   # bytes one tile set occupies in each level (not doubled)
    tile_images: int = 1             # whole images per tile (batch inside the row loop)
    held_operands: tuple[str, ...] = ()   # operands whose footprint across their reuse loop stays in the buffer
    array_use: float = 1.0           # share of the unit's granule the tiles use (< 1 only for sub-granule tiles)
    psum_spill_bytes: float = 0.0    # partial sums written out (also counted in ofmap_drain_bytes)

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
    return np.array(_candidate_sizes(int(extent), int(granule)), dtype=np.int64)


@functools.lru_cache(maxsize=1024)
def _candidate_sizes(extent: int, granule: int) -> tuple[int, ...]:
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
    return tuple(sorted(sizes))


def row_candidates(out_h: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Row tiles ``(rows per image, images)``: bands of one image (:func:`candidate_sizes` of ``out_h``) and,
    for a batch, groups of whole images (batch inside the row loop: what lets a weight tile serve many images)."""
    rows = candidate_sizes(out_h, 1)
    images = candidate_sizes(batch, 1) if batch > 1 else np.array([], dtype=np.int64)
    images = images[images > 1]
    tr = np.concatenate([rows, np.full(len(images), out_h, dtype=np.int64)])
    tb = np.concatenate([np.ones(len(rows), dtype=np.int64), images])
    return tr, tb


def input_rows(tile_rows: np.ndarray, layer: LayerShape) -> np.ndarray:
    """Input rows one output-row band reads: ``(tr − 1)·stride + KH`` capped at the input height (padding rows
    are generated on chip, not fetched)."""
    rows = (tile_rows - 1) * layer.stride_h + layer.kernel_h
    return np.minimum(rows, layer.in_h)


def refetch_factor(order: tuple[str, ...], relevant: frozenset[str] | set[str],
                   trips: dict[str, np.ndarray]) -> np.ndarray:
    """Refetch factor of an operand kept as one tile: the product of the trips of loops it does not depend on
    that enclose its innermost dependent loop with more than one trip (1 when every dependent loop has one
    trip). Interstellar's reuse rule [ref:Yang20] §4."""
    shape = next(iter(trips.values())).shape
    factor = np.ones(shape, dtype=np.float64)
    active = np.zeros(shape, dtype=bool)          # an inner dependent loop with > 1 trip exists
    for loop in reversed(order):                  # innermost first
        t = trips[loop]
        if loop in relevant:
            active |= t > 1
        else:
            factor = np.where(active, factor * t, factor)
    return factor


def held_spans(order: tuple[str, ...], relevant: frozenset[str] | set[str],
               trips: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """For an operand whose buffer holds its footprint across its reuse loop (the outermost loop it does not
    depend on with more than one trip): per dependent dimension, True where that dimension's loop sits inside
    the reuse loop, so the held footprint spans the dimension's whole extent (else one tile of it). Such an
    operand crosses the boundary once (refetch factor 1)."""
    shape = next(iter(trips.values())).shape
    inside = np.zeros(shape, dtype=bool)          # some enclosing irrelevant loop has > 1 trip
    spans = {}
    for loop in order:                            # outermost first
        if loop in relevant:
            spans[loop] = inside.copy()
        else:
            inside = inside | (trips[loop] > 1)
    return spans




def loop_rules(relevance: np.ndarray, trips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`refetch_factor` and :func:`held_spans` for several operands and every loop order at once.

    ``relevance`` (operands, 3) says which of :data:`DIMS` each operand depends on, ``trips`` (3, N) the trip
    counts per candidate. Returns the one-tile refetch factors (operands, orders, N) and, per dimension, whether
    its loop sits inside the operand's reuse loop (operands, orders, 3, N)."""
    return _refetch_factors(relevance, trips), _inside_reuse_loop(relevance, trips)


@functools.lru_cache(maxsize=None)
def _rule_tables(relevance: tuple[tuple[bool, ...], ...]) -> tuple[np.ndarray, np.ndarray]:
    """Tables of :func:`refetch_factor` and :func:`held_spans` for operands depending on ``relevance`` (per
    operand, per dimension of :data:`DIMS`), every loop order and every pattern of loops with more than one trip
    (bit ``i`` set: dimension ``i`` has > 1 trip): which loops' trips multiply the refetch factor and which
    dimensions sit inside the reuse loop, each (operands, orders, 8 patterns, 3). Built by evaluating those two
    functions with distinct prime trip counts, so the rules have one definition."""
    primes = (2, 3, 5)
    mult = np.zeros((len(relevance), len(LOOP_ORDERS), 8, 3), dtype=bool)
    inside = np.zeros_like(mult)
    for r, rel in enumerate(relevance):
        relevant = frozenset(d for d, on in zip(DIMS, rel) if on)
        for o, order in enumerate(LOOP_ORDERS.values()):
            for pattern in range(8):
                trips = {d: np.array([primes[i] if pattern >> i & 1 else 1]) for i, d in enumerate(DIMS)}
                factor = int(refetch_factor(order, relevant, trips)[0])
                spans = held_spans(order, relevant, trips)
                for i, d in enumerate(DIMS):
                    mult[r, o, pattern, i] = pattern >> i & 1 and factor % primes[i] == 0
                    inside[r, o, pattern, i] = bool(spans[d][0]) if d in spans else False
    return mult, inside


def _patterns(trips: np.ndarray) -> np.ndarray:
    """Per candidate, the bit pattern of dimensions with more than one trip (``trips`` is (3, N))."""
    return ((trips > 1) * np.array([[1], [2], [4]])).sum(axis=0)


def _refetch_factors(relevance: np.ndarray, trips: np.ndarray) -> np.ndarray:
    mult = _rule_tables(tuple(map(tuple, relevance.tolist())))[0][:, :, _patterns(trips), :]   # (ops, orders, N, 3)
    return np.where(mult, trips.T, 1).prod(axis=-1).astype(np.float64)


def _inside_reuse_loop(relevance: np.ndarray, trips: np.ndarray) -> np.ndarray:
    inside = _rule_tables(tuple(map(tuple, relevance.tolist())))[1][:, :, _patterns(trips), :]
    return np.moveaxis(inside, -1, 2)                                       # (ops, orders, 3, N)


def refetch_factors(relevant: frozenset[str], trips: np.ndarray) -> np.ndarray:
    """:func:`refetch_factor` for every loop order at once: ``trips`` is (3, N) in :data:`DIMS` order; returns
    (orders, N)."""
    return loop_rules(np.array([[d in relevant for d in DIMS]]), trips)[0][0]


def held_span_masks(relevant: frozenset[str], trips: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`held_spans` for every loop order at once: dependent dimension -> (orders, N) mask."""
    inside = loop_rules(np.array([[d in relevant for d in DIMS]]), trips)[1][0]
    return {d: inside[:, i] for i, d in enumerate(DIMS) if d in relevant}


@functools.lru_cache(maxsize=64)
def _grid(n_r: int, n_k: int, n_c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat index arrays of the full (rows, K, C) candidate grid."""
    return tuple(a.ravel() for a in np.meshgrid(np.arange(n_r), np.arange(n_k), np.arange(n_c), indexing="ij"))


def psum_spill_bytes(outputs: int, accumulator_bytes: float, output_refetch: np.ndarray) -> np.ndarray:
    """Partial-sum bytes written out (and read back) when the output tile is not held across the reduction:
    one accumulator-width copy of the outputs per revisit (``output_refetch − 1``)."""
    return outputs * accumulator_bytes * (output_refetch - 1)


def search_tiling(layer: LayerShape, mem: MemorySystem, widths: OperandBytes, compute_cycles: float,
                  channel_granule: int = 1, reduction_granule: int = 1, objective: str = "latency",
                  residency: Residency = Residency()) -> Tiling:
    """Enumerate tile sizes x loop orders x held operands, keep those that fit, return the best for
    ``objective``.

    ``residency`` says which activations already sit in their buffer level (they stay on chip between layers):
    those bytes do not cross this boundary and need no tile room. ``compute_cycles`` is the layer's compute time
    (cycles), used for the latency estimate; ``channel_granule`` and ``reduction_granule`` round output / input
    channel tiles to the unit's width (array columns / rows, SIMD lanes); smaller tiles are tried only when none
    of those fits. Raises :class:`MappingError` naming the layer if even the smallest tile set does not fit.
    Memoised on all inputs but the layer's name.
    """
    if objective not in OBJECTIVES:
        raise MappingError(f"layer {layer.name!r}: unknown tiling objective {objective!r}; use one of {OBJECTIVES}")
    key = (dataclasses.replace(layer, name=""), mem.key(), widths, float(compute_cycles), channel_granule,
           reduction_granule, objective, residency)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    hit = _search(layer, mem, widths, compute_cycles, channel_granule, reduction_granule, objective,
                  residency, relaxed=False)
    if hit is None:
        hit = _search(layer, mem, widths, compute_cycles, channel_granule, reduction_granule, objective,
                      residency, relaxed=True)
    _CACHE[key] = hit
    if len(_CACHE) > CACHE_ENTRIES:
        _CACHE.popitem(last=False)             # least recently used
    return hit


_CACHE: collections.OrderedDict[tuple, Tiling] = collections.OrderedDict()


def _search(layer: LayerShape, mem: MemorySystem, widths: OperandBytes, compute_cycles: float,
            channel_granule: int, reduction_granule: int, objective: str, residency: Residency,
            relaxed: bool, prune: bool = True) -> Tiling | None:
    """One vectorised search over candidates (tile sizes x 6 loop orders x 8 hold choices); None when nothing
    fits and ``relaxed`` is False (granule-multiple tiles only), MappingError when nothing fits at all.
    ``prune=False`` skips the bound-based pruning (the same answer, slower: for tests)."""
    tied = layer.is_depthwise or not layer.has_weights      # C follows K
    dw = layer.is_depthwise
    K, C = layer.out_channels, layer.in_channels
    gk, gc = (1, 1) if relaxed else (channel_granule, reduction_granule)
    tr_c, tb_c = row_candidates(layer.out_h, layer.batch)
    k_c = candidate_sizes(K, gk)
    c_c = np.array([C], dtype=np.int64) if tied else candidate_sizes(C, gc)
    ir, ik, ic = _grid(len(tr_c), len(k_c), len(c_c))
    tr, tb, tk, tc = tr_c[ir], tb_c[ir], k_c[ik], c_c[ic]
    trips = {"R": -(-layer.batch // tb) * -(-layer.out_h // tr), "K": -(-K // tk),
             "C": np.ones_like(tc) if tied else -(-C // tc)}
    n_tiles = trips["R"] * trips["K"] * trips["C"]
    array_use = np.ones(len(tr))
    if relaxed:    # a tile narrower than the unit's granule leaves part of it idle
        array_use = (np.minimum(1.0, tk / min(channel_granule, K))
                     * (1.0 if tied else np.minimum(1.0, tc / min(reduction_granule, C))))

    # Footprints (bytes) of one tile and of a span; "full" = the dimension's whole extent.
    taps = layer.kernel_h * layer.kernel_w
    act = widths.activation * residency.inputs_from_dram
    band = input_rows(tr, layer)
    image_rows = float(input_rows(np.array(layer.out_h), layer))
    n_in_w = layer.num_inputs * layer.in_w * act

    def weights_fp(kspan, cspan):
        per_k = (taps * (1 if dw else cspan) * widths.weight) if layer.has_weights else 0.0
        return kspan * (per_k + widths.params_per_channel)

    # Input rows all row tiles read (exact over ragged bands: full bands plus a last band of out_h mod tr rows;
    # halo rows of neighbouring bands counted in each band, as the buffer stores them).
    last_rows = layer.out_h % tr
    last_band = np.where(last_rows > 0, input_rows(np.maximum(last_rows, 1), layer), 0)
    rows_read = np.where(tb > 1, image_rows, (layer.out_h // tr) * band + last_band)

    def inputs_fp(rows_full, chans):
        return np.where(rows_full, layer.batch * rows_read, tb * band) * n_in_w * chans

    def outputs_fp(rows_full, kspan, width):
        return np.where(rows_full, layer.batch * layer.out_h, tb * tr) * layer.out_w * kspan * width

    in_ch_tile = np.minimum(-(-tk // layer.depth_multiplier), C) if tied else tc
    psum_exists = trips["C"] > 1
    out_width = np.where(psum_exists, widths.accumulator, widths.output)
    fpA = {"weights": weights_fp(tk, tc), "inputs": inputs_fp(False, in_ch_tile),
           "outputs": outputs_fp(False, tk, out_width)}
    final_tile = outputs_fp(False, tk, widths.output)

    # Once-through bytes.
    ifmap_once = layer.num_inputs * layer.batch * rows_read * layer.in_w * C * act
    # An operand without a buffer at this boundary streams from its outer level: nothing of it crosses here.
    weight_once = layer.weight_count * widths.weight if mem.buffer_of["weights"] is not None else 0.0
    params_once = K * widths.params_per_channel if mem.buffer_of["weights"] is not None else 0.0
    if mem.buffer_of["inputs"] is None:
        ifmap_once = ifmap_once * 0.0
    final_out = 0.0 if residency.output_on_chip else outputs_bytes(layer, widths)

    out_buffer, psum_buffer = mem.buffer_of["outputs"], mem.psum_buffer
    levels = [n for n in dict.fromkeys((mem.buffer_of["weights"], mem.buffer_of["inputs"], out_buffer,
                                        psum_buffer if out_buffer is not None else None)) if n is not None]
    capacity = {name: mem.usable_bytes(name) for name in levels}

    def level_bytes(fp_w, fp_i, fp_o, psum_on) -> dict[str, np.ndarray]:
        """Bytes per level of one tile set: partial sums in the psum level, final outputs in the outputs' one."""
        per_level: dict[str, np.ndarray] = {name: 0.0 for name in levels}
        for level, nbytes in ((mem.buffer_of["weights"], fp_w), (mem.buffer_of["inputs"], fp_i)):
            if level is not None:
                per_level[level] = per_level[level] + nbytes
        if out_buffer is not None and psum_buffer != out_buffer:
            per_level[psum_buffer] = per_level[psum_buffer] + np.where(psum_on, fp_o, 0.0)
            per_level[out_buffer] = per_level[out_buffer] + np.where(psum_on, final_tile_sel, fp_o)
        elif out_buffer is not None:
            per_level[out_buffer] = per_level[out_buffer] + fp_o
        return per_level

    def fits(per_level) -> np.ndarray:
        ok = True
        for name, cap in capacity.items():
            ok = ok & (per_level[name] <= cap)
        return np.asarray(ok)

    # Phase 1 (per candidate, all orders, every operand as one tile): which candidates can fit at all (a held
    # footprint is never smaller than a tile), whether whole weights fit, and bounds that prune the candidates
    # that cannot come within TIE_TOLERANCE of the best before the hold choices are expanded (exact pruning: a
    # candidate's primary value is never below its bound with no refetch and no spill).
    final_tile_sel = final_tile
    fit_a = fits(level_bytes(fpA["weights"], fpA["inputs"], fpA["outputs"], psum_exists))
    if not fit_a.any():
        if not relaxed:
            return None
        smallest = {name: float(np.min(v)) for name, v in
                    level_bytes(fpA["weights"], fpA["inputs"], fpA["outputs"], psum_exists).items()}
        raise MappingError(
            f"layer {layer.name!r} ({layer.kind}): no tile set fits the on-chip buffers even at the smallest tile; "
            f"needs {smallest} bytes per level, usable (double-buffered) capacity {capacity}")
    restrict = False
    if layer.has_weights and mem.buffer_of["weights"] is not None:
        # the whole weight tensor fits next to one tile of the other operands
        restrict = bool(fits(level_bytes(weight_once + params_once, fpA["inputs"], fpA["outputs"],
                                         psum_exists)).any())
    # Only candidates whose one-tile footprints fit go on (a held footprint is never smaller).
    sel = np.flatnonzero(fit_a)
    tr, tb, tk, tc, n_tiles, band, rows_read, out_width, psum_exists, final_tile, ifmap_once, array_use = (
        a[sel] for a in
        (tr, tb, tk, tc, n_tiles, band, rows_read, out_width, psum_exists, final_tile, ifmap_once, array_use))
    fpA = {op: v[sel] for op, v in fpA.items()}
    trips = {d: v[sel] for d, v in trips.items()}
    fit_a = fit_a[sel]
    final_tile_sel = final_tile

    rel_w = frozenset("K" if dw else "KC")
    rel_i = frozenset("RK" if tied else "RC")
    rel_o = frozenset("RK")
    names = list(LOOP_ORDERS)
    trip_arr = np.stack([trips[d] for d in DIMS])                        # (3, N)
    relevance = np.array([[d in rel for d in DIMS] for rel in (rel_w, rel_i, rel_o, frozenset("K"))])
    fA = dict(zip(("weights", "inputs", "outputs", "params"), _refetch_factors(relevance, trip_arr)))

    bpc = mem.source_bytes_per_cycle
    compute = compute_cycles / array_use
    first_load = fpA["inputs"] + fpA["weights"]
    store_scale = 0.0 if residency.output_on_chip else 1.0
    spill_a = psum_spill_bytes(layer.outputs, widths.accumulator, fA["outputs"])
    total_a = (weight_once * fA["weights"] + ifmap_once * fA["inputs"] + params_once * fA["params"]
               + 2 * spill_a + final_out)                                      # (orders, N)
    total_min = weight_once + ifmap_once + params_once + final_out             # (N,)

    def estimate(total, last):
        return np.maximum(compute, total / bpc) + (first_load + last) / bpc

    lat_a = estimate(total_a, final_tile * store_scale)
    bound = estimate(total_min, final_tile * store_scale) if objective == "latency" else total_min
    upper = lat_a if objective == "latency" else total_a
    ok_a = fit_a & ((fA["weights"] == 1) if restrict else True)
    best_upper = np.where(ok_a, upper, np.inf).min()
    candidates = fit_a & (bound <= best_upper * (1 + TIE_TOLERANCE))
    # Secondary bound: one-tile candidates whose primary is within the tolerance of the lowest primary bound are
    # surely near the best; the winner's (secondary, tiles) is no worse than theirs, so candidates that cannot
    # match it cannot win ...
    surely = ok_a & (upper <= np.where(fit_a, bound, np.inf).min() * (1 + TIE_TOLERANCE))
    if surely.any():
        sec_a = total_a if objective == "latency" else lat_a
        sec_bound = total_min if objective == "latency" else estimate(total_min, final_tile * store_scale)
        s_ub = sec_a[surely].min() * (1 + 1e-9)
        t_ub = np.broadcast_to(n_tiles, surely.shape)[surely & (sec_a <= s_ub)].min()
        beaten = (sec_bound > s_ub) | ((sec_bound >= s_ub * (1 - 2e-9)) & (n_tiles > t_ub))
        # ... but a beaten candidate may still hold the lowest primary value, which sets the tie band: keep
        # those whose bound does not exceed the best one-tile primary value.
        candidates &= ~beaten | (bound <= best_upper)
    keep = np.flatnonzero(candidates if prune else fit_a)
    tr, tb, tk, tc = tr[keep], tb[keep], tk[keep], tc[keep]
    band, rows_read, out_width = band[keep], rows_read[keep], out_width[keep]     # read by the footprint helpers
    n_tiles, array_use, first_load = n_tiles[keep], array_use[keep], first_load[keep]
    ifmap_once, psum_exists, final_tile_sel = ifmap_once[keep], psum_exists[keep], final_tile[keep]
    fA = {op: v[:, keep] for op, v in fA.items()}
    fpA = {op: v[keep] for op, v in fpA.items()}
    compute = compute if np.ndim(compute) == 0 else compute[keep]

    # Held footprints of the kept candidates.
    inside = _inside_reuse_loop(relevance[:3], trip_arr[:, keep])
    sw, si, so = ({d: inside[n, :, i] for i, d in enumerate(DIMS) if d in rel}
                  for n, rel in enumerate((rel_w, rel_i, rel_o)))          # dim -> (orders, kept)
    kw = np.where(sw["K"], K, tk)
    cw = np.where(sw["C"], C, tc) if "C" in sw else np.broadcast_to(tc, kw.shape)
    chans = (np.minimum(-(-np.where(si["K"], K, tk) // layer.depth_multiplier), C) if tied
             else np.where(si["C"], C, tc))
    ko = np.where(so["K"], K, tk)
    fpB = {"weights": weights_fp(kw, cw), "inputs": inputs_fp(si["R"], chans),
           "outputs": outputs_fp(so["R"], ko, out_width)}
    lastB = outputs_fp(so["R"], ko, widths.output)

    # Phase 2: every hold choice (weights, inputs, outputs kept across their reuse loop or as one tile).
    # Only operands with a buffer here that some kept candidate would refetch have a choice to make.
    choices = [op for op in HOLDABLE if mem.buffer_of[op] is not None and (fA[op] > 1).any()]
    bits = np.array(list(itertools.product((False, True), repeat=len(choices))), dtype=bool)   # (2^n, n)
    hold = {op: np.zeros((1, 1, 1), dtype=bool) for op in HOLDABLE}
    hold.update({op: bits[:, i][:, None, None] for i, op in enumerate(choices)})
    w_factor = np.where(hold["weights"], 1.0, fA["weights"])            # (combos, orders, kept)
    i_factor = np.where(hold["inputs"], 1.0, fA["inputs"])
    p_factor = np.where(hold["weights"], 1.0, fA["params"])
    psum = np.where(hold["outputs"], 0.0, psum_spill_bytes(layer.outputs, widths.accumulator, fA["outputs"]))
    traffic_w, traffic_i, traffic_p = weight_once * w_factor, ifmap_once * i_factor, params_once * p_factor
    total = traffic_w + traffic_i + traffic_p + 2 * psum + final_out
    shape = total.shape
    fp = {op: np.where(hold[op], fpB[op], fpA[op]) for op in HOLDABLE}
    per_level = level_bytes(fp["weights"], fp["inputs"], fp["outputs"], psum_exists)
    allowed = fits(per_level)
    if restrict:
        allowed = allowed & (w_factor == 1)
    if mem.source_read_only:
        # Nothing can be written to a read-only source (flash): no partial-sum spills (outputs stay on chip).
        allowed = allowed & (psum == 0)
        if not allowed.any():
            raise MappingError(f"layer {layer.name!r} ({layer.kind}): every tiling that fits spills partial sums, "
                               f"but the off-chip level {mem.source_name!r} is read-only")
    last_store = np.where(hold["outputs"], lastB, final_tile_sel) * store_scale
    latency = np.maximum(compute, total / bpc) + (first_load + last_store) / bpc
    primary, secondary = (latency, total) if objective == "latency" else (total, latency)
    primary = np.where(allowed, primary, np.inf)
    near = np.flatnonzero(primary <= primary.min() * (1 + TIE_TOLERANCE))     # flat indices into shape
    best = near[0]
    if len(near) > 1:
        hs, os_, js = np.unravel_index(near, shape)
        footprint = sum(np.broadcast_to(v, shape)[hs, os_, js] for v in per_level.values())
        best = near[np.lexsort((footprint, n_tiles[js], np.broadcast_to(secondary, shape)[hs, os_, js]))[0]]
    h, o, j = np.unravel_index(best, shape)

    def at(x) -> float:
        """The chosen candidate's value of ``x`` (an array broadcastable to ``shape``, or a scalar)."""
        x = np.asarray(x)
        index = (h, o, j)[len(shape) - x.ndim:]
        return float(x[tuple(i if n > 1 else 0 for i, n in zip(index, x.shape))])

    held = tuple(op for op in choices if at(hold[op]) and fA[op][o, j] > 1)
    spill = at(psum)
    return Tiling(
        loop_order=names[o], tile_rows=int(tr[j]), tile_out_channels=int(tk[j]), tile_in_channels=int(tc[j]),
        num_tiles=int(n_tiles[j]), weight_fill_bytes=at(traffic_w), ifmap_fill_bytes=at(traffic_i),
        ofmap_drain_bytes=float(final_out + spill), psum_fill_bytes=spill, params_fill_bytes=at(traffic_p),
        first_tile_load_bytes=float(first_load[j]), weight_refetch_factor=at(w_factor),
        tile_bytes_per_level={name: at(v) for name, v in per_level.items()},
        tile_images=int(tb[j]), held_operands=held, array_use=float(array_use[j]), psum_spill_bytes=spill,
    )


def outputs_bytes(layer: LayerShape, widths: OperandBytes) -> float:
    """Bytes of the layer's final outputs."""
    return layer.outputs * widths.output


def weights_buffered(weight_bytes: float, weight_reads: float, other_source_bytes: float,
                     source_bytes_per_cycle: float, compute_cycles: float, policy: str = "when_reread",
                     vector_product: bool = False, follows_layer: bool = True) -> bool:
    """Whether a block-streaming unit's weights are copied once into the outer on-chip level (every output block
    then re-reads them there) rather than read from their off-chip home (flash, DRAM) once per output spatial
    block (the config's ``weight_buffering`` policy).

    Simplified from Arm Vela 5.2.0's scheduler [ref:Vela] (``ethosu/vela/scheduler.py``
    ``propose_weight_buffering``: ``FullyConnected`` weights are never buffered; the others are copied by DMA
    under the previous layer, in double-buffered depth slices when they do not fit) and checked against its
    ``--verbose-schedule`` output. ``always`` (Vela's Dedicated_Sram, the SRAM a cache of the NPU): every weight
    tensor but a vector product's (``vector_product``: one output pixel, a 1x1 kernel). ``when_reread``
    (Shared_Sram, where buffers take room from the feature maps): only weights that are re-read (more than one
    output spatial block; a map covered by one block streams them once either way). Such weights are buffered
    when a layer runs before this one (``follows_layer``: the copy overlaps it, so buffering costs no time); the
    first layer has nothing to hide its copy under and buffers only when that is faster: the copy ``W / B`` plus
    ``max(compute, (other + W) / B)`` against streaming, ``max(compute, (other + W × reads) / B)`` (``B`` =
    source bytes/cycle, ``other`` = its other traffic there). Vela streams ResNet-18's conv1 weights from flash
    on Ethos-U55 (98 blocks re-read 12 KB under 1.3 M compute cycles) and buffers SqueezeNet's and MobileNet-v2's
    first convolutions, whose re-reads would not hide. The SRAM room is not checked: a buffer too large is cut
    into depth slices (at least 16 channels), and a slice fits."""
    if weight_bytes <= 0.0 or vector_product:
        return False
    if policy == "always":
        return True
    if weight_reads <= 1.0:
        return False
    if follows_layer:
        return True
    bpc = source_bytes_per_cycle
    streamed = max(compute_cycles, (other_source_bytes + weight_bytes * weight_reads) / bpc)
    buffered = weight_bytes / bpc + max(compute_cycles, (other_source_bytes + weight_bytes) / bpc)
    return buffered < streamed


def is_vector_product(layer: LayerShape) -> bool:
    """A dense layer with one output pixel per image and a 1x1 kernel (a fully connected layer): every weight is
    used once per image."""
    return layer.has_weights and layer.groups == 1 and layer.out_h * layer.out_w == 1 \
        and layer.kernel_h * layer.kernel_w == 1


def burst_rounded_bytes(nbytes: float, run_bytes: float, burst_bytes: int | None) -> float:
    """Bytes an off-chip memory moves to deliver ``nbytes`` read in contiguous runs of ``run_bytes``: a run
    shorter than the memory's burst still moves a whole burst, so ``nbytes × burst / run``; ``nbytes`` when runs
    are at least a burst long, unknown (``run_bytes`` 0) or the memory has no burst size. Vela 5.2.0 [ref:Vela]
    ``npu_performance.py`` ``_estimate_memory_transfer_efficiency`` (transfer × burst length / burst), which its
    DRAM byte counts include."""
    if not burst_bytes or run_bytes <= 0.0 or run_bytes >= burst_bytes:
        return nbytes
    return nbytes * burst_bytes / run_bytes


def streamed_tiling(layer: LayerShape, mem: MemorySystem, widths: OperandBytes, streaming: BlockStreaming,
                    residency: Residency, buffered: bool, innermost: bool, interleaved_input_share: float = 0.0,
                    burst_bytes: int | None = None) -> Tiling:
    """The bytes crossing one staging boundary when the unit declares its own block streaming
    (:class:`accelsim.hw.unit.BlockStreaming`) instead of a searched tiling: no loop-order or tile search (the
    unit's order is fixed: ``loop_order`` = ``"block"``), no partial sums (a block holds its whole reduction).

    At the outer boundary (``mem.depth`` 0, the off-chip source): weights once when ``buffered`` (the copy into
    the outer on-chip level), else ``weight_reads`` times (every output spatial block reads them from the
    source); bias/scales once; the inputs' off-chip share (``residency.inputs_from_dram``) ``input_reads``
    times (re-read per output block from where the feature map lives); outputs once unless they stay on chip.
    At the ``innermost`` boundary (outer on-chip level -> the unit's buffer): the buffered weights'
    ``weight_reads`` re-reads, the on-chip share of the inputs ``input_reads`` times, and outputs kept on chip.
    Boundaries in between carry nothing (the unit fetches from the level holding the operand).
    ``interleaved_input_share``: the share of the input bytes that are channel-interleaved (NHWC: the network's
    inputs) and read off chip in runs of ``streaming.input_run_bytes``; the off-chip source moves them in whole
    bursts of ``burst_bytes`` (:func:`burst_rounded_bytes`)."""
    outer = mem.depth == 0
    has_w = layer.has_weights and mem.buffer_of["weights"] is not None
    w = layer.weight_count * widths.weight if has_w else 0.0
    p = layer.out_channels * widths.params_per_channel if has_w else 0.0
    ifm = (layer.num_inputs * layer.batch * layer.in_h * layer.in_w * layer.in_channels * widths.activation
           if mem.buffer_of["inputs"] is not None else 0.0)
    from_dram = residency.inputs_from_dram
    out = outputs_bytes(layer, widths) if mem.buffer_of["outputs"] is not None else 0.0
    blocks = max(1, streaming.blocks)
    if outer:
        w_fill, p_fill = (w if buffered else w * streaming.weight_reads), p
        nhwc = min(interleaved_input_share, from_dram)
        i_fill = ifm * streaming.input_reads * (from_dram - nhwc) + burst_rounded_bytes(
            ifm * streaming.input_reads * nhwc, getattr(streaming, "input_run_bytes", 0.0), burst_bytes)
        drain = 0.0 if residency.output_on_chip else out
        held = {mem.buffer_of["weights"]: w + p} if (buffered and has_w) else {}
        # Before its first block starts: a buffered layer's first depth slice of weights (the copy that overlaps
        # the previous layer) and the first input block; streamed weights come block by block with the blocks.
        first = ((w + p) * min(1.0, streaming.block_channels / layer.out_channels) if buffered else 0.0) \
            + streaming.first_block_input_elements * widths.activation * from_dram
    elif innermost:
        w_fill, p_fill = (w * streaming.weight_reads, p) if buffered else (0.0, 0.0)
        i_fill = ifm * streaming.input_reads * (1.0 - from_dram)
        drain = out if residency.output_on_chip else 0.0
        held = {}
        first = (w_fill + p_fill + i_fill) / blocks
    else:
        w_fill = p_fill = i_fill = drain = first = 0.0
        held = {}
    fill = w_fill + p_fill + i_fill
    return Tiling(
        loop_order="block", tile_rows=streaming.block_rows, tile_out_channels=streaming.block_channels,
        tile_in_channels=layer.in_channels, num_tiles=blocks, weight_fill_bytes=w_fill, ifmap_fill_bytes=i_fill,
        ofmap_drain_bytes=drain, psum_fill_bytes=0.0, params_fill_bytes=p_fill,
        first_tile_load_bytes=min(first, fill), weight_refetch_factor=w_fill / w if w else 1.0,
        tile_bytes_per_level={name: float(b) for name, b in held.items() if name is not None})
