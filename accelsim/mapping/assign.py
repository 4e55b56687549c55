"""Op -> unit assignment, precision-mode checks and the compute cost of one layer on its unit.

Assignment rule (explicit, documented in ``docs/model.md`` §Mapping):

=====================================  ======================================================================
layer                                  unit
=====================================  ======================================================================
Conv2D (not depthwise), FullyConnected  systolic array if the config has one, else the SIMD unit (vrmpy loop)
depthwise Conv2D                        SIMD unit if the config has one (an array wastes all but one column on
                                        a depthwise GEMM), else the systolic array (one GEMM per channel)
Add, AvgPool, MaxPool, GlobalAvgPool,   SIMD unit (vector ALU) if present, else the scale unit's post-processing
Concat (with rescale), Pad              lanes (as NVDLA's SDP / Gemmini's pooling engine do)
Concat without rescale                  DMA only (a copy: costed as traffic, no compute)
Reshape, Flatten                        free views: no cycles, no traffic
requantization                          the scale unit; on the SIMD unit when ``scale_unit.shared_with_simd``
                                        (HVX) or the per-tensor unit falls back for per-channel layers
=====================================  ======================================================================
"""
from __future__ import annotations

from dataclasses import dataclass

from accelsim.config.hw import HardwareConfig, PrecisionMode
from accelsim.errors import MappingError, UnsupportedError
from accelsim.graph.ops import MAC_OPS, VIEW_OPS, registered_ops
from accelsim.hw.layer import LayerShape
from accelsim.hw.scale_unit import check_per_channel_support, requant_ops, scale_unit_cycles
from accelsim.hw.simd import simd_timing, word_lanes
from accelsim.hw.systolic import systolic_timing

#: Free views (no cycles, no traffic) and MAC ops: the op registry's definitions (accelsim.graph.ops).
FREE_KINDS = VIEW_OPS
MAC_KINDS = MAC_OPS
#: Element operations per output of non-MAC ops, priced as adds of the activation width (requantization is
#: counted separately), from each op's cost descriptor: Add: one add of the two rescaled inputs; MaxPool: one
#: compare per window tap after the first; AvgPool / GlobalAveragePool: one add per window tap; Pad / Concat:
#: one move per element. On a scale unit (configs without SIMD) they also set the cycles: one operation per lane
#: per cycle.
ALU_OPS_PER_OUTPUT = {d.kind: d.cost.alu_ops_per_output for d in registered_ops()
                      if not d.is_mac and not d.cost.is_view}


@dataclass(frozen=True)
class ComputeCost:
    """Compute-side cost of one layer on its unit (cycles are compute-unit cycles, stall-free)."""

    unit: str                         # systolic | simd | scale_unit | dma | none
    requant_unit: str                 # scale_unit | simd | none
    compute_cycles: float             # busy cycles of ``unit`` (includes requantization when it runs there)
    scale_cycles: float               # busy cycles of a separate scale unit (0 when requant runs on the SIMD)
    macs: int
    macs_issued: int                  # MACs the multipliers perform, including SIMD lane/tap padding
    peak_macs_per_cycle: float        # of the unit in this precision mode (0 for non-MAC units)
    requant_ops: int
    alu_ops: int                      # vector-ALU element operations (non-MAC work, requant adds excluded)
    stream_read_bytes: dict[str, float]   # innermost SRAM -> datapath bytes per operand (weights, inputs, outputs =
                                          # partial sums read back)
    stream_write_bytes: float         # datapath -> buffer level bytes (outputs, partial sums)
    operand_read_bytes: float         # register-file reads by instructions (SIMD: 2 sources per op, 1 per store)
    operand_write_bytes: float        # register-file writes (SIMD: 1 per op and per load)
    channel_granule: int              # output-channel tile multiple (array columns / SIMD lanes)
    reduction_granule: int            # input-channel tile multiple
    compute_weight_bits: int          # multiplier width (storage-only weights are unpacked to it)


def assign_unit(layer: LayerShape, hw: HardwareConfig) -> str:
    """The unit that executes ``layer`` by the rule in the module docstring."""
    systolic, simd = hw.compute.systolic, hw.compute.simd
    if layer.kind in FREE_KINDS:
        return "none"
    if layer.kind in MAC_KINDS:
        if layer.is_depthwise or (layer.kind == "Conv2D" and layer.groups > 1):
            return "simd" if simd is not None else "systolic"
        return "systolic" if systolic is not None else "simd"
    if layer.kind == "Concat" and requant_ops(layer) == 0:
        return "dma"
    return "simd" if simd is not None else "scale_unit"


