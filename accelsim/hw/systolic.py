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

Double-buffered stationary operand (config ``stationary_buffers: 2``, WS / IS; :func:`pipelined_compute_cycles`):
each PE holds a second register, so the next fold's operand shifts in (``R`` cycles) while the current fold streams,
and the next fold's data follows the current one's into the array without waiting for it to drain: the new weights
"take effect with the advancing wave alongside the first data of a new block" ([ref:Jouppi17] §2, TPU v1, whose
matrix unit "holds one 64 KiB tile of weights plus one for double-buffering (to hide the 256 cycles it takes to
shift a tile in)"). Folds then start ``max(T, R)`` cycles apart; only the first preload and the last fill/drain
show: ``2R + C + T − 2 + (folds − 1)·max(T, R)``, which is SCALE-Sim's fold for one fold.

Grouped and depthwise convs (``G`` groups of ``K`` taps and ``N'`` filters) have three lowerings
(:data:`DEPTHWISE_LOWERINGS`; the config's ``SystolicArray.depthwise`` lists those the array supports and
:func:`best_lowering` picks the fastest, ties to the earlier one):

- ``per_group``: one GEMM per group, run one after the other (SCALE-Sim's lowering; the array uses ``N'`` of its
  columns and ``K`` of its rows);
- ``block_diagonal``: ``g`` groups stacked into one GEMM ``M × gK × gN'`` with a block-diagonal weight matrix
  (group ``i``'s taps on rows ``iK..(i+1)K``, its filters on columns ``iN'..(i+1)N'``, zeros elsewhere), ``g`` the
  most groups whose spatial dimensions fit one fold (:func:`block_diagonal_groups`); ``ceil(G/g)`` such GEMMs. A
  pure software lowering any GEMM engine can run: the zeros are loaded and multiplied like any weight
  (``macs_issued`` counts them, the utilization counts only the real MACs).
- ``channel_parallel``: one GEMM ``M × K × GN'`` without the zeros, each column fed its own channel's inputs
  (hardware with per-column operand feeds): each group's im2col inputs are read once, not shared across columns.

Register files ([ref:Chen16] §III: every MAC reads a weight, an input activation and a partial sum and writes the
updated partial sum; [ref:Sze17] §V-B for the WS / OS dataflows): in a systolic PE the stationary
operand sits in a register read on every MAC, and each moving operand is latched (written) into the PE's pipeline
register on every MAC and read from it; the stationary operand is written once per load
(:func:`register_accesses`).

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

from accelsim.config.hw import Dataflow, DepthwiseLowering
from accelsim.errors import UnsupportedError
from accelsim.graph.ops import MAC_OPS
from accelsim.hw.layer import LayerShape

DATAFLOWS: tuple[str, ...] = get_args(Dataflow)
#: Lowerings of a grouped / depthwise conv (module docstring), in the order ties are broken.
DEPTHWISE_LOWERINGS: tuple[str, ...] = get_args(DepthwiseLowering)


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
    gemm_m: int                # per lowered GEMM
    gemm_n: int                # per lowered GEMM
    gemm_k: int                # per lowered GEMM, unpacked
    groups: int                # lowered GEMMs run one after the other (the layer's groups for per_group)
    row_folds: int             # per group
    col_folds: int             # per group
    folds: int                 # total over all groups
    cycles_per_fold: int
    compute_cycles: int        # folds · cycles_per_fold (pipelined_compute_cycles with a double-buffered operand)
    scalesim_total_cycles: int  # what SCALE-Sim reports (one cycle less per SCALE-Sim layer)
    macs: int
    utilization: float         # macs / (compute_cycles · rows · cols · throughput)
    ifmap_sram_reads: int
    filter_sram_reads: int
    ofmap_sram_writes: int
    ofmap_sram_reads: int      # partial sums read back between row folds (WS/IS); 0 for OS
    lowering: str = "per_group"  # how a grouped conv was lowered ("per_group" also for dense layers)
    macs_issued: int = 0       # MACs the PEs perform: the lowered GEMMs' M·N·K (block_diagonal: with its zeros)


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


def pipelined_compute_cycles(rows: int, cols: int, temporal: int, folds: int) -> int:
    """Compute cycles of ``folds`` WS / IS folds on an array with a double-buffered stationary operand (module
    docstring, [ref:Jouppi17] §2): ``2R + C + T − 2 + (folds − 1)·max(T, R)`` — the first fold as SCALE-Sim's, each
    later one starting ``max(T, R)`` cycles after the previous (its stream, or the ``R``-cycle shift of its operand
    when that is longer)."""
    if folds < 1:
        raise ValueError(f"a layer runs at least one fold, got {folds}")
    return 2 * rows + cols + temporal - 2 + (folds - 1) * max(temporal, rows)


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


def block_diagonal_groups(groups: int, n: int, k: int, rows: int, cols: int, dataflow: str) -> int:
    """Groups stacked per block-diagonal GEMM: the most whose spatial dimensions fit one fold (``gK ≤ R`` when the
    reduction is on the rows, WS/IS; ``gN' ≤ C`` when the filters are on the columns, WS/OS), at least 1, then
    balanced so the ``ceil(G/g)`` GEMMs hold equal shares."""
    check_dataflow(dataflow)
    fit = groups
    if dataflow in ("ws", "is"):
        fit = min(fit, rows // k)
    if dataflow in ("ws", "os"):
        fit = min(fit, cols // n)
    fit = max(1, fit)
    return math.ceil(groups / math.ceil(groups / fit))


def lowered_gemm(layer: LayerShape, lowering: str, rows: int, cols: int, dataflow: str,
                 throughput: float = 1.0) -> GemmShape:
    """The GEMM(s) a lowering runs for ``layer`` (module docstring); dense layers always run ``per_group``."""
    gemm = gemm_shape(layer)
    if gemm.count == 1 or lowering == "per_group":
        return gemm
    if lowering == "block_diagonal":
        g = block_diagonal_groups(gemm.count, gemm.n, packed_reduction(gemm.k, throughput), rows, cols, dataflow)
        return GemmShape(m=gemm.m, n=g * gemm.n, k=g * gemm.k, count=math.ceil(gemm.count / g))
    if lowering == "channel_parallel":
        return GemmShape(m=gemm.m, n=gemm.count * gemm.n, k=gemm.k, count=1)
    raise UnsupportedError(f"unknown depthwise lowering {lowering!r}; supported: {', '.join(DEPTHWISE_LOWERINGS)}")


def systolic_timing(layer: LayerShape, rows: int, cols: int, dataflow: str, throughput: float = 1.0,
                    lowering: str = "per_group", stationary_buffers: int = 1) -> SystolicTiming:
    """Stall-free compute cycles and SRAM element traffic of ``layer`` on an ``rows × cols`` array.

    ``throughput`` is the precision mode's MACs per PE-cycle relative to 8x8 (see the module docstring);
    ``lowering`` how a grouped conv becomes GEMMs (ignored for dense layers); ``stationary_buffers`` 2 pipelines
    the folds of a WS / IS array (:func:`pipelined_compute_cycles`; ``scalesim_total_cycles`` stays SCALE-Sim's).
    """
    if rows <= 0 or cols <= 0:
        raise ValueError(f"array dimensions must be positive, got {rows}x{cols}")
    check_dataflow(dataflow)
    if stationary_buffers not in (1, 2) or (stationary_buffers == 2 and dataflow == "os"):
        raise ValueError(f"stationary_buffers must be 1, or 2 for ws / is, got {stationary_buffers} ({dataflow})")
    gemm = lowered_gemm(layer, lowering, rows, cols, dataflow, throughput)
    if layer.groups == 1:
        lowering = "per_group"
    k_array = packed_reduction(gemm.k, throughput)
    sr, sc, temporal = spatial_temporal(gemm.m, gemm.n, k_array, dataflow)
    row_folds, col_folds = fold_counts(sr, sc, rows, cols)
    per_fold = cycles_per_fold(rows, cols, temporal, dataflow)
    folds = gemm.count * row_folds * col_folds
    scalesim_cycles = folds * per_fold
    compute_cycles = (pipelined_compute_cycles(rows, cols, temporal, folds) if stationary_buffers == 2
                      else scalesim_cycles)
    ifmap, filt, ofmap_w, ofmap_r = sram_traffic(gemm.m, gemm.n, gemm.k, row_folds, col_folds, dataflow)
    if lowering == "channel_parallel":      # inputs not shared across columns: each group's taps read once
        ifmap = layer.groups * gemm.m * gemm.k
    macs = layer.output_pixels * layer.out_channels * layer.reduction
    return SystolicTiming(
        dataflow=dataflow, rows=rows, cols=cols, gemm_m=gemm.m, gemm_n=gemm.n, gemm_k=gemm.k, groups=gemm.count,
        row_folds=row_folds, col_folds=col_folds, folds=folds, cycles_per_fold=per_fold,
        compute_cycles=compute_cycles,
        scalesim_total_cycles=scalesim_cycles - gemm.count,
        macs=macs,
        utilization=macs / (compute_cycles * rows * cols * throughput),
        ifmap_sram_reads=gemm.count * ifmap, filter_sram_reads=gemm.count * filt,
        ofmap_sram_writes=gemm.count * ofmap_w, ofmap_sram_reads=gemm.count * ofmap_r, lowering=lowering,
        macs_issued=gemm.count * gemm.m * gemm.n * gemm.k,
    )


def best_lowering(layer: LayerShape, rows: int, cols: int, dataflow: str, throughput: float,
                  lowerings: tuple[str, ...], stationary_buffers: int = 1) -> SystolicTiming:
    """The fastest of the supported ``lowerings`` (fewest compute cycles, ties to the earlier one); dense layers
    and a lone lowering cost one evaluation."""
    if layer.groups == 1 or len(lowerings) == 1:
        return systolic_timing(layer, rows, cols, dataflow, throughput, lowerings[0] if lowerings else "per_group",
                               stationary_buffers)
    timings = [systolic_timing(layer, rows, cols, dataflow, throughput, lw, stationary_buffers) for lw in lowerings]
    return min(timings, key=lambda t: t.compute_cycles)


@dataclass(frozen=True)
class RegisterAccesses:
    """Register accesses of one MAC in a PE, in operand words: reads and writes of weight, input, partial sum."""

    weight_reads: int
    input_reads: int
    psum_reads: int
    weight_writes: int
    input_writes: int
    psum_writes: int


def register_accesses(dataflow: str) -> RegisterAccesses:
    """Per-MAC register accesses of a systolic PE (module docstring): three operand reads per MAC ([ref:Chen16]
    §III); a moving operand is latched once per MAC (OS: weight and input move, the psum is read-modified-written
    in place; WS: the input and the psum move; IS: the weight and the psum move). The stationary operand's loads
    are counted separately (:func:`register_file_bytes`)."""
    check_dataflow(dataflow)
    return {"os": RegisterAccesses(1, 1, 1, 1, 1, 1), "ws": RegisterAccesses(1, 1, 1, 0, 1, 1),
            "is": RegisterAccesses(1, 1, 1, 1, 0, 1)}[dataflow]


def register_file_bytes(t: SystolicTiming, weight_bytes: float, input_bytes: float,
                        psum_bytes: float) -> tuple[float, float]:
    """``(read bytes, write bytes)`` of the PEs' registers for a layer: :func:`register_accesses` per MAC performed
    (``macs_issued``) plus one write per stationary element loaded (WS: the weights read from SRAM, IS: the
    inputs)."""
    a = register_accesses(t.dataflow)
    macs = t.macs_issued or t.macs          # every MAC the PEs perform (block-diagonal zeros included)
    reads = macs * (a.weight_reads * weight_bytes + a.input_reads * input_bytes + a.psum_reads * psum_bytes)
    writes = macs * (a.weight_writes * weight_bytes + a.input_writes * input_bytes + a.psum_writes * psum_bytes)
    if t.dataflow == "ws":
        writes += t.filter_sram_reads * weight_bytes
    elif t.dataflow == "is":
        writes += t.ifmap_sram_reads * input_bytes
    return reads, writes
