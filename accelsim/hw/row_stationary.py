"""Eyeriss's row-stationary (RS) dataflow on a ``rows × cols`` PE array with per-PE scratchpads, in closed form.

Sources: Chen, Emer, Sze, "Eyeriss: A Spatial Architecture for Energy-Efficient Dataflow for CNNs", ISCA 2016
§IV ([ref:Chen16]); Chen et al., "Eyeriss: An Energy-Efficient Reconfigurable Accelerator for Deep CNNs", JSSC
2017 §IV ([ref:Chen17]). The model, in the papers' terms (``R × S`` filter, ``E × F`` output, stride ``U``):

* **1-D primitive.** A PE convolves one filter row with one ifmap row into one psum row: ``F`` outputs × ``S``
  taps = ``F·S`` MACs at one MAC per cycle. The filter row and a sliding window of the ifmap row sit in the
  PE's scratchpads, the psums in its psum scratchpad.
* **Logical PE set.** A 2-D convolution (one image, one filter, one channel) is an ``R × E`` set: PE ``(i, j)``
  holds filter row ``i`` and produces psum row ``j`` from ifmap row ``jU + i``; filter rows are multicast along
  the set's rows, ifmap rows along its diagonals, psums accumulate down each column.
* **Folding onto the array.** A set wider than the array is strip-mined into strips of ``e`` output rows
  (``ceil(E/e)`` strips); ``floor(rows/R)`` strips fit vertically and ``floor(cols/e)`` side by side, each
  working on another (image, filter, channel, strip) job; filters taller than the array are split into
  ``ceil(R/rows)`` row folds whose psums add up (strips stacked in the rows a short set leaves free: JSSC 2017
  §IV-A). A set is strip-mined only as far as the array width requires:
  the fewest strips, ``e = ceil(E / ceil(E/cols))`` (:func:`strip_rows`; narrower strips would keep more PEs
  busy on some shapes but lose the diagonal ifmap and horizontal filter reuse RS exists for). AlexNet on
  Eyeriss's 12 × 14 array gives the paper's active PE counts: CONV1 one 11 × 14 strip (154 PEs), CONV2 two
  5 × 14 strips stacked (140 PEs, 5 × 27 = 135 doing work), CONV3-5 four 3 × 13 sets = 156 ([ref:Chen17]
  Table V, "active # of PEs").
* **Cycles** = ``ceil(jobs / concurrent sets) · F · ceil(S / throughput)``, jobs = ``N·G·M'·C'·strips·row folds``
  (``G`` groups of ``C'`` channels and ``M'`` filters: a depthwise conv is ``M' = C' = 1``, natively). On AlexNet
  this is the PE utilization of [ref:NNDataflow]'s replication-and-folding model (CONV1 0.90, CONV2 0.80,
  CONV3-5 0.93), which its authors check at 0.8-1.0x the chip's per-layer latencies.
* **Scratchpad reuse.** A PE interleaves ``q`` channels and ``p`` filters (``q·S`` ifmap words ≤ the ifmap
  spad, ``p·q·S`` ≤ the filter spad, ``p`` ≤ the psum spad; JSSC 2017 §IV, the mapping parameters ``p, q``),
  so an ifmap row is fetched once per ``p`` filters and a psum leaves the array once per ``q`` channels.
* **Psum accumulation in the array.** Sets stacked vertically in the same columns take consecutive channel
  groups of the same outputs and add their psums down the column before they leave the array (a column
  accumulates psums, ISCA 2016 §IV; the vertical replication shared by input channels as in [ref:NNDataflow]'s
  ``MapStrategyEyeriss``), so ``c_v = min(floor(rows/R), ceil(C'/q))`` channel groups of ``q`` are reduced per
  pass.
* **Global-buffer traffic** (array side; the DRAM side is the tiler's): ifmap words = ``N·G·C'`` × the rows the
  strips read (``(e−1)U + R`` each) × the row width ``(F−1)V + S`` × ``ceil(M'/p)``; filter words = the
  weights × ``N`` × strips (re-sent per image and strip); psums written ``ceil(C'/(q·c_v))·row folds`` times per
  output and read back one time fewer (no write-only psum traffic).
* **Register files** ([ref:Chen16] §III: every MAC reads a weight, an ifmap value and a psum and writes the
  psum): per MAC one filter-spad, one ifmap-spad and one psum-spad read and one psum-spad write; the spads are
  filled with every filter word multicast to the ``e`` PEs of a set row and every ifmap row delivered to a PE.

* **DRAM side** (the tiler's, :mod:`accelsim.mapping.tiling`, on the buffers ``eyeriss_v1.yaml`` declares as the
  chip uses them, JSSC 2017 §IV-A "PE array processing passes" and §V-A): the global buffer's 100 KB hold the
  ifmaps and psums that processing passes reuse (psums accumulate there across passes and never go off chip), the
  other 8 KB the filters of the next pass (filters are not reused from the global buffer: a filter is re-read
  from DRAM for every group of ``n`` images and every strip the nest revisits it in), and the chip does not
  compute while ifmaps load or ofmaps drain (§VI-A: no double buffering of the ifmap/psum space). Every fmap but
  the network input is run-length coded in DRAM (§IV-B, Fig. 8; :func:`rlc_stored_ratio`).

Approximations (ASSUMPTION): concurrent sets do not share data (multicast of one ifmap row to sets working on
other filters is not credited), no batch reuse of filters in the spads (Eyeriss's ``n``), the inter-PE psum
hops are not priced (no array-level memory in the config), no cycles for spad loads (they overlap the MACs).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.errors import UnsupportedError
from accelsim.graph.ops import MAC_OPS
from accelsim.hw.layer import LayerShape
from accelsim.hw.systolic import packed_reduction


#: Eyeriss's run-length code of fmaps in DRAM ([ref:Chen17] §IV-B, Fig. 8): a run of up to 31 zeros in a 5-bit
#: *run*, the next value as a 16-bit *level*, three (run, level) pairs per 64-bit word (the last bit marks the
#: code's last word).
RLC_RUN_BITS = 5
RLC_LEVEL_BITS = 16
RLC_PAIRS_PER_WORD = 3
RLC_WORD_BITS = 64


def rlc_stored_ratio(zero_fraction: float, value_bits: int = RLC_LEVEL_BITS) -> float:
    """Stored bits per raw bit of a tensor with ``zero_fraction`` zeros in Eyeriss's run-length code: one (run,
    level) pair per nonzero value, ``RLC_PAIRS_PER_WORD`` pairs per ``RLC_WORD_BITS``-bit word, so
    ``(1 − z) · (64 / 3) / value_bits``. Runs longer than 31 zeros need an extra pair each, not counted (for
    zeros at random positions their share is ``z^32``: below 1e-4 up to z = 0.75). Above 1 for dense data (the
    network input, which the host stores raw)."""
    if not 0.0 <= zero_fraction <= 1.0:
        raise ValueError(f"zero fraction must lie in [0, 1], got {zero_fraction}")
    return (1.0 - zero_fraction) * (RLC_WORD_BITS / RLC_PAIRS_PER_WORD) / value_bits


@dataclass(frozen=True)
class RsMapping:
    """How a layer's PE sets fold onto the array and how much each scratchpad reuses."""

    set_rows: int           # filter rows per PE set (min(R, rows))
    row_folds: int          # ceil(R / rows)
    strip_rows: int         # e: output rows per strip
    strips: int             # ceil(E / e)
    sets_vertical: int      # floor(rows / set_rows)
    sets_horizontal: int    # floor(cols / e)
    filters_per_pass: int   # p
    channels_per_pass: int  # q

    @property
    def concurrent_sets(self) -> int:
        return self.sets_vertical * self.sets_horizontal

    @property
    def mapped_pes(self) -> int:
        """PEs the concurrent sets occupy (the paper's "active # of PEs" counts the rows doing work)."""
        return self.concurrent_sets * self.set_rows * self.strip_rows