def precision_mode(layer: LayerShape, hw: HardwareConfig) -> PrecisionMode | None:
    """The config's mode for a MAC layer's (weight, activation) bits (:meth:`HardwareConfig.mode`); MappingError
    naming the layer and the supported modes otherwise. Non-MAC layers need a mode with their activation width
    (None = no mode used)."""
    if layer.kind in MAC_KINDS:
        try:
            return hw.mode(layer.weight_bits, layer.activation_bits)
        except UnsupportedError as error:
            raise MappingError(
                f"layer {layer.name!r} ({layer.kind}) needs weight bits {layer.weight_bits}, activation bits "
                f"{layer.activation_bits}: {error}") from error
    if layer.kind in FREE_KINDS:
        return None
    modes = hw.precision.modes
    if not any(m.activation_bits == layer.activation_bits for m in modes):
        raise MappingError(
            f"layer {layer.name!r} ({layer.kind}) has {layer.activation_bits}-bit activations, but hardware "
            f"{hw.name!r} supports only {', '.join(m.key for m in modes)}")
    return None


def element_ops(layer: LayerShape) -> int:
    """Vector-ALU element operations of a non-MAC op (requantization excluded; 0 for MAC layers and views):
    outputs × the op's ``alu_ops_per_output`` (its cost descriptor; UnsupportedError for an unknown op)."""
    return layer.outputs * layer.cost.alu_ops_per_output(layer)


@dataclass(frozen=True)
class _UnitWork:
    """What one unit's model says about a layer (see :class:`ComputeCost` for the fields)."""

    cycles: float
    reads: dict[str, float]
    writes: float
    peak: float = 0.0
    macs_issued: int = 0
    alu_ops: int = 0
    rf_reads: float = 0.0
    rf_writes: float = 0.0
    channel_granule: int = 1
    reduction_granule: int = 1


def _split_loads(layer: LayerShape, nbytes: float) -> dict[str, float]:
    """Split a unit's vector-load bytes between weights and inputs in proportion to their sizes (the SIMD model
    counts loads, not operands; only configs with separate weight / input SRAMs need the split)."""
    total = layer.weight_bytes + layer.input_bytes
    w = nbytes * layer.weight_bytes / total if total else 0.0
    return {"weights": w, "inputs": nbytes - w, "outputs": 0.0}


