"""HVX-like VLIW SIMD compute model: instructions per resource class, resource-bound packets, cycles.

Each hardware context issues one VLIW packet per cycle. A packet holds at most ``vliw_slots`` instructions and at
most ``resources.<class>`` instructions of each non-multiply class (load, store, shift, permute, alu) and
``multiply_resources`` multiply resources, where a multiply instruction takes one resource (scalar-broadcast
``vrmpy``) or two (vector×vector accumulate, widening, 16×16, the 32×16 requantization multiplies). Source:
[ref:HVXPRM] (Qualcomm HVX PRM 80-N2040-61) and [ref:QEMUHexagon] (qemu ``target/hexagon/imported/mmvec/ext.idef``).

A kernel's packet count is the resource bound over its instruction counts (a perfectly software-pipelined loop)
plus a fixed per-tile loop overhead. The kernels:

- Conv2D / FullyConnected (``scalar_broadcast``): output channels on the ``vector_bits/32`` int32 word lanes, the
  reduction ``rw = 32 / max(weight, activation bits)`` input channels per lane per instruction (``vrmpy``: 4 bytes),
  activations broadcast from a scalar register (scalar loads are the scalar unit's, not counted). Input channels
  are padded to a multiple of ``rw`` at every kernel tap, output channels to a multiple of the word lanes.
  ``PIXELS_PER_TILE`` output pixels keep their accumulators in registers and share each weight-vector load.
  Grouped convs run this kernel per group.
- Depthwise Conv2D (``vector_vector``): channels on the word lanes, the reduction over ``rw`` kernel taps per
  instruction (taps padded to a multiple of ``rw``), one activation vector load per multiply.
- Add, pools, Concat, Pad: ALU work on ``vector_bits / activation_bits`` elements per instruction.
- Output: with requantization on the SIMD unit, each vector of 32 int32 results takes two double-resource 32×16
  multiplies (``vmpye``/``vmpyo``), one rounding shift and three ALU ops (zero point, min, max) — about two packets
  ([ref:QEMUHexagon]) — then saturating packs (permutes) to the output width; otherwise the int32 vectors are
  stored for the scale unit.
- Storage-only 4-bit weights are unpacked to 8 bits at ``unpack_cycles_per_kib`` per KiB of packed weights.

Contexts split the output rows ``N·OH`` (ceil division), or the output-channel vectors when there are fewer rows
than contexts; the busiest context sets the cycles.

With the unit's ``kernel_costs`` set (HVX configs), the loops run over the kernel library's padded layout and each
layer adds the costs real kernels pay outside their inner loops (per-layer and per-call set-up, the exposed
L2 -> VTCM transfer of each weight slice, the barrier of the contexts, layout conversions):
:mod:`accelsim.hw.hvx_kernels`. Without them (the default) the model is the ideal software pipeline above.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

from accelsim.config.hw import SimdMacRates, SimdUnit, mode_key
from accelsim.errors import UnsupportedError
from accelsim.hw.hvx_kernels import (
    depth_slices, kernel_calls, layout_conversion_cycles, overhead_cycles, padded_layer,
)
from accelsim.hw.layer import LayerShape
from accelsim.hw.scale_unit import requant_ops

ACCUMULATOR_BITS = 32
#: Output pixels whose accumulators a conv kernel keeps in vector registers, each weight vector load shared by them
#: (ASSUMPTION: 4 of the 32 registers; enough to keep the load resource off the critical path).
PIXELS_PER_TILE = 4
#: Packets per output tile for loop set-up and pointer updates (ASSUMPTION; inner loops are zero-overhead
#: hardware loops, HVX PRM).
TILE_OVERHEAD_PACKETS = 2
#: Multiply resources taken by a double-vector multiply (HVX PRM: both of the two).
DOUBLE_VECTOR_RESOURCES = 2
#: Per 32-lane int32 vector, requantization on the SIMD unit: vmpye + vmpyo (double-vector), a rounding shift,
#: zero-point add, min and max ([ref:QEMUHexagon]: about 2 packets per vector).
REQUANT_MULTIPLIES_PER_VECTOR = 2
REQUANT_SHIFTS_PER_VECTOR = 1
REQUANT_ALU_PER_VECTOR = 3


@dataclass(frozen=True)
class InstructionCounts:
    """Vector instructions per resource class; ``multiply_resource_uses`` counts multiply resources taken."""

    loads: int = 0
    stores: int = 0
    multiplies: int = 0
    multiply_resource_uses: int = 0
    shifts: int = 0
    permutes: int = 0
    alu: int = 0

    def __add__(self, other: InstructionCounts) -> InstructionCounts:
        return InstructionCounts(*(a + b for a, b in zip(self._values(), other._values())))

    def _values(self) -> tuple[int, ...]:
        return (self.loads, self.stores, self.multiplies, self.multiply_resource_uses, self.shifts, self.permutes,
                self.alu)

    @property
    def total(self) -> int:
        """Instructions issued (each takes one VLIW slot)."""
        return self.loads + self.stores + self.multiplies + self.shifts + self.permutes + self.alu


@dataclass(frozen=True)
class SimdTiming:
    """Cycles and instruction counts of one layer on the SIMD unit (all contexts)."""

    kernel: str                 # scalar_broadcast | vector_vector | alu | none
    precision: str              # the compute precision, e.g. W8A8 (4-bit storage-only weights compute as W8A8)
    contexts_used: int
    packets: int                # VLIW packets issued by the busiest context (one per cycle)
    unpack_cycles: int          # storage-only weight unpacking, per context
    compute_cycles: int         # packets + unpack_cycles + overhead_cycles
    loads: int                  # instruction counts over the whole layer, all contexts
    stores: int
    multiplies: int
    shifts: int
    permutes: int
    alu: int
    macs: int
    padded_macs: int            # MACs issued including channel / tap padding
    macs_per_cycle: float       # achieved, all contexts: macs / compute_cycles
    peak_macs_per_cycle: float  # contexts × the kernel class's MACs/cycle/context (0 for non-MAC kernels)
    utilization: float          # macs_per_cycle / peak_macs_per_cycle (0 for non-MAC kernels)
    overhead_cycles: int = 0    # kernel-library costs outside the inner loops (accelsim.hw.hvx_kernels), busiest
                                # context


# ------------------------------------------------------------------------------------------- small formulas
def word_lanes(vector_bits: int) -> int:
    """int32 accumulator lanes per vector: ``vector_bits / 32`` (32 at 1024 bits)."""
    return vector_bits // ACCUMULATOR_BITS


def element_lanes(vector_bits: int, element_bits: int) -> int:
    """Elements per vector instruction for ALU work: ``vector_bits / element_bits`` (128 bytes at 1024 bits)."""
    return vector_bits // element_bits


def reduction_width(weight_bits: int, activation_bits: int) -> int:
    """Products summed per int32 lane by one dot-product instruction: ``32 / max(w, a)`` (vrmpy: 4, vdmpy: 2)."""
    return max(1, ACCUMULATOR_BITS // max(weight_bits, activation_bits))


def pad_to(value: int, multiple: int) -> int:
    """``value`` rounded up to a multiple of ``multiple``."""
    return math.ceil(value / multiple) * multiple


def multiply_uses_per_instruction(macs_per_instruction: int, macs_per_context_cycle: int,
                                  multiply_resources: int) -> Fraction:
    """Multiply resources one instruction takes, from the class's rate: ``MACs/instr × resources / rate``.

    E.g. 8x8 ``vrmpy(Vu.ub,Rt.b)``: 128 × 2 / 256 = 1; vector×vector accumulate: 128 × 2 / 128 = 2.
    """
    return Fraction(macs_per_instruction * multiply_resources, macs_per_context_cycle)


def resource_bound_packets(counts: InstructionCounts, simd: SimdUnit) -> int:
    """Packets needed to issue ``counts``: the max over resource classes of ``ceil(instructions / per packet)``,
    and at least ``ceil(all instructions / vliw_slots)``."""
    r = simd.resources
    bounds = (
        Fraction(counts.loads, r.load), Fraction(counts.stores, r.store), Fraction(counts.shifts, r.shift),
        Fraction(counts.permutes, r.permute), Fraction(counts.alu, r.alu),
        Fraction(counts.multiply_resource_uses, simd.multiply_resources),
        Fraction(counts.total, simd.vliw_slots),
    )
    return math.ceil(max(bounds))


def unpack_cycles(weight_bytes: float, unpack_cycles_per_kib: float, contexts: int) -> int:
    """Cycles to unpack storage-only weights, shared by the contexts: ``ceil(bytes / 1024 × rate / contexts)``."""
    return math.ceil(weight_bytes / 1024 * unpack_cycles_per_kib / contexts)


# ------------------------------------------------------------------------------------------------ kernels
def conv_counts(pixels: int, out_channels: int, taps: int, in_channels: int, lanes: int, rw: int,
                uses_per_multiply: Fraction) -> tuple[InstructionCounts, int, int]:
    """Scalar-broadcast conv/FC MAC loop: ``(counts, padded_macs, tiles)``.

    Per output pixel, output-channel vector and reduction step one multiply; per tile of ``PIXELS_PER_TILE``
    pixels one weight-vector load per (channel vector, step).
    """
    steps = taps * pad_to(in_channels, rw) // rw
    channel_vectors = math.ceil(out_channels / lanes)
    pixel_tiles = math.ceil(pixels / PIXELS_PER_TILE)
    multiplies = pixels * channel_vectors * steps
    counts = InstructionCounts(loads=pixel_tiles * channel_vectors * steps, multiplies=multiplies,
                               multiply_resource_uses=math.ceil(multiplies * uses_per_multiply))
    return counts, multiplies * lanes * rw, pixel_tiles * channel_vectors


def depthwise_counts(pixels: int, channels: int, taps: int, lanes: int, rw: int,
                     uses_per_multiply: Fraction) -> tuple[InstructionCounts, int, int]:
    """Vector×vector depthwise MAC loop: ``(counts, padded_macs, tiles)``.

    Per output pixel, channel vector and ``rw`` taps one multiply and one activation-vector load; the weights of a
    channel vector (``ceil(taps/rw)`` vectors) are loaded once and stay in registers.
    """
    steps = math.ceil(taps / rw)
    channel_vectors = math.ceil(channels / lanes)
    multiplies = pixels * channel_vectors * steps
    counts = InstructionCounts(loads=multiplies + channel_vectors * steps, multiplies=multiplies,
                               multiply_resource_uses=math.ceil(multiplies * uses_per_multiply))
    return counts, multiplies * lanes * rw, math.ceil(pixels / PIXELS_PER_TILE) * channel_vectors


def output_counts(result_vectors: int, outputs: int, output_bits: int, vector_bits: int,
                  requant_on_simd: bool) -> InstructionCounts:
    """Instructions to retire ``result_vectors`` vectors of int32 results holding ``outputs`` values.

    On the SIMD unit: requantize each vector (2 double-resource multiplies, 1 shift, 3 ALU), pack to
    ``output_bits`` with saturating packs (``result_vectors × (32 − output_bits)/32`` permutes: each pack halves
    the width of two vectors) and store full vectors. Otherwise store the int32 vectors for the scale unit.
    """
    if not requant_on_simd:
        return InstructionCounts(stores=result_vectors)
    return InstructionCounts(
        multiplies=REQUANT_MULTIPLIES_PER_VECTOR * result_vectors,
        multiply_resource_uses=REQUANT_MULTIPLIES_PER_VECTOR * DOUBLE_VECTOR_RESOURCES * result_vectors,
        shifts=REQUANT_SHIFTS_PER_VECTOR * result_vectors,
        alu=REQUANT_ALU_PER_VECTOR * result_vectors,
        permutes=math.ceil(result_vectors * (ACCUMULATOR_BITS - output_bits) / ACCUMULATOR_BITS),
        stores=math.ceil(outputs * output_bits / vector_bits),
    )


def alu_counts(layer: LayerShape, vector_bits: int) -> tuple[InstructionCounts, int]:
    """Element-wise / pooling / copy work on ``vector_bits / activation_bits`` elements per instruction:
    ``(counts, tiles)``; one tile (loop) per output row.

    The op's :class:`~accelsim.graph.ops.registry.VectorKernel` (its cost descriptor) gives the input vectors
    loaded and the ALU instructions per output vector; every output vector is stored. Pools vectorize each output
    pixel's channels (``ceil(C / lanes)`` vectors a pixel: MaxPool loads the ``KH·KW`` window vectors and takes
    ``KH·KW − 1`` max, averages accumulate ``KH·KW``); Add loads its two inputs and adds; Concat and Pad copy.
    """
    kernel = layer.cost.vector
    if kernel is None:
        raise UnsupportedError(f"layer {layer.name!r}: the SIMD model has no vector kernel for {layer.kind}")
    lanes = element_lanes(vector_bits, layer.activation_bits)
    if kernel.per_pixel_channels:
        vectors = layer.output_pixels * math.ceil(layer.out_channels / lanes)
    else:
        vectors = math.ceil(layer.outputs / lanes)
    counts = InstructionCounts(loads=vectors * kernel.loads_per_output_vector(layer),
                               alu=vectors * kernel.alu_per_output_vector(layer), stores=vectors)
    return counts, layer.batch * layer.out_h


# ------------------------------------------------------------------------------------------------ the layer
def mac_rates(simd: SimdUnit, weight_bits: int, activation_bits: int, mode_throughput: float) -> SimdMacRates:
    """MAC rates of the compute precision ``W{w}A{a}``; if the unit lists none for it, the W8A8 rates scaled by the
    precision mode's ``mode_throughput`` (relative to 8x8)."""
    key = mode_key(weight_bits, activation_bits)
    rates = simd.macs_per_context_cycle
    if key in rates:
        return rates[key]
    if "W8A8" not in rates:
        raise UnsupportedError(f"the SIMD unit has no MAC rates for {key} (it lists {', '.join(rates)})")
    base = rates["W8A8"]
    return SimdMacRates(**{name: max(1, round(getattr(base, name) * mode_throughput))
                           for name in SimdMacRates.model_fields})


