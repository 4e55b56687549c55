"""Systolic-array compute model: SCALE-Sim's fold / fill / drain cycle formulas, reproduced in closed form.

A Conv2D / FullyConnected layer is lowered to an im2col GEMM (``M = N·OH·OW`` output pixels, ``K = KH·KW·C/groups``
reduction taps, ``N = O/groups`` filters); each group of a grouped or depthwise conv is its own GEMM, run one after
the other. The dataflow decides which GEMM dimensions are laid out over the array rows (``Sr``) and columns (``Sc``)
and which one is streamed in time (``T``):

=========  ====  ====  ====  ===================
dataflow   Sr    Sc    T     cycles per fold
=========  ====  ====  ====  ===================
os         M     N     K     R + C + T − 2
ws         K     N     M     2R + C + T − 2
is         K     M     N     2R + C + T − 2
=========  ====  ====  ====  ===================

``folds = ceil(Sr/R)·ceil(Sc/C)``; a partial fold costs a full fold; folds never overlap. Source: SCALE-Sim v2/v3
(``scalesim/compute/systolic_compute_{os,ws,is}.py``), whose compute cycles this module reproduces exactly; SCALE-Sim
reports one cycle less per layer (its issues #60 and #125), exposed here as ``scalesim_total_cycles``.

Precision: a Bit-Fusion-style mode with throughput ``t`` (MACs per PE per cycle relative to 8x8) is modelled on the
reduction dimension: the GEMM is costed with ``K' = ceil(K/t)``. For ``t > 1`` one PE sums ``t`` narrow products per
cycle (a Bit Fusion Fusion Unit adds its BitBrick products into one accumulator), so each PE row (WS/IS) or each
streamed step (OS) covers ``t`` reduction taps. For ``t < 1`` one tap takes ``1/t`` PE-cycles: ``1/t`` PEs fused
along the reduction (WS/IS) or a multi-cycle multiply (OS). Only the reduction dimension is packed because only
there can partial products be summed inside a PE; SRAM element counts stay those of the real (unpacked) GEMM.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import get_args

from accelsim.config.hw import Dataflow
from accelsim.errors import UnsupportedError
from accelsim.graph.ops import MAC_OPS
from accelsim.hw.layer import LayerShape

DATAFLOWS: tuple[str, ...] = get_args(Dataflow)


@dataclass(frozen=True)
class GemmShape:
    """One im2col GEMM: ``m`` output pixels × ``n`` filters, ``k`` reduction taps; ``count`` identical GEMMs
    (one per group)."""

    m: int
    n: int
    k: int
    count: int = 1


@dataclass(frozen=True)
class SystolicTiming:
    """Compute time and SRAM element traffic of one layer on an ``rows × cols`` systolic array.

    Cycle counts are array clock cycles, stall-free (memory stalls are the memory model's business); SRAM counts are
    operand elements (words), summed over all groups.
    """

    dataflow: str
    rows: int
    cols: int
    gemm_m: int                # per group
    gemm_n: int                # per group
    gemm_k: int                # per group, unpacked
    groups: int
    row_folds: int             # per group
    col_folds: int             # per group
    folds: int                 # total over all groups
    cycles_per_fold: int
    compute_cycles: int        # folds · cycles_per_fold
    scalesim_total_cycles: int  # what SCALE-Sim reports (one cycle less per SCALE-Sim layer)
    macs: int
    utilization: float         # macs / (compute_cycles · rows · cols · throughput)
    ifmap_sram_reads: int
    filter_sram_reads: int
    ofmap_sram_writes: int
    ofmap_sram_reads: int      # partial sums read back between row folds (WS/IS); 0 for OS


def gemm_shape(layer: LayerShape) -> GemmShape:
    """The per-group im2col GEMM of a Conv2D / FullyConnected layer (SCALE-Sim's lowering, [ref:ScaleSim])."""
    if not layer.is_mac:
        raise UnsupportedError(f"layer {layer.name!r}: a systolic array runs layers with multiply-accumulates "
                               f"({', '.join(MAC_OPS)}, ...), not {layer.kind}")
    return GemmShape(m=layer.output_pixels, n=layer.out_channels // layer.groups, k=layer.reduction,
                     count=layer.groups)


def check_dataflow(dataflow: str) -> None:
    """Raise UnsupportedError unless ``dataflow`` is one of ``os``, ``ws``, ``is``."""
    if dataflow not in DATAFLOWS:
        raise UnsupportedError(f"unknown systolic dataflow {dataflow!r}; supported: {', '.join(DATAFLOWS)}")


def packed_reduction(k: int, throughput: float) -> int:
    """Reduction length the array sees in a mode doing ``throughput`` MACs per PE-cycle: ``ceil(k/throughput)``."""
    if throughput <= 0:
        raise ValueError(f"throughput must be positive, got {throughput}")
    return math.ceil(round(k / throughput, 9))


def spatial_temporal(m: int, n: int, k: int, dataflow: str) -> tuple[int, int, int]:
    """``(Sr, Sc, T)``: GEMM dims mapped on array rows, array columns and time (SCALE-Sim, [ref:ScaleSim])."""
    check_dataflow(dataflow)
    return {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[dataflow]


def fold_counts(sr: int, sc: int, rows: int, cols: int) -> tuple[int, int]:
    """``(row_folds, col_folds) = (ceil(Sr/R), ceil(Sc/C))``; a partial fold counts as a full one."""
    return math.ceil(sr / rows), math.ceil(sc / cols)


def cycles_per_fold(rows: int, cols: int, temporal: int, dataflow: str) -> int:
    """Fill + stream + drain cycles of one fold: OS ``R + C + T − 2``; WS and IS ``2R + C + T − 2``.

    WS and IS pay ``R`` extra cycles to preload the stationary operand into the array (SCALE-Sim).
    """
    check_dataflow(dataflow)
    if dataflow == "os":
        return rows + cols + temporal - 2
    return 2 * rows + cols + temporal - 2


def sram_traffic(m: int, n: int, k: int, row_folds: int, col_folds: int, dataflow: str) -> tuple[int, int, int, int]:
    """``(ifmap reads, filter reads, ofmap writes, ofmap reads)`` in elements for one GEMM.

    SCALE-Sim's counts ([ref:ScaleSim]), except two fidelity fixes: OS ofmap writes are ``M·N`` (SCALE-Sim adds
    ``R + C`` per fold), and WS/IS partial sums written after every row fold are read back before the next one
    (``M·N·(row_folds − 1)`` reads; SCALE-Sim counts none).

    - OS: ifmap ``M·K·col_folds``, filter ``K·N·row_folds``, ofmap writes ``M·N``.
    - WS: ifmap ``M·K·col_folds``, filter ``K·N``, ofmap writes ``M·N·row_folds``.
    - IS: ifmap ``M·K``, filter ``K·N·col_folds``, ofmap writes ``M·N·row_folds``.
    """
    check_dataflow(dataflow)
    if dataflow == "os":
        return m * k * col_folds, k * n * row_folds, m * n, 0
    psum_reads = m * n * (row_folds - 1)
    if dataflow == "ws":
        return m * k * col_folds, k * n, m * n * row_folds, psum_reads
    return m * k, k * n * col_folds, m * n * row_folds, psum_reads


def systolic_timing(layer: LayerShape, rows: int, cols: int, dataflow: str, throughput: float = 1.0) -> SystolicTiming:
    """Stall-free compute cycles and SRAM element traffic of ``layer`` on an ``rows × cols`` array.

    ``throughput`` is the precision mode's MACs per PE-cycle relative to 8x8 (see the module docstring).
    """
    if rows <= 0 or cols <= 0:
        raise ValueError(f"array dimensions must be positive, got {rows}x{cols}")
    gemm = gemm_shape(layer)
    k_array = packed_reduction(gemm.k, throughput)
    sr, sc, temporal = spatial_temporal(gemm.m, gemm.n, k_array, dataflow)
    row_folds, col_folds = fold_counts(sr, sc, rows, cols)
    per_fold = cycles_per_fold(rows, cols, temporal, dataflow)
    folds = gemm.count * row_folds * col_folds
    compute_cycles = folds * per_fold
    ifmap, filt, ofmap_w, ofmap_r = sram_traffic(gemm.m, gemm.n, gemm.k, row_folds, col_folds, dataflow)
    macs = gemm.count * gemm.m * gemm.n * gemm.k
    return SystolicTiming(
        dataflow=dataflow, rows=rows, cols=cols, gemm_m=gemm.m, gemm_n=gemm.n, gemm_k=gemm.k, groups=gemm.count,
        row_folds=row_folds, col_folds=col_folds, folds=folds, cycles_per_fold=per_fold,
        compute_cycles=compute_cycles,
        scalesim_total_cycles=compute_cycles - gemm.count,
        macs=macs,
        utilization=macs / (compute_cycles * rows * cols * throughput),
        ifmap_sram_reads=gemm.count * ifmap, filter_sram_reads=gemm.count * filt,
        ofmap_sram_writes=gemm.count * ofmap_w, ofmap_sram_reads=gemm.count * ofmap_r,
    )
