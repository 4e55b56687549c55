"""Compute units behind one protocol: what a unit can run, the work a layer costs on it, and its peak rate.

Every unit kind implements :class:`ComputeUnitModel` and is registered in :data:`UNIT_MODELS` (kind -> factory
that builds the model from a config, or None when the config has no such unit). The mapping
(:mod:`accelsim.mapping.assign`) picks a unit by its preference table and asks the unit for :class:`UnitWork`;
the energy model asks the units for their multipliers (area, leakage) and peak rate. Peak MACs per cycle is
defined here only (:func:`peak_macs_per_cycle`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable, ClassVar, Protocol

from accelsim.config.hw import HardwareConfig, MacEngine, PrecisionMode, SimdUnit, SystolicArray
from accelsim.hw.ethos import (
    EngineGeometry, block_streaming, elementwise_blocks, engine_op, engine_timing, ifm_read_run_bytes,
)
from accelsim.hw.layer import LayerShape
from accelsim.hw.simd import simd_timing, word_lanes
from accelsim.hw.row_stationary import row_stationary_timing
from accelsim.hw.systolic import best_lowering, register_file_bytes


@dataclass(frozen=True)
class UnitWork:
    """What one unit's model says about a layer (see :class:`accelsim.mapping.assign.ComputeCost`)."""

    cycles: float                     # busy cycles of the unit, stall-free
    reads: dict[str, float]           # innermost staging level -> datapath bytes, per operand
    writes: float                     # datapath -> output buffer bytes
    peak: float = 0.0                 # MACs/cycle of the kernel the layer runs (0 for non-MAC work)
    macs_issued: int = 0              # MACs the multipliers perform, padding included
    alu_ops: int = 0                  # vector-ALU element operations
    rf_reads: float = 0.0             # register-file bytes read by instructions
    rf_writes: float = 0.0            # register-file bytes written
    channel_granule: int = 1          # output-channel tile multiple
    reduction_granule: int = 1        # input-channel tile multiple
    lowering: str = ""                # how the unit runs the layer (e.g. gemm, depthwise_block_diagonal); "" = the
                                      # unit's only way


@dataclass(frozen=True)
class BlockStreaming:
    """A unit's fixed access pattern at the memory that holds its operands (the mapping honours it instead of its
    loop-order search, :func:`accelsim.mapping.tiling.streamed_tiling`): the unit runs the layer as ``blocks``
    output blocks and, holding one input block and one output block at a time, reads its inputs and weights
    block by block from the level that holds them. Factors are bytes read per byte of the operand (halos and
    re-reads per output block included; weights: when they stream from their home level)."""

    blocks: int                       # output blocks of the layer
    block_rows: int                   # output rows of one block
    block_channels: int               # output channels of one block
    input_reads: float                # input bytes read / input bytes (>= 1 for dense ops)
    weight_reads: float               # weight bytes read / weight bytes, once per output spatial block
    first_block_input_elements: float  # input elements of one block (what the first block loads first)
    input_run_bytes: float = 0.0      # bytes of one contiguous run when an input block is read from a
                                      # channel-interleaved (NHWC) map; 0 = not run-limited


@dataclass(frozen=True)
class WorkContext:
    """Facts about a layer's placement that a unit's work depends on (decided by the mapping)."""

    scalesim_compat: bool = False     # systolic: report SCALE-Sim's cycle count
    requant_on_unit: bool = False     # the unit also runs the layer's requantization instructions
    element_ops: int = 0              # element operations of a non-MAC op (accelsim.mapping.assign.element_ops)


class ComputeUnitModel(Protocol):
    """A compute unit: ``supports(layer, mode)``, ``work(layer, mode, context)``, ``peak_macs_per_cycle(mode)``
    and the area hook ``multipliers()`` (its energy is priced from the work's counts by
    :mod:`accelsim.hw.energy_model`). Optional: ``streaming(layer, mode)`` (the unit's fixed access pattern,
    :class:`BlockStreaming`) and a class attribute ``requantizes = True`` when the unit's own output stage rescales
    its outputs (no separate scale-unit time)."""

    kind: str

    def supports(self, layer: LayerShape, mode: PrecisionMode | None) -> bool: ...

    def work(self, layer: LayerShape, mode: PrecisionMode | None, context: WorkContext) -> UnitWork: ...

    def peak_macs_per_cycle(self, mode: PrecisionMode) -> float: ...

    def multipliers(self) -> int: ...