@dataclass(frozen=True)
class RsTiming:
    """Compute cycles and traffic (in operand words) of one layer in the RS dataflow."""

    mapping: RsMapping
    jobs: int                  # 2-D set jobs: N·G·M'·C'·strips·row folds
    compute_cycles: int
    macs: int
    utilization: float         # macs / (cycles · rows · cols · throughput)
    active_pes: int            # PEs producing psum rows, averaged over the strips (≤ mapped_pes)
    glb_ifmap_reads: int
    glb_filter_reads: int
    glb_psum_writes: int       # includes the final output write
    glb_psum_reads: int
    spad_reads: dict[str, int]   # per MAC reads: weights, inputs, psums
    spad_writes: dict[str, int]  # psum updates plus the spad fills


def _check(layer: LayerShape) -> None:
    if not layer.is_mac:
        raise UnsupportedError(f"layer {layer.name!r}: the row-stationary array runs layers with "
                               f"multiply-accumulates ({', '.join(MAC_OPS)}, ...), not {layer.kind}")


def ifmap_rows_read(out_rows: int, strip_rows: int, stride: int, filter_rows: int) -> int:
    """Ifmap rows the strips of one 2-D conv read: ``(e−1)U + R`` per full strip, ``(r−1)U + R`` for a last strip
    of ``r`` rows (adjacent strips re-read their ``R − U`` halo rows)."""
    full, rest = divmod(out_rows, strip_rows)
    rows = full * ((strip_rows - 1) * stride + filter_rows)
    return rows + (((rest - 1) * stride + filter_rows) if rest else 0)