def context_share(layer: LayerShape, contexts: int, lanes: int) -> tuple[LayerShape, int]:
    """The busiest context's part of ``layer`` and the number of contexts used.

    Output rows ``N·OH`` are split with ceil division; with fewer rows than contexts, output-channel vectors are.
    """
    rows = layer.batch * layer.out_h
    if rows >= contexts or contexts == 1:
        used = min(contexts, rows)
        return replace(layer, batch=1, out_h=math.ceil(rows / contexts)), used
    vectors = math.ceil(layer.out_channels / lanes)
    used = min(contexts, vectors)
    out_channels = min(layer.out_channels, math.ceil(vectors / contexts) * lanes)
    if layer.groups > 1:  # depthwise / grouped: the share keeps whole groups
        per_group = layer.out_channels // layer.groups
        groups = math.ceil(out_channels / per_group)
        in_channels = groups * (layer.in_channels // layer.groups)
        return replace(layer, out_channels=groups * per_group, in_channels=in_channels, groups=groups), used
    in_channels = layer.in_channels if layer.is_mac else out_channels
    return replace(layer, out_channels=out_channels, in_channels=in_channels), used


def layer_counts(layer: LayerShape, simd: SimdUnit, rates: SimdMacRates, compute_weight_bits: int,
                 requant_on_simd: bool) -> tuple[str, InstructionCounts, int, int]:
    """``(kernel class, instruction counts, padded MACs, tiles)`` of ``layer`` run on one context."""
    lanes = word_lanes(simd.vector_bits)
    if layer.is_mac:
        rw = reduction_width(compute_weight_bits, layer.activation_bits)
        taps = layer.kernel_h * layer.kernel_w
        if layer.is_depthwise:
            kernel = "vector_vector"
            uses = multiply_uses_per_instruction(lanes * rw, rates.vector_vector, simd.multiply_resources)
            counts, padded, tiles = depthwise_counts(layer.output_pixels, layer.out_channels, taps, lanes, rw, uses)
            result_vectors = layer.output_pixels * math.ceil(layer.out_channels / lanes)
        else:
            kernel = "scalar_broadcast"
            uses = multiply_uses_per_instruction(lanes * rw, rates.scalar_broadcast, simd.multiply_resources)
            group_out = layer.out_channels // layer.groups
            counts, padded, tiles = conv_counts(layer.output_pixels, group_out, taps,
                                                layer.in_channels // layer.groups, lanes, rw, uses)
            counts = InstructionCounts(*(v * layer.groups for v in counts._values()))
            padded, tiles = padded * layer.groups, tiles * layer.groups
            result_vectors = layer.groups * layer.output_pixels * math.ceil(group_out / lanes)
        out = output_counts(result_vectors, layer.outputs, layer.output_bits, simd.vector_bits, requant_on_simd)
        return kernel, counts + out, padded, tiles
    if layer.cost.is_view:
        return "none", InstructionCounts(), 0, 0
    counts, tiles = alu_counts(layer, simd.vector_bits)
    if requant_on_simd and requant_ops(layer):
        vectors = math.ceil(requant_ops(layer) / lanes)
        counts = counts + output_counts(vectors, 0, ACCUMULATOR_BITS, simd.vector_bits, True)  # no pack/store
    return "alu", counts, 0, tiles


def simd_timing(layer: LayerShape, simd: SimdUnit, weight_bits: int, activation_bits: int,
                mode_throughput: float = 1.0, storage_only: bool = False, unpack_cycles_per_kib: float = 0.0,
                requant_on_simd: bool = False) -> SimdTiming:
    """Cycles of ``layer`` on the SIMD unit ``simd`` in precision mode ``W{weight_bits}A{activation_bits}``.

    ``storage_only`` weights (4-bit on HVX) compute at 8 bits after unpacking at ``unpack_cycles_per_kib``.
    ``requant_on_simd`` adds the requantization instructions (then do not also charge scale-unit cycles);
    otherwise int32 results are stored for a separate scale unit. ``mode_throughput`` scales the W8A8 rates when
    the unit lists no rates for the mode.
    """
    compute_weight_bits = max(8, weight_bits) if storage_only else weight_bits
    if storage_only and compute_weight_bits > 16:
        raise UnsupportedError(f"layer {layer.name!r}: storage-only {weight_bits}-bit weights cannot be unpacked")
    is_mac = layer.is_mac
    precision = mode_key(compute_weight_bits, activation_bits) if is_mac else f"A{activation_bits}"
    rates = mac_rates(simd, compute_weight_bits, activation_bits, mode_throughput) if is_mac else None
    layer = replace(layer, activation_bits=activation_bits, weight_bits=weight_bits if is_mac else 0)
    lanes = word_lanes(simd.vector_bits)

    costs = simd.kernel_costs
    work = padded_layer(layer, costs)  # the extents the kernels loop over (the layer itself without kernel costs)
    kernel, counts, padded_macs, _ = layer_counts(work, simd, rates, compute_weight_bits, requant_on_simd)
    share, used = context_share(work, simd.contexts, lanes)
    _, share_counts, _, share_tiles = layer_counts(share, simd, rates, compute_weight_bits, requant_on_simd)
    packets = resource_bound_packets(share_counts, simd) + TILE_OVERHEAD_PACKETS * share_tiles
    unpack = unpack_cycles(layer.weight_bytes, unpack_cycles_per_kib, simd.contexts) if storage_only else 0
    overhead = 0
    if not costs.is_ideal and counts.total:
        overhead = math.ceil(overhead_cycles(kernel_calls(share, costs), depth_slices(share, costs), used, costs)
                             + layout_conversion_cycles(layer, costs, max(1, used)))
    cycles = packets + unpack + overhead
    peak = simd.contexts * getattr(rates, kernel) if kernel in ("scalar_broadcast", "vector_vector") else 0.0
    macs_per_cycle = layer.macs / cycles if cycles else 0.0
    return SimdTiming(
        kernel=kernel, precision=precision, contexts_used=used if counts.total else 0, packets=packets,
        unpack_cycles=unpack, compute_cycles=cycles,
        loads=counts.loads, stores=counts.stores, multiplies=counts.multiplies, shifts=counts.shifts,
        permutes=counts.permutes, alu=counts.alu, macs=layer.macs, padded_macs=padded_macs,
        macs_per_cycle=macs_per_cycle, peak_macs_per_cycle=float(peak),
        utilization=macs_per_cycle / peak if peak else 0.0, overhead_cycles=overhead,
    )