def split_loads(layer: LayerShape, nbytes: float) -> dict[str, float]:
    """Split a unit's load bytes between weights and inputs in proportion to their sizes (the SIMD model
    counts loads, not operands; only configs with separate weight / input SRAMs need the split)."""
    total = layer.weight_bytes + layer.input_bytes
    w = nbytes * layer.weight_bytes / total if total else 0.0
    return {"weights": w, "inputs": nbytes - w, "outputs": 0.0}


@dataclass(frozen=True)
class SystolicModel:
    """A rows x cols MAC array: SCALE-Sim folds and SRAM element counts for os/ws/is (grouped convs in the fastest
    lowering the config lists, :func:`accelsim.hw.systolic.best_lowering`), Eyeriss's row stationary for rs
    (:mod:`accelsim.hw.row_stationary`); partial sums at accumulator width; the PEs' registers / scratchpads carry
    their per-MAC accesses (``rf_reads`` / ``rf_writes``, charged when the config has a register-file level)."""

    hw: HardwareConfig
    array: SystolicArray
    kind: str = "systolic"

    def supports(self, layer: LayerShape, mode: PrecisionMode | None) -> bool:
        return layer.is_mac

    def peak_macs_per_cycle(self, mode: PrecisionMode) -> float:
        """rows x cols x the throughput of the mode the array computes ``mode`` in."""
        return self.array.pe_count * self.hw.precision.compute_mode_for(mode).throughput

    def multipliers(self) -> int:
        return self.array.pe_count

    def work(self, layer: LayerShape, mode: PrecisionMode | None, context: WorkContext) -> UnitWork:
        array, hw = self.array, self.hw
        executed = hw.precision.compute_mode_for(mode)
        act_b, w_b = layer.activation_bits / 8, layer.weight_bits / 8
        acc_b = hw.precision.accumulator_bits / 8
        if array.dataflow == "rs":
            return self._row_stationary(layer, mode, executed.throughput, act_b, w_b, acc_b)
        lowerings = ("per_group",) if context.scalesim_compat else array.depthwise
        buffers = 1 if context.scalesim_compat else array.stationary_buffers
        t = best_lowering(layer, array.rows, array.cols, array.dataflow, executed.throughput, lowerings, buffers)
        cycles = float(t.scalesim_total_cycles if context.scalesim_compat else t.compute_cycles)
        if mode.storage_only and mode.unpack_cycles_per_kib:
            cycles += layer.weight_bytes / 1024 * mode.unpack_cycles_per_kib
        rf_reads, rf_writes = register_file_bytes(t, w_b, act_b, acc_b)
        return UnitWork(
            cycles=cycles,
            reads={"weights": t.filter_sram_reads * w_b, "inputs": t.ifmap_sram_reads * act_b,
                   "outputs": t.ofmap_sram_reads * acc_b},
            writes=(t.ofmap_sram_writes - layer.outputs) * acc_b + layer.output_bytes,
            peak=self.peak_macs_per_cycle(mode), macs_issued=t.macs_issued, rf_reads=rf_reads, rf_writes=rf_writes,
            channel_granule=array.cols, reduction_granule=max(1, array.rows // (layer.kernel_h * layer.kernel_w)),
            lowering=t.lowering if layer.groups > 1 else "")

    def _row_stationary(self, layer: LayerShape, mode: PrecisionMode, throughput: float, act_b: float,
                        w_b: float, acc_b: float) -> UnitWork:
        """The rs dataflow: global-buffer <-> array words of :func:`row_stationary_timing` at operand widths
        (psums at accumulator width, the last write at output width); scratchpad accesses as register-file bytes."""
        array = self.array
        t = row_stationary_timing(layer, array.rows, array.cols, array.ifmap_spad_words, array.filter_spad_words,
                                  array.psum_spad_words, throughput)
        cycles = float(t.compute_cycles)
        if mode.storage_only and mode.unpack_cycles_per_kib:
            cycles += layer.weight_bytes / 1024 * mode.unpack_cycles_per_kib
        # Scratchpad psums at the register-file level's psum_bits when it states them (Eyeriss's 16-bit psum
        # spad, [ref:Chen17] §V-C), else at accumulator width.
        rf = next((lv for lv in self.hw.onchip_levels().values() if lv.kind == "register_file"), None)
        spad_psum_b = rf.psum_bits / 8 if rf is not None and rf.psum_bits is not None else acc_b
        widths = {"weights": w_b, "inputs": act_b, "psums": spad_psum_b}
        return UnitWork(
            cycles=cycles,
            reads={"weights": t.glb_filter_reads * w_b, "inputs": t.glb_ifmap_reads * act_b,
                   "outputs": t.glb_psum_reads * acc_b},
            writes=(t.glb_psum_writes - layer.outputs) * acc_b + layer.output_bytes,
            peak=self.peak_macs_per_cycle(mode), macs_issued=layer.macs,
            rf_reads=sum(t.spad_reads[op] * widths[op] for op in widths),
            rf_writes=sum(t.spad_writes[op] * widths[op] for op in widths),
            lowering="row_stationary")


@dataclass(frozen=True)
class SimdModel:
    """An HVX-like VLIW SIMD unit: resource-bound packets; SRAM traffic = vector loads and stores; register-file
    traffic: each vector instruction reads two source registers and writes one, a load writes one, a store
    reads one. The lowering is the kernel class (:mod:`accelsim.hw.simd`): ``scalar_broadcast`` for dense convs and
    FC, ``vector_vector`` for depthwise (channels on the lanes, as HVX depthwise kernels run), ``alu`` otherwise."""

    hw: HardwareConfig
    simd: SimdUnit
    kind: str = "simd"

    def supports(self, layer: LayerShape, mode: PrecisionMode | None) -> bool:
        return True

    def peak_macs_per_cycle(self, mode: PrecisionMode) -> float:
        """contexts x the best instruction class of the compute mode (0 when the unit lists no rates for it)."""
        rates = self.simd.macs_per_context_cycle.get(self.hw.precision.compute_mode_for(mode).key)
        return float(self.simd.contexts * rates.peak) if rates else 0.0

    def multipliers(self) -> int:
        return self.simd.contexts * max(r.peak for r in self.simd.macs_per_context_cycle.values())

    def work(self, layer: LayerShape, mode: PrecisionMode | None, context: WorkContext) -> UnitWork:
        simd = self.simd
        executed = self.hw.precision.compute_mode_for(mode) if mode is not None else None
        t = simd_timing(layer, simd, layer.weight_bits, layer.activation_bits,
                        executed.throughput if executed is not None else 1.0,
                        bool(mode is not None and mode.storage_only),
                        (mode.unpack_cycles_per_kib or 0.0) if mode is not None else 0.0,
                        requant_on_simd=context.requant_on_unit)
        vector_bytes = simd.vector_bits / 8
        computing = t.multiplies + t.shifts + t.permutes + t.alu
        return UnitWork(
            cycles=float(t.compute_cycles), reads=split_loads(layer, t.loads * vector_bytes),
            writes=t.stores * vector_bytes, peak=t.peak_macs_per_cycle, macs_issued=t.padded_macs,
            alu_ops=context.element_ops, rf_reads=(2 * computing + t.stores) * vector_bytes,
            rf_writes=(computing + t.loads) * vector_bytes, channel_granule=word_lanes(simd.vector_bits),
            lowering=t.kernel)


@dataclass(frozen=True)
class MacEngineModel:
    """An Ethos-U-like NPU MAC engine (:mod:`accelsim.hw.ethos`): convolutions, depthwise, pooling and
    elementwise ops in output blocks; the shared buffer (SHRAM) streams each block's inputs and weights in and its
    outputs out."""

    hw: HardwareConfig
    engine: MacEngine
    kind: str = "mac_engine"
    #: The engine's output unit scales, rounds and clamps every output it writes, within its
    #: ``output_cycles_per_element`` (Vela 5.2.0 npu_performance.py ``_estimate_output_cycles_per_element``, whose
    #: rates are per scaled output): no separate scale-unit time.
    requantizes: ClassVar[bool] = True

    @cached_property
    def geometry(self) -> EngineGeometry:
        return EngineGeometry.of(self.engine)

    def supports(self, layer: LayerShape, mode: PrecisionMode | None) -> bool:
        if layer.is_mac:
            return layer.groups == 1 or layer.is_depthwise
        return layer.kind in ("Add", "AvgPool", "MaxPool", "GlobalAveragePool", "Concat")

    def peak_macs_per_cycle(self, mode: PrecisionMode) -> float:
        """micro-block outputs x dot-product channels x the throughput of the mode it computes ``mode`` in."""
        return self.engine.macs_per_cycle * self.hw.precision.compute_mode_for(mode).throughput

    def multipliers(self) -> int:
        return self.engine.macs_per_cycle

    def streaming(self, layer: LayerShape, mode: PrecisionMode | None) -> BlockStreaming:
        """The engine's block-by-block streaming (:func:`accelsim.hw.ethos.block_streaming`): the mapping honours
        it at the memory holding the feature maps and weights."""
        op = engine_op(layer)
        t = engine_timing(self.geometry, op)
        inputs = layer.num_inputs * layer.batch * layer.in_h * layer.in_w * layer.in_channels
        reads = block_streaming(op, t, inputs, layer.weight_count if layer.has_weights else 0)
        blocks = elementwise_blocks(self.geometry, op) if op.lowering == "elementwise" else t.blocks
        return BlockStreaming(blocks, t.block[0], t.block[2], reads[0], reads[1], reads[2] * t.blocks / blocks,
                              ifm_read_run_bytes(op, t))

    def work(self, layer: LayerShape, mode: PrecisionMode | None, context: WorkContext) -> UnitWork:
        op = engine_op(layer)
        t = engine_timing(self.geometry, op)
        act_b = layer.activation_bits / 8
        w_b = layer.weight_bits / 8
        weights = t.weight_fetch_elements * w_b if layer.has_weights else 0.0
        peak = self.peak_macs_per_cycle(mode) if (layer.is_mac and mode is not None) else 0.0
        macs = layer.macs if layer.is_mac else (layer.outputs * layer.in_h * layer.in_w
                                                if op.lowering == "depthwise" else 0)
        return UnitWork(
            cycles=t.cycles, reads={"weights": weights, "inputs": t.ifm_fetch_elements * act_b
                                    * (layer.num_inputs if op.lowering == "elementwise" else 1), "outputs": 0.0},
            writes=layer.output_bytes, peak=peak, macs_issued=macs, alu_ops=context.element_ops,
            channel_granule=self.engine.micro_block.depth, reduction_granule=self.engine.dot_product_channels,
            lowering=op.lowering)


class _NoMacs:
    """Shared by the units without multipliers: they run non-MAC layers only."""

    def supports(self, layer: LayerShape, mode: PrecisionMode | None) -> bool:
        return not layer.is_mac

    def peak_macs_per_cycle(self, mode: PrecisionMode) -> float:
        return 0.0

    def multipliers(self) -> int:
        return 0


@dataclass(frozen=True)
class ScaleUnitLanesModel(_NoMacs):
    """Non-MAC ops on the scale unit's post-processing lanes (as NVDLA's SDP / Gemmini's pooling engine): one
    element operation per lane per cycle; it streams its inputs and outputs once."""

    hw: HardwareConfig
    kind: str = "scale_unit"

    def work(self, layer: LayerShape, mode: PrecisionMode | None, context: WorkContext) -> UnitWork:
        ops = context.element_ops
        return UnitWork(cycles=ops / self.hw.scale_unit.lanes, reads=split_loads(layer, layer.input_bytes),
                        writes=layer.output_bytes, alu_ops=ops)


@dataclass(frozen=True)
class DmaModel(_NoMacs):
    """A copy (Concat without rescale): traffic only, no compute cycles."""

    kind: str = "dma"

    def work(self, layer: LayerShape, mode: PrecisionMode | None, context: WorkContext) -> UnitWork:
        return UnitWork(cycles=0.0, reads=split_loads(layer, layer.input_bytes), writes=layer.output_bytes)


@dataclass(frozen=True)
class ViewModel(_NoMacs):
    """A view (Reshape, Flatten) or a LUT activation fused into its producer's output unit
    (:func:`accelsim.hw.ethos.lut_fusion`): no cycles, no traffic (reported as unit ``none``)."""

    kind: str = "none"

    def work(self, layer: LayerShape, mode: PrecisionMode | None, context: WorkContext) -> UnitWork:
        return UnitWork(cycles=0.0, reads=split_loads(layer, 0.0), writes=0.0,
                        lowering="LUT fused into its producer" if layer.lut_fused else "")


#: Unit kind -> factory: the kind's model for a config, or None when the config has no such unit. The scale
#: unit's lanes, the DMA and views exist on every config. Adding a unit kind = one model class + one entry here.
UNIT_MODELS: dict[str, Callable[[HardwareConfig], ComputeUnitModel | None]] = {
    "systolic": lambda hw: SystolicModel(hw, array) if (array := hw.compute.systolic) is not None else None,
    "simd": lambda hw: SimdModel(hw, simd) if (simd := hw.compute.simd) is not None else None,
    "mac_engine": lambda hw: (MacEngineModel(hw, engine) if (engine := hw.compute.of_kind("mac_engine")) is not None
                              else None),
    "scale_unit": ScaleUnitLanesModel,
    "dma": lambda hw: DmaModel(),
    "none": lambda hw: ViewModel(),
}


#: The units of the last few configs (configs hold dicts, so they are not hashable: keyed by identity and
#: checked); bounded, so a sweep over many configs keeps at most this many alive.
_UNITS_CACHED = 4
_UNITS: list[tuple[HardwareConfig, tuple, dict[str, ComputeUnitModel], dict[tuple[int, int], float]]] = []


def _entry(hw: HardwareConfig) -> tuple[dict[str, ComputeUnitModel], dict[tuple[int, int], float]]:
    """The config's units and its memo of peak rates per (weight bits, activation bits)."""
    registry = tuple(UNIT_MODELS.items())
    for cached_hw, cached_registry, units, peaks in _UNITS:
        if cached_hw is hw and cached_registry == registry:
            return units, peaks
    units = {}
    for kind, factory in registry:
        model = factory(hw)
        if model is not None:
            units[kind] = model
    peaks: dict[tuple[int, int], float] = {}
    _UNITS.insert(0, (hw, registry, units, peaks))
    del _UNITS[_UNITS_CACHED:]
    return units, peaks


def compute_units(hw: HardwareConfig) -> dict[str, ComputeUnitModel]:
    """The config's units by kind, in :data:`UNIT_MODELS` order (do not mutate the returned dict)."""
    return _entry(hw)[0]


def peak_macs_per_cycle(hw: HardwareConfig, weight_bits: int, activation_bits: int) -> float:
    """Peak MACs/cycle of all compute units together in a mode (storage-only modes use their compute mode);
    UnsupportedError for a mode the config lacks."""
    units, peaks = _entry(hw)
    peak = peaks.get((weight_bits, activation_bits))
    if peak is None:
        mode = hw.mode(weight_bits, activation_bits)
        peak = peaks[weight_bits, activation_bits] = sum(unit.peak_macs_per_cycle(mode) for unit in units.values())
    return peak


def unit_peak_macs_per_cycle(hw: HardwareConfig, kind: str, weight_bits: int, activation_bits: int) -> float:
    """Peak MACs/cycle of the config's unit ``kind`` in a mode (0 when the config has no such unit)."""
    unit = compute_units(hw).get(kind)
    return unit.peak_macs_per_cycle(hw.mode(weight_bits, activation_bits)) if unit is not None else 0.0


def peak_gmac_s(hw: HardwareConfig, weight_bits: int, activation_bits: int) -> float:
    """Peak throughput in GMAC/s (1e9 MAC/s) at ``clock_mhz``."""
    return peak_macs_per_cycle(hw, weight_bits, activation_bits) * hw.clock_mhz / 1e3


def multiplier_count(hw: HardwareConfig) -> int:
    """Multipliers of all units together (each unit's :meth:`ComputeUnitModel.multipliers`)."""
    return sum(unit.multipliers() for unit in compute_units(hw).values())