def _systolic_work(layer: LayerShape, hw: HardwareConfig, mode: PrecisionMode, scalesim_compat: bool) -> _UnitWork:
    """SCALE-Sim folds and SRAM element counts; partial sums move at accumulator width."""
    array = hw.compute.systolic
    executed = hw.precision.compute_mode_for(mode)
    t = systolic_timing(layer, array.rows, array.cols, array.dataflow, executed.throughput)
    act_b, w_b = layer.activation_bits / 8, layer.weight_bits / 8
    acc_b = hw.precision.accumulator_bits / 8
    cycles = float(t.scalesim_total_cycles if scalesim_compat else t.compute_cycles)
    if mode.storage_only and mode.unpack_cycles_per_kib:
        cycles += layer.weight_bytes / 1024 * mode.unpack_cycles_per_kib
    return _UnitWork(
        cycles=cycles,
        reads={"weights": t.filter_sram_reads * w_b, "inputs": t.ifmap_sram_reads * act_b,
               "outputs": t.ofmap_sram_reads * acc_b},
        writes=(t.ofmap_sram_writes - layer.outputs) * acc_b + layer.output_bytes,
        peak=array.pe_count * executed.throughput, macs_issued=layer.macs,
        channel_granule=array.cols, reduction_granule=max(1, array.rows // (layer.kernel_h * layer.kernel_w)))


def _simd_work(layer: LayerShape, hw: HardwareConfig, mode: PrecisionMode | None, requant_on_simd: bool) -> _UnitWork:
    """Resource-bound VLIW packets; SRAM traffic = vector loads and stores; register-file traffic: each vector
    instruction reads two source registers and writes one, a load writes one, a store reads one."""
    simd = hw.compute.simd
    executed = hw.precision.compute_mode_for(mode) if mode is not None else None
    t = simd_timing(layer, simd, layer.weight_bits, layer.activation_bits,
                    executed.throughput if executed is not None else 1.0,
                    bool(mode is not None and mode.storage_only),
                    (mode.unpack_cycles_per_kib or 0.0) if mode is not None else 0.0,
                    requant_on_simd=requant_on_simd)
    vector_bytes = simd.vector_bits / 8
    computing = t.multiplies + t.shifts + t.permutes + t.alu
    return _UnitWork(
        cycles=float(t.compute_cycles), reads=_split_loads(layer, t.loads * vector_bytes),
        writes=t.stores * vector_bytes, peak=t.peak_macs_per_cycle, macs_issued=t.padded_macs,
        alu_ops=element_ops(layer), rf_reads=(2 * computing + t.stores) * vector_bytes,
        rf_writes=(computing + t.loads) * vector_bytes, channel_granule=word_lanes(simd.vector_bits))


def _scale_unit_work(layer: LayerShape, hw: HardwareConfig) -> _UnitWork:
    """A non-MAC op on the scale unit's post-processing lanes (configs without a SIMD unit): one element
    operation per lane per cycle; it streams its inputs and outputs once."""
    ops = element_ops(layer)
    return _UnitWork(cycles=ops / hw.scale_unit.lanes, reads=_split_loads(layer, layer.input_bytes),
                     writes=layer.output_bytes, alu_ops=ops)


def compute_cost(layer: LayerShape, hw: HardwareConfig, scalesim_compat: bool = False) -> ComputeCost:
    """Unit, cycles and datapath traffic of ``layer`` on ``hw`` (raises MappingError when it cannot map).

    Systolic layers use :func:`accelsim.hw.systolic.systolic_timing` (SCALE-Sim folds; with ``scalesim_compat``
    its reported cycle count); SIMD layers :func:`accelsim.hw.simd.simd_timing` (resource-bound VLIW packets).
    """
    unit = assign_unit(layer, hw)
    mode = precision_mode(layer, hw)
    n_requant = requant_ops(layer)
    requant_unit = "none"
    if n_requant and unit != "none":
        if hw.scale_unit.shared_with_simd:       # requantization is SIMD code: any scale granularity works
            requant_unit = "simd"
        else:
            requant_unit = check_per_channel_support(layer, hw.scale_unit.per_channel, hw.scale_unit.fallback)
            if unit == "scale_unit":
                requant_unit = "scale_unit"
    if unit == "systolic":
        work = _systolic_work(layer, hw, mode, scalesim_compat)
    elif unit == "simd":
        work = _simd_work(layer, hw, mode, requant_unit == "simd")
    elif unit == "scale_unit":
        work = _scale_unit_work(layer, hw)
    elif unit == "dma":
        work = _UnitWork(cycles=0.0, reads=_split_loads(layer, layer.input_bytes), writes=layer.output_bytes)
    else:
        work = _UnitWork(cycles=0.0, reads=_split_loads(layer, 0.0), writes=0.0)
    cycles = work.cycles
    scale_cycles = 0.0
    if requant_unit == "scale_unit":
        scale_cycles = float(scale_unit_cycles(n_requant, hw.scale_unit.lanes, hw.scale_unit.pipeline_latency_cycles))
        if unit == "scale_unit":          # the op itself runs on the scale unit: one busy resource
            cycles, scale_cycles = cycles + scale_cycles, 0.0
    elif requant_unit == "simd" and unit != "simd":
        simd = hw.compute.simd            # per-channel fallback: the array's int32 results go through the SIMD
        scale_cycles = n_requant / (simd.contexts * simd.requant_outputs_per_context_cycle)
    executed = hw.precision.compute_mode_for(mode) if mode is not None else None
    return ComputeCost(
        unit=unit, requant_unit=requant_unit, compute_cycles=cycles, scale_cycles=scale_cycles,
        macs=layer.macs, macs_issued=work.macs_issued, peak_macs_per_cycle=work.peak, requant_ops=n_requant,
        alu_ops=work.alu_ops, stream_read_bytes=work.reads, stream_write_bytes=work.writes,
        operand_read_bytes=work.rf_reads, operand_write_bytes=work.rf_writes,
        channel_granule=work.channel_granule, reduction_granule=work.reduction_granule,
        compute_weight_bits=executed.weight_bits if executed is not None else 0,
    )