def spad_reuse(channels: int, filters: int, taps: int, ifmap_spad: int, filter_spad: int,
               psum_spad: int) -> tuple[int, int]:
    """``(p, q)``: filters and channels a PE interleaves per pass, the most the scratchpads hold: ``q = min(C',
    ⌊ifmap/S⌋)``, ``p = min(M', psum, ⌊filter/(q·S)⌋)``, each at least 1."""
    q = max(1, min(channels, ifmap_spad // taps))
    p = max(1, min(filters, psum_spad, filter_spad // (q * taps)))
    return p, q


def strip_rows(out_rows: int, cols: int) -> int:
    """``e``: output rows per strip when an ``R × E`` set is strip-mined into the fewest strips that fit the array
    width, ``ceil(E / ceil(E / cols))`` (``E`` itself when it fits)."""
    return math.ceil(out_rows / math.ceil(out_rows / cols))


def rs_mapping(layer: LayerShape, rows: int, cols: int, ifmap_spad: int = 12, filter_spad: int = 224,
               psum_spad: int = 24) -> RsMapping:
    """The RS mapping of ``layer`` on a ``rows × cols`` array (module docstring)."""
    _check(layer)
    if rows <= 0 or cols <= 0:
        raise ValueError(f"array dimensions must be positive, got {rows}x{cols}")
    g = layer.groups
    set_rows = min(layer.kernel_h, rows)
    e = strip_rows(layer.out_h, cols)
    vertical, horizontal = rows // set_rows, cols // e
    row_folds, strips = math.ceil(layer.kernel_h / rows), math.ceil(layer.out_h / e)
    p, q = spad_reuse(layer.in_channels // g, layer.out_channels // g, layer.kernel_w, ifmap_spad, filter_spad,
                      psum_spad)
    return RsMapping(set_rows, row_folds, e, strips, vertical, horizontal, p, q)


def row_stationary_timing(layer: LayerShape, rows: int, cols: int, ifmap_spad: int = 12, filter_spad: int = 224,
                          psum_spad: int = 24, throughput: float = 1.0) -> RsTiming:
    """Compute cycles, global-buffer and scratchpad traffic of ``layer`` in the RS dataflow (module docstring)."""
    m = rs_mapping(layer, rows, cols, ifmap_spad, filter_spad, psum_spad)
    g = layer.groups
    channels, filters = layer.in_channels // g, layer.out_channels // g
    n, e_out, f_out = layer.batch, layer.out_h, layer.out_w
    r, s = layer.kernel_h, layer.kernel_w
    jobs = n * g * filters * channels * m.strips * m.row_folds
    cycles = math.ceil(jobs / m.concurrent_sets) * f_out * packed_reduction(s, throughput)
    macs = layer.macs
    row_width = (f_out - 1) * layer.stride_w + s
    filter_passes = math.ceil(filters / m.filters_per_pass)
    ifmap_reads = n * g * channels * ifmap_rows_read(e_out, m.strip_rows, layer.stride_h, r) * row_width \
        * filter_passes
    weights = layer.out_channels * layer.reduction
    filter_reads = weights * n * m.strips
    channel_groups = math.ceil(channels / m.channels_per_pass)
    column_sets = min(m.sets_vertical, channel_groups)
    channel_passes = math.ceil(channel_groups / column_sets) * m.row_folds
    outputs = layer.outputs
    spad_reads = {"weights": macs, "inputs": macs, "psums": macs}
    # fills: each filter word reaches the PEs of its set row (E/strips on average); each PE gets its ifmap row
    # once per p filters
    filter_fill = math.ceil(filter_reads * e_out / m.strips)
    ifmap_fill = n * g * channels * r * e_out * row_width * filter_passes
    spad_writes = {"weights": filter_fill, "inputs": ifmap_fill, "psums": macs}
    active = m.concurrent_sets * m.set_rows * e_out / m.strips if m.strips else 0
    return RsTiming(
        mapping=m, jobs=jobs, compute_cycles=cycles, macs=macs,
        utilization=macs / (cycles * rows * cols * throughput) if cycles else 0.0,
        active_pes=min(m.mapped_pes, round(active)),
        glb_ifmap_reads=ifmap_reads, glb_filter_reads=filter_reads,
        glb_psum_writes=outputs * channel_passes, glb_psum_reads=outputs * (channel_passes - 1),
        spad_reads=spad_reads, spad_writes=spad_writes,
    )
